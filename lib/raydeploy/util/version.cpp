// Kept in its own file so a version bump recompiles one translation unit.
#include "raydeploy/util/version.hpp"

namespace raydeploy {
std::string_view version() { return RAYDEPLOY_VERSION; }
}  // namespace raydeploy
