// WAL checkpoints off the writer's thread (store/wal_checkpointer.hpp).
#include "raydeploy/store/state_store.hpp"
#include "raydeploy/store/wal_checkpointer.hpp"

#include "support/faulty_vfs.hpp"
#include "support/test_support.hpp"

#include <boost/test/unit_test.hpp>

#include <sqlite3.h>

#include <chrono>
#include <thread>

namespace fs = std::filesystem;
using raydeploy::wal_checkpointer;

namespace {

std::int64_t pragma(raydeploy::sqlite::database& db, const std::string& name)
{
    auto query = db.prepare("PRAGMA " + name);
    query.step();
    return query.column_int(0);
}

// A store file in WAL mode, opened as the service opens its own.
struct wal_store {
    raydeploy::test::temp_dir dir;
    fs::path file = dir.path() / "store.db";
    std::unique_ptr<raydeploy::sqlite::database> db = raydeploy::open_database(file);
    std::uintmax_t frame_bytes = 0;

    wal_store()
    {
        db->exec("CREATE TABLE blobs (data BLOB NOT NULL)");
        frame_bytes = static_cast<std::uintmax_t>(pragma(*db, "page_size")) + 24;  // a WAL frame's header
    }

    // `commits` commits of a 16 KB row each: four or five pages of log a commit.
    void write(int commits)
    {
        for (int i = 0; i < commits; ++i) db->exec("INSERT INTO blobs (data) VALUES (randomblob(16000))");
    }

    std::uintmax_t database_bytes() const { return fs::file_size(file); }
    std::uintmax_t log_bytes() const { return fs::file_size(file.string() + "-wal"); }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(wal_checkpoints)

BOOST_AUTO_TEST_CASE(the_checkpointer_copies_the_log_back_on_its_own_thread)
{
    wal_store store;
    const auto before = store.database_bytes();
    wal_checkpointer checkpointer{*store.db, store.file, 64, 1'000'000};
    // The writer's own automatic checkpoint is off while the checkpointer holds the hook.
    BOOST_TEST(pragma(*store.db, "wal_autocheckpoint") == 0);

    store.write(100);  // about 450 pages: SQLite's own checkpoint would wait for 1,000
    for (int i = 0; i < 500 && checkpointer.completed() == 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds{10});
    BOOST_TEST_REQUIRE(checkpointer.completed() > 0u);
    // The pages it copied are in the database file; the writer copied none (its threshold is far).
    // The first checkpoint may run as soon as the log passes 64 frames, and frames repeat pages
    // (the table's root is in every commit), so it may have copied fewer than 64 distinct pages.
    BOOST_TEST(store.database_bytes() > before);

    auto count = store.db->prepare("SELECT count(*) FROM blobs");
    count.step();
    BOOST_TEST(count.column_int(0) == 100);
}

BOOST_AUTO_TEST_CASE(the_writer_checkpoints_itself_when_the_log_outgrows_the_limit)
{
    wal_store store;
    const auto before = store.database_bytes();
    wal_checkpointer checkpointer{*store.db, store.file, 1'000'000, 64};

    store.write(100);
    BOOST_TEST(checkpointer.completed() == 0u);
    BOOST_TEST(store.database_bytes() > before + 64 * store.frame_bytes);
    // Each checkpoint copied the whole log, so the next commit wrote it from the start again: the
    // file never held much more than the limit and one commit.
    BOOST_TEST(store.log_bytes() <= 32 + (64 + 8) * store.frame_bytes);
}

BOOST_AUTO_TEST_CASE(the_writer_gets_its_automatic_checkpoint_back_as_it_was)
{
    wal_store store;
    store.db->exec("PRAGMA wal_autocheckpoint = 50");
    {
        wal_checkpointer checkpointer{*store.db, store.file};
        BOOST_TEST(pragma(*store.db, "wal_autocheckpoint") == 0);
    }
    BOOST_TEST(pragma(*store.db, "wal_autocheckpoint") == 50);
    store.write(100);
    BOOST_TEST(store.log_bytes() <= 32 + (50 + 8) * store.frame_bytes);
}

BOOST_AUTO_TEST_CASE(a_failing_checkpoint_is_reported_once_and_the_store_commits_on)
{
    raydeploy::test::faulty_vfs disk;  // before the store, which opens through it
    wal_store store;
    const auto before = store.database_bytes();
    wal_checkpointer checkpointer{*store.db, store.file, 64, 1'000'000};
    raydeploy::test::stderr_capture log{store.dir.path() / "stderr.txt"};

    // Commits write only to the log, so they go on; checkpoints write to the database file.
    disk.fail_writes(raydeploy::test::faulty_vfs::file_kind::database, SQLITE_IOERR_WRITE);
    int written = 0;
    const auto write = [&](int commits) {
        store.write(commits);
        written += commits;
    };
    write(100);
    for (int i = 0; i < 500 && disk.failed_writes() < 3; ++i) {
        write(5);  // every commit past the threshold asks for another checkpoint
        std::this_thread::sleep_for(std::chrono::milliseconds{2});
    }
    BOOST_TEST_REQUIRE(disk.failed_writes() >= 3);  // checkpoints were tried, and failed, again and again
    BOOST_TEST(checkpointer.completed() == 0u);
    BOOST_TEST(store.database_bytes() == before);

    disk.heal();
    for (int i = 0; i < 500 && checkpointer.completed() == 0; ++i) {
        write(1);
        std::this_thread::sleep_for(std::chrono::milliseconds{10});
    }
    const std::string logged = log.text();
    BOOST_TEST_REQUIRE(checkpointer.completed() > 0u);
    BOOST_TEST(store.database_bytes() > before);
    BOOST_TEST(raydeploy::test::occurrences(logged, "WAL checkpoint failed") == 1u, logged);
    BOOST_TEST(logged.find("check the disk") != std::string::npos);
    BOOST_TEST(raydeploy::test::occurrences(logged, "WAL checkpoints work again") == 1u, logged);

    auto count = store.db->prepare("SELECT count(*) FROM blobs");
    count.step();
    BOOST_TEST(count.column_int(0) == written);
}

BOOST_AUTO_TEST_SUITE_END()
