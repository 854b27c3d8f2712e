// Retention passes: select what is due in SQL, delete it in small transactions.
#include "raydeploy/engine/retention.hpp"

#include "raydeploy/util/log.hpp"
#include "raydeploy/util/time.hpp"

namespace raydeploy {

namespace fs = std::filesystem;

namespace {

// An execution nothing needs any more: finished, and not part of a deployment still under way.
// Both the selection of a batch and the check just before each removal use it.
constexpr const char* no_longer_in_use = R"sql(status NOT IN ('queued', 'awaiting_approval', 'running')
  AND (deployment_id IS NULL OR deployment_id NOT IN
       (SELECT id FROM deployments WHERE status IN ('queued', 'running', 'awaiting_approval'))))sql";

}  // namespace

retention::retention(net::any_io_executor executor, sqlite::database& db, fs::path runs_dir, retention_policy policy,
                     std::function<bool(std::string_view)> is_active)
    : executor_{std::move(executor)}, db_{db}, runs_dir_{std::move(runs_dir)}, policy_{policy},
      is_active_{std::move(is_active)}
{
}

retention::cutoffs retention::cutoffs_at(std::chrono::system_clock::time_point now)
{
    cutoffs keep;
    // Timestamps are RFC 3339 UTC with milliseconds throughout the store: they sort as text.
    if (policy_.keep_days > 0)
        keep.created_before =
            format_timestamp(now - std::chrono::hours{24} * static_cast<std::int64_t>(policy_.keep_days));
    if (policy_.keep_executions > 0) {
        auto kept = db_.prepare("SELECT created_at, rowid FROM executions ORDER BY created_at DESC, rowid DESC "
                                "LIMIT 1 OFFSET ?");
        kept.bind(1, static_cast<std::int64_t>(policy_.keep_executions) - 1);
        if (kept.step()) keep.kept_from.emplace(kept.column_text(0), kept.column_int(1));
    }
    auto latest = db_.prepare(R"sql(
SELECT coalesce(json_group_array(id), '[]') FROM (
    SELECT id, row_number() OVER (PARTITION BY checkpoint ORDER BY created_at DESC, rowid DESC) AS r FROM executions)
WHERE r = 1)sql");
    latest.step();
    keep.latest_ids = latest.column_text(0);
    return keep;
}

std::vector<std::string> retention::due(std::chrono::system_clock::time_point now, std::size_t limit)
{
    return due(cutoffs_at(now), limit);
}

std::vector<std::string> retention::due(const cutoffs& keep, std::size_t limit)
{
    // Walks executions_by_created from the oldest and stops at `limit`.
    auto query = db_.prepare(std::string{R"sql(
SELECT id FROM executions
WHERE ((?1 IS NOT NULL AND created_at < ?1) OR (?2 IS NOT NULL AND (created_at, rowid) < (?2, ?3)))
  AND id NOT IN (SELECT value FROM json_each(?4))
  AND )sql"} + no_longer_in_use + R"sql(
ORDER BY created_at, rowid
LIMIT ?5)sql");
    if (keep.created_before) query.bind(1, *keep.created_before);
    else query.bind_null(1);
    if (keep.kept_from) query.bind(2, keep.kept_from->first).bind(3, keep.kept_from->second);
    else query.bind_null(2).bind_null(3);
    query.bind(4, keep.latest_ids);
    query.bind(5, static_cast<std::int64_t>(limit));
    std::vector<std::string> ids;
    while (query.step()) {
        std::string id = query.column_text(0);
        if (!is_active_ || !is_active_(id)) ids.push_back(std::move(id));
    }
    return ids;
}

net::awaitable<retention_result> retention::apply(std::chrono::system_clock::time_point now,
                                                  std::function<bool()> stop_requested)
{
    retention_result result;
    auto created = db_.prepare("SELECT created_at FROM executions WHERE id = ?");
    auto delete_events =
        db_.prepare("DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE execution_id = ?1 LIMIT ?2)");
    // Other work runs between the executions of a batch, so each is checked again just before it
    // goes: a deployment resumed meanwhile makes its executions active again.
    auto still_due = db_.prepare(std::string{"SELECT 1 FROM executions WHERE id = ?1 AND "} + no_longer_in_use);
    const auto stopping = [&] { return stop_requested && stop_requested(); };
    const cutoffs keep = cutoffs_at(now);
    // A shutdown ends the pass between executions; the next start goes on where it stopped.
    while (!stopping()) {
        const auto batch = due(keep, policy_.executions_per_batch);
        if (batch.empty()) break;
        for (const auto& id : batch) {
            if (stopping()) break;
            still_due.bind(1, id);
            const bool due_now = still_due.step();
            still_due.reset();  // before the deletes: no read left open on the connection
            if (!due_now || (is_active_ && is_active_(id))) continue;
            // Events first (the foreign key), a bounded number per transaction.
            for (;;) {
                delete_events.reset();
                delete_events.bind(1, id).bind(2, static_cast<std::int64_t>(policy_.events_per_batch));
                delete_events.step();
                const auto removed = static_cast<std::size_t>(db_.changes());
                result.events += removed;
                if (removed < policy_.events_per_batch) break;
                co_await net::post(executor_, net::use_awaitable);
            }
            created.reset();
            created.bind(1, id);
            if (created.step()) {
                const std::string at = created.column_text(0);
                if (!result.oldest || at < *result.oldest) result.oldest = at;
                if (!result.newest || at > *result.newest) result.newest = at;
            }
            created.reset();
            {
                // Its events are gone and its approvals unlinked here, so the foreign keys hold.
                // SQLite would check them by scanning every event (the index on events.execution_id
                // is partial, which foreign key checks cannot use): off for this one statement,
                // with nothing else able to run on the connection in between.
                sqlite::transaction tx{db_};
                // The approval keeps its record of the decision; only the link to the run goes.
                db_.prepare("UPDATE approvals SET execution_id = NULL WHERE execution_id = ?").bind(1, id).step();
                tx.commit();
                db_.exec("PRAGMA foreign_keys = OFF");
                try {
                    db_.prepare("DELETE FROM executions WHERE id = ?").bind(1, id).step();
                } catch (...) {
                    db_.exec("PRAGMA foreign_keys = ON");
                    throw;
                }
                db_.exec("PRAGMA foreign_keys = ON");
            }
            std::error_code ec;
            fs::remove_all(runs_dir_ / id, ec);
            if (ec)
                log::warn("retention could not remove a run directory",
                          {{"execution_id", id}, {"path", (runs_dir_ / id).string()}, {"error", ec.message()}});
            ++result.executions;
            co_await net::post(executor_, net::use_awaitable);
        }
    }
    boost::json::object fields{{"executions", result.executions},
                               {"events", result.events},
                               {"keep_days", policy_.keep_days},
                               {"keep_executions", policy_.keep_executions}};
    if (result.oldest) fields["oldest_removed"] = *result.oldest;
    if (result.newest) fields["newest_removed"] = *result.newest;
    log::info("retention pass done", fields);
    co_return result;
}

}  // namespace raydeploy
