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

}  // namespace

router::compiled_pattern router::compile(std::string_view pattern)
{
    compiled_pattern compiled;
    for (auto part : split_pattern(pattern)) {
        const bool literal = !is_placeholder(part);
        compiled.parts.emplace_back(literal ? part : part.substr(1, part.size() - 2));
        compiled.literal.push_back(literal);
    }
    return compiled;
}

bool router::compiled_pattern::fits(const std::vector<std::string>& segments) const
{
    if (parts.size() != segments.size()) return false;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        if (literal[i] ? parts[i] != segments[i] : segments[i].empty()) return false;
    }
    return true;
}

namespace {
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
    compiled_.push_back(compile(pattern));
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
    const std::vector<bool>* best_shape = nullptr;
    for (const auto& candidate : compiled_) {
        if (candidate.fits(segments) && (!best_shape || candidate.literal > *best_shape)) best_shape = &candidate.literal;
    }
    match_result result;
    if (!best_shape) return result;
    for (std::size_t i = 0; i < routes_.size(); ++i) {
        const compiled_pattern& pattern = compiled_[i];
        if (pattern.literal != *best_shape || !pattern.fits(segments)) continue;
        const route& candidate = routes_[i];
        if (candidate.method == method) {
            result.result = outcome::found;
            result.matched = &candidate;
            for (std::size_t part = 0; part < pattern.parts.size(); ++part)
                if (!pattern.literal[part]) result.params.emplace(pattern.parts[part], segments[part]);
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
