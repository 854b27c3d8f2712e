// Latency client for scripts/bench.sh ray-status: sends GET PATH back to back on one keep-alive
// connection for SECONDS and prints the request count, p50, p99 and max latency (ms, from writing
// the request to the answer's last byte), how many took over 10 ms, requests/s and the size of the
// last answer. Not a test:
// it asserts nothing. Exits 1 when an answer is not 200 or takes over 10 s, since the figures of a
// run that failed would be the wrong ones.
//
//   bench_latency PORT SECONDS PATH
// Output: one tab-separated line: REQUESTS P50_MS P99_MS MAX_MS OVER_10_MS REQUESTS_PER_S BYTES
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using clock_type = std::chrono::steady_clock;

namespace {

// Each answer must arrive within this; a service that stalls longer is what the benchmark exists
// to show, and it should say so rather than hang.
constexpr auto answer_deadline = std::chrono::seconds{10};

struct timings {
    std::vector<double> milliseconds;
    std::size_t last_answer_bytes = 0;
};

double percentile(const std::vector<double>& sorted, double fraction)
{
    const auto rank = static_cast<std::size_t>(std::ceil(fraction * static_cast<double>(sorted.size())));
    return sorted[std::max<std::size_t>(rank, 1) - 1];
}

net::awaitable<void> measure(const std::string port, const std::string path, std::chrono::seconds duration,
                             timings& result)
{
    auto executor = co_await net::this_coro::executor;
    tcp::resolver resolver{executor};
    const auto endpoints = co_await resolver.async_resolve("127.0.0.1", port, net::use_awaitable);
    beast::tcp_stream stream{executor};
    co_await stream.async_connect(endpoints, net::use_awaitable);
    http::request<http::empty_body> request{http::verb::get, path, 11};
    request.set(http::field::host, "127.0.0.1:" + port);
    request.keep_alive(true);
    beast::flat_buffer buffer;
    const auto stop_at = clock_type::now() + duration;
    while (clock_type::now() < stop_at) {
        // The nodes of a 10,000-node cluster are a few MB: close to Beast's 8 MB default for answers.
        http::response_parser<http::string_body> parser;
        parser.body_limit(256 * 1024 * 1024);

        const auto started = clock_type::now();
        stream.expires_after(answer_deadline);
        co_await http::async_write(stream, request, net::use_awaitable);
        co_await http::async_read(stream, buffer, parser, net::use_awaitable);
        const std::chrono::duration<double, std::milli> elapsed = clock_type::now() - started;

        const auto& answer = parser.get();
        if (answer.result() != http::status::ok)
            throw std::runtime_error("GET " + path + " answered " + std::to_string(answer.result_int()) + ": " +
                                     answer.body().substr(0, 300));
        result.milliseconds.push_back(elapsed.count());
        result.last_answer_bytes = answer.body().size();
        if (!answer.keep_alive()) {
            stream.close();
            co_await stream.async_connect(endpoints, net::use_awaitable);
        }
    }
}

}  // namespace

int main(int argc, char** argv)
{
    if (argc != 4) {
        std::cerr << "usage: bench_latency PORT SECONDS PATH\n";
        return 2;
    }
    const std::string port = argv[1];
    const std::chrono::seconds duration{std::stoi(argv[2])};
    const std::string path = argv[3];

    net::io_context io;
    timings result;
    bool failed = false;
    const auto started = clock_type::now();
    net::co_spawn(io, measure(port, path, duration, result), [&](std::exception_ptr error) {
        if (!error) return;
        failed = true;
        try {
            std::rethrow_exception(error);
        } catch (const std::exception& e) {
            std::cerr << "bench_latency: " << e.what() << "\n";
        }
    });
    io.run();
    const std::chrono::duration<double> elapsed = clock_type::now() - started;
    if (failed || result.milliseconds.empty()) return 1;

    auto& milliseconds = result.milliseconds;
    std::sort(milliseconds.begin(), milliseconds.end());
    // A stall of the service's thread (a poll's parse, a slow query) shows as a few slow answers
    // among fast ones: too few to move p99 of a cheap endpoint, so they are counted.
    const auto over_10_ms = milliseconds.end() - std::upper_bound(milliseconds.begin(), milliseconds.end(), 10.0);
    std::printf("%zu\t%.2f\t%.2f\t%.2f\t%td\t%.0f\t%zu\n", milliseconds.size(), percentile(milliseconds, 0.50),
                percentile(milliseconds, 0.99), milliseconds.back(), over_10_ms,
                static_cast<double>(milliseconds.size()) / elapsed.count(), result.last_answer_bytes);
    return 0;
}
