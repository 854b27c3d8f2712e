// Parsing CML API v2 answers and building its request bodies (see cml_api.hpp for the tolerance
// rules and reference part A for the shapes).
#include "raydeploy/cml/cml_api.hpp"
#include "raydeploy/util/json_input.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <charconv>
#include <cmath>

namespace raydeploy::cml {
namespace {

std::string kind_of(const json::value& value)
{
    switch (value.kind()) {
    case json::kind::null: return "null";
    case json::kind::bool_: return "a boolean";
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_: return "a number";
    case json::kind::string: return "a string";
    case json::kind::array: return "an array";
    case json::kind::object: return "an object";
    }
    return "something else";
}

// Where in the answer a value sits, for messages: "job_runs[2].status".
std::string path_of(std::string_view where, std::string_view field)
{
    return where.empty() ? std::string{field} : std::string{where} + "." + std::string{field};
}

[[noreturn]] void wrong(std::string_view where, std::string_view field, std::string_view expected,
                        const json::value& got)
{
    throw cml_parse_error{path_of(where, field) + ": expected " + std::string{expected} + ", got " + kind_of(got)};
}

// A short, printable excerpt of a body that did not parse: enough to recognise an HTML page or a
// proxy's text, never a whole page in a log line, and only ASCII (the body may not be UTF-8 at all).
std::string excerpt(std::string_view body)
{
    std::string out;
    for (char c : body.substr(0, 80)) {
        const auto u = static_cast<unsigned char>(c);
        out += u < 0x20 ? ' ' : u >= 0x7f ? '?' : c;
    }
    return body.size() > 80 ? out + "..." : out;
}

json::object parse_object(std::string_view body)
{
    boost::system::error_code ec;
    json::value value = util::parse_outside_json(body, ec);
    if (ec) {
        if (body.empty()) throw cml_parse_error{"the body is empty where a JSON object was expected"};
        throw cml_parse_error{"the body is not JSON (" + ec.message() + "): \"" + excerpt(body) + "\""};
    }
    if (!value.is_object()) throw cml_parse_error{"expected a JSON object, got " + kind_of(value)};
    return std::move(value.get_object());
}

const json::value* field_of(const json::object& object, std::string_view field)
{
    const auto* value = object.if_contains(field);
    return value && !value->is_null() ? value : nullptr;
}

std::string text(const json::object& object, std::string_view where, std::string_view field)
{
    const auto* value = field_of(object, field);
    if (!value) return {};
    if (!value->is_string()) wrong(where, field, "a string", *value);
    return std::string{value->get_string()};
}

bool boolean(const json::object& object, std::string_view where, std::string_view field)
{
    const auto* value = field_of(object, field);
    if (!value) return false;
    if (!value->is_bool()) wrong(where, field, "true or false", *value);
    return value->get_bool();
}

// int32 and int64 alike: a JSON number without a fraction, or a string of digits (grpc-gateway's
// int64 encoding, reference A.1 item 2).
std::int64_t integer(const json::object& object, std::string_view where, std::string_view field)
{
    const auto* value = field_of(object, field);
    if (!value) return 0;
    if (value->is_int64()) return value->get_int64();
    if (value->is_uint64() && value->get_uint64() <= static_cast<std::uint64_t>(INT64_MAX))
        return static_cast<std::int64_t>(value->get_uint64());
    if (value->is_double()) {
        const double d = value->get_double();
        if (std::floor(d) == d && std::fabs(d) < 9.0e15) return static_cast<std::int64_t>(d);
    }
    if (value->is_string()) {
        const std::string_view digits = value->get_string();
        std::int64_t parsed = 0;
        const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), parsed);
        if (!digits.empty() && ec == std::errc{} && end == digits.data() + digits.size()) return parsed;
        throw cml_parse_error{path_of(where, field) + ": expected an integer (a number or a string of digits), got \"" +
                              excerpt(digits) + "\""};
    }
    wrong(where, field, "an integer (a number or a string of digits)", *value);
}

double number(const json::object& object, std::string_view where, std::string_view field)
{
    const auto* value = field_of(object, field);
    if (!value) return 0;
    if (value->is_number()) return value->to_number<double>();
    if (value->is_string()) {
        const std::string_view digits = value->get_string();
        double parsed = 0;
        const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), parsed);
        if (!digits.empty() && ec == std::errc{} && end == digits.data() + digits.size()) return parsed;
    }
    wrong(where, field, "a number", *value);
}

// Answers carry the environment as JSON text; an object is accepted too.
environment_map environment(const json::object& object, std::string_view where)
{
    const auto* value = field_of(object, "environment");
    if (!value) return {};
    json::value parsed;
    if (value->is_string()) {
        const std::string_view raw = value->get_string();
        if (raw.empty()) return {};
        boost::system::error_code ec;
        parsed = util::parse_outside_json(raw, ec);
        if (ec) throw cml_parse_error{path_of(where, "environment") + ": expected JSON text of an object, got \"" + excerpt(raw) + "\""};
    } else {
        parsed = *value;
    }
    if (!parsed.is_object()) wrong(where, "environment", "an object of strings", parsed);
    environment_map out;
    for (const auto& [key, item] : parsed.get_object()) {
        if (!item.is_string()) wrong(path_of(where, "environment"), key, "a string", item);
        out.emplace(key, std::string{item.get_string()});
    }
    return out;
}

std::string required_id(const json::object& object, std::string_view where)
{
    std::string id = text(object, where, "id");
    if (id.empty()) throw cml_parse_error{path_of(where, "id") + ": missing; every resource CML returns has one"};
    return id;
}

project project_from(const json::object& o, std::string_view where)
{
    project p;
    p.id = required_id(o, where);
    p.name = text(o, where, "name");
    if (const auto* owner = field_of(o, "owner")) {
        if (!owner->is_object()) wrong(where, "owner", "an object", *owner);
        p.owner = text(owner->get_object(), path_of(where, "owner"), "username");
    }
    p.creation_status = text(o, where, "creation_status");
    p.default_engine_type = text(o, where, "default_engine_type");
    p.visibility = text(o, where, "visibility");
    p.created_at = text(o, where, "created_at");
    p.updated_at = text(o, where, "updated_at");
    return p;
}

job job_from(const json::object& o, std::string_view where)
{
    job j;
    j.id = required_id(o, where);
    j.name = text(o, where, "name");
    j.script = text(o, where, "script");
    j.cpu = number(o, where, "cpu");
    j.memory = number(o, where, "memory");
    j.nvidia_gpu = integer(o, where, "nvidia_gpu");
    j.timeout = integer(o, where, "timeout");
    j.kill_on_timeout = boolean(o, where, "kill_on_timeout");
    j.parent_id = text(o, where, "parent_id");
    j.type = text(o, where, "type");
    j.runtime_identifier = text(o, where, "runtime_identifier");
    j.arguments = text(o, where, "arguments");
    j.environment = environment(o, where);
    j.paused = boolean(o, where, "paused");
    j.created_at = text(o, where, "created_at");
    j.updated_at = text(o, where, "updated_at");
    return j;
}

job_run run_from(const json::object& o, std::string_view where)
{
    job_run r;
    r.id = required_id(o, where);
    r.project_id = text(o, where, "project_id");
    r.job_id = text(o, where, "job_id");
    const std::string status = text(o, where, "status");
    if (!status.empty()) {
        r.status_text = status;
        r.status = parse_run_status(status);
    }
    r.created_at = text(o, where, "created_at");
    r.starting_at = text(o, where, "starting_at");
    r.running_at = text(o, where, "running_at");
    r.finished_at = text(o, where, "finished_at");
    r.cpu = number(o, where, "cpu");
    r.memory = number(o, where, "memory");
    r.arguments = text(o, where, "arguments");
    r.runtime_identifier = text(o, where, "runtime_identifier");
    r.environment = environment(o, where);
    return r;
}

application application_from(const json::object& o, std::string_view where)
{
    application a;
    a.id = required_id(o, where);
    a.name = text(o, where, "name");
    a.subdomain = text(o, where, "subdomain");
    a.description = text(o, where, "description");
    a.script = text(o, where, "script");
    const std::string status = text(o, where, "status");
    if (!status.empty()) {
        a.status_text = status;
        a.status = parse_application_status(status);
    }
    a.cpu = number(o, where, "cpu");
    a.memory = number(o, where, "memory");
    a.nvidia_gpu = integer(o, where, "nvidia_gpu");
    a.runtime_identifier = text(o, where, "runtime_identifier");
    a.environment = environment(o, where);
    a.bypass_authentication = boolean(o, where, "bypass_authentication");
    a.created_at = text(o, where, "created_at");
    a.running_at = text(o, where, "running_at");
    a.stopped_at = text(o, where, "stopped_at");
    return a;
}

template <class T, class From>
page<T> page_from(std::string_view body, std::string_view items_name, From from)
{
    const auto o = parse_object(body);
    page<T> result;
    result.next_page_token = text(o, "", "next_page_token");
    const auto* items = field_of(o, items_name);
    if (!items) return result;  // an empty list is omitted like any zero value
    if (!items->is_array()) wrong("", items_name, "an array", *items);
    const auto& array = items->get_array();
    result.items.reserve(array.size());
    for (std::size_t i = 0; i < array.size(); ++i) {
        const std::string where = std::string{items_name} + "[" + std::to_string(i) + "]";
        if (!array[i].is_object()) throw cml_parse_error{where + ": expected an object, got " + kind_of(array[i])};
        result.items.push_back(from(array[i].get_object(), where));
    }
    return result;
}

json::object environment_object(const environment_map& env)
{
    json::object out;
    for (const auto& [key, value] : env) out[key] = value;
    return out;
}

std::string environment_text(const environment_map& env) { return json::serialize(environment_object(env)); }

// CML's doubles: 2 and 2.0 are the same amount of CPU.
bool same_amount(double a, double b) { return std::fabs(a - b) < 1e-9; }

}  // namespace

run_status parse_run_status(std::string_view text)
{
    using enum run_status;
    static const std::pair<std::string_view, run_status> names[] = {
        {"ENGINE_SCHEDULING", scheduling}, {"ENGINE_STARTING", starting}, {"ENGINE_RUNNING", running},
        {"ENGINE_STOPPING", stopping},     {"ENGINE_STOPPED", stopped},   {"ENGINE_SUCCEEDED", succeeded},
        {"ENGINE_FAILED", failed},         {"ENGINE_TIMEDOUT", timedout}, {"ENGINE_SKIPPED", skipped}};
    for (const auto& [name, status] : names)
        if (name == text) return status;
    return unknown;
}

bool is_terminal(run_status status)
{
    using enum run_status;
    return status == stopped || status == succeeded || status == failed || status == timedout || status == skipped;
}

application_status parse_application_status(std::string_view text)
{
    using enum application_status;
    if (text == "APPLICATION_STARTING") return starting;
    if (text == "APPLICATION_RUNNING") return running;
    if (text == "APPLICATION_STOPPING") return stopping;
    if (text == "APPLICATION_STOPPED") return stopped;
    if (text == "APPLICATION_FAILED") return failed;
    return unknown;
}

std::optional<error_envelope> parse_error_envelope(std::string_view body)
{
    boost::system::error_code ec;
    const json::value value = util::parse_outside_json(body, ec);
    if (ec || !value.is_object()) return std::nullopt;
    const auto& o = value.get_object();
    error_envelope out;
    const auto* message = field_of(o, "message");
    if (!message || !message->is_string() || message->get_string().empty()) message = field_of(o, "error");
    if (message && message->is_string()) out.message = std::string{message->get_string()};
    const auto* code = field_of(o, "code");
    if (code && code->is_int64()) out.code = code->get_int64();
    else if (code && code->is_uint64()) out.code = static_cast<std::int64_t>(std::min<std::uint64_t>(code->get_uint64(), 1000));
    if (out.message.empty() && !(code && code->is_number())) return std::nullopt;
    return out;
}

project parse_project(std::string_view body) { return project_from(parse_object(body), ""); }
job parse_job(std::string_view body) { return job_from(parse_object(body), ""); }
job_run parse_job_run(std::string_view body) { return run_from(parse_object(body), ""); }
application parse_application(std::string_view body) { return application_from(parse_object(body), ""); }

page<project> parse_project_page(std::string_view body) { return page_from<project>(body, "projects", project_from); }
page<job> parse_job_page(std::string_view body) { return page_from<job>(body, "jobs", job_from); }
page<job_run> parse_job_run_page(std::string_view body) { return page_from<job_run>(body, "job_runs", run_from); }
page<application> parse_application_page(std::string_view body)
{
    return page_from<application>(body, "applications", application_from);
}

json::object create_project_body(const project_request& request)
{
    json::object body{{"name", request.name}, {"template", "git"}, {"git_url", request.git_url},
                      {"visibility", request.visibility}};
    if (!request.git_ref.empty()) body["git_ref"] = request.git_ref;
    if (!request.description.empty()) body["description"] = request.description;
    return body;
}

json::object create_job_body(const job_request& spec)
{
    json::object body{{"name", spec.name},     {"script", spec.script},         {"cpu", spec.cpu},
                      {"memory", spec.memory}, {"nvidia_gpu", spec.nvidia_gpu}, {"kill_on_timeout", spec.kill_on_timeout},
                      {"arguments", spec.arguments}, {"environment", environment_object(spec.environment)}};
    if (spec.timeout > 0) body["timeout"] = spec.timeout;
    if (!spec.parent_id.empty()) body["parent_id"] = spec.parent_id;
    if (!spec.runtime_identifier.empty()) body["runtime_identifier"] = spec.runtime_identifier;
    return body;
}

json::object job_patch_body(const job_request& spec)
{
    return {{"name", spec.name},
            {"script", spec.script},
            {"cpu", spec.cpu},
            {"memory", spec.memory},
            {"nvidia_gpu", spec.nvidia_gpu},
            {"timeout", std::to_string(spec.timeout)},
            {"kill_on_timeout", spec.kill_on_timeout},
            {"parent_id", spec.parent_id},
            {"runtime_identifier", spec.runtime_identifier},
            {"arguments", spec.arguments},
            {"environment", environment_text(spec.environment)}};
}

std::vector<std::string> job_differences(const job& current, const job_request& spec)
{
    std::vector<std::string> out;
    if (current.name != spec.name) out.emplace_back("name");
    if (current.script != spec.script) out.emplace_back("script");
    if (!same_amount(current.cpu, spec.cpu)) out.emplace_back("cpu");
    if (!same_amount(current.memory, spec.memory)) out.emplace_back("memory");
    if (current.nvidia_gpu != spec.nvidia_gpu) out.emplace_back("nvidia_gpu");
    if (current.timeout != spec.timeout) out.emplace_back("timeout");
    if (current.kill_on_timeout != spec.kill_on_timeout) out.emplace_back("kill_on_timeout");
    if (current.parent_id != spec.parent_id) out.emplace_back("parent_id");
    // An empty identifier in the spec leaves the job's as CML chose it (legacy engine projects).
    if (!spec.runtime_identifier.empty() && current.runtime_identifier != spec.runtime_identifier)
        out.emplace_back("runtime_identifier");
    if (current.arguments != spec.arguments) out.emplace_back("arguments");
    if (current.environment != spec.environment) out.emplace_back("environment");
    return out;
}

json::object create_run_body(const run_request& request)
{
    json::object body;
    if (request.arguments) body["arguments"] = *request.arguments;
    if (!request.environment.empty()) body["environment"] = environment_object(request.environment);
    return body;
}

json::object create_application_body(const application_spec& spec)
{
    json::object body{{"name", spec.name},
                      {"subdomain", spec.subdomain},
                      {"description", spec.description},
                      {"script", spec.script},
                      {"cpu", spec.cpu},
                      {"memory", spec.memory},
                      {"nvidia_gpu", spec.nvidia_gpu},
                      {"bypass_authentication", spec.bypass_authentication},
                      {"environment", environment_object(spec.environment)}};
    if (!spec.runtime_identifier.empty()) body["runtime_identifier"] = spec.runtime_identifier;
    return body;
}

json::object application_patch_body(const application_spec& spec)
{
    json::object body{{"name", spec.name},
                      {"description", spec.description},
                      {"script", spec.script},
                      {"cpu", spec.cpu},
                      {"memory", spec.memory},
                      {"nvidia_gpu", spec.nvidia_gpu},
                      {"bypass_authentication", spec.bypass_authentication},
                      {"environment", environment_text(spec.environment)}};
    if (!spec.runtime_identifier.empty()) body["runtime_identifier"] = spec.runtime_identifier;
    return body;
}

std::vector<std::string> application_differences(const application& current, const application_spec& spec)
{
    std::vector<std::string> out;
    if (current.name != spec.name) out.emplace_back("name");
    if (current.subdomain != spec.subdomain) out.emplace_back("subdomain");
    if (current.script != spec.script) out.emplace_back("script");
    if (!same_amount(current.cpu, spec.cpu)) out.emplace_back("cpu");
    if (!same_amount(current.memory, spec.memory)) out.emplace_back("memory");
    if (current.nvidia_gpu != spec.nvidia_gpu) out.emplace_back("nvidia_gpu");
    if (!spec.runtime_identifier.empty() && current.runtime_identifier != spec.runtime_identifier)
        out.emplace_back("runtime_identifier");
    if (current.bypass_authentication != spec.bypass_authentication) out.emplace_back("bypass_authentication");
    // CML copies the project's environment into an application's at creation (reference A.4), so
    // the application holds more than was asked for: only the spec's own variables are compared.
    for (const auto& [key, value] : spec.environment) {
        const auto it = current.environment.find(key);
        if (it == current.environment.end() || it->second != value) {
            out.emplace_back("environment");
            break;
        }
    }
    return out;
}

bool is_valid_subdomain(std::string_view subdomain)
{
    if (subdomain.empty() || subdomain.size() > 63 || subdomain.front() == '-' || subdomain.back() == '-') return false;
    char previous = 0;
    for (char c : subdomain) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
        if (!ok || (c == '-' && previous == '-')) return false;
        previous = c;
    }
    return true;
}

}  // namespace raydeploy::cml
