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
    // The rest of the document, flat beside the fields above: its members serialized without the
    // braces ("a":1,"b":[2]), or empty. Encoded once, when the event is made (encode_members),
    // because an event is stored and published as text and never read back as an object.
    std::string members;
};

// Whether an event has an execution_id and a counter of its own.
enum class event_scope { global, execution };

// `fields` as an event's members. A field named like one the event has of its own (type,
// created and seq always; execution_id and counter for an execution's event) is left out: the
// event's own value is the one that counts. A global event keeps such fields (an approval's
// events carry the execution that consumed it).
std::string encode_members(const boost::json::object& fields, event_scope scope);
// The same, given also the JSON text `fields` was parsed from: its members are copied as they are
// written instead of serialized again (a playbook's event is mostly strings, and serializing
// them was a twentieth of the service's time under a fast stream). Where only the parsed object
// can say which field a member is (an escaped key, a key that repeats), and with no text,
// `fields` is serialized.
std::string encode_members(const boost::json::object& fields, std::string_view text, event_scope scope);

// An event of no execution (the cluster, approvals, deployments, nodes), stamped when appended.
inline event global_event(std::string type, const boost::json::object& fields)
{
    return event{std::move(type), "", std::nullopt, std::nullopt, encode_members(fields, event_scope::global)};
}

// The event as stored: type, created, execution_id, counter, then its members. The seq is not
// part of it (it is the row's key) and is put in front when the event is published.
std::string to_stored_text(const event& item);

// A stored event as subscribers receive it: serialized once, shared by every subscriber.
struct published_event {
    std::int64_t seq;
    std::string type;
    std::optional<std::string> execution_id;
    // The JSON document: a slice of `block`, which holds the texts of the events published (or
    // read from the store) together, in seq order, joined by commas. So a subscriber that takes a
    // run of them sends the run as one piece of a JSON array (api/event_feed.cpp).
    std::string_view text;
    std::shared_ptr<const std::string> block;
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
