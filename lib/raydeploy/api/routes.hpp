// The service's REST API: the route table and the state its handlers read.
#pragma once

#include "raydeploy/catalog/catalog.hpp"
#include "raydeploy/http/router.hpp"

#include <chrono>
#include <memory>

namespace raydeploy::api {

struct service_state {
    checkpoint_catalog catalog;
    std::chrono::steady_clock::time_point started_at = std::chrono::steady_clock::now();
};

// Every route the service serves. openapi/openapi.yaml documents exactly these (a unit test
// compares the two).
router make_router(std::shared_ptr<const service_state> state);

}  // namespace raydeploy::api
