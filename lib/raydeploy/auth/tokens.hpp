// Bearer tokens. The configuration holds only each token's SHA-256 (a leaked config file gives
// no access); a request's token is hashed and compared with every configured hash in constant
// time, so neither the timing nor an early exit tells an attacker how close a guess was.
#pragma once

#include "raydeploy/auth/auth_result.hpp"
#include "raydeploy/auth/token_entry.hpp"
#include "raydeploy/util/net.hpp"

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace raydeploy {

class ticket_store;

// The SHA-256 of `data` as 64 lower-case hex digits.
std::string sha256_hex(std::string_view data);

// A fresh token: "rdp_" and 32 random bytes from OpenSSL's CSPRNG in unpadded base64url (43
// characters). The prefix makes a leaked token easy to recognise in logs and secret scanners.
std::string generate_token();
// `prefix` and 32 random bytes from the CSPRNG in unpadded base64url: tokens, WebSocket tickets.
std::string generate_secret(std::string_view prefix);

// The WebSocket subprotocol of the event feed, and the one a browser offers beside it to carry
// its token (`new WebSocket(url, ["raydeploy", "raydeploy.bearer." + token])`). The server only
// ever answers with the plain one, so the token is not echoed.
inline constexpr std::string_view websocket_subprotocol = "raydeploy";
inline constexpr std::string_view bearer_subprotocol_prefix = "raydeploy.bearer.";
// The subprotocols a handshake offers (Sec-WebSocket-Protocol, comma-separated, maybe in several
// header lines), in order.
std::vector<std::string> offered_subprotocols(const http::request<http::string_body>& req);

// Problems of a single entry, for the settings loader to report at the right place; nullopt when
// the value is fine. Names end up in logs, audit rows and the env-var form "name:role:sha256",
// hence the limited alphabet.
std::optional<std::string> token_name_problem(std::string_view name);
std::optional<std::string> token_hash_problem(std::string_view sha256);

// "ci:operator:<sha256>" (":<person>" appended when set), one element of RAYDEPLOY_AUTH_TOKENS.
std::string token_env_form(const token_entry& entry);

class token_authenticator {
public:
    // `entries` must be valid (names unique, hashes of 64 hex digits): load_settings checks them.
    // `tickets` redeems the one-time tickets of WebSocket handshakes (none: tickets are refused).
    explicit token_authenticator(const std::vector<token_entry>& entries,
                                 std::shared_ptr<ticket_store> tickets = nullptr);

    // The caller of `req`, from its `Authorization: Bearer TOKEN` header, or on a
    // `websocket_handshake` (an upgrade of a WebSocket route), where browsers cannot set that
    // header, from the subprotocol raydeploy.bearer.TOKEN or a one-time ?ticket=. With no tokens
    // configured (open mode) every caller is {"local", admin, open_mode}. Otherwise the refusal
    // is 401 UNAUTHENTICATED when no credential is there or it is not valid. A token in the URL
    // (?token=, ?access_token=) is refused in every mode (400 INVALID_PARAMETER). Redeeming a
    // ticket uses it up, so authenticate a request once.
    auth_result authenticate(const http::request<http::string_body>& req, bool websocket_handshake = false) const;

    bool open_mode() const { return entries_.empty(); }

private:
    struct known_token {
        std::string name;
        role level;
        std::string person;
        std::array<unsigned char, 32> digest;
    };
    auth_result check_token(std::string_view token) const;

    std::vector<known_token> entries_;
    std::shared_ptr<ticket_store> tickets_;
};

}  // namespace raydeploy
