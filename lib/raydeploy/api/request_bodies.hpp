// The JSON bodies of the write routes, read and checked before the engine is asked anything. Each
// function throws api_error for a bad body: 400 INVALID_JSON, or 422 VALIDATION_ERROR naming the
// field. They live apart from their handlers so that the fuzz target of request bodies
// (tests/fuzz/fuzz_request_bodies.cpp) runs exactly what the handlers run.
#pragma once

#include "raydeploy/api/request_helpers.hpp"
#include "raydeploy/engine/approvals.hpp"
#include "raydeploy/engine/deployments.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace raydeploy::api {

// A body as a JSON object (at most 32 levels deep); an empty or blank body is an empty object.
// json_body(ctx) is this over the request's body.
json::object parse_json_body(std::string_view body);

// POST /api/v1/checkpoints/{name}: the run's parameters and whether the caller approves it inline.
struct run_request {
    execution_params params;
    bool approve = false;
};
run_request run_request_from(const json::object& body);

// POST /api/v1/approvals/{checkpoint}.
grant_input grant_from(const json::object& body);

// POST /api/v1/approvals/{checkpoint}/deny.
struct denial_request {
    std::string reason;
    std::optional<std::string> approval_id;
};
denial_request denial_from(const json::object& body);

// POST /api/v1/deployments.
deployment_request deployment_from(const json::object& body);

// POST /api/v1/resources/nodes/add: a CML worker's size.
struct node_request {
    double cpu = 0;
    double memory = 0;
    std::int64_t gpus = 0;
};
node_request node_request_from(const json::object& body);

// POST /api/v1/events/tickets takes no fields.
void check_ticket_request(const json::object& body);

// The jobs and Serve applications bodies are job_submission_from and application_request_from
// (ray_requests.hpp).

}  // namespace raydeploy::api
