// The CLI's HTTP/1.1 client: one connection and one io_context per call, every step bounded by
// beast::tcp_stream's deadline, failures turned into the typed errors of api_client.hpp.
#include "raydeploy/cli/api_client.hpp"

#include "raydeploy/http/tls.hpp"

#include "raydeploy/util/duration.hpp"
#include "raydeploy/util/errors.hpp"
#include "raydeploy/util/net.hpp"
#include "raydeploy/util/version.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <array>
#include <cctype>
#include <future>
#include <netinet/in.h>
#include <netinet/tcp.h>

namespace raydeploy::cli {

namespace {

using request_type = http::request<http::string_body>;

std::string host_header(const server_url& server)
{
    const bool ipv6 = server.host.find(':') != std::string::npos;
    return (ipv6 ? "[" + server.host + "]" : server.host) + ":" + server.port;
}

std::string json_error_message(const api_response& response)
{
    try {
        const auto value = response.json();
        if (const auto* object = value.if_object())
            if (const auto* message = object->if_contains("message"); message && message->is_string())
                return std::string{message->get_string()};
    } catch (const service_error&) {
    }
    // Not one of the service's JSON errors (a proxy's page, say): quote the start of it.
    std::string text = response.body.substr(0, 200);
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
    return text.empty() ? "(no body)" : text;
}

// 401 and 403 end every command the same way, whatever it was doing.
void throw_if_refused(const api_response& response, bool has_token)
{
    if (response.status != 401 && response.status != 403) return;
    const std::string code = response.error_code();
    std::string message = json_error_message(response);
    if (response.status == 401)
        message += has_token ? "; the token in RAYDEPLOY_TOKEN (or --token-file) was not accepted: check it, or ask "
                               "an admin for a new one ('raydeploy token create')"
                             : "; this service needs a token: set RAYDEPLOY_TOKEN or pass --token-file FILE";
    throw authentication_error{response.status, code, message};
}

[[noreturn]] void throw_network(const server_url& server, std::string_view step, const beast::error_code& ec,
                                std::chrono::milliseconds deadline)
{
    const std::string where = "the raydeploy service at " + server.text();
    if (ec == beast::error::timeout)
        throw service_unreachable{where + " did not answer within " + format_duration(deadline) + " (" +
                                  std::string{step} + "); check that it runs and is not overloaded"};
    throw service_unreachable{"cannot reach " + where + " (" + std::string{step} + ": " + ec.message() +
                              "); check that it runs ('raydeploy serve') and that --server or RAYDEPLOY_SERVER "
                              "names it"};
}

request_type make_request(const server_url& server, const std::optional<std::string>& token, http::verb method,
                          std::string_view target, const json::value* body)
{
    request_type req{method, server.prefix + std::string{target}, 11};
    req.set(http::field::host, host_header(server));
    req.set(http::field::user_agent, "raydeploy-cli/" + std::string{version()});
    req.set(http::field::accept, "application/json");
    if (token) req.set(http::field::authorization, "Bearer " + *token);
    // The service refuses a POST without this header even when it has no body (a web form
    // could send that one across sites).
    if (body || method == http::verb::post) req.set(http::field::content_type, "application/json");
    if (body) req.body() = json::serialize(*body);
    req.keep_alive(false);
    req.prepare_payload();
    return req;
}

// The handshake failed because the chain or the name did not verify: a setup problem, not an outage.
[[noreturn]] void throw_tls(const server_url& server, const beast::error_code& ec, std::chrono::milliseconds deadline)
{
    if (ec.category() != net::error::get_ssl_category()) throw_network(server, "TLS handshake", ec, deadline);
    throw service_unreachable{"TLS handshake with the raydeploy service at " + server.text() + " failed (" +
                              ec.message() +
                              "); if its certificate comes from a private CA, pass --ca-file FILE (or set "
                              "RAYDEPLOY_CA_FILE) with that CA's certificate, and check that the certificate names " +
                              server.host};
}

// A plain or TLS stream for `server`, not connected yet.
web::http_stream make_stream(net::any_io_executor executor, const server_url& server, ssl::context* tls)
{
    if (!tls) return web::http_stream{beast::tcp_stream{executor}};
    web::http_stream stream{beast::tcp_stream{executor}, *tls};
    web::expect_server_name(stream, server.host);
    return stream;
}

// Takes references although it is a coroutine: callers co_await it at once, and their frame owns all three.
net::awaitable<void> connect(web::http_stream& stream, const server_url& server, const client_timeouts& timeouts)
{
    tcp::resolver resolver{co_await net::this_coro::executor};
    auto [resolve_ec, endpoints] = co_await resolver.async_resolve(server.host, server.port, nothrow_awaitable);
    if (resolve_ec) throw_network(server, "resolving " + server.host, resolve_ec, timeouts.connect);
    stream.expires_after(timeouts.connect);
    auto [connect_ec, endpoint] = co_await stream.tcp().async_connect(endpoints, nothrow_awaitable);
    (void)endpoint;
    if (connect_ec) throw_network(server, "connecting", connect_ec, timeouts.connect);
    if (const auto handshake_ec = co_await stream.handshake(ssl::stream_base::client))
        throw_tls(server, handshake_ec, timeouts.connect);
}

// Connects and sends `req`. One deadline covers the exchange from here on: a service that
// accepts but never answers is as unreachable as one that refuses.
net::awaitable<void> send_request(web::http_stream& stream, const server_url& server, const client_timeouts& timeouts,
                                  request_type& req)
{
    co_await connect(stream, server, timeouts);
    stream.expires_after(timeouts.request);
    auto [write_ec, written] = co_await http::async_write(stream, req, nothrow_awaitable);
    (void)written;
    if (write_ec) throw_network(server, "sending the request", write_ec, timeouts.request);
}

net::awaitable<api_response> exchange(server_url server, client_timeouts timeouts, request_type req,
                                      std::shared_ptr<ssl::context> tls)
{
    web::http_stream stream = make_stream(co_await net::this_coro::executor, server, tls.get());
    co_await send_request(stream, server, timeouts, req);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    // JSON answers are pages; logs, which can be larger, go through stream().
    parser.body_limit(std::uint64_t{256} * 1024 * 1024);
    auto [read_ec, read] = co_await http::async_read(stream, buffer, parser, nothrow_awaitable);
    (void)read;
    if (read_ec) throw_network(server, "reading the answer", read_ec, timeouts.request);
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    const auto& res = parser.get();
    co_return api_response{res.result_int(), res.body(), std::string{res[http::field::content_type]}};
}

// Keep-alive probes after 30 s of silence, every 10 s, 3 tries: a dead peer shows within about a minute.
void enable_keepalive(tcp::socket& socket)
{
    socket.set_option(net::socket_base::keep_alive{true});
    socket.set_option(net::detail::socket_option::integer<IPPROTO_TCP, TCP_KEEPIDLE>{30});
    socket.set_option(net::detail::socket_option::integer<IPPROTO_TCP, TCP_KEEPINTVL>{10});
    socket.set_option(net::detail::socket_option::integer<IPPROTO_TCP, TCP_KEEPCNT>{3});
}

net::awaitable<api_response> stream_body(server_url server, client_timeouts timeouts, request_type req,
                                         const std::function<void(std::string_view)>* sink,
                                         std::shared_ptr<ssl::context> tls)
{
    web::http_stream stream = make_stream(co_await net::this_coro::executor, server, tls.get());
    co_await send_request(stream, server, timeouts, req);

    beast::flat_buffer buffer;
    http::response_parser<http::buffer_body> parser;
    parser.body_limit(boost::none);
    auto [header_ec, header_bytes] = co_await http::async_read_header(stream, buffer, parser, nothrow_awaitable);
    (void)header_bytes;
    if (header_ec) throw_network(server, "reading the answer", header_ec, timeouts.request);
    api_response answer{parser.get().result_int(), {}, std::string{parser.get()[http::field::content_type]}};
    const bool streaming = answer.success();

    stream.expires_never();
    enable_keepalive(stream.socket());
    std::array<char, 16 * 1024> chunk;
    while (!parser.is_done()) {
        parser.get().body().data = chunk.data();
        parser.get().body().size = chunk.size();
        auto [ec, n] = co_await http::async_read(stream, buffer, parser, nothrow_awaitable);
        (void)n;
        // need_buffer only says the chunk array is full: hand it over and go on.
        if (ec == http::error::need_buffer) ec = {};
        if (ec) throw_network(server, "reading the answer", ec, timeouts.request);
        const std::string_view data{chunk.data(), chunk.size() - parser.get().body().size};
        if (streaming)
            (*sink)(data);
        else
            answer.body.append(data);  // an error: keep it whole for the message
    }
    co_return answer;
}

// Runs one client coroutine on a private io_context; its exceptions come out of get().
template <class T>
T run_blocking(net::awaitable<T> operation)
{
    net::io_context io{1};
    auto result = net::co_spawn(io, std::move(operation), net::use_future);
    io.run();
    return result.get();
}

std::string method_name(http::verb method) { return std::string{http::to_string(method)}; }

}  // namespace

std::string server_url::text() const
{
    const bool ipv6 = host.find(':') != std::string::npos;
    return (tls ? "https://" : "http://") + (ipv6 ? "[" + host + "]" : host) + ":" + port + prefix;
}

bool server_url::is_loopback() const
{
    if (host == "localhost") return true;
    beast::error_code ec;
    const auto address = net::ip::make_address(host, ec);
    return !ec && address.is_loopback();
}

server_url parse_server_url(std::string_view text)
{
    const std::string quoted = "'" + std::string{text} + "'";
    const bool tls = text.rfind("https://", 0) == 0;
    if (!tls && text.rfind("http://", 0) != 0)
        throw config_error{"--server " + quoted +
                           ": expected a URL of the form http://HOST:PORT or https://HOST:PORT, e.g. "
                           "http://127.0.0.1:8000"};
    std::string_view rest = text.substr(tls ? 8 : 7);
    if (rest.find_first_of("?#") != std::string_view::npos)
        throw config_error{"--server " + quoted + ": a server URL has no query or fragment; write http://HOST:PORT"};
    const auto slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    std::string prefix = slash == std::string_view::npos ? std::string{} : std::string{rest.substr(slash)};
    while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
    if (authority.find('@') != std::string_view::npos)
        throw config_error{"--server " + quoted + ": credentials do not go in the URL; use RAYDEPLOY_TOKEN or --token-file"};

    server_url url;
    url.tls = tls;
    if (tls) url.port = "443";
    url.prefix = std::move(prefix);
    std::string_view port;
    if (!authority.empty() && authority.front() == '[') {
        const auto close = authority.find(']');
        if (close == std::string_view::npos)
            throw config_error{"--server " + quoted + ": an IPv6 address needs a closing ']', e.g. http://[::1]:8000"};
        url.host = std::string{authority.substr(1, close - 1)};
        const std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') throw config_error{"--server " + quoted + ": expected ':PORT' after the IPv6 address"};
            port = after.substr(1);
        }
    } else {
        const auto colon = authority.rfind(':');
        url.host = std::string{authority.substr(0, colon)};
        if (colon != std::string_view::npos) port = authority.substr(colon + 1);
    }
    if (url.host.empty()) throw config_error{"--server " + quoted + ": no host; write http://HOST:PORT"};
    if (!port.empty()) {
        const bool digits = port.find_first_not_of("0123456789") == std::string_view::npos;
        if (!digits || port.size() > 5 || std::stoul(std::string{port}) == 0 || std::stoul(std::string{port}) > 65535)
            throw config_error{"--server " + quoted + ": the port must be a number from 1 to 65535"};
        url.port = std::string{port};
    }
    return url;
}

authentication_error::authentication_error(unsigned status, std::string code, const std::string& message)
    : std::runtime_error{"the service refused the request (" + std::to_string(status) +
                         (code.empty() ? "" : " " + code) + "): " + message},
      status_{status},
      code_{std::move(code)}
{
}

service_error::service_error(unsigned status, std::string code, const std::string& message, json::value body)
    : std::runtime_error{message}, status_{status}, code_{std::move(code)}, body_{std::move(body)}
{
}

json::value api_response::json() const
{
    boost::system::error_code ec;
    json::value value = json::parse(body, ec);
    if (ec)
        throw service_error{status, "", "the service answered " + std::to_string(status) + " with a body that is not JSON (" +
                                            ec.message() + "); is --server pointing at a raydeploy service?"};
    return value;
}

std::string api_response::error_code() const
{
    boost::system::error_code ec;
    const json::value value = json::parse(body, ec);
    if (ec || !value.is_object()) return {};
    const auto* code = value.get_object().if_contains("error");
    return code && code->is_string() ? std::string{code->get_string()} : std::string{};
}

void throw_unexpected(const api_response& response, std::string_view what)
{
    const std::string code = response.error_code();
    json::value body = nullptr;
    if (!code.empty()) body = response.json();
    std::string message = std::string{what} + " answered " + std::to_string(response.status) +
                          (code.empty() ? "" : " " + code) + ": " + json_error_message(response);
    if (response.status >= 500) message += " (the service's log has the details)";
    throw service_error{response.status, code, message, std::move(body)};
}

std::string url_encode(std::string_view value)
{
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (const char c : value) {
        const auto byte = static_cast<unsigned char>(c);
        if (std::isalnum(byte) || c == '-' || c == '_' || c == '.' || c == '~') {
            out += c;
        } else {
            out += '%';
            out += hex[byte >> 4];
            out += hex[byte & 0xF];
        }
    }
    return out;
}

api_client::api_client(server_url server, std::optional<std::string> token, client_timeouts timeouts,
                       const client_tls& tls)
    : server_{std::move(server)}, token_{std::move(token)}, timeouts_{timeouts}
{
    if (token_ && !server_.tls && !server_.is_loopback())
        throw config_error{"--server " + server_.text() +
                           ": refusing to send the token over plain http:// to an address off this machine, where "
                           "anyone on the way could read it; use https://" +
                           server_.text().substr(7) +
                           " (the service serves it with http.tls_cert and http.tls_key), or reach the service "
                           "through a loopback address such as an SSH tunnel to http://127.0.0.1:PORT"};
    if (server_.tls) tls_context_ = web::make_client_tls_context(tls.ca_file, tls.ca_source);
}

api_response api_client::request(http::verb method, std::string_view target, const json::value* body) const
{
    auto response =
        run_blocking(exchange(server_, timeouts_, make_request(server_, token_, method, target, body), tls_context_));
    throw_if_refused(response, has_token());
    return response;
}

json::value api_client::get_json(std::string_view target) const
{
    const auto response = request(http::verb::get, target);
    if (response.status != 200) throw_unexpected(response, "GET " + std::string{target});
    return response.json();
}

json::value api_client::send_json(http::verb method, std::string_view target, const json::value& body,
                                  unsigned expected) const
{
    const auto response = request(method, target, &body);
    if (response.status != expected) throw_unexpected(response, method_name(method) + " " + std::string{target});
    return response.json();
}

void api_client::stream(std::string_view target, const std::function<void(std::string_view)>& sink) const
{
    auto response = run_blocking(
        stream_body(server_, timeouts_, make_request(server_, token_, http::verb::get, target, nullptr), &sink,
                    tls_context_));
    throw_if_refused(response, has_token());
    if (!response.success()) throw_unexpected(response, "GET " + std::string{target});
}

}  // namespace raydeploy::cli
