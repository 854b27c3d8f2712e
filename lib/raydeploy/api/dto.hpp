// JSON shapes of the API's resources, shared by the HTTP handlers and the CLI's --format json,
// so both print the same document.
#pragma once

#include "raydeploy/auth/identity.hpp"
#include "raydeploy/catalog/catalog.hpp"
#include "raydeploy/engine/deployments.hpp"
#include "raydeploy/engine/execution.hpp"

#include <boost/json/value.hpp>

namespace raydeploy::api {

boost::json::object checkpoint_json(const checkpoint& item);
// {"checkpoints": [...]} in catalog order.
boost::json::object checkpoint_list_json(const checkpoint_catalog& catalog);

// An execution or a deployment as `caller` may see it: extra_vars values only for operators and
// above, and never those of variables declared secret (redact_extra_vars).
boost::json::object execution_json(const execution_record& record, const checkpoint_catalog& catalog,
                                   const identity& caller);
boost::json::object deployment_json(const deployment_record& record, const checkpoint_catalog& catalog,
                                    const identity& caller);

}  // namespace raydeploy::api
