// The sans-I/O step of the Ray poller: what one poll of the Ray dashboard saw, the parsers that turn
// each endpoint's body into it, the diff that turns two observations into events, its persisted form
// and the views the REST API answers from. Nothing here opens a socket, reads a clock or logs: the
// fetch loop (watch/ray_monitor) feeds bodies in and takes snapshots, events and views out, so all of
// it is tested on canned answers (tests/fixtures/ray/<version>/).
//
// The facts about Ray's answers are in ../shared/reference/cml-and-ray-apis.md part B. A new poller
// (CML next) follows the same split: <source>_snapshot.{hpp,cpp} for parse/diff/views beside
// source_health.hpp, and the loop in <source>_monitor.{hpp,cpp}.
//
// One poll, as the monitor runs it:
//   1. GET the five endpoints (endpoint_paths below) and parse each 200 body with its parse_*;
//      a transport failure, a non-200 status or a parse error becomes that part's error text.
//   2. current = assemble_snapshot(now, version, cluster_status, nodes, jobs, serve);
//   3. events = diff(have_previous ? &previous : nullptr, current);
//   4. previous = carry_forward(previous, current) (parts that failed this time keep their last
//      known value, so the next diff compares against it), persist to_json(previous).
//   5. source_health::record(outcome_of(current), now) for the connected/degraded/unreachable events.
//
// @par Thread safety
// Plain values and pure functions: share a snapshot between threads only as const.
#pragma once

#include <boost/container/flat_map.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace raydeploy::watch {

namespace json = boost::json;

// The paths the monitor polls, exactly as Ray routes them (trailing slashes matter, part B.1).
namespace ray_paths {
inline constexpr std::string_view version = "/api/version";
inline constexpr std::string_view cluster_status = "/api/cluster_status";
inline constexpr std::string_view nodes = "/api/v0/nodes?limit=10000&detail=true";
inline constexpr std::string_view jobs = "/api/jobs/";
inline constexpr std::string_view serve_applications = "/api/serve/applications/";
}  // namespace ray_paths

// Bounds on what one answer may list; an answer over them is rejected as garbage.
inline constexpr std::size_t max_ray_nodes = 100'000;
inline constexpr std::size_t max_ray_jobs = 100'000;
inline constexpr std::size_t max_serve_applications = 10'000;
inline constexpr std::size_t max_serve_deployments = 10'000;  // per application

// ---------------------------------------------------------------------------------------------
// What Ray reports

// GET /api/version. Older Ray omits session_name.
struct ray_version_info {
    std::string ray_version;       // "2.60.0"
    std::string jobs_api_version;  // the `version` field, opaque ("4")
    std::string ray_commit;
    std::string session_name;      // changes when the cluster is restarted
};

// One resource as [used, total], the order Ray's load metrics use.
struct resource_usage {
    double used = 0;
    double total = 0;
};

// Resources by name, as the cluster status reports them.
using resource_usages = boost::container::flat_map<std::string, resource_usage, std::less<>>;

// One resource of a node: how much the node has (the State API's resources_total) and how much of it
// is in use (the cluster status's usageByNode; unset when that answer did not say).
struct node_resource {
    double total = 0;
    std::optional<double> used;
};

// A node's resources by name. A node has a handful (CPU, GPU, memory, object_store_memory, node:IP,
// custom ones) and a poll of a large cluster reads tens of thousands of them: a sorted vector
// allocates once per node where a tree allocates once per resource, and keeping total and used
// together lets assemble_snapshot fill in usage without allocating at all.
using node_resources = boost::container::flat_map<std::string, node_resource, std::less<>>;

// GET /api/cluster_status (format=0), its loadMetricsReport. Resource names are Ray's original
// names (`object_store_memory`, `node:__internal_head__`) once assemble_snapshot has mapped the
// envelope's camelCase back; straight out of parse_cluster_status they are as Ray sent them.
struct ray_cluster_status {
    bool has_load_metrics = false;  // false: clusterStatus was null (autoscaler v2, monitor not up yet)
    resource_usages usage;
    // Per node, in the order Ray lists them (not sorted: assemble_snapshot looks each one up among
    // the nodes, which are). assemble_snapshot moves them onto the nodes (node_resource::used) and
    // keeps them here only when the nodes are unknown in that poll.
    struct node_usage {
        std::string node_id;
        resource_usages usage;
    };
    std::vector<node_usage> usage_by_node;
    std::optional<double> report_time;  // epoch seconds the autoscaler monitor wrote the report
    std::optional<std::string> autoscaling_error;
};

// One row of GET /api/v0/nodes.
struct ray_node {
    std::string node_id;  // 56 hex characters
    std::string ip;
    std::string name;
    bool is_head = false;  // is_head_node, or the node:__internal_head__ resource on older Ray
    std::string state;     // "ALIVE" or "DEAD", as Ray says
    std::optional<std::string> state_message;
    node_resources resources;  // "CPU", "GPU", "memory" (bytes), "object_store_memory", ...
    std::optional<std::int64_t> start_time_ms;
    std::optional<std::int64_t> end_time_ms;  // 0 while alive

    bool alive() const { return state == "ALIVE"; }
    // Whether the cluster status said how much of this node's resources is in use.
    bool usage_known() const;
};

// One entry of GET /api/jobs/.
struct ray_job {
    std::string type;  // "SUBMISSION" or "DRIVER"
    std::optional<std::string> submission_id;  // null for DRIVER jobs
    std::optional<std::string> job_id;         // null while PENDING (and for submissions on Ray 2.60)
    std::string status;                        // PENDING, RUNNING, STOPPED, SUCCEEDED, FAILED
    std::string entrypoint;
    std::optional<std::string> message;
    std::optional<std::string> error_type;
    std::optional<std::int64_t> start_time;  // epoch ms
    std::optional<std::int64_t> end_time;    // epoch ms, once terminal
    json::object metadata;
    json::value runtime_env;  // null when unset; may hold secrets in env_vars (see redact_env_vars)
    std::optional<std::int64_t> driver_exit_code;

    // The id the job is known by: its submission id, else its Ray job id.
    const std::string& key() const { return submission_id ? *submission_id : *job_id; }
    bool is_terminal() const { return status == "STOPPED" || status == "SUCCEEDED" || status == "FAILED"; }
};

struct serve_deployment {
    std::string name;
    std::string status;  // UPDATING, HEALTHY, UNHEALTHY, DEPLOY_FAILED, UPSCALING, DOWNSCALING
    std::string message;
    // target_num_replicas, or on older Ray deployment_config.num_replicas when it is a number.
    std::optional<std::int64_t> target_num_replicas;
    std::int64_t replicas = 0;          // replicas listed, any state
    std::int64_t running_replicas = 0;  // replicas in state RUNNING
};

struct serve_application {
    std::string name;
    std::string status;  // NOT_STARTED, DEPLOYING, DEPLOY_FAILED, RUNNING, UNHEALTHY, DELETING
    std::string message;
    std::optional<std::string> route_prefix;
    std::optional<double> last_deployed_time_s;  // epoch seconds
    json::value deployed_app_config;               // the submitted config as Serve echoes it; null when absent
    std::vector<serve_deployment> deployments;     // by name
};

// GET /api/serve/applications/.
struct ray_serve_status {
    // False when Ray answered 501 (Serve not installed): build it with serve_not_installed().
    bool installed = true;
    bool running = false;  // a Serve controller exists
    std::optional<std::int64_t> http_port;  // http_options.port while Serve runs
    std::string proxy_location;
    std::vector<serve_application> applications;  // by name
};

// The answer to use when GET /api/serve/applications/ is 501: Ray works, Serve is not installed.
ray_serve_status serve_not_installed();

// ---------------------------------------------------------------------------------------------
// Parsing: one function per endpoint, from a 200 body. They never throw: a malformed body, a wrong
// top-level type or a list over its bound gives `error` (naming the endpoint and what was wrong);
// missing optional fields (older Ray), unknown fields (newer Ray) and null optional objects are fine.

template <class T>
struct parse_result {
    std::optional<T> value;
    std::string error;  // set when value is empty

    explicit operator bool() const { return value.has_value(); }
    static parse_result failure(std::string why) { return {std::nullopt, std::move(why)}; }
};

parse_result<ray_version_info> parse_version(std::string_view body);
parse_result<ray_cluster_status> parse_cluster_status(std::string_view body);
parse_result<std::vector<ray_node>> parse_nodes(std::string_view body);  // sorted by node_id
parse_result<std::vector<ray_job>> parse_jobs(std::string_view body);    // sorted by key()
parse_result<ray_serve_status> parse_serve_applications(std::string_view body);

// Ray's lowerCamelCase rendering of a key in the legacy envelope (dashboard/utils.to_camel_case):
// "object_store_memory" -> "objectStoreMemory", "node:__internal_head__" -> "node:InternalHead".
std::string ray_camel_case(std::string_view snake);

// ---------------------------------------------------------------------------------------------
// The snapshot

enum class ray_part { version, cluster_status, nodes, jobs, serve };
std::string_view to_string(ray_part part);  // "version", "cluster_status", "nodes", "jobs", "serve"

struct ray_part_error {
    ray_part part;
    std::string message;  // "GET /api/v0/nodes answered invalid JSON", "HTTP 500", ...
};

// One observation. A part is empty when its endpoint failed in this poll (its error is in
// `errors`), unless carry_forward filled it from an earlier poll (then it is listed in `stale`).
struct ray_snapshot {
    std::chrono::system_clock::time_point observed_at;
    std::optional<ray_version_info> version;
    std::optional<ray_cluster_status> cluster_status;
    std::optional<std::vector<ray_node>> nodes;
    std::optional<std::vector<ray_job>> jobs;
    std::optional<ray_serve_status> serve;
    std::vector<ray_part_error> errors;  // in ray_part order
    std::vector<ray_part> stale;         // parts copied from an earlier poll

    bool has(ray_part part) const;  // present and fresh (not stale)
    bool complete() const { return errors.empty(); }
    bool any_part() const;          // at least one endpoint answered in this poll
};

// Builds the snapshot of one poll from the five results of the parse_* functions, whose lists are
// sorted as they say (failed results become `errors`). Maps
// cluster status resource names back to Ray's original names (those the nodes use, then the
// well-known ones) and fills in each node's resources' `used` from usageByNode (a resource the
// node's row does not list is left out: the nodes answer is the authority on what a node has).
ray_snapshot assemble_snapshot(std::chrono::system_clock::time_point observed_at,
                               parse_result<ray_version_info> version,
                               parse_result<ray_cluster_status> cluster_status,
                               parse_result<std::vector<ray_node>> nodes,
                               parse_result<std::vector<ray_job>> jobs,
                               parse_result<ray_serve_status> serve);

// `current` with each part it lacks taken from `previous` (and listed in `stale`); errors stay.
ray_snapshot carry_forward(const ray_snapshot& previous, ray_snapshot current);

// Cluster-wide [used, total] per resource: the cluster status's usage when it has load metrics,
// else the alive nodes' resources summed (used where known, else 0).
resource_usages cluster_resources(const ray_snapshot& snapshot);

// ---------------------------------------------------------------------------------------------
// Changes between two observations

// An event to publish: type "cluster.node_alive", "cluster.node_dead", "cluster.job_status" or
// "cluster.serve_app_status", and its data.
struct ray_change {
    std::string type;
    json::object data;
};

// The per-item changes from `before` to `after`, nodes (by node_id) then jobs (by key) then Serve
// applications (by name). With no `before` (first observation ever) there are none: the monitor
// reports the connection with a summary instead. A part missing from `before`, or missing or stale
// in `after`, gives no events (a failed /api/v0/nodes is not every node dying); a stale part of
// `before` is the last known state and is compared. Data, by type:
//   node_alive:       node_id, node_name, node_ip, is_head, old_state (null when newly seen, "DEAD")
//   node_dead:        node_id, node_name, node_ip, is_head, old_state "ALIVE",
//                     new_state ("DEAD", or "GONE" when Ray no longer lists it), state_message
//   job_status:       submission_id, job_id, type, entrypoint, old_status (null when newly seen),
//                     new_status, message, error_type, driver_exit_code
//   serve_app_status: name, old_status (null when newly seen), new_status ("DELETED" when gone),
//                     message, route_prefix
// A job that disappears (DELETE /api/jobs/{id}) gives no event: its status did not change.
std::vector<ray_change> diff(const ray_snapshot* before, const ray_snapshot& after);

// ---------------------------------------------------------------------------------------------
// Persistence: to_json writes every field; snapshot_from_json reads it back (nullopt when the
// document is not one, e.g. written by an incompatible version: start without a previous snapshot).

json::value to_json(const ray_snapshot& snapshot);
std::optional<ray_snapshot> snapshot_from_json(const json::value& document);

// ---------------------------------------------------------------------------------------------
// Views in the management API's shapes (../shared/seeds/management-api.md), extended, never broken.
// Memory is in GiB (bytes / 2^30, two decimals): the seed's "GB" examples are GiB (32 GiB nodes
// reported as 32). Resource maps leave out Ray's per-node marker resources ("node:<ip>",
// "node:__internal_head__"). Integral numbers are JSON integers.

// {"nodes": [{node_id, node_name, node_ip, node_type "head"|"worker", cml_app_id,
//   cml_app_name (null for a node that is no CML application), alive, state, state_message, resources {...}, resources_used {...}}],
//  "total_nodes", "alive_nodes"}; head first, then by name. Empty list when nodes are unknown.
// The CML application a Ray node is, by the node's name (raydeploy names the nodes of a cluster
// it launched on CML after their applications; cml/ray_cluster.hpp).
struct node_application {
    std::string app_id;
    std::string app_name;
};
using node_applications = std::map<std::string, node_application, std::less<>>;
// `applications` fills cml_app_id and cml_app_name of the nodes it names.
json::object nodes_view(const ray_snapshot& snapshot, const node_applications& applications = {});
// The nodes listed and those ALIVE, without building the view.
struct node_count {
    std::int64_t total = 0;
    std::int64_t alive = 0;
};
node_count count_nodes(const ray_snapshot& snapshot);

// {total_cpus, available_cpus, total_memory, available_memory, total_gpus, available_gpus,
//  utilization_percent}: utilization = used CPU / total CPU * 100, one decimal (0 without CPUs).
json::object capacity_view(const ray_snapshot& snapshot);

// {name, status, route_prefix, num_replicas (sum of the deployments' targets), running_replicas,
//  message, last_deployed_time (ISO-8601 UTC or null)}.
json::object application_view(const serve_application& app);
// application_view plus "deployments" [{name, status, message, target_num_replicas, replicas,
// running_replicas}] and "deployed_app_config" with env_vars values redacted.
json::object application_detail_view(const serve_application& app);
// {"applications": [application_view...], "total_applications"}.
json::object applications_view(const ray_snapshot& snapshot);

// {submission_id, job_id, type, status, entrypoint, message, error_type, start_time, end_time
//  (ISO-8601 UTC or null), driver_exit_code, metadata, runtime_env}; with `redact`, every
// env_vars value in runtime_env is replaced (viewers see the names, not the values).
json::object job_view(const ray_job& job, bool redact);

// A copy of `value` where each value of every "env_vars" object is replaced by "<redacted>".
json::value redact_env_vars(const json::value& value);

// Epoch milliseconds / seconds as "2026-01-19T10:30:00.000Z".
std::string iso_from_epoch_ms(std::int64_t epoch_ms);

}  // namespace raydeploy::watch
