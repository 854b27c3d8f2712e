// Event documents and filters.
#include "raydeploy/events/event.hpp"

namespace raydeploy {

boost::json::object to_stored_json(const event& item)
{
    boost::json::object out;
    out.reserve(item.fields.size() + 4);
    out["type"] = item.type;
    out["created"] = item.created;
    if (item.execution_id) out["execution_id"] = *item.execution_id;
    if (item.counter) out["counter"] = *item.counter;
    for (const auto& field : item.fields)
        if (!out.contains(field.key())) out[field.key()] = field.value();
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
