// Answers serialised once and served, with an ETag, until what they were built from changes: the
// endpoints a dashboard, a CI fleet or Prometheus polls answer from memory, and a poller that
// sends If-None-Match gets 304 and no body.
//
// @par Thread safety
// Single-threaded: use from the io_context's thread.
#pragma once

#include "raydeploy/http/response.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

namespace raydeploy::web {

// Whether an If-None-Match value lists `etag` (unquoted) or is "*": the client's copy is current.
bool if_none_match_covers(std::string_view if_none_match, std::string_view etag);

class response_cache {
public:
    // How many answers (keys) are kept at once; past that the cache starts again empty, so it
    // never holds more than `capacity` times its largest answer.
    explicit response_cache(std::size_t capacity = 1) : capacity_{capacity} {}

    // The answer to `req` for the state `key` names (the generations of what the body is built
    // from, and whatever of the request changes it): 200 with the body and its ETag, or 304 when
    // the client holds that ETag. `build()` returns the body as a JSON value and runs only when no
    // answer for `key` is kept.
    template <typename Build>
    response get(const request& req, const std::string& key, Build&& build)
    {
        auto it = entries_.find(key);
        if (it == entries_.end()) {
            if (entries_.size() >= capacity_) entries_.clear();
            it = entries_.emplace(key, make_entry(build())).first;
        }
        return answer(req, it->second);
    }

    // The same for answers that all depend on one changing state besides their key (`state`, a
    // store's generation): once it moves on, the answers built before are dropped at once rather
    // than held until the cache is full, since none of them would be served again.
    template <typename Build>
    response get(const request& req, std::uint64_t state, const std::string& key, Build&& build)
    {
        if (state != state_) {
            entries_.clear();
            state_ = state;
        }
        return get(req, key, std::forward<Build>(build));
    }

    // The same answer (ETag, 304) for a body that is not worth keeping: built for this request only.
    static response answer_once(const request& req, const json::value& body) { return answer(req, make_entry(body)); }

    // How many answers are kept now.
    std::size_t size() const { return entries_.size(); }

private:
    struct entry {
        std::shared_ptr<const std::string> body;  // shared by every answer that sends it
        std::string etag;                         // quoted
    };
    static entry make_entry(const json::value& body);
    static response answer(const request& req, const entry& kept);

    std::size_t capacity_;
    std::uint64_t state_ = 0;
    std::unordered_map<std::string, entry> entries_;
};

}  // namespace raydeploy::web
