// One deadline per connection (http/session_deadline.hpp): it closes the socket once passed, and
// only then; moving it, or having none, keeps the connection.
#include "raydeploy/http/session_deadline.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <optional>

using namespace std::chrono_literals;
using raydeploy::web::session_deadline;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using steady = std::chrono::steady_clock;

namespace {

// A connected loopback pair; `server` waits for a byte the client never sends.
struct connection {
    net::io_context io;
    tcp::socket server{io};
    tcp::socket client{io};
    std::shared_ptr<session_deadline> deadline;
    std::optional<boost::system::error_code> read_result;
    steady::time_point read_ended;
    char byte = 0;

    connection()
    {
        tcp::acceptor acceptor{io, {net::ip::make_address("127.0.0.1"), 0}};
        client.connect(acceptor.local_endpoint());
        acceptor.accept(server);
        server.async_read_some(net::buffer(&byte, 1), [this](boost::system::error_code ec, std::size_t) {
            read_result = ec;
            read_ended = steady::now();
        });
    }

    ~connection()
    {
        if (deadline) deadline->release();
    }

    // The server socket's deadline, with `granularity`.
    session_deadline& deadline_of(steady::duration granularity)
    {
        deadline = std::make_shared<session_deadline>(server, granularity);
        return *deadline;
    }

    // Runs the io_context until the read ends, at most 5 s: how long after `since` it ended
    // (with an error: the socket was closed), or nothing if it did not.
    std::optional<double> seconds_until_closed(steady::time_point since)
    {
        const auto give_up = steady::now() + 5s;
        while (!read_result && steady::now() < give_up) io.run_for(10ms);
        if (!read_result) return std::nullopt;
        BOOST_TEST(read_result->failed());
        BOOST_TEST(!server.is_open());
        return std::chrono::duration<double>(read_ended - since).count();
    }
    // Runs the io_context for `span`; true if the read is still waiting then.
    bool still_open_after(steady::duration span)
    {
        io.run_for(span);
        return !read_result;
    }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(session_deadline_suite)

BOOST_AUTO_TEST_CASE(a_passed_deadline_closes_the_socket_and_ends_the_waiting_read)
{
    connection conn;
    // A granularity far above the timeout, and a longer deadline before it (an idle connection
    // that started a request): the shorter deadline is kept all the same.
    session_deadline& deadline = conn.deadline_of(10s);
    deadline.expires_after(30s);
    BOOST_TEST(conn.still_open_after(50ms));
    const auto start = steady::now();
    deadline.expires_after(200ms);
    const auto closed = conn.seconds_until_closed(start);
    BOOST_TEST_REQUIRE(closed.has_value(), "the socket was still open 5 s after a 200 ms deadline");
    BOOST_TEST(*closed >= 0.2);  // a timer never fires early
}

BOOST_AUTO_TEST_CASE(a_deadline_moved_later_keeps_the_connection_until_then)
{
    connection conn;
    session_deadline& deadline = conn.deadline_of(100ms);
    const auto start = steady::now();
    deadline.expires_after(300ms);
    BOOST_TEST(conn.still_open_after(150ms));
    const auto moved = steady::now();
    deadline.expires_after(400ms);  // past the first deadline
    BOOST_TEST(conn.still_open_after(start + 300ms + 150ms - steady::now()), "closed at the deadline it no longer has");
    const auto closed = conn.seconds_until_closed(moved);
    BOOST_TEST_REQUIRE(closed.has_value(), "the socket was still open 5 s after the moved deadline");
    BOOST_TEST(*closed >= 0.4);
}

BOOST_AUTO_TEST_CASE(without_a_deadline_the_connection_stays_until_the_next_one)
{
    connection conn;
    session_deadline& deadline = conn.deadline_of(50ms);
    deadline.expires_after(100ms);
    deadline.expires_never();  // a handler at work: it takes the time it needs
    BOOST_TEST(conn.still_open_after(600ms), "closed while it had no deadline");
    const auto start = steady::now();
    deadline.expires_after(100ms);
    const auto closed = conn.seconds_until_closed(start);
    BOOST_TEST_REQUIRE(closed.has_value(), "the next deadline did not close the socket within 5 s");
    BOOST_TEST(*closed >= 0.1);
}

BOOST_AUTO_TEST_CASE(a_released_deadline_leaves_its_socket_alone)
{
    connection conn;
    session_deadline& deadline = conn.deadline_of(50ms);
    deadline.expires_after(100ms);
    deadline.release();  // the session ended: its socket may be gone
    BOOST_TEST(conn.still_open_after(400ms));
    BOOST_TEST(conn.server.is_open());
}

BOOST_AUTO_TEST_SUITE_END()
