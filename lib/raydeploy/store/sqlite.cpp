// SQLite RAII wrappers.
#include "raydeploy/store/sqlite.hpp"

#include "raydeploy/metrics/service_metrics.hpp"

#include <sqlite3.h>

#include <chrono>
#include <thread>
#include <unordered_map>

namespace raydeploy::sqlite {
namespace {

[[noreturn]] void fail(sqlite3* db, int code, std::string_view context)
{
    std::string message{context};
    message += ": ";
    message += db ? sqlite3_errmsg(db) : sqlite3_errstr(code);
    throw error{code, message};
}

// Tries again every 100 microseconds (or a little more: the sleeps overshoot), 50,000 times, so
// for 5 seconds at least, then gives up (SQLITE_BUSY).
int wait_for_lock(void*, int tries)
{
    constexpr std::chrono::microseconds pause{100};
    if (tries * pause >= std::chrono::seconds{5}) return 0;
    std::this_thread::sleep_for(pause);
    return 1;
}

// Before SQLite initialises (the first open does). SQLITE_MISUSE if SQLite was initialised
// already (by another library in the process): harmless, the settings only save time and memory.
void configure_sqlite_once()
{
    [[maybe_unused]] static const bool configured = [] {
        // Each connection's page cache starts without the 20 pages SQLite allocates up front, so a
        // connection holds only pages it read. With the store's 16 KiB pages those 20 cost a third
        // of a megabyte of an idle service per connection.
        sqlite3_config(SQLITE_CONFIG_PAGECACHE, nullptr, 0, 0);
        // No memory statistics (nothing here reads them). Debian's SQLite keeps them, and builds
        // without lookaside memory, so every row's allocations took one process-wide mutex, which
        // the event store thread, the WAL checkpointer and the io thread contend for.
        sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
        return true;
    }();
}

}  // namespace

// Idle compiled statements by their SQL text. Compiling is most of the cost of a small query;
// the service runs the same few dozen texts all day. Bounded, because some texts are built from a
// request's filters (a handful of combinations each).
class statement_cache {
public:
    static constexpr std::size_t capacity = 256;

    ~statement_cache()
    {
        for (auto& [sql, stmt] : idle_) sqlite3_finalize(stmt);
    }

    sqlite3_stmt* take(const std::string& sql)
    {
        const auto it = idle_.find(sql);
        if (it == idle_.end()) return nullptr;
        sqlite3_stmt* stmt = it->second;
        idle_.erase(it);
        return stmt;
    }

    // Keeps the statement for the next prepare() of its text; finalizes it when the cache holds
    // one already or is full.
    void give_back(std::string sql, sqlite3_stmt* stmt)
    {
        sqlite3_reset(stmt);
        sqlite3_clear_bindings(stmt);
        if (idle_.size() >= capacity || !idle_.emplace(std::move(sql), stmt).second) sqlite3_finalize(stmt);
    }

private:
    std::unordered_map<std::string, sqlite3_stmt*> idle_;
};

database::database(const std::filesystem::path& file, open_mode mode)
{
    const int access =
        mode == open_mode::read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    configure_sqlite_once();
    const int rc = sqlite3_open_v2(file.c_str(), &db_, access | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
        std::string message = "cannot open database '" + file.string() + "'";
        if (db_) {
            message += ": ";
            message += sqlite3_errmsg(db_);
            sqlite3_close(db_);
        }
        throw error{rc, message};
    }
    sqlite3_extended_result_codes(db_, 1);
    // Another connection may hold the write lock briefly: the service's event store thread, for
    // the millisecond or two of a batch, or the CLI. SQLite's own timeout sleeps 1, 2, 5, 10 ms
    // between tries, which would keep the io thread waiting well after the lock was let go.
    sqlite3_busy_handler(db_, &wait_for_lock, nullptr);
    cache_ = std::make_shared<statement_cache>();
}

database::~database()
{
    cache_.reset();  // finalizes the idle statements; those in use return nowhere
    sqlite3_close_v2(db_);
}

void database::exec(std::string_view sql)
{
    const std::string text{sql};
    char* message = nullptr;
    const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &message);
    if (rc != SQLITE_OK) {
        std::string detail = message ? message : sqlite3_errstr(rc);
        sqlite3_free(message);
        throw error{rc, "SQL failed (" + detail + ") in: " + text.substr(0, 200)};
    }
}

statement database::prepare(std::string_view sql)
{
    std::string text{sql};
    sqlite3_stmt* stmt = cache_->take(text);
    if (!stmt) {
        // PERSISTENT: the statement is meant to be kept, so SQLite allocates it outside its
        // lookaside memory.
        const int rc = sqlite3_prepare_v3(db_, text.data(), static_cast<int>(text.size()), SQLITE_PREPARE_PERSISTENT,
                                          &stmt, nullptr);
        if (rc != SQLITE_OK) fail(db_, rc, "cannot prepare \"" + text.substr(0, 200) + "\"");
    }
    return statement{db_, stmt, cache_, std::move(text)};
}

std::int64_t database::last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }

std::int64_t database::changes() const { return sqlite3_changes64(db_); }

statement::statement(sqlite3* db, sqlite3_stmt* stmt, std::weak_ptr<statement_cache> cache, std::string sql)
    : db_{db}, stmt_{stmt}, cache_{std::move(cache)}, sql_{std::move(sql)}
{
}

statement::statement(statement&& other) noexcept
    : db_{other.db_}, stmt_{other.stmt_}, cache_{std::move(other.cache_)}, sql_{std::move(other.sql_)}
{
    other.stmt_ = nullptr;
}

statement::~statement()
{
    if (!stmt_) return;
    if (const auto cache = cache_.lock()) cache->give_back(std::move(sql_), stmt_);
    else sqlite3_finalize(stmt_);
}

statement& statement::bind(int index, std::string_view value)
{
    const int rc = sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
    if (rc != SQLITE_OK) fail(db_, rc, "cannot bind parameter");
    return *this;
}

statement& statement::bind_static(int index, std::string_view value)
{
    const int rc = sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()), SQLITE_STATIC);
    if (rc != SQLITE_OK) fail(db_, rc, "cannot bind parameter");
    return *this;
}

statement& statement::bind(int index, std::int64_t value)
{
    const int rc = sqlite3_bind_int64(stmt_, index, value);
    if (rc != SQLITE_OK) fail(db_, rc, "cannot bind parameter");
    return *this;
}

statement& statement::bind_null(int index)
{
    const int rc = sqlite3_bind_null(stmt_, index);
    if (rc != SQLITE_OK) fail(db_, rc, "cannot bind parameter");
    return *this;
}

namespace {

int parameter_index(sqlite3_stmt* stmt, const std::string& name)
{
    const int index = sqlite3_bind_parameter_index(stmt, name.c_str());
    if (index == 0) fail(nullptr, SQLITE_RANGE, "no parameter " + name + " in the statement");
    return index;
}

}  // namespace

statement& statement::bind_named(const std::string& name, std::string_view value)
{
    return bind(parameter_index(stmt_, name), value);
}

statement& statement::bind_named(const std::string& name, std::int64_t value)
{
    return bind(parameter_index(stmt_, name), value);
}

bool statement::step()
{
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail(db_, rc, "statement \"" + sql_.substr(0, 200) + "\" failed");
}

void statement::reset()
{
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
}

std::int64_t statement::column_int(int index) const { return sqlite3_column_int64(stmt_, index); }

std::string statement::column_text(int index) const
{
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, index));
    return text ? std::string{text, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, index))} : std::string{};
}

bool statement::column_is_null(int index) const { return sqlite3_column_type(stmt_, index) == SQLITE_NULL; }

// BEGIN and COMMIT come from the statement cache: a playbook's events arrive a few at a time, so
// most event batches hold one or two events and pay BEGIN and COMMIT for each; compiling the two
// was about 7 % of their time in a profile of a fixture run.
transaction::transaction(database& db) : db_{db} { db_.prepare("BEGIN IMMEDIATE").step(); }

transaction::~transaction()
{
    if (!done_) {
        try {
            db_.exec("ROLLBACK");
        } catch (...) {
            // The connection is already in a failed state; the original exception says why.
        }
    }
}

void transaction::commit()
{
    const auto started = std::chrono::steady_clock::now();
    try {
        db_.prepare("COMMIT").step();
    } catch (const error&) {
        metrics::service_metrics::instance().sqlite_commit_failures.Increment();
        throw;
    }
    done_ = true;
    metrics::service_metrics::instance().sqlite_commit.Observe(
        metrics::seconds(std::chrono::steady_clock::now() - started));
}

}  // namespace raydeploy::sqlite
