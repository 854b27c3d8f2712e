// Host, Origin and Content-Type checks and the CORS headers.
#include "raydeploy/http/browser_guard.hpp"

#include <boost/url/pct_string_view.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <stdexcept>

namespace raydeploy::web {
namespace {

// Names a browser only sends for this machine: a page elsewhere cannot make them its own.
constexpr std::array<std::string_view, 3> loopback_names{"127.0.0.1", "localhost", "[::1]"};

std::string lower_trimmed(std::string_view text)
{
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    std::string out;
    for (char c : text) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

refusal host_refusal(std::string message)
{
    return refusal{http::status::misdirected_request, "HOST_NOT_ALLOWED", std::move(message),
                   json::object{{"header", "Host"}}};
}

refusal origin_refusal(std::string message, std::string_view header = "Origin")
{
    return refusal{http::status::forbidden, "ORIGIN_NOT_ALLOWED", std::move(message), json::object{{"header", header}}};
}

std::string loopback_list(std::uint16_t port)
{
    const std::string suffix = ":" + std::to_string(port);
    return "127.0.0.1" + suffix + ", localhost" + suffix + " and [::1]" + suffix;
}

}  // namespace

browser_policy browser_policy::from_settings(bool open_mode, const std::vector<std::string>& hosts,
                                             const std::vector<std::string>& origins)
{
    browser_policy policy;
    policy.open_mode = open_mode;
    for (const auto& entry : hosts) {
        if (allowed_host_problem(entry)) throw std::invalid_argument{"http.allowed_hosts: bad entry '" + entry + "'"};
        policy.allowed_hosts.push_back(*parse_host(entry));
    }
    for (const auto& entry : origins) {
        if (allowed_origin_problem(entry))
            throw std::invalid_argument{"http.allowed_origins: bad entry '" + entry + "'"};
        policy.allowed_origins.push_back(*parse_origin(entry));
    }
    return policy;
}

bool browser_guard::host_allowed(const host_and_port& host, std::uint16_t port) const
{
    // A bare name is what clients send for the scheme's default port; a browser only does that
    // when the page's URL has no port, so a bare loopback name never comes from another site.
    const bool loopback = std::find(loopback_names.begin(), loopback_names.end(), host.host) != loopback_names.end();
    if (loopback && (!host.port || *host.port == port)) return true;
    return std::any_of(policy_.allowed_hosts.begin(), policy_.allowed_hosts.end(), [&](const host_and_port& entry) {
        return entry.host == host.host && (!entry.port || entry.port == host.port);
    });
}

std::optional<refusal> browser_guard::refusal(const request& req, std::string_view scheme, std::uint16_t port) const
{
    const auto host_field = req.find(http::field::host);
    const std::string_view host_text = host_field == req.end() ? std::string_view{} : std::string_view{host_field->value()};
    const auto origin_field = req.find(http::field::origin);
    // With tokens and no list, any name is answered: a rebinding page has no token to send.
    const bool any_host = !policy_.open_mode && policy_.allowed_hosts.empty();
    // Parsed when it is checked, or when an Origin is compared with it.
    const auto host = any_host && origin_field == req.end() ? std::nullopt : parse_host(host_text);
    if (!any_host && (!host || !host_allowed(*host, port))) {
        const std::string what = host_field == req.end()
                                     ? "the request has no Host header"
                                     : "Host '" + std::string{host_text} + "' is not a name this service answers to";
        if (policy_.open_mode)
            return host_refusal(what + ": without auth.tokens (open mode) only " + loopback_list(port) +
                                " are, so that a page of another site cannot reach it by rebinding its own name "
                                "(DNS rebinding); use http://127.0.0.1:" + std::to_string(port) +
                                ", or add the name to http.allowed_hosts");
        return host_refusal(what + ": it is not in http.allowed_hosts (nor " + loopback_list(port) +
                            "); use a listed name, or add this one to http.allowed_hosts");
    }

    if (origin_field == req.end()) {
        // Browsers that send no Origin (a cross-site image or script load) still say where the
        // request comes from; a person following a link (navigate) is not a page acting for them.
        if (lower_trimmed(req[http::field::sec_fetch_site]) == "cross-site" &&
            lower_trimmed(req[http::field::sec_fetch_mode]) != "navigate")
            return origin_refusal("Sec-Fetch-Site: cross-site: a page of another site sent this request, and only "
                                  "the origins in http.allowed_origins may call the API; add the page's origin there",
                                  "Sec-Fetch-Site");
        return std::nullopt;
    }
    const std::string origin_text{origin_field->value()};
    if (lower_trimmed(origin_text) == "null")
        return origin_refusal("Origin 'null' (a sandboxed or file:// page, or a redirect across sites) cannot be told "
                              "apart from a page of any site; call the API from a page whose origin is listed in "
                              "http.allowed_origins");
    const auto origin = parse_origin(origin_text);
    std::optional<web_origin> own;
    if (host) own = make_origin(std::string{scheme}, *host);
    if (origin && own && origin->to_string() == own->to_string()) return std::nullopt;
    if (listed_origin(req)) return std::nullopt;
    return origin_refusal("Origin '" + origin_text + "' is neither this service's own origin" +
                          (own ? " (" + own->to_string() + ")" : std::string{}) +
                          " nor listed in http.allowed_origins: a page of another site may not call the API; to "
                          "allow a WebUI served from there, add its origin to http.allowed_origins");
}

std::optional<std::string> browser_guard::listed_origin(const request& req) const
{
    const auto field = req.find(http::field::origin);
    if (field == req.end()) return std::nullopt;
    const auto origin = parse_origin(field->value());
    if (!origin) return std::nullopt;
    const std::string normal = origin->to_string();
    for (const auto& entry : policy_.allowed_origins)
        if (entry.to_string() == normal) return std::string{field->value()};
    return std::nullopt;
}

std::optional<refusal> content_type_refusal(const request& req)
{
    const bool has_body = !req.body().empty() || req.chunked();
    if (req.method() != http::verb::post && !has_body) return std::nullopt;
    const std::string_view type = req[http::field::content_type];
    if (lower_trimmed(type.substr(0, type.find(';'))) == "application/json") return std::nullopt;
    // A form or a no-cors fetch can send text/plain and the form types, never JSON: requiring it
    // (also for an empty POST) keeps other sites' pages from changing anything.
    return refusal{http::status::unsupported_media_type, "UNSUPPORTED_MEDIA_TYPE",
                   "every POST and every request with a body must have 'Content-Type: application/json' (also "
                   "when the body is empty); this one has " +
                       (type.empty() ? std::string{"no Content-Type"} : "'" + std::string{type} + "'"),
                   json::object{{"header", "Content-Type"}}};
}

void add_cors_headers(response& res, std::string_view origin)
{
    res.set(http::field::access_control_allow_origin, origin);
    res.set(http::field::access_control_expose_headers, "Location");
    const std::string vary{res[http::field::vary]};
    res.set(http::field::vary, vary.empty() ? "Origin" : vary + ", Origin");
}

void add_preflight_headers(response& res, std::string_view origin, std::string_view methods)
{
    add_cors_headers(res, origin);
    res.set(http::field::access_control_allow_methods, methods);
    res.set(http::field::access_control_allow_headers, "Authorization, Content-Type");
    res.set(http::field::access_control_max_age, "600");
}

std::string redacted_target(std::string_view target)
{
    const auto question = target.find('?');
    if (question == std::string_view::npos) return std::string{target};
    std::string out{target.substr(0, question + 1)};
    std::string_view query = target.substr(question + 1);
    for (bool first = true;; first = false) {
        const auto amp = query.find('&');
        const std::string_view item = query.substr(0, amp);
        const std::string_view name = item.substr(0, item.find('='));
        if (!first) out += '&';
        // Compared decoded, as the authenticator reads them: "tick%65t" is a ticket too. A name
        // that is not valid percent-encoding is hidden as well.
        const auto encoded = boost::urls::make_pct_string_view(name);
        const std::string decoded = encoded ? encoded->decode() : std::string{"token"};
        if (decoded == "ticket" || decoded == "token" || decoded == "access_token")
            out += std::string{name} + "=***";
        else
            out += item;
        if (amp == std::string_view::npos) break;
        query.remove_prefix(amp + 1);
    }
    return out;
}

}  // namespace raydeploy::web
