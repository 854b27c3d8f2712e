// Batched, durable-before-published event storage.
#include "raydeploy/events/event_log.hpp"

#include "raydeploy/metrics/service_metrics.hpp"

#include "raydeploy/util/log.hpp"
#include "raydeploy/util/time.hpp"

#include <boost/json/serialize.hpp>

#include <algorithm>

namespace raydeploy {
namespace {

published_event_ptr make_published(std::int64_t seq, std::string type, std::optional<std::string> execution_id,
                                   std::string payload_without_seq)
{
    // The stored payload is the document without "seq" (unknown until the insert); splice it in
    // front rather than parsing and re-serializing.
    std::string text = "{\"seq\":" + std::to_string(seq);
    if (payload_without_seq.size() > 2) text += ",";
    text.append(payload_without_seq, 1, std::string::npos);
    return std::make_shared<const published_event>(published_event{seq, std::move(type), std::move(execution_id), std::move(text)});
}

// A page ends at `limit` events or before the event that would take it past `max_bytes`, so one
// page of huge events (task output) cannot fill the memory; the first event always fits, or a
// page could never advance.
std::vector<published_event_ptr> collect(sqlite::statement& statement, std::size_t limit, std::size_t max_bytes)
{
    std::vector<published_event_ptr> out;
    std::size_t bytes = 0;
    while (out.size() < limit && statement.step()) {
        std::optional<std::string> execution;
        if (!statement.column_is_null(2)) execution = statement.column_text(2);
        auto item = make_published(statement.column_int(0), statement.column_text(1), std::move(execution),
                                   statement.column_text(3));
        bytes += item->text.size();
        if (!out.empty() && bytes > max_bytes) break;
        out.push_back(std::move(item));
    }
    return out;
}

}  // namespace

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
    if (pending_.size() >= options_.batch_size) flush();
    else schedule_flush();
}

void event_log::schedule_flush()
{
    if (flush_scheduled_) return;
    flush_scheduled_ = true;
    flush_timer_.expires_after(options_.batch_delay);
    flush_timer_.async_wait([this](boost::system::error_code ec) {
        flush_scheduled_ = false;
        if (!ec) flush();
    });
}

void event_log::commit_soon()
{
    commit_wanted_ = true;
    schedule_flush();
}

void event_log::flush()
{
    if (pending_.empty() && !commit_wanted_) return;
    commit_wanted_ = false;
    std::vector<event> batch;
    batch.swap(pending_);
    std::vector<published_event_ptr> published;
    published.reserve(batch.size());
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
            published.push_back(make_published(db_.last_insert_rowid(), item.type, item.execution_id, std::move(payload)));
        }
        if (before_commit) before_commit();
        tx.commit();
        metrics::service_metrics::instance().events_stored.Increment(static_cast<double>(published.size()));
    } catch (const std::exception& e) {
        // Keep the events and try again shortly: losing them would leave a gap in the counters.
        log::error("storing events failed; retrying", {{"events", batch.size()}, {"error", e.what()}});
        batch.insert(batch.end(), std::make_move_iterator(pending_.begin()), std::make_move_iterator(pending_.end()));
        pending_ = std::move(batch);
        commit_wanted_ = true;
        flush_scheduled_ = true;
        flush_timer_.expires_after(std::chrono::seconds{1});
        flush_timer_.async_wait([this](boost::system::error_code ec) {
            flush_scheduled_ = false;
            if (!ec) flush();
        });
        return;
    }
    bus_.publish(published);
}

event_query event_log::read_query(std::int64_t since, std::int64_t until, const event_filter& filter,
                                  std::size_t limit)
{
    event_query query;
    const std::string columns = "SELECT seq, type, execution_id, payload FROM events";
    const auto add = [&query](std::variant<std::int64_t, std::string> value) {
        query.params.push_back(std::move(value));
        return "?" + std::to_string(query.params.size());
    };
    const std::string range =
        "seq > " + add(since) + " AND seq <= " + add(until) +
        (filter.execution_id ? " AND execution_id = " + add(*filter.execution_id) : std::string{});
    const std::string page = " ORDER BY seq LIMIT " + add(static_cast<std::int64_t>(limit));
    const bool every_type =
        filter.types.empty() || std::find(filter.types.begin(), filter.types.end(), "*") != filter.types.end();
    if (every_type) {
        query.sql = columns + " WHERE " + range + page;
        return query;
    }
    // The types the patterns name, exact: a prefix ("ansible.*") becomes the stored types it
    // matches, found by stepping through the type index (a few lookups per distinct type).
    std::vector<std::string> types;
    // One range bound per lookup: with two (type > after AND type >= prefix) SQLite seeks on one
    // and walks every row below the other, which is every event of the types sorting before it.
    auto first_type = db_.prepare("SELECT min(type) FROM events WHERE type >= ?");
    auto next_type = db_.prepare("SELECT min(type) FROM events WHERE type > ?");
    for (const auto& pattern : filter.types) {
        if (pattern.back() != '*') {
            types.push_back(pattern);
            continue;
        }
        const std::string prefix = pattern.substr(0, pattern.size() - 1);
        for (sqlite::statement* lookup = &first_type;; lookup = &next_type) {
            lookup->reset();
            lookup->bind(1, lookup == &first_type ? prefix : types.back());
            if (!lookup->step() || lookup->column_is_null(0)) break;
            std::string type = lookup->column_text(0);
            if (type.compare(0, prefix.size(), prefix) != 0) break;
            types.push_back(std::move(type));
        }
    }
    std::sort(types.begin(), types.end());
    types.erase(std::unique(types.begin(), types.end()), types.end());
    if (types.empty()) return query;  // nothing stored can match
    // One index range per type (events_by_type holds (type, seq): SQLite keys every index by the
    // rowid too), each already in seq order and stopped at the page size, merged by seq. The
    // ranges pick seqs only, from the index alone when no execution is named; the rows, with
    // their payloads, are read for the page's events only, not for every type's page-full.
    std::string seqs;
    for (const auto& type : types) {
        seqs += seqs.empty() ? "SELECT seq FROM (" : " UNION ALL SELECT seq FROM (";
        seqs += "SELECT seq FROM events WHERE type = " + add(type) + " AND " + range + page + ")";
    }
    query.sql = columns + " WHERE seq IN (SELECT seq FROM (" + seqs + ")" + page + ") ORDER BY seq";
    return query;
}

std::vector<published_event_ptr> event_log::read(std::int64_t since, std::int64_t until, const event_filter& filter,
                                                 std::size_t limit, std::size_t max_bytes)
{
    const event_query query = read_query(since, until, filter, limit);
    if (query.sql.empty()) return {};
    auto statement = db_.prepare(query.sql);
    for (std::size_t i = 0; i < query.params.size(); ++i)
        std::visit([&](const auto& value) { statement.bind(static_cast<int>(i + 1), value); }, query.params[i]);
    return collect(statement, limit, max_bytes);
}

std::vector<published_event_ptr> event_log::read_execution(std::string_view execution_id, std::int64_t since_counter,
                                                           std::size_t limit, std::size_t max_bytes)
{
    auto statement = db_.prepare(
        "SELECT seq, type, execution_id, payload FROM events WHERE execution_id = ? AND counter > ? ORDER BY counter LIMIT ?");
    statement.bind(1, execution_id).bind(2, since_counter).bind(3, static_cast<std::int64_t>(limit));
    return collect(statement, limit, max_bytes);
}

bool event_log::has_execution_events_after(std::string_view execution_id, std::int64_t counter)
{
    auto statement = db_.prepare("SELECT 1 FROM events WHERE execution_id = ? AND counter > ? LIMIT 1");
    statement.bind(1, execution_id).bind(2, counter);
    return statement.step();
}

}  // namespace raydeploy
