// Executions in SQLite: the rows behind GET /api/v1/executions and the engine's own state.
#pragma once

#include "raydeploy/engine/execution.hpp"
#include "raydeploy/store/sqlite.hpp"

#include <functional>
#include <map>
#include <optional>
#include <vector>

namespace raydeploy {

struct execution_filter {
    std::optional<std::string> checkpoint;
    std::optional<execution_status> status;
    std::size_t limit = 50;
    std::optional<std::int64_t> before_rowid;  // paging cursor: rows inserted before this one
    bool with_report = false;                  // only executions that stored a report
    // Only executions created strictly after / before these times (as format_timestamp prints them).
    std::optional<std::string> created_after;
    std::optional<std::string> created_before;
};

// The query execution_store::list runs for `filter`, with named parameters (:checkpoint, ...):
// only the conditions given, so that SQLite reads a page off the index of the one that narrows.
std::string execution_list_sql(const execution_filter& filter);

class execution_store {
public:
    explicit execution_store(sqlite::database& db) : db_{db} {}

    // Inserts the record and sets its rowid. `with_row` (may be empty) makes writes that stand or
    // fall with the row, such as consuming the approval that allowed the run: one transaction
    // holds them all, and a throw from any of them leaves no row.
    void insert(execution_record& record, const std::function<void(const execution_record&)>& with_row = {});
    // Writes every mutable column of the record (all but the report).
    void update(const execution_record& record);
    // Stores the execution's report (replacing any earlier one; empty parts are stored as NULL).
    void save_report(std::string_view id, const execution_report& report);
    // The stored report; nullopt when there is no such execution, an empty report when it has none.
    std::optional<execution_report> report(std::string_view id);
    std::optional<execution_record> get(std::string_view id);
    // Newest first.
    std::vector<execution_record> list(const execution_filter& filter);
    // Executions in one of `statuses`, oldest first.
    std::vector<execution_record> with_status(std::initializer_list<execution_status> statuses);
    // The highest event counter stored for the execution (0 when it has none).
    std::int64_t max_counter(std::string_view id);

    // The newest execution of `checkpoint` (nullptr: it never ran), from memory: the status
    // endpoints read it on every request. Read from SQL once, then kept by this store's own
    // writes, which are the only ones (retention deletes old runs, never a checkpoint's newest).
    const execution_record* latest(std::string_view checkpoint);
    // Grows with every write: an answer built from executions is current while it stays the same.
    std::uint64_t generation() const { return generation_; }

private:
    void load_latest();
    void write(const execution_record& record);
    void remember(const execution_record& record);

    sqlite::database& db_;
    std::optional<std::map<std::string, execution_record, std::less<>>> latest_;  // by checkpoint
    std::uint64_t generation_ = 0;
};

}  // namespace raydeploy
