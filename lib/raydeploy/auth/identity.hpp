// Who is calling: the role ladder and the identity a request is made with. Roles are ordered, so
// "at least operator" is `caller.level >= role::operator_`.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace raydeploy {

// Each role can do everything the roles below it can.
enum class role { viewer, operator_, approver, admin };

// "viewer", "operator", "approver", "admin".
std::string_view to_string(role value);
// The inverse of to_string; nullopt for anything else (names are case-sensitive, as in the config).
std::optional<role> parse_role(std::string_view name);
// "viewer, operator, approver, admin", for messages that list the valid names.
std::string_view role_names();

struct identity {
    std::string name;  // the token's name, or "local" in open mode
    role level = role::viewer;
    // No tokens are configured: every caller is "local" with the admin role, so actions that must
    // name a person (approvals) take the name from the request instead.
    bool open_mode = false;
};

}  // namespace raydeploy
