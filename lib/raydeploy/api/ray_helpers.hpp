// What the cluster, jobs and applications routes share: the monitor whose snapshot they answer
// from, the stamp saying how old that snapshot is, the client their writes go through, and the one
// mapping from Ray's failures to HTTP errors.
#pragma once

#include "raydeploy/api/routes.hpp"
#include "raydeploy/ray/dashboard_client.hpp"

#include <string_view>

namespace raydeploy::watch {
class ray_monitor;
}

namespace raydeploy::api {

// The monitor the service always builds; 503 RAY_MONITOR_UNAVAILABLE for a route table made for
// tests without one.
const watch::ray_monitor& monitor_of(const service_state& state);

// The snapshot's observed_at (null before Ray ever answered).
json::value observed_at(const watch::ray_monitor& monitor);
// Adds observed_at and source {state, last_success_at, last_error, ...} to a view's answer.
void stamp(json::object& body, const watch::ray_monitor& monitor);

// The client of the routes that change the cluster; 503 RAY_UNAVAILABLE when the Ray integration
// is disabled (ray.enabled false) or absent.
ray::dashboard_client& dashboard_of(const service_state& state);

// The one mapping from Ray's failures to API errors:
//   unavailable -> 503 RAY_UNAVAILABLE (with the monitor's view of the source), not_found -> 404
//   `not_found_code`, conflict -> 409 CONFLICT, rejected -> 422 RAY_REJECTED, failed -> 502
//   RAY_ERROR, serve_not_installed -> 503 SERVE_NOT_INSTALLED.
[[noreturn]] void throw_ray_error(const ray::ray_error& error, const service_state& state,
                                  std::string_view not_found_code);

}  // namespace raydeploy::api
