// The deadline of a session's current step (waiting for a request, reading it, writing the
// answer), one per connection. Beast's stream keeps a deadline per operation: every read and
// write armed a timer wait and cancelled it, and the cancelled wait was one more completion
// through the scheduler's queue (docs/benchmarks.md). Here moving the deadline is an assignment;
// the timer wakes at most once per `granularity` (the session's shortest timeout) while a
// deadline is set, and once the deadline has passed closes the socket, which ends the operation
// waiting on it with an error. Connection handlers that take a connection over use the stream's
// own deadlines instead.
//
// @par Thread safety
// Single-threaded: use from the socket's executor, the io_context's one thread.
#pragma once

#include "raydeploy/util/net.hpp"

#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <memory>

namespace raydeploy::web {

class session_deadline : public std::enable_shared_from_this<session_deadline> {
public:
    using clock = std::chrono::steady_clock;

    // `socket` must outlive the deadline or its release(), whichever comes first.
    session_deadline(tcp::socket& socket, clock::duration granularity);

    // From now on, the socket is closed once `timeout` has passed.
    void expires_after(clock::duration timeout);
    // No deadline until the next expires_after: a handler at work, or a connection handed over.
    void expires_never() { deadline_ = clock::time_point::max(); }
    // The session ends: its socket is not touched again.
    void release();

private:
    void wait_until(clock::time_point wake);
    void on_wake(beast::error_code ec);

    tcp::socket* socket_;
    net::steady_timer timer_;
    clock::duration granularity_;
    clock::time_point deadline_ = clock::time_point::max();
    bool waiting_ = false;
};

}  // namespace raydeploy::web
