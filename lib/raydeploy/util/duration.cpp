// Duration parsing: the one grammar used by every file and flag that takes a duration.
#include "raydeploy/util/duration.hpp"

#include <cctype>
#include <cmath>
#include <cstdlib>

namespace raydeploy {

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text)
{
    using std::chrono::milliseconds;
    if (text.empty()) return std::nullopt;
    // Any longer one is a typo, and far longer ones overflow: the sum below, or the nanoseconds of
    // `steady_clock::now() + duration` wherever it becomes a deadline.
    constexpr long long max_ms = 36500LL * 86'400'000;

    // A bare number means seconds, matching `timeout: 600` in YAML.
    const bool bare_number = text.find_first_not_of("0123456789.") == std::string_view::npos;
    if (bare_number) {
        std::string copy{text};
        char* end = nullptr;
        const double seconds = std::strtod(copy.c_str(), &end);
        if (end != copy.c_str() + copy.size() || !std::isfinite(seconds) || seconds < 0 ||
            seconds * 1000.0 > static_cast<double>(max_ms))
            return std::nullopt;
        return milliseconds{static_cast<long long>(std::llround(seconds * 1000.0))};
    }

    long long total_ms = 0;
    std::size_t pos = 0;
    while (pos < text.size()) {
        const std::size_t digits_end = text.find_first_not_of("0123456789", pos);
        if (digits_end == pos || digits_end == std::string_view::npos) return std::nullopt;
        const long long amount = std::atoll(std::string{text.substr(pos, digits_end - pos)}.c_str());
        if (digits_end - pos > 9) return std::nullopt;  // keeps the arithmetic far from overflow
        std::size_t unit_end = text.find_first_of("0123456789", digits_end);
        if (unit_end == std::string_view::npos) unit_end = text.size();
        const std::string_view unit = text.substr(digits_end, unit_end - digits_end);
        long long unit_ms = 0;
        if (unit == "ms") unit_ms = 1;
        else if (unit == "s") unit_ms = 1000;
        else if (unit == "m") unit_ms = 60'000;
        else if (unit == "h") unit_ms = 3'600'000;
        else if (unit == "d") unit_ms = 86'400'000;
        else return std::nullopt;
        // amount < 10^9 and unit_ms < 10^8: the product fits; the sum is checked before it is made.
        if (amount * unit_ms > max_ms - total_ms) return std::nullopt;
        total_ms += amount * unit_ms;
        pos = unit_end;
    }
    return milliseconds{total_ms};
}

std::string format_duration(std::chrono::milliseconds value)
{
    long long ms = value.count();
    if (ms == 0) return "0s";
    std::string out;
    const auto take = [&](long long unit_ms, const char* suffix) {
        if (ms >= unit_ms) {
            out += std::to_string(ms / unit_ms) + suffix;
            ms %= unit_ms;
        }
    };
    take(3'600'000, "h");
    take(60'000, "m");
    take(1000, "s");
    take(1, "ms");
    return out;
}

}  // namespace raydeploy
