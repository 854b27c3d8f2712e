// Checking the bodies of the jobs and applications routes (see ray_requests.hpp).
#include "raydeploy/api/ray_requests.hpp"

#include "raydeploy/api/request_helpers.hpp"
#include "raydeploy/util/utf8.hpp"

#include <algorithm>
#include <set>

namespace raydeploy::api {

namespace {

bool word_characters(std::string_view text, std::size_t max_length)
{
    return !text.empty() && text.size() <= max_length && std::all_of(text.begin(), text.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    });
}

bool python_identifier(std::string_view text)
{
    if (text.empty() || (text.front() >= '0' && text.front() <= '9')) return false;
    return std::all_of(text.begin(), text.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    });
}

// "a.b.c" where every part is a Python identifier.
bool dotted_name(std::string_view text)
{
    for (std::size_t start = 0;;) {
        const auto dot = text.find('.', start);
        if (!python_identifier(text.substr(start, dot == std::string_view::npos ? dot : dot - start))) return false;
        if (dot == std::string_view::npos) return true;
        start = dot + 1;
    }
}

// Every optional member of these bodies is a JSON object, number or string when present: null is
// refused as a wrong type (the OpenAPI document makes none of them nullable).
const json::object* object_field(const json::object& body, std::string_view name, const std::string& path)
{
    const auto* value = body.if_contains(name);
    if (!value) return nullptr;
    if (!value->is_object()) invalid_field(path, "expected a JSON object");
    return &value->get_object();
}

void check_non_negative_number(const json::value& value, const std::string& path)
{
    if (!value.is_number() || value.to_number<double>() < 0) invalid_field(path, "expected a number >= 0");
}

std::int64_t replicas(const json::value& value, const std::string& path)
{
    const auto count = whole_number(value);
    if (!count || *count < 1 || *count > 10000) invalid_field(path, "expected a whole number of replicas from 1 to 10000");
    return *count;
}

json::object actor_options(const json::value& value, const std::string& path)
{
    if (!value.is_object()) invalid_field(path, "expected an object such as {\"num_cpus\": 1}");
    const auto& options = value.get_object();
    for (const std::string_view key : {"num_cpus", "num_gpus", "memory"})
        if (const auto* number = options.if_contains(key))
            check_non_negative_number(*number, path + "." + std::string{key});
    if (const auto* resources = options.if_contains("resources")) {
        if (!resources->is_object()) invalid_field(path + ".resources", "expected an object of resource names to numbers");
        for (const auto& [name, amount] : resources->get_object())
            check_non_negative_number(amount, path + ".resources." + std::string{name});
    }
    if (const auto* env = options.if_contains("runtime_env"); env && !env->is_object())
        invalid_field(path + ".runtime_env", "expected a JSON object");
    return options;
}

void check_route_prefix(std::string_view prefix)
{
    // Serve's own rules (reference B.7); checked here so the answer names the field.
    if (prefix.empty() || prefix.front() != '/') invalid_field("route_prefix", "must start with '/' (for example /my-app)");
    if (prefix.size() > 1 && prefix.back() == '/') invalid_field("route_prefix", "must not end with '/' unless it is '/'");
    if (prefix.find_first_of("{}") != std::string_view::npos)
        invalid_field("route_prefix", "must not contain '{' or '}' (Serve routes have no wildcards)");
    if (prefix.find_first_of(" \t\r\n?#") != std::string_view::npos || utf8_length(prefix) > 256)
        invalid_field("route_prefix", "must be a URL path of at most 256 characters without spaces, '?' or '#'");
}

}  // namespace

bool valid_job_id(std::string_view id) { return word_characters(id, 128); }
bool valid_application_name(std::string_view name) { return word_characters(name, 64); }

ray::job_submission job_submission_from(const json::object& body)
{
    reject_unknown_fields(body, {"entrypoint", "runtime_env", "metadata", "submission_id"});
    ray::job_submission job;
    const auto entrypoint = string_field(body, "entrypoint", null_is::refused);
    if (!entrypoint || entrypoint->find_first_not_of(" \t\r\n") == std::string::npos)
        invalid_field("entrypoint", "required: the shell command the job runs, for example \"python train.py\"");
    job.entrypoint = *entrypoint;
    if (const auto* env = object_field(body, "runtime_env", "runtime_env")) job.runtime_env = *env;
    if (const auto* metadata = object_field(body, "metadata", "metadata")) {
        for (const auto& [key, value] : *metadata)
            if (!value.is_string()) invalid_field("metadata." + std::string{key}, "metadata values must be strings");
        job.metadata = *metadata;
    }
    if (auto id = string_field(body, "submission_id", null_is::refused)) {
        if (!valid_job_id(*id))
            invalid_field("submission_id", "1 to 128 letters, digits, '_' or '-'; leave it out and Ray picks one");
        job.submission_id = std::move(*id);
    }
    return job;
}

ray::application_request application_request_from(const json::object& body)
{
    reject_unknown_fields(body, {"name", "import_path", "route_prefix", "num_replicas", "ray_actor_options",
                                 "runtime_env", "deployments", "args"});
    ray::application_request request;
    const auto name = string_field(body, "name", null_is::refused);
    if (!name) invalid_field("name", "required: the application's name, 1 to 64 letters, digits, '_' or '-'");
    if (!valid_application_name(*name)) invalid_field("name", "1 to 64 letters, digits, '_' or '-'");
    request.name = *name;

    const auto import_path = string_field(body, "import_path", null_is::refused);
    if (!import_path) invalid_field("import_path", "required: where Serve finds the application, \"module.sub:attr\"");
    const auto colon = import_path->find(':');
    const bool well_formed = colon == std::string::npos
                                 ? dotted_name(*import_path) && import_path->find('.') != std::string::npos
                                 : dotted_name(std::string_view{*import_path}.substr(0, colon)) &&
                                       dotted_name(std::string_view{*import_path}.substr(colon + 1));
    if (!well_formed) invalid_field("import_path", "expected \"module.sub:attr\" (or \"module.attr\") of Python names");
    request.import_path = *import_path;

    if (const auto prefix = string_field(body, "route_prefix", null_is::refused)) {
        check_route_prefix(*prefix);
        request.route_prefix = *prefix;
    } else {
        request.route_prefix = "/" + request.name;
    }
    if (const auto* value = body.if_contains("num_replicas")) request.num_replicas = replicas(*value, "num_replicas");
    if (const auto* value = body.if_contains("ray_actor_options"))
        request.ray_actor_options = actor_options(*value, "ray_actor_options");
    if (const auto* env = object_field(body, "runtime_env", "runtime_env")) request.runtime_env = *env;
    if (const auto* args = object_field(body, "args", "args")) request.args = *args;

    if (const auto* deployments = body.if_contains("deployments")) {
        if (!deployments->is_array())
            invalid_field("deployments", "expected a list of per-deployment settings, [{\"name\": \"Model\", ...}]");
        std::set<std::string> names;
        std::size_t index = 0;
        for (const auto& item : deployments->get_array()) {
            const std::string path = "deployments[" + std::to_string(index++) + "]";
            if (!item.is_object()) invalid_field(path, "expected an object with a \"name\"");
            const auto& entry = item.get_object();
            const auto* entry_name = entry.if_contains("name");
            if (!entry_name || !entry_name->is_string() || entry_name->get_string().empty())
                invalid_field(path + ".name", "required: the deployment's name as the application defines it");
            if (!names.insert(std::string{entry_name->get_string()}).second)
                invalid_field(path + ".name", "named twice");
            if (const auto* value = entry.if_contains("num_replicas");
                value && !(value->is_string() && value->get_string() == "auto"))
                replicas(*value, path + ".num_replicas");
            if (const auto* value = entry.if_contains("ray_actor_options"))
                actor_options(*value, path + ".ray_actor_options");
            request.deployments.push_back(entry);
        }
    }
    return request;
}

std::vector<std::string> job_status_filter(std::string_view text)
{
    static const std::set<std::string, std::less<>> known{"PENDING", "RUNNING", "STOPPED", "SUCCEEDED", "FAILED"};
    std::vector<std::string> statuses;
    for (std::size_t start = 0; start <= text.size();) {
        const auto comma = std::min(text.find(',', start), text.size());
        std::string status{text.substr(start, comma - start)};
        std::transform(status.begin(), status.end(), status.begin(),
                       [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
        if (!known.count(status))
            invalid_parameter("status", "'" + std::string{text.substr(start, comma - start)} +
                                            "' is not a job status; use PENDING, RUNNING, STOPPED, SUCCEEDED or "
                                            "FAILED, comma-separated");
        statuses.push_back(std::move(status));
        start = comma + 1;
    }
    return statuses;
}

}  // namespace raydeploy::api
