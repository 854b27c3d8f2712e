// The WebUI and the API reference page, compiled into the binary from web/'s build output
// (lib/embed_web.py): one file to deploy, and no request from a browser ever leaves the service.
#pragma once

#include <span>
#include <string_view>

namespace raydeploy::embedded {

struct web_asset {
    std::string_view path;  // "/", "/docs" or "/assets/<name>-<hash>.<ext>"
    std::string_view content_type;
    std::string_view body;
    std::string_view gzip_body;  // made at build time; empty when it would not be smaller
    std::string_view etag;       // a hash of `body`, unquoted
};

std::span<const web_asset> web_assets();

}  // namespace raydeploy::embedded
