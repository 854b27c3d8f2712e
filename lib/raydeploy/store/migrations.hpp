// Numbered schema migrations. The schema version lives in SQLite's `PRAGMA user_version`; each
// migration runs in its own transaction together with the version bump, so a crash mid-upgrade
// leaves the database at the previous version, never in between.
#pragma once

#include "raydeploy/store/sqlite.hpp"

#include <span>
#include <string_view>

namespace raydeploy {

struct migration {
    int version;  // 1, 2, 3... without gaps
    std::string_view name;
    std::string_view sql;
};

// Every migration of the project, oldest first. Append new ones; never edit a released one.
std::span<const migration> schema_migrations();

int schema_version(sqlite::database& db);

// Applies, in order, every migration newer than the database's version. Throws runtime_failure
// when the database is newer than `migrations` knows (a downgrade of raydeploy).
// Returns the number of migrations applied.
int migrate(sqlite::database& db, std::span<const migration> migrations);

}  // namespace raydeploy
