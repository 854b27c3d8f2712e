// What keeps web pages from using the API behind a user's back, and lets the pages that are
// meant to use it (a WebUI on a listed origin) do so through CORS:
//   - Host: in open mode only loopback names reach the service (a DNS-rebinding page sends its own
//     name); with tokens, http.allowed_hosts when it is not empty.
//   - Origin: a request from another site is refused unless its origin is listed in
//     http.allowed_origins; `Origin: null` is always refused.
//   - Content-Type: a POST, and any request with a body, must be application/json, which no
//     form or no-cors fetch can send without a CORS preflight.
// Sans-I/O: the server calls it with the listener's scheme and port.
#pragma once

#include "raydeploy/http/response.hpp"
#include "raydeploy/util/web_origin.hpp"

#include <optional>
#include <string>
#include <vector>

namespace raydeploy::web {

struct browser_policy {
    // No tokens configured: every caller is an admin, so only loopback Host names are answered.
    bool open_mode = true;
    std::vector<host_and_port> allowed_hosts;  // an entry without a port allows any port
    std::vector<web_origin> allowed_origins;

    // From the settings' text entries (validated by load_settings); throws std::invalid_argument
    // naming an entry that is not valid.
    static browser_policy from_settings(bool open_mode, const std::vector<std::string>& hosts,
                                        const std::vector<std::string>& origins);
};

class browser_guard {
public:
    explicit browser_guard(browser_policy policy = {}) : policy_{std::move(policy)} {}

    // The refusal of a request a page on another site could have made the browser send: 421
    // HOST_NOT_ALLOWED or 403 ORIGIN_NOT_ALLOWED. `scheme` ("http", "https") and `port` are the
    // listener's: a page of this service has the origin scheme://<its Host>.
    std::optional<web::refusal> refusal(const request& req, std::string_view scheme, std::uint16_t port) const;

    // The request's Origin when it is listed in http.allowed_origins (CORS headers go on the answer).
    std::optional<std::string> listed_origin(const request& req) const;

    const browser_policy& policy() const { return policy_; }

private:
    bool host_allowed(const host_and_port& host, std::uint16_t port) const;

    browser_policy policy_;
};

// 415 UNSUPPORTED_MEDIA_TYPE for a POST, or any request with a body, that is not application/json.
std::optional<refusal> content_type_refusal(const request& req);

// Access-Control-Allow-Origin and Vary on an answer to a listed origin.
void add_cors_headers(response& res, std::string_view origin);
// The answer to a CORS preflight from a listed origin: the methods of the path, the request
// headers the API reads, and how long the browser may cache that.
void add_preflight_headers(response& res, std::string_view origin, std::string_view methods);

// The request target with the values of credential-like query parameters (ticket, token,
// access_token) replaced by "***", for logs.
std::string redacted_target(std::string_view target);

}  // namespace raydeploy::web
