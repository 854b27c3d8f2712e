#include "raydeploy/cml/ray_cluster.hpp"

#include "raydeploy/store/sqlite.hpp"
#include "raydeploy/util/log.hpp"
#include "raydeploy/util/time.hpp"

#include <boost/json/parse.hpp>
#include <boost/url/parse.hpp>
#include <boost/json/serialize.hpp>

#include <cmath>

namespace raydeploy::cml {

namespace json = boost::json;

namespace {

std::optional<std::string> string_of(const json::object& object, std::string_view key)
{
    const auto* value = object.if_contains(key);
    if (!value || !value->is_string()) return std::nullopt;
    return std::string{value->get_string()};
}

std::optional<double> number_of(const json::object& object, std::string_view key)
{
    const auto* value = object.if_contains(key);
    if (!value || !value->is_number()) return std::nullopt;
    return value->to_number<double>();
}

}  // namespace

std::string application_url(const cml_settings& settings, std::string_view subdomain)
{
    std::string url = settings.application_url;
    if (url.empty()) {
        const auto host = boost::urls::parse_absolute_uri(settings.host);
        url = "https://{subdomain}." + (host ? std::string{host->encoded_host()} : std::string{"invalid"});
    }
    const auto placeholder = url.find("{subdomain}");
    if (placeholder != std::string::npos) url.replace(placeholder, 11, subdomain);
    while (!url.empty() && url.back() == '/') url.pop_back();
    return url;
}

std::string subdomain_prefix(std::string_view project_name)
{
    std::string prefix;
    for (char c : project_name) {
        const char lower = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
        const bool kept = (lower >= 'a' && lower <= 'z') || (lower >= '0' && lower <= '9');
        if (kept)
            prefix += lower;
        else if (!prefix.empty() && prefix.back() != '-')
            prefix += '-';
        if (prefix.size() >= 40) break;
    }
    while (!prefix.empty() && prefix.back() == '-') prefix.pop_back();
    return prefix.empty() ? std::string{"ray"} : prefix;
}

namespace {

application_spec tagged(const cml_settings& settings, std::string_view prefix, std::string name, std::string_view role)
{
    application_spec spec;
    spec.subdomain = name;
    spec.name = std::move(name);
    spec.runtime_identifier = settings.runtime_identifier;
    spec.environment[std::string{cluster_variable}] = std::string{prefix};
    spec.environment[std::string{role_variable}] = std::string{role};
    spec.environment[std::string{node_name_variable}] = spec.name;
    // CML's own sign-in guards the dashboard; raydeploy reaches it with the Ray token (docs/cml.md).
    spec.bypass_authentication = false;
    return spec;
}

}  // namespace

application_spec head_application(const cml_settings& settings, const ray_cluster_config& config, std::string_view prefix)
{
    application_spec spec = tagged(settings, prefix, std::string{prefix} + "-ray-head", "head");
    spec.description = "Ray head of the cluster " + std::string{prefix} + ", launched by raydeploy";
    spec.script = config.head_script;
    spec.cpu = config.head_cpu;
    spec.memory = config.head_memory;
    spec.environment["RAY_HEAD_PORT"] = std::to_string(gcs_port);
    return spec;
}

application_spec worker_application(const cml_settings& settings, std::string_view prefix, std::string name,
                                    std::string script, double cpu, double memory, std::int64_t gpus)
{
    application_spec spec = tagged(settings, prefix, std::move(name), "worker");
    spec.description = "Ray worker of the cluster " + std::string{prefix} + ", launched by raydeploy";
    spec.script = std::move(script);
    spec.cpu = cpu;
    spec.memory = memory;
    spec.nvidia_gpu = gpus;
    return spec;
}

std::string role_in_cluster(const application& app, std::string_view prefix)
{
    const auto cluster = app.environment.find(std::string{cluster_variable});
    const auto role = app.environment.find(std::string{role_variable});
    if (cluster == app.environment.end() || cluster->second != prefix || role == app.environment.end()) return {};
    return role->second == "head" || role->second == "worker" ? role->second : std::string{};
}

const cluster_application* ray_cluster::find(std::string_view app_id) const
{
    for (const auto& application : applications)
        if (application.app_id == app_id) return &application;
    return nullptr;
}

const cluster_application* ray_cluster::find_by_name(std::string_view app_name) const
{
    for (const auto& application : applications)
        if (application.app_name == app_name) return &application;
    return nullptr;
}

json::object ray_cluster::to_json() const
{
    json::array listed;
    for (const auto& application : applications)
        listed.push_back(json::object{{"app_id", application.app_id},
                                      {"app_name", application.app_name},
                                      {"role", application.role},
                                      {"cpu", application.cpu},
                                      {"memory", application.memory},
                                      {"gpus", application.gpus}});
    json::object out{{"project_id", project_id},
                     {"prefix", prefix},
                     {"dashboard_url", dashboard_url},
                     {"worker_script", worker_script},
                     {"head_address", nullptr},
                     {"applications", std::move(listed)},
                     {"execution_id", execution_id}};
    if (head_address) out["head_address"] = *head_address;
    return out;
}

std::optional<ray_cluster> ray_cluster::from_json(const json::value& document)
{
    const auto* object = document.if_object();
    if (!object) return std::nullopt;
    ray_cluster cluster;
    auto project = string_of(*object, "project_id");
    auto prefix = string_of(*object, "prefix");
    auto dashboard = string_of(*object, "dashboard_url");
    const auto* listed = object->if_contains("applications");
    if (!project || !prefix || !dashboard || !listed || !listed->is_array()) return std::nullopt;
    cluster.project_id = std::move(*project);
    cluster.prefix = std::move(*prefix);
    cluster.dashboard_url = std::move(*dashboard);
    cluster.head_address = string_of(*object, "head_address");
    cluster.worker_script = string_of(*object, "worker_script").value_or("");
    cluster.execution_id = string_of(*object, "execution_id").value_or("");
    for (const auto& item : listed->get_array()) {
        const auto* entry = item.if_object();
        if (!entry) return std::nullopt;
        auto id = string_of(*entry, "app_id");
        auto name = string_of(*entry, "app_name");
        auto role = string_of(*entry, "role");
        if (!id || !name || !role) return std::nullopt;
        // A count, converted only when it is one: a double outside int64 is undefined behaviour.
        const double gpus = number_of(*entry, "gpus").value_or(0);
        if (!(gpus >= 0 && gpus <= 1'000'000) || gpus != std::floor(gpus)) return std::nullopt;
        cluster.applications.push_back({std::move(*id), std::move(*name), std::move(*role),
                                        number_of(*entry, "cpu").value_or(0), number_of(*entry, "memory").value_or(0),
                                        static_cast<std::int64_t>(gpus)});
    }
    return cluster;
}

launch_plan plan_launch(const std::optional<ray_cluster>& recorded, const ray_cluster_config& config,
                        std::string_view prefix)
{
    launch_plan plan;
    const auto compare = [&](const std::string& name, double cpu, double memory, std::int64_t gpus) {
        const cluster_application* known =
            recorded && recorded->prefix == prefix ? recorded->find_by_name(name) : nullptr;
        if (!known) {
            plan.creates.push_back(name);
            return;
        }
        std::vector<std::string> fields;
        if (known->cpu != cpu) fields.emplace_back("cpu");
        if (known->memory != memory) fields.emplace_back("memory");
        if (known->gpus != gpus) fields.emplace_back("nvidia_gpu");
        if (!fields.empty()) plan.restarts.push_back({name, std::move(fields)});
    };
    compare(std::string{prefix} + "-ray-head", config.head_cpu, config.head_memory, 0);
    for (unsigned index = 1; index <= config.num_workers; ++index)
        compare(std::string{prefix} + "-ray-worker-" + std::to_string(index), config.worker_cpu, config.worker_memory,
                config.worker_gpus);
    return plan;
}

ray_cluster_registry::ray_cluster_registry(sqlite::database& db) : db_{db}
{
    auto query = db_.prepare("SELECT cluster FROM cml_ray_cluster WHERE id = 1");
    if (!query.step()) return;
    boost::system::error_code ec;
    const auto document = json::parse(query.column_text(0), ec);
    current_ = ec ? std::nullopt : ray_cluster::from_json(document);
    if (!current_)
        log::warn("ignoring the stored CML Ray cluster: it is not one this version reads; run launch-ray-cluster "
                  "again to record it");
}

void ray_cluster_registry::record(ray_cluster cluster)
{
    auto statement = db_.prepare(
        "INSERT INTO cml_ray_cluster (id, updated_at, cluster) VALUES (1, ?1, ?2) "
        "ON CONFLICT (id) DO UPDATE SET updated_at = excluded.updated_at, cluster = excluded.cluster");
    statement.bind(1, now_timestamp());
    statement.bind(2, json::serialize(cluster.to_json()));
    statement.step();
    current_ = std::move(cluster);
    notify();
}

void ray_cluster_registry::forget()
{
    db_.exec("DELETE FROM cml_ray_cluster");
    current_.reset();
    notify();
}

void ray_cluster_registry::follow(std::function<void(const std::optional<ray_cluster>&)> follower)
{
    follower(current_);
    followers_.push_back(std::move(follower));
}

void ray_cluster_registry::notify()
{
    for (const auto& follower : followers_) follower(current_);
}

}  // namespace raydeploy::cml
