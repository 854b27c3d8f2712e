// REST handlers. Each handler reads the shared service state and returns a response; errors
// leave as api_error so their JSON shape is built in one place.
#include "raydeploy/api/routes.hpp"

#include "raydeploy/api/dto.hpp"
#include "raydeploy/api/request_helpers.hpp"
#include "raydeploy/api/openapi.hpp"
#include "raydeploy/engine/cml_runners.hpp"
#include "raydeploy/engine/approvals.hpp"
#include "raydeploy/engine/execution_manager.hpp"
#include "raydeploy/events/event_bus.hpp"
#include "raydeploy/http/response_cache.hpp"
#include "raydeploy/metrics/service_metrics.hpp"
#include "raydeploy/util/version.hpp"
#include "raydeploy/watch/ray_monitor.hpp"


namespace raydeploy::api {

router make_router(std::shared_ptr<const service_state> state)
{
    router routes;

    // Load balancers and monitors call it every few seconds: built at most once a second.
    add_route(routes, http::verb::get, "/health", std::nullopt,
              [state, cache = std::make_shared<web::response_cache>()](request_context& ctx) -> net::awaitable<response> {
                  const auto uptime = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() -
                                                                                       state->started_at);
                  const bool ray_connected = state->ray && state->ray->health().connected();
                  const auto& cml = state->cml_status ? state->cml_status->available() : std::nullopt;
                  const std::string key = std::to_string(uptime.count()) + (ray_connected ? " r" : " -") +
                                          (cml ? (*cml ? " c" : " u") : " -") +
                                          (cml && !*cml ? state->cml_status->reason() : std::string{});
                  co_return cache->get(ctx.req, key, [&] {
                      // Whole seconds: Boost.JSON 1.81 prints fractions in exponent form (5.07E-1),
                      // which readers of curl output should not have to decode.
                      json::object body{{"status", "ok"}, {"version", version()}, {"uptime_s", uptime.count()}};
                      // The management API seed's fields: whether the Ray dashboard answered the last
                      // poll, and CML's the same once the CML target is configured (null until then).
                      // The service itself is fine either way, so the status stays 200.
                      body["ray_connected"] = ray_connected;
                      body["cai_available"] = cml ? json::value(*cml) : json::value(nullptr);
                      body["cai_reason"] = cml && !*cml ? json::value(state->cml_status->reason()) : json::value(nullptr);
                      return json::value(std::move(body));
                  });
              });

    // The catalog never changes while the service runs: serialised once.
    add_route(routes, http::verb::get, "/api/v1/checkpoints", role::viewer,
              [state, cache = std::make_shared<web::response_cache>()](request_context& ctx) -> net::awaitable<response> {
                  co_return cache->get(ctx.req, "catalog", [&] { return json::value(checkpoint_list_json(state->catalog)); });
              });

    add_route(routes, http::verb::get, "/api/v1/checkpoints/{name}", role::viewer, [state](request_context& ctx) -> net::awaitable<response> {
        const std::string& name = ctx.path_param("name");
        const checkpoint& item = engine_call([&]() -> const checkpoint& { return find_checkpoint(state->catalog, name); });
        co_return json_response(http::status::ok, checkpoint_json(item));
    });

    // Prometheus scrapes it. The gauges are read off the service as it asks; the rest is counted
    // where it happens.
    add_route(routes, http::verb::get, "/metrics", state->metrics_public ? std::nullopt : std::optional{role::viewer},
              [state](request_context&) -> net::awaitable<response> {
                  auto& metrics = metrics::service_metrics::instance();
                  if (state->executions) {
                      metrics.executions_running.Set(static_cast<double>(state->executions->running_count()));
                      metrics.executions_queued.Set(static_cast<double>(state->executions->queued_count()));
                  }
                  if (state->bus) {
                      metrics.subscribers.Set(static_cast<double>(state->bus->subscriber_count()));
                      metrics.subscriber_queue_max.Set(static_cast<double>(state->bus->max_lag()));
                  }
                  if (state->events) metrics.events_waiting.Set(static_cast<double>(state->events->pending()));
                  if (state->approvals)
                      metrics.approvals_pending.Set(static_cast<double>(state->approvals->all_pending().size()));
                  if (state->cml_status && state->cml_status->available())
                      metrics.poller_up("cml", *state->cml_status->available());
                  co_return text_response(http::status::ok, metrics.expose(), "text/plain; version=0.0.4; charset=utf-8");
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
