// Transitions and backoff of a polled source (see source_health.hpp).
#include "raydeploy/watch/source_health.hpp"

#include "raydeploy/util/time.hpp"

#include <algorithm>
#include <cmath>

namespace raydeploy::watch {

std::string_view to_string(source_state state)
{
    switch (state) {
    case source_state::unknown: return "UNKNOWN";
    case source_state::connected: return "CONNECTED";
    case source_state::degraded: return "DEGRADED";
    case source_state::unreachable: return "UNREACHABLE";
    }
    return "UNKNOWN";
}

source_health::source_health(std::string event_prefix) : prefix_(std::move(event_prefix)) {}

std::vector<health_event> source_health::record(poll_outcome outcome, std::chrono::system_clock::time_point now,
                                                std::string error)
{
    const auto previous = state_;
    switch (outcome) {
    case poll_outcome::ok:
        state_ = source_state::connected;
        last_success_at_ = now;
        last_error_.reset();
        consecutive_failures_ = 0;
        break;
    case poll_outcome::partial:
    case poll_outcome::none:
        state_ = outcome == poll_outcome::partial ? source_state::degraded : source_state::unreachable;
        // Some answers are still a sign of life: the snapshot's fresh parts are as of now.
        if (outcome == poll_outcome::partial) last_success_at_ = now;
        last_error_ = error.empty() ? std::string("no answer") : std::move(error);
        if (consecutive_failures_ < 1'000'000) ++consecutive_failures_;
        break;
    }
    std::vector<health_event> events;
    if (state_ == previous) return events;
    const char* suffix = state_ == source_state::connected ? ".connected"
                         : state_ == source_state::degraded ? ".degraded"
                                                            : ".unreachable";
    events.push_back({prefix_ + suffix, to_json()});
    return events;
}

std::chrono::milliseconds source_health::next_delay(std::chrono::milliseconds interval, double random01) const
{
    if (consecutive_failures_ == 0 || interval.count() <= 0) return interval;
    const auto cap = std::max(max_backoff, interval);
    // Doubling past 2^20 cannot matter against a cap of minutes; stop before it overflows.
    const int doublings = std::min(consecutive_failures_, 20);
    const double backoff = std::min(static_cast<double>(cap.count()), static_cast<double>(interval.count()) * std::ldexp(1.0, doublings));
    const double draw = std::isfinite(random01) ? std::clamp(random01, 0.0, 1.0) : 0.0;
    const double jittered = backoff / 2 + backoff / 2 * draw;
    return std::chrono::milliseconds(static_cast<std::int64_t>(std::max(jittered, static_cast<double>(interval.count()))));
}

boost::json::object source_health::to_json() const
{
    return boost::json::object{
        {"state", to_string(state_)},
        {"last_success_at", last_success_at_ ? boost::json::value(format_timestamp(*last_success_at_)) : nullptr},
        {"last_error", last_error_ ? boost::json::value(*last_error_) : nullptr},
        {"consecutive_failures", consecutive_failures_}};
}

}  // namespace raydeploy::watch
