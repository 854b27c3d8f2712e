// Error types that cross layers. Domain code throws these; the CLI and the HTTP layer each map
// them to an exit code or a status in one place.
#pragma once

#include <stdexcept>
#include <string>

namespace raydeploy {

// A configuration or catalog problem the user has to fix: bad file, unknown key, wrong type.
// The CLI exits with status 2 on it. `what()` is ready to print, one problem per line.
class config_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A failure of the environment at run time (state directory busy, port taken, disk error).
// The CLI exits with status 1 on it.
class runtime_failure : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

}  // namespace raydeploy
