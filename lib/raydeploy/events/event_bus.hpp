// Fan-out of stored events to live subscribers through one shared window of the newest events,
// bounded in bytes. A subscriber is a position in that window and a waker: publishing costs the
// same whatever the subscribers do, memory is bounded once for all of them, and a subscriber that
// falls out of the window (it was slow, or it asked for older events) reads from the store,
// which holds every published event, until it is back in the window. Nobody is closed for being
// a turn late, and nothing is lost or sent twice.
//
// @par Thread safety
// Single-threaded: call everything from the io_context's thread.
#pragma once

#include "raydeploy/events/event.hpp"
#include "raydeploy/util/net.hpp"

#include <boost/asio/experimental/channel.hpp>

#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <span>

namespace raydeploy {

class event_bus;

class event_subscription {
public:
    // What take() found.
    struct taken {
        // The next matching event, or null. It points into the window, which may drop the event at
        // the next publish: use it before anything can suspend, or copy the pointer it points to.
        // (Copying a shared_ptr for every event and subscriber cost the feed 5% of its time.)
        const published_event_ptr* item = nullptr;
        // The events after position() have left the window: read them from the store, up to
        // window_start() inclusive, then call caught_up().
        bool behind = false;
    };

    event_subscription(event_bus& bus, net::any_io_executor executor, event_filter filter, std::int64_t after);

    const event_filter& filter() const { return filter_; }
    // The seq of the newest event this subscriber has taken or passed over (the filter's misses).
    std::int64_t position() const { return position_; }

    // The next matching event in the window after position(), and moves past it.
    taken take();
    // The store was read up to seq `through`: carry on from there.
    void caught_up(std::int64_t through);
    // Waits until take() may have something new (true), or the subscription closed (false).
    // Returns at once when events were published since take() last came back empty-handed.
    net::awaitable<bool> wait();
    // Ends delivery (service shutdown): a waiting wait() returns false.
    void close();
    bool is_open() const { return open_; }
    // Events published after position().
    std::int64_t lag() const;

    // Called whenever the window drops events this subscriber has not taken yet (its owner arms a
    // deadline for a subscriber that stopped reading).
    std::function<void()> on_fell_behind;

private:
    friend class event_bus;
    event_bus& bus_;
    event_filter filter_;
    std::int64_t position_;
    // The absolute index in the window of the next event to look at; meaningful while the
    // subscriber is inside the window (position_ >= the bus's evicted_through_).
    std::uint64_t next_index_ = 0;
    bool open_ = true;
    bool waiting_ = false;
    // Holds one "look again" signal; a second one while it is pending is the same news.
    net::experimental::channel<void(boost::system::error_code)> wakeups_;
};

class event_bus {
public:
    // `window_bytes`: how much of the newest events' text (plus a little per event) stays in memory.
    event_bus(net::any_io_executor executor, std::size_t window_bytes);

    // The window begins after this seq: everything up to it is in the store only. Called once
    // with the newest stored seq before anything is published.
    void start_after(std::int64_t seq);

    // The subscription takes every event with seq > `after` that matches `filter`, from the
    // window or, for older ones, through the store. The bus holds it weakly: dropping the last
    // shared_ptr unsubscribes.
    std::shared_ptr<event_subscription> subscribe(event_filter filter, std::int64_t after);
    // Events just committed, in seq order.
    void publish(std::span<const published_event_ptr> items);
    // Closes every subscription (shutdown).
    void close_all();
    std::size_t subscriber_count();
    // How many events the furthest-behind subscriber has yet to take.
    std::int64_t max_lag();

    // The newest published seq, and the newest one no longer in the window.
    std::int64_t last_seq() const { return last_seq_; }
    std::int64_t evicted_through() const { return evicted_through_; }
    std::size_t window_events() const { return window_.size(); }
    std::size_t window_bytes() const { return window_bytes_used_; }

private:
    friend class event_subscription;
    std::uint64_t end_index() const { return first_index_ + window_.size(); }
    const published_event_ptr& at(std::uint64_t index) const { return window_[index - first_index_]; }
    // The absolute index of the first event in the window with seq > `seq`.
    std::uint64_t index_after(std::int64_t seq) const;
    void evict();

    net::any_io_executor executor_;
    std::size_t window_limit_;
    std::deque<published_event_ptr> window_;
    std::uint64_t first_index_ = 0;  // absolute index of window_.front()
    std::size_t window_bytes_used_ = 0;
    std::int64_t evicted_through_ = 0;
    std::int64_t last_seq_ = 0;
    std::list<std::weak_ptr<event_subscription>> subscribers_;
};

}  // namespace raydeploy
