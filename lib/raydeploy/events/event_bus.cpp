// Event fan-out with bounded per-subscriber queues.
#include "raydeploy/events/event_bus.hpp"

#include "raydeploy/metrics/service_metrics.hpp"

#include "raydeploy/util/log.hpp"

#include <algorithm>

namespace raydeploy {

event_subscription::event_subscription(net::any_io_executor executor, event_filter filter, std::size_t capacity)
    : filter_{std::move(filter)}, channel_{std::move(executor), capacity}
{
}

std::shared_ptr<event_subscription> event_bus::subscribe(event_filter filter, std::size_t capacity)
{
    auto subscription = std::make_shared<event_subscription>(executor_, std::move(filter), capacity);
    subscribers_.push_back(subscription);
    return subscription;
}

net::awaitable<std::tuple<boost::system::error_code, published_event_ptr>> event_subscription::receive()
{
    auto [ec, item] = co_await channel_.async_receive(nothrow_awaitable);
    if (!ec) --depth_;
    co_return std::tuple{ec, std::move(item)};
}

published_event_ptr event_subscription::try_receive()
{
    published_event_ptr taken;
    channel_.try_receive([&taken](boost::system::error_code ec, published_event_ptr item) {
        if (!ec) taken = std::move(item);
    });
    if (taken) --depth_;
    return taken;
}

void event_bus::publish(const published_event_ptr& item)
{
    auto& metrics = metrics::service_metrics::instance();
    for (auto it = subscribers_.begin(); it != subscribers_.end();) {
        auto subscription = it->lock();
        if (!subscription) {
            it = subscribers_.erase(it);
            continue;
        }
        ++it;
        if (!subscription->filter_.matches(item->type, item->execution_id)) continue;
        if (subscription->overflowed_) {
            metrics.events_dropped.Increment();
            continue;
        }
        if (subscription->channel_.try_send(boost::system::error_code{}, item)) {
            ++subscription->depth_;
        } else {
            // Full (or already closed): this subscriber cannot keep up. Never wait for it.
            subscription->overflowed_ = true;
            subscription->channel_.close();
            metrics.events_dropped.Increment();
            metrics.slow_subscriber_closes.Increment();
            log::info("event subscriber too slow; closing it", {{"seq", item->seq}});
            if (subscription->on_overflow) subscription->on_overflow();
        }
    }
}

void event_bus::close_all()
{
    for (auto& weak : subscribers_)
        if (auto subscription = weak.lock()) subscription->close();
    subscribers_.clear();
}

std::size_t event_bus::max_depth()
{
    std::size_t deepest = 0;
    for (const auto& weak : subscribers_)
        if (const auto subscription = weak.lock()) deepest = std::max(deepest, subscription->depth());
    return deepest;
}

std::size_t event_bus::subscriber_count()
{
    subscribers_.remove_if([](const auto& weak) { return weak.expired(); });
    return subscribers_.size();
}

}  // namespace raydeploy
