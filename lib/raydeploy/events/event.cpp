// Event documents and filters.
#include "raydeploy/events/event.hpp"

#include <boost/json/serialize.hpp>

#include <algorithm>

namespace raydeploy {

namespace {

bool is_own_field(std::string_view key, event_scope scope)
{
    if (key == "type" || key == "created" || key == "seq") return true;
    return scope == event_scope::execution && (key == "execution_id" || key == "counter");
}

void append_string(std::string& out, std::string_view text)
{
    out += boost::json::serialize(boost::json::string_view{text.data(), text.size()});
}

}  // namespace

std::string encode_members(const boost::json::object& fields, event_scope scope)
{
    // The common case, no field named like the event's own, is one serialization of the object.
    const bool clean =
        std::none_of(fields.begin(), fields.end(), [scope](const auto& field) { return is_own_field(field.key(), scope); });
    std::string text;
    if (clean) {
        text = boost::json::serialize(fields);
    } else {
        boost::json::object kept;
        for (const auto& field : fields)
            if (!is_own_field(field.key(), scope)) kept.emplace(field.key(), field.value());
        text = boost::json::serialize(kept);
    }
    // "{...}" to "...": drop the braces in place.
    text.pop_back();
    text.erase(0, 1);
    return text;
}

std::string to_stored_text(const event& item)
{
    std::string out;
    out.reserve(item.members.size() + item.type.size() + 128);
    out += "{\"type\":";
    append_string(out, item.type);
    out += ",\"created\":";
    append_string(out, item.created);
    if (item.execution_id) {
        out += ",\"execution_id\":";
        append_string(out, *item.execution_id);
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
