// The event log: events are written to SQLite in batches (one transaction per batch) and
// published to the bus only once their transaction committed, so a subscriber never sees an
// event that a crash could take back, and REST readers and subscribers agree. Reading them back
// is stored_events' (and event_reader's, for the service).
//
// @par Thread safety
// Single-threaded: call everything from the io_context's thread.
#pragma once

#include "raydeploy/events/event.hpp"
#include "raydeploy/events/event_bus.hpp"
#include "raydeploy/events/event_log_options.hpp"
#include "raydeploy/store/sqlite.hpp"
#include "raydeploy/util/net.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

namespace raydeploy {

class event_log {
public:
    event_log(net::any_io_executor executor, sqlite::database& db, event_bus& bus, event_log_options options = {});

    // Queues the event for the next batch. `created` is filled in when empty.
    void append(event item);
    // Writes and publishes everything queued, now. Used for state changes, so the execution row
    // and the event announcing it become visible together.
    void flush();
    // Makes the next batch commit within batch_delay even if no event comes: for state that the
    // commit hooks write.
    void commit_soon();
    // flush(), committing even when no event waits: for state that the commit hooks write.
    void commit_now();

    // State that goes with the events (a running execution's progress, a deployment's steps).
    // `write` runs inside each batch's transaction before it commits, so that state shares the
    // batch's commit rather than taking one per change, and a batch the disk refused is retried
    // with it; `committed` runs once that transaction held, before its events are published.
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
    std::size_t pending() const { return pending_.size(); }

private:
    void schedule_flush();
    void arm_flush_timer(std::chrono::milliseconds delay);

    // How soon a batch the store refused is tried again (the whole backlog at once, so not sooner).
    static constexpr std::chrono::seconds retry_delay{1};

    net::any_io_executor executor_;
    sqlite::database& db_;
    event_bus& bus_;
    event_log_options options_;
    std::vector<event> pending_;
    net::steady_timer flush_timer_;
    bool flush_scheduled_ = false;
    bool commit_wanted_ = false;
    std::uint64_t failed_attempts_ = 0;  // since the last batch that was stored
    std::vector<std::pair<const void*, commit_hooks>> hooks_;
};

}  // namespace raydeploy
