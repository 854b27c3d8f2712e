// Helpers of the Ray routes (see ray_helpers.hpp).
#include "raydeploy/api/ray_helpers.hpp"

#include "raydeploy/util/time.hpp"
#include "raydeploy/watch/ray_monitor.hpp"

namespace raydeploy::api {

const watch::ray_monitor& monitor_of(const service_state& state)
{
    if (!state.ray)
        throw api_error{http::status::service_unavailable, "RAY_MONITOR_UNAVAILABLE",
                        "this service instance does not watch a Ray cluster; start it with 'raydeploy serve'"};
    return *state.ray;
}

json::value observed_at(const watch::ray_monitor& monitor)
{
    const auto& snapshot = monitor.snapshot();
    if (!snapshot || (!snapshot->any_part() && snapshot->stale.empty())) return nullptr;
    return json::value(format_timestamp(snapshot->observed_at));
}

void stamp(json::object& body, const watch::ray_monitor& monitor)
{
    body["observed_at"] = observed_at(monitor);
    body["source"] = monitor.source_json();
}

ray::dashboard_client& dashboard_of(const service_state& state)
{
    if (state.ray && !state.ray->enabled())
        throw api_error{http::status::service_unavailable, "RAY_UNAVAILABLE",
                        "the Ray integration is disabled (ray.enabled: false); set ray.enabled to true and "
                        "ray.dashboard_url to the cluster's dashboard, then restart raydeploy"};
    if (!state.dashboard)
        throw api_error{http::status::service_unavailable, "RAY_UNAVAILABLE",
                        "this service instance does not operate a Ray cluster; start it with 'raydeploy serve'"};
    return *state.dashboard;
}

void throw_ray_error(const ray::ray_error& error, const service_state& state, std::string_view not_found_code)
{
    using kind = ray::ray_error_kind;
    switch (error.kind()) {
    case kind::unavailable: {
        std::string message = error.what();
        json::object details;
        if (state.ray) {
            const auto& last = state.ray->health().last_error();
            if (last && last->find(message) == std::string::npos && message.find(*last) == std::string::npos)
                message += " (the monitor's last poll: " + *last + ")";
            details["source"] = state.ray->source_json();
        }
        message += "; check that Ray runs and that ray.dashboard_url (" +
                   (state.ray ? state.ray->dashboard_url() : std::string{"?"}) + ") reaches its dashboard";
        throw api_error{http::status::service_unavailable, "RAY_UNAVAILABLE", message, std::move(details)};
    }
    case kind::not_found: throw api_error{http::status::not_found, std::string{not_found_code}, error.what()};
    case kind::conflict: throw api_error{http::status::conflict, "CONFLICT", error.what()};
    case kind::rejected: throw api_error{http::status::unprocessable_entity, "RAY_REJECTED", error.what()};
    case kind::serve_not_installed:
        throw api_error{http::status::service_unavailable, "SERVE_NOT_INSTALLED", error.what()};
    case kind::failed: break;
    }
    throw api_error{http::status::bad_gateway, "RAY_ERROR", error.what()};
}

}  // namespace raydeploy::api
