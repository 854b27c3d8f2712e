// The CML (Cloudera AI) API v2 without I/O: what its answers hold (projects, jobs, job runs,
// applications, list pages, the error envelope) and the request bodies raydeploy sends, after
// part A of ../shared/reference/cml-and-ray-apis.md.
//
// Parsing follows the reference's tolerance rules so a real workspace's variations pass:
//   - a missing or null field is its zero value (a gateway with EmitDefaults=false omits them; an
//     unset timestamp may be absent or null); only a resource's `id` must be present;
//   - int64 fields come as JSON strings ("3600"); every integer field also takes a number, and a
//     number given as a string of digits;
//   - `environment` is JSON text in answers ("{\"A\":\"1\"}"); an object is taken as well;
//   - a status CML adds later (or ENGINE_SKIPPED on an older one) is kept as text with the
//     `unknown` enum value, never an error; unknown fields are ignored.
// A field raydeploy reads that has another type (cpu: "lots", name: 7), or a body that is not a
// JSON object, is a cml_parse_error naming the field.
#pragma once

#include "raydeploy/util/net.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace raydeploy::cml {

// An answer that is not what API v2 answers. The message names the field ("job_runs[2].status:
// expected a string, got a number") and never quotes more than a short excerpt of the body.
class cml_parse_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

using environment_map = std::map<std::string, std::string>;

struct project {
    std::string id;
    std::string name;
    std::string owner;  // owner.username
    std::string creation_status;  // free text: "creating", "success", "failure: ..."
    std::string default_engine_type;
    std::string visibility;
    std::string created_at;  // RFC 3339, "" when unset
    std::string updated_at;

    // Reference A.3: `success` is ready; anything containing "fail" failed; the rest is still going.
    bool ready() const { return creation_status == "success"; }
    bool failed() const { return creation_status.find("fail") != std::string::npos; }
};

struct job {
    std::string id;
    std::string name;
    std::string script;
    double cpu = 0;
    double memory = 0;  // GB
    std::int64_t nvidia_gpu = 0;
    std::int64_t timeout = 0;  // seconds; 0: none
    bool kill_on_timeout = false;
    std::string parent_id;  // "" unless a dependent job
    std::string type;  // manual, cron, dependent
    std::string runtime_identifier;
    std::string arguments;
    environment_map environment;
    bool paused = false;
    std::string created_at;
    std::string updated_at;
};

enum class run_status { scheduling, starting, running, stopping, stopped, succeeded, failed, timedout, skipped, unknown };

// "ENGINE_RUNNING" -> running; anything else -> unknown. A missing status is the enum's zero value,
// ENGINE_SCHEDULING.
run_status parse_run_status(std::string_view text);
// SUCCEEDED, FAILED, TIMEDOUT, STOPPED and SKIPPED end a run; UNKNOWN does not (reference A.3).
bool is_terminal(run_status status);

struct job_run {
    std::string id;
    std::string project_id;
    std::string job_id;
    run_status status = run_status::scheduling;
    std::string status_text = "ENGINE_SCHEDULING";  // as CML wrote it, for messages and unknown values
    std::string created_at;
    std::string starting_at;
    std::string running_at;
    std::string finished_at;
    double cpu = 0;
    double memory = 0;
    std::string arguments;
    std::string runtime_identifier;
    environment_map environment;

    bool terminal() const { return is_terminal(status); }
};

enum class application_status { unknown, starting, running, stopping, stopped, failed };
application_status parse_application_status(std::string_view text);

struct application {
    std::string id;
    std::string name;
    std::string subdomain;
    std::string description;
    std::string script;
    application_status status = application_status::unknown;
    std::string status_text = "APPLICATION_UNKNOWN";
    double cpu = 0;
    double memory = 0;
    std::int64_t nvidia_gpu = 0;
    std::string runtime_identifier;
    environment_map environment;
    bool bypass_authentication = false;
    std::string created_at;
    std::string running_at;
    std::string stopped_at;
};

// One page of a list; `next_page_token` is "" on the last page (absent and null included).
template <class T>
struct page {
    std::vector<T> items;
    std::string next_page_token;
};

// The error envelope {"error", "code", "message", "details"} (reference A.1). `message` falls back
// to `error`; nullopt for a body that is not a JSON object with either (an HTML page, "", text).
struct error_envelope {
    std::int64_t code = 0;  // gRPC code: 3 invalid argument, 5 not found, 6 already exists, 7 permission denied...
    std::string message;
};
std::optional<error_envelope> parse_error_envelope(std::string_view body);

project parse_project(std::string_view body);
job parse_job(std::string_view body);
job_run parse_job_run(std::string_view body);
application parse_application(std::string_view body);
page<project> parse_project_page(std::string_view body);
page<job> parse_job_page(std::string_view body);
page<job_run> parse_job_run_page(std::string_view body);
page<application> parse_application_page(std::string_view body);

// ---------------------------------------------------------------------------------- requests

// CreateProjectRequest from git: CML clones `git_url` and reports creation_status as it goes.
struct project_request {
    std::string name;
    std::string git_url;
    std::string git_ref;      // "": the default branch
    std::string description;
    std::string visibility = "private";
};
json::object create_project_body(const project_request& request);

// What raydeploy manages of a job: CreateJobRequest and, through job_patch_body, the fields a PATCH
// rewrites.
struct job_request {
    std::string name;
    std::string script;
    double cpu = 1;
    double memory = 1;  // GB
    std::int64_t nvidia_gpu = 0;
    std::int64_t timeout = 0;  // seconds; 0: none
    bool kill_on_timeout = false;
    std::string parent_id;
    std::string runtime_identifier;
    std::string arguments;
    environment_map environment;
};
// CreateJobRequest: timeout an int32 number, environment an object (reference A.4).
json::object create_job_body(const job_request& spec);
// A PATCH body (a partial Job) setting every field of the spec: timeout an int64 string,
// environment JSON text, parent_id "" to make the job manual again.
json::object job_patch_body(const job_request& spec);
// The fields of `spec` that `current` differs in ("cpu", "parent_id"...), in job_request order; empty
// when a PATCH would change nothing.
std::vector<std::string> job_differences(const job& current, const job_request& spec);

struct run_request {
    std::optional<std::string> arguments;
    environment_map environment;
};
json::object create_run_body(const run_request& request);

struct application_spec {
    std::string name;
    std::string subdomain;  // DNS label, unique in the workspace
    std::string description;
    std::string script;
    double cpu = 1;
    double memory = 1;
    std::int64_t nvidia_gpu = 0;
    std::string runtime_identifier;
    environment_map environment;
    bool bypass_authentication = false;
};
json::object create_application_body(const application_spec& spec);
// PATCH of an application changes its spec only; :restart applies it (reference A.5).
json::object application_patch_body(const application_spec& spec);
std::vector<std::string> application_differences(const application& current, const application_spec& spec);

// The part of a subdomain CML accepts: ^[a-z0-9]+(-[a-z0-9]+)*$, at most 63 characters.
bool is_valid_subdomain(std::string_view subdomain);

}  // namespace raydeploy::cml
