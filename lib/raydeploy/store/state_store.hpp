// The state directory: an exclusive lock so one process owns it, and the SQLite store inside it
// (WAL mode, migrated to the newest schema on open).
#pragma once

#include "raydeploy/store/sqlite.hpp"

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace raydeploy {

// Holds an advisory lock (flock) on STATE_DIR/raydeploy.lock for its lifetime. The kernel drops
// the lock when the process dies, so a crash never leaves a stale lock behind.
//
// Beside it, a holder that serves other processes (`raydeploy serve`) publishes its URL in
// STATE_DIR/raydeploy.endpoint, so the CLI run on the same state directory talks to it instead
// of failing on the lock. A separate file, because replacing the lock file by rename (the way to
// write it atomically) would leave the flock on an inode nobody opens any more.
class state_dir_lock {
public:
    // Throws runtime_failure naming the pid of the holder when another process has the lock.
    // Removes an endpoint file a holder that died left behind.
    explicit state_dir_lock(const std::filesystem::path& state_dir);
    state_dir_lock(const state_dir_lock&) = delete;
    state_dir_lock& operator=(const state_dir_lock&) = delete;
    // Withdraws the endpoint, then releases the lock.
    ~state_dir_lock();

    // Writes {"pid": PID, "url": URL} to the endpoint file (a temporary file renamed over it, 0600).
    void publish_endpoint(std::string_view url);
    // Removes the endpoint file if this holder wrote it; safe to call more than once.
    void withdraw_endpoint() noexcept;

private:
    std::filesystem::path directory_;
    int fd_ = -1;
    bool published_ = false;
};

// The service a state directory's endpoint file names, when the process that wrote it still
// holds the lock (the pid in the lock file is its pid, and it is alive).
struct published_endpoint {
    int pid = 0;
    std::string url;
};
std::optional<published_endpoint> find_published_endpoint(const std::filesystem::path& state_dir);

class state_store {
public:
    // Creates the directory if needed, takes the lock, opens raydeploy.db and migrates it.
    // Throws runtime_failure (directory busy, not writable, schema too new) or sqlite::error.
    explicit state_store(const std::filesystem::path& state_dir);

    std::filesystem::path database_file() const { return directory_ / "raydeploy.db"; }
    sqlite::database& db() { return *db_; }
    state_dir_lock& lock() { return lock_; }
    int schema_version();

private:
    std::filesystem::path directory_;
    state_dir_lock lock_;
    std::unique_ptr<sqlite::database> db_;
};

// Opens a database file with the pragmas the project relies on (WAL, full sync, foreign keys).
std::unique_ptr<sqlite::database> open_database(const std::filesystem::path& file);

}  // namespace raydeploy
