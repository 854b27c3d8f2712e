// The health of one polled source (the Ray dashboard now, CML later), apart from any I/O: the fetch
// loop records the outcome of each poll and gets back the events to publish and the delay before the
// next poll. Events come only on transitions, so a source that stays down writes one event, not one
// per poll.
//
//   UNKNOWN      never polled
//   CONNECTED    the last poll got every answer it asked for
//   DEGRADED     the last poll got some answers; others failed or were garbage
//   UNREACHABLE  the last poll got no usable answer at all
//
// @par Thread safety
// A plain value: use from one thread (the poller's strand).
#pragma once

#include <boost/json/object.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace raydeploy::watch {

enum class source_state { unknown, connected, degraded, unreachable };
std::string_view to_string(source_state state);  // "UNKNOWN", "CONNECTED", "DEGRADED", "UNREACHABLE"

enum class poll_outcome {
    ok,       // every endpoint answered and parsed
    partial,  // some did
    none,     // none did (refused, timed out, all errors or garbage)
};

struct health_event {
    std::string type;  // "<prefix>.connected", "<prefix>.degraded", "<prefix>.unreachable"
    boost::json::object data;  // state, last_success_at, last_error, consecutive_failures
};

// Backoff after failures never waits longer than this (unless the interval itself is longer).
inline constexpr std::chrono::milliseconds max_backoff{60'000};

class source_health {
public:
    // `event_prefix` names the source in event types: "cluster" gives "cluster.connected".
    explicit source_health(std::string event_prefix);

    // Records one poll as of `now`; `error` says what failed (ignored for ok; it must not hold
    // secrets: it goes into events and the API). Returns the events of the transition, if any.
    // A partial or failed poll counts as a failure; an ok poll resets the count and the error.
    std::vector<health_event> record(poll_outcome outcome, std::chrono::system_clock::time_point now,
                                     std::string error = {});

    // The delay before the next poll: `interval` while healthy (or never polled); after n
    // consecutive failures, interval * 2^n capped at max(max_backoff, interval), with equal jitter
    // (between half and all of it, never under `interval`). `random01` is a uniform draw in [0, 1).
    std::chrono::milliseconds next_delay(std::chrono::milliseconds interval, double random01) const;

    source_state state() const { return state_; }
    bool connected() const { return state_ == source_state::connected; }
    // The last poll that got any usable answer (ok or partial).
    const std::optional<std::chrono::system_clock::time_point>& last_success_at() const { return last_success_at_; }
    const std::optional<std::string>& last_error() const { return last_error_; }
    int consecutive_failures() const { return consecutive_failures_; }

    // {state, last_success_at (RFC 3339 or null), last_error (or null), consecutive_failures}: the
    // `source` object of the status endpoint and the data of the events.
    boost::json::object to_json() const;

private:
    std::string prefix_;
    source_state state_ = source_state::unknown;
    std::optional<std::chrono::system_clock::time_point> last_success_at_;
    std::optional<std::string> last_error_;
    int consecutive_failures_ = 0;
};

}  // namespace raydeploy::watch
