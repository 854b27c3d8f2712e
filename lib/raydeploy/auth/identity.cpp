// Role names.
#include "raydeploy/auth/identity.hpp"

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

}  // namespace raydeploy
