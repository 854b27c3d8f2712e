// RFC 3339 timestamp formatting shared by logs, API responses and stored rows.
#include "raydeploy/util/time.hpp"

#include <algorithm>
#include <ctime>
#include <cstdio>

namespace raydeploy {

std::string format_timestamp(std::chrono::system_clock::time_point at)
{
    using namespace std::chrono;
    const auto millis = duration_cast<milliseconds>(at.time_since_epoch()).count() % 1000;
    const std::time_t seconds = system_clock::to_time_t(at);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
    char result[40];
    std::snprintf(result, sizeof result, "%s.%03dZ", text, static_cast<int>(millis));
    return result;
}

std::optional<std::chrono::system_clock::time_point> parse_timestamp(std::string_view text)
{
    if (text.size() != 24 || text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':' ||
        text[16] != ':' || text[19] != '.' || text[23] != 'Z')
        return std::nullopt;
    const auto number = [text](std::size_t at, std::size_t digits) -> std::optional<int> {
        int value = 0;
        for (std::size_t i = at; i < at + digits; ++i) {
            if (text[i] < '0' || text[i] > '9') return std::nullopt;
            value = value * 10 + (text[i] - '0');
        }
        return value;
    };
    const auto year = number(0, 4), month = number(5, 2), day = number(8, 2), hour = number(11, 2),
               minute = number(14, 2), second = number(17, 2), millis = number(20, 3);
    if (!year || !month || !day || !hour || !minute || !second || !millis) return std::nullopt;
    using namespace std::chrono;
    const year_month_day date{std::chrono::year{*year}, std::chrono::month{static_cast<unsigned>(*month)},
                              std::chrono::day{static_cast<unsigned>(*day)}};
    if (!date.ok() || *hour > 23 || *minute > 59 || *second > 60) return std::nullopt;
    return system_clock::time_point{sys_days{date}} + hours{*hour} + minutes{*minute} + seconds{*second} +
           milliseconds{*millis};
}

std::optional<std::string> normalize_rfc3339(std::string_view text, timestamp_rounding rounding)
{
    using namespace std::chrono;
    const auto digits = [text](std::size_t at, std::size_t count) -> std::optional<int> {
        if (at + count > text.size()) return std::nullopt;
        int value = 0;
        for (std::size_t i = at; i < at + count; ++i) {
            if (text[i] < '0' || text[i] > '9') return std::nullopt;
            value = value * 10 + (text[i] - '0');
        }
        return value;
    };
    const auto is = [text](std::size_t at, char c) { return at < text.size() && text[at] == c; };
    const auto year = digits(0, 4), month = digits(5, 2), day = digits(8, 2), hour = digits(11, 2),
               minute = digits(14, 2), second = digits(17, 2);
    if (!year || !month || !day || !hour || !minute || !second || !is(4, '-') || !is(7, '-') ||
        !(is(10, 'T') || is(10, 't')) || !is(13, ':') || !is(16, ':'))
        return std::nullopt;
    const year_month_day date{std::chrono::year{*year}, std::chrono::month{static_cast<unsigned>(*month)},
                              std::chrono::day{static_cast<unsigned>(*day)}};
    // Second 60 is a leap second: it counts as the next minute's first.
    if (!date.ok() || *hour > 23 || *minute > 59 || *second > 60) return std::nullopt;
    std::size_t at = 19;
    int millis = 0;
    bool finer = false;  // nonzero digits beyond the milliseconds
    if (is(at, '.')) {
        const std::size_t first = ++at;
        while (at < text.size() && text[at] >= '0' && text[at] <= '9') {
            if (at - first < 3) millis = millis * 10 + (text[at] - '0');
            else if (text[at] != '0') finer = true;
            ++at;
        }
        if (at == first) return std::nullopt;
        for (std::size_t i = std::min<std::size_t>(at - first, 3); i < 3; ++i) millis *= 10;
    }
    minutes offset{0};
    if (is(at, 'Z') || is(at, 'z')) {
        ++at;
    } else if (is(at, '+') || is(at, '-')) {
        const auto offset_hours = digits(at + 1, 2), offset_minutes = digits(at + 4, 2);
        if (!offset_hours || !offset_minutes || !is(at + 3, ':') || *offset_hours > 23 || *offset_minutes > 59)
            return std::nullopt;
        offset = hours{*offset_hours} + minutes{*offset_minutes};
        if (text[at] == '-') offset = -offset;
        at += 6;
    } else {
        return std::nullopt;
    }
    if (at != text.size()) return std::nullopt;

    sys_time<milliseconds> instant = sys_days{date} + hours{*hour} + minutes{*minute} + seconds{*second} +
                                     milliseconds{millis} - offset;
    if (finer && rounding == timestamp_rounding::up) instant += milliseconds{1};
    const sys_time<milliseconds> first_instant = sys_days{std::chrono::year{0} / January / 1};
    const sys_time<milliseconds> last_instant = sys_days{std::chrono::year{9999} / December / 31} + days{1} - milliseconds{1};
    instant = std::clamp(instant, first_instant, last_instant);
    const auto day_start = floor<days>(instant);
    const year_month_day utc_date{day_start};
    const hh_mm_ss<milliseconds> time{instant - day_start};
    char result[32];
    std::snprintf(result, sizeof result, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", static_cast<int>(utc_date.year()),
                  static_cast<unsigned>(utc_date.month()), static_cast<unsigned>(utc_date.day()),
                  static_cast<int>(time.hours().count()), static_cast<int>(time.minutes().count()),
                  static_cast<int>(time.seconds().count()), static_cast<int>(time.subseconds().count()));
    return std::string{result};
}

}  // namespace raydeploy
