// The version the build was configured with (CMake's project version).
#pragma once

#include <string_view>

namespace raydeploy {
std::string_view version();
}
