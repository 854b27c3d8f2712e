// The ticket store.
#include "raydeploy/auth/tickets.hpp"

#include "raydeploy/auth/tokens.hpp"

#include <openssl/crypto.h>

#include <algorithm>
#include <stdexcept>

namespace raydeploy {

bool ticket_format(std::string_view text)
{
    constexpr std::string_view prefix = "rdt_";
    if (text.size() != prefix.size() + 43 || !text.starts_with(prefix)) return false;
    return std::all_of(text.begin() + prefix.size(), text.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    });
}

ticket_store::ticket_store(std::chrono::seconds ttl, std::size_t capacity, std::function<clock::time_point()> now)
    : ttl_{ttl}, capacity_{capacity}, now_{std::move(now)}
{
    if (capacity_ == 0 || ttl_.count() <= 0) throw std::invalid_argument{"ticket_store needs a capacity and a ttl"};
}

void ticket_store::sweep(clock::time_point now)
{
    while (!tickets_.empty() && tickets_.front().expires <= now) tickets_.pop_front();
}

std::string ticket_store::issue(const identity& holder)
{
    const auto now = now_();
    sweep(now);
    if (tickets_.size() >= capacity_) tickets_.pop_front();
    std::string ticket = generate_secret("rdt_");
    tickets_.push_back(entry{sha256_hex(ticket), holder, now + ttl_});
    return ticket;
}

std::optional<identity> ticket_store::redeem(std::string_view ticket)
{
    sweep(now_());
    const std::string digest = sha256_hex(ticket);
    // Every entry is compared, so the time taken does not tell how close a guess was.
    auto found = tickets_.end();
    for (auto it = tickets_.begin(); it != tickets_.end(); ++it)
        if (CRYPTO_memcmp(it->sha256.data(), digest.data(), digest.size()) == 0) found = it;
    if (found == tickets_.end()) return std::nullopt;
    identity holder = std::move(found->holder);
    tickets_.erase(found);
    return holder;
}

}  // namespace raydeploy
