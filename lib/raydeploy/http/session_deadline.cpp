// One deadline per connection, woken by one timer.
#include "raydeploy/http/session_deadline.hpp"

#include <algorithm>

namespace raydeploy::web {

// At least a millisecond: a zero granularity would wake the timer without end.
session_deadline::session_deadline(tcp::socket& socket, clock::duration granularity)
    : socket_{&socket},
      timer_{socket.get_executor()},
      granularity_{std::max<clock::duration>(granularity, std::chrono::milliseconds{1})}
{
}

void session_deadline::expires_after(clock::duration timeout)
{
    const auto now = clock::now();
    deadline_ = now + timeout;
    // Only a timeout shorter than the granularity can fall before the wake already set.
    if (!waiting_ || deadline_ < timer_.expiry()) wait_until(std::min(deadline_, now + granularity_));
}

void session_deadline::release()
{
    socket_ = nullptr;
    timer_.cancel();
}

void session_deadline::wait_until(clock::time_point wake)
{
    waiting_ = true;
    timer_.expires_at(wake);
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) { self->on_wake(ec); });
}

void session_deadline::on_wake(beast::error_code ec)
{
    if (ec == net::error::operation_aborted) return;  // re-armed, or released
    waiting_ = false;
    if (!socket_ || deadline_ == clock::time_point::max()) return;
    const auto now = clock::now();
    if (now < deadline_) {
        wait_until(std::min(deadline_, now + granularity_));
        return;
    }
    beast::error_code ignored;  // a socket the peer already closed
    socket_->close(ignored);
}

}  // namespace raydeploy::web
