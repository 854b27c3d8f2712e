// Role names.
#include "raydeploy/auth/identity.hpp"

#include <cctype>

namespace raydeploy {

std::string_view to_string(role value)
{
    switch (value) {
    case role::viewer: return "viewer";
    case role::operator_: return "operator";
    case role::approver: return "approver";
    case role::admin: return "admin";
    }
    return "unknown";
}

std::optional<role> parse_role(std::string_view name)
{
    for (role candidate : {role::viewer, role::operator_, role::approver, role::admin})
        if (to_string(candidate) == name) return candidate;
    return std::nullopt;
}

std::string_view role_names() { return "viewer, operator, approver, admin"; }

std::string person_key(std::string_view person_or_name)
{
    std::string key;
    key.reserve(person_or_name.size());
    for (char c : person_or_name) key += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return key;
}

std::string person_key(const identity& caller) { return person_key(caller.person.empty() ? caller.name : caller.person); }

bool same_person(std::string_view a, std::string_view b) { return person_key(a) == person_key(b); }

}  // namespace raydeploy
