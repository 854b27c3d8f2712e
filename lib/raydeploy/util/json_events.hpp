// Reading a JSON document as a stream of events, keeping only what the reader asks for.
//
// boost::json::parse builds the whole document before anything reads it. For answers of several
// megabytes of which a reader keeps a few fields per item (the nodes of a 10,000-node Ray cluster)
// building that tree costs more than everything else done with the answer. read_json_events runs
// Boost.JSON's basic_parser instead and tells a json_event_reader about each container and value
// together with where it sits: the reader gives each container it cares about a role, and
// everything inside a container it does not care about is skipped without a call.
//
// The parse is as strict as boost::json::parse (the same grammar, no comments or trailing commas,
// nothing after the document) and as deep as `max_depth` allows.
//
// @par Thread safety
// A function of its arguments.
#pragma once

#include <boost/system/error_code.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace raydeploy::util {

// One value that is not a container.
struct json_scalar {
    enum class kind { string, int64, uint64, floating, boolean, null };
    kind type = kind::null;
    std::string_view text;  // kind::string: valid until the callback returns
    std::int64_t int64 = 0;
    std::uint64_t uint64 = 0;
    double floating = 0;
    bool boolean = false;

    bool is_string() const { return type == kind::string; }
    bool is_bool() const { return type == kind::boolean; }
    bool is_null() const { return type == kind::null; }
    // Any finite number.
    std::optional<double> number() const;
    // A number that is an exact int64, or a string of up to 18 decimal digits (protobuf renders
    // uint64 fields as strings in some of Ray's answers).
    std::optional<std::int64_t> integer() const;
};

// Where a container or value sits: the role of the container holding it, and its key (in an
// object) or index (in an array).
struct json_place {
    int parent_role;
    std::string_view key;  // empty in arrays; valid until the callback returns
    std::size_t index;     // position in its array or object
};

class json_event_reader {
public:
    // The role of the document's root's parent.
    static constexpr int document = -1;
    // The role that skips a container and everything inside it.
    static constexpr int skip = 0;

    virtual ~json_event_reader() = default;

    // A container begins: its role (a positive number the reader chose) or `skip`. Never called
    // for containers inside a skipped one.
    virtual int container(const json_place& place, bool is_object) = 0;
    // A value inside a container the reader did not skip (or the root, when it is not a container).
    virtual void value(const json_place& place, const json_scalar& value) = 0;
    // A container the reader gave a role ends, with its number of members or elements.
    virtual void end(int role, std::size_t size) { (void)role, (void)size; }
};

// Parses `body`, calling `reader` along the way. An empty error code when the body is one
// well-formed JSON document; else the parser's error (a reader sees the events before it).
boost::system::error_code read_json_events(std::string_view body, json_event_reader& reader,
                                           std::size_t max_depth = 64);

}  // namespace raydeploy::util
