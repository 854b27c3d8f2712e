// The CLI's blocking client: the shared outbound client (http/client.hpp) run on a private
// io_context per call, its failures turned into the typed errors of api_client.hpp.
#include "raydeploy/cli/api_client.hpp"

#include "raydeploy/http/client.hpp"

#include "raydeploy/util/duration.hpp"
#include "raydeploy/util/errors.hpp"
#include "raydeploy/util/net.hpp"
#include "raydeploy/util/version.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

#include <cctype>
#include <future>

namespace raydeploy::cli {

namespace {

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

// The client's failure in the CLI's words: every kind is "unreachable" to a command (exit 5).
[[noreturn]] void throw_unreachable(const server_url& server, const client_timeouts& timeouts,
                                    const web::client_error& error)
{
    const std::string where = "the raydeploy service at " + server.text();
    const std::string& step = error.step();
    if (error.kind() == web::client_error_kind::timeout) {
        const bool connecting = step == "connecting" || step == "TLS handshake" || step.rfind("resolving", 0) == 0;
        throw service_unreachable{where + " did not answer within " +
                                  format_duration(connecting ? timeouts.connect : timeouts.request) + " (" + step +
                                  "); check that it runs and is not overloaded"};
    }
    // The chain or the name did not verify: a setup problem, not an outage.
    if (error.kind() == web::client_error_kind::tls)
        throw service_unreachable{"TLS handshake with " + where + " failed (" + error.cause() +
                                  "); if its certificate comes from a private CA, pass --ca-file FILE (or set "
                                  "RAYDEPLOY_CA_FILE) with that CA's certificate, and check that the certificate "
                                  "names " +
                                  server.host};
    const std::string detail = error.cause().empty() ? step : step + ": " + error.cause();
    throw service_unreachable{"cannot reach " + where + " (" + detail +
                              "); check that it runs ('raydeploy serve') and that --server or RAYDEPLOY_SERVER "
                              "names it"};
}

// SERVER + TARGET ("/api/v1/executions?limit=1") as a URL.
boost::urls::url url_of(const server_url& server, std::string_view target)
{
    const std::string text = server.text();  // parse_uri() returns a view of it
    auto base = boost::urls::parse_uri(text);
    if (!base) throw config_error{"--server " + text + ": not a valid URL (" + base.error().message() + ")"};
    boost::urls::url url = *base;
    const auto query = target.find('?');
    url.set_encoded_path(server.prefix + std::string{target.substr(0, query)});
    if (query != std::string_view::npos) url.set_encoded_query(target.substr(query + 1));
    return url;
}

std::optional<web::request_body> body_of(http::verb method, const json::value* body)
{
    // The service refuses a POST without a JSON Content-Type even when it has no body (a web form
    // could send that one across sites).
    if (!body && method != http::verb::post) return std::nullopt;
    return web::request_body{"application/json", body ? json::serialize(*body) : std::string{}};
}

api_response to_api_response(web::client_response answer)
{
    return api_response{answer.status, std::move(answer.body), std::move(answer.content_type)};
}

// Runs one client coroutine on `io` until it is done; its exceptions come out of get().
template <class T>
T run_blocking(net::io_context& io, net::awaitable<T> operation)
{
    io.restart();
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
    web::client_options options;
    options.purpose = "the raydeploy service";
    options.url_setting = "--server";
    options.ca_setting = tls.ca_source;
    // One deadline covers the whole attempt: connecting, then sending and reading.
    options.connect_timeout = timeouts_.connect;
    options.request_timeout = timeouts_.connect + timeouts_.request;
    // JSON answers are pages; logs, which can be larger, go through stream().
    options.body_limit = std::uint64_t{256} * 1024 * 1024;
    options.bearer_token = token_;
    if (server_.tls) options.ca_file = tls.ca_file;
    options.user_agent = "raydeploy-cli/" + std::string{version()};
    // A command's user sees the failure and decides; a POST must not happen twice anyway.
    options.retry.max_attempts = 1;
    io_ = std::make_unique<net::io_context>(1);
    http_ = std::make_unique<web::http_client>(io_->get_executor(), std::move(options));
}

api_client::~api_client() = default;
api_client::api_client(api_client&&) noexcept = default;
api_client& api_client::operator=(api_client&&) noexcept = default;

api_response api_client::request(http::verb method, std::string_view target, const json::value* body) const
{
    api_response response;
    try {
        response = to_api_response(run_blocking(*io_, http_->request(method, url_of(server_, target), body_of(method, body))));
    } catch (const web::client_error& e) {
        throw_unreachable(server_, timeouts_, e);
    }
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
    api_response response;
    try {
        response = to_api_response(run_blocking(*io_, http_->stream(http::verb::get, url_of(server_, target), sink)));
    } catch (const web::client_error& e) {
        throw_unreachable(server_, timeouts_, e);
    }
    throw_if_refused(response, has_token());
    if (!response.success()) throw_unexpected(response, "GET " + std::string{target});
}

}  // namespace raydeploy::cli
