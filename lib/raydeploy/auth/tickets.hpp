// One-time tickets for browsers' WebSocket handshakes. A browser cannot put Authorization on a
// handshake, and a long-lived token in a URL ends up in proxy and history logs; a ticket may go in
// the URL (?ticket=...) because it works once and for 30 seconds only. It carries the identity of
// the token that asked for it.
//
// Held in memory only (a restart voids them), at most `capacity` at a time: when full, the oldest
// goes. Only the SHA-256 of each ticket is kept. Not thread-safe: the service uses it from its one
// I/O thread.
#pragma once

#include "raydeploy/auth/identity.hpp"

#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace raydeploy {

// Whether `text` has a ticket's form: "rdt_" and 43 base64url characters (32 bytes).
bool ticket_format(std::string_view text);

class ticket_store {
public:
    using clock = std::chrono::steady_clock;
    static constexpr std::chrono::seconds default_ttl{30};
    static constexpr std::size_t default_capacity = 1024;

    // `now` is injectable so tests can let a ticket expire without waiting.
    explicit ticket_store(std::chrono::seconds ttl = default_ttl, std::size_t capacity = default_capacity,
                          std::function<clock::time_point()> now = clock::now);

    // A fresh ticket ("rdt_" and 32 random bytes in base64url) for `holder`.
    std::string issue(const identity& holder);
    // The holder of `ticket`, once: the ticket is gone afterwards. nullopt when it is unknown,
    // used already, expired or pushed out by newer ones.
    std::optional<identity> redeem(std::string_view ticket);

    std::chrono::seconds ttl() const { return ttl_; }
    std::size_t size() const { return tickets_.size(); }

private:
    struct entry {
        std::string sha256;
        identity holder;
        clock::time_point expires;
    };
    void sweep(clock::time_point now);

    std::chrono::seconds ttl_;
    std::size_t capacity_;
    std::function<clock::time_point()> now_;
    std::deque<entry> tickets_;  // in issue order, which is expiry order: all have the same ttl
};

}  // namespace raydeploy
