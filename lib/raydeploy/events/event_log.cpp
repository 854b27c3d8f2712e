// Batched, durable-before-published event storage.
#include "raydeploy/events/event_log.hpp"
#include "raydeploy/events/stored_events.hpp"

#include "raydeploy/metrics/service_metrics.hpp"

#include "raydeploy/util/log.hpp"
#include "raydeploy/util/time.hpp"

#include <boost/asio/post.hpp>

#include <algorithm>
#include <iterator>
#include <stdexcept>
#include <utility>

namespace raydeploy {

event_log::event_log(net::any_io_executor executor, sqlite::database& db, event_bus& bus, event_log_options options,
                     std::function<std::unique_ptr<sqlite::database>()> open_store_connection)
    : executor_{executor},
      db_{db},
      bus_{bus},
      options_{options},
      flush_timer_{executor},
      state_timer_{executor},
      open_store_connection_{std::move(open_store_connection)}
{
    auto newest = db_.prepare("SELECT coalesce(max(seq), 0) FROM events");
    newest.step();
    bus_.start_after(newest.column_int(0));
}

event_log::~event_log()
{
    // The thread stores what it was given; its results find no log to publish them (and are not
    // posted to an io_context that may be going away with it).
    self_.reset();
    store_thread_.reset();
}

void event_log::append(event item)
{
    if (item.created.empty()) item.created = now_timestamp();
    const bool starts_batch = pending_.empty();
    if (starts_batch) batch_started_ = std::chrono::steady_clock::now();
    pending_.push_back(std::move(item));
    // While the disk refuses batches, the retry timer alone tries again: a try per event would
    // rewrite the whole growing backlog each time. Past batch_min every event checks the batch's
    // age, not only the batch_min-th: a busy store thread may have held the batch back.
    if (failed_attempts_ == 0 && (pending_.size() >= options_.batch_size ||
                                  (pending_.size() >= options_.batch_min && batch_is_due()))) {
        store_batch();
        return;
    }
    // A new batch's first wait: the one pending may be for the batch_max_delay of a batch stored since.
    const auto first_due = batch_started_ + options_.batch_delay;
    if (!flush_scheduled_ || (starts_batch && failed_attempts_ == 0 && flush_timer_.expiry() > first_due))
        arm_flush_timer_at(first_due);
}

bool event_log::batch_is_due() const
{
    return pending_.size() >= options_.batch_size || std::chrono::steady_clock::now() >= batch_due();
}

std::chrono::steady_clock::time_point event_log::batch_due() const
{
    return batch_started_ + (pending_.size() >= options_.batch_min
                                 ? options_.batch_delay
                                 : std::max(options_.batch_delay, options_.batch_max_delay));
}

void event_log::store_batch()
{
    // The thread takes full batches, and any batch while it has some (it must store them in turn).
    // A slow stream's batch, not full when its delay ran out, is stored here: the round trip to
    // the thread cost more than its commit (at 10,000 events/s, 20 % more of the service's CPU).
    const bool to_thread = (store_thread_ || open_store_connection_) && failed_attempts_ == 0 && !commit_wanted_ &&
                           (pending_.size() >= options_.batch_size || batches_on_thread_ > 0);
    if (!to_thread) {
        flush();
        return;
    }
    if (!store_thread_ && !start_store_thread()) {
        flush();
        return;
    }
    // One batch stored, one waiting: more would only wait longer. The events gather here
    // meanwhile, and the next result hands them over as one larger batch.
    if (!pending_.empty() && batches_on_thread_ < 2) hand_over();
}

bool event_log::start_store_thread()
{
    try {
        store_thread_ = std::make_unique<event_store_thread>(
            open_store_connection_(), [executor = executor_, self = std::weak_ptr<event_log*>{self_}] {
                if (self.expired()) return;
                net::post(executor, [self] {
                    if (const auto log = self.lock()) (*log)->take_thread_results();
                });
            });
        return true;
    } catch (const std::exception& e) {
        // Not tried again: every batch is stored on the io thread, as it can be.
        open_store_connection_ = nullptr;
        log::warn("the event store thread could not open its connection; events are stored by the service's "
                  "main thread, which is slower under a fast stream: check the state directory's permissions "
                  "and the open-files limit",
                  {{"error", e.what()}});
        return false;
    }
}

void event_log::hand_over()
{
    ++batches_on_thread_;
    if (pending_.size() <= event_store_thread::max_batch) {
        events_on_thread_ += pending_.size();
        store_thread_->submit(std::exchange(pending_, {}));
        pending_.reserve(options_.batch_size);
        return;
    }
    const auto end = pending_.begin() + static_cast<std::ptrdiff_t>(event_store_thread::max_batch);
    std::vector<event> batch{std::make_move_iterator(pending_.begin()), std::make_move_iterator(end)};
    pending_.erase(pending_.begin(), end);
    events_on_thread_ += batch.size();
    store_thread_->submit(std::move(batch));
}

void event_log::take_thread_results()
{
    auto results = store_thread_->take_results();
    batches_on_thread_ -= results.batches;
    events_on_thread_ -= results.stored.size() + results.refused.size();
    bus_.publish(results.stored);
    if (!results.refused.empty()) {
        // Back in front of what came after them; from now on the io thread retries them all in
        // order, and the thread takes batches again once they are stored.
        results.refused.insert(results.refused.end(), std::make_move_iterator(pending_.begin()),
                               std::make_move_iterator(pending_.end()));
        pending_ = std::move(results.refused);
        note_failure(pending_.size(), results.error);
        commit_wanted_ = true;
        arm_flush_timer(retry_delay);
        return;
    }
    if (failed_attempts_ == 0 && !pending_.empty() && batch_is_due()) store_batch();
}

void event_log::schedule_flush()
{
    if (!flush_scheduled_) arm_flush_timer(options_.batch_delay);
}

void event_log::arm_flush_timer(std::chrono::milliseconds delay)
{
    arm_flush_timer_at(std::chrono::steady_clock::now() + delay);
}

void event_log::arm_flush_timer_at(std::chrono::steady_clock::time_point due)
{
    flush_scheduled_ = true;
    flush_timer_.expires_at(due);
    flush_timer_.async_wait([this](boost::system::error_code ec) {
        // Aborted: re-armed (the wait now pending owns the flag) or the log is going away.
        if (ec == net::error::operation_aborted) return;
        flush_scheduled_ = false;
        // A short batch waits on for more, up to batch_max_delay; a retry or a wanted commit does not.
        if (failed_attempts_ == 0 && !commit_wanted_ && !pending_.empty() && batches_on_thread_ == 0) {
            if (const auto due = batch_due(); std::chrono::steady_clock::now() < due) {
                arm_flush_timer_at(due);
                return;
            }
        }
        store_batch();
        // Handed back by a busy thread: the next result or this timer takes them.
        if (!pending_.empty() && !flush_scheduled_) schedule_flush();
    });
}

void event_log::commit_soon()
{
    if (state_scheduled_) return;
    state_scheduled_ = true;
    state_timer_.expires_after(options_.state_delay);
    state_timer_.async_wait([this](boost::system::error_code ec) {
        if (ec == net::error::operation_aborted) return;
        state_scheduled_ = false;
        if (store_thread_ && failed_attempts_ == 0) {
            // The state alone, beside the thread's batches: it needs no event stored before it,
            // and waiting for them would stop the io thread for as long as they take.
            commit_here({});
        } else {
            commit_now();
        }
    });
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

void event_log::note_failure(std::size_t events_waiting, const std::string& error)
{
    // Logged when the failures start and once a minute while they last, not every second.
    if (failed_attempts_++ % 60 == 0)
        log::error("storing events failed; they wait in memory and are retried every second: check the free "
                   "space and the permissions under the state directory",
                   {{"events_waiting", events_waiting}, {"failed_attempts", failed_attempts_}, {"error", error}});
}

void event_log::flush()
{
    const bool wanted = commit_wanted_ || !pending_.empty();
    if (store_thread_ && batches_on_thread_ > 0) {
        // Behind the thread's batches the events go the same way, and the commit here (the
        // hooks' state) follows once all of them are stored.
        while (failed_attempts_ == 0 && !pending_.empty()) hand_over();
        store_thread_->wait_idle();
        take_thread_results();  // a refused batch comes back into pending_
    }
    if (!wanted && pending_.empty()) return;
    commit_wanted_ = false;
    commit_here(std::exchange(pending_, {}));
}

void event_log::commit_here(std::vector<event> batch)
{
    published_block published;
    try {
        sqlite::transaction tx{db_};
        insert_events(db_, batch, published);
        for (const auto& [owner, hooks] : hooks_)
            if (hooks.write) hooks.write();
        tx.commit();
        metrics::service_metrics::instance().events_stored.Increment(static_cast<double>(batch.size()));
    } catch (const std::exception& e) {
        // Keep the events and try again shortly: losing them would leave a gap in the counters.
        batch.insert(batch.end(), std::make_move_iterator(pending_.begin()), std::make_move_iterator(pending_.end()));
        pending_ = std::move(batch);
        note_failure(pending_.size(), e.what());
        commit_wanted_ = true;
        arm_flush_timer(retry_delay);
        return;
    }
    for (const auto& [owner, hooks] : hooks_)
        if (hooks.committed) hooks.committed();
    if (failed_attempts_ > 0) {
        log::warn("storing events works again", {{"failed_attempts", failed_attempts_}, {"events", batch.size()}});
        failed_attempts_ = 0;
        if (store_thread_) store_thread_->resume();
    }
    bus_.publish(published.take());
}

}  // namespace raydeploy
