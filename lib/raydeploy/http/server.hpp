// The HTTP listener and its sessions: one coroutine per connection, deadlines on every read and
// write, size limits on headers and bodies, a cap on connections, TLS when given a context, and a
// graceful shutdown that finishes in-flight responses.
#pragma once

#include "raydeploy/config/settings.hpp"
#include "raydeploy/http/browser_guard.hpp"
#include "raydeploy/http/router.hpp"
#include "raydeploy/metrics/service_metrics.hpp"
#include "raydeploy/util/net.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <unordered_map>

namespace raydeploy::web {

class http_server : public std::enable_shared_from_this<http_server> {
public:
    // Binds and listens at once, so the caller can report the real port (for port 0) before
    // running. Throws runtime_failure when the address cannot be used. `browser` says which Host
    // names and origins are answered (the default, open mode with no lists, is the strictest).
    // With `tls`, every connection must be TLS (HTTPS, WSS).
    static std::shared_ptr<http_server> create(net::any_io_executor executor, router routes,
                                               http_settings limits, const listen_address& address,
                                               browser_policy browser = {}, std::shared_ptr<ssl::context> tls = nullptr);

    tcp::endpoint local_endpoint() const;

    // Replaces the TLS context (a reloaded certificate) for connections accepted from now on;
    // connections already open keep theirs. Only for a server created with TLS.
    void set_tls_context(std::shared_ptr<ssl::context> tls) { tls_ = std::move(tls); }

    // The accept loop. Completes after shutdown(); sessions may still be finishing then.
    net::awaitable<void> run();

    // Stops accepting, closes idle connections, lets requests in flight finish and closes their
    // connections afterwards; after `shutdown_grace` closes whatever is left. Idempotent.
    void shutdown();

    // What a request gets: a response, or a connection handler that takes the connection over.
    struct outcome {
        response res;
        connection_handler take_over;
    };
    // Answers one parsed request; public so tests can drive the routing without a socket.
    net::awaitable<outcome> handle(const request& req, tcp::endpoint remote);

private:
    http_server(net::any_io_executor executor, router routes, http_settings limits, browser_policy browser);

    struct session_entry {
        http_stream* stream;
        bool busy;  // a request is being read, handled or answered
        std::function<void()> on_shutdown;  // set by a connection handler that took the connection over
        bool over_cap;  // accepted past max_connections: answers one request (503, or /health) and closes
    };

    net::awaitable<void> run_session(tcp::socket socket, std::shared_ptr<ssl::context> tls, bool over_cap);
    void on_session_end(std::uint64_t id);

    net::any_io_executor executor_;
    router routes_;
    http_settings limits_;
    browser_guard guard_;
    // What a page of this service has as its origin: the scheme served here (https once TLS
    // serves it) and the port bound.
    std::string scheme_ = "http";
    std::uint16_t port_ = 0;
    tcp::acceptor acceptor_;
    net::steady_timer grace_timer_;
    std::unordered_map<std::uint64_t, session_entry> sessions_;
    // The metrics of each route and method, resolved on first use (nullptr: requests no route matched).
    std::map<std::pair<const route*, http::verb>, metrics::route_metrics*> route_metrics_;
    std::uint64_t next_session_id_ = 1;
    std::size_t over_cap_sessions_ = 0;
    std::shared_ptr<ssl::context> tls_;
    bool stopping_ = false;
};

}  // namespace raydeploy::web
