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

// Which way a time given more finely than milliseconds is rounded to the store's milliseconds.
enum class timestamp_rounding { down, up };
// Any RFC 3339 date-time (JSON Schema's `format: date-time`: a numeric offset or Z, any fraction
// of a second, `T` and `Z` in either case) as format_timestamp prints the same instant in UTC, so
// stored timestamps compare with it as text. Instants beyond the years 0000 to 9999 that an
// offset produces are clamped to them. nullopt for anything else.
std::optional<std::string> normalize_rfc3339(std::string_view text, timestamp_rounding rounding);

}  // namespace raydeploy
