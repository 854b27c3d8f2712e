// Nodes of the Ray cluster raydeploy launched on CML (cml/ray_cluster.hpp), added and removed as
// CML applications: the management API's other half (../shared/seeds/management-api.md).
//
// A worker added here is an application like launch-ray-cluster's workers (same tags, same
// script), so teardown-ray-cluster removes it too and the nodes view names it. Its start is
// followed in the background: an event per CML status change, then one when Ray lists its node
// ALIVE, so the caller (or a WebSocket follower) sees it join without polling.
#include "raydeploy/api/ray_helpers.hpp"
#include "raydeploy/api/request_bodies.hpp"
#include "raydeploy/api/routes.hpp"
#include "raydeploy/cml/cml_client.hpp"
#include "raydeploy/cml/ray_cluster.hpp"
#include "raydeploy/events/event_log.hpp"
#include "raydeploy/util/log.hpp"
#include "raydeploy/util/random_id.hpp"
#include "raydeploy/watch/ray_monitor.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>

namespace raydeploy::api {
namespace {

// A copy: the record may change (a teardown) while a handler awaits CML.
cml::ray_cluster cluster_of(const service_state& state)
{
    if (!state.cml_cluster || !state.cml_cluster->current())
        throw api_error{http::status::conflict, "NO_CML_CLUSTER",
                        "no Ray cluster launched on CML is recorded: serve the CML catalog (--catalog "
                        "cml/checkpoints.yaml) and run launch-ray-cluster first"};
    if (!state.cml || !state.cml->configured())
        throw api_error{http::status::service_unavailable, "CML_NOT_CONFIGURED",
                        "CML is not configured: set cml.host and the API key (docs/cml.md), then try again"};
    return *state.cml_cluster->current();
}

// The one mapping from CML's failures to API errors for these routes.
// `not_found_code`: what a 404 from CML means for the route.
[[noreturn]] void throw_cml_error(const cml::cml_error& e, std::string_view not_found_code)
{
    switch (e.kind()) {
    case cml::cml_error_kind::unauthorized:
        throw api_error{http::status::bad_gateway, "CML_UNAUTHORIZED", e.what()};
    case cml::cml_error_kind::rejected:
        throw api_error{http::status::unprocessable_entity, "CML_REJECTED", e.what()};
    case cml::cml_error_kind::not_found:
        if (not_found_code == "NO_CML_CLUSTER")
            throw api_error{http::status::conflict, "NO_CML_CLUSTER",
                            std::string{e.what()} + "; the project of the recorded Ray cluster is gone from CML: run "
                                                    "setup-project and launch-ray-cluster again"};
        throw api_error{http::status::not_found, std::string{not_found_code}, e.what()};
    case cml::cml_error_kind::bad_answer:
        throw api_error{http::status::bad_gateway, "CML_ERROR", e.what()};
    default:
        throw api_error{http::status::service_unavailable, "CML_UNAVAILABLE",
                        std::string{e.what()} + "; try again once the workspace answers"};
    }
}

// A required amount in (0, max]; `example` shows what is asked when it is missing.
double required_amount(const json::object& body, std::string_view name, double max, std::string_view example)
{
    const auto* value = body.if_contains(name);
    if (!value) invalid_field(name, "required: " + std::string{example});
    if (!value->is_number()) invalid_field(name, "expected a number");
    const double amount = value->to_number<double>();
    if (!(amount > 0) || amount > max)
        invalid_field(name, "expected a number above 0 and at most " + std::to_string(static_cast<int>(max)));
    return amount;
}

// A Ray node named after the application (the scripts pass --node-name) and holding work.
const watch::ray_node* node_named(const service_state& state, std::string_view name)
{
    if (!state.ray || !state.ray->snapshot() || !state.ray->snapshot()->nodes) return nullptr;
    for (const auto& node : *state.ray->snapshot()->nodes)
        if (node.name == name && node.alive()) return &node;
    return nullptr;
}

bool holds_work(const watch::ray_node& node)
{
    for (const auto& [name, amount] : node.resources)
        if ((name == "CPU" || name == "GPU") && amount.used && *amount.used > 0) return true;
    return false;
}

// Follows a worker added through the API until it runs and Ray lists it ALIVE (or it failed),
// publishing each step. Bounded: gives up after `limit` and says so.
net::awaitable<void> follow_new_node(std::shared_ptr<const service_state> state, std::string project_id,
                                     cml::application app)
{
    const auto interval = state->cml->poll_interval;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes{30};
    auto executor = co_await net::this_coro::executor;
    net::steady_timer timer{executor};
    cml::cml_client client{executor, *state->cml};
    std::string seen = app.status_text;
    bool running = app.status == cml::application_status::running;
    while (std::chrono::steady_clock::now() < deadline) {
        if (running) {
            if (node_named(*state, app.name)) {
                state->events->append(global_event("cml.node_alive", {{"app_id", app.id}, {"app_name", app.name}}));
                co_return;
            }
            if (state->ray) state->ray->poll_now();
        }
        timer.expires_after(interval);
        auto [ec] = co_await timer.async_wait(nothrow_awaitable);
        if (ec) co_return;
        if (running) continue;
        std::string problem;
        try {
            app = co_await client.get_application(project_id, app.id);
        } catch (const std::exception& e) {
            problem = e.what();
        }
        if (!problem.empty()) {
            state->events->append(global_event(
                "cml.node_status", {{"app_id", app.id}, {"app_name", app.name}, {"old_status", seen},
                                    {"new_status", nullptr}, {"error", problem}}));
            co_return;
        }
        if (app.status_text != seen) {
            state->events->append(global_event(
                "cml.node_status", {{"app_id", app.id}, {"app_name", app.name}, {"old_status", seen},
                                    {"new_status", app.status_text}}));
            seen = app.status_text;
        }
        if (app.status == cml::application_status::failed || app.status == cml::application_status::stopped) co_return;
        running = app.status == cml::application_status::running;
    }
    log::warn("stopped following a node added through the API: it did not join within 30 minutes",
              {{"app_id", app.id}, {"app_name", app.name}, {"status", seen}});
}

}  // namespace

node_request node_request_from(const json::object& body)
{
    reject_unknown_fields(body, {"cpu", "memory", "node_type", "gpus"});
    const auto node_type = string_field(body, "node_type", null_is::refused).value_or("worker");
    if (node_type != "worker")
        invalid_field("node_type", "only \"worker\" nodes can be added; the head is launch-ray-cluster's");
    node_request request;
    request.cpu = required_amount(body, "cpu", 512, "the worker's vCPUs, e.g. 8");
    request.memory = required_amount(body, "memory", 4096, "the worker's memory in GB, e.g. 32");
    request.gpus = integer_field(body, "gpus", 0, 16, null_is::refused).value_or(0);
    return request;
}

void add_node_routes(router& routes, const std::shared_ptr<const service_state>& state)
{
    add_audited(routes, state, http::verb::post, "/api/v1/resources/nodes/add", role::operator_, "node.add",
                [state](request_context& ctx) -> net::awaitable<response> {
                    const node_request size = node_request_from(json_body(ctx));
                    const double cpu = size.cpu;
                    const double memory = size.memory;
                    const std::int64_t gpus = size.gpus;
                    const cml::ray_cluster cluster = cluster_of(*state);
                    const std::string name = cluster.prefix + "-ray-worker-" + random_id("").substr(0, 6);
                    const auto spec = cml::worker_application(*state->cml, cluster.prefix, name, cluster.worker_script,
                                                              cpu, memory, gpus);
                    auto executor = co_await net::this_coro::executor;
                    cml::cml_client client{executor, *state->cml};
                    cml::application made;
                    try {
                        made = co_await client.create_application(cluster.project_id, spec);
                    } catch (const cml::cml_error& e) {
                        throw_cml_error(e, "NO_CML_CLUSTER");
                    }
                    // Re-read: the cluster may have changed while CML answered.
                    if (state->cml_cluster->current()) {
                        cml::ray_cluster updated = *state->cml_cluster->current();
                        updated.applications.push_back({made.id, made.name, "worker", cpu, memory, gpus});
                        state->cml_cluster->record(std::move(updated));
                    }
                    state->events->append(global_event(
                        "cml.node_added", {{"app_id", made.id}, {"app_name", made.name}, {"cpu", cpu},
                                           {"memory", memory}, {"gpus", gpus}, {"status", made.status_text},
                                           {"requested_by", ctx.caller.name}}));
                    net::co_spawn(executor, follow_new_node(state, cluster.project_id, made), net::detached);
                    co_return json_response(http::status::accepted,
                                            json::object{{"status", "success"},
                                                         {"app_id", made.id},
                                                         {"app_name", made.name},
                                                         {"cpu", cpu},
                                                         {"memory", memory},
                                                         {"gpus", gpus},
                                                         {"node_type", "worker"},
                                                         {"app_status", made.status_text}});
                });

    add_audited(routes, state, http::verb::delete_, "/api/v1/resources/nodes/{app_id}", role::operator_, "node.remove",
                [state](request_context& ctx) -> net::awaitable<response> {
                    const std::string& app_id = ctx.path_param("app_id");
                    const bool force = query_flag(ctx, "force");
                    const cml::ray_cluster cluster = cluster_of(*state);
                    auto executor = co_await net::this_coro::executor;
                    cml::cml_client client{executor, *state->cml};
                    // CML's own word, not the record: only an application tagged as this cluster's
                    // worker is removed, whatever id the caller sends.
                    cml::application app;
                    std::string lookup_error;
                    try {
                        app = co_await client.get_application(cluster.project_id, app_id);
                    } catch (const cml::cml_error& e) {
                        if (e.kind() != cml::cml_error_kind::not_found) throw_cml_error(e, "NODE_NOT_FOUND");
                        lookup_error = e.what();
                    }
                    const std::string role = lookup_error.empty() ? cml::role_in_cluster(app, cluster.prefix) : "";
                    if (role.empty())
                        throw api_error{http::status::not_found, "NODE_NOT_FOUND",
                                        "no worker application '" + app_id + "' in the Ray cluster " + cluster.prefix +
                                            "; GET /api/v1/resources/nodes lists the nodes and their cml_app_id",
                                        json::object{{"app_id", app_id}}};
                    if (role == "head")
                        throw api_error{http::status::conflict, "HEAD_NODE",
                                        "'" + app.name + "' is the cluster's head: removing it ends the cluster; run "
                                        "teardown-ray-cluster for that",
                                        json::object{{"app_id", app_id}}};
                    // Decided before any await: a poll meanwhile replaces the snapshot the node is in.
                    const bool busy = [&] {
                        const auto* node = node_named(*state, app.name);
                        return node && holds_work(*node);
                    }();
                    if (busy && !force)
                        throw api_error{http::status::conflict, "NODE_BUSY",
                                        "Ray work is running on '" + app.name + "' and would end; retry with ?force=true "
                                        "to remove it anyway, or wait until it is idle",
                                        json::object{{"app_id", app_id}}};
                    try {
                        if (app.status != cml::application_status::stopped &&
                            app.status != cml::application_status::failed) {
                            cml::application stopping = co_await client.stop_application(cluster.project_id, app_id);
                            (void)stopping;
                        }
                        const bool existed = co_await client.delete_application(cluster.project_id, app_id);
                        (void)existed;
                    } catch (const cml::cml_error& e) {
                        throw_cml_error(e, "NODE_NOT_FOUND");
                    }
                    if (state->cml_cluster->current()) {
                        cml::ray_cluster updated = *state->cml_cluster->current();
                        std::erase_if(updated.applications,
                                      [&](const cml::cluster_application& a) { return a.app_id == app_id; });
                        state->cml_cluster->record(std::move(updated));
                    }
                    state->events->append(global_event(
                        "cml.node_removed",
                        {{"app_id", app_id}, {"app_name", app.name}, {"forced", busy}, {"requested_by", ctx.caller.name}}));
                    co_return json_response(http::status::ok,
                                            json::object{{"status", "success"}, {"app_id", app_id}, {"app_name", app.name}});
                });
}

}  // namespace raydeploy::api
