// Timestamps as the API, the store and the logs print them: RFC 3339, UTC, milliseconds.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace raydeploy {

std::string format_timestamp(std::chrono::system_clock::time_point at);
inline std::string now_timestamp() { return format_timestamp(std::chrono::system_clock::now()); }
// The time format_timestamp printed ("2026-12-03T10:30:00.123Z"); nullopt for anything else.
std::optional<std::chrono::system_clock::time_point> parse_timestamp(std::string_view text);

}  // namespace raydeploy
