// The version the build was configured with (CMake's project version).
#pragma once

#include <string_view>

namespace raydeploy {
std::string_view version();
// "raydeploy/VERSION": the Server header of every answer and the client's User-Agent.
std::string_view product_token();
}
