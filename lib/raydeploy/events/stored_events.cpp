// Queries over the stored events.
#include "raydeploy/events/stored_events.hpp"

#include <algorithm>

namespace raydeploy {
namespace {

constexpr std::string_view seq_key = "{\"seq\":";

// A page ends at `limit` events or before the event that would take it past `max_bytes`, so one
// page of huge events (task output) cannot fill the memory; the first event always fits, or a
// page could never advance. Its events share one block.
execution_events_page collect(sqlite::statement& statement, std::size_t limit, std::size_t max_bytes)
{
    execution_events_page page;
    published_block block;
    std::size_t count = 0, bytes = 0;
    while (statement.step()) {
        if (count == limit) {
            page.more = true;
            break;
        }
        const std::int64_t seq = statement.column_int(0);
        const std::string payload = statement.column_text(3);
        if (count > 0 && bytes + published_block::text_size(seq, payload) > max_bytes) {
            page.more = true;
            break;
        }
        std::optional<std::string> execution;
        if (!statement.column_is_null(2)) execution = statement.column_text(2);
        bytes += block.add(seq, statement.column_text(1), std::move(execution), payload);
        ++count;
    }
    page.events = block.take();
    return page;
}

}  // namespace

std::size_t published_block::text_size(std::int64_t seq, std::string_view payload_without_seq)
{
    return seq_key.size() + std::to_string(seq).size() + (payload_without_seq.size() > 2 ? 1 : 0) +
           (payload_without_seq.empty() ? 0 : payload_without_seq.size() - 1);
}

std::size_t published_block::add(std::int64_t seq, std::string type, std::optional<std::string> execution_id,
                                 std::string_view payload_without_seq)
{
    if (!entries_.empty()) text_ += ',';
    const std::size_t offset = text_.size();
    text_ += seq_key;
    text_ += std::to_string(seq);
    if (payload_without_seq.size() > 2) text_ += ',';
    if (!payload_without_seq.empty()) text_.append(payload_without_seq.substr(1));
    entries_.push_back(entry{seq, std::move(type), std::move(execution_id), offset, text_.size() - offset});
    return text_.size() - offset;
}

void published_block::reserve(std::size_t events, std::size_t text_bytes)
{
    entries_.reserve(entries_.size() + events);
    text_.reserve(text_.size() + text_bytes);
}

std::vector<published_event_ptr> published_block::take()
{
    std::vector<published_event_ptr> events;
    events.reserve(entries_.size());
    const auto block = std::make_shared<const std::string>(std::move(text_));
    for (auto& item : entries_) {
        events.push_back(std::make_shared<const published_event>(
            published_event{item.seq, std::move(item.type), std::move(item.execution_id),
                            std::string_view{*block}.substr(item.offset, item.size), block}));
    }
    text_.clear();
    entries_.clear();
    return events;
}

event_query stored_events::read_query(std::int64_t since, std::int64_t until, const event_filter& filter,
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

std::vector<published_event_ptr> stored_events::read(std::int64_t since, std::int64_t until, const event_filter& filter,
                                                 std::size_t limit, std::size_t max_bytes)
{
    const event_query query = read_query(since, until, filter, limit);
    if (query.sql.empty()) return {};
    auto statement = db_.prepare(query.sql);
    for (std::size_t i = 0; i < query.params.size(); ++i)
        std::visit([&](const auto& value) { statement.bind(static_cast<int>(i + 1), value); }, query.params[i]);
    return collect(statement, limit, max_bytes).events;
}

execution_events_page stored_events::read_execution(std::string_view execution_id, std::int64_t since_counter,
                                                    std::size_t limit, std::size_t max_bytes)
{
    // One row past the page tells whether more follow, in the same read.
    auto statement = db_.prepare(
        "SELECT seq, type, execution_id, payload FROM events WHERE execution_id = ? AND counter > ? ORDER BY counter LIMIT ?");
    statement.bind(1, execution_id).bind(2, since_counter).bind(3, static_cast<std::int64_t>(limit) + 1);
    return collect(statement, limit, max_bytes);
}

}  // namespace raydeploy
