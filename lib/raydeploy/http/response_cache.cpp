// Cached answers and their validators.
#include "raydeploy/http/response_cache.hpp"

#include <cstdio>
#include <functional>

namespace raydeploy::web {

bool if_none_match_covers(std::string_view if_none_match, std::string_view etag)
{
    if (if_none_match.find('*') != std::string_view::npos) return true;
    for (std::size_t at = if_none_match.find(etag); at != std::string_view::npos; at = if_none_match.find(etag, at + 1))
        if (at > 0 && if_none_match[at - 1] == '"') return true;
    return false;
}

response_cache::entry response_cache::make_entry(const json::value& body)
{
    std::string text = json::serialize(body);
    text += '\n';
    // A hash of the body, not of the key: the same answer keeps its ETag across restarts and
    // across changes that did not change it.
    char etag[20];
    std::snprintf(etag, sizeof etag, "\"%016zx\"", std::hash<std::string>{}(text));
    return entry{std::make_shared<const std::string>(std::move(text)), etag};
}

response response_cache::answer(const request& req, const entry& kept)
{
    const std::string_view unquoted{kept.etag.data() + 1, kept.etag.size() - 2};
    const auto if_none_match = req.find(http::field::if_none_match);
    const bool current = if_none_match != req.end() && if_none_match_covers(if_none_match->value(), unquoted);
    response res{current ? http::status::not_modified : http::status::ok, 11};
    res.set(http::field::etag, kept.etag);
    // Stored by nobody without asking: the state changes with every run.
    res.set(http::field::cache_control, "no-cache");
    if (current) return res;
    res.set(http::field::content_type, "application/json");
    // Shared, not copied: an answer being written keeps its text alive if the cache drops it.
    res.body().share(*kept.body, kept.body);
    return res;
}

}  // namespace raydeploy::web
