#include "support/faulty_vfs.hpp"

#include <sqlite3.h>

#include <memory>
#include <stdexcept>

namespace raydeploy::test {

namespace {

// SQLite allocates szOsFile bytes for each open file: this header, then the real VFS's file.
struct shim_file {
    sqlite3_file base;  // first, so SQLite's sqlite3_file* is a shim_file*
    faulty_vfs* owner;
    bool watched;  // a database file or a write-ahead log
    faulty_vfs::file_kind kind;

    sqlite3_file* real() { return reinterpret_cast<sqlite3_file*>(this + 1); }
};

struct shim_vfs {
    sqlite3_vfs base;  // first, so SQLite's sqlite3_vfs* is a shim_vfs*
    sqlite3_vfs* real;
    faulty_vfs* owner;
};

shim_file& as_shim(sqlite3_file* file) { return *reinterpret_cast<shim_file*>(file); }
sqlite3_file* real_of(sqlite3_file* file) { return as_shim(file).real(); }
sqlite3_vfs* real_of(sqlite3_vfs* vfs) { return reinterpret_cast<shim_vfs*>(vfs)->real; }

const sqlite3_io_methods shim_methods = {
    3,
    [](sqlite3_file* f) { return real_of(f)->pMethods->xClose(real_of(f)); },
    [](sqlite3_file* f, void* data, int amount, sqlite3_int64 offset) {
        return real_of(f)->pMethods->xRead(real_of(f), data, amount, offset);
    },
    [](sqlite3_file* f, const void* data, int amount, sqlite3_int64 offset) {
        auto& file = as_shim(f);
        if (file.watched) {
            if (const int code = file.owner->write_failure(file.kind)) return code;
        }
        return real_of(f)->pMethods->xWrite(real_of(f), data, amount, offset);
    },
    [](sqlite3_file* f, sqlite3_int64 size) { return real_of(f)->pMethods->xTruncate(real_of(f), size); },
    [](sqlite3_file* f, int flags) { return real_of(f)->pMethods->xSync(real_of(f), flags); },
    [](sqlite3_file* f, sqlite3_int64* size) { return real_of(f)->pMethods->xFileSize(real_of(f), size); },
    [](sqlite3_file* f, int lock) { return real_of(f)->pMethods->xLock(real_of(f), lock); },
    [](sqlite3_file* f, int lock) { return real_of(f)->pMethods->xUnlock(real_of(f), lock); },
    [](sqlite3_file* f, int* out) { return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out); },
    [](sqlite3_file* f, int op, void* arg) { return real_of(f)->pMethods->xFileControl(real_of(f), op, arg); },
    [](sqlite3_file* f) { return real_of(f)->pMethods->xSectorSize(real_of(f)); },
    [](sqlite3_file* f) { return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f)); },
    [](sqlite3_file* f, int region, int size, int extend, void volatile** out) {
        return real_of(f)->pMethods->xShmMap(real_of(f), region, size, extend, out);
    },
    [](sqlite3_file* f, int offset, int n, int flags) {
        return real_of(f)->pMethods->xShmLock(real_of(f), offset, n, flags);
    },
    [](sqlite3_file* f) { real_of(f)->pMethods->xShmBarrier(real_of(f)); },
    [](sqlite3_file* f, int remove) { return real_of(f)->pMethods->xShmUnmap(real_of(f), remove); },
    [](sqlite3_file* f, sqlite3_int64 offset, int amount, void** out) {
        return real_of(f)->pMethods->xFetch(real_of(f), offset, amount, out);
    },
    [](sqlite3_file* f, sqlite3_int64 offset, void* page) {
        return real_of(f)->pMethods->xUnfetch(real_of(f), offset, page);
    },
};

int shim_open(sqlite3_vfs* vfs, const char* name, sqlite3_file* f, int flags, int* out_flags)
{
    auto& file = as_shim(f);
    file.owner = reinterpret_cast<shim_vfs*>(vfs)->owner;
    file.watched = (flags & (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_WAL)) != 0;
    file.kind = (flags & SQLITE_OPEN_WAL) ? faulty_vfs::file_kind::wal : faulty_vfs::file_kind::database;
    file.real()->pMethods = nullptr;
    const int rc = real_of(vfs)->xOpen(real_of(vfs), name, file.real(), flags, out_flags);
    // SQLite closes the file only when pMethods is set, as the real VFS left its own.
    file.base.pMethods = file.real()->pMethods ? &shim_methods : nullptr;
    return rc;
}

}  // namespace

faulty_vfs::faulty_vfs() : real_{sqlite3_vfs_find(nullptr)}
{
    if (!real_) throw std::runtime_error{"faulty_vfs: SQLite has no default VFS"};
    auto shim = std::make_unique<shim_vfs>();
    shim->real = real_;
    shim->owner = this;
    sqlite3_vfs& vfs = shim->base;
    vfs = *real_;  // the real VFS's limits; every method is replaced below
    vfs.iVersion = 2;
    vfs.szOsFile = static_cast<int>(sizeof(shim_file)) + real_->szOsFile;
    vfs.pNext = nullptr;
    vfs.zName = "raydeploy-faulty";
    vfs.pAppData = nullptr;
    vfs.xOpen = shim_open;
    vfs.xDelete = [](sqlite3_vfs* v, const char* name, int sync) {
        return real_of(v)->xDelete(real_of(v), name, sync);
    };
    vfs.xAccess = [](sqlite3_vfs* v, const char* name, int flags, int* out) {
        return real_of(v)->xAccess(real_of(v), name, flags, out);
    };
    vfs.xFullPathname = [](sqlite3_vfs* v, const char* name, int size, char* out) {
        return real_of(v)->xFullPathname(real_of(v), name, size, out);
    };
    vfs.xDlOpen = [](sqlite3_vfs* v, const char* name) { return real_of(v)->xDlOpen(real_of(v), name); };
    vfs.xDlError = [](sqlite3_vfs* v, int size, char* out) { real_of(v)->xDlError(real_of(v), size, out); };
    vfs.xDlSym = [](sqlite3_vfs* v, void* handle, const char* symbol) {
        return real_of(v)->xDlSym(real_of(v), handle, symbol);
    };
    vfs.xDlClose = [](sqlite3_vfs* v, void* handle) { real_of(v)->xDlClose(real_of(v), handle); };
    vfs.xRandomness = [](sqlite3_vfs* v, int size, char* out) {
        return real_of(v)->xRandomness(real_of(v), size, out);
    };
    vfs.xSleep = [](sqlite3_vfs* v, int micros) { return real_of(v)->xSleep(real_of(v), micros); };
    vfs.xCurrentTime = [](sqlite3_vfs* v, double* out) { return real_of(v)->xCurrentTime(real_of(v), out); };
    vfs.xGetLastError = [](sqlite3_vfs* v, int size, char* out) {
        return real_of(v)->xGetLastError(real_of(v), size, out);
    };
    vfs.xCurrentTimeInt64 = [](sqlite3_vfs* v, sqlite3_int64* out) {
        return real_of(v)->xCurrentTimeInt64(real_of(v), out);
    };
    vfs.xSetSystemCall = nullptr;
    vfs.xGetSystemCall = nullptr;
    vfs.xNextSystemCall = nullptr;
    if (sqlite3_vfs_register(&shim->base, 1) != SQLITE_OK)
        throw std::runtime_error{"faulty_vfs: sqlite3_vfs_register failed"};
    shim_ = &shim.release()->base;
}

faulty_vfs::~faulty_vfs()
{
    sqlite3_vfs_unregister(shim_);
    // Unregistering the default leaves an arbitrary one as the default: name the old one again.
    sqlite3_vfs_register(real_, 1);
    delete reinterpret_cast<shim_vfs*>(shim_);
}

void faulty_vfs::fail_writes(file_kind kind, int code)
{
    failing_kind_.store(kind);
    failing_code_.store(code);
}

void faulty_vfs::heal() { failing_code_.store(0); }

int faulty_vfs::write_failure(file_kind kind)
{
    const int code = failing_code_.load();
    if (code == 0 || kind != failing_kind_.load()) return 0;
    failed_.fetch_add(1);
    return code;
}

}  // namespace raydeploy::test
