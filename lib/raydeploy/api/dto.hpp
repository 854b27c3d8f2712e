// JSON shapes of the API's resources, shared by the HTTP handlers and the CLI's --format json,
// so both print the same document.
#pragma once

#include "raydeploy/catalog/catalog.hpp"

#include <boost/json/value.hpp>

namespace raydeploy::api {

boost::json::object checkpoint_json(const checkpoint& item);
// {"checkpoints": [...]} in catalog order.
boost::json::object checkpoint_list_json(const checkpoint_catalog& catalog);

}  // namespace raydeploy::api
