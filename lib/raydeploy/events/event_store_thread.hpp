// Stores batches of events on a thread and a SQLite connection of its own, so that the io thread
// goes on reading event channels and writing to subscribers while a batch is inserted and
// committed. In the event benchmark the inserts and commits were about a third of the io
// thread's time (docs/benchmarks.md).
//
// Batches are stored one at a time, in the order they were submitted, each in one transaction,
// and handed back as published events in seq order. A batch the disk refuses is handed back
// unstored, with every batch after it (submitted before or after the refusal), so that the event
// log can retry them in order on its own connection; the thread stores nothing more until
// resume().
//
// @par Thread safety
// submit(), results(), wait_idle() and resume() are called from one thread (the event log's);
// `on_result` is called on the store thread after each batch and must only hand the news over
// (post to the io thread).
#pragma once

#include "raydeploy/events/event.hpp"
#include "raydeploy/store/sqlite.hpp"

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace raydeploy {

class published_block;

// Inserts the events into the events table inside the transaction open on `db`, and adds each to
// `published` with the seq it was given.
void insert_events(sqlite::database& db, const std::vector<event>& batch, published_block& published);

class event_store_thread {
public:
    struct results {
        std::size_t batches = 0;                  // batches done (stored or refused) since the last call
        std::vector<published_event_ptr> stored;  // their events, committed, in seq order
        std::vector<event> refused;               // not stored: the refused batch and all after it, in order
        std::string error;                        // why the first of them was refused
    };

    // The most events a batch should hold: what the thread's connection has room for in its cache.
    static constexpr std::size_t max_batch = 2048;

    // `db` must be open on the same file as the event log's connection.
    event_store_thread(std::unique_ptr<sqlite::database> db, std::function<void()> on_result);
    event_store_thread(const event_store_thread&) = delete;
    event_store_thread& operator=(const event_store_thread&) = delete;
    // Stores what was submitted (unless the disk refuses it), then stops.
    ~event_store_thread();

    void submit(std::vector<event> batch);
    // What was done since the last call.
    results take_results();
    // Waits until every batch submitted is stored, or one was refused.
    void wait_idle();
    // After a refusal, once the event log stored the refused events itself: accept batches again.
    void resume();

private:
    void run();

    std::unique_ptr<sqlite::database> db_;  // used on thread_ only
    std::function<void()> on_result_;
    std::mutex mutex_;
    std::condition_variable changed_;
    std::deque<std::vector<event>> queue_;
    bool storing_ = false;
    bool refusing_ = false;
    bool stopping_ = false;
    results results_;
    std::thread thread_;  // last: it starts once everything above exists
};

}  // namespace raydeploy
