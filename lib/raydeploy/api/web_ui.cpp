// The WebUI (`/`), its API reference page (`/docs`) and their hashed assets, from the files
// compiled into the binary. Public: a page carries no data, and everything it shows comes from
// the API, which authenticates each call.
#include "raydeploy/api/routes.hpp"
#include "raydeploy/api/web_assets.hpp"
#include "raydeploy/http/response_cache.hpp"

#include <algorithm>

namespace raydeploy::api {
namespace {

using embedded::web_asset;

// No inline script and no other host, so an injected <script> or a lured navigation runs
// nothing. WebSocket connections to the page's own origin are covered by 'self' in connect-src.
constexpr std::string_view page_policy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'";
// Swagger UI sets style attributes from its script; scripts stay as strict as the UI's.
constexpr std::string_view docs_policy =
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'";

const web_asset* find_asset(std::string_view path)
{
    const auto assets = embedded::web_assets();
    const auto found = std::find_if(assets.begin(), assets.end(), [&](const web_asset& a) { return a.path == path; });
    return found == assets.end() ? nullptr : &*found;
}

// Whether the client accepts gzip: a listed coding "gzip" (or "*") whose q is not 0.
bool accepts_gzip(std::string_view header)
{
    while (!header.empty()) {
        const auto comma = header.find(',');
        std::string_view item = header.substr(0, comma);
        header = comma == std::string_view::npos ? std::string_view{} : header.substr(comma + 1);
        const auto semicolon = item.find(';');
        std::string_view coding = item.substr(0, semicolon);
        std::string_view params = semicolon == std::string_view::npos ? std::string_view{} : item.substr(semicolon + 1);
        auto trim = [](std::string_view s) {
            while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
            while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
            return s;
        };
        coding = trim(coding);
        params = trim(params);
        const bool refused = params.starts_with("q=0") && params.find_first_not_of("q=0.") == std::string_view::npos;
        if ((coding == "gzip" || coding == "*") && !refused) return true;
    }
    return false;
}

response serve(const web_asset& asset, const request& req)
{
    const bool page = !asset.path.starts_with("/assets/");
    const bool gzip = !asset.gzip_body.empty() && accepts_gzip(req[http::field::accept_encoding]);
    // A strong validator names one representation: the gzip copy has its own.
    const std::string etag = "\"" + std::string{asset.etag} + (gzip ? ".gz\"" : "\"");

    const bool current = web::if_none_match_covers(req[http::field::if_none_match], asset.etag);
    response res{current ? http::status::not_modified : http::status::ok, req.version()};
    res.set(http::field::etag, etag);
    // Pages are checked every time (their asset names change with each build); assets never
    // change under a name, so browsers keep them.
    res.set(http::field::cache_control, page ? "no-cache" : "public, max-age=31536000, immutable");
    res.set(http::field::vary, "Accept-Encoding");
    if (page) {
        res.set("Content-Security-Policy", asset.path == "/docs" ? docs_policy : page_policy);
        res.set("X-Frame-Options", "DENY");
    }
    if (current) return res;
    res.set(http::field::content_type, asset.content_type);
    if (gzip) res.set(http::field::content_encoding, "gzip");
    res.body().share(gzip ? asset.gzip_body : asset.body, nullptr);  // compiled in: never freed
    return res;
}

handler page_handler(std::string_view path)
{
    return [path](request_context& ctx) -> net::awaitable<response> {
        const web_asset* asset = find_asset(path);
        if (!asset)
            throw api_error{http::status::not_found, "NOT_FOUND",
                            "this build of raydeploy has no " + std::string{path} + " page; rebuild it with web/ present"};
        co_return serve(*asset, ctx.req);
    };
}

}  // namespace

void add_web_ui_routes(router& routes)
{
    add_route(routes, http::verb::get, "/", std::nullopt, page_handler("/"));
    add_route(routes, http::verb::get, "/docs", std::nullopt, page_handler("/docs"));
    add_route(routes, http::verb::get, "/assets/{asset}", std::nullopt, [](request_context& ctx) -> net::awaitable<response> {
        const std::string path = "/assets/" + ctx.path_param("asset");
        const web_asset* asset = find_asset(path);
        if (!asset)
            throw api_error{http::status::not_found, "ASSET_NOT_FOUND",
                            "no such asset in this build of raydeploy; reload the page (/) to get the current asset names"};
        co_return serve(*asset, ctx.req);
    });
}

}  // namespace raydeploy::api
