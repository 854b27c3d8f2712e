// Timestamps as the API, the store and the logs print them: RFC 3339, UTC, milliseconds.
#pragma once

#include <chrono>
#include <string>

namespace raydeploy {

std::string format_timestamp(std::chrono::system_clock::time_point at);
inline std::string now_timestamp() { return format_timestamp(std::chrono::system_clock::now()); }

}  // namespace raydeploy
