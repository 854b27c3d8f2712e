// Benchmark client for scripts/bench.sh: starts one execution of a checkpoint on a running
// service, follows it over the WebSocket feed (as the WebUI would), and prints the wall time from
// the request to execution.done and the number of events received. Not a test: it asserts nothing.
//
//   bench_client PORT CHECKPOINT
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>

#include <chrono>
#include <iostream>

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace json = boost::json;
using tcp = net::ip::tcp;

int main(int argc, char** argv)
{
    if (argc != 3) {
        std::cerr << "usage: bench_client PORT CHECKPOINT\n";
        return 2;
    }
    const std::string port = argv[1];
    const std::string checkpoint = argv[2];
    net::io_context io;
    tcp::resolver resolver{io};
    const auto endpoints = resolver.resolve("127.0.0.1", port);

    const auto started = std::chrono::steady_clock::now();
    std::string execution_id;
    {
        beast::tcp_stream stream{io};
        stream.connect(endpoints);
        http::request<http::string_body> req{http::verb::post, "/api/v1/checkpoints/" + checkpoint, 11};
        req.set(http::field::host, "127.0.0.1");
        req.set(http::field::content_type, "application/json");
        req.body() = "{}";
        req.prepare_payload();
        http::write(stream, req);
        beast::flat_buffer buffer;
        http::response<http::string_body> res;
        http::read(stream, buffer, res);
        if (res.result() != http::status::accepted) {
            std::cerr << "starting the run failed: " << res.result_int() << " " << res.body() << "\n";
            return 1;
        }
        execution_id = json::parse(res.body()).at("execution_id").as_string().c_str();
    }

    // since=0 with the execution filter: whatever happened before we connected is replayed.
    websocket::stream<tcp::socket> ws{io};
    net::connect(ws.next_layer(), endpoints);
    ws.handshake("127.0.0.1", "/api/v1/events?since=0&execution_id=" + execution_id);
    std::size_t events = 0;
    std::string status;
    for (beast::flat_buffer buffer;; buffer.clear()) {
        ws.read(buffer);
        ++events;
        const auto message = json::parse(beast::buffers_to_string(buffer.data())).as_object();
        if (message.at("type") == "execution.done") {
            status = message.at("status").as_string().c_str();
            break;
        }
    }
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - started;
    ws.close(websocket::close_code::normal);
    std::cout << "execution " << execution_id << " " << status << ": " << events << " events received in "
              << elapsed.count() << " s\n";
    std::cout << "raydeploy_seconds=" << elapsed.count() << "\n";
    return status == "succeeded" ? 0 : 1;
}
