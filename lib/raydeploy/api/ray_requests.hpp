// The bodies of the Ray routes (POST /api/v1/jobs, POST /api/v1/applications), checked field by
// field before anything reaches Ray: Ray's own refusals are Python tracebacks, ours name the field
// (422 VALIDATION_ERROR with "field"). Pure: unit-tested without a service.
#pragma once

#include "raydeploy/ray/dashboard_client.hpp"
#include "raydeploy/ray/serve_config.hpp"

#include <boost/json/object.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace raydeploy::api {

// POST /api/v1/jobs: entrypoint (required, non-empty string), runtime_env (object), metadata
// (object of strings), submission_id ([A-Za-z0-9_-]{1,128}). Throws api_error 422 naming the
// first bad or unknown field.
ray::job_submission job_submission_from(const boost::json::object& body);

// POST /api/v1/applications: name ([A-Za-z0-9_-]{1,64}), import_path ("module.sub:attr" or
// "module.attr"), route_prefix (starts with "/", no trailing "/" unless it is "/", no "{" "}";
// default "/NAME"), num_replicas (integer 1..10000), ray_actor_options (object; num_cpus,
// num_gpus, memory numbers >= 0; resources an object of numbers >= 0), runtime_env (object),
// args (object), deployments (list of objects with a unique "name", each's num_replicas and
// ray_actor_options checked as above). Throws api_error 422 naming the first bad or unknown
// field ("deployments[1].num_replicas").
ray::application_request application_request_from(const boost::json::object& body);

// ?status=RUNNING,FAILED: the job statuses to keep (empty: all). Throws api_error 400
// INVALID_PARAMETER naming an unknown status.
std::vector<std::string> job_status_filter(std::string_view text);

// Whether `id` can be a Ray submission id or job id (letters, digits, '_' and '-', 1 to 128).
bool valid_job_id(std::string_view id);
// Whether `name` can be an application name of this API ([A-Za-z0-9_-]{1,64}).
bool valid_application_name(std::string_view name);

}  // namespace raydeploy::api
