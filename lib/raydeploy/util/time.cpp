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

}  // namespace raydeploy
