// Event batches stored off the io thread.
#include "raydeploy/events/event_store_thread.hpp"
#include "raydeploy/events/stored_events.hpp"

#include "raydeploy/metrics/service_metrics.hpp"
#include "raydeploy/util/thread_name.hpp"

#include <iterator>
#include <utility>

namespace raydeploy {

namespace {

// A batch of 2,048 events (event_store_thread::max_batch) dirties about 3 MB of pages. With
// SQLite's default cache of 2 MB the pages spilled to the write-ahead log in the middle of the
// transaction and were written twice: 9 % of the thread's time in a profile. The cache grows to
// this only while batches that large are stored.
std::unique_ptr<sqlite::database> with_room_for_a_batch(std::unique_ptr<sqlite::database> db)
{
    db->exec("PRAGMA cache_size = -8192");  // KiB
    return db;
}

}  // namespace

void insert_events(sqlite::database& db, const std::vector<event>& batch, published_block& published)
{
    // The published text is the stored one with "seq" in front (published_block::add).
    constexpr std::size_t fields_beside_members = 160;  // type, created, execution_id, counter, seq
    std::size_t text_bytes = 0;
    for (const auto& item : batch) text_bytes += item.members.size() + item.type.size() + fields_beside_members;
    published.reserve(batch.size(), text_bytes);
    // Bound without a copy: it outlives the statement, and changes only after reset() unbinds it.
    std::string payload;
    auto insert = db.prepare("INSERT INTO events (type, created, execution_id, counter, payload) VALUES (?, ?, ?, ?, ?)");
    for (const auto& item : batch) {
        insert.reset();
        payload = to_stored_text(item);
        insert.bind(1, item.type).bind(2, item.created);
        if (item.execution_id) insert.bind(3, *item.execution_id);
        else insert.bind_null(3);
        if (item.counter) insert.bind(4, *item.counter);
        else insert.bind_null(4);
        insert.bind_static(5, payload);
        insert.step();
        published.add(db.last_insert_rowid(), item.type, item.execution_id, payload);
    }
}

event_store_thread::event_store_thread(std::unique_ptr<sqlite::database> db, std::function<void()> on_result)
    : db_{with_room_for_a_batch(std::move(db))},
      on_result_{std::move(on_result)}, thread_{[this] { run(); }}
{
}

event_store_thread::~event_store_thread()
{
    {
        std::lock_guard lock{mutex_};
        stopping_ = true;
    }
    changed_.notify_all();
    thread_.join();
}

void event_store_thread::submit(std::vector<event> batch)
{
    {
        std::lock_guard lock{mutex_};
        if (refusing_) {
            // Behind a refused batch: it goes back with the others, in order.
            results_.refused.insert(results_.refused.end(), std::make_move_iterator(batch.begin()),
                                    std::make_move_iterator(batch.end()));
            ++results_.batches;
        } else {
            queue_.push_back(std::move(batch));
        }
    }
    changed_.notify_all();
}

event_store_thread::results event_store_thread::take_results()
{
    std::lock_guard lock{mutex_};
    return std::exchange(results_, results{});
}

void event_store_thread::wait_idle()
{
    std::unique_lock lock{mutex_};
    changed_.wait(lock, [this] { return refusing_ || (queue_.empty() && !storing_); });
}

void event_store_thread::resume()
{
    std::lock_guard lock{mutex_};
    refusing_ = false;
}

void event_store_thread::run()
{
    name_this_thread("event-store");
    for (;;) {
        std::vector<event> batch;
        {
            std::unique_lock lock{mutex_};
            changed_.wait(lock, [this] { return stopping_ || (!queue_.empty() && !refusing_); });
            if (queue_.empty() || refusing_) return;  // stopping, with nothing left it may store
            batch = std::move(queue_.front());
            queue_.pop_front();
            storing_ = true;
        }
        published_block published;
        bool committed = false;
        std::string error;
        try {
            sqlite::transaction tx{*db_};
            insert_events(*db_, batch, published);
            tx.commit();
            committed = true;
            metrics::service_metrics::instance().events_stored.Increment(static_cast<double>(batch.size()));
        } catch (const std::exception& e) {
            error = e.what();
        }
        auto stored = committed ? published.take() : std::vector<published_event_ptr>{};
        {
            std::lock_guard lock{mutex_};
            storing_ = false;
            ++results_.batches;
            if (committed) {
                results_.stored.insert(results_.stored.end(), std::make_move_iterator(stored.begin()),
                                       std::make_move_iterator(stored.end()));
            } else {
                refusing_ = true;
                if (results_.error.empty()) results_.error = std::move(error);
                results_.refused.insert(results_.refused.end(), std::make_move_iterator(batch.begin()),
                                        std::make_move_iterator(batch.end()));
                for (auto& waiting : queue_) {
                    results_.refused.insert(results_.refused.end(), std::make_move_iterator(waiting.begin()),
                                            std::make_move_iterator(waiting.end()));
                    ++results_.batches;
                }
                queue_.clear();
            }
        }
        changed_.notify_all();
        on_result_();
    }
}

}  // namespace raydeploy
