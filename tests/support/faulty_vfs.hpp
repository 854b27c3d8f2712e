// A SQLite VFS for tests that fails writes on demand, the way a full or failing disk does.
//
// While an instance lives it is SQLite's default VFS, so every connection opened meanwhile goes
// through it; it passes everything on to the VFS that was the default before. `fail_writes`
// makes writes to one kind of file (the database file, or its write-ahead log) fail with the
// given code until `heal`. Only writes fail: reads, locks and the shared-memory index keep working,
// so what a test sees is the code's handling of a write error, not a broken connection.
//
// @par Thread safety
// Arm and heal from any thread; the connections may write from other threads.
#pragma once

#include <atomic>

struct sqlite3_vfs;

namespace raydeploy::test {

class faulty_vfs {
public:
    enum class file_kind { database, wal };

    faulty_vfs();
    faulty_vfs(const faulty_vfs&) = delete;
    faulty_vfs& operator=(const faulty_vfs&) = delete;
    // Makes the previous default VFS the default again. Close the connections first.
    ~faulty_vfs();

    // Every later write to a file of `kind` fails with `code` (an SQLITE_IOERR_* or SQLITE_FULL).
    void fail_writes(file_kind kind, int code);
    void heal();
    // Writes failed so far.
    int failed_writes() const { return failed_.load(); }

    // For the VFS's callbacks.
    int write_failure(file_kind kind);

private:
    sqlite3_vfs* real_;
    sqlite3_vfs* shim_;
    std::atomic<int> failing_code_{0};  // 0: writes work
    std::atomic<file_kind> failing_kind_{file_kind::database};
    std::atomic<int> failed_{0};
};

}  // namespace raydeploy::test
