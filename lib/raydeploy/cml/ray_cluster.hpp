// The Ray cluster raydeploy launched on CML: one head and its workers, each a CML application.
//
// launch-ray-cluster records it, the nodes API (POST /api/v1/resources/nodes/add, DELETE
// /api/v1/resources/nodes/{app_id}) adds and removes workers, teardown-ray-cluster forgets it. The
// record is kept in the state database (one row), so a restart watches the same cluster; the Ray
// monitor follows it (its dashboard URL, and which Ray node is which application).
//
// How the parts find each other, so that the record never has to be right for Ray to work:
//   - every application raydeploy launches carries cluster_variable (the cluster's subdomain
//     prefix) and role_variable ("head" or "worker") in its environment: teardown and the nodes
//     API touch only applications that carry them, never another of the project;
//   - a Ray node is named after its application (`ray start --node-name`), which is how the nodes
//     view says which application each node is;
//   - the head writes its address (CDSW_IP_ADDRESS and Ray's GCS port) to a file in the project,
//     which every CML application of the project shares, and the workers read it there
//     (cml/scripts/ray_head.py, ray_worker.py): a worker needs nothing from raydeploy to join, and a
//     restarted head (a new address) needs no change to the workers' specs.
//
// @par Thread safety
// Used from the io_context's thread only.
#pragma once

#include "raydeploy/cml/cml_api.hpp"
#include "raydeploy/cml/cml_config.hpp"
#include "raydeploy/config/settings.hpp"

#include <boost/json/object.hpp>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace raydeploy::sqlite {
class database;
}

namespace raydeploy::cml {

inline constexpr std::string_view cluster_variable = "RAYDEPLOY_RAY_CLUSTER";
inline constexpr std::string_view role_variable = "RAYDEPLOY_RAY_ROLE";
// The application's own name, which the scripts give Ray as the node's name.
inline constexpr std::string_view node_name_variable = "RAYDEPLOY_RAY_NODE_NAME";
// Ray's GCS port on the head, given to the head's application (the scripts' default too).
inline constexpr unsigned gcs_port = 6379;

// Where CML serves the application with `subdomain` (cml.application_url).
std::string application_url(const cml_settings& settings, std::string_view subdomain);

// The subdomain prefix of a cluster in the project `project_name`: lowercase letters, digits and
// single dashes, at most 40 characters ("ray" when nothing is left). Subdomains are unique in the
// whole workspace, so two projects' clusters must not share one.
std::string subdomain_prefix(std::string_view project_name);

// The application spec of the head and of a worker named `name` (also its subdomain and its Ray
// node's name), tagged with the cluster and the role.
application_spec head_application(const cml_settings& settings, const ray_cluster_config& config,
                                  std::string_view prefix);
application_spec worker_application(const cml_settings& settings, std::string_view prefix, std::string name,
                                    std::string script, double cpu, double memory, std::int64_t gpus);
// "head" or "worker" for an application raydeploy launched for the cluster `prefix`; "" for any
// other application of the project, which raydeploy never touches.
std::string role_in_cluster(const application& app, std::string_view prefix);

// What launch-ray-cluster would change, as far as the record of the last launch tells (a change
// made in CML by hand shows only when launch runs): applications it would create, and those whose
// resources (CPU, memory, GPUs) differ from `config`, which it would restart.
struct launch_plan {
    struct restart {
        std::string app_name;
        std::vector<std::string> fields;
    };
    std::vector<std::string> creates;
    std::vector<restart> restarts;
};

struct cluster_application {
    std::string app_id;
    std::string app_name;  // also its subdomain and its Ray node's name
    std::string role;      // "head" or "worker"
    double cpu = 0;
    double memory = 0;  // GB
    std::int64_t gpus = 0;
};

struct ray_cluster {
    std::string project_id;
    std::string prefix;         // of every application's subdomain; cluster_variable's value
    std::string dashboard_url;  // the head's application URL, where the Ray dashboard answers
    std::string worker_script;  // what a worker added through the nodes API runs
    // The head's GCS address as Ray reports it (the head node's IP and gcs_port); nullopt while
    // not known (cml.wait_for_ray false, or Ray not seen yet).
    std::optional<std::string> head_address;
    std::vector<cluster_application> applications;  // the head first, then workers by name
    std::string execution_id;                       // of the launch that recorded it

    const cluster_application* find(std::string_view app_id) const;
    const cluster_application* find_by_name(std::string_view app_name) const;
    boost::json::object to_json() const;
    // nullopt for a document this version does not read.
    static std::optional<ray_cluster> from_json(const boost::json::value& document);
};

launch_plan plan_launch(const std::optional<ray_cluster>& recorded, const ray_cluster_config& config,
                        std::string_view prefix);

// The recorded cluster, in memory and in the database, and who follows it.
class ray_cluster_registry {
public:
    // Reads the stored record; a row this version cannot read is logged and ignored.
    explicit ray_cluster_registry(sqlite::database& db);

    const std::optional<ray_cluster>& current() const { return current_; }
    // Stores `cluster` (throws sqlite::error when it cannot) and tells the followers.
    void record(ray_cluster cluster);
    // Deletes the record and tells the followers.
    void forget();
    // Called with the record at once and after every change.
    void follow(std::function<void(const std::optional<ray_cluster>&)> follower);

private:
    void notify();

    sqlite::database& db_;
    std::optional<ray_cluster> current_;
    std::vector<std::function<void(const std::optional<ray_cluster>&)>> followers_;
};

}  // namespace raydeploy::cml
