// One connection type for plain TCP and TLS over TCP, chosen at run time, so the sessions, the
// connection handlers (WebSocket feed, followed log) and the CLI's client are written once.
//
// It is a Beast AsyncStream (usable with http::async_read/async_write, websocket::stream<http_stream&>,
// net::async_write) whose operations go to whichever layer the connection has. Deadlines live on
// the TCP layer (beast::tcp_stream) in both cases, so expires_after() bounds TLS records too.
#pragma once

#include "raydeploy/util/net.hpp"

#include <boost/asio/ssl.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/beast/websocket/teardown.hpp>

#include <chrono>
#include <type_traits>
#include <variant>

namespace raydeploy {
namespace ssl = boost::asio::ssl;
}  // namespace raydeploy::web

namespace raydeploy::web {

class http_stream {
public:
    using executor_type = beast::tcp_stream::executor_type;
    using tls_stream = beast::ssl_stream<beast::tcp_stream>;

    // A plain connection.
    explicit http_stream(beast::tcp_stream tcp) : stream_{std::in_place_index<0>, std::move(tcp)} {}
    // A TLS connection over `tcp`; it carries no application data until handshake() succeeded.
    // The SSL_CTX is reference-counted by OpenSSL, so `context` may be replaced (a certificate
    // reload) while this connection lives.
    http_stream(beast::tcp_stream tcp, ssl::context& context) : stream_{std::in_place_index<1>, std::move(tcp), context} {}

    executor_type get_executor() noexcept { return tcp().get_executor(); }
    tls_stream* tls() noexcept { return std::get_if<1>(&stream_); }

    // The TCP layer, where deadlines and the socket are.
    beast::tcp_stream& tcp() noexcept
    {
        return std::visit([](auto& s) -> beast::tcp_stream& { return beast::get_lowest_layer(s); }, stream_);
    }
    tcp::socket& socket() noexcept { return tcp().socket(); }
    void expires_after(std::chrono::steady_clock::duration timeout) { tcp().expires_after(timeout); }
    void expires_never() { tcp().expires_never(); }
    void cancel() { tcp().cancel(); }

    // TLS handshake as `type` (server or client); a plain connection has none and succeeds at once.
    net::awaitable<beast::error_code> handshake(ssl::stream_base::handshake_type type);
    // Ends the connection: a TLS close_notify first (bounded by `timeout`), then the socket.
    net::awaitable<void> close(std::chrono::steady_clock::duration timeout);

    template <class MutableBuffers, class Token>
    auto async_read_some(const MutableBuffers& buffers, Token&& token)
    {
        return net::async_initiate<Token, void(beast::error_code, std::size_t)>(
            [this](auto handler, const MutableBuffers& b) {
                std::visit([&](auto& s) { s.async_read_some(b, std::move(handler)); }, stream_);
            },
            token, buffers);
    }

    template <class ConstBuffers, class Token>
    auto async_write_some(const ConstBuffers& buffers, Token&& token)
    {
        return net::async_initiate<Token, void(beast::error_code, std::size_t)>(
            [this](auto handler, const ConstBuffers& b) {
                std::visit([&](auto& s) { s.async_write_some(b, std::move(handler)); }, stream_);
            },
            token, buffers);
    }

    // The hooks websocket::stream uses to close its connection (found by argument-dependent lookup).
    friend void teardown(beast::role_type role, http_stream& stream, beast::error_code& ec)
    {
        std::visit(
            [&](auto& s) {
                using beast::websocket::teardown;
                teardown(role, s, ec);
            },
            stream.stream_);
    }
    template <class Handler>
    friend void async_teardown(beast::role_type role, http_stream& stream, Handler&& handler)
    {
        std::decay_t<Handler> owned{std::forward<Handler>(handler)};
        std::visit(
            [&](auto& s) {
                using beast::websocket::async_teardown;
                async_teardown(role, s, std::move(owned));
            },
            stream.stream_);
    }
    friend void beast_close_socket(http_stream& stream) { beast::close_socket(stream.tcp()); }

private:
    std::variant<beast::tcp_stream, tls_stream> stream_;
};

}  // namespace raydeploy::web
