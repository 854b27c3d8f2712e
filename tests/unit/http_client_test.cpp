// Suite http_client: the outbound client (http/client.hpp) against a small Beast server on
// loopback in this file: keep-alive reuse, deadlines, the body limit, retries and their policy,
// TLS verification, cancel(), the bearer token, URL checks and streamed bodies.
#include "raydeploy/http/client.hpp"

#include "raydeploy/http/tls.hpp"
#include "raydeploy/util/errors.hpp"
#include "support/test_support.hpp"
#include "support/tls_support.hpp"

#include <boost/asio/use_future.hpp>
#include <boost/test/unit_test.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

#include <atomic>
#include <future>
#include <mutex>
#include <thread>

using namespace raydeploy;
using namespace raydeploy::web;
using raydeploy::test::temp_dir;
using raydeploy::test::test_ca;
using namespace std::chrono_literals;
namespace urls = boost::urls;

BOOST_TEST_DONT_PRINT_LOG_VALUE(client_error_kind)

namespace {

using server_request = http::request<http::string_body>;
using server_response = http::response<http::string_body>;
using clock_type = std::chrono::steady_clock;

// What the test server does with one request.
struct reply {
    std::optional<server_response> response;  // nullopt: never answer, keep the connection open
    bool close_after = false;                 // close the connection after answering without saying so
    std::vector<std::string> chunks;          // when set: a chunked body sent piece by piece
};

reply answer(unsigned status, std::string body = "ok", std::map<std::string, std::string> headers = {})
{
    server_response res{static_cast<http::status>(status), 11};
    res.set(http::field::content_type, "text/plain");
    for (const auto& [name, value] : headers) res.set(name, value);
    res.body() = std::move(body);
    res.prepare_payload();
    return reply{std::move(res), false, {}};
}

// An HTTP/1.1 server on its own thread that lets each test decide the answers, and records the
// connections it accepted and the requests it read.
class test_server {
public:
    using handler = std::function<reply(const server_request&, std::size_t index)>;

    explicit test_server(handler h, std::shared_ptr<ssl::context> tls = nullptr, const char* address = "127.0.0.1")
        : acceptor_{io_, tcp::endpoint{net::ip::make_address(address), 0}}, handler_{std::move(h)}, tls_{std::move(tls)}
    {
        net::co_spawn(io_, accept_loop(), net::detached);
        thread_ = std::thread{[this] { io_.run(); }};
    }
    ~test_server()
    {
        io_.stop();
        thread_.join();
    }
    test_server(const test_server&) = delete;
    test_server& operator=(const test_server&) = delete;

    std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
    std::size_t connections() const
    {
        std::lock_guard lock{mutex_};
        return connections_;
    }
    std::vector<server_request> requests() const
    {
        std::lock_guard lock{mutex_};
        return requests_;
    }

private:
    net::awaitable<void> accept_loop()
    {
        for (;;) {
            auto [ec, socket] = co_await acceptor_.async_accept(nothrow_awaitable);
            if (ec) co_return;
            {
                std::lock_guard lock{mutex_};
                ++connections_;
            }
            net::co_spawn(io_, session(std::move(socket)), net::detached);
        }
    }

    net::awaitable<void> session(tcp::socket socket)
    {
        http_stream stream = tls_ ? http_stream{beast::tcp_stream{std::move(socket)}, *tls_}
                                  : http_stream{beast::tcp_stream{std::move(socket)}};
        if (co_await stream.handshake(ssl::stream_base::server)) co_return;  // the client refused the certificate
        beast::flat_buffer buffer;
        for (;;) {
            server_request req;
            auto [read_ec, read] = co_await http::async_read(stream, buffer, req, nothrow_awaitable);
            (void)read;
            if (read_ec) co_return;
            std::size_t index = 0;
            {
                std::lock_guard lock{mutex_};
                index = requests_.size();
                requests_.push_back(req);
            }
            reply r = handler_(req, index);
            if (!r.response) {
                net::steady_timer forever{io_, std::chrono::hours{1}};
                co_await forever.async_wait(nothrow_awaitable);
                co_return;
            }
            if (!r.chunks.empty()) {
                co_await send_chunked(stream, *r.response, r.chunks);
                co_return;
            }
            auto [write_ec, written] = co_await http::async_write(stream, *r.response, nothrow_awaitable);
            (void)written;
            if (write_ec || r.close_after || !r.response->keep_alive()) co_return;
        }
    }

    net::awaitable<void> send_chunked(http_stream& stream, server_response& res, const std::vector<std::string>& chunks)
    {
        http::response<http::empty_body> header{res.result(), 11};
        header.set(http::field::content_type, "text/plain");
        header.chunked(true);
        http::response_serializer<http::empty_body> serializer{header};
        co_await http::async_write_header(stream, serializer, nothrow_awaitable);
        for (const auto& chunk : chunks) {
            net::steady_timer pause{io_, 20ms};
            co_await pause.async_wait(nothrow_awaitable);
            co_await net::async_write(stream, http::make_chunk(net::buffer(chunk)), nothrow_awaitable);
        }
        co_await net::async_write(stream, http::make_chunk_last(), nothrow_awaitable);
    }

    net::io_context io_;
    tcp::acceptor acceptor_;
    handler handler_;
    std::shared_ptr<ssl::context> tls_;
    mutable std::mutex mutex_;
    std::size_t connections_ = 0;
    std::vector<server_request> requests_;
    std::thread thread_;
};

// A port nothing listens on.
std::uint16_t closed_port()
{
    net::io_context io;
    tcp::acceptor acceptor{io, tcp::endpoint{net::ip::make_address("127.0.0.1"), 0}};
    return acceptor.local_endpoint().port();
}

urls::url url_to(std::uint16_t port, std::string_view path = "/", std::string_view scheme = "http",
                 std::string_view host = "127.0.0.1")
{
    return urls::parse_uri(std::string{scheme} + "://" + std::string{host} + ":" + std::to_string(port) +
                           std::string{path})
        .value();
}

// No waits between attempts, so retry tests take no time.
client_options quick_options()
{
    client_options options;
    options.purpose = "the test server";
    options.url_setting = "test.url";
    options.ca_setting = "test.ca_file";
    options.retry.jitter = [] { return 0.0; };
    return options;
}

// Runs the client's coroutine on `io` for at most `timeout`; fails when it has not finished.
template <class T>
T run_for(net::io_context& io, net::awaitable<T> operation, std::chrono::milliseconds timeout = 10s)
{
    io.restart();
    auto result = net::co_spawn(io, std::move(operation), net::use_future);
    io.run_for(timeout);
    if (result.wait_for(0s) != std::future_status::ready)
        throw std::runtime_error{"the client did not finish within " + std::to_string(timeout.count()) + " ms"};
    return result.get();
}

client_error failure_of(net::io_context& io, net::awaitable<client_response> operation,
                        std::chrono::milliseconds timeout = 10s)
{
    try {
        const auto res = run_for(io, std::move(operation), timeout);
        throw std::runtime_error{"expected a client_error, got an answer with status " + std::to_string(res.status)};
    } catch (const client_error& e) {
        return e;
    }
}

bool contains(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }

std::chrono::milliseconds since(clock_type::time_point start)
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - start);
}

// A CA, a server certificate for 127.0.0.1 and localhost, and the CA's PEM.
struct tls_fixture {
    temp_dir dir{"raydeploy-http-client"};
    test_ca ca{"raydeploy test CA"};
    std::filesystem::path ca_file = ca.write_certificate(dir.path() / "ca.pem");
    test_ca::issued issued = ca.issue_server(dir.path(), "server", 7);
    std::shared_ptr<ssl::context> server_context = make_server_tls_context(issued.cert, issued.key);
};

}  // namespace

BOOST_AUTO_TEST_SUITE(http_client)

BOOST_AUTO_TEST_CASE(sequential_requests_reuse_one_kept_alive_connection)
{
    test_server server{[](const server_request& req, std::size_t) { return answer(200, std::string{req.target()}); }};
    net::io_context io;
    web::http_client client{io.get_executor(), quick_options()};
    for (const char* path : {"/a", "/b?x=1", "/c"}) {
        const auto res = run_for(io, client.get(url_to(server.port(), path)));
        BOOST_TEST(res.status == 200U);
        BOOST_TEST(res.body == path);
        BOOST_TEST(res.content_type == "text/plain");
    }
    BOOST_TEST(server.connections() == 1U);
}

BOOST_AUTO_TEST_CASE(an_idle_connection_the_server_closed_is_replaced_by_a_fresh_one)
{
    test_server server{[](const server_request&, std::size_t) {
        auto r = answer(200, "once");
        r.close_after = true;
        return r;
    }};
    net::io_context io;
    web::http_client client{io.get_executor(), quick_options()};
    for (int i = 0; i < 3; ++i) BOOST_TEST(run_for(io, client.get(url_to(server.port()))).body == "once");
    BOOST_TEST(server.connections() == 3U);
    BOOST_TEST(server.requests().size() == 3U);
}

BOOST_AUTO_TEST_CASE(a_server_that_never_answers_times_out_within_the_deadline)
{
    test_server server{[](const server_request&, std::size_t) { return reply{}; }};
    net::io_context io;
    auto options = quick_options();
    options.request_timeout = 300ms;
    options.retry.max_attempts = 1;
    web::http_client client{io.get_executor(), options};
    const auto start = clock_type::now();
    const auto error = failure_of(io, client.get(url_to(server.port(), "/slow")));
    BOOST_TEST(error.kind() == client_error_kind::timeout);
    BOOST_TEST(since(start) >= 250ms);
    BOOST_TEST(since(start) < 3s);
    BOOST_TEST(contains(error.what(), "GET http://127.0.0.1:" + std::to_string(server.port()) + "/slow: the test server "
                                      "did not answer within"),
               error.what());
    BOOST_TEST(contains(error.what(), "check test.url"), error.what());
}

BOOST_AUTO_TEST_CASE(a_body_over_the_limit_fails_as_too_large_and_its_connection_is_dropped)
{
    test_server server{[](const server_request& req, std::size_t) {
        if (req.target() == "/small") return answer(200, "fine");
        auto r = answer(200, std::string(4096, 'x'));
        if (req.target() == "/chunked") r.response->chunked(true);
        return r;
    }};
    net::io_context io;
    auto options = quick_options();
    options.body_limit = 1024;
    web::http_client client{io.get_executor(), options};
    for (const char* path : {"/length", "/chunked"}) {
        BOOST_TEST_CONTEXT(path)
        {
            const auto error = failure_of(io, client.get(url_to(server.port(), path)));
            BOOST_TEST(error.kind() == client_error_kind::too_large);
            BOOST_TEST(contains(error.what(), "larger than 1024 bytes"), error.what());
        }
    }
    BOOST_TEST(server.requests().size() == 2U);  // too large is not retried
    BOOST_TEST(run_for(io, client.get(url_to(server.port(), "/small"))).body == "fine");
    BOOST_TEST(server.connections() == 3U);
}

BOOST_AUTO_TEST_CASE(a_get_answered_503_twice_is_retried_until_it_succeeds)
{
    test_server server{[](const server_request&, std::size_t index) {
        return index < 2 ? answer(503, "busy") : answer(200, "ready");
    }};
    net::io_context io;
    web::http_client client{io.get_executor(), quick_options()};
    const auto res = run_for(io, client.get(url_to(server.port())));
    BOOST_TEST(res.status == 200U);
    BOOST_TEST(res.body == "ready");
    BOOST_TEST(server.requests().size() == 3U);
}

BOOST_AUTO_TEST_CASE(the_last_answer_is_returned_when_every_attempt_is_refused)
{
    test_server server{[](const server_request&, std::size_t) { return answer(502, "bad gateway"); }};
    net::io_context io;
    web::http_client client{io.get_executor(), quick_options()};
    const auto res = run_for(io, client.request(http::verb::delete_, url_to(server.port(), "/x")));
    BOOST_TEST(res.status == 502U);
    BOOST_TEST(res.body == "bad gateway");
    BOOST_TEST(server.requests().size() == 3U);
}

BOOST_AUTO_TEST_CASE(a_post_is_sent_once_whatever_happens)
{
    test_server server{[](const server_request&, std::size_t) { return answer(503, "busy"); }};
    net::io_context io;
    auto options = quick_options();
    int waits = 0;
    options.retry.jitter = [&waits] {
        ++waits;
        return 0.0;
    };
    web::http_client client{io.get_executor(), options};
    const auto res = run_for(io, client.request(http::verb::post, url_to(server.port(), "/jobs"),
                                                request_body{"application/json", R"({"a":1})"}));
    BOOST_TEST(res.status == 503U);
    const auto seen = server.requests();
    BOOST_REQUIRE(seen.size() == 1U);
    BOOST_TEST(seen[0].body() == R"({"a":1})");
    BOOST_TEST(seen[0][http::field::content_type] == "application/json");

    const auto error = failure_of(io, client.request(http::verb::post, url_to(closed_port(), "/jobs")));
    BOOST_TEST(error.kind() == client_error_kind::unreachable);
    BOOST_TEST(waits == 0);
}

BOOST_AUTO_TEST_CASE(a_refused_connection_is_unreachable_after_every_attempt)
{
    net::io_context io;
    auto options = quick_options();
    int waits = 0;
    options.retry.jitter = [&waits] {
        ++waits;
        return 0.0;
    };
    options.bearer_token = "s3cret-token";
    web::http_client client{io.get_executor(), options};
    const auto port = closed_port();
    const auto error = failure_of(io, client.get(url_to(port, "/api/jobs?ticket=hidden-ticket")));
    BOOST_TEST(error.kind() == client_error_kind::unreachable);
    BOOST_TEST(waits == 2);  // three attempts
    const std::string url = "http://127.0.0.1:" + std::to_string(port);
    BOOST_TEST(contains(error.what(), "GET " + url + "/api/jobs: cannot reach the test server (connecting: "), error.what());
    BOOST_TEST(contains(error.what(), "is the test server running at " + url + "? check test.url"), error.what());
    BOOST_TEST(!contains(error.what(), "hidden-ticket"), error.what());
    BOOST_TEST(!contains(error.what(), "s3cret-token"), error.what());
    BOOST_TEST(error.step() == "connecting");
}

BOOST_AUTO_TEST_CASE(retry_after_is_honoured_up_to_its_cap)
{
    test_server server{[](const server_request&, std::size_t index) {
        return index == 0 ? answer(429, "slow down", {{"Retry-After", "30"}}) : answer(200, "ok");
    }};
    net::io_context io;
    auto options = quick_options();
    options.retry.max_retry_after = 300ms;
    web::http_client client{io.get_executor(), options};
    const auto start = clock_type::now();
    const auto res = run_for(io, client.get(url_to(server.port())));
    BOOST_TEST(res.status == 200U);
    // The jitter is 0, so only Retry-After (cut to 300 ms) can explain the wait.
    BOOST_TEST(since(start) >= 250ms);
    BOOST_TEST(since(start) < 5s);
    BOOST_TEST(server.requests().size() == 2U);
}

BOOST_AUTO_TEST_CASE(the_wait_between_attempts_doubles_up_to_the_cap_with_full_jitter)
{
    retry_policy policy;
    policy.base_delay = 200ms;
    policy.max_delay = 5s;
    BOOST_TEST(retry_delay(policy, 1, 1.0).count() == 200);
    BOOST_TEST(retry_delay(policy, 2, 1.0).count() == 400);
    BOOST_TEST(retry_delay(policy, 3, 1.0).count() == 800);
    BOOST_TEST(retry_delay(policy, 10, 1.0).count() == 5000);
    BOOST_TEST(retry_delay(policy, 1000, 1.0).count() == 5000);
    BOOST_TEST(retry_delay(policy, 2, 0.5).count() == 200);
    BOOST_TEST(retry_delay(policy, 3, 0.0).count() == 0);
}

BOOST_AUTO_TEST_CASE(tls_verifies_the_chain_and_the_host_name_unless_told_not_to)
{
    tls_fixture pki;
    const auto hello = [](const server_request&, std::size_t) { return answer(200, "secure"); };
    test_server server{hello, pki.server_context};
    // 127.0.0.2 is loopback too, but the certificate names only 127.0.0.1 and localhost.
    test_server misnamed{hello, pki.server_context, "127.0.0.2"};
    net::io_context io;

    {
        web::http_client system_cas{io.get_executor(), quick_options()};
        const auto error = failure_of(io, system_cas.get(url_to(server.port(), "/", "https")));
        BOOST_TEST(error.kind() == client_error_kind::tls);
        BOOST_TEST(contains(error.what(), "TLS handshake with the test server failed"), error.what());
        BOOST_TEST(contains(error.what(), "set test.ca_file"), error.what());
    }

    auto trusting = quick_options();
    trusting.ca_file = pki.ca_file;
    web::http_client client{io.get_executor(), trusting};
    BOOST_TEST(run_for(io, client.get(url_to(server.port(), "/", "https"))).body == "secure");
    BOOST_TEST(run_for(io, client.get(url_to(server.port(), "/", "https", "localhost"))).body == "secure");

    const auto misnamed_error = failure_of(io, client.get(url_to(misnamed.port(), "/", "https", "127.0.0.2")));
    BOOST_TEST(misnamed_error.kind() == client_error_kind::tls);
    BOOST_TEST(contains(misnamed_error.what(), "check that the certificate names 127.0.0.2"), misnamed_error.what());

    auto insecure = quick_options();
    insecure.tls_insecure = true;
    web::http_client trusting_anything{io.get_executor(), insecure};
    BOOST_TEST(run_for(io, trusting_anything.get(url_to(misnamed.port(), "/", "https", "127.0.0.2"))).body == "secure");
}

BOOST_AUTO_TEST_CASE(cancel_aborts_a_request_in_flight_promptly_and_refuses_later_ones)
{
    test_server server{[](const server_request&, std::size_t) { return reply{}; }};
    net::io_context io;
    auto options = quick_options();
    options.request_timeout = 10s;
    web::http_client client{io.get_executor(), options};
    net::steady_timer shutdown{io, 200ms};
    shutdown.async_wait([&client](beast::error_code) { client.cancel(); });
    const auto start = clock_type::now();
    const auto error = failure_of(io, client.get(url_to(server.port())));
    BOOST_TEST(error.kind() == client_error_kind::cancelled);
    BOOST_TEST(since(start) < 2s);
    BOOST_TEST(server.requests().size() == 1U);  // not retried

    BOOST_TEST(failure_of(io, client.get(url_to(server.port()))).kind() == client_error_kind::cancelled);
    BOOST_TEST(server.requests().size() == 1U);
}

BOOST_AUTO_TEST_CASE(the_bearer_token_is_sent_and_never_shown_in_errors)
{
    test_server server{[](const server_request& req, std::size_t) {
        return req.target().starts_with("/hang") ? reply{} : answer(200, "hi");
    }};
    net::io_context io;
    auto options = quick_options();
    options.bearer_token = "s3cret-token";
    options.request_timeout = 200ms;
    options.retry.max_attempts = 1;
    web::http_client client{io.get_executor(), options};
    BOOST_TEST(run_for(io, client.get(url_to(server.port(), "/hello"))).body == "hi");
    const auto seen = server.requests();
    BOOST_REQUIRE(seen.size() == 1U);
    BOOST_TEST(seen[0][http::field::authorization] == "Bearer s3cret-token");
    BOOST_TEST(contains(seen[0][http::field::user_agent], "raydeploy/"));

    const auto error = failure_of(io, client.get(url_to(server.port(), "/hang?token=s3cret-token")));
    BOOST_TEST(error.kind() == client_error_kind::timeout);
    BOOST_TEST(!contains(error.what(), "s3cret-token"), error.what());
}

BOOST_AUTO_TEST_CASE(urls_other_than_plain_http_and_https_are_refused)
{
    net::io_context io;
    web::http_client client{io.get_executor(), quick_options()};
    const std::vector<std::pair<std::string, std::string>> cases{
        {"ftp://127.0.0.1/x", "expected an http:// or https:// URL"},
        {"http://user:hunter2@127.0.0.1:8265/", "credentials do not go in the URL"},
        {"http:///api/version", "no host"},
    };
    for (const auto& [text, expected] : cases) {
        BOOST_TEST_CONTEXT(text)
        {
            try {
                (void)client.get(urls::parse_uri(text).value());
                BOOST_ERROR("accepted");
            } catch (const config_error& e) {
                BOOST_TEST(contains(e.what(), expected), e.what());
                BOOST_TEST(contains(e.what(), "test.url"), e.what());
                BOOST_TEST(!contains(e.what(), "hunter2"), e.what());
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(a_streamed_body_reaches_the_sink_as_it_arrives_and_an_error_body_is_kept)
{
    test_server server{[](const server_request& req, std::size_t) {
        if (req.target() == "/missing") return answer(404, "no such log");
        auto r = answer(200);
        r.chunks = {"one ", "two ", "three"};
        return r;
    }};
    net::io_context io;
    auto options = quick_options();
    options.body_limit = 4;  // applies to error bodies only, not to the stream
    web::http_client client{io.get_executor(), options};
    std::vector<std::string> pieces;
    const auto res = run_for(io, client.stream(http::verb::get, url_to(server.port(), "/log"),
                                               [&pieces](std::string_view data) { pieces.emplace_back(data); }));
    BOOST_TEST(res.status == 200U);
    BOOST_TEST(res.body.empty());
    std::string joined;
    for (const auto& piece : pieces) joined += piece;
    BOOST_TEST(joined == "one two three");
    BOOST_TEST(pieces.size() >= 2U);  // 20 ms apart: not gathered into one

    options.body_limit = 1024;
    web::http_client roomy{io.get_executor(), options};
    pieces.clear();
    const auto missing = run_for(io, roomy.stream(http::verb::get, url_to(server.port(), "/missing"),
                                                  [&pieces](std::string_view data) { pieces.emplace_back(data); }));
    BOOST_TEST(missing.status == 404U);
    BOOST_TEST(missing.body == "no such log");
    BOOST_TEST(pieces.empty());
}

BOOST_AUTO_TEST_SUITE_END()
