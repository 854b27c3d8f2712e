// Route matching.
#include "raydeploy/http/router.hpp"

#include <algorithm>

namespace raydeploy::web {
namespace {

std::vector<std::string_view> split_pattern(std::string_view pattern)
{
    std::vector<std::string_view> parts;
    std::size_t pos = 1;  // skip the leading '/'
    while (pos <= pattern.size()) {
        const std::size_t slash = std::min(pattern.find('/', pos), pattern.size());
        parts.push_back(pattern.substr(pos, slash - pos));
        pos = slash + 1;
    }
    return parts;
}

bool is_placeholder(std::string_view part) { return part.size() > 2 && part.front() == '{' && part.back() == '}'; }

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
    return std::string{(*it).value};
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
    match_result result;
    for (const auto& candidate : routes_) {
        std::map<std::string, std::string, std::less<>> params;
        if (!fits(candidate.pattern, segments, params)) continue;
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
