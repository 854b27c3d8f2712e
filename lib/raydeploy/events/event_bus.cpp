// Event fan-out through one shared window of the newest events.
#include "raydeploy/events/event_bus.hpp"

#include <algorithm>

namespace raydeploy {
namespace {

// What an event costs in the window beyond its text: the published_event and its shared_ptr
// control block, its type and execution id, and the deque's slot.
constexpr std::size_t event_overhead = 160;

std::size_t window_cost(const published_event& item)
{
    return item.text.size() + item.type.size() + event_overhead;
}

}  // namespace

event_subscription::event_subscription(event_bus& bus, net::any_io_executor executor, event_filter filter,
                                       std::int64_t after)
    : bus_{bus}, filter_{std::move(filter)}, position_{after}, wakeups_{std::move(executor), 1}
{
    next_index_ = bus_.index_after(after);
}

event_subscription::taken event_subscription::take()
{
    if (position_ < bus_.evicted_through_) return {nullptr, true};
    while (next_index_ < bus_.end_index()) {
        const published_event_ptr& item = bus_.at(next_index_++);
        // A position past the window's events (a since= ahead of the store) passes over them.
        if (item->seq <= position_) continue;
        position_ = item->seq;
        if (filter_.matches(item->type, item->execution_id)) return {&item, false};
    }
    return {};
}

void event_subscription::caught_up(std::int64_t through)
{
    position_ = std::max(position_, through);
    next_index_ = bus_.index_after(position_);
}

net::awaitable<bool> event_subscription::wait()
{
    if (!open_) co_return false;
    // Events published while this subscriber was busy (writing what it took) woke nobody: it must
    // look at them before sleeping, or the last events of a run would wait for the next publish.
    if (position_ < bus_.evicted_through_ || next_index_ < bus_.end_index()) co_return true;
    waiting_ = true;
    auto [ec] = co_await wakeups_.async_receive(nothrow_awaitable);
    waiting_ = false;
    co_return !ec && open_;
}

void event_subscription::close()
{
    open_ = false;
    wakeups_.close();
}

std::int64_t event_subscription::lag() const
{
    return std::max<std::int64_t>(0, bus_.last_seq_ - position_);
}

event_bus::event_bus(net::any_io_executor executor, std::size_t window_bytes)
    : executor_{std::move(executor)}, window_limit_{window_bytes}
{
}

void event_bus::start_after(std::int64_t seq)
{
    evicted_through_ = std::max(evicted_through_, seq);
    last_seq_ = std::max(last_seq_, seq);
}

std::uint64_t event_bus::index_after(std::int64_t seq) const
{
    const auto it = std::upper_bound(window_.begin(), window_.end(), seq,
                                     [](std::int64_t wanted, const published_event_ptr& item) { return wanted < item->seq; });
    return first_index_ + static_cast<std::uint64_t>(it - window_.begin());
}

std::shared_ptr<event_subscription> event_bus::subscribe(event_filter filter, std::int64_t after)
{
    auto subscription = std::make_shared<event_subscription>(*this, executor_, std::move(filter), after);
    subscribers_.push_back(subscription);
    return subscription;
}

void event_bus::publish(std::span<const published_event_ptr> items)
{
    if (items.empty()) return;
    for (const auto& item : items) {
        window_.push_back(item);
        window_bytes_used_ += window_cost(*item);
    }
    last_seq_ = items.back()->seq;
    for (auto it = subscribers_.begin(); it != subscribers_.end();) {
        auto subscription = it->lock();
        if (!subscription) {
            it = subscribers_.erase(it);
            continue;
        }
        ++it;
        // Only an idle subscriber needs news; a busy one looks at the window when it is done.
        if (!subscription->waiting_) continue;
        const bool wanted = std::any_of(items.begin(), items.end(), [&](const published_event_ptr& item) {
            return subscription->filter_.matches(item->type, item->execution_id);
        });
        if (wanted) {
            subscription->waiting_ = false;
            subscription->wakeups_.try_send(boost::system::error_code{});
        } else if (subscription->position_ >= evicted_through_) {
            // Nothing it wants: it is up to date without looking, so these events can leave the
            // window without sending it to the store.
            subscription->position_ = last_seq_;
            subscription->next_index_ = end_index();
        }
    }
    evict();
}

void event_bus::evict()
{
    if (window_bytes_used_ <= window_limit_) return;
    while (!window_.empty() && window_bytes_used_ > window_limit_) {
        window_bytes_used_ -= window_cost(*window_.front());
        evicted_through_ = window_.front()->seq;
        window_.pop_front();
        ++first_index_;
    }
    for (const auto& weak : subscribers_) {
        const auto subscription = weak.lock();
        if (!subscription || !subscription->open_ || subscription->position_ >= evicted_through_) continue;
        if (subscription->on_fell_behind) subscription->on_fell_behind();
    }
}

void event_bus::close_all()
{
    for (auto& weak : subscribers_)
        if (auto subscription = weak.lock()) subscription->close();
    subscribers_.clear();
}

std::int64_t event_bus::max_lag()
{
    std::int64_t furthest = 0;
    for (const auto& weak : subscribers_)
        if (const auto subscription = weak.lock()) furthest = std::max(furthest, subscription->lag());
    return furthest;
}

std::size_t event_bus::subscriber_count()
{
    subscribers_.remove_if([](const auto& weak) { return weak.expired(); });
    return subscribers_.size();
}

}  // namespace raydeploy
