// Batched, durable-before-published event storage.
#include "raydeploy/events/event_log.hpp"
#include "raydeploy/events/stored_events.hpp"

#include "raydeploy/metrics/service_metrics.hpp"

#include "raydeploy/util/log.hpp"
#include "raydeploy/util/time.hpp"

#include <boost/json/serialize.hpp>

#include <iterator>
#include <stdexcept>

namespace raydeploy {

event_log::event_log(net::any_io_executor executor, sqlite::database& db, event_bus& bus, event_log_options options)
    : executor_{executor}, db_{db}, bus_{bus}, options_{options}, flush_timer_{executor}
{
    auto newest = db_.prepare("SELECT coalesce(max(seq), 0) FROM events");
    newest.step();
    bus_.start_after(newest.column_int(0));
}

void event_log::append(event item)
{
    if (item.created.empty()) item.created = now_timestamp();
    pending_.push_back(std::move(item));
    // While the disk refuses batches, the retry timer alone tries again: a try per event would
    // rewrite the whole growing backlog each time.
    if (pending_.size() >= options_.batch_size && failed_attempts_ == 0) flush();
    else schedule_flush();
}

void event_log::schedule_flush()
{
    if (!flush_scheduled_) arm_flush_timer(options_.batch_delay);
}

void event_log::arm_flush_timer(std::chrono::milliseconds delay)
{
    flush_scheduled_ = true;
    flush_timer_.expires_after(delay);
    flush_timer_.async_wait([this](boost::system::error_code ec) {
        // Aborted: re-armed (the wait now pending owns the flag) or the log is going away.
        if (ec == net::error::operation_aborted) return;
        flush_scheduled_ = false;
        flush();
    });
}

void event_log::commit_soon()
{
    commit_wanted_ = true;
    schedule_flush();
}

void event_log::commit_now()
{
    commit_wanted_ = true;
    flush();
}

void event_log::add_commit_hooks(const void* owner, commit_hooks hooks)
{
    for (const auto& [added, unused] : hooks_)
        if (added == owner) throw std::logic_error{"event_log::add_commit_hooks: this owner already added its hooks"};
    hooks_.emplace_back(owner, std::move(hooks));
}

void event_log::remove_commit_hooks(const void* owner)
{
    std::erase_if(hooks_, [owner](const auto& entry) { return entry.first == owner; });
}

void event_log::flush()
{
    if (pending_.empty() && !commit_wanted_) return;
    commit_wanted_ = false;
    std::vector<event> batch;
    batch.swap(pending_);
    published_block published;
    try {
        sqlite::transaction tx{db_};
        auto insert = db_.prepare("INSERT INTO events (type, created, execution_id, counter, payload) VALUES (?, ?, ?, ?, ?)");
        for (auto& item : batch) {
            std::string payload = to_stored_text(item);
            insert.reset();
            insert.bind(1, item.type).bind(2, item.created);
            if (item.execution_id) insert.bind(3, *item.execution_id);
            else insert.bind_null(3);
            if (item.counter) insert.bind(4, *item.counter);
            else insert.bind_null(4);
            insert.bind(5, payload);
            insert.step();
            published.add(db_.last_insert_rowid(), item.type, item.execution_id, payload);
        }
        for (const auto& [owner, hooks] : hooks_)
            if (hooks.write) hooks.write();
        tx.commit();
        metrics::service_metrics::instance().events_stored.Increment(static_cast<double>(batch.size()));
    } catch (const std::exception& e) {
        // Keep the events and try again shortly: losing them would leave a gap in the counters.
        // Logged when the failures start and once a minute while they last, not every second.
        if (failed_attempts_++ % 60 == 0)
            log::error("storing events failed; they wait in memory and are retried every second: check the free "
                       "space and the permissions under the state directory",
                       {{"events_waiting", batch.size()},
                        {"failed_attempts", failed_attempts_},
                        {"error", e.what()}});
        batch.insert(batch.end(), std::make_move_iterator(pending_.begin()), std::make_move_iterator(pending_.end()));
        pending_ = std::move(batch);
        commit_wanted_ = true;
        arm_flush_timer(retry_delay);
        return;
    }
    for (const auto& [owner, hooks] : hooks_)
        if (hooks.committed) hooks.committed();
    if (failed_attempts_ > 0) {
        log::warn("storing events works again", {{"failed_attempts", failed_attempts_}, {"events", batch.size()}});
        failed_attempts_ = 0;
    }
    bus_.publish(published.take());
}

}  // namespace raydeploy
