// A thin RAII layer over the SQLite C API: a connection, prepared statements, transactions.
// Errors become sqlite_error carrying SQLite's message and the statement that failed.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace raydeploy::sqlite {

class error : public std::runtime_error {
public:
    error(int code, const std::string& message) : std::runtime_error{message}, code_{code} {}
    int code() const { return code_; }

private:
    int code_;
};

class statement;
class statement_cache;

enum class open_mode {
    read_write,  // creating the file if needed
    read_only,   // an existing file; writes fail
};

class database {
public:
    // Opens the database file. Throws sqlite::error.
    explicit database(const std::filesystem::path& file, open_mode mode = open_mode::read_write);
    database(const database&) = delete;
    database& operator=(const database&) = delete;
    ~database();

    // Runs one or more statements that return no rows.
    void exec(std::string_view sql);
    // Compiles `sql`, or takes an idle compiled copy of it from the connection's cache: the
    // statement goes back there, reset, when it is destroyed. The same text in use twice at once
    // gets two statements.
    statement prepare(std::string_view sql);
    std::int64_t last_insert_rowid() const;
    // Rows changed by the last INSERT, UPDATE or DELETE.
    std::int64_t changes() const;
    sqlite3* handle() const { return db_; }

private:
    sqlite3* db_ = nullptr;
    std::shared_ptr<statement_cache> cache_;
};

class statement {
public:
    statement(statement&& other) noexcept;
    statement& operator=(statement&&) = delete;
    statement(const statement&) = delete;
    ~statement();

    // Parameters are 1-based, as in SQLite.
    statement& bind(int index, std::string_view value);
    // Without copying: `value` must stay valid until the statement is reset or destroyed (both
    // clear its bindings) or this parameter is bound again. For large texts bound once.
    statement& bind_static(int index, std::string_view value);
    statement& bind(int index, std::int64_t value);
    statement& bind_null(int index);
    // By name (":name" in the SQL), for statements built from the conditions a query was given.
    statement& bind_named(const std::string& name, std::string_view value);
    statement& bind_named(const std::string& name, std::int64_t value);

    // Steps once: true when a row is available, false when done.
    bool step();
    void reset();

    std::int64_t column_int(int index) const;
    std::string column_text(int index) const;
    bool column_is_null(int index) const;

private:
    friend class database;
    statement(sqlite3* db, sqlite3_stmt* stmt, std::weak_ptr<statement_cache> cache, std::string sql);

    sqlite3* db_;
    sqlite3_stmt* stmt_ = nullptr;
    // Where the statement returns when destroyed; gone once the database is.
    std::weak_ptr<statement_cache> cache_;
    std::string sql_;
};

// Commits on commit(); rolls back when destroyed without it (an exception left the scope).
class transaction {
public:
    explicit transaction(database& db);
    transaction(const transaction&) = delete;
    transaction& operator=(const transaction&) = delete;
    ~transaction();
    void commit();

private:
    database& db_;
    bool done_ = false;
};

}  // namespace raydeploy::sqlite
