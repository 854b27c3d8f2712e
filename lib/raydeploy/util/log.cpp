// Logger implementation. Records are assembled in full and written with one call so that lines
// from different threads (the io_context thread, process reapers) never interleave.
#include "raydeploy/util/log.hpp"

#include "raydeploy/util/time.hpp"

#include <boost/json/serialize.hpp>

#include <atomic>
#include <cctype>
#include <cstdio>
#include <mutex>

namespace raydeploy::log {
namespace {

std::atomic<level> minimum_level{level::info};
std::atomic<format> output_format{format::text};
std::mutex write_mutex;

constexpr std::string_view level_names[] = {"trace", "debug", "info", "warn", "error"};

// Text mode quotes a value only when it would otherwise be ambiguous to a reader or to grep.
void append_text_value(std::string& out, const boost::json::value& value)
{
    if (!value.is_string()) {
        out += boost::json::serialize(value);
        return;
    }
    const auto& text = value.get_string();
    const bool needs_quotes = text.empty() || text.find_first_of(" \t\"=") != std::string::npos;
    if (needs_quotes)
        out += boost::json::serialize(value);
    else
        out.append(text.data(), text.size());
}

}  // namespace

std::optional<level> parse_level(std::string_view name)
{
    for (std::size_t i = 0; i < std::size(level_names); ++i)
        if (level_names[i] == name) return static_cast<level>(i);
    if (name == "warning") return level::warn;
    return std::nullopt;
}

std::optional<format> parse_format(std::string_view name)
{
    if (name == "text") return format::text;
    if (name == "json") return format::json;
    return std::nullopt;
}

std::string_view to_string(level value) { return level_names[static_cast<int>(value)]; }
std::string_view to_string(format value) { return value == format::json ? "json" : "text"; }

void configure(level minimum, format output)
{
    minimum_level = minimum;
    output_format = output;
}

bool enabled(level value) { return value >= minimum_level.load(); }

void write(level value, std::string_view message, const boost::json::object& fields)
{
    if (!enabled(value)) return;
    std::string line;
    if (output_format.load() == format::json) {
        boost::json::object record;
        record["ts"] = now_timestamp();
        record["level"] = to_string(value);
        record["msg"] = message;
        for (const auto& field : fields) record[field.key()] = field.value();
        line = boost::json::serialize(record);
    } else {
        line = now_timestamp();
        line += ' ';
        std::string upper{to_string(value)};
        for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        line += upper;
        line += ' ';
        line += message;
        for (const auto& field : fields) {
            line += ' ';
            line += field.key();
            line += '=';
            append_text_value(line, field.value());
        }
    }
    line += '\n';
    std::lock_guard lock{write_mutex};
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
}

}  // namespace raydeploy::log
