// Kept in its own file so a version bump recompiles one translation unit.
#include "raydeploy/util/version.hpp"

namespace raydeploy {
std::string_view version() { return RAYDEPLOY_VERSION; }
std::string_view product_token() { return "raydeploy/" RAYDEPLOY_VERSION; }
}  // namespace raydeploy
