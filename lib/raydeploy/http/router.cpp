// Route matching.
#include "raydeploy/http/router.hpp"

#include "raydeploy/util/utf8.hpp"

#include <algorithm>

namespace raydeploy::web {
namespace {

std::vector<std::string_view> split_pattern(std::string_view pattern)
{
    std::vector<std::string_view> parts;
    if (pattern == "/") return parts;  // the root has no segments, as Boost.URL parses "/"
    std::size_t pos = 1;  // skip the leading '/'
    while (pos <= pattern.size()) {
        const std::size_t slash = std::min(pattern.find('/', pos), pattern.size());
        parts.push_back(pattern.substr(pos, slash - pos));
        pos = slash + 1;
    }
    return parts;
}

bool is_placeholder(std::string_view part) { return part.size() > 2 && part.front() == '{' && part.back() == '}'; }

// The key of literal_paths_: "/a/b" for {"a", "b"}, "" for the root.
template <typename Parts>
std::string joined_path(const Parts& parts)
{
    std::size_t size = 0;
    for (const auto& part : parts) size += part.size() + 1;
    std::string path;
    path.reserve(size);
    for (const auto& part : parts) {
        path += '/';
        path += part;
    }
    return path;
}

}  // namespace

std::uint64_t router::all_literal(std::size_t parts) { return parts == 0 ? 0 : ~std::uint64_t{0} << (64 - parts); }

router::compiled_pattern router::compile(std::string_view pattern)
{
    compiled_pattern compiled;
    const auto parts = split_pattern(pattern);
    if (parts.size() > 64) throw std::logic_error{"route pattern has more than 64 segments: " + std::string{pattern}};
    for (std::size_t i = 0; i < parts.size(); ++i) {
        const std::string_view part = parts[i];
        const bool literal = !is_placeholder(part);
        compiled.parts.emplace_back(literal ? part : part.substr(1, part.size() - 2));
        if (literal) compiled.literal_mask |= std::uint64_t{1} << (63 - i);
    }
    return compiled;
}

bool router::compiled_pattern::fits(const std::vector<std::string>& segments) const
{
    if (parts.size() != segments.size()) return false;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        if (literal(i) ? parts[i] != segments[i] : segments[i].empty()) return false;
    }
    return true;
}

const std::string& request_context::path_param(std::string_view name) const
{
    const auto it = path_params.find(name);
    if (it == path_params.end())
        throw std::logic_error{"route has no path parameter named " + std::string{name}};
    return it->second;
}

std::optional<std::string> request_context::query(std::string_view name) const
{
    if (!decoded_query) {
        decoded_query.emplace();
        // Percent-decoded, so any byte may come out; handlers quote values in their errors.
        for (const auto& param : target.params())
            decoded_query->emplace_back(param.key, percent_encode_invalid_utf8(param.value));
    }
    for (const auto& [key, value] : *decoded_query)
        if (key == name) return value;
    return std::nullopt;
}

void router::add(http::verb method, std::string pattern, std::optional<role> access, handler handle,
                 std::string audit_action)
{
    if (pattern.empty() || pattern.front() != '/') throw std::logic_error{"route pattern must start with '/'"};
    compiled_.push_back(compile(pattern));
    const compiled_pattern& compiled = compiled_.back();
    const std::size_t length = compiled.parts.size();
    if (compiled.literal_mask == all_literal(length)) {
        literal_paths_[joined_path(compiled.parts)].push_back(routes_.size());
    } else {
        if (by_length_.size() <= length) by_length_.resize(length + 1);
        by_length_[length].push_back(routes_.size());
    }
    routes_.push_back({method, std::move(pattern), access, std::move(handle), std::move(audit_action)});
}

void router::add_websocket(std::string pattern, role access, handler handle)
{
    add(http::verb::get, std::move(pattern), access, std::move(handle));
    routes_.back().websocket = true;
}

void router::set_authenticator(authenticator authenticate)
{
    if (!authenticate) throw std::logic_error{"router::set_authenticator needs a function"};
    authenticate_ = std::move(authenticate);
}

router::match_result router::match(http::verb method, const std::vector<std::string>& segments) const
{
    // A path that fits several patterns belongs to the most literal one, segment by segment from
    // the left (as OpenAPI matches concrete paths before templated ones): /resources/nodes/add is
    // the add route's path only, never a node called "add" of /resources/nodes/{app_id}.
    const auto literal = literal_paths_.find(joined_path(segments));
    // A decoded segment may hold a '/': the path alone does not tell the length.
    const bool literal_fits = literal != literal_paths_.end() && compiled_[literal->second.front()].fits(segments);
    static const std::vector<std::size_t> none;
    const std::vector<std::size_t>& candidates = literal_fits                          ? literal->second
                                                 : segments.size() < by_length_.size() ? by_length_[segments.size()]
                                                                                       : none;
    match_result result;
    const compiled_pattern* matched_pattern = nullptr;
    std::optional<std::uint64_t> best_mask;
    for (const std::size_t index : candidates) {
        const compiled_pattern& pattern = compiled_[index];
        if ((best_mask && pattern.literal_mask < *best_mask) || !pattern.fits(segments)) continue;
        if (!best_mask || pattern.literal_mask > *best_mask) {
            // A more literal shape: what the less literal ones offered does not count.
            best_mask = pattern.literal_mask;
            result.matched = nullptr;
            result.allowed.clear();
        }
        const route& candidate = routes_[index];
        if (candidate.method == method && !result.matched) {
            result.matched = &candidate;
            matched_pattern = &pattern;
        } else if (std::find(result.allowed.begin(), result.allowed.end(), candidate.method) == result.allowed.end()) {
            result.allowed.push_back(candidate.method);
        }
    }
    if (result.matched) {
        result.result = outcome::found;
        for (std::size_t part = 0; part < matched_pattern->parts.size(); ++part)
            if (!matched_pattern->literal(part)) result.params.emplace(matched_pattern->parts[part], segments[part]);
        return result;
    }
    result.result = result.allowed.empty() ? outcome::not_found : outcome::method_not_allowed;
    return result;
}

std::string allow_header(const std::vector<http::verb>& methods)
{
    std::string out;
    for (auto method : methods) {
        if (!out.empty()) out += ", ";
        out += http::to_string(method);
    }
    return out;
}

}  // namespace raydeploy::web
