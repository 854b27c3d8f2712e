// State directory ownership and store opening.
#include "raydeploy/store/state_store.hpp"

#include "raydeploy/store/migrations.hpp"
#include "raydeploy/util/errors.hpp"
#include "raydeploy/util/log.hpp"
#include "raydeploy/util/private_files.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace raydeploy {

namespace fs = std::filesystem;

namespace {

fs::path prepare_directory(const fs::path& state_dir)
{
    std::error_code ec;
    if (fs::exists(state_dir, ec)) {
        // The operator's directory: say what is wrong rather than change modes behind their back.
        if (auto warning = exposed_directory_warning(state_dir)) log::warn(*warning);
        return state_dir;
    }
    try {
        make_private_directory(state_dir);
    } catch (const runtime_failure& e) {
        throw runtime_failure{std::string{e.what()} + "; or choose a writable --state-dir"};
    }
    return state_dir;
}

}  // namespace

state_dir_lock::state_dir_lock(const fs::path& state_dir)
{
    const fs::path file = prepare_directory(state_dir) / "raydeploy.lock";
    // O_CLOEXEC: ansible-playbook children must not inherit (and so prolong) the lock.
    fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ < 0)
        throw runtime_failure{"cannot open lock file '" + file.string() + "': " + std::strerror(errno) +
                              "; check the permissions of the state directory"};
    ::fchmod(fd_, 0600);  // a lock file an older version created 0644
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
        char holder[32] = {};
        const ssize_t n = ::pread(fd_, holder, sizeof holder - 1, 0);
        std::string pid = n > 0 ? std::string{holder, static_cast<std::size_t>(n)} : std::string{"unknown"};
        while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
        ::close(fd_);
        fd_ = -1;
        throw runtime_failure{"state directory '" + state_dir.string() +
                              "' is in use by another raydeploy process (pid " + pid +
                              "); stop that process or choose another --state-dir"};
    }
    // The pid is only informative (for the message above); the flock is what excludes.
    const std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd_, 0) == 0) {
        [[maybe_unused]] const ssize_t written = ::pwrite(fd_, pid.data(), pid.size(), 0);
    }
}

state_dir_lock::~state_dir_lock()
{
    if (fd_ >= 0) ::close(fd_);
}

std::unique_ptr<sqlite::database> open_database(const fs::path& file)
{
    // SQLite creates the -wal and -shm files with the database file's mode, so 0600 here covers
    // them; files left by an older version are tightened below.
    make_private_file(file);
    auto db = std::make_unique<sqlite::database>(file);
    db->exec("PRAGMA journal_mode = WAL");
    for (const char* suffix : {"-wal", "-shm"}) {
        const fs::path companion = file.string() + suffix;
        std::error_code ec;
        if (fs::exists(companion, ec)) fs::permissions(companion, fs::perms::owner_read | fs::perms::owner_write, ec);
    }
    // NORMAL in WAL mode: a commit is in the operating system's hands when it returns, so it
    // survives any crash or kill of the service; only a power loss or kernel crash can take back
    // the last commits (never corrupt the file). FULL would add an fsync to every commit: about
    // 0.3 ms each here, on the io thread, for every batch of events (measured; see docs/benchmarks.md).
    db->exec("PRAGMA synchronous = NORMAL");
    db->exec("PRAGMA foreign_keys = ON");
    return db;
}

state_store::state_store(const fs::path& state_dir) : directory_{state_dir}, lock_{state_dir}
{
    db_ = open_database(database_file());
    migrate(*db_, schema_migrations());
}

int state_store::schema_version() { return raydeploy::schema_version(*db_); }

}  // namespace raydeploy
