// Bearer tokens. The configuration holds only each token's SHA-256 (a leaked config file gives
// no access); a request's token is hashed and compared with every configured hash in constant
// time, so neither the timing nor an early exit tells an attacker how close a guess was.
#pragma once

#include "raydeploy/auth/identity.hpp"
#include "raydeploy/util/net.hpp"

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace raydeploy {

// One entry of `auth.tokens`.
struct token_entry {
    std::string name;
    role level = role::viewer;
    std::string sha256_hex;  // 64 lower-case hex digits
    // Who holds the token, when one person has several (laptop, CI): the four-eyes rule compares
    // persons. Empty: the name is the person.
    std::string person;
};

// The SHA-256 of `data` as 64 lower-case hex digits.
std::string sha256_hex(std::string_view data);

// A fresh token: "rdp_" and 32 random bytes from OpenSSL's CSPRNG in unpadded base64url (43
// characters). The prefix makes a leaked token easy to recognise in logs and secret scanners.
std::string generate_token();

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
    explicit token_authenticator(const std::vector<token_entry>& entries);

    // The caller of `req`, from its `Authorization: Bearer TOKEN` header. With no tokens
    // configured (open mode) every caller is {"local", admin, open_mode}. Otherwise throws
    // api::api_error 401 UNAUTHENTICATED when the header is missing, malformed or names no
    // configured token.
    identity authenticate(const http::request<http::string_body>& req) const;

    bool open_mode() const { return entries_.empty(); }

private:
    struct known_token {
        std::string name;
        role level;
        std::string person;
        std::array<unsigned char, 32> digest;
    };
    std::vector<known_token> entries_;
};

}  // namespace raydeploy
