// RFC 3339 timestamp formatting shared by logs, API responses and stored rows.
#include "raydeploy/util/time.hpp"

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

}  // namespace raydeploy
