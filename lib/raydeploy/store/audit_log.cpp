#include "raydeploy/store/audit_log.hpp"

#include "raydeploy/store/json_columns.hpp"
#include "raydeploy/util/time.hpp"

#include <boost/json/serialize.hpp>

namespace raydeploy {

boost::json::object to_json(const audit_entry& entry)
{
    return boost::json::object{{"id", entry.id},          {"at", entry.at},         {"actor", entry.actor},
                               {"remote_addr", entry.remote_addr}, {"action", entry.action}, {"target", entry.target},
                               {"outcome", entry.outcome}, {"detail", entry.detail}};
}

std::int64_t audit_log::record(audit_entry entry)
{
    if (entry.at.empty()) entry.at = now_timestamp();
    auto statement = db_.prepare(
        "INSERT INTO audit (at, actor, remote_addr, action, target, outcome, detail) VALUES (?, ?, ?, ?, ?, ?, ?)");
    statement.bind(1, entry.at)
        .bind(2, entry.actor)
        .bind(3, entry.remote_addr)
        .bind(4, entry.action)
        .bind(5, entry.target)
        .bind(6, entry.outcome)
        .bind(7, boost::json::serialize(entry.detail));
    statement.step();
    return db_.last_insert_rowid();
}

void audit_log::record_unauthenticated(audit_entry entry, std::chrono::steady_clock::time_point now)
{
    std::string source = entry.remote_addr;
    if (!refusals_.count(source) && refusals_.size() >= max_refusal_sources) source = "*";
    auto [it, fresh] = refusals_.try_emplace(source);
    refusal_window_state& window = it->second;
    if (!fresh && now - window.opened < refusal_window) {
        ++window.folded;
        window.last = std::move(entry);
        return;
    }
    // A new window: this row also carries what the previous window counted and did not write.
    entry.detail["count"] = window.folded + 1;
    if (source == "*") entry.detail["sources"] = "many";
    window = refusal_window_state{now, 0, {}};
    record(std::move(entry));
}

void audit_log::flush_refusals(std::chrono::steady_clock::time_point now, bool all)
{
    for (auto it = refusals_.begin(); it != refusals_.end();) {
        refusal_window_state& window = it->second;
        if (!all && now - window.opened < refusal_window) {
            ++it;
            continue;
        }
        if (window.folded > 0) {
            audit_entry summary = std::move(window.last);
            summary.at.clear();
            summary.detail["count"] = window.folded;
            summary.detail["folded"] = true;
            if (it->first == "*") summary.detail["sources"] = "many";
            record(std::move(summary));
        }
        it = refusals_.erase(it);
    }
}

std::vector<audit_entry> audit_log::list(const audit_filter& filter)
{
    // Only the conditions given, so that SQLite can use the index of the one that narrows.
    std::string sql = "SELECT id, at, actor, remote_addr, action, target, outcome, detail FROM audit WHERE 1";
    if (filter.before_id) sql += " AND id < :before_id";
    if (filter.actor) sql += " AND actor = :actor";
    if (filter.action) sql += " AND action = :action";
    // A range rather than LIKE or GLOB: nothing in the prefix is a wildcard, and the index serves it.
    std::optional<std::string> prefix_end;
    if (filter.action_prefix && !filter.action_prefix->empty()) {
        prefix_end = *filter.action_prefix;
        while (!prefix_end->empty() && static_cast<unsigned char>(prefix_end->back()) == 0xFF) prefix_end->pop_back();
        if (!prefix_end->empty()) prefix_end->back() = static_cast<char>(prefix_end->back() + 1);
        sql += " AND action >= :action_prefix";
        if (!prefix_end->empty()) sql += " AND action < :action_prefix_end";
    }
    if (filter.outcome) sql += " AND outcome = :outcome";
    if (filter.after) sql += " AND at > :after";
    if (filter.before) sql += " AND at < :before";
    sql += " ORDER BY id DESC LIMIT :limit";
    auto statement = db_.prepare(sql);
    if (filter.before_id) statement.bind_named(":before_id", *filter.before_id);
    if (filter.actor) statement.bind_named(":actor", *filter.actor);
    if (filter.action) statement.bind_named(":action", *filter.action);
    if (prefix_end) {
        statement.bind_named(":action_prefix", *filter.action_prefix);
        if (!prefix_end->empty()) statement.bind_named(":action_prefix_end", *prefix_end);
    }
    if (filter.outcome) statement.bind_named(":outcome", *filter.outcome);
    if (filter.after) statement.bind_named(":after", *filter.after);
    if (filter.before) statement.bind_named(":before", *filter.before);
    statement.bind_named(":limit", static_cast<std::int64_t>(filter.limit));
    std::vector<audit_entry> entries;
    while (statement.step()) {
        audit_entry entry;
        entry.id = statement.column_int(0);
        entry.at = statement.column_text(1);
        entry.actor = statement.column_text(2);
        entry.remote_addr = statement.column_text(3);
        entry.action = statement.column_text(4);
        entry.target = statement.column_text(5);
        entry.outcome = statement.column_text(6);
        entry.detail = sqlite::parse_object_column(statement.column_text(7));
        entries.push_back(std::move(entry));
    }
    return entries;
}

}  // namespace raydeploy
