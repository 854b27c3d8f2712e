// Process-wide structured logger: one line per record on stderr, as text or JSON.
#pragma once

#include <boost/json/object.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace raydeploy::log {

enum class level { trace, debug, info, warn, error };
enum class format { text, json };

std::optional<level> parse_level(std::string_view name);
std::optional<format> parse_format(std::string_view name);
std::string_view to_string(level value);
std::string_view to_string(format value);

// Takes effect for every record written after the call.
void configure(level minimum, format output);
bool enabled(level value);

// `fields` are rendered as key=value pairs in text mode and merged into the object in JSON mode.
void write(level value, std::string_view message, const boost::json::object& fields = {});

inline void debug(std::string_view m, const boost::json::object& f = {}) { write(level::debug, m, f); }
inline void info(std::string_view m, const boost::json::object& f = {}) { write(level::info, m, f); }
inline void warn(std::string_view m, const boost::json::object& f = {}) { write(level::warn, m, f); }
inline void error(std::string_view m, const boost::json::object& f = {}) { write(level::error, m, f); }

}  // namespace raydeploy::log
