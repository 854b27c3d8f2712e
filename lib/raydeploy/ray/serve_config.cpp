// The read-modify-write of Serve's declarative config, without I/O (see serve_config.hpp).
#include "raydeploy/ray/serve_config.hpp"

#include <algorithm>
#include <map>
#include <stdexcept>

namespace raydeploy::ray {

namespace {

std::string name_of(const json::object& app)
{
    const auto* name = app.if_contains("name");
    // Serve's own default for an application without a name.
    return name && name->is_string() ? std::string{name->get_string()} : std::string{"default"};
}

}  // namespace

serve_config serve_config_from(const json::object& details, std::uint16_t default_http_port)
{
    serve_config config;
    const auto* controller = details.if_contains("controller_info");
    config.serve_running = controller && controller->is_object() && !controller->get_object().empty();

    json::object http_options{{"host", "0.0.0.0"}, {"port", default_http_port}};
    if (config.serve_running) {
        // Serve ignores http_options once it runs (it logs a warning); repeating what it runs
        // keeps the PUT honest about what it changes.
        if (const auto* given = details.if_contains("http_options"); given && given->is_object()) {
            const auto& options = given->get_object();
            if (const auto* host = options.if_contains("host")) http_options["host"] = *host;
            if (const auto* port = options.if_contains("port")) http_options["port"] = *port;
        }
        if (const auto* location = details.if_contains("proxy_location"); location && location->is_string())
            config.options["proxy_location"] = *location;
        // Left out, a PUT would reset a lowered target capacity to 100 %.
        if (const auto* capacity = details.if_contains("target_capacity"); capacity && capacity->is_number())
            config.options["target_capacity"] = *capacity;
    }
    config.options["http_options"] = std::move(http_options);

    const auto* apps = details.if_contains("applications");
    if (!apps || apps->is_null()) return config;
    if (!apps->is_object())
        throw std::invalid_argument{"Serve's answer has no applications map: is ray.dashboard_url a Ray 2.x dashboard?"};
    for (const auto& [name, app] : apps->get_object()) {
        if (!app.is_object()) throw std::invalid_argument{"Serve's answer lists application '" + std::string{name} + "' as " +
                                                          "something other than an object"};
        const auto* deployed = app.get_object().if_contains("deployed_app_config");
        if (!deployed || !deployed->is_object()) {
            config.not_declarative.emplace_back(name);
            continue;
        }
        json::object copy = deployed->get_object();
        if (!copy.contains("name")) copy["name"] = std::string{name};
        config.applications.push_back(std::move(copy));
    }
    return config;
}

const json::object* find_application(const serve_config& config, std::string_view name)
{
    for (const auto& app : config.applications)
        if (name_of(app) == name) return &app;
    return nullptr;
}

serve_config with_application(serve_config config, json::object app)
{
    const std::string name = name_of(app);
    for (auto& existing : config.applications) {
        if (name_of(existing) != name) continue;
        existing = std::move(app);
        return config;
    }
    config.applications.push_back(std::move(app));
    return config;
}

serve_config without_application(serve_config config, std::string_view name)
{
    std::erase_if(config.applications, [&](const json::object& app) { return name_of(app) == name; });
    return config;
}

bool same_applications(const serve_config& a, const serve_config& b)
{
    if (a.applications.size() != b.applications.size() || a.not_declarative != b.not_declarative) return false;
    std::map<std::string, const json::object*> by_name;
    for (const auto& app : a.applications) by_name[name_of(app)] = &app;
    for (const auto& app : b.applications) {
        const auto it = by_name.find(name_of(app));
        if (it == by_name.end() || *it->second != app) return false;
    }
    return true;
}

std::optional<std::string> route_prefix_owner(const serve_config& config, std::string_view route_prefix,
                                              std::string_view except_name)
{
    for (const auto& app : config.applications) {
        const std::string name = name_of(app);
        if (name == except_name) continue;
        const auto* prefix = app.if_contains("route_prefix");
        // Serve's default route prefix is "/".
        const std::string_view served = !prefix ? std::string_view{"/"}
                                        : prefix->is_string() ? std::string_view{prefix->get_string()}
                                                              : std::string_view{};
        if (!served.empty() && served == route_prefix) return name;
    }
    return std::nullopt;
}

json::object put_body(const serve_config& config)
{
    json::object body = config.options;
    json::array applications;
    for (const auto& app : config.applications) applications.push_back(app);
    body["applications"] = std::move(applications);
    return body;
}

json::object application_config(const application_request& request, const std::vector<std::string>& known_deployments)
{
    json::object app{{"name", request.name}, {"import_path", request.import_path}, {"route_prefix", request.route_prefix}};
    if (request.runtime_env) app["runtime_env"] = *request.runtime_env;
    if (request.args) app["args"] = *request.args;

    auto with_defaults = [&](json::object entry) {
        if (request.num_replicas && !entry.contains("num_replicas")) entry["num_replicas"] = *request.num_replicas;
        if (request.ray_actor_options && !entry.contains("ray_actor_options"))
            entry["ray_actor_options"] = *request.ray_actor_options;
        return entry;
    };
    json::array deployments;
    if (!request.deployments.empty()) {
        for (const auto& entry : request.deployments) deployments.push_back(with_defaults(entry));
    } else if (request.num_replicas || request.ray_actor_options) {
        for (const auto& name : known_deployments) deployments.push_back(with_defaults(json::object{{"name", name}}));
    }
    if (!deployments.empty()) app["deployments"] = std::move(deployments);
    return app;
}

bool needs_deployment_names(const application_request& request, const std::vector<std::string>& known_deployments)
{
    return (request.num_replicas || request.ray_actor_options) && request.deployments.empty() &&
           known_deployments.empty();
}

std::vector<std::string> deployment_names(const json::object& details, std::string_view name)
{
    std::vector<std::string> names;
    const auto* apps = details.if_contains("applications");
    if (!apps || !apps->is_object()) return names;
    const auto* app = apps->get_object().if_contains(name);
    if (!app || !app->is_object()) return names;
    const auto* deployments = app->get_object().if_contains("deployments");
    if (!deployments || !deployments->is_object()) return names;
    for (const auto& member : deployments->get_object()) names.emplace_back(member.key());
    std::sort(names.begin(), names.end());
    return names;
}

}  // namespace raydeploy::ray
