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

// Which segments of a pattern are literals. Of two patterns that fit the same path, the one that
// is literal where the other first has a placeholder compares greater.
std::vector<bool> literal_shape(std::string_view pattern)
{
    std::vector<bool> shape;
    for (auto part : split_pattern(pattern)) shape.push_back(!is_placeholder(part));
    return shape;
}

// Fills `params` and returns true when the segments fit the pattern.
bool fits(std::string_view pattern, const std::vector<std::string>& segments,
          std::map<std::string, std::string, std::less<>>& params)
{
    const auto parts = split_pattern(pattern);
    if (parts.size() != segments.size()) return false;
    std::map<std::string, std::string, std::less<>> found;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        if (is_placeholder(parts[i])) {
            if (segments[i].empty()) return false;
            found.emplace(std::string{parts[i].substr(1, parts[i].size() - 2)}, segments[i]);
        } else if (parts[i] != segments[i]) {
            return false;
        }
    }
    params = std::move(found);
    return true;
}

}  // namespace

const std::string& request_context::path_param(std::string_view name) const
{
    const auto it = path_params.find(name);
    if (it == path_params.end())
        throw std::logic_error{"route has no path parameter named " + std::string{name}};
    return it->second;
}

std::optional<std::string> request_context::query(std::string_view name) const
{
    const auto params = target.params();
    const auto it = params.find(name);
    if (it == params.end()) return std::nullopt;
    // Percent-decoded, so any byte may come out; handlers quote values in their errors.
    return percent_encode_invalid_utf8((*it).value);
}

void router::add(http::verb method, std::string pattern, std::optional<role> access, handler handle,
                 std::string audit_action)
{
    if (pattern.empty() || pattern.front() != '/') throw std::logic_error{"route pattern must start with '/'"};
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
    std::vector<bool> best_shape;
    for (const auto& candidate : routes_) {
        std::map<std::string, std::string, std::less<>> ignored;
        if (!fits(candidate.pattern, segments, ignored)) continue;
        if (auto shape = literal_shape(candidate.pattern); shape > best_shape) best_shape = std::move(shape);
    }
    match_result result;
    for (const auto& candidate : routes_) {
        std::map<std::string, std::string, std::less<>> params;
        if (!fits(candidate.pattern, segments, params)) continue;
        if (literal_shape(candidate.pattern) != best_shape) continue;
        if (candidate.method == method) {
            result.result = outcome::found;
            result.matched = &candidate;
            result.params = std::move(params);
            return result;
        }
        if (std::find(result.allowed.begin(), result.allowed.end(), candidate.method) == result.allowed.end())
            result.allowed.push_back(candidate.method);
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
