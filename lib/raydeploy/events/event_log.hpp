// The event log: events are written to SQLite in batches (one transaction per batch) and
// published to the bus only once their transaction committed, so a subscriber never sees an
// event that a crash could take back, and REST readers and subscribers agree. Reading them back
// is stored_events' (and event_reader's, for the service).
//
// Given a connection of its own (the service gives one), the log stores full batches of events
// (a fast stream's) on a thread (event_store_thread) while the io thread goes on, and publishes
// each when its commit is reported back. A slow stream's batches, flush() and the commit hooks'
// state are stored on the io thread through `db`, after any batches the thread still has: so
// the events keep the order they were appended in, whichever connection stored them.
//
// @par Thread safety
// Single-threaded: call everything from the io_context's thread.
#pragma once

#include "raydeploy/events/event.hpp"
#include "raydeploy/events/event_bus.hpp"
#include "raydeploy/events/event_log_options.hpp"
#include "raydeploy/events/event_store_thread.hpp"
#include "raydeploy/store/sqlite.hpp"
#include "raydeploy/util/net.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

namespace raydeploy {

class event_log {
public:
    // `open_store_connection`, when given, opens a connection to the file of `db`: the first full
    // batch starts the store thread with it (an idle service has neither), and batches are then
    // stored on that thread.
    event_log(net::any_io_executor executor, sqlite::database& db, event_bus& bus, event_log_options options = {},
              std::function<std::unique_ptr<sqlite::database>()> open_store_connection = {});
    event_log(const event_log&) = delete;
    event_log& operator=(const event_log&) = delete;
    // Stores what the thread was given (not what is still queued here: flush() first).
    ~event_log();

    // Queues the event for the next batch. `created` is filled in when empty.
    void append(event item);
    // Writes and publishes everything queued, now (waiting for the store thread's batches first).
    // Used for state changes, so the execution row and the event announcing it become visible together.
    void flush();
    // Makes the commit hooks' state commit within state_delay even if no event comes.
    void commit_soon();
    // flush(), committing even when no event waits: for state that the commit hooks write.
    void commit_now();

    // State that goes with the events (a running execution's progress, a deployment's steps).
    // `write` runs inside the transaction of each batch stored on the io thread before it commits,
    // so that state shares the batch's commit rather than taking one per change, and a batch the
    // disk refused is retried with it; `committed` runs once that transaction held, before its
    // events are published.
    // Neither may append events or flush.
    struct commit_hooks {
        std::function<void()> write;
        std::function<void()> committed;
    };
    // `owner` names the hooks for remove_commit_hooks.
    void add_commit_hooks(const void* owner, commit_hooks hooks);
    void remove_commit_hooks(const void* owner);

    // The seq of the newest event that is stored and published.
    std::int64_t last_published_seq() const { return bus_.last_seq(); }
    // Events appended and not yet stored (queued here or on the store thread).
    std::size_t pending() const { return pending_.size() + events_on_thread_; }

private:
    // A batch is due (full, or its delay ran out): to the store thread or flush().
    void store_batch();
    // The first events of pending_ (up to event_store_thread::max_batch) to the store thread.
    void hand_over();
    // False (and logged) when its connection cannot be opened.
    bool start_store_thread();
    // Stores `batch` (perhaps none) with the commit hooks' state in one transaction through db_,
    // and publishes it; a batch refused goes back in front of pending_, to be tried again.
    void commit_here(std::vector<event> batch);
    // Publishes what the store thread stored; takes back what it could not store.
    void take_thread_results();
    void schedule_flush();
    void arm_flush_timer(std::chrono::milliseconds delay);
    void arm_flush_timer_at(std::chrono::steady_clock::time_point due);
    // When the batch now pending is due by the batch_* options (pending_ must not be empty).
    std::chrono::steady_clock::time_point batch_due() const;
    // Full, or batch_due() passed.
    bool batch_is_due() const;
    void note_failure(std::size_t events_waiting, const std::string& error);

    // How soon a batch the store refused is tried again (the whole backlog at once, so not sooner).
    static constexpr std::chrono::seconds retry_delay{1};

    net::any_io_executor executor_;
    sqlite::database& db_;
    event_bus& bus_;
    event_log_options options_;
    std::vector<event> pending_;
    std::chrono::steady_clock::time_point batch_started_;  // when pending_'s first event came
    net::steady_timer flush_timer_;
    bool flush_scheduled_ = false;
    net::steady_timer state_timer_;
    bool commit_wanted_ = false;
    bool state_scheduled_ = false;
    std::uint64_t failed_attempts_ = 0;  // since the last batch that was stored
    std::vector<std::pair<const void*, commit_hooks>> hooks_;
    std::size_t batches_on_thread_ = 0, events_on_thread_ = 0;
    // Results are posted from the store thread: they find the log through this, or find it gone.
    std::shared_ptr<event_log*> self_ = std::make_shared<event_log*>(this);
    std::function<std::unique_ptr<sqlite::database>()> open_store_connection_;
    std::unique_ptr<event_store_thread> store_thread_;  // last: destroyed first
};

}  // namespace raydeploy
