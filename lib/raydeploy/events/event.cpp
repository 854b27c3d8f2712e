// Event documents and filters.
#include "raydeploy/events/event.hpp"

#include <boost/json/serializer.hpp>

#include <algorithm>

namespace raydeploy {

namespace {

bool is_own_field(std::string_view key, event_scope scope)
{
    if (key == "type" || key == "created" || key == "seq") return true;
    return scope == event_scope::execution && (key == "execution_id" || key == "counter");
}

// Appends JSON text through one serializer and a stack buffer: no temporary string per value.
class json_appender {
public:
    explicit json_appender(std::string& out) : out_{out} {}

    void string(std::string_view text)
    {
        writer_.reset(boost::json::string_view{text.data(), text.size()});
        drain();
    }

    void value(const boost::json::value& item)
    {
        writer_.reset(&item);
        drain();
    }

private:
    void drain()
    {
        while (!writer_.done()) out_.append(writer_.read(buffer_, sizeof buffer_));
    }

    std::string& out_;
    boost::json::serializer writer_;
    char buffer_[4096];
};

}  // namespace

std::string encode_members(const boost::json::object& fields, event_scope scope)
{
    // Field by field, leaving out those named like the event's own, straight into the text:
    // plugin lines carry a counter and a created of their own, so this is the common case, and
    // copying the object without them cost a fifth of an event's handling.
    std::string text;
    json_appender append{text};
    for (const auto& field : fields) {
        if (is_own_field(field.key(), scope)) continue;
        if (!text.empty()) text += ',';
        append.string(field.key());
        text += ':';
        append.value(field.value());
    }
    return text;
}

std::string to_stored_text(const event& item)
{
    std::string out;
    out.reserve(item.members.size() + item.type.size() + 128);
    json_appender append{out};
    out += "{\"type\":";
    append.string(item.type);
    out += ",\"created\":";
    append.string(item.created);
    if (item.execution_id) {
        out += ",\"execution_id\":";
        append.string(*item.execution_id);
    }
    if (item.counter) {
        out += ",\"counter\":";
        out += std::to_string(*item.counter);
    }
    if (!item.members.empty()) {
        out += ',';
        out += item.members;
    }
    out += '}';
    return out;
}

bool event_filter::matches(std::string_view type, const std::optional<std::string>& execution) const
{
    if (execution_id && execution != execution_id) return false;
    if (types.empty()) return true;
    for (const auto& pattern : types) {
        if (pattern == "*") return true;
        if (pattern.size() > 1 && pattern.back() == '*') {
            if (type.substr(0, pattern.size() - 1) == std::string_view{pattern}.substr(0, pattern.size() - 1)) return true;
        } else if (pattern == type) {
            return true;
        }
    }
    return false;
}

std::optional<std::vector<std::string>> parse_type_patterns(std::string_view text, std::string& bad)
{
    std::vector<std::string> patterns;
    std::size_t pos = 0;
    while (pos <= text.size()) {
        const std::size_t comma = std::min(text.find(',', pos), text.size());
        const std::string_view pattern = text.substr(pos, comma - pos);
        const auto star = pattern.find('*');
        const bool valid = !pattern.empty() &&
                           pattern.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_.*-") == std::string_view::npos &&
                           (star == std::string_view::npos || star == pattern.size() - 1);
        if (!valid) {
            bad = std::string{pattern};
            return std::nullopt;
        }
        patterns.emplace_back(pattern);
        pos = comma + 1;
    }
    return patterns;
}

}  // namespace raydeploy
