// TLS contexts for the service (http.tls_cert / http.tls_key) and for the CLI's client, with one
// policy: TLS 1.2 or newer, forward-secret AEAD ciphers for TLS 1.2, OpenSSL's defaults for 1.3.
#pragma once

#include "raydeploy/http/stream.hpp"

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

namespace raydeploy::web {

// A server context from a PEM certificate chain and its PEM private key. Throws config_error naming
// http.tls_cert or http.tls_key and OpenSSL's reason when a file cannot be read or parsed, or when
// the key does not belong to the certificate.
std::shared_ptr<ssl::context> make_server_tls_context(const std::filesystem::path& cert_file,
                                                      const std::filesystem::path& key_file);

// "subject CN=..., serial 0x..., expires 2027-..." of the context's certificate, for the log.
std::string certificate_summary(ssl::context& context);

// A client context that verifies the server's chain against `ca_file` (PEM) or, without it, the
// system's trusted CAs. Throws config_error naming `ca_source` when the file cannot be loaded.
std::shared_ptr<ssl::context> make_client_tls_context(const std::optional<std::filesystem::path>& ca_file,
                                                      const std::string& ca_source);

// Makes `stream` (a TLS client stream not yet connected) send `host` as SNI and accept only a
// certificate issued for `host` (a DNS name or an IP address).
void expect_server_name(http_stream& stream, const std::string& host);

}  // namespace raydeploy::web
