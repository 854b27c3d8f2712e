// Schema migrations and state directory ownership.
#include "raydeploy/store/migrations.hpp"
#include "raydeploy/store/state_store.hpp"
#include "raydeploy/util/errors.hpp"

#include "support/test_support.hpp"

#include <boost/test/unit_test.hpp>

using raydeploy::migrate;
using raydeploy::open_database;
using raydeploy::schema_migrations;
using raydeploy::schema_version;
using raydeploy::test::temp_dir;

namespace {

int newest_version() { return schema_migrations().back().version; }

bool table_exists(raydeploy::sqlite::database& db, const std::string& name)
{
    auto query = db.prepare("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?");
    query.bind(1, name);
    query.step();
    return query.column_int(0) == 1;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(migrations)

BOOST_AUTO_TEST_CASE(versions_are_numbered_without_gaps)
{
    int expected = 1;
    for (const auto& step : schema_migrations()) BOOST_TEST(step.version == expected++);
}

BOOST_AUTO_TEST_CASE(fresh_database_reaches_the_newest_schema)
{
    temp_dir dir;
    auto db = open_database(dir.path() / "fresh.db");
    BOOST_TEST(migrate(*db, schema_migrations()) == newest_version());
    BOOST_TEST(schema_version(*db) == newest_version());
    for (const char* table : {"executions", "events", "approvals", "audit"}) BOOST_TEST(table_exists(*db, table));
    // Applying again is a no-op.
    BOOST_TEST(migrate(*db, schema_migrations()) == 0);
}

BOOST_AUTO_TEST_CASE(an_older_schema_upgrades_and_keeps_its_rows)
{
    temp_dir dir;
    const auto file = dir.path() / "old.db";
    {
        // A database as the first release left it, with data in it.
        auto db = open_database(file);
        migrate(*db, schema_migrations().first(1));
        BOOST_TEST(schema_version(*db) == 1);
        BOOST_TEST(!table_exists(*db, "approvals"));
        db->exec("INSERT INTO executions (id, checkpoint, status, created_at) "
                 "VALUES ('e1', 'prerequisites-check', 'succeeded', '2026-01-01T00:00:00.000Z')");
        db->exec("INSERT INTO events (type, created, execution_id, counter, payload) "
                 "VALUES ('execution.done', '2026-01-01T00:00:01.000Z', 'e1', 1, '{}')");
    }
    auto db = open_database(file);
    BOOST_TEST(migrate(*db, schema_migrations()) == newest_version() - 1);
    BOOST_TEST(schema_version(*db) == newest_version());
    BOOST_TEST(table_exists(*db, "approvals"));
    auto rows = db->prepare("SELECT e.status, count(v.seq) FROM executions e JOIN events v ON v.execution_id = e.id");
    BOOST_TEST_REQUIRE(rows.step());
    BOOST_TEST(rows.column_text(0) == "succeeded");
    BOOST_TEST(rows.column_int(1) == 1);
}

BOOST_AUTO_TEST_CASE(the_deployments_before_version_14_are_found_by_checkpoint_after_it)
{
    temp_dir dir;
    auto db = open_database(dir.path() / "deployments.db");
    migrate(*db, schema_migrations().first(13));
    db->exec(R"sql(INSERT INTO deployments (id, status, checkpoints, steps, requested_by, created_at) VALUES
        ('dp-1', 'succeeded', '["prerequisites-check","install-ray"]', '[]', 'ci', '2026-01-01T00:00:00.000Z'),
        ('dp-2', 'failed', '["install-ray"]', '[]', 'ci', '2026-01-02T00:00:00.000Z'),
        ('dp-3', 'succeeded', '[]', '[]', 'ci', '2026-01-03T00:00:00.000Z'))sql");
    BOOST_TEST(migrate(*db, schema_migrations()) == newest_version() - 13);
    auto pairs = db->prepare("SELECT group_concat(checkpoint || ':' || id, ' ') FROM (SELECT checkpoint, id FROM "
                             "deployment_checkpoints JOIN deployments ON deployments.rowid = deployment_rowid "
                             "ORDER BY checkpoint, deployment_rowid)");
    BOOST_TEST_REQUIRE(pairs.step());
    BOOST_TEST(pairs.column_text(0) == "install-ray:dp-1 install-ray:dp-2 prerequisites-check:dp-1");
}

BOOST_AUTO_TEST_CASE(a_failing_migration_leaves_the_previous_version)
{
    temp_dir dir;
    auto db = open_database(dir.path() / "broken.db");
    const raydeploy::migration steps[] = {
        {1, "good", "CREATE TABLE a (x INTEGER);"},
        {2, "bad", "CREATE TABLE b (y INTEGER); INSERT INTO no_such_table VALUES (1);"},
    };
    BOOST_CHECK_THROW(migrate(*db, steps), raydeploy::sqlite::error);
    BOOST_TEST(schema_version(*db) == 1);
    BOOST_TEST(!table_exists(*db, "b"));  // the half-applied step was rolled back
}

BOOST_AUTO_TEST_CASE(a_newer_database_is_refused)
{
    temp_dir dir;
    auto db = open_database(dir.path() / "future.db");
    db->exec("PRAGMA user_version = 999");
    try {
        migrate(*db, schema_migrations());
        BOOST_FAIL("a database from a newer raydeploy must be refused");
    } catch (const raydeploy::runtime_failure& e) {
        BOOST_TEST(std::string{e.what()}.find("schema version 999, newer than this raydeploy supports") != std::string::npos);
    }
}

BOOST_AUTO_TEST_CASE(store_uses_wal_and_migrates_on_open)
{
    temp_dir dir;
    raydeploy::state_store store{dir.path() / "state"};
    BOOST_TEST(store.schema_version() == newest_version());
    auto mode = store.db().prepare("PRAGMA journal_mode");
    mode.step();
    BOOST_TEST(mode.column_text(0) == "wal");
    BOOST_TEST(std::filesystem::exists(dir.path() / "state/raydeploy.db"));
}

BOOST_AUTO_TEST_CASE(a_new_store_has_16_kib_pages_and_an_older_one_keeps_its_own)
{
    const auto page_size = [](raydeploy::sqlite::database& db) {
        auto query = db.prepare("PRAGMA page_size");
        query.step();
        return query.column_int(0);
    };
    temp_dir dir;
    auto fresh = open_database(dir.path() / "fresh.db");
    migrate(*fresh, schema_migrations());
    BOOST_TEST(page_size(*fresh) == 16384);

    const auto file = dir.path() / "older.db";
    {
        // As a release before 16 KiB pages made it: SQLite's default page size.
        raydeploy::sqlite::database db{file};
        db.exec("PRAGMA journal_mode = WAL");
        migrate(db, schema_migrations());
        db.exec("INSERT INTO executions (id, checkpoint, status, created_at) "
                "VALUES ('e1', 'prerequisites-check', 'succeeded', '2026-01-01T00:00:00.000Z')");
        BOOST_TEST(page_size(db) == 4096);
    }
    auto older = open_database(file);
    BOOST_TEST(migrate(*older, schema_migrations()) == 0);
    BOOST_TEST(page_size(*older) == 4096);
    auto rows = older->prepare("SELECT count(*) FROM executions");
    rows.step();
    BOOST_TEST(rows.column_int(0) == 1);
}

BOOST_AUTO_TEST_CASE(one_owner_per_state_directory)
{
    temp_dir dir;
    const auto state = dir.path() / "state";
    {
        raydeploy::state_store first{state};
        try {
            raydeploy::state_store second{state};
            BOOST_FAIL("a second owner must be refused");
        } catch (const raydeploy::runtime_failure& e) {
            const std::string message = e.what();
            BOOST_TEST(message.find("is in use by another raydeploy process (pid " + std::to_string(::getpid()) + ")") !=
                       std::string::npos);
            BOOST_TEST(message.find("choose another --state-dir") != std::string::npos);
        }
    }
    // Released with its owner.
    BOOST_CHECK_NO_THROW(raydeploy::state_store{state});
}

BOOST_AUTO_TEST_CASE(audit_rows_are_append_only)
{
    temp_dir dir;
    raydeploy::state_store store{dir.path() / "state"};
    store.db().exec("INSERT INTO audit (at, actor, action, outcome) VALUES ('t', 'local', 'test', 'ok')");
    BOOST_CHECK_THROW(store.db().exec("UPDATE audit SET outcome = 'changed'"), raydeploy::sqlite::error);
    BOOST_CHECK_THROW(store.db().exec("DELETE FROM audit"), raydeploy::sqlite::error);
}

BOOST_AUTO_TEST_SUITE_END()
