// The outbound client: one coroutine per request that loops over attempts, each attempt on a
// pooled or a fresh connection, every step bounded by the attempt's deadline on the TCP layer.
// Aborting (deadline or cancel()) closes the socket, which is the one thing that stops a pending
// Beast or OpenSSL operation on Boost 1.81 (they ignore per-operation cancellation slots).
#include "raydeploy/http/client.hpp"

#include "raydeploy/http/tls.hpp"

#include "raydeploy/util/duration.hpp"
#include "raydeploy/util/errors.hpp"
#include "raydeploy/util/log.hpp"
#include "raydeploy/util/version.hpp"

#include <boost/url/url.hpp>

#include <openssl/ssl.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <ctime>
#include <list>
#include <map>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <random>
#include <sys/socket.h>
#include <vector>

namespace raydeploy::web {

namespace urls = boost::urls;
using clock_type = std::chrono::steady_clock;

namespace {

struct connection {
    explicit connection(http_stream s) : stream{std::move(s)} {}
    http_stream stream;
    beast::flat_buffer buffer;  // bytes read past the previous answer; none on a reusable connection
    clock_type::time_point idle_since;
};

// Where a request goes, taken apart once.
struct target {
    bool tls = false;
    std::string host;            // for resolving and the certificate check; an IPv6 address without brackets
    std::string port;
    std::string host_header;     // as in the URL: "[::1]:8265", "example.com"
    std::string request_target;  // path and query
    std::string origin;          // scheme://host:port, the pool's key
    std::string shown;           // scheme://host[:port]/path, for messages: the query may carry secrets
};

}  // namespace

namespace detail {

struct operation;

struct client_state {
    net::any_io_executor executor;
    client_options options;
    std::shared_ptr<ssl::context> tls;
    bool cancelled = false;
    std::map<std::string, std::vector<std::unique_ptr<connection>>> idle;
    std::list<operation*> in_flight;
};

// What a request in flight is waiting on, so cancel() can abort it. Lives in the request's frame.
struct operation {
    explicit operation(client_state& s) : owner{s}, position{s.in_flight.insert(s.in_flight.end(), this)} {}
    ~operation() { owner.in_flight.erase(position); }
    operation(const operation&) = delete;
    operation& operator=(const operation&) = delete;

    void abort()
    {
        if (timer) timer->cancel();
        if (conn) conn->stream.tcp().close();
    }

    client_state& owner;
    std::list<operation*>::iterator position;
    connection* conn = nullptr;
    net::steady_timer* timer = nullptr;
};

}  // namespace detail

namespace {

using detail::client_state;
using detail::operation;
using request_type = http::request<http::string_body>;
using sink_type = std::function<void(std::string_view)>;

// An attempt that failed; turned into a client_error with the request's method and URL by the loop.
struct failure {
    failure(client_error_kind k, std::string s, std::string c = {}, std::chrono::milliseconds l = {})
        : kind{k}, step{std::move(s)}, cause{std::move(c)}, limit{l}
    {
    }
    client_error_kind kind;
    std::string step;
    std::string cause;
    std::chrono::milliseconds limit;  // the deadline that passed, for timeouts
    bool replaceable = false;           // a stale pooled connection: try once more on a fresh one
    bool delivered = false;             // the sink received data: the request cannot be repeated
};

bool idempotent(http::verb method)
{
    using enum http::verb;
    return method == get || method == head || method == put || method == delete_ || method == options;
}

bool retryable(unsigned status) { return status == 429 || status == 502 || status == 503 || status == 504; }

bool is_ip_address(const std::string& host)
{
    beast::error_code ec;
    net::ip::make_address(host, ec);
    return !ec;
}

// "; check ray.dashboard_url" after a statement, " check ray.dashboard_url" after a question.
std::string setting_hint(const std::string& setting, std::string_view lead = "; ")
{
    return setting.empty() ? "" : std::string{lead} + "check " + setting;
}

target parse_target(urls::url_view url, const client_options& options)
{
    const std::string where = options.url_setting.empty() ? "URL" : options.url_setting;
    const std::string quoted = "'" + std::string{url.scheme()} + (url.has_scheme() ? "://" : "") +
                               std::string{url.encoded_host_and_port()} + std::string{url.encoded_path()} + "'";
    const auto scheme = url.scheme_id();
    if (scheme != urls::scheme::http && scheme != urls::scheme::https)
        throw config_error{where + " " + quoted + ": expected an http:// or https:// URL, e.g. http://127.0.0.1:8265"};
    if (url.has_userinfo())
        throw config_error{where + " " + quoted + ": credentials do not go in the URL; give a token setting instead"};
    if (url.host_address().empty())
        throw config_error{where + " " + quoted + ": no host; write " + std::string{url.scheme()} + "://HOST:PORT"};
    if (url.has_port() && url.port_number() == 0)
        throw config_error{where + " " + quoted + ": the port must be a number from 1 to 65535"};

    target t;
    t.tls = scheme == urls::scheme::https;
    t.host = url.host_address();
    t.port = url.has_port() ? std::string{url.port()} : (t.tls ? "443" : "80");
    t.host_header = std::string(url.encoded_host_and_port());
    t.request_target = url.encoded_path().empty() ? "/" : std::string{url.encoded_path()};
    if (url.has_query()) t.request_target += "?" + std::string{url.encoded_query()};
    const std::string scheme_text = t.tls ? "https://" : "http://";
    const std::string host_text = url.host_type() == urls::host_type::ipv6 ? "[" + t.host + "]" : t.host;
    t.origin = scheme_text + host_text + ":" + t.port;
    t.shown = scheme_text + t.host_header + std::string{url.encoded_path()};
    return t;
}

std::optional<std::chrono::seconds> parse_retry_after(std::string_view value)
{
    if (value.empty()) return std::nullopt;
    if (value.find_first_not_of("0123456789") == std::string_view::npos) {
        if (value.size() > 9) return std::chrono::seconds{999'999'999};
        return std::chrono::seconds{std::stol(std::string{value})};
    }
    std::tm tm{};
    const std::string text{value};
    if (!strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm)) return std::nullopt;
    const auto delta = timegm(&tm) - std::time(nullptr);
    return std::chrono::seconds{std::max<std::time_t>(delta, 0)};
}

failure fail(const client_state& state, const beast::error_code& ec, std::string step,
             std::chrono::milliseconds limit)
{
    failure f{client_error_kind::unreachable, std::move(step), ec.message(), limit};
    if (state.cancelled)
        f.kind = client_error_kind::cancelled;
    else if (ec == beast::error::timeout)
        f.kind = client_error_kind::timeout;
    else if (ec == http::error::body_limit)
        f.kind = client_error_kind::too_large;
    else if (ec == http::error::end_of_stream || ec == http::error::partial_message || ec == ssl::error::stream_truncated)
        f.kind = client_error_kind::unreachable;  // the connection ended early: another one may do
    else if (ec.category() == http::make_error_code(http::error::end_of_stream).category())
        f.kind = client_error_kind::protocol;
    else if (ec.category() == net::error::get_ssl_category())
        f.kind = client_error_kind::tls;
    return f;
}

failure cancelled_failure() { return failure{client_error_kind::cancelled, "waiting"}; }

client_error to_error(const failure& f, http::verb method, const target& t, const client_options& options)
{
    const std::string& who = options.purpose;
    std::string message = std::string{http::to_string(method)} + " " + t.shown + ": ";
    const std::string detail = f.cause.empty() ? f.step : f.step + ": " + f.cause;
    switch (f.kind) {
    case client_error_kind::unreachable:
        message += "cannot reach " + who + " (" + detail + "); is " + who + " running at " + t.origin + "?" +
                   setting_hint(options.url_setting, " ");
        break;
    case client_error_kind::timeout:
        message += who + " did not answer within " + format_duration(f.limit) + " (" + f.step +
                   "); check that it runs and is not overloaded" + setting_hint(options.url_setting);
        break;
    case client_error_kind::tls:
        message += "TLS handshake with " + who + " failed (" + f.cause + "); if its certificate comes from a private CA, " +
                   (options.ca_setting.empty() ? std::string{"give that CA's certificate as the CA file"}
                                               : "set " + options.ca_setting + " to that CA's certificate") +
                   ", and check that the certificate names " + t.host;
        break;
    case client_error_kind::too_large:
        message += "the answer of " + who + " is larger than " + std::to_string(options.body_limit) +
                   " bytes; the request was abandoned. Is " + t.origin + " really " + who + "?" +
                   setting_hint(options.url_setting, " ");
        break;
    case client_error_kind::protocol:
        message += who + " sent an answer that is not valid HTTP (" + detail + "); is " + t.origin + " really " + who +
                   "?" + setting_hint(options.url_setting, " ");
        break;
    case client_error_kind::cancelled:
        message += "cancelled before the answer arrived (raydeploy is shutting down)";
        break;
    }
    return client_error{f.kind, message, f.step, f.cause};
}

request_type make_request(const client_options& options, http::verb method, const target& t,
                          const std::optional<request_body>& body)
{
    request_type req{method, t.request_target, 11};
    req.set(http::field::host, t.host_header);
    req.set(http::field::user_agent, options.user_agent.empty() ? std::string{product_token()} : options.user_agent);
    if (!options.accept.empty()) req.set(http::field::accept, options.accept);
    if (options.bearer_token) req.set(http::field::authorization, "Bearer " + *options.bearer_token);
    if (body) {
        if (!body->content_type.empty()) req.set(http::field::content_type, body->content_type);
        req.body() = body->data;
    }
    req.keep_alive(true);
    req.prepare_payload();
    return req;
}

// Keep-alive probes after 30 s of silence, every 10 s, 3 tries: a dead peer shows within about a minute.
void enable_keepalive(tcp::socket& socket)
{
    beast::error_code ignored;
    socket.set_option(net::socket_base::keep_alive{true}, ignored);
    socket.set_option(net::detail::socket_option::integer<IPPROTO_TCP, TCP_KEEPIDLE>{30}, ignored);
    socket.set_option(net::detail::socket_option::integer<IPPROTO_TCP, TCP_KEEPINTVL>{10}, ignored);
    socket.set_option(net::detail::socket_option::integer<IPPROTO_TCP, TCP_KEEPCNT>{3}, ignored);
}

// An idle connection is usable when it is young enough and nothing arrived on it: a server that
// closed it has sent FIN (a read would return 0), and any byte would be out of place.
bool usable(connection& c, std::chrono::milliseconds idle_timeout)
{
    if (clock_type::now() - c.idle_since > idle_timeout) return false;
    char byte;
    const auto n = ::recv(c.stream.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

std::unique_ptr<connection> take_idle(client_state& state, const std::string& origin)
{
    const auto found = state.idle.find(origin);
    if (found == state.idle.end()) return nullptr;
    auto& pool = found->second;
    while (!pool.empty()) {
        auto candidate = std::move(pool.back());
        pool.pop_back();
        if (usable(*candidate, state.options.idle_timeout)) return candidate;
    }
    return nullptr;
}

void give_back(client_state& state, const std::string& origin, std::unique_ptr<connection> c)
{
    if (state.cancelled || state.options.max_idle_per_host == 0) return;
    c->stream.expires_never();
    c->idle_since = clock_type::now();
    auto& pool = state.idle[origin];
    if (pool.size() >= state.options.max_idle_per_host) pool.erase(pool.begin());
    pool.push_back(std::move(c));
}

// Clears the operation's view of a connection when the coroutine leaves the scope that owns it.
struct watched_connection {
    watched_connection(operation& op, connection* c) : op_{op} { op_.conn = c; }
    ~watched_connection() { op_.conn = nullptr; }
    watched_connection(const watched_connection&) = delete;
    watched_connection& operator=(const watched_connection&) = delete;
    operation& op_;
};

// Waits on a timer that cancel() can interrupt.
net::awaitable<void> pause(client_state& state, operation& op, std::chrono::milliseconds delay)
{
    net::steady_timer timer{state.executor, delay};
    op.timer = &timer;
    co_await timer.async_wait(nothrow_awaitable);
    op.timer = nullptr;
}

struct pending_resolve {
    explicit pending_resolve(net::any_io_executor executor) : wake{std::move(executor)} {}
    net::steady_timer wake;
    beast::error_code ec;
    tcp::resolver::results_type results;
    bool done = false;
};

// Resolves in a coroutine of its own: getaddrinfo cannot be interrupted, so the deadline and
// cancel() stop waiting for it instead.
net::awaitable<tcp::resolver::results_type> resolve(client_state& state, operation& op, const target& t,
                                                    clock_type::time_point deadline, std::chrono::milliseconds limit)
{
    auto pending = std::make_shared<pending_resolve>(state.executor);
    pending->wake.expires_at(deadline);
    net::co_spawn(
        state.executor,
        [pending, host = t.host, port = t.port]() -> net::awaitable<void> {
            tcp::resolver resolver{co_await net::this_coro::executor};
            auto [ec, results] = co_await resolver.async_resolve(host, port, nothrow_awaitable);
            pending->ec = ec;
            pending->results = std::move(results);
            pending->done = true;
            pending->wake.cancel();
        },
        net::detached);
    op.timer = &pending->wake;
    co_await pending->wake.async_wait(nothrow_awaitable);
    op.timer = nullptr;
    const std::string step = "resolving " + t.host;
    if (state.cancelled) throw cancelled_failure();
    if (!pending->done) throw failure{client_error_kind::timeout, step, "", limit};
    if (pending->ec) throw fail(state, pending->ec, step, limit);
    co_return pending->results;
}

net::awaitable<std::unique_ptr<connection>> open_connection(client_state& state, operation& op, const target& t,
                                                            clock_type::time_point deadline)
{
    const auto& options = state.options;
    const auto connect_deadline = std::min(deadline, clock_type::now() + options.connect_timeout);
    const auto limit = std::min(options.connect_timeout, options.request_timeout);
    const auto endpoints = co_await resolve(state, op, t, connect_deadline, limit);

    auto c = std::make_unique<connection>(t.tls ? http_stream{beast::tcp_stream{state.executor}, *state.tls}
                                                : http_stream{beast::tcp_stream{state.executor}});
    if (auto* tls = c->stream.tls()) {
        if (!options.tls_insecure)
            expect_server_name(c->stream, t.host);
        else if (!is_ip_address(t.host))
            SSL_set_tlsext_host_name(tls->native_handle(), t.host.c_str());
    }
    watched_connection watch{op, c.get()};
    c->stream.tcp().expires_at(connect_deadline);
    auto [connect_ec, endpoint] = co_await c->stream.tcp().async_connect(endpoints, nothrow_awaitable);
    (void)endpoint;
    if (connect_ec) throw fail(state, connect_ec, "connecting", limit);
    if (const auto handshake_ec = co_await c->stream.handshake(ssl::stream_base::client))
        throw fail(state, handshake_ec, "TLS handshake", limit);
    co_return c;
}

// One request and its answer on `c`.
net::awaitable<client_response> exchange(client_state& state, operation& op, const target& t, request_type& req,
                                         const sink_type* sink, std::unique_ptr<connection> c,
                                         clock_type::time_point deadline, bool reused)
{
    const auto& options = state.options;
    watched_connection watch{op, c.get()};
    auto& stream = c->stream;
    stream.tcp().expires_at(deadline);

    auto [write_ec, written] = co_await http::async_write(stream, req, nothrow_awaitable);
    (void)written;
    if (write_ec) {
        auto f = fail(state, write_ec, "sending the request", options.request_timeout);
        // The server closed the idle connection before it could read anything of this request.
        f.replaceable = reused && f.kind == client_error_kind::unreachable;
        throw f;
    }

    http::response_parser<http::buffer_body> parser;
    parser.header_limit(64 * 1024);
    if (sink)
        parser.body_limit(boost::none);  // decided once the status is known
    else
        parser.body_limit(options.body_limit);
    if (req.method() == http::verb::head) parser.skip(true);
    auto [header_ec, header_bytes] = co_await http::async_read_header(stream, c->buffer, parser, nothrow_awaitable);
    (void)header_bytes;
    if (header_ec) {
        auto f = fail(state, header_ec, "reading the answer", options.request_timeout);
        const bool nothing_arrived = !parser.got_some() && c->buffer.size() == 0;
        f.replaceable = reused && nothing_arrived && f.kind == client_error_kind::unreachable && idempotent(req.method());
        throw f;
    }

    const auto& header = parser.get();
    client_response answer{header.result_int(), std::string{header[http::field::content_type]},
                           parse_retry_after(header[http::field::retry_after]), {}};
    const bool to_sink = sink && answer.success();
    if (to_sink) {
        stream.expires_never();
        enable_keepalive(stream.socket());
    } else if (sink) {
        if (const auto length = parser.content_length(); length && *length > options.body_limit)
            throw failure{client_error_kind::too_large, "reading the answer", "", options.request_timeout};
        parser.body_limit(options.body_limit);
    }

    std::array<char, 16 * 1024> chunk;
    bool delivered = false;
    while (!parser.is_done()) {
        parser.get().body().data = chunk.data();
        parser.get().body().size = chunk.size();
        // read_some, not read: a streamed body must reach the sink as it arrives, not when the array is full.
        auto [ec, n] = co_await http::async_read_some(stream, c->buffer, parser, nothrow_awaitable);
        (void)n;
        // need_buffer only says the chunk array is full: hand it over and go on.
        if (ec == http::error::need_buffer) ec = {};
        if (ec) {
            auto f = fail(state, ec, "reading the answer", options.request_timeout);
            f.delivered = delivered;
            throw f;
        }
        const std::string_view data{chunk.data(), chunk.size() - parser.get().body().size};
        if (data.empty()) continue;
        if (to_sink) {
            delivered = true;
            (*sink)(data);
        } else {
            answer.body.append(data);
        }
    }
    if (parser.get().keep_alive() && c->buffer.size() == 0) give_back(state, t.origin, std::move(c));
    co_return answer;
}

// One attempt within one deadline: on an idle connection when there is one, else on a fresh one.
net::awaitable<client_response> attempt(client_state& state, operation& op, const target& t, request_type& req,
                                        const sink_type* sink)
{
    if (state.cancelled) throw cancelled_failure();
    const auto deadline = clock_type::now() + state.options.request_timeout;
    if (auto idle = take_idle(state, t.origin)) {
        try {
            co_return co_await exchange(state, op, t, req, sink, std::move(idle), deadline, true);
        } catch (const failure& f) {
            if (!f.replaceable) throw;
        }
    }
    auto fresh = co_await open_connection(state, op, t, deadline);
    co_return co_await exchange(state, op, t, req, sink, std::move(fresh), deadline, false);
}

net::awaitable<client_response> run(std::shared_ptr<client_state> state, http::verb method, target t,
                                    std::optional<request_body> body, sink_type sink)
{
    operation op{*state};
    const auto& retry = state->options.retry;
    const unsigned attempts = std::max(1U, retry.max_attempts);
    auto req = make_request(state->options, method, t, body);
    const sink_type* sink_ptr = sink ? &sink : nullptr;
    for (unsigned n = 1;; ++n) {
        std::optional<failure> failed;
        client_response answer;
        try {
            answer = co_await attempt(*state, op, t, req, sink_ptr);
        } catch (const failure& f) {
            failed = f;
        }
        const bool may_retry = idempotent(method) && n < attempts && !state->cancelled;
        std::chrono::milliseconds delay{};
        if (failed) {
            const bool transient = failed->kind == client_error_kind::unreachable || failed->kind == client_error_kind::timeout;
            if (!may_retry || !transient || failed->delivered) throw to_error(*failed, method, t, state->options);
            delay = retry_delay(retry, n, draw_jitter(state->options.retry));
        } else {
            if (!may_retry || !retryable(answer.status)) co_return answer;
            if (answer.retry_after)
                delay = std::min<std::chrono::milliseconds>(*answer.retry_after, retry.max_retry_after);
            else
                delay = retry_delay(retry, n, draw_jitter(state->options.retry));
        }
        co_await pause(*state, op, delay);
        if (state->cancelled) throw to_error(cancelled_failure(), method, t, state->options);
    }
}

}  // namespace

std::string_view to_string(client_error_kind kind)
{
    switch (kind) {
    case client_error_kind::unreachable: return "unreachable";
    case client_error_kind::timeout: return "timeout";
    case client_error_kind::tls: return "tls";
    case client_error_kind::too_large: return "too_large";
    case client_error_kind::protocol: return "protocol";
    case client_error_kind::cancelled: return "cancelled";
    }
    return "unknown";
}

client_error::client_error(client_error_kind kind, const std::string& message, std::string step, std::string cause)
    : std::runtime_error{message}, kind_{kind}, step_{std::move(step)}, cause_{std::move(cause)}
{
}

double draw_jitter(const retry_policy& policy)
{
    if (policy.jitter) return std::clamp(policy.jitter(), 0.0, 1.0);
    thread_local std::mt19937_64 generator{std::random_device{}()};
    return std::uniform_real_distribution<double>{0.0, 1.0}(generator);
}

std::chrono::milliseconds retry_delay(const retry_policy& policy, unsigned failed_attempts, double jitter)
{
    // Doubling stops at the cap long before it could overflow.
    auto ceiling = policy.base_delay;
    for (unsigned i = 1; i < failed_attempts && ceiling < policy.max_delay; ++i) ceiling *= 2;
    ceiling = std::min(ceiling, policy.max_delay);
    const double share = std::clamp(jitter, 0.0, 1.0);
    return std::chrono::milliseconds{static_cast<std::chrono::milliseconds::rep>(share * static_cast<double>(ceiling.count()))};
}

http_client::http_client(net::any_io_executor executor, client_options options)
    : state_{std::make_shared<detail::client_state>()}
{
    state_->executor = std::move(executor);
    state_->options = std::move(options);
    const auto& opts = state_->options;
    state_->tls = make_client_tls_context(opts.ca_file, opts.ca_setting.empty() ? "CA file" : opts.ca_setting);
    if (opts.tls_insecure) {
        state_->tls->set_verify_mode(ssl::verify_none);
        log::warn("TLS certificate verification is off for " + opts.purpose +
                      ": any machine on the network path can pose as it and read the token sent to it; give its CA "
                      "certificate as " +
                      (opts.ca_setting.empty() ? std::string{"the CA file"} : opts.ca_setting) + " instead",
                  {{"purpose", opts.purpose}});
    }
}

http_client::~http_client() { cancel(); }

const client_options& http_client::options() const { return state_->options; }

net::awaitable<client_response> http_client::request(http::verb method, urls::url_view url,
                                                     std::optional<request_body> body)
{
    return run(state_, method, parse_target(url, state_->options), std::move(body), {});
}

net::awaitable<client_response> http_client::stream(http::verb method, urls::url_view url,
                                                    std::function<void(std::string_view)> sink,
                                                    std::optional<request_body> body)
{
    return run(state_, method, parse_target(url, state_->options), std::move(body), std::move(sink));
}

void http_client::cancel()
{
    state_->cancelled = true;
    for (auto* op : state_->in_flight) op->abort();
    state_->idle.clear();
}

}  // namespace raydeploy::web
