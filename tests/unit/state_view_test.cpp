// Suite state_view: what the hot read paths answer from memory equals what SQL says (the newest
// execution of each checkpoint, across any sequence of writes and a restart); the statement cache
// of the SQLite wrapper; and the query plans of the list filters, the event replays and the
// approvals' reads.
#include "raydeploy/catalog/catalog.hpp"
#include "raydeploy/engine/approvals.hpp"
#include "raydeploy/engine/deployments.hpp"
#include "raydeploy/engine/execution_store.hpp"
#include "raydeploy/events/event_bus.hpp"
#include "raydeploy/events/event_log.hpp"
#include "raydeploy/events/stored_events.hpp"
#include "raydeploy/store/audit_log.hpp"
#include "raydeploy/store/state_store.hpp"

#include "support/engine_ground.hpp"
#include "support/test_support.hpp"

#include <boost/test/unit_test.hpp>

#include <sqlite3.h>

#include <cstdio>
#include <functional>
#include <optional>
#include <random>
#include <utility>

using namespace raydeploy;
using test::temp_dir;

namespace {

struct database_fixture {
    temp_dir dir;
    std::unique_ptr<sqlite::database> db = open_migrated();

    std::unique_ptr<sqlite::database> open_migrated() { return test::open_migrated_database(dir.path() / "state.db"); }

    // SQL's answer to "the newest execution of the checkpoint": id, status, has a report.
    std::optional<std::tuple<std::string, std::string, bool>> newest_in_sql(const std::string& checkpoint)
    {
        auto query = db->prepare("SELECT id, status, (report IS NOT NULL OR report_markdown IS NOT NULL) FROM executions "
                                 "WHERE checkpoint = ? ORDER BY rowid DESC LIMIT 1");
        query.bind(1, checkpoint);
        if (!query.step()) return std::nullopt;
        return std::tuple{query.column_text(0), query.column_text(1), query.column_int(2) != 0};
    }

    // The plan SQLite chooses for `sql` (its parameters left unbound: NULL), one detail a line.
    std::string plan(const std::string& sql)
    {
        auto query = db->prepare("EXPLAIN QUERY PLAN " + sql);
        std::string details;
        while (query.step()) details += query.column_text(3) + "\n";
        return details;
    }
};

const std::vector<std::string> checkpoints = {"prerequisites", "install", "deploy", "validate"};

// How many instructions of SQLite's virtual machine `run` takes on `db`: a walk over thousands of
// rows takes a hundred thousand or more, a few index seeks a few hundred.
std::int64_t vm_instructions(sqlite::database& db, const std::function<void()>& run)
{
    std::int64_t instructions = 0;
    sqlite3_progress_handler(
        db.handle(), 1,
        [](void* count) {
            ++*static_cast<std::int64_t*>(count);
            return 0;
        },
        &instructions);
    run();
    sqlite3_progress_handler(db.handle(), 0, nullptr, nullptr);
    return instructions;
}

// A default `Filter` (execution_filter, deployment_filter, audit_filter) with `change` applied.
template <typename Filter, typename Change>
Filter filter_with(Change change)
{
    Filter made;
    change(made);
    return made;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(state_view)

BOOST_AUTO_TEST_CASE(the_newest_execution_per_checkpoint_equals_sql_after_any_writes_and_a_restart)
{
    database_fixture f;
    std::mt19937 random{20261204};
    const std::vector<execution_status> statuses = {execution_status::queued,    execution_status::running,
                                                    execution_status::succeeded, execution_status::failed,
                                                    execution_status::cancelled, execution_status::interrupted};
    auto compare = [&](execution_store& store, int step) {
        for (const auto& checkpoint : checkpoints) {
            const auto expected = f.newest_in_sql(checkpoint);
            const execution_record* kept = store.latest(checkpoint);
            BOOST_TEST_REQUIRE(bool(kept) == bool(expected), "step " << step << " " << checkpoint);
            if (!kept) continue;
            BOOST_TEST(kept->id == std::get<0>(*expected), "step " << step);
            BOOST_TEST(std::string{to_string(kept->status)} == std::get<1>(*expected), "step " << step);
            BOOST_TEST(kept->has_report == std::get<2>(*expected), "step " << step);
            // The whole row, not only the columns above.
            BOOST_TEST(kept->rowid == store.get(kept->id)->rowid);
            BOOST_TEST(kept->status_reason.value_or("") == store.get(kept->id)->status_reason.value_or(""));
        }
    };

    auto store = std::make_unique<execution_store>(*f.db);
    std::vector<execution_record> written;
    for (int step = 0; step < 400; ++step) {
        // Asked for the first time part-way through: loading from SQL and keeping up both count.
        if (step == 25) compare(*store, step);
        const auto before = store->generation();
        const int action = static_cast<int>(random() % 10);
        if (written.empty() || action < 3) {
            execution_record record;
            record.id = "ex-" + std::to_string(step);
            record.checkpoint = checkpoints[random() % checkpoints.size()];
            record.created_at = "2026-12-04T10:00:00.000Z";
            store->insert(record);
            written.push_back(record);
        } else if (action < 8) {
            // Any earlier run changes, the newest or not (a run that ends after a later one began).
            auto& record = written[random() % written.size()];
            record.status = statuses[random() % statuses.size()];
            record.status_reason = "step " + std::to_string(step);
            // The engine's copy never knows about a report saved through save_report.
            record.has_report = false;
            store->update(record);
        } else {
            const auto& record = written[random() % written.size()];
            execution_report report;
            if (action == 8) report.markdown = "# report " + std::to_string(step);  // action 9: an empty one
            store->save_report(record.id, report);
        }
        BOOST_TEST(store->generation() > before);
        if (step > 25) compare(*store, step);
    }

    // A restart: a new store over the same file.
    store = std::make_unique<execution_store>(*f.db);
    compare(*store, -1);
    BOOST_TEST(store->latest("never-ran") == nullptr);
}

BOOST_AUTO_TEST_CASE(a_statement_returns_to_the_cache_reset_and_the_same_text_twice_at_once_gets_two)
{
    database_fixture f;
    f.db->exec("CREATE TABLE numbers (n INTEGER); INSERT INTO numbers VALUES (1), (2), (3);");
    {
        auto first = f.db->prepare("SELECT ?1");
        first.bind(1, std::int64_t{42});
        BOOST_TEST_REQUIRE(first.step());
        BOOST_TEST(first.column_int(0) == 42);
    }
    {
        // The same text again, from the cache: no binding, no row left from before.
        auto again = f.db->prepare("SELECT ?1");
        BOOST_TEST_REQUIRE(again.step());
        BOOST_TEST(again.column_is_null(0));
    }
    // Nested use of one text: the outer iteration is not disturbed by the inner one.
    const std::string each = "SELECT n FROM numbers ORDER BY n";
    auto outer = f.db->prepare(each);
    std::vector<std::int64_t> pairs;
    while (outer.step()) {
        auto inner = f.db->prepare(each);
        while (inner.step()) pairs.push_back(outer.column_int(0) * 10 + inner.column_int(0));
    }
    BOOST_TEST(pairs == (std::vector<std::int64_t>{11, 12, 13, 21, 22, 23, 31, 32, 33}), boost::test_tools::per_element());
    BOOST_CHECK_THROW(f.db->prepare("SELECT FROM nowhere"), sqlite::error);
}

BOOST_AUTO_TEST_CASE(a_statement_may_outlive_its_database)
{
    temp_dir dir;
    auto db = open_database(dir.path() / "state.db");
    auto statement = std::make_unique<sqlite::statement>(db->prepare("SELECT 1"));
    BOOST_TEST(statement->step());
    db.reset();         // closes once the statement is finalized
    statement.reset();  // finalized, not returned to a cache that is gone
}

BOOST_AUTO_TEST_CASE(every_list_filter_and_replay_reads_a_page_off_an_index)
{
    database_fixture f;
    // Enough rows that SQLite's planner weighs its choices as it would in a real store.
    f.db->exec("BEGIN");
    auto insert = f.db->prepare("INSERT INTO executions (id, checkpoint, status, created_at) VALUES (?, ?, ?, ?)");
    for (int i = 0; i < 5000; ++i) {
        insert.reset();
        insert.bind(1, "ex-" + std::to_string(i))
            .bind(2, checkpoints[static_cast<std::size_t>(i) % checkpoints.size()])
            .bind(3, i % 7 == 0 ? "failed" : "succeeded")
            .bind(4, "2026-12-04T10:00:00.000Z");
        insert.step();
    }
    f.db->exec("COMMIT");

    struct expectation {
        std::string what;
        execution_filter filter;
        std::string index;  // the index the page is read from
    };
    const auto filter = [](auto change) { return filter_with<execution_filter>(change); };
    const std::vector<expectation> equality = {
        {"checkpoint", filter([](auto& x) { x.checkpoint = "deploy"; }), "executions_by_checkpoint (checkpoint=?)"},
        {"status", filter([](auto& x) { x.status = execution_status::failed; }), "executions_by_status (status=?)"},
        {"checkpoint and status", filter([](auto& x) {
             x.checkpoint = "deploy";
             x.status = execution_status::failed;
         }),
         "executions_by_checkpoint_status (checkpoint=? AND status=?)"},
        {"checkpoint, next page", filter([](auto& x) {
             x.checkpoint = "deploy";
             x.before_rowid = 100;
         }),
         "executions_by_checkpoint (checkpoint=? AND rowid<?)"},
        {"status, next page", filter([](auto& x) {
             x.status = execution_status::failed;
             x.before_rowid = 100;
         }),
         "executions_by_status (status=? AND rowid<?)"},
    };
    for (const auto& item : equality) {
        const auto details = f.plan(execution_list_sql(item.filter));
        BOOST_TEST(details.find("USING INDEX " + item.index) != std::string::npos, item.what << ":\n" << details);
        // Already in rowid order: no page sorts all the checkpoint's (or status's) runs first.
        BOOST_TEST(details.find("TEMP B-TREE") == std::string::npos, item.what << ":\n" << details);
    }
    // Newest first with no filter, or the next page of it: the table in rowid order.
    BOOST_TEST(f.plan(execution_list_sql(filter([](auto& x) { x.before_rowid = 100; })))
                   .find("USING INTEGER PRIMARY KEY (rowid<?)") != std::string::npos);
    // A time window: its rows through the index on created_at (then sorted: a window is bounded).
    const auto window = f.plan(execution_list_sql(filter([](auto& x) {
        x.created_after = "2026-12-01T00:00:00.000Z";
        x.created_before = "2026-12-02T00:00:00.000Z";
    })));
    BOOST_TEST(window.find("USING INDEX executions_by_created") != std::string::npos, window);

    // The event replays: since=<seq> through the primary key, an execution's events through
    // (execution_id, counter).
    net::io_context io;
    event_bus bus{io.get_executor(), 1024 * 1024};
    event_log log{io.get_executor(), *f.db, bus};
    stored_events reader{*f.db};
    const auto since = reader.read_query(100, 200, event_filter{}, 500);
    BOOST_TEST(f.plan(since.sql).find("USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)") != std::string::npos,
               f.plan(since.sql));
    const auto by_execution = f.plan(
        "SELECT seq, type, execution_id, payload FROM events WHERE execution_id = ? AND counter > ? ORDER BY counter LIMIT ?");
    BOOST_TEST(by_execution.find("USING INDEX events_by_execution (execution_id=? AND counter>?)") != std::string::npos,
               by_execution);
}

BOOST_AUTO_TEST_CASE(type_prefixes_are_resolved_without_walking_other_types_events)
{
    // Resolving "execution.*" to stored types must seek through the type index, not walk the
    // many events of the types that sort before it: a replay does this once per page.
    database_fixture f;
    net::io_context io;
    event_bus bus{io.get_executor(), 1024 * 1024};
    event_log log{io.get_executor(), *f.db, bus};
    stored_events reader{*f.db};
    {
        sqlite::transaction tx{*f.db};
        auto insert = f.db->prepare("INSERT INTO events (type, created, payload) VALUES (?, 't', '{}')");
        for (int i = 0; i < 20000; ++i) {
            insert.reset();
            insert.bind(1, i % 2 ? std::string{"ansible.runner_on_ok"} : std::string{"ansible.runner_on_start"});
            insert.step();
        }
        for (const char* type : {"execution.done", "execution.status"}) {
            insert.reset();
            insert.bind(1, std::string{type});
            insert.step();
        }
        tx.commit();
    }
    // SQLite's virtual machine instructions run while the query is built: a walk over 20,000 index
    // entries takes well over 100,000 of them, a few seeks a few hundred.
    event_query query;
    const event_filter types{std::nullopt, {"execution.*", "zzz.*"}};
    const std::int64_t instructions =
        vm_instructions(*f.db, [&] { query = reader.read_query(0, 100000, types, 500); });
    BOOST_TEST(instructions < 2000, instructions << " instructions");
    // It names exactly the stored execution types.
    std::vector<std::string> named;
    for (const auto& param : query.params)
        if (const auto* text = std::get_if<std::string>(&param)) named.push_back(*text);
    BOOST_TEST((named == std::vector<std::string>{"execution.done", "execution.status"}));
    BOOST_TEST(reader.read(0, 100000, event_filter{std::nullopt, {"execution.*"}}, 500).size() == 2u);
    BOOST_TEST(reader.read(0, 100000, event_filter{std::nullopt, {"ansible.runner_on_s*"}}, 50000).size() == 10000u);
}

BOOST_AUTO_TEST_CASE(approval_reads_walk_none_of_the_history)
{
    // Every approval ever asked for stays in the table. The approvals page, a checkpoint's approval
    // state, the expiry the service runs every second and retention read the few open ones, a
    // checkpoint's newest decision or a run's: through an index, not a walk over the 20,000
    // decided ones.
    test::engine_ground g;
    const checkpoint_catalog catalog{g.dir.path() / "catalog.yaml", {}};
    approval_manager approvals{catalog, *g.db, g.events, approval_policy{}};
    const auto stamp = [](int second) {
        char text[32];
        std::snprintf(text, sizeof text, "2026-01-%02dT%02d:%02d:%02d.000Z", 1 + second / 86400, second / 3600 % 24,
                      second / 60 % 60, second % 60);
        return std::string{text};
    };
    {
        sqlite::transaction tx{*g.db};
        auto insert = g.db->prepare("INSERT INTO approvals (id, checkpoint, state, created_at, decided_at, params) "
                                    "VALUES (?, ?, ?, ?, ?, '{}')");
        for (int i = 0; i < 20000; ++i) {
            insert.reset();
            insert.bind(1, "ap-" + std::to_string(i))
                .bind(2, std::string{i % 2 ? "deploy" : "cleanup"})
                .bind(3, std::string{i % 3 ? "consumed" : "denied"})
                .bind(4, stamp(i))
                .bind(5, stamp(i + 30));
            insert.step();
        }
        g.db->exec("INSERT INTO approvals (id, checkpoint, state, created_at, params) "
                   "VALUES ('ap-open', 'deploy', 'pending', '2026-12-01T00:00:00.000Z', '{}')");
        g.db->exec("INSERT INTO approvals (id, checkpoint, state, created_at, granted_at, expires_at, params) VALUES "
                   "('ap-grant', 'deploy', 'granted', '2026-12-01T00:00:00.000Z', '2026-12-01T00:00:01.000Z', "
                   "'2999-01-01T00:00:00.000Z', '{}')");
        g.db->exec("INSERT INTO executions (id, checkpoint, status, created_at) "
                   "VALUES ('ex-1', 'deploy', 'succeeded', '2026-12-01T00:00:02.000Z')");
        g.db->exec("INSERT INTO approvals (id, checkpoint, state, created_at, decided_at, execution_id, params) VALUES "
                   "('ap-used', 'deploy', 'consumed', '2026-12-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', 'ex-1', "
                   "'{}')");
        tx.commit();
    }
    std::size_t pending = 0, grants = 0, checkpoint_pending = 0, checkpoint_grants = 0;
    std::int64_t unlinked = 0;
    std::optional<approval_record> last;
    const std::pair<const char*, std::function<void()>> reads[] = {
        {"all_pending", [&] { pending = approvals.all_pending().size(); }},
        {"all_live_grants", [&] { grants = approvals.all_live_grants().size(); }},
        {"expire_due", [&] { approvals.expire_due(); }},
        {"pending_requests", [&] { checkpoint_pending = approvals.pending_requests("deploy").size(); }},
        {"live_grants", [&] { checkpoint_grants = approvals.live_grants("deploy").size(); }},
        {"last_decision", [&] { last = approvals.last_decision("deploy"); }},
        // As retention unlinks the approvals of a run it removes (retention.cpp).
        {"retention's unlink",
         [&] {
             g.db->prepare("UPDATE approvals SET execution_id = NULL WHERE execution_id = ?").bind(1, "ex-1").step();
             unlinked = g.db->changes();
         }},
    };
    for (const auto& [what, read] : reads) {
        const std::int64_t instructions = vm_instructions(*g.db, read);
        BOOST_TEST(instructions < 2000, what << ": " << instructions << " instructions");
    }
    BOOST_TEST(pending == 1u);
    BOOST_TEST(grants == 1u);
    BOOST_TEST(checkpoint_pending == 1u);
    BOOST_TEST(checkpoint_grants == 1u);
    BOOST_TEST_REQUIRE(last.has_value());
    BOOST_TEST(last->id == "ap-19999");
    BOOST_TEST(unlinked == 1);
}

BOOST_AUTO_TEST_CASE(the_deployment_and_audit_lists_read_a_page_off_an_index)
{
    database_fixture f;
    // 5,000 deployments of two checkpoints each out of ten, every seventh failed; 20,000 audit rows
    // from four actors, one of which ("rare") wrote a single row long ago, of its own action and outcome.
    {
        sqlite::transaction tx{*f.db};
        f.db->exec(R"sql(WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 4999)
            INSERT INTO deployments (id, status, checkpoints, steps, requested_by, created_at)
            SELECT 'dp-' || i, CASE WHEN i % 7 = 0 THEN 'failed' ELSE 'succeeded' END,
                   json_array('c' || (i % 10), 'c' || ((i + 3) % 10)), '[]', 'ci', '2026-12-04T10:00:00.000Z'
            FROM n)sql");
        // As deployment_manager::insert and the migration to version 14 write them.
        f.db->exec("INSERT INTO deployment_checkpoints (checkpoint, deployment_rowid) "
                   "SELECT json_each.value, deployments.rowid FROM deployments, json_each(deployments.checkpoints)");
        tx.commit();
    }
    const auto filter = [](auto change) { return filter_with<deployment_filter>(change); };
    const std::pair<const char*, deployment_filter> paged[] = {
        {"checkpoint", filter([](auto& x) { x.checkpoint = "c4"; })},
        {"checkpoint, next page", filter([](auto& x) {
             x.checkpoint = "c4";
             x.before_rowid = 4000;
         })},
        {"checkpoint and status", filter([](auto& x) {
             x.checkpoint = "c4";
             x.status = deployment_status::failed;
         })},
    };
    for (const auto& [what, item] : paged) {
        const auto details = f.plan(deployment_list_sql(item));
        const std::string key = item.before_rowid ? "(checkpoint=? AND deployment_rowid<?)" : "(checkpoint=?)";
        BOOST_TEST(details.find("SEARCH deployment_checkpoints USING PRIMARY KEY " + key) != std::string::npos,
                   what << ":\n" << details);
        BOOST_TEST(details.find("SEARCH deployments USING INTEGER PRIMARY KEY (rowid=?)") != std::string::npos,
                   what << ":\n" << details);
        // The checkpoint's deployments newest first as the key holds them: no page sorts them all.
        BOOST_TEST(details.find("TEMP B-TREE") == std::string::npos, what << ":\n" << details);
        BOOST_TEST(details.find("SCAN") == std::string::npos, what << ":\n" << details);
    }
    const auto status_page = f.plan(deployment_list_sql(filter([](auto& x) {
        x.status = deployment_status::failed;
        x.before_rowid = 4000;
    })));
    BOOST_TEST(status_page.find("USING INDEX deployments_by_status (status=? AND rowid<?)") != std::string::npos,
               status_page);
    const auto window = f.plan(deployment_list_sql(filter([](auto& x) {
        x.created_after = "2026-12-01T00:00:00.000Z";
        x.created_before = "2026-12-02T00:00:00.000Z";
    })));
    BOOST_TEST(window.find("USING INDEX deployments_by_created") != std::string::npos, window);

    audit_log audit{*f.db};
    {
        sqlite::transaction tx{*f.db};
        const auto record = [&](std::string at, std::string actor, std::string action, std::string outcome) {
            audit_entry entry;
            entry.at = std::move(at);
            entry.actor = std::move(actor);
            entry.action = std::move(action);
            entry.outcome = std::move(outcome);
            audit.record(std::move(entry));
        };
        record("2026-01-01T00:00:00.000Z", "rare", "token.rotate", "FOUR_EYES");
        for (int i = 0; i < 20000; ++i)
            record("2026-12-01T00:00:00.000Z", "ci-" + std::to_string(i % 3),
                   i % 2 ? "execution.start" : "approval.grant", i % 5 ? "succeeded" : "FORBIDDEN");
        tx.commit();
    }
    std::size_t found = 0;
    const auto audit_filtered = [](auto change) { return filter_with<audit_filter>(change); };
    const std::pair<const char*, audit_filter> audit_reads[] = {
        {"actor", audit_filtered([](auto& x) { x.actor = "rare"; })},
        {"action", audit_filtered([](auto& x) { x.action = "token.rotate"; })},
        {"action prefix", audit_filtered([](auto& x) { x.action_prefix = "token."; })},
        {"outcome", audit_filtered([](auto& x) { x.outcome = "FOUR_EYES"; })},
        {"time window", audit_filtered([](auto& x) {
             x.after = "2025-12-31T00:00:00.000Z";
             x.before = "2026-01-02T00:00:00.000Z";
         })},
    };
    // The lambda captures `chosen`: clang 14 (the sanitized build) cannot capture a structured binding.
    for (const auto& [what, read] : audit_reads) {
        const audit_filter& chosen = read;
        const std::int64_t instructions = vm_instructions(*f.db, [&] { found = audit.list(chosen).size(); });
        BOOST_TEST(found == 1u, what);
        BOOST_TEST(instructions < 2000, what << ": " << instructions << " instructions");
    }
}

BOOST_AUTO_TEST_SUITE_END()
