// Queries over the stored events, on one connection, from whichever single thread owns it. The
// service runs them through event_reader, on a thread and a connection of their own; tests and
// tools call them directly.
#pragma once

#include "raydeploy/events/event.hpp"
#include "raydeploy/store/sqlite.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace raydeploy {

// A query over the events table: SQL with numbered parameters ?1, ?2... and their values.
struct event_query {
    std::string sql;  // empty: no stored event can match
    std::vector<std::variant<std::int64_t, std::string>> params;
};

// One page of an execution's stored events.
struct execution_events_page {
    std::vector<published_event_ptr> events;
    // Stored events of the execution follow the page (it stopped at its limit or its bytes).
    bool more = false;
};

// Published events made from stored rows, in seq order, their texts joined in one block. The
// stored payload is the document without "seq" (unknown until the insert), which is spliced in
// front rather than parsed and serialized again.
class published_block {
public:
    // Adds the event; returns the size of its text, text_size().
    std::size_t add(std::int64_t seq, std::string type, std::optional<std::string> execution_id,
                    std::string_view payload_without_seq);
    // The size of the text add() makes of a row, known before adding it (a page's byte limit).
    static std::size_t text_size(std::int64_t seq, std::string_view payload_without_seq);
    bool empty() const { return entries_.empty(); }
    // Room for `events` more events of about `text_bytes` in all, so adding them copies each text once.
    void reserve(std::size_t events, std::size_t text_bytes);
    // The events added, in order; the block starts anew.
    std::vector<published_event_ptr> take();

private:
    struct entry {
        std::int64_t seq;
        std::string type;
        std::optional<std::string> execution_id;
        std::size_t offset, size;
    };
    std::string text_;
    std::vector<entry> entries_;
};

class stored_events {
public:
    explicit stored_events(sqlite::database& db) : db_{db} {}

    // Stored events with since < seq <= until that match `filter`, oldest first, at most `limit`,
    // and no more than `max_bytes` of serialized text (but at least one event when there is one).
    std::vector<published_event_ptr> read(std::int64_t since, std::int64_t until, const event_filter& filter,
                                          std::size_t limit, std::size_t max_bytes = SIZE_MAX);
    // The query read() runs: the filter's types are selected in SQL through the type index.
    event_query read_query(std::int64_t since, std::int64_t until, const event_filter& filter, std::size_t limit);
    // Stored events of one execution with counter > since_counter, oldest first, bounded as read().
    execution_events_page read_execution(std::string_view execution_id, std::int64_t since_counter, std::size_t limit,
                                         std::size_t max_bytes = SIZE_MAX);

private:
    sqlite::database& db_;
};

}  // namespace raydeploy
