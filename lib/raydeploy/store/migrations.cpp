// The schema's history. Version 1 holds executions and their events; version 2 adds approvals
// and the append-only audit log; version 3 what running executions need: the process group to
// reconcile after a crash, progress, host summary and the closing counter; version 4 deployments,
// and who requested each execution and approval; version 5 what each execution's checkpoint
// published (results per node, summary, report); version 6 binds approvals to the run they
// approve (parameters, persons) and records who resumed a deployment; version 7 keeps the last
// snapshot of each watched system (the Ray cluster) so a restart diffs against what it last saw;
// version 8 records with an approval of a destructive checkpoint the running work it would end;
// version 9 what a run that survives restarts needs to find its work again; version 10 the Ray
// cluster raydeploy launched on CML; version 11 deployments in check mode, and the indexes the
// lists' time and audit filters use; version 12 the execution lists' indexes in rowid order;
// version 13 indexes for the open approvals, a checkpoint's last decision and a run's approvals;
// version 14 an index of the deployments that run each checkpoint.
#include "raydeploy/store/migrations.hpp"

#include "raydeploy/util/errors.hpp"
#include "raydeploy/util/log.hpp"

namespace raydeploy {
namespace {

constexpr migration all_migrations[] = {
    {1, "executions and events", R"sql(
CREATE TABLE executions (
    id          TEXT PRIMARY KEY,
    checkpoint  TEXT NOT NULL,
    status      TEXT NOT NULL,
    params      TEXT NOT NULL DEFAULT '{}',
    created_at  TEXT NOT NULL,
    started_at  TEXT,
    finished_at TEXT,
    rc          INTEGER,
    error       TEXT
);
CREATE INDEX executions_by_checkpoint ON executions (checkpoint, created_at);
CREATE INDEX executions_by_status ON executions (status);

-- AUTOINCREMENT: a seq is never reused, even after the newest rows are deleted, so subscribers
-- resuming with since=<seq> can trust it across restarts.
CREATE TABLE events (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    type         TEXT NOT NULL,
    created      TEXT NOT NULL,
    execution_id TEXT REFERENCES executions (id),
    counter      INTEGER,
    payload      TEXT NOT NULL
);
CREATE UNIQUE INDEX events_by_execution ON events (execution_id, counter) WHERE execution_id IS NOT NULL;
)sql"},
    {2, "approvals and audit", R"sql(
CREATE TABLE approvals (
    id                TEXT PRIMARY KEY,
    checkpoint        TEXT NOT NULL,
    state             TEXT NOT NULL,
    requested_by      TEXT,
    approved_by       TEXT,
    reason            TEXT,
    acknowledge_risks INTEGER NOT NULL DEFAULT 0,
    created_at        TEXT NOT NULL,
    decided_at        TEXT,
    expires_at        TEXT,
    execution_id      TEXT REFERENCES executions (id)
);
CREATE INDEX approvals_by_checkpoint ON approvals (checkpoint, state);

CREATE TABLE audit (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,
    remote_addr TEXT,
    action      TEXT NOT NULL,
    target      TEXT,
    outcome     TEXT NOT NULL,
    detail      TEXT NOT NULL DEFAULT '{}'
);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'audit rows are append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'audit rows are append-only'); END;
)sql"},
    {3, "execution processes and progress", R"sql(
-- The process group of a running ansible-playbook, with what identifies it beyond the pid
-- (boot id and the leader's start time), so a restart never signals an unrelated process.
ALTER TABLE executions ADD COLUMN pgid INTEGER;
ALTER TABLE executions ADD COLUMN boot_id TEXT;
ALTER TABLE executions ADD COLUMN process_start INTEGER;
ALTER TABLE executions ADD COLUMN status_reason TEXT;
ALTER TABLE executions ADD COLUMN progress TEXT NOT NULL DEFAULT '{}';
ALTER TABLE executions ADD COLUMN host_summary TEXT NOT NULL DEFAULT '{}';
ALTER TABLE executions ADD COLUMN final_counter INTEGER;
CREATE INDEX events_by_type ON events (type);
)sql"},
    {4, "deployments and who asked for what", R"sql(
-- An ordered run of checkpoints. `steps` is a JSON array of {checkpoint, status, execution_id}:
-- it is always read and written whole, with the deployment.
CREATE TABLE deployments (
    id                TEXT PRIMARY KEY,
    status            TEXT NOT NULL,
    checkpoints       TEXT NOT NULL,
    steps             TEXT NOT NULL,
    auto_approve      INTEGER NOT NULL DEFAULT 0,
    extra_vars        TEXT NOT NULL DEFAULT '{}',
    requested_by      TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    started_at        TEXT,
    finished_at       TEXT,
    status_reason     TEXT,
    failed_checkpoint TEXT,
    awaiting          TEXT
);
CREATE INDEX deployments_by_status ON deployments (status);

ALTER TABLE executions ADD COLUMN requested_by TEXT;
ALTER TABLE executions ADD COLUMN deployment_id TEXT REFERENCES deployments (id);
ALTER TABLE executions ADD COLUMN approval_id TEXT;
CREATE INDEX executions_by_deployment ON executions (deployment_id);

ALTER TABLE approvals ADD COLUMN deployment_id TEXT REFERENCES deployments (id);
ALTER TABLE approvals ADD COLUMN decided_by TEXT;
ALTER TABLE approvals ADD COLUMN granted_at TEXT;
)sql"},
    {5, "execution results and reports", R"sql(
-- What the checkpoint published with set_stats: {"nodes": {host: ...}, "summary": ...} as JSON,
-- and final-validation's report, as its JSON document and its Markdown rendering.
ALTER TABLE executions ADD COLUMN results TEXT NOT NULL DEFAULT '{}';
ALTER TABLE executions ADD COLUMN report TEXT;
ALTER TABLE executions ADD COLUMN report_markdown TEXT;
)sql"},
    {6, "approvals bound to the run they approve", R"sql(
-- An approval approves one run: the parameters it was asked (or pre-approved) with, as the JSON
-- {extra_vars, limit, check} (NULL in older rows: the plain run), and the persons the four-eyes
-- rule compares (NULL in older rows: the lower-cased names).
ALTER TABLE approvals ADD COLUMN params TEXT;
ALTER TABLE approvals ADD COLUMN requester_person TEXT;
ALTER TABLE approvals ADD COLUMN approver_person TEXT;
CREATE INDEX approvals_by_deployment ON approvals (deployment_id, state);

-- Whoever resumes a deployment becomes the requester of the steps it runs from then on.
ALTER TABLE deployments ADD COLUMN resumed_by TEXT;
ALTER TABLE deployments ADD COLUMN requester_person TEXT;
)sql"},
    {7, "snapshots of watched systems", R"sql(
-- One row per watched system ("ray"): the snapshot it last answered with, as JSON, and when.
CREATE TABLE watch_snapshots (
    source      TEXT PRIMARY KEY,
    observed_at TEXT NOT NULL,
    snapshot    TEXT NOT NULL
);
)sql"},
    {8, "the running work an approval was shown", R"sql(
-- The live impact shown with a destructive checkpoint's request (JSON: the Ray jobs and Serve
-- applications tearing down would end, as of when; NULL when none was known), and whether the
-- grant acknowledged that running work.
ALTER TABLE approvals ADD COLUMN live_impact TEXT;
ALTER TABLE approvals ADD COLUMN acknowledge_running_work INTEGER NOT NULL DEFAULT 0;
)sql"},
    {9, "runs that survive a restart", R"sql(
-- What a runner whose work goes on without the service (a CML job run) needs to find it again
-- after a restart, as JSON; NULL for runs of other kinds.
ALTER TABLE executions ADD COLUMN attachment TEXT;
)sql"},
    {10, "the Ray cluster launched on CML", R"sql(
-- At most one row: the Ray cluster launch-ray-cluster started as CML applications (JSON: project,
-- subdomain prefix, dashboard URL, head address, applications), which the Ray monitor watches
-- and the nodes API changes. Deleted by teardown-ray-cluster.
CREATE TABLE cml_ray_cluster (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    updated_at TEXT NOT NULL,
    cluster    TEXT NOT NULL
);
)sql"},
    {11, "deployments in check mode, filters of the lists", R"sql(
-- Whether every step of the deployment runs with ansible-playbook --check (kept for its resume).
ALTER TABLE deployments ADD COLUMN check_mode INTEGER NOT NULL DEFAULT 0;
-- created_after / created_before of GET /api/v1/executions and /deployments, and the filters of
-- GET /api/v1/audit: the trail grows with every mutating request, so none of them scans it all.
CREATE INDEX executions_by_created ON executions (created_at);
CREATE INDEX deployments_by_created ON deployments (created_at);
CREATE INDEX audit_by_at ON audit (at);
CREATE INDEX audit_by_actor ON audit (actor, id);
CREATE INDEX audit_by_action ON audit (action, id);
CREATE INDEX audit_by_outcome ON audit (outcome, id);
)sql"},
    {12, "execution lists in rowid order through their indexes", R"sql(
-- GET /api/v1/executions lists newest first (rowid order). An index on the filtered columns alone
-- ends in the rowid, so a page is read off it in order; (checkpoint, created_at) made SQLite sort
-- every run of the checkpoint for each page.
DROP INDEX executions_by_checkpoint;
CREATE INDEX executions_by_checkpoint ON executions (checkpoint);
CREATE INDEX executions_by_checkpoint_status ON executions (checkpoint, status);
)sql"},
    {13, "approvals through indexes: the open ones, a checkpoint's last decision, a run's", R"sql(
-- Every approval ever asked for stays. The approvals page (pending and granted) and the expiry the
-- service runs every second, on its io thread, read the few open ones; GET /api/v1/approvals/{name}
-- a checkpoint's newest decision; retention unlinks the approvals of each run it removes. Without
-- these each read walked the whole history (or the checkpoint's), which grows with every gated run.
CREATE INDEX approvals_by_state ON approvals (state, created_at);
CREATE INDEX approvals_by_decision ON approvals (checkpoint, decided_at);
CREATE INDEX approvals_by_execution ON approvals (execution_id) WHERE execution_id IS NOT NULL;
)sql"},
    {14, "the deployments that run a checkpoint, through an index", R"sql(
-- GET /api/v1/deployments?checkpoint= lists the deployments that run a checkpoint, newest first.
-- `checkpoints` is a JSON array, which no index can read, so each filtered page walked every
-- deployment ever started. A deployment's names are written here with it (they never change), in
-- rowid order under each name, so a page is read off the key in the list's order. VACUUM keeps
-- the rowids of a table that has an index (deployments has three), as the lists' cursors need too.
CREATE TABLE deployment_checkpoints (
    checkpoint       TEXT NOT NULL,
    deployment_rowid INTEGER NOT NULL,
    PRIMARY KEY (checkpoint, deployment_rowid)
) WITHOUT ROWID;
INSERT OR IGNORE INTO deployment_checkpoints (checkpoint, deployment_rowid)
    SELECT json_each.value, deployments.rowid FROM deployments, json_each(deployments.checkpoints);
)sql"},
};

}  // namespace

std::span<const migration> schema_migrations() { return all_migrations; }

int schema_version(sqlite::database& db)
{
    auto query = db.prepare("PRAGMA user_version");
    query.step();
    return static_cast<int>(query.column_int(0));
}

int migrate(sqlite::database& db, std::span<const migration> migrations)
{
    const int current = schema_version(db);
    const int newest = migrations.empty() ? 0 : migrations.back().version;
    if (current > newest)
        throw runtime_failure{"the state database has schema version " + std::to_string(current) +
                              ", newer than this raydeploy supports (" + std::to_string(newest) +
                              "); run a newer raydeploy or point --state-dir elsewhere"};
    int applied = 0;
    for (const auto& step : migrations) {
        if (step.version <= current) continue;
        sqlite::transaction tx{db};
        db.exec(step.sql);
        // PRAGMA takes no bound parameters; the version is our own integer.
        db.exec("PRAGMA user_version = " + std::to_string(step.version));
        tx.commit();
        log::info("schema migrated", {{"version", step.version}, {"name", step.name}});
        ++applied;
    }
    return applied;
}

}  // namespace raydeploy
