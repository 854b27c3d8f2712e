// One configured token as the settings hold it: a plain value, so that the settings (and the
// transport that reads them) need nothing of how tokens are checked (auth/tokens.hpp).
#pragma once

#include "raydeploy/auth/identity.hpp"

#include <string>

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

}  // namespace raydeploy
