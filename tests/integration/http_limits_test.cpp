// Suite http_limits: oversized, malformed and stalled requests are refused and the service keeps serving.
#include "support/test_support.hpp"

#include <boost/test/unit_test.hpp>

#include <thread>

using namespace raydeploy::test;

namespace {

using steady = std::chrono::steady_clock;

constexpr std::size_t mebibyte = 1024 * 1024;

// The service is still healthy: a new connection gets an answer to GET /health.
void require_still_serving(const service_process& service)
{
    const auto res = http_get(service.port(), "/health");
    BOOST_TEST(res.result_int() == 200, "GET /health after the abuse answered " << res.result_int());
}

std::string request_head(std::string_view method, std::string_view target, std::string_view extra_headers = {})
{
    return std::string{method} + " " + std::string{target} + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
           std::string{extra_headers} + "\r\n";
}

// A service whose idle and read timeouts are one second, set through a config file.
service_options short_timeouts(const temp_dir& dir)
{
    service_options options;
    const fs::path config = dir.write_file("raydeploy.yaml", "http: {idle_timeout: 1s, read_timeout: 1s}\n");
    options.args = {"--config", config.string()};
    return options;
}

double seconds_since(steady::time_point start)
{
    return std::chrono::duration<double>(steady::now() - start).count();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(http_limits)

BOOST_AUTO_TEST_CASE(announced_body_over_one_mebibyte_is_413)
{
    service_process service;
    // Only the headers: the server must refuse on the announced length, without waiting for a body.
    const std::string raw = raw_exchange(
        service.port(), request_head("POST", "/api/v1/checkpoints", "Content-Length: 2097152\r\n"));
    const auto res = parse_response(raw);
    BOOST_TEST(res.result_int() == 413);
    BOOST_TEST(res[http::field::content_type] == "application/json");
    BOOST_TEST(error_code_of(res) == "PAYLOAD_TOO_LARGE");
    BOOST_TEST(!res.keep_alive());
    require_still_serving(service);
}

BOOST_AUTO_TEST_CASE(sent_body_over_one_mebibyte_is_413)
{
    service_process service;
    const std::string body(2 * mebibyte, 'x');
    struct case_t {
        std::string name;
        std::string bytes;
    };
    // Chunked: no length up front, so the server has to count what actually arrives.
    std::string chunked = request_head("POST", "/health", "Transfer-Encoding: chunked\r\n");
    for (std::size_t sent = 0; sent < body.size(); sent += 64 * 1024)
        chunked += "10000\r\n" + body.substr(sent, 64 * 1024) + "\r\n";  // 0x10000 bytes per chunk
    chunked += "0\r\n\r\n";
    const case_t cases[] = {
        {"Content-Length and the whole body",
         request_head("POST", "/health", "Content-Length: " + std::to_string(body.size()) + "\r\n") + body},
        {"chunked body", chunked},
    };
    for (const auto& tc : cases) {
        BOOST_TEST_CONTEXT(tc.name)
        {
            const auto res = parse_response(raw_exchange(service.port(), tc.bytes, 10s));
            BOOST_TEST(res.result_int() == 413);
            BOOST_TEST(error_code_of(res) == "PAYLOAD_TOO_LARGE");
        }
    }
    require_still_serving(service);
}

BOOST_AUTO_TEST_CASE(an_endless_chunk_size_line_is_400_not_kept_in_memory)
{
    service_process service;
    // A chunk extension that never ends: the parser cannot take any of it until its line ends, so
    // the server must stop reading once its buffer is full instead of keeping all of it.
    const std::string endless = request_head("POST", "/health", "Transfer-Encoding: chunked\r\n") + "5;ext=" +
                                std::string(2 * mebibyte, 'a');
    const auto res = parse_response(raw_exchange(service.port(), endless, 10s));
    BOOST_TEST(res.result_int() == 400);
    BOOST_TEST(error_code_of(res) == "BAD_REQUEST");
    BOOST_TEST(res.body().find("chunk's size line") != std::string::npos, res.body());
    BOOST_TEST(!res.keep_alive());
    // A chunked body of short lines, longer than the buffer, is read as before.
    std::string chunked = request_head("POST", "/health", "Transfer-Encoding: chunked\r\n");
    for (int i = 0; i < 64; ++i) chunked += "1000;n=" + std::to_string(i) + "\r\n" + std::string(4096, 'x') + "\r\n";
    chunked += "0\r\n\r\n";
    BOOST_TEST(parse_response(raw_exchange(service.port(), chunked, 10s)).result_int() == 405);  // read, then routed
    require_still_serving(service);
}

BOOST_AUTO_TEST_CASE(body_of_exactly_one_mebibyte_is_accepted)
{
    service_process service;
    // The limit is 1 MiB inclusive: the body is read and the request routed (POST /health is 405).
    const auto at_limit = http_request(service.port(), http::verb::post, "/health", std::string(mebibyte, 'x'));
    BOOST_TEST(at_limit.result_int() == 405);
    const auto over = http_request(service.port(), http::verb::post, "/health", std::string(mebibyte + 1, 'x'));
    BOOST_TEST(over.result_int() == 413);
}

BOOST_AUTO_TEST_CASE(configured_limits_replace_the_defaults)
{
    // Through the environment this time; the config file path is covered by the timeout tests.
    service_options options;
    options.env = {{"RAYDEPLOY_HTTP_BODY_LIMIT", "2048"}, {"RAYDEPLOY_HTTP_HEADER_LIMIT", "2048"}};
    service_process service{options};
    const auto body = http_request(service.port(), http::verb::post, "/health", std::string(4096, 'x'));
    BOOST_TEST(body.result_int() == 413);
    BOOST_TEST(body.body().find("2048") != std::string::npos, body.body());  // the message states the limit
    const auto headers = http_request(service.port(), http::verb::get, "/health", {},
                                      {{"X-Padding", std::string(3 * 1024, 'a')}});
    BOOST_TEST(headers.result_int() == 431);
    require_still_serving(service);
}

BOOST_AUTO_TEST_CASE(headers_over_eight_kibibytes_are_431)
{
    service_process service;
    // Just under the limit is fine...
    const auto small = http_request(service.port(), http::verb::get, "/health", {},
                                    {{"X-Padding", std::string(7 * 1024, 'a')}});
    BOOST_TEST(small.result_int() == 200);

    // ...one large header over it is not, and neither are many small ones.
    std::string many;
    for (int i = 0; i < 200; ++i) many += "X-Padding-" + std::to_string(i) + ": " + std::string(50, 'b') + "\r\n";
    for (const std::string& headers : {"X-Padding: " + std::string(9 * 1024, 'a') + "\r\n", many}) {
        BOOST_TEST_CONTEXT(headers.size() << " bytes of headers")
        {
            const auto res = parse_response(raw_exchange(service.port(), request_head("GET", "/health", headers)));
            BOOST_TEST(res.result_int() == 431);
            BOOST_TEST(res[http::field::content_type] == "application/json");
            BOOST_TEST(error_code_of(res) == "HEADERS_TOO_LARGE");
        }
    }
    require_still_serving(service);
}

BOOST_AUTO_TEST_CASE(the_header_limit_counts_the_whole_block_however_it_arrives)
{
    service_process service;
    // About 12 KiB of small fields, sent 1 KiB at a time: each piece alone is far under the 8 KiB
    // limit, and the server parses whole fields as they come, so only a count over the block sees it.
    std::vector<std::string> pieces;
    for (int piece = 0; piece < 12; ++piece) {
        std::string fields;
        for (int i = 0; i < 16; ++i)
            fields += "X-Padding-" + std::to_string(piece * 16 + i) + ": " + std::string(48, 'b') + "\r\n";
        pieces.push_back(std::move(fields));
    }
    http_connection slow{service.port(), 10s};
    slow.send_raw("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for (const auto& piece : pieces) {
        std::this_thread::sleep_for(20ms);
        try {
            slow.send_raw(piece);
        } catch (const std::exception&) {
            break;  // the server answered and closed before the rest arrived
        }
    }
    try {
        slow.send_raw("\r\n");
    } catch (const std::exception&) {
    }
    const auto res = slow.receive();
    BOOST_TEST(res.result_int() == 431, res.body());
    BOOST_TEST(error_code_of(res) == "HEADERS_TOO_LARGE");

    // The same fields under the limit in all (about 6 KiB), sent the same way, are served.
    http_connection fine{service.port(), 10s};
    fine.send_raw("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for (std::size_t i = 0; i < 6; ++i) {
        std::this_thread::sleep_for(20ms);
        fine.send_raw(pieces[i]);
    }
    fine.send_raw("\r\n");
    BOOST_TEST(fine.receive().result_int() == 200);
    require_still_serving(service);
}

BOOST_AUTO_TEST_CASE(malformed_requests_are_400_and_the_service_keeps_serving)
{
    service_process service;
    struct case_t {
        std::string name;
        std::string bytes;
    };
    const case_t cases[] = {
        {"garbage request line", "GARBAGE\r\n\r\n"},
        {"non-numeric Content-Length", request_head("POST", "/health", "Content-Length: abc\r\n") + "abc"},
        {"two different Content-Lengths",
         request_head("POST", "/health", "Content-Length: 3\r\nContent-Length: 4\r\n")},
        {"unknown HTTP version", "GET /health HTTP/9.9\r\nHost: x\r\n\r\n"},
        {"header without a colon", request_head("GET", "/health", "this is not a header\r\n")},
        {"TLS handshake on the plain port", std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11) +
                                                std::string(64, '\x00') + "\r\n\r\n"},
        {"target that is not a path", "GET health HTTP/1.1\r\nHost: x\r\n\r\n"},
    };
    for (const auto& tc : cases) {
        BOOST_TEST_CONTEXT(tc.name)
        {
            const auto res = parse_response(raw_exchange(service.port(), tc.bytes));
            BOOST_TEST(res.result_int() == 400);
            BOOST_TEST(res[http::field::content_type] == "application/json");
            BOOST_TEST(error_code_of(res) == "BAD_REQUEST");
            require_still_serving(service);
        }
    }
}

BOOST_AUTO_TEST_CASE(silent_client_is_disconnected_after_idle_timeout)
{
    temp_dir dir;
    service_process service{short_timeouts(dir)};

    // Connected, never sends a byte.
    http_connection silent{service.port()};
    const auto start = steady::now();
    const auto received = silent.wait_closed(5s);
    BOOST_TEST_REQUIRE(received.has_value(), "the connection was still open after 5 s (idle_timeout is 1 s)");
    BOOST_TEST(received->empty());
    BOOST_TEST(seconds_since(start) > 0.5);  // it was the timeout, not an immediate refusal

    // The same applies between requests on a keep-alive connection.
    http_connection idle{service.port()};
    BOOST_TEST(idle.exchange(make_request(http::verb::get, "/health")).result_int() == 200);
    BOOST_TEST(idle.wait_closed(5s).has_value(), "the keep-alive connection was still open after 5 s");

    require_still_serving(service);
}

BOOST_AUTO_TEST_CASE(stalled_request_is_disconnected_after_read_timeout)
{
    temp_dir dir;
    service_process service{short_timeouts(dir)};

    // Half a request, then nothing.
    http_connection stalled{service.port()};
    stalled.send_raw("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    const auto start = steady::now();
    BOOST_TEST(stalled.wait_closed(5s).has_value(), "the connection was still open after 5 s (read_timeout is 1 s)");
    BOOST_TEST(seconds_since(start) > 0.5);

    // A client trickling a header line every 200 ms never completes its request: read_timeout
    // bounds the whole request, not the gap between two bytes.
    http_connection trickle{service.port()};
    trickle.send_raw("GET /health HTTP/1.1\r\n");
    const auto trickle_start = steady::now();
    bool closed = false;
    for (int i = 0; i < 25 && !closed; ++i) {  // at most 25 x 200 ms = 5 s
        try {
            trickle.send_raw("X-Slow-" + std::to_string(i) + ": a\r\n");
        } catch (const std::runtime_error&) {
            closed = true;  // the server closed while we were writing
            break;
        }
        closed = trickle.wait_closed(200ms).has_value();
    }
    BOOST_TEST(closed, "a client trickling headers kept its connection for 5 s");
    BOOST_TEST(seconds_since(trickle_start) < 4.0);

    require_still_serving(service);
}

BOOST_AUTO_TEST_CASE(connections_past_max_connections_get_503_while_health_and_held_ones_answer)
{
    temp_dir dir;
    service_options options;
    options.args = {"--config", dir.write_file("raydeploy.yaml", "http: {max_connections: 3}\n").string()};
    service_process service{options};
    const auto list = make_request(http::verb::get, "/api/v1/executions");

    std::vector<std::unique_ptr<http_connection>> held;
    for (int i = 0; i < 3; ++i) {
        held.push_back(std::make_unique<http_connection>(service.port()));
        // An answer proves the server accepted the connection and counts it.
        BOOST_TEST_REQUIRE(held.back()->exchange(list).result_int() == 200);
    }

    http_connection extra{service.port()};
    const auto refused = extra.exchange(list);
    BOOST_TEST(refused.result_int() == 503);
    BOOST_TEST(error_code_of(refused) == "TOO_MANY_CONNECTIONS");
    BOOST_TEST(std::string{refused[http::field::retry_after]} == "5");
    BOOST_TEST(!refused.keep_alive());
    BOOST_TEST(extra.wait_closed(2s).has_value(), "the over-cap connection stayed open");

    // Monitoring still sees a live service, and the held connections keep working.
    require_still_serving(service);
    for (auto& connection : held) BOOST_TEST(connection->exchange(list).result_int() == 200);

    // A place frees when a held connection closes (the server notices at its next read).
    held.pop_back();
    unsigned status = 0;
    for (const auto deadline = steady::now() + 5s; steady::now() < deadline && status != 200;) {
        status = http_get(service.port(), "/api/v1/executions").result_int();
        if (status != 200) std::this_thread::sleep_for(50ms);
    }
    BOOST_TEST(status == 200u);
}

BOOST_AUTO_TEST_SUITE_END()
