// Durations as users write them in config and catalog files: a number of seconds, or a string
// of number+unit parts such as "90s", "30m", "1h30m", "500ms".
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace raydeploy {

// Returns nullopt for anything that is not a well-formed, non-negative duration of at most 100
// years (36500d).
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

// The inverse, for messages and `--check-config` output: "1h30m", "45s", "250ms".
std::string format_duration(std::chrono::milliseconds value);

}  // namespace raydeploy
