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

std::vector<audit_entry> audit_log::list(std::size_t limit, std::optional<std::int64_t> before_id)
{
    auto statement = db_.prepare(
        "SELECT id, at, actor, remote_addr, action, target, outcome, detail FROM audit "
        "WHERE (?1 IS NULL OR id < ?1) ORDER BY id DESC LIMIT ?2");
    sqlite::bind_optional(statement, 1, before_id);
    statement.bind(2, static_cast<std::int64_t>(limit));
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
