// Fan-out of stored events to live subscribers. Each subscriber has a bounded queue; the bus
// never waits for one. A subscriber whose queue is full is marked overflowed and its queue is
// closed: its reader drains what was queued, then tells its client to resume with since=<seq>.
//
// @par Thread safety
// Single-threaded: call everything from the io_context's thread.
#pragma once

#include "raydeploy/events/event.hpp"
#include "raydeploy/util/net.hpp"

#include <boost/asio/experimental/channel.hpp>

#include <functional>
#include <list>
#include <memory>

namespace raydeploy {

using event_channel = net::experimental::channel<void(boost::system::error_code, published_event_ptr)>;

class event_subscription {
public:
    event_subscription(net::any_io_executor executor, event_filter filter, std::size_t capacity);

    const event_filter& filter() const { return filter_; }
    // The next event, or an error once the queue is closed and drained.
    net::awaitable<std::tuple<boost::system::error_code, published_event_ptr>> receive();
    // The next event if one is queued now, else null (also once the queue is closed and drained).
    // A writer takes what receive() woke it for and then what else is queued, to send it together.
    published_event_ptr try_receive();
    // Events queued and not yet received.
    std::size_t depth() const { return depth_; }
    // True once the queue overflowed; it is closed then.
    bool overflowed() const { return overflowed_; }
    // Ends delivery (service shutdown): receive() fails once what is queued is taken.
    void close() { channel_.close(); }
    bool is_open() const { return channel_.is_open(); }

    // Called once when the subscription overflows (the owner may arm a deadline).
    std::function<void()> on_overflow;

private:
    friend class event_bus;
    event_filter filter_;
    event_channel channel_;
    std::size_t depth_ = 0;
    bool overflowed_ = false;
};

class event_bus {
public:
    explicit event_bus(net::any_io_executor executor) : executor_{std::move(executor)} {}

    // The subscription receives every event published after this call that matches `filter`.
    // The bus holds it weakly: dropping the last shared_ptr unsubscribes.
    std::shared_ptr<event_subscription> subscribe(event_filter filter, std::size_t capacity);
    void publish(const published_event_ptr& item);
    // Closes every subscription (shutdown).
    void close_all();
    std::size_t subscriber_count();
    // The depth of the fullest subscriber's queue.
    std::size_t max_depth();

private:
    net::any_io_executor executor_;
    std::list<std::weak_ptr<event_subscription>> subscribers_;
};

}  // namespace raydeploy
