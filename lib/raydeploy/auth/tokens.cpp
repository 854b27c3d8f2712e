// Token hashing, generation and checking with OpenSSL (EVP for the digest, RAND_bytes for
// randomness, CRYPTO_memcmp for the comparison).
#include "raydeploy/auth/tokens.hpp"

#include "raydeploy/auth/tickets.hpp"

#include <boost/url/parse.hpp>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <memory>
#include <stdexcept>

namespace raydeploy {
namespace {

constexpr std::string_view token_prefix = "rdp_";

constexpr std::string_view how_to_authenticate =
    "pass a token with -H 'Authorization: Bearer $RAYDEPLOY_TOKEN'; an admin creates one with "
    "'raydeploy token create --name NAME --role ROLE' and adds its entry to auth.tokens";

// Every request with a token hashes it. EVP_sha256() makes each digest look the algorithm up in
// OpenSSL 3's provider registry, under a lock, and EVP_Digest allocates a context: together a
// twentieth of a small GET's time (docs/benchmarks.md). Fetched once, and a context per thread.
std::array<unsigned char, 32> sha256(std::string_view data)
{
    static const std::unique_ptr<EVP_MD, decltype(&EVP_MD_free)> algorithm{EVP_MD_fetch(nullptr, "SHA256", nullptr),
                                                                           &EVP_MD_free};
    thread_local const std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context{EVP_MD_CTX_new(),
                                                                                       &EVP_MD_CTX_free};
    std::array<unsigned char, 32> digest{};
    unsigned int length = 0;
    if (!algorithm || !context || EVP_DigestInit_ex2(context.get(), algorithm.get(), nullptr) != 1 ||
        EVP_DigestUpdate(context.get(), data.data(), data.size()) != 1 ||
        EVP_DigestFinal_ex(context.get(), digest.data(), &length) != 1 || length != digest.size())
        throw std::runtime_error{"OpenSSL could not compute a SHA-256 digest"};
    return digest;
}

int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string base64url(const unsigned char* data, std::size_t size)
{
    static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    std::size_t i = 0;
    for (; i + 3 <= size; i += 3) {
        const unsigned value = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
        for (int shift : {18, 12, 6, 0}) out += alphabet[(value >> shift) & 0x3f];
    }
    if (const std::size_t rest = size - i; rest > 0) {
        const unsigned value = (data[i] << 16) | (rest == 2 ? data[i + 1] << 8 : 0);
        out += alphabet[(value >> 18) & 0x3f];
        out += alphabet[(value >> 12) & 0x3f];
        if (rest == 2) out += alphabet[(value >> 6) & 0x3f];
    }
    return out;
}

bool equals_ignoring_case(std::string_view a, std::string_view b)
{
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
            return false;
    return true;
}

auth_refusal unauthenticated(const std::string& problem)
{
    return auth_refusal{http::status::unauthorized, "UNAUTHENTICATED", problem + "; " + std::string{how_to_authenticate},
                        {}};
}

}  // namespace

std::string sha256_hex(std::string_view data)
{
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned char byte : sha256(data)) {
        out += digits[byte >> 4];
        out += digits[byte & 0x0f];
    }
    return out;
}

std::string generate_token() { return generate_secret(token_prefix); }

std::string generate_secret(std::string_view prefix)
{
    std::array<unsigned char, 32> bytes{};
    if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1)
        throw std::runtime_error{"OpenSSL's random generator failed; cannot create a token safely"};
    return std::string{prefix} + base64url(bytes.data(), bytes.size());
}

std::vector<std::string> offered_subprotocols(const http::request<http::string_body>& req)
{
    std::vector<std::string> offered;
    const auto [first, last] = req.equal_range(http::field::sec_websocket_protocol);
    for (auto field = first; field != last; ++field) {
        std::string_view list = field->value();
        while (!list.empty()) {
            const auto comma = list.find(',');
            std::string_view item = list.substr(0, comma);
            list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
            while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
            while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
            if (!item.empty()) offered.emplace_back(item);
        }
    }
    return offered;
}

std::optional<std::string> token_name_problem(std::string_view name)
{
    if (name.empty()) return "a token needs a name (a person or a system such as ci)";
    if (name.size() > 64) return "a token name has at most 64 characters";
    for (char c : name) {
        const bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                             c == '.' || c == '_' || c == '-' || c == '@';
        if (!allowed)
            return "'" + std::string{name} + "' is not a valid token name; use letters, digits and . _ - @";
    }
    return std::nullopt;
}

std::optional<std::string> token_hash_problem(std::string_view sha256)
{
    bool hex = sha256.size() == 64;
    for (char c : sha256) hex = hex && hex_value(c) >= 0;
    if (!hex)
        return "expected the token's SHA-256 as 64 hex digits (what 'raydeploy token create' prints), got " +
               std::to_string(sha256.size()) + " characters" +
               (sha256.size() == 64 ? " that are not all hex digits" : "") + "; never put the token itself here";
    return std::nullopt;
}

std::string token_env_form(const token_entry& entry)
{
    std::string form = entry.name + ":" + std::string{to_string(entry.level)} + ":" + entry.sha256_hex;
    if (!entry.person.empty()) form += ":" + entry.person;
    return form;
}

token_authenticator::token_authenticator(const std::vector<token_entry>& entries,
                                         std::shared_ptr<ticket_store> tickets)
    : tickets_{std::move(tickets)}
{
    for (const auto& entry : entries) {
        if (token_hash_problem(entry.sha256_hex))
            throw std::invalid_argument{"token '" + entry.name + "' has a malformed sha256"};
        known_token known{entry.name, entry.level, entry.person.empty() ? entry.name : entry.person, {}};
        for (std::size_t i = 0; i < known.digest.size(); ++i)
            known.digest[i] = static_cast<unsigned char>(hex_value(entry.sha256_hex[2 * i]) * 16 +
                                                         hex_value(entry.sha256_hex[2 * i + 1]));
        entries_.push_back(std::move(known));
    }
}

auth_result token_authenticator::authenticate(const http::request<http::string_body>& req, bool websocket_handshake) const
{
    // A token in a URL lands in proxy logs, browser history and Referer headers: refused even
    // when it is valid, so that no client keeps doing it.
    std::optional<std::string> ticket;
    // The target is parsed only when its query may hold a parameter looked at here. Unless its
    // bytes hold a percent-escape, a decoded name is spelled by the bytes themselves ('+' decodes
    // to a space, which no name has).
    const std::string_view target = req.target();
    const auto query_start = target.find('?');
    const std::string_view query = query_start == target.npos ? std::string_view{} : target.substr(query_start + 1);
    const bool may_name_one = query.find('%') != query.npos || query.find("token") != query.npos ||
                              query.find("ticket") != query.npos;
    if (const auto url = may_name_one ? boost::urls::parse_origin_form(target) : boost::urls::url_view{}) {
        for (const auto& param : url->params()) {
            if (param.key == "token" || param.key == "access_token")
                return auth_refusal{http::status::bad_request, "INVALID_PARAMETER",
                                    param.key + ": tokens are never accepted in a URL, where proxies and browser "
                                    "history keep them; send 'Authorization: Bearer TOKEN', or for a browser's "
                                    "WebSocket offer the subprotocol raydeploy.bearer.TOKEN or use a one-time ticket "
                                    "from POST /api/v1/events/tickets",
                                    json::object{{"parameter", param.key}}};
            if (param.key == "ticket") ticket = param.value;
        }
    }
    if (open_mode()) return identity{"local", role::admin, true, "local"};

    const auto header = req.find(http::field::authorization);
    if (header == req.end() || header->value().empty()) {
        if (!websocket_handshake) {
            if (ticket)
                return unauthenticated("a ticket is accepted only on the WebSocket handshake of GET /api/v1/events");
            return unauthenticated("this request needs a bearer token");
        }
        for (const auto& offered : offered_subprotocols(req))
            if (offered.starts_with(bearer_subprotocol_prefix))
                return check_token(std::string_view{offered}.substr(bearer_subprotocol_prefix.size()));
        if (ticket) {
            if (auto holder = tickets_ ? tickets_->redeem(*ticket) : std::nullopt) return *holder;
            return unauthenticated("the ticket is unknown, used already or expired (a ticket works once, within " +
                            std::to_string((tickets_ ? tickets_->ttl() : ticket_store::default_ttl).count()) +
                            " s); get a new one with POST /api/v1/events/tickets just before connecting");
        }
        return unauthenticated("this WebSocket handshake needs a credential: an Authorization header, the subprotocol "
                        "raydeploy.bearer.TOKEN offered beside raydeploy, or ?ticket= from POST "
                        "/api/v1/events/tickets");
    }
    const std::string_view value = header->value();
    const auto space = value.find(' ');
    const std::string_view scheme = value.substr(0, space);
    // Never quote the header: a token sent without its scheme would be echoed into the answer,
    // the audit trail and the log.
    if (!equals_ignoring_case(scheme, "Bearer"))
        return unauthenticated("the Authorization header must be 'Bearer TOKEN' and its scheme is not Bearer");
    std::string_view token = space == std::string_view::npos ? std::string_view{} : value.substr(space + 1);
    while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
    while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
    if (token.empty()) return unauthenticated("the Authorization header has no token after 'Bearer'");
    return check_token(token);
}

auth_result token_authenticator::check_token(std::string_view token) const
{
    // Every entry is compared, whether or not an earlier one matched: the time taken does not
    // depend on which token (if any) was presented.
    const auto digest = sha256(token);
    const known_token* found = nullptr;
    for (const auto& entry : entries_) {
        const bool same = CRYPTO_memcmp(digest.data(), entry.digest.data(), digest.size()) == 0;
        found = same ? &entry : found;
    }
    if (!found)
        return unauthenticated("the bearer token is not one this service knows (revoked, mistyped or for another service)");
    return identity{found->name, found->level, false, found->person};
}

}  // namespace raydeploy
