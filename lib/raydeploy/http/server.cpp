// HTTP listener and session coroutines. Single-threaded: every session runs on the one
// io_context thread, so the session registry needs no lock.
#include "raydeploy/http/server.hpp"

#include "raydeploy/http/session_deadline.hpp"

#include "raydeploy/util/errors.hpp"
#include "raydeploy/util/log.hpp"
#include "raydeploy/util/utf8.hpp"

#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/beast/core/detect_ssl.hpp>
#include <boost/beast/core/read_size.hpp>
#include <boost/url/parse.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <memory>
#include <string>
#include <tuple>

namespace raydeploy::web {
namespace {

// Connections accepted past http.max_connections that still get an answer (503, or /health) before
// they close. Past these too, a new connection is closed at once: a flood then costs an accept each.
constexpr std::size_t over_cap_reserve = 32;
// How long an over-cap connection may take to send its one request.
constexpr std::chrono::seconds over_cap_timeout{5};
// How long a TLS close_notify exchange may take when a connection ends.
constexpr std::chrono::seconds tls_close_timeout{2};
// The largest read, as Beast's own reads choose it. A connection's buffer holds at most this
// past http.header_limit (read_request).
constexpr std::size_t largest_read = 65536;

response over_capacity_response(std::size_t max_connections)
{
    return busy_response("TOO_MANY_CONNECTIONS", "the service already serves " + std::to_string(max_connections) +
                                                     " connections (http.max_connections); retry after a few seconds, "
                                                     "or close idle connections and WebSocket subscribers");
}

// /health answers even past the connection cap, so monitoring tells "busy" from "down".
bool is_health_check(const request& req)
{
    const auto target = boost::urls::parse_origin_form(req.target());
    return target && target->path() == "/health";
}

// A parse failure gets an answer before the connection closes; socket-level failures (reset,
// timeout) do not, as nobody would read it.
std::optional<response> response_for_read_error(const beast::error_code& ec, const http_settings& limits)
{
    if (ec == http::error::header_limit)
        return error_response(http::status::request_header_fields_too_large, "HEADERS_TOO_LARGE",
                              "request headers exceed " + std::to_string(limits.header_limit) +
                                  " bytes; send fewer or shorter headers");
    if (ec == http::error::buffer_overflow)
        return error_response(http::status::bad_request, "BAD_REQUEST",
                              "a chunk's size line, its extensions or the trailer fields run past " +
                                  std::to_string(limits.header_limit + largest_read) +
                                  " bytes; send chunks with short size lines, or the body with a Content-Length");
    if (ec == http::error::body_limit)
        return error_response(http::status::payload_too_large, "PAYLOAD_TOO_LARGE",
                              "request body exceeds " + std::to_string(limits.body_limit) +
                                  " bytes; send a smaller body");
    if (ec.category() == beast::error_code{http::error::end_of_stream}.category())  // any other parse error
        return error_response(http::status::bad_request, "BAD_REQUEST",
                              "malformed HTTP request (" + ec.message() + "); send a valid HTTP/1.1 request");
    return std::nullopt;
}

// Reads one request into `parser`: the request line and header fields, at most `header_limit`
// bytes of them in all, then the body. What `buffer` already holds (the bytes the idle read
// brought, a pipelined request) is parsed here and now; the stream is read only when the parser
// needs more. http::async_read_some posts its completion when it needs no read, so every request
// took a trip through the scheduler's locked queue and a composed operation's allocation: 3 % of
// a small answer's time (perf, 2026-12-05).
// Beast's header_limit alone bounds only what one parse step sees: fields consumed by earlier
// steps do not count, so a block that arrives in pieces could grow past it. Each step gets what
// is left. Past the header, the parser takes the body as it comes, but not a chunk's size line or
// the trailer until they end: `buffer`'s maximum size bounds those, and a buffer that fills up
// with them ends the read with http::error::buffer_overflow (an endless chunk extension would
// otherwise be kept in memory until the read timeout, from any client, before authentication).
net::awaitable<beast::error_code> read_request(http_stream& stream, beast::flat_buffer& buffer,
                                               http::request_parser<http::string_body>& parser,
                                               std::size_t header_limit)
{
    std::size_t header_consumed = 0;
    for (;;) {
        if (buffer.size() > 0) {
            const bool in_header = !parser.is_header_done();
            if (in_header) parser.header_limit(static_cast<std::uint32_t>(header_limit - header_consumed));
            beast::error_code ec;
            const std::size_t used = parser.put(buffer.data(), ec);
            buffer.consume(used);
            if (in_header) {
                header_consumed += used;
                if (header_consumed > header_limit) co_return beast::error_code{http::error::header_limit};
            }
            if (parser.is_done()) co_return beast::error_code{};
            // Without an error the parser stopped after a step (the header, a chunk): parse on.
            if (!ec && used > 0) continue;
            if (ec && ec != http::error::need_more) co_return ec;
        }
        const std::size_t room = beast::read_size(buffer, largest_read);
        if (room == 0) co_return beast::error_code{http::error::buffer_overflow};
        auto [ec, n] = co_await stream.async_read_some(buffer.prepare(room), nothrow_awaitable);
        buffer.commit(n);
        if (ec == net::error::eof) {
            // A message whose end is the connection's end (a body without a length) is complete;
            // anything else cut short is not.
            if (!parser.got_some()) co_return beast::error_code{http::error::end_of_stream};
            beast::error_code eof_ec;
            parser.put_eof(eof_ec);
            co_return eof_ec;
        }
        if (ec) co_return ec;
    }
}

// After answering a request we did not read in full, the peer may still be sending. Closing with
// unread data makes the kernel send RST, which can destroy our response before the client reads
// it; so stop sending, then drain for a moment before closing.
net::awaitable<void> linger_close(beast::tcp_stream& stream)
{
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    std::array<char, 16 * 1024> sink;
    std::size_t drained = 0;
    stream.expires_after(std::chrono::seconds{2});
    while (drained < 4 * 1024 * 1024) {
        auto [ec, n] = co_await stream.async_read_some(net::buffer(sink), nothrow_awaitable);
        if (ec) break;
        drained += n;
    }
}

// Roles are a ladder: each includes every lower one.
std::optional<refusal> role_refusal(const identity& caller, role needed)
{
    if (caller.level >= needed) return std::nullopt;
    return refusal{http::status::forbidden, "FORBIDDEN",
                   "this needs the " + std::string{to_string(needed)} + " role; token '" + caller.name + "' has " +
                       std::string{to_string(caller.level)} + "; use a token with that role or ask an admin for one",
                   json::object{{"required_role", to_string(needed)}, {"role", to_string(caller.level)}}};
}

// What is refused before the handler runs: no valid credential, too low a role, a body that is
// not JSON (after authentication, so that the audit row names the caller).
std::optional<refusal> refusal_before_handler(const router& routes, const route& matched, const request& req,
                                              request_context& context)
{
    if (const auto& access = matched.access) {
        const bool handshake = matched.websocket && beast::websocket::is_upgrade(req);
        auto result = routes.authenticate(req, handshake);
        if (!result) {
            const auth_refusal& why = result.refusal();
            return refusal{why.status, why.code, why.message, why.details};
        }
        context.caller = result.caller();
        if (auto too_low = role_refusal(context.caller, *access)) return too_low;
    }
    return content_type_refusal(req);
}

response refusal_response(const refusal& reason)
{
    auto res = error_response(reason);
    // RFC 6750: a 401 names the scheme the client should use.
    if (reason.status == http::status::unauthorized) res.set(http::field::www_authenticate, "Bearer realm=\"raydeploy\"");
    return res;
}

}  // namespace

http_server::http_server(net::any_io_executor executor, router routes, http_settings limits, browser_policy browser)
    : executor_{executor},
      routes_{std::move(routes)},
      limits_{limits},
      guard_{std::move(browser)},
      acceptor_{executor},
      grace_timer_{executor}
{
}

std::shared_ptr<http_server> http_server::create(net::any_io_executor executor, router routes, http_settings limits,
                                                 const listen_address& address, browser_policy browser,
                                                 std::shared_ptr<ssl::context> tls)
{
    std::shared_ptr<http_server> server{new http_server{executor, std::move(routes), limits, std::move(browser)}};
    server->tls_ = std::move(tls);
    // Browsers send the origin they loaded the page from: with TLS it is an https one.
    if (server->tls_) server->scheme_ = "https";
    const auto fail = [&](const char* step, const beast::error_code& ec) {
        throw runtime_failure{"cannot listen on " + address.to_string() + " (" + step + ": " + ec.message() +
                              "); stop the process using that address or choose another with --listen"};
    };
    beast::error_code ec;
    const tcp::endpoint endpoint{net::ip::make_address(address.host), address.port};
    auto& acceptor = server->acceptor_;
    acceptor.open(endpoint.protocol(), ec);
    if (ec) fail("open", ec);
    acceptor.set_option(net::socket_base::reuse_address{true}, ec);
    acceptor.bind(endpoint, ec);
    if (ec) fail("bind", ec);
    acceptor.listen(net::socket_base::max_listen_connections, ec);
    if (ec) fail("listen", ec);
    server->port_ = acceptor.local_endpoint().port();
    return server;
}

tcp::endpoint http_server::local_endpoint() const { return acceptor_.local_endpoint(); }

net::awaitable<void> http_server::run()
{
    auto self = shared_from_this();
    net::steady_timer backoff{executor_};
    while (!stopping_) {
        auto [ec, socket] = co_await acceptor_.async_accept(nothrow_awaitable);
        if (stopping_ || ec == net::error::operation_aborted) break;
        if (ec) {
            // Out of descriptors and similar: keep serving once the pressure passes, don't exit.
            log::warn("accept failed", {{"error", ec.message()}});
            backoff.expires_after(std::chrono::milliseconds{100});
            co_await backoff.async_wait(nothrow_awaitable);
            continue;
        }
        // Without it, Nagle's algorithm holds back a message written while the previous one is not
        // yet acknowledged, and the peer may delay its ACK: event feeds, which write message after
        // message, had a third more latency at the median and p99 and delivered 13 % fewer events
        // (docs/benchmarks.md). Answers are written whole, so no small writes need coalescing.
        beast::error_code nodelay_ignored;  // only a socket that is already gone refuses it
        socket.set_option(tcp::no_delay{true}, nodelay_ignored);
        bool over_cap = false;
        if (sessions_.size() - over_cap_sessions_ >= limits_.max_connections) {
            if (over_cap_sessions_ >= over_cap_reserve) {
                beast::error_code ignored;
                socket.close(ignored);
                continue;
            }
            over_cap = true;
        }
        net::co_spawn(executor_, self->run_session(std::move(socket), tls_, over_cap), [](std::exception_ptr error) {
            if (!error) return;
            try {
                std::rethrow_exception(error);
            } catch (const std::exception& e) {
                log::error("session ended with an unexpected error", {{"error", e.what()}});
            }
        });
    }
}

void http_server::shutdown()
{
    if (stopping_) return;
    stopping_ = true;
    beast::error_code ignored;
    acceptor_.close(ignored);
    for (auto& [id, entry] : sessions_) {
        if (!entry.busy) entry.stream->cancel();
        else if (entry.on_shutdown) entry.on_shutdown();
    }
    if (sessions_.empty()) return;
    grace_timer_.expires_after(limits_.shutdown_grace);
    grace_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
        if (ec) return;  // every session ended in time
        log::warn("shutdown grace period over; closing remaining connections",
                  {{"connections", self->sessions_.size()}});
        for (auto& [id, entry] : self->sessions_) {
            beast::error_code ignored_close;
            entry.stream->socket().close(ignored_close);
        }
    });
}

void http_server::on_session_end(std::uint64_t id)
{
    if (const auto it = sessions_.find(id); it != sessions_.end() && it->second.over_cap) --over_cap_sessions_;
    if (sessions_.erase(id)) metrics::service_metrics::instance().http_connections.Decrement();
    if (stopping_ && sessions_.empty()) grace_timer_.cancel();
}

net::awaitable<void> http_server::run_session(tcp::socket socket, std::shared_ptr<ssl::context> tls, bool over_cap)
{
    auto self = shared_from_this();  // the server outlives every session it serves
    beast::tcp_stream tcp_layer{std::move(socket)};
    beast::error_code ec;
    const tcp::endpoint remote = tcp_layer.socket().remote_endpoint(ec);
    http_stream stream = tls ? http_stream{std::move(tcp_layer), *tls} : http_stream{std::move(tcp_layer)};

    const std::uint64_t id = next_session_id_++;
    sessions_.emplace(id, session_entry{&stream, false, {}, over_cap});
    metrics::service_metrics::instance().http_connections.Increment();
    if (over_cap) ++over_cap_sessions_;
    struct unregister {
        http_server* server;
        std::uint64_t id;
        ~unregister() { server->on_session_end(id); }
    } guard{this, id};
    session_entry& entry = sessions_.at(id);
    // An over-cap connection holds one of few places: it gets a short time to say what it wants.
    const auto idle_timeout = over_cap ? std::min<std::chrono::milliseconds>(limits_.idle_timeout, over_cap_timeout)
                                       : limits_.idle_timeout;
    const auto read_timeout = over_cap ? std::min<std::chrono::milliseconds>(limits_.read_timeout, over_cap_timeout)
                                       : limits_.read_timeout;

    // Kept across requests: a pipelined next request may already be in it.
    beast::flat_buffer buffer{limits_.header_limit + largest_read};
    std::string head_text;  // an answer's status line and fields, its capacity kept across requests
    const auto deadline = std::make_shared<session_deadline>(
        stream.socket(), std::min({idle_timeout, read_timeout, limits_.write_timeout}));
    struct release_deadline {
        session_deadline& deadline;
        ~release_deadline() { deadline.release(); }
    } deadline_guard{*deadline};
    if (tls) {
        deadline->expires_after(idle_timeout);
        auto [detect_ec, is_tls] = co_await beast::async_detect_ssl(stream.tcp(), buffer, nothrow_awaitable);
        if (detect_ec) co_return;  // closed or silent before saying anything
        if (!is_tls) {
            // Plain HTTP on the TLS port: say so in plain HTTP rather than drop the connection.
            auto res = error_response(http::status::bad_request, "TLS_REQUIRED",
                                      "this port serves HTTPS only; use https:// (and wss:// for the event feed)");
            res.keep_alive(false);
            res.prepare_payload();
            deadline->expires_after(limits_.write_timeout);
            co_await write_response(stream.tcp(), res, head_text);
            deadline->expires_never();
            co_await linger_close(stream.tcp());
            co_return;
        }
        deadline->expires_after(read_timeout);
        auto [handshake_ec, used] =
            co_await stream.tls()->async_handshake(ssl::stream_base::server, buffer.data(), nothrow_awaitable);
        if (handshake_ec) {
            // A client offering only TLS 1.1, or distrusting our certificate: its problem, logged for
            // whoever debugs it.
            log::info("TLS handshake failed",
                      {{"remote", remote.address().to_string()}, {"error", handshake_ec.message()}});
            co_return;
        }
        buffer.consume(used);
    }
    for (;;) {
        if (buffer.size() == 0) {
            // Idle: waiting for a request to begin. This is the phase shutdown() may cancel.
            entry.busy = false;
            if (stopping_) break;
            deadline->expires_after(idle_timeout);
            auto [read_ec, n] = co_await stream.async_read_some(buffer.prepare(4096), nothrow_awaitable);
            if (read_ec) break;  // peer closed, idle timeout, or shutdown
            buffer.commit(n);
        }
        entry.busy = true;

        http::request_parser<http::string_body> parser;
        parser.body_limit(limits_.body_limit);
        deadline->expires_after(read_timeout);
        const auto read_ec = co_await read_request(stream, buffer, parser, limits_.header_limit);
        // A handler takes the time it needs; the write has its own deadline.
        deadline->expires_never();

        response res;
        bool close_after = false;
        bool unread_input = false;
        if (read_ec) {
            auto answer = response_for_read_error(read_ec, limits_);
            if (!answer) break;  // reset, timeout: nothing to answer
            log::info("rejected request", {{"remote", remote.address().to_string()}, {"reason", read_ec.message()}});
            res = std::move(*answer);
            close_after = true;
            unread_input = true;
        } else if (over_cap && !is_health_check(parser.get())) {
            res = over_capacity_response(limits_.max_connections);
            close_after = true;
        } else {
            auto answer = co_await handle(parser.get(), remote);
            if (answer.take_over) {
                // The connection now belongs to the handler (WebSocket, followed log) until it returns.
                co_await answer.take_over(stream, entry.on_shutdown);
                entry.on_shutdown = nullptr;
                break;
            }
            res = std::move(answer.res);
            close_after = !parser.get().keep_alive() || over_cap;
        }
        if (stopping_) close_after = true;
        res.keep_alive(!close_after);
        const bool head = !read_ec && parser.get().method() == http::verb::head;
        // A HEAD handler that knows the GET body's length without producing it (a log file) declares it.
        std::optional<std::uint64_t> declared_length;
        if (head && res.has_content_length() && res.body().empty())
            declared_length = std::stoull(std::string{res[http::field::content_length]});
        res.prepare_payload();
        if (head) {
            // A HEAD answer has the GET answer's headers, Content-Length included, and no body.
            const auto length = declared_length.value_or(res.body().size());
            res.body().clear();
            res.content_length(length);
        }

        deadline->expires_after(limits_.write_timeout);
        auto [write_ec, written] = co_await write_response(stream, res, head_text);
        deadline->expires_never();
        if (write_ec) break;
        if (close_after) {
            if (unread_input) co_await linger_close(stream.tcp());
            break;
        }
    }
    co_await stream.close(tls_close_timeout);
}

net::awaitable<http_server::outcome> http_server::handle(const request& req, tcp::endpoint remote)
{
    const auto started = std::chrono::steady_clock::now();
    std::string caller;  // empty until authenticated (public routes, unknown paths, 401s)
    const route* matched_route = nullptr;
    std::optional<response> res;
    connection_handler take_over;
    const auto target = boost::urls::parse_origin_form(req.target());
    // Before routing, so that a page of another site learns nothing, not even which paths exist.
    const auto browser_refusal = target ? guard_.refusal(req, scheme_, port_) : std::nullopt;
    if (!target) {
        res = error_response(http::status::bad_request, "BAD_REQUEST",
                             "request target is not a valid path; percent-encode special characters");
    } else if (browser_refusal) {
        res = error_response(*browser_refusal);
    } else {
        const auto cors_origin = guard_.listed_origin(req);
        bool preflight = false;
        // Percent-decoded, so any byte may come out; handlers see (and echo, and store in the
        // audit trail) bytes that are not UTF-8 as %XX again. A segment with nothing encoded is
        // its own decoded form, and ASCII (the parse admits nothing else).
        std::vector<std::string> segments;
        segments.reserve(target->encoded_segments().size());
        for (const auto encoded : target->encoded_segments())
            segments.push_back(encoded.decoded_size() == encoded.size() ? std::string{encoded}
                                                                         : percent_encode_invalid_utf8(encoded.decode()));
        // HEAD is GET without the body, for every GET route; OPTIONS is answered on every path.
        const bool head = req.method() == http::verb::head;
        auto match = routes_.match(head ? http::verb::get : req.method(), segments);
        const auto allowed_methods = [&match] {
            std::vector<http::verb> methods = match.allowed;
            if (std::find(methods.begin(), methods.end(), http::verb::get) != methods.end())
                methods.push_back(http::verb::head);
            methods.push_back(http::verb::options);
            return allow_header(methods);
        };
        if (match.result == router::outcome::not_found) {
            res = error_response(http::status::not_found, "NOT_FOUND",
                                 "no route for " + std::string{target->path()} + "; see /openapi.yaml for the API");
        } else if (req.method() == http::verb::options) {
            // Browsers send preflights without credentials, so this needs none; it reveals only
            // the methods of a path.
            res.emplace(http::status::no_content, 11);
            const std::string allowed = allowed_methods();
            res->set(http::field::allow, allowed);
            if (cors_origin && req.count(http::field::access_control_request_method) > 0) {
                add_preflight_headers(*res, *cors_origin, allowed);
                preflight = true;
            }
        } else if (match.result == router::outcome::method_not_allowed) {
            const std::string allowed = allowed_methods();
            res = error_response(http::status::method_not_allowed, "METHOD_NOT_ALLOWED",
                                 std::string{req.method_string()} + " is not allowed on " +
                                     std::string{target->path()} + "; use " + allowed);
            res->set(http::field::allow, allowed);
        } else {
            matched_route = match.matched;
            request_context context{req, *target, std::move(match.params), remote, {}, {}};
            try {
                const auto refused = refusal_before_handler(routes_, *match.matched, req, context);
                caller = context.caller.name;
                if (refused) {
                    routes_.refused(context, *match.matched, *refused);
                    res = refusal_response(*refused);
                } else {
                    res = co_await match.matched->handle(context);
                    if (!head) take_over = std::move(context.take_over);
                }
            } catch (const std::exception& e) {
                log::error("request failed", {{"method", req.method_string()},
                                              {"target", redacted_target(req.target())},
                                              {"error", e.what()}});
                res = error_response(http::status::internal_server_error, "INTERNAL_ERROR",
                                     "the server failed to handle this request; the service log has the details");
            }
        }
        // A WebUI on a listed origin may read every answer, errors included.
        if (cors_origin && !preflight) add_cors_headers(*res, *cors_origin);
    }
    const auto elapsed = std::chrono::steady_clock::now() - started;
    auto& observed = route_metrics_[{matched_route, req.method()}];
    if (!observed)
        // The verb's own name: a method the client made up would be a label of its choosing.
        observed = &metrics::service_metrics::instance().route(matched_route ? matched_route->pattern : "unmatched",
                                                               http::to_string(req.method()));
    observed->observe(res->result_int(), metrics::seconds(elapsed));
    if (log::enabled(log::level::info)) {
        // The target's query may hold a ticket (or a token someone put there by mistake): redacted.
        json::object fields{{"method", req.method_string()},
                            {"target", redacted_target(req.target())},
                            {"status", res->result_int()},
                            {"us", std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count()},
                            {"remote", remote.address().to_string()}};
        if (browser_refusal) fields["refused"] = browser_refusal->code;
        if (!caller.empty()) fields["caller"] = caller;
        log::info("request", fields);
    }
    co_return outcome{std::move(*res), std::move(take_over)};
}

}  // namespace raydeploy::web
