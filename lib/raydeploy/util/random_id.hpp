// Identifiers for executions, deployments and approvals: a kind prefix and 80 random bits from
// OpenSSL's CSPRNG (RAND_bytes).
#pragma once

#include <string>
#include <string_view>

namespace raydeploy {

// `prefix` followed by 20 random hex digits, e.g. "ex-3f9c...".
std::string random_id(std::string_view prefix);

}  // namespace raydeploy
