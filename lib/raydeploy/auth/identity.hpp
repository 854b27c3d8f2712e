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
    // The human (or system) behind the token: the entry's `person`, or its name when it has none.
    // Several tokens of one person (a laptop's and a CI job's) share it, so the four-eyes rule
    // sees one person; compare with same_person().
    std::string person;
};

// The key the four-eyes rule and approval bindings compare: `person`, else `name`, in lower case,
// so "Alice" and "alice" are one person whatever the token entries spell.
std::string person_key(const identity& caller);
std::string person_key(std::string_view person_or_name);
bool same_person(std::string_view a, std::string_view b);

}  // namespace raydeploy
