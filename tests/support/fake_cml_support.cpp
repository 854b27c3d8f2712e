// The fake CML API v2 as a child process (see fake_cml_support.hpp).
#include "support/fake_cml_support.hpp"

#include <boost/json.hpp>

#include <stdexcept>

namespace raydeploy::test {
namespace {

namespace json = boost::json;

[[noreturn]] void fail(const source_location& where, const std::string& message)
{
    throw std::runtime_error{fs::path{where.file_name()}.filename().string() + ":" + std::to_string(where.line()) +
                             ": " + message};
}

std::vector<std::string> command_line(std::vector<std::string> args, const std::string& key)
{
    args.insert(args.begin(), {"--port", "0", "--control-port", "0", "--api-key", key});
    return args;
}

}  // namespace

fake_cml::fake_cml(std::vector<std::string> args, std::string api_key, source_location where)
    : api_key_{std::move(api_key)},
      process_{"the fake CML API", "tests/fake_cml/fake_cml_api.py", command_line(std::move(args), api_key_), where},
      cml_port_{process_.port("cml_port", where)}, control_port_{process_.port("control_port", where)}
{
}

std::string fake_cml::cml_url() const { return "http://127.0.0.1:" + std::to_string(cml_port_); }

response fake_cml::cml(http::verb verb, std::string_view target, std::string body, source_location where) const
{
    std::map<std::string, std::string> headers{{"Authorization", "Bearer " + api_key_}};
    if (!body.empty()) headers.emplace("Content-Type", "application/json");
    return http_request(cml_port_, verb, target, std::move(body), headers, where);
}

json::value fake_cml::control(http::verb verb, std::string_view target, std::string body,
                              source_location where) const
{
    const auto answer =
        http_request(control_port_, verb, target, body.empty() ? std::string{"{}"} : std::move(body), {}, where);
    if (answer.result_int() != 200)
        fail(where, "the fake CML's control " + std::string{http::to_string(verb)} + " " + std::string{target} +
                        " answered " + std::to_string(answer.result_int()) + ": " + answer.body());
    return parse_json(answer.body(), where);
}

void fake_cml::reset(source_location where) const { control(http::verb::post, "/reset", {}, where); }

std::int64_t fake_cml::add_fault(const json::object& fault, source_location where) const
{
    return integer(control(http::verb::post, "/faults", json::serialize(fault), where).as_object(), "id");
}

std::int64_t fake_cml::clear_faults(source_location where) const
{
    return integer(control(http::verb::delete_, "/faults", {}, where).as_object(), "cleared");
}

void fake_cml::set_key_valid(bool valid, source_location where) const
{
    control(http::verb::post, "/key", json::serialize(json::object{{"valid", valid}}), where);
}

json::object fake_cml::state(source_location where) const
{
    return control(http::verb::get, "/state", {}, where).as_object();
}

json::array fake_cml::calls(std::string_view query, source_location where) const
{
    const std::string target = query.empty() ? std::string{"/calls"} : "/calls?" + std::string{query};
    const auto answer = control(http::verb::get, target, {}, where).as_object();
    const auto* calls = answer.if_contains("calls");
    if (!calls || !calls->is_array()) fail(where, "GET " + target + " answered no calls: " + json::serialize(answer));
    return calls->get_array();
}

std::size_t fake_cml::count_calls(std::string_view method, std::string_view path, std::int64_t since,
                                  source_location where) const
{
    std::string query = "method=" + std::string{method} + "&path=" + std::string{path};
    if (since > 0) query += "&since=" + std::to_string(since);
    return calls(query, where).size();
}

std::int64_t fake_cml::last_call(source_location where) const
{
    const auto all = calls({}, where);
    return all.empty() ? 0 : all.back().as_object().at("seq").to_number<std::int64_t>();
}

json::object fake_cml::add_project(const json::object& project, source_location where) const
{
    return control(http::verb::post, "/projects", json::serialize(project), where).as_object();
}

void fake_cml::set_project_outcome(const json::object& rule, source_location where) const
{
    control(http::verb::post, "/projects/outcome", json::serialize(rule), where);
}

void fake_cml::set_job_outcome(const json::object& rule, source_location where) const
{
    control(http::verb::post, "/jobs/outcome", json::serialize(rule), where);
}

void fake_cml::set_application_outcome(const json::object& rule, source_location where) const
{
    control(http::verb::post, "/applications/outcome", json::serialize(rule), where);
}

void fake_cml::crash_application(std::string_view application_id, source_location where) const
{
    control(http::verb::post, "/applications/crash", json::serialize(json::object{{"application_id", application_id}}),
            where);
}

std::string fake_cml::delete_run(const json::object& which, source_location where) const
{
    return text(control(http::verb::post, "/runs/delete", json::serialize(which), where).as_object(), "id");
}

json::object fake_cml::configure(const json::object& changes, source_location where) const
{
    return control(http::verb::post, "/config", json::serialize(changes), where).as_object();
}

}  // namespace raydeploy::test
