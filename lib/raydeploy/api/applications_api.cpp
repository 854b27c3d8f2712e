// Serve applications: list and read them from the monitor's snapshot; deploy and delete one through
// the dashboard's read-modify-write of Serve's whole config (ray/dashboard_client.hpp), which keeps
// every other application as Serve runs it. Both writes answer 202: Serve deploys asynchronously,
// and cluster.serve_app_status events follow the application to RUNNING or DEPLOY_FAILED.
#include "raydeploy/api/ray_helpers.hpp"
#include "raydeploy/api/ray_requests.hpp"
#include "raydeploy/api/request_helpers.hpp"
#include "raydeploy/api/routes.hpp"
#include "raydeploy/watch/ray_monitor.hpp"

namespace raydeploy::api {
namespace {

const watch::serve_application* find_application(const watch::ray_monitor& monitor, std::string_view name)
{
    const auto& snapshot = monitor.snapshot();
    if (!snapshot || !snapshot->serve) return nullptr;
    for (const auto& app : snapshot->serve->applications)
        if (app.name == name) return &app;
    return nullptr;
}

[[noreturn]] void application_not_found(std::string_view name, std::string_view why)
{
    throw api_error{http::status::not_found, "APPLICATION_NOT_FOUND",
                    "no Serve application '" + std::string{name} + "' " + std::string{why} +
                        "; GET /api/v1/applications lists them",
                    json::object{{"name", name}}};
}

}  // namespace

void add_application_routes(router& routes, const std::shared_ptr<const service_state>& state)
{
    add_route(routes, http::verb::get, "/api/v1/applications", role::viewer, [state](request_context&) -> net::awaitable<response> {
        const auto& monitor = monitor_of(*state);
        json::object body = watch::applications_view(monitor.snapshot() ? *monitor.snapshot() : watch::ray_snapshot{});
        stamp(body, monitor);
        co_return json_response(http::status::ok, body);
    });

    add_route(routes, http::verb::get, "/api/v1/applications/{name}", role::viewer,
               [state](request_context& ctx) -> net::awaitable<response> {
                   const auto& monitor = monitor_of(*state);
                   const std::string& name = ctx.path_param("name");
                   const auto* app = find_application(monitor, name);
                   if (!app) {
                       const auto when = observed_at(monitor);
                       application_not_found(name, when.is_string() ? "in Serve as observed at " +
                                                                          std::string{when.get_string()}
                                                                    : std::string{"(Ray not polled yet)"});
                   }
                   json::object body = watch::application_detail_view(*app);
                   stamp(body, monitor);
                   co_return json_response(http::status::ok, body);
               });

    add_audited(routes, state, http::verb::post, "/api/v1/applications", role::operator_, "application.deploy",
                [state](request_context& ctx) -> net::awaitable<response> {
                    const auto request = application_request_from(json_body(ctx));
                    auto& dashboard = dashboard_of(*state);
                    try {
                        co_await dashboard.deploy_application(request);
                    } catch (const ray::ray_error& e) {
                        throw_ray_error(e, *state, "APPLICATION_NOT_FOUND");
                    }
                    response res = json_response(http::status::accepted,
                                                 json::object{{"status", "accepted"},
                                                              {"name", request.name},
                                                              {"route_prefix", request.route_prefix}});
                    res.set(http::field::location, "/api/v1/applications/" + request.name);
                    co_return res;
                });

    add_audited(routes, state, http::verb::delete_, "/api/v1/applications/{name}", role::operator_,
                "application.delete", [state](request_context& ctx) -> net::awaitable<response> {
                    const std::string& name = ctx.path_param("name");
                    if (!valid_application_name(name)) application_not_found(name, "(not a valid name)");
                    auto& dashboard = dashboard_of(*state);
                    bool deleted = false;
                    try {
                        deleted = co_await dashboard.delete_application(name);
                    } catch (const ray::ray_error& e) {
                        throw_ray_error(e, *state, "APPLICATION_NOT_FOUND");
                    }
                    if (!deleted) application_not_found(name, "in Serve");
                    co_return json_response(http::status::accepted, json::object{{"status", "accepted"}, {"name", name}});
                });
}

}  // namespace raydeploy::api
