// Serve's declarative config as raydeploy rewrites it, apart from any I/O.
//
// Serve's REST API has no "add one application": PUT /api/serve/applications/ replaces the whole
// set, deleting every application it does not list (reference part B.7). So each write of the
// applications API is a read-modify-write, and this file is its pure half:
//
//   1. serve_config_from(GET answer)       every running application's deployed_app_config, plus
//                                          the instance options a PUT must repeat;
//   2. with_application / without_application   the one change asked for;
//   3. serve_config_from(a second GET) and same_applications(first, second): anything changed
//      in between means another writer is at work, and the write is refused (409) rather than
//      undoing theirs;
//   4. put_body(changed)                    the body of the PUT.
//
// An application nobody deployed through raydeploy is kept exactly as its deployed_app_config
// says: raydeploy never rewrites, reorders or "normalises" another application's config.
//
// @par Thread safety
// Plain values and pure functions.
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace raydeploy::ray {

namespace json = boost::json;

struct serve_config {
    // A Serve controller exists (Serve answered with controller_info); false before the first
    // deploy and after DELETE /api/serve/applications/.
    bool serve_running = false;
    // proxy_location, http_options {host, port} and target_capacity (when set), as Serve runs
    // them; when Serve is not running: http_options {host "0.0.0.0", port = the setting}, which
    // the PUT that starts Serve applies.
    json::object options;
    // Each application's deployed_app_config, in the order Serve lists them.
    std::vector<json::object> applications;
    // Applications Serve runs without a deployed_app_config (deployed with serve.run() from
    // Python, "imperative"): a declarative PUT cannot keep them, so raydeploy refuses to write.
    std::vector<std::string> not_declarative;
};

// Reads the answer of GET /api/serve/applications/ (a JSON object). `default_http_port` is the
// port Serve's proxy gets when this write starts Serve (ray.serve_http_port). Throws
// std::invalid_argument, saying what is wrong, when `details` is not Serve's shape.
serve_config serve_config_from(const json::object& details, std::uint16_t default_http_port);

// The application named `name`, if the config has it.
const json::object* find_application(const serve_config& config, std::string_view name);

// `config` with `app` (a ServeApplicationSchema with a "name") in place of the application of the
// same name, or added at the end.
serve_config with_application(serve_config config, json::object app);
// `config` without the application `name` (unchanged when absent).
serve_config without_application(serve_config config, std::string_view name);

// Whether both list the same applications with the same configs, in any order.
bool same_applications(const serve_config& a, const serve_config& b);

// The name of another application (not `except_name`) that serves `route_prefix`, if any.
std::optional<std::string> route_prefix_owner(const serve_config& config, std::string_view route_prefix,
                                              std::string_view except_name);

// The body of PUT /api/serve/applications/: the options and every application. An empty list
// is a valid body: it deletes every application and leaves Serve running (unlike DELETE
// /api/serve/applications/, which shuts Serve down and with it the proxy's port).
json::object put_body(const serve_config& config);

// ------------------------------------------------------------------------------------------------
// The applications API's request, mapped to Serve's ServeApplicationSchema.

// One entry of the request's `deployments`: a DeploymentSchema override, passed to Serve as given
// after the top-level defaults are filled in.
struct application_request {
    std::string name;
    std::string import_path;
    std::string route_prefix;                 // "/name" when the request had none
    std::optional<std::int64_t> num_replicas; // default for every deployment
    std::optional<json::object> ray_actor_options;  // default for every deployment
    std::optional<json::object> runtime_env;
    std::optional<json::object> args;
    std::vector<json::object> deployments;  // each has a "name"
};

// The ServeApplicationSchema for `request`. Serve sets replicas and actor options per deployment,
// never per application, so the request's top-level num_replicas and ray_actor_options are
// written into every deployment entry that does not set its own: the entries of `deployments`,
// and when there are none, one entry per name in `known_deployments` (the deployments Serve
// reports for the application, from an earlier deploy). With neither, the defaults cannot be
// placed yet and the config has no deployments (see needs_deployment_names).
json::object application_config(const application_request& request,
                                 const std::vector<std::string>& known_deployments);

// True when the request sets defaults that application_config could not place: no
// `deployments` and no known deployment names. The writer then deploys first and applies the
// defaults once Serve lists the application's deployments.
bool needs_deployment_names(const application_request& request, const std::vector<std::string>& known_deployments);

// The deployment names Serve reports for application `name` in a GET answer (its "deployments"
// map), sorted; empty when unknown.
std::vector<std::string> deployment_names(const json::object& details, std::string_view name);

}  // namespace raydeploy::ray
