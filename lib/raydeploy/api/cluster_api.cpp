// The cluster as the Ray monitor last saw it: status (both seeds' fields at once), info, nodes and
// capacity. Every answer comes from the monitor's snapshot in memory, never from a request to Ray,
// so a dashboard that hangs or answers garbage cannot slow these down; `observed_at` and `source`
// say how old the picture is and why.
#include "raydeploy/api/dto.hpp"
#include "raydeploy/api/ray_helpers.hpp"
#include "raydeploy/api/request_helpers.hpp"
#include "raydeploy/api/routes.hpp"
#include "raydeploy/engine/deployments.hpp"
#include "raydeploy/engine/execution_manager.hpp"
#include "raydeploy/http/response_cache.hpp"
#include "raydeploy/util/time.hpp"
#include "raydeploy/watch/ray_monitor.hpp"

namespace raydeploy::api {
namespace {

// The modular deployment seed's deployment_status, from the newest deployment, or from the
// checkpoints' own runs when nothing was ever deployed as a whole. Checkpoints that never run in a
// deployment (in_deployment: false, such as a teardown) are no part of its progress.
void add_deployment_progress(json::object& body, const service_state& state)
{
    json::array completed;
    std::size_t total = 0;
    bool any_run = false, any_failed = false;
    for (const auto& item : state.catalog.checkpoints()) {
        if (!item.in_deployment) continue;
        ++total;
        const execution_record* latest = state.executions->latest(item.name);
        if (!latest) continue;
        any_run = true;
        if (latest->status == execution_status::succeeded) completed.emplace_back(item.name);
        else if (is_final(latest->status)) any_failed = true;
    }
    const deployment_record* newest = state.deployments->newest();
    std::string_view overall = "NOT_STARTED";
    if (newest) {
        switch (newest->status) {
        case deployment_status::queued:
        case deployment_status::running: overall = "IN_PROGRESS"; break;
        case deployment_status::awaiting_approval: overall = "AWAITING_APPROVAL"; break;
        case deployment_status::succeeded: overall = "COMPLETED"; break;
        case deployment_status::failed:
        case deployment_status::cancelled: overall = "FAILED"; break;
        }
    } else if (any_run) {
        overall = completed.size() == total ? "COMPLETED" : any_failed ? "FAILED" : "IN_PROGRESS";
    }
    body["deployment_status"] = overall;
    body["completed_checkpoints"] = std::move(completed);
    body["total_checkpoints"] = total;
    body["deployment_id"] = newest ? json::value(newest->id) : json::value(nullptr);
}

// HEALTHY: the dashboard answers in full and the head is alive. DEGRADED: it answers in part, or
// the head is not among the alive nodes. UNHEALTHY: no answer, or no node alive. UNKNOWN: not
// watched, or not polled yet. DEAD nodes alone do not degrade it: Ray lists a replaced node as DEAD
// for a while after it was restarted.
std::string ray_cluster_status(const watch::ray_monitor& monitor)
{
    using watch::source_state;
    if (!monitor.enabled()) return "UNKNOWN";
    switch (monitor.health().state()) {
    case source_state::unknown: return "UNKNOWN";
    case source_state::unreachable: return "UNHEALTHY";
    case source_state::connected:
    case source_state::degraded: break;
    }
    const auto& snapshot = monitor.snapshot();
    if (!snapshot || !snapshot->nodes) return "DEGRADED";
    bool head_alive = false;
    std::size_t alive = 0;
    for (const auto& node : *snapshot->nodes) {
        if (!node.alive()) continue;
        ++alive;
        head_alive = head_alive || node.is_head;
    }
    if (alive == 0) return "UNHEALTHY";
    return head_alive && monitor.health().connected() ? "HEALTHY" : "DEGRADED";
}

std::string overall_status(std::string_view ray, std::string_view monitoring)
{
    if (ray == "UNKNOWN" || ray == "UNHEALTHY") return std::string{ray};
    if (ray == "DEGRADED" || monitoring == "DEGRADED" || monitoring == "UNHEALTHY") return "DEGRADED";
    return "HEALTHY";
}

json::object monitoring_json(const watch::ray_monitor& monitor)
{
    json::array endpoints;
    for (const auto& probe : monitor.monitoring()) {
        json::object item{{"name", probe.name}, {"url", probe.url}};
        item["up"] = probe.up ? json::value(*probe.up) : nullptr;
        item["error"] = probe.error.empty() ? json::value(nullptr) : json::value(probe.error);
        endpoints.push_back(std::move(item));
    }
    return json::object{{"status", monitor.monitoring_status()}, {"endpoints", std::move(endpoints)}};
}

json::object cluster_status(const service_state& state)
{
    json::object body;
    add_deployment_progress(body, state);
    const watch::ray_monitor& monitor = monitor_of(state);
    const std::string ray = ray_cluster_status(monitor);
    const auto& snapshot = monitor.snapshot();
    const watch::ray_snapshot empty;
    // Counted, not read off nodes_view: that builds every node's JSON, 70 ms a request at 10,000 nodes.
    const auto [total_nodes, alive_nodes] = watch::count_nodes(snapshot ? *snapshot : empty);
    json::object health{{"overall_status", overall_status(ray, monitor.monitoring_status())},
                        {"ray_cluster", json::object{{"status", ray}, {"nodes", alive_nodes}}},
                        {"monitoring", monitoring_json(monitor)}};
    body["cluster_health"] = std::move(health);
    // The management API seed's fields.
    body["healthy"] = ray == "HEALTHY";
    body["total_nodes"] = total_nodes;
    body["alive_nodes"] = alive_nodes;
    body["total_applications"] = snapshot && snapshot->serve ? snapshot->serve->applications.size() : 0;
    body["resources"] = watch::capacity_view(snapshot ? *snapshot : empty);
    body["observed_at"] = observed_at(monitor);
    body["source"] = monitor.source_json();
    return body;
}

json::object cluster_info(const service_state& state)
{
    const watch::ray_monitor& monitor = monitor_of(state);
    const auto& snapshot = monitor.snapshot();
    json::value head_address = nullptr;
    if (snapshot && snapshot->nodes)
        for (const auto& node : *snapshot->nodes)
            if (node.is_head && node.alive() && !node.ip.empty())
                // Ray's dashboard does not say the GCS port; the playbooks deploy Ray's default.
                head_address = node.ip + ":6379";
    json::object body{{"head_address", head_address},
                      {"dashboard_url", monitor.dashboard_url()},
                      {"management_api_url", state.public_url},
                      {"cluster_name", monitor.settings().cluster_name}};
    body["ray_version"] = snapshot && snapshot->version ? json::value(snapshot->version->ray_version) : nullptr;
    body["session_name"] = snapshot && snapshot->version && !snapshot->version->session_name.empty()
                               ? json::value(snapshot->version->session_name)
                               : nullptr;
    std::optional<std::int64_t> serve_port;
    if (snapshot && snapshot->serve && snapshot->serve->running) serve_port = snapshot->serve->http_port;
    body["serve_http_port"] = serve_port ? *serve_port : std::int64_t{monitor.settings().serve_http_port};
    stamp(body, monitor);
    return body;
}

}  // namespace

void add_cluster_routes(router& routes, const std::shared_ptr<const service_state>& state)
{
    // Polled by dashboards, CI and monitoring: built from memory only when something it shows changed.
    add_route(routes, http::verb::get, "/api/v1/cluster/status", role::viewer,
              [state, cache = std::make_shared<web::response_cache>()](request_context& ctx) -> net::awaitable<response> {
                  const std::string key = std::to_string(state->executions->generation()) + ' ' +
                                          std::to_string(state->deployments->generation()) + ' ' +
                                          std::to_string(monitor_of(*state).generation());
                  co_return cache->get(ctx.req, key, [&] { return json::value(cluster_status(*state)); });
              });

    add_route(routes, http::verb::get, "/api/v1/cluster/info", role::viewer, [state](request_context&) -> net::awaitable<response> {
        co_return json_response(http::status::ok, cluster_info(*state));
    });

    add_route(routes, http::verb::get, "/api/v1/resources/nodes", role::viewer, [state](request_context&) -> net::awaitable<response> {
        const auto& monitor = monitor_of(*state);
        // The view was serialized once for this snapshot (4 MB at 10,000 nodes); only the stamp is new.
        json::object stamped;
        stamp(stamped, monitor);
        co_return json_response(http::status::ok, monitor.nodes_view_json(), stamped);
    });

    add_route(routes, http::verb::get, "/api/v1/resources/capacity", role::viewer, [state](request_context&) -> net::awaitable<response> {
        const auto& monitor = monitor_of(*state);
        json::object body = watch::capacity_view(monitor.snapshot() ? *monitor.snapshot() : watch::ray_snapshot{});
        stamp(body, monitor);
        co_return json_response(http::status::ok, body);
    });
}

}  // namespace raydeploy::api
