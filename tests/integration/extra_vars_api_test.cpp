// Suite extra_vars_api: what a run may pass to a playbook, over the real API with the real
// ansible-playbook. Every vector of issue 9 section 1 is refused (and never creates a file); a
// declared value reaches the playbook byte for byte; deployments pass each step only what it
// declares; viewers see no values and nobody sees a secret's, neither in the API, the audit
// trail, the events nor the service log. The fixture checkpoint echo-vars (tests/fixtures/ansible)
// writes its variables into the run's directory.
#include "raydeploy/engine/extra_vars.hpp"

#include "support/test_support.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <fstream>

using namespace raydeploy::test;
namespace json = boost::json;

namespace {

const fs::path fixtures = source_dir() / "tests" / "fixtures" / "ansible";
const std::string hostile_interpreter = "{{ lookup('pipe','id > owned.txt') or ansible_playbook_python }}";
const std::string secret_value = "hunter2-s3cret-value";

bool contains(std::string_view haystack, std::string_view needle) { return haystack.find(needle) != std::string_view::npos; }

std::string json_string(std::string_view text) { return json::serialize(json::value(text)); }

// Every file named `name` under `roots`.
std::vector<fs::path> files_named(const std::vector<fs::path>& roots, std::string_view name)
{
    std::vector<fs::path> found;
    for (const auto& root : roots) {
        std::error_code ec;
        for (auto it = fs::recursive_directory_iterator{root, fs::directory_options::skip_permission_denied, ec};
             !ec && it != fs::recursive_directory_iterator{}; it.increment(ec))
            if (it->path().filename() == name) found.push_back(it->path());
    }
    return found;
}

std::string field_of(const response& res)
{
    const json::object body = json_object_of(res);
    return body.contains("field") ? text(body, "field") : "<no field in " + res.body() + ">";
}

// The request is refused with 422 VALIDATION_ERROR naming `field`.
void check_refused(const response& res, std::string_view field)
{
    BOOST_TEST(res.result_int() == 422, res.body());
    BOOST_TEST(error_field_of(res) == "VALIDATION_ERROR");
    if (res.result_int() == 422) BOOST_TEST(field_of(res) == field, res.body());
}

const json::object& extra_vars_of_execution(const json::object& execution)
{
    return object_at(object_at(execution, "params"), "extra_vars");
}

std::string finished(const api_client& client, const std::string& id)
{
    const json::object done = client.wait_until(
        "/api/v1/executions/" + id, [](const json::object& e) { return is_final_status(text(e, "status")); }, 60s);
    return text(done, "status");
}

}  // namespace

BOOST_AUTO_TEST_SUITE(extra_vars_api)

BOOST_AUTO_TEST_CASE(every_vector_of_the_issue_is_refused_and_creates_nothing)
{
    service_process service{fixture_service_options()};
    const api_client client{service.port()};

    const std::vector<std::pair<std::string, std::string>> cases = {
        {R"({"extra_vars": {"ansible_python_interpreter": )" + json_string(hostile_interpreter) + "}}",
         "extra_vars.ansible_python_interpreter"},
        {R"({"extra_vars": {"ansible_connection": "local"}})", "extra_vars.ansible_connection"},
        {R"({"extra_vars": {"ansible_ssh_common_args": "-o ProxyCommand=\"sh -c 'id > owned.txt'\""}})",
         "extra_vars.ansible_ssh_common_args"},
        {R"({"extra_vars": {"ansible_become": true}})", "extra_vars.ansible_become"},
        {R"({"extra_vars": {"ansible_become_method": "su"}})", "extra_vars.ansible_become_method"},
        {R"({"extra_vars": {"cleanup_protected_paths": []}})", "extra_vars.cleanup_protected_paths"},
        {R"({"extra_vars": {"raydeploy_run_dir": "/etc"}})", "extra_vars.raydeploy_run_dir"},
        {R"({"extra_vars": {"not_declared": "x"}})", "extra_vars.not_declared"},
        {R"({"extra_vars": {"message": )" + json_string(hostile_interpreter) + "}}", "extra_vars.message"},
        {R"({"extra_vars": {"message": "{% if lookup('pipe','id > owned.txt') %}{% endif %}"}})", "extra_vars.message"},
        {R"({"extra_vars": {"message": "{# lookup('pipe','id > owned.txt') #}"}})", "extra_vars.message"},
        {R"({"extra_vars": {"entries": ["fine", [)" + json_string(hostile_interpreter) + "]]}}", "extra_vars.entries"},
        {R"({"extra_vars": {"settings": {"key": {"deeper": )" + json_string(hostile_interpreter) + "}}}}",
         "extra_vars.settings"},
        {R"({"extra_vars": {"mode": "reckless"}})", "extra_vars.mode"},
        {R"({"extra_vars": {"code": "ab-12; id"}})", "extra_vars.code"},
        {R"({"extra_vars": {"count": "3"}})", "extra_vars.count"},
        {R"({"limit": "@/etc/passwd"})", "limit"},
        {R"({"limit": "-x"})", "limit"},
        {R"({"limit": "host1,@/etc/passwd"})", "limit"},
    };
    for (const auto& [body, field] : cases)
        BOOST_TEST_CONTEXT(body) { check_refused(client.post("/api/v1/checkpoints/echo-vars", body), field); }

    // A gated checkpoint refuses before it asks for an approval: nothing waits for an approver.
    check_refused(client.post("/api/v1/checkpoints/gated",
                              R"({"extra_vars": {"ansible_python_interpreter": )" + json_string(hostile_interpreter) + "}}"),
                  "extra_vars.ansible_python_interpreter");
    BOOST_TEST(client.get_object("/api/v1/approvals/gated").at("pending").is_null());

    // Nothing ran, and no hostile value created its file anywhere.
    BOOST_TEST(client.get_object("/api/v1/executions").at("executions").as_array().empty());
    const auto owned = files_named({service.work_dir(), service.state_dir(), fixtures, fs::current_path()}, "owned.txt");
    for (const auto& file : owned) BOOST_ERROR("a hostile value created " << file);
}

BOOST_AUTO_TEST_CASE(the_shipped_checkpoints_refuse_the_interpreter_override)
{
    // The issue's exploit "works on every checkpoint": now none accepts it.
    service_process service{};
    const api_client client{service.port()};
    const json::object list = client.get_object("/api/v1/checkpoints");
    BOOST_TEST_REQUIRE(list.at("checkpoints").as_array().size() == 6u);
    for (const auto& item : list.at("checkpoints").as_array()) {
        const std::string name = text(item.as_object(), "name");
        BOOST_TEST_CONTEXT(name)
        {
            check_refused(client.post("/api/v1/checkpoints/" + name,
                                      R"({"extra_vars": {"ansible_python_interpreter": )" + json_string(hostile_interpreter) + "}}"),
                          "extra_vars.ansible_python_interpreter");
            // What a UI builds its form from: each declaration with its type and description.
            const json::object& vars = object_at(item.as_object(), "vars");
            const json::object& runtime = object_at(vars, "ray_runtime");
            BOOST_TEST(text(runtime, "type") == "string");
            BOOST_TEST(json::serialize(runtime.at("choices")) == R"(["docker","native"])");
            BOOST_TEST(!text(runtime, "description").empty());
        }
    }
    const json::object monitoring = client.get_object("/api/v1/checkpoints/monitoring-deployment");
    const json::object& password = object_at(object_at(monitoring, "vars"), "monitoring_grafana_admin_password");
    BOOST_TEST(password.at("secret") == json::value(true));
    BOOST_TEST(!password.contains("value"));
    BOOST_TEST(text(password, "pattern") == "[ -~]{8,128}");
    BOOST_TEST(client.get_object("/api/v1/executions").at("executions").as_array().empty());
}

BOOST_AUTO_TEST_CASE(a_declared_value_reaches_the_playbook_byte_for_byte)
{
    service_process service{fixture_service_options()};
    const api_client client{service.port()};
    // Braces and percent signs (not the refused pairs), quotes, backslashes, a tab and a newline,
    // non-ASCII and a stray "}}": all plain data.
    const std::string message = "a{b%c} {x} 100% }} %} \"quoted\" back\\slash\ttab\nline2 \xC3\xA9\xE6\x97\xA5";
    const json::value entries = json::parse(R"(["one", 2, ["nested {x}"], {"k": "v%"}])");
    const json::value settings = json::parse(R"({"a{": {"b": [true, null, 1.5]}})");
    const json::object body{{"extra_vars", json::object{{"message", message},
                                                        {"entries", entries},
                                                        {"settings", settings},
                                                        {"mode", "careful"},
                                                        {"code", "ab-12"},
                                                        {"count", 3},
                                                        {"enabled", true}}}};
    const std::string id = start_execution(service.port(), "echo-vars", json::serialize(body));
    BOOST_TEST_REQUIRE(finished(client, id) == "succeeded");

    const fs::path run_dir = service.state_dir() / "runs" / id;
    BOOST_TEST(read_file(run_dir / "message.txt") == message);
    const json::value structured = parse_json(read_file(run_dir / "structured.json"));
    BOOST_TEST(structured.at("entries") == entries, json::serialize(structured));
    BOOST_TEST(structured.at("settings") == settings, json::serialize(structured));
    // The file Ansible read marks the caller's strings as data.
    const std::string vars_file = read_file(run_dir / "extra_vars.yml");
    BOOST_TEST(contains(vars_file, "message: !unsafe \""), vars_file);
    BOOST_TEST(!fs::exists(run_dir / "extra_vars.json"));
}

BOOST_AUTO_TEST_CASE(unsafe_strings_stay_data_even_where_a_marker_got_through)
{
    // Defence in depth: the file alone keeps Ansible from evaluating a template, shown with the
    // refused value written by the service's own writer and run by the real ansible-playbook.
    temp_dir dir;
    const fs::path owned = dir.path() / "owned.txt";
    const std::string hostile = "{{ lookup('pipe', 'touch " + owned.string() + "') }}";
    const json::object vars{{"message", hostile},
                            {"entries", json::array{hostile}},
                            {"settings", json::object{{hostile, hostile}}}};
    const fs::path vars_file =
        dir.write_file("extra_vars.yml", raydeploy::extra_vars_yaml(vars, {{"raydeploy_run_dir", dir.path().string()}}));
    const std::string command = "cd " + fixtures.string() + " && timeout 120 " +
                                (source_dir() / ".venv" / "bin" / "ansible-playbook").string() +
                                " -i inventory.yml echo_vars.yml -e @" + vars_file.string() + " > " +
                                (dir.path() / "ansible.log").string() + " 2>&1";
    const int status = std::system(command.c_str());
    BOOST_TEST_REQUIRE(status == 0, read_file(dir.path() / "ansible.log"));
    BOOST_TEST(read_file(dir.path() / "message.txt") == hostile);
    const json::value structured = parse_json(read_file(dir.path() / "structured.json"));
    BOOST_TEST(structured.at("entries") == json::value(json::array{hostile}));
    BOOST_TEST(structured.at("settings") == json::value(json::object{{hostile, hostile}}));
    BOOST_TEST(!fs::exists(owned), "the template ran");
}

BOOST_AUTO_TEST_CASE(viewers_see_no_values_and_nobody_sees_a_secret)
{
    const test_identity viewer = make_identity("vera", "viewer");
    const test_identity operator_ = make_identity("otto", "operator");
    const test_identity admin = make_identity("ada", "admin");
    service_process service{fixture_service_options({{"RAYDEPLOY_AUTH_TOKENS", auth_tokens_env({viewer, operator_, admin})}})};
    const api_client as_viewer{service.port(), viewer}, as_operator{service.port(), operator_}, as_admin{service.port(), admin};

    // A refused request carrying the secret leaves it nowhere either.
    check_refused(as_operator.post("/api/v1/checkpoints/echo-vars",
                                   R"({"extra_vars": {"api_token": "{{ )" + secret_value + R"( }}"}})"),
                  "extra_vars.api_token");
    const auto started = as_operator.post("/api/v1/checkpoints/echo-vars",
                                          R"({"extra_vars": {"message": "plain words", "api_token": ")" + secret_value + R"("}})");
    BOOST_TEST_REQUIRE(started.result_int() == 202, started.body());
    const std::string id = text(json_object_of(started), "execution_id");
    BOOST_TEST_REQUIRE(finished(as_operator, id) == "succeeded");

    const json::value hidden = json::parse(R"({"message": "***", "api_token": "***"})");
    const json::value shown = json::parse(R"({"message": "plain words", "api_token": "***"})");
    BOOST_TEST(json::value(extra_vars_of_execution(as_viewer.get_object("/api/v1/executions/" + id))) == hidden);
    BOOST_TEST(json::value(extra_vars_of_execution(as_operator.get_object("/api/v1/executions/" + id))) == shown);
    BOOST_TEST(json::value(extra_vars_of_execution(as_admin.get_object("/api/v1/executions/" + id))) == shown);
    const json::object listed = as_viewer.get_object("/api/v1/executions");
    BOOST_TEST_REQUIRE(listed.at("executions").as_array().size() == 1u);
    BOOST_TEST(json::value(extra_vars_of_execution(listed.at("executions").as_array()[0].as_object())) == hidden);
    BOOST_TEST(json::value(extra_vars_of_execution(as_operator.get_object("/api/v1/executions")
                                                       .at("executions").as_array()[0].as_object())) == shown);

    // The run itself had the real value.
    BOOST_TEST(contains(read_file(service.state_dir() / "runs" / id / "extra_vars.yml"), secret_value));

    // Neither value is in the audit trail, the events or the service log.
    const std::string audit = json::serialize(as_admin.get_object("/api/v1/audit?limit=1000"));
    BOOST_TEST(contains(audit, "execution.start"), audit);
    const std::string events = json::serialize(json::value_from(replay_events(as_admin, "")));
    BOOST_TEST(contains(events, id), events);
    for (const std::string value : {secret_value, std::string{"plain words"}}) {
        BOOST_TEST_CONTEXT(value)
        {
            BOOST_TEST(!contains(audit, value), audit);
            BOOST_TEST(!contains(events, value));
            BOOST_TEST(!contains(service.stderr_text(), value));
        }
    }
}

BOOST_AUTO_TEST_CASE(deployments_refuse_only_what_no_step_declares_and_pass_each_step_its_own)
{
    const test_identity viewer = make_identity("vera", "viewer");
    const test_identity operator_ = make_identity("otto", "operator");
    const test_identity admin = make_identity("ada", "admin");
    temp_dir dir;
    const fs::path marker = dir.write_file("marker", "present");
    auto options = fixture_service_options({{"RAYDEPLOY_AUTH_TOKENS", auth_tokens_env({viewer, operator_, admin})},
                                            {"FIXTURE_MARKER", marker.string()},
                                            {"RAYDEPLOY_EXECUTOR_PASS_ENV", "FIXTURE_MARKER"}});
    options.catalog = fixtures / "pipeline.yaml";  // first declares message and api_token; needs-marker nothing
    service_process service{options};
    const api_client as_viewer{service.port(), viewer}, as_operator{service.port(), operator_}, as_admin{service.port(), admin};

    // Declared by no step of the deployment (first is not among them), or refused by the step
    // that declares it, or reserved.
    check_refused(as_operator.post("/api/v1/deployments", R"({"extra_vars": {"undeclared_x": 1}})"), "extra_vars.undeclared_x");
    check_refused(as_operator.post("/api/v1/deployments", R"({"checkpoints": ["needs-marker"], "extra_vars": {"message": "hi"}})"),
                  "extra_vars.message");
    check_refused(as_operator.post("/api/v1/deployments", R"({"start_from": "gate-light", "extra_vars": {"message": "hi"}})"),
                  "extra_vars.message");
    check_refused(as_operator.post("/api/v1/deployments", R"({"extra_vars": {"message": "NOT LOWERCASE"}})"), "extra_vars.message");
    check_refused(as_operator.post("/api/v1/deployments", R"({"extra_vars": {"message": ["{{ 7 * 7 }}"]}})"), "extra_vars.message");
    check_refused(as_operator.post("/api/v1/deployments", R"({"extra_vars": {"ansible_connection": "local"}})"),
                  "extra_vars.ansible_connection");
    BOOST_TEST(as_operator.get_object("/api/v1/deployments").at("deployments").as_array().empty());

    const auto started = as_operator.post("/api/v1/deployments",
                                          R"({"checkpoints": ["first", "needs-marker"], "extra_vars": {"message": "hello there", "api_token": ")" +
                                              secret_value + R"("}})");
    BOOST_TEST_REQUIRE(started.result_int() == 202, started.body());
    const json::object accepted = json_object_of(started);
    BOOST_TEST(json::serialize(accepted.at("extra_vars")) == R"({"message":"hello there","api_token":"***"})");
    const std::string id = text(accepted, "deployment_id");
    const json::object done = as_operator.wait_until(
        "/api/v1/deployments/" + id,
        [](const json::object& d) { return text(d, "status") == "succeeded" || text(d, "status") == "failed"; }, 90s);
    BOOST_TEST_REQUIRE(text(done, "status") == "succeeded", json::serialize(done));

    BOOST_TEST(json::serialize(done.at("extra_vars")) == R"({"message":"hello there","api_token":"***"})");
    BOOST_TEST(json::serialize(as_viewer.get_object("/api/v1/deployments/" + id).at("extra_vars")) ==
               R"({"message":"***","api_token":"***"})");
    BOOST_TEST(json::serialize(as_viewer.get_object("/api/v1/deployments").at("deployments").as_array()[0].at("extra_vars")) ==
               R"({"message":"***","api_token":"***"})");

    // Each step got only what its checkpoint declares.
    const auto& steps = done.at("steps").as_array();
    BOOST_TEST_REQUIRE(steps.size() == 2u);
    const std::string first = text(steps[0].as_object(), "execution_id");
    const std::string second = text(steps[1].as_object(), "execution_id");
    BOOST_TEST(json::serialize(extra_vars_of_execution(as_operator.get_object("/api/v1/executions/" + first))) ==
               R"({"message":"hello there","api_token":"***"})");
    BOOST_TEST(extra_vars_of_execution(as_operator.get_object("/api/v1/executions/" + second)).empty());
    BOOST_TEST(!contains(read_file(service.state_dir() / "runs" / second / "extra_vars.yml"), "hello there"));
    BOOST_TEST(contains(read_file(service.state_dir() / "runs" / first / "extra_vars.yml"), secret_value));

    const std::string audit = json::serialize(as_admin.get_object("/api/v1/audit?limit=1000"));
    const std::string events = json::serialize(json::value_from(replay_events(as_admin, "")));
    BOOST_TEST(contains(events, "deployment.status"));
    for (const std::string value : {secret_value, std::string{"hello there"}}) {
        BOOST_TEST_CONTEXT(value)
        {
            BOOST_TEST(!contains(audit, value), audit);
            BOOST_TEST(!contains(events, value));
            BOOST_TEST(!contains(service.stderr_text(), value));
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()
