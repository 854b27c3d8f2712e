// REST handlers. Each handler reads the shared service state and returns a response; errors
// leave as api_error so their JSON shape is built in one place.
#include "raydeploy/api/routes.hpp"

#include "raydeploy/api/dto.hpp"
#include "raydeploy/api/request_helpers.hpp"
#include "raydeploy/api/openapi.hpp"
#include "raydeploy/engine/cml_runners.hpp"
#include "raydeploy/util/version.hpp"
#include "raydeploy/watch/ray_monitor.hpp"


namespace raydeploy::api {

router make_router(std::shared_ptr<const service_state> state)
{
    router routes;

    add_route(routes, http::verb::get, "/health", std::nullopt, [state](request_context&) -> net::awaitable<response> {
        // Whole seconds: Boost.JSON 1.81 prints fractions in exponent form (5.07E-1), which
        // readers of curl output should not have to decode.
        const auto uptime =
            std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - state->started_at);
        json::object body{{"status", "ok"}, {"version", version()}, {"uptime_s", uptime.count()}};
        // The management API seed's fields: whether the Ray dashboard answered the last poll, and
        // CML's the same once the CML target is configured (null until then). The service itself
        // is fine either way, so the status stays 200.
        body["ray_connected"] = state->ray && state->ray->health().connected();
        const auto& cml = state->cml_status ? state->cml_status->available() : std::nullopt;
        body["cai_available"] = cml ? json::value(*cml) : json::value(nullptr);
        body["cai_reason"] = cml && !*cml ? json::value(state->cml_status->reason()) : json::value(nullptr);
        co_return json_response(http::status::ok, body);
    });

    add_route(routes, http::verb::get, "/api/v1/checkpoints", role::viewer, [state](request_context&) -> net::awaitable<response> {
        co_return json_response(http::status::ok, checkpoint_list_json(state->catalog));
    });

    add_route(routes, http::verb::get, "/api/v1/checkpoints/{name}", role::viewer, [state](request_context& ctx) -> net::awaitable<response> {
        const std::string& name = ctx.path_param("name");
        const checkpoint& item = engine_call([&]() -> const checkpoint& { return find_checkpoint(state->catalog, name); });
        co_return json_response(http::status::ok, checkpoint_json(item));
    });

    add_route(routes, http::verb::get, "/openapi.yaml", std::nullopt, [](request_context&) -> net::awaitable<response> {
        co_return text_response(http::status::ok, std::string{embedded::openapi_yaml()}, "application/yaml");
    });

    // Who the caller is, as the server authenticated them: what a WebUI needs to show only the
    // actions the caller's role allows.
    add_route(routes, http::verb::get, "/api/v1/whoami", role::viewer, [](request_context& ctx) -> net::awaitable<response> {
        const identity& caller = ctx.caller;
        co_return json_response(http::status::ok, json::object{{"name", caller.name},
                                                               {"person", caller.person.empty() ? caller.name : caller.person},
                                                               {"role", to_string(caller.level)},
                                                               {"open_mode", caller.open_mode}});
    });

    add_execution_routes(routes, state);
    add_event_routes(routes, state);
    add_approval_routes(routes, state);
    add_deployment_routes(routes, state);
    add_cluster_routes(routes, state);
    add_job_routes(routes, state);
    add_node_routes(routes, state);
    add_application_routes(routes, state);
    add_audit_routes(routes, state);
    add_web_ui_routes(routes);
    audit_refusals(routes, state);
    return routes;
}

}  // namespace raydeploy::api
