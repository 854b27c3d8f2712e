// WAL checkpoints on a thread of their own.
#include "raydeploy/store/wal_checkpointer.hpp"

#include "raydeploy/metrics/service_metrics.hpp"
#include "raydeploy/util/log.hpp"
#include "raydeploy/util/thread_name.hpp"

#include <boost/asio/post.hpp>

#include <sqlite3.h>

#include <chrono>

namespace raydeploy {

wal_checkpointer::wal_checkpointer(sqlite::database& writer, const std::filesystem::path& database_file, int pages,
                                   int pages_inline_after)
    : writer_{writer}, db_{database_file}, pages_{pages}, pages_inline_after_{pages_inline_after}
{
    auto current = writer_.prepare("PRAGMA wal_autocheckpoint");
    current.step();
    restore_pages_ = static_cast<int>(current.column_int(0));
    // A connection learns that the file is in WAL mode when it first reads it; until then a
    // checkpoint on it is a no-op that reports success.
    auto first_read = db_.prepare("SELECT count(*) FROM sqlite_master");
    first_read.step();
    boost::asio::post(thread_, [] { name_this_thread("wal-checkpoint"); });
    // Replaces SQLite's automatic checkpoint, which is this same hook slot.
    sqlite3_wal_hook(writer_.handle(), &wal_checkpointer::on_commit, this);
}

void wal_checkpointer::watch(sqlite::database& also_writes)
{
    sqlite3_wal_hook(also_writes.handle(), &wal_checkpointer::on_commit, this);
}

wal_checkpointer::~wal_checkpointer()
{
    sqlite3_wal_autocheckpoint(writer_.handle(), restore_pages_);
    thread_.join();
}

int wal_checkpointer::on_commit(void* self, sqlite3* db, const char* schema, int pages)
{
    auto& checkpointer = *static_cast<wal_checkpointer*>(self);
    if (pages >= checkpointer.pages_inline_after_) {
        // What SQLite's own hook does. SQLITE_BUSY (the thread is checkpointing) is fine: the log
        // stays where it is until the next commit tries again.
        sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
        return SQLITE_OK;
    }
    // Commits while a checkpoint is queued or running ask for nothing more: the first commit after
    // it finds out whether the log was copied whole (and starts it again) or needs another.
    if (pages >= checkpointer.pages_ && !checkpointer.queued_.exchange(true))
        boost::asio::post(checkpointer.thread_, [&checkpointer] { checkpointer.checkpoint(); });
    return SQLITE_OK;
}

void wal_checkpointer::checkpoint()
{
    const auto started = std::chrono::steady_clock::now();
    const int rc = sqlite3_wal_checkpoint_v2(db_.handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    if (rc == SQLITE_OK) {
        completed_.fetch_add(1);
        metrics::service_metrics::instance().sqlite_checkpoint.Observe(
            metrics::seconds(std::chrono::steady_clock::now() - started));
        if (failing_) log::info("WAL checkpoints work again");
        failing_ = false;
    } else if (rc != SQLITE_BUSY) {
        metrics::service_metrics::instance().sqlite_checkpoint_failures.Increment();
        // Logged once per run of failures: every commit past the threshold retries, hundreds a second.
        if (!failing_)
            log::warn("WAL checkpoint failed; commits keep retrying it and the writer checkpoints itself past the "
                      "inline limit; check the disk and permissions under the state directory",
                      {{"error", sqlite3_errmsg(db_.handle())}, {"code", rc}});
        failing_ = true;
    }
    queued_.store(false);
}

}  // namespace raydeploy
