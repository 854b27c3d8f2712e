// The route table as data: method + path pattern ("/api/v1/checkpoints/{name}") -> handler.
// Matching is sans-I/O and distinguishes an unknown path (404) from a known path asked with
// the wrong method (405 with the allowed methods). Each route names the least role that may call
// it; the server authenticates before the handler runs, so no handler can forget to.
#pragma once

#include "raydeploy/auth/auth_result.hpp"
#include "raydeploy/http/response.hpp"
#include "raydeploy/http/stream.hpp"

#include <boost/url/url_view.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace raydeploy::web {

// Runs on a connection a handler took over (a WebSocket upgrade, a streamed or followed log),
// plain or TLS alike. It may set `on_shutdown`, which the server calls when it shuts down while
// the connection is still in use.
using connection_handler = std::function<net::awaitable<void>(http_stream& stream, std::function<void()>& on_shutdown)>;

struct request_context {
    const request& req;
    boost::urls::url_view target;  // parsed request target; query parameters via target.params()
    std::map<std::string, std::string, std::less<>> path_params;  // percent-decoded
    tcp::endpoint remote;
    // Who is calling; authenticated before the handler runs. Left default-constructed (name
    // empty, viewer) on public routes, which must not act on it.
    identity caller;
    // Set by a handler that needs the connection itself: the session then runs it instead of
    // writing the handler's response, and closes the connection when it returns.
    connection_handler take_over;

    // The value of a path parameter declared in the route's pattern.
    const std::string& path_param(std::string_view name) const;
    // The first value of a query parameter, if present.
    std::optional<std::string> query(std::string_view name) const;

    // The query's parameters, decoded on the first call of query(): a handler asks for each
    // parameter it knows, and each would walk and decode the whole query again.
    mutable std::optional<std::vector<std::pair<std::string, std::string>>> decoded_query{};
};

// Any exception a handler throws becomes a 500 INTERNAL_ERROR (logged): a handler answers expected
// failures itself (the api layer wraps its handlers so that its api_error becomes the answer).
using handler = std::function<net::awaitable<response>(request_context&)>;

// Tells who sent a request, or why it cannot (the server answers the refusal: 401 with
// `WWW-Authenticate`, or 400). `websocket_handshake`: the request upgrades a WebSocket route,
// where browsers cannot set Authorization and may bring the credential another way (see
// token_authenticator).
using authenticator = std::function<auth_result(const request&, bool websocket_handshake)>;

struct route {
    http::verb method;
    std::string pattern;
    // The least role allowed to call it; nullopt for a public route (no authentication at all).
    std::optional<role> access;
    handler handle;
    // For routes that change state: the action name the audit trail records ("approval.grant").
    std::string audit_action;
    // A GET that serves a WebSocket (router::add_websocket).
    bool websocket = false;
};

// Told about a request to an audited route that was refused before its handler ran (401, 400 for
// a token in the URL, 403, 415).
using refusal_observer = std::function<void(const request_context&, const route&, const refusal&)>;

class router {
public:
    // Patterns are absolute paths whose segments are literals or "{param}". `access` is the least
    // role that may call the route; std::nullopt makes it public (/health, /openapi.yaml and the WebUI's pages and assets).
    void add(http::verb method, std::string pattern, std::optional<role> access, handler handle,
             std::string audit_action = {});
    // A GET route whose handler upgrades to a WebSocket: its handshake may authenticate the ways
    // a browser can (subprotocol, ticket).
    void add_websocket(std::string pattern, role access, handler handle);

    // Until set, every caller is the open-mode identity {"local", admin}: what a service without
    // configured tokens gets, and what route tests that do not care about roles want.
    void set_authenticator(authenticator authenticate);
    auth_result authenticate(const request& req, bool websocket_handshake) const
    {
        return authenticate_(req, websocket_handshake);
    }

    // The handlers of audited routes record their own outcomes; refusals before them come here.
    void on_refused(refusal_observer observer) { on_refused_ = std::move(observer); }
    void refused(const request_context& ctx, const route& matched, const refusal& reason) const
    {
        if (on_refused_ && !matched.audit_action.empty()) on_refused_(ctx, matched, reason);
    }

    enum class outcome { found, not_found, method_not_allowed };
    struct match_result {
        outcome result = outcome::not_found;
        const route* matched = nullptr;
        std::map<std::string, std::string, std::less<>> params;
        std::vector<http::verb> allowed;  // for method_not_allowed, sorted as registered
    };
    // `segments` are the decoded path segments of the request ("/a/b" -> {"a", "b"}).
    match_result match(http::verb method, const std::vector<std::string>& segments) const;

    const std::vector<route>& routes() const { return routes_; }

private:
    // A pattern split once, when added: matching runs on every request.
    struct compiled_pattern {
        std::vector<std::string> parts;  // literals, and the names of placeholders
        // Bit 63 - i is set when part i is a literal. Of two patterns with as many parts, the one
        // with the greater mask is the more literal one, segment by segment from the left.
        std::uint64_t literal_mask = 0;
        bool literal(std::size_t part) const { return (literal_mask >> (63 - part)) & 1; }
        bool fits(const std::vector<std::string>& segments) const;
    };
    static compiled_pattern compile(std::string_view pattern);
    // The literal_mask of a pattern of `parts` literals.
    static std::uint64_t all_literal(std::size_t parts);

    std::vector<route> routes_;
    std::vector<compiled_pattern> compiled_;  // of routes_, index for index
    // Indexes into routes_, in the order added. A pattern of literals only is found by its path
    // ("/a/b"), and is the most literal of any that fits; the others by their number of segments,
    // so that a request is matched only against patterns of its own length.
    std::unordered_map<std::string, std::vector<std::size_t>> literal_paths_;
    std::vector<std::vector<std::size_t>> by_length_;
    authenticator authenticate_ = [](const request&, bool) {
        return auth_result{identity{"local", role::admin, true, "local"}};
    };
    refusal_observer on_refused_;
};

// "GET, POST" for an Allow header.
std::string allow_header(const std::vector<http::verb>& methods);

}  // namespace raydeploy::web
