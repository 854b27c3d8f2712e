// Moves the store's WAL checkpoints off the thread that writes. SQLite's own automatic checkpoint
// runs inside the COMMIT that takes the write-ahead log past 1,000 pages: that commit copies
// about 16 MB (4 MB with an older store's 4 KiB pages) back into the database file. For the
// service, that commit is an event batch on the io thread. It took about a tenth of the io
// thread's time in the event benchmark, and while it ran every request, subscriber and incoming
// event waited.
//
// The checkpointer turns the writer's automatic checkpoint off and runs the same PASSIVE
// checkpoint on a thread and a connection of its own once the log passes `pages`. A passive
// checkpoint never blocks the writer or a reader: it copies what no reader still needs, and the
// writer starts the log again from the beginning once all of it was copied. If the log still
// reaches `pages_inline_after` (the thread cannot keep up, or a checkpoint fails), the writer
// checkpoints in its commit again, as SQLite would, so the log stays bounded.
//
// @par Thread safety
// Construct and destroy on the writer's thread. The hook runs on the thread of the connection
// that commits (the writer's or a watched one's); the checkpoints run on the checkpointer's thread.
#pragma once

#include "raydeploy/store/sqlite.hpp"

#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <cstdint>
#include <filesystem>

namespace raydeploy {

class wal_checkpointer {
public:
    // `writer` must be the connection that writes, open on `database_file` in WAL mode.
    wal_checkpointer(sqlite::database& writer, const std::filesystem::path& database_file, int pages = 1000,
                     int pages_inline_after = 8000);
    wal_checkpointer(const wal_checkpointer&) = delete;
    wal_checkpointer& operator=(const wal_checkpointer&) = delete;
    // Gives the writer its automatic checkpoint back (as it was) and waits for a checkpoint in progress.
    ~wal_checkpointer();

    // Another connection that writes to the same file (the event store thread's): its commits
    // checkpoint through this one too, never inline below pages_inline_after. It must be closed
    // before the checkpointer is destroyed, and not in use while this is called.
    void watch(sqlite::database& also_writes);

    // Checkpoints run on the checkpointer's thread so far.
    std::uint64_t completed() const { return completed_.load(); }

private:
    static int on_commit(void* self, struct sqlite3* db, const char* schema, int pages);
    void checkpoint();

    sqlite::database& writer_;
    sqlite::database db_;  // used on thread_ only
    int pages_;
    int pages_inline_after_;
    int restore_pages_ = 1000;  // the writer's automatic checkpoint before this one took over
    std::atomic<bool> queued_{false};
    bool failing_ = false;  // on thread_ only: the last checkpoint failed and was logged
    std::atomic<std::uint64_t> completed_{0};
    boost::asio::thread_pool thread_{1};
};

}  // namespace raydeploy
