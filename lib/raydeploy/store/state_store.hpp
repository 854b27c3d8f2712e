// The state directory: an exclusive lock so one process owns it, and the SQLite store inside it
// (WAL mode, migrated to the newest schema on open).
#pragma once

#include "raydeploy/store/sqlite.hpp"

#include <filesystem>
#include <memory>

namespace raydeploy {

// Holds an advisory lock (flock) on STATE_DIR/raydeploy.lock for its lifetime. The kernel drops
// the lock when the process dies, so a crash never leaves a stale lock behind.
class state_dir_lock {
public:
    // Throws runtime_failure naming the pid of the holder when another process has the lock.
    explicit state_dir_lock(const std::filesystem::path& state_dir);
    state_dir_lock(const state_dir_lock&) = delete;
    state_dir_lock& operator=(const state_dir_lock&) = delete;
    ~state_dir_lock();

private:
    int fd_ = -1;
};

class state_store {
public:
    // Creates the directory if needed, takes the lock, opens raydeploy.db and migrates it.
    // Throws runtime_failure (directory busy, not writable, schema too new) or sqlite::error.
    explicit state_store(const std::filesystem::path& state_dir);

    std::filesystem::path database_file() const { return directory_ / "raydeploy.db"; }
    sqlite::database& db() { return *db_; }
    int schema_version();

private:
    std::filesystem::path directory_;
    state_dir_lock lock_;
    std::unique_ptr<sqlite::database> db_;
};

// Opens a database file with the pragmas the project relies on (WAL, full sync, foreign keys).
std::unique_ptr<sqlite::database> open_database(const std::filesystem::path& file);

}  // namespace raydeploy
