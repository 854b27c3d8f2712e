// State directory ownership and store opening.
#include "raydeploy/store/state_store.hpp"

#include "raydeploy/store/migrations.hpp"
#include "raydeploy/util/errors.hpp"
#include "raydeploy/util/log.hpp"
#include "raydeploy/util/private_files.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace raydeploy {

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

constexpr const char* lock_file_name = "raydeploy.lock";
constexpr const char* endpoint_file_name = "raydeploy.endpoint";

fs::path prepare_directory(const fs::path& state_dir)
{
    if (state_dir.empty())
        throw runtime_failure{"no state directory: neither STATE_DIRECTORY, XDG_STATE_HOME nor a home directory is "
                              "set; give one with --state-dir DIR"};
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

// The pid the lock file names (written by its holder), or 0.
int pid_in_lock_file(const fs::path& state_dir)
{
    std::ifstream in{state_dir / lock_file_name};
    long pid = 0;
    if (!(in >> pid) || pid <= 0 || pid > std::numeric_limits<int>::max()) return 0;
    return static_cast<int>(pid);
}

bool process_alive(int pid) { return ::kill(pid, 0) == 0 || errno == EPERM; }

}  // namespace

state_dir_lock::state_dir_lock(const fs::path& state_dir) : directory_{state_dir}
{
    const fs::path file = prepare_directory(state_dir) / lock_file_name;
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
    // Left by a holder that was killed: it names a port that is gone or, worse, someone else's.
    std::error_code ec;
    fs::remove(state_dir / endpoint_file_name, ec);
}

state_dir_lock::~state_dir_lock()
{
    withdraw_endpoint();
    if (fd_ >= 0) ::close(fd_);
}

void state_dir_lock::publish_endpoint(std::string_view url)
{
    const json::object content{{"pid", ::getpid()}, {"url", url}};
    const fs::path file = directory_ / endpoint_file_name;
    const fs::path temporary = file.string() + ".tmp";
    write_private_file(temporary, json::serialize(content) + "\n");
    std::error_code ec;
    fs::rename(temporary, file, ec);
    if (ec)
        throw runtime_failure{"cannot write '" + file.string() + "': " + ec.message() +
                              "; check the permissions of the state directory"};
    published_ = true;
}

void state_dir_lock::withdraw_endpoint() noexcept
{
    if (!published_) return;
    published_ = false;
    std::error_code ec;
    fs::remove(directory_ / endpoint_file_name, ec);
}

std::optional<published_endpoint> find_published_endpoint(const fs::path& state_dir)
{
    std::ifstream in{state_dir / endpoint_file_name};
    if (!in) return std::nullopt;
    const std::string text{std::istreambuf_iterator<char>{in}, {}};
    boost::system::error_code ec;
    const json::value parsed = json::parse(text, ec);
    if (ec || !parsed.is_object()) return std::nullopt;
    const auto& object = parsed.as_object();
    const auto* pid = object.if_contains("pid");
    const auto* url = object.if_contains("url");
    if (!pid || !pid->is_int64() || !url || !url->is_string()) return std::nullopt;
    published_endpoint found{static_cast<int>(pid->as_int64()), std::string{url->as_string()}};
    // The lock file names its holder: an endpoint of any other process is stale.
    if (found.pid <= 0 || found.pid != pid_in_lock_file(state_dir) || !process_alive(found.pid)) return std::nullopt;
    return found;
}

std::unique_ptr<sqlite::database> open_database(const fs::path& file)
{
    // SQLite creates the -wal and -shm files with the database file's mode, so 0600 here covers
    // them; files left by an older version are tightened below.
    make_private_file(file);
    auto db = std::make_unique<sqlite::database>(file);
    // 16 KiB pages for a new store (SQLite's default is 4 KiB; a store made before keeps its own
    // until a VACUUM): an event is about 1 KB stored, and with four to a page its batches spent a
    // good part of their time on page writes, WAL frames and checkpoints per page. In the event
    // benchmark this took a tenth off the service's CPU per event (docs/benchmarks.md).
    db->exec("PRAGMA page_size = 16384");
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
    // The migrations touched every table's pages (all of them, on a new store) and the service
    // reads few of them again: their cache goes back, a few hundred KB of an idle service.
    db_->exec("PRAGMA shrink_memory");
}

int state_store::schema_version() { return raydeploy::schema_version(*db_); }

}  // namespace raydeploy
