// Events: every step of progress, stored with a global sequence number and streamed to
// subscribers. Execution events also carry the execution's id and a per-execution counter.
#pragma once

#include <boost/json/object.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace raydeploy {

struct event {
    std::string type;      // "execution.status", "execution.done", "ansible.runner_on_ok", ...
    std::string created;
    std::optional<std::string> execution_id;
    std::optional<std::int64_t> counter;
    boost::json::object fields;  // the rest of the document, flat beside the fields above
};

// An event of no execution (the cluster, approvals, deployments, nodes), stamped when appended.
inline event global_event(std::string type, boost::json::object fields)
{
    return event{std::move(type), "", std::nullopt, std::nullopt, std::move(fields)};
}

// The event as stored: type, created, execution_id, counter, then its fields. The seq is not
// part of it (it is the row's key) and is put in front when the event is published.
boost::json::object to_stored_json(const event& item);

// A stored event as subscribers receive it: serialized once, shared by every subscriber.
struct published_event {
    std::int64_t seq;
    std::string type;
    std::optional<std::string> execution_id;
    std::string text;  // the JSON document
};
using published_event_ptr = std::shared_ptr<const published_event>;

// Which events a reader wants. Type patterns are exact names, "prefix.*" or "*".
struct event_filter {
    std::optional<std::string> execution_id;
    std::vector<std::string> types;

    bool matches(std::string_view type, const std::optional<std::string>& execution) const;
};

// Parses "a,b.*,c" into patterns; returns nullopt (with the bad pattern in `bad`) for a pattern
// that is empty or has characters other than [a-z0-9_.*-] or a '*' anywhere but at the end.
std::optional<std::vector<std::string>> parse_type_patterns(std::string_view text, std::string& bad);

}  // namespace raydeploy
