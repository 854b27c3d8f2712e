// What a run may pass to a playbook (engine/extra_vars.hpp): extra_vars against the catalog's
// declarations, limit as a host pattern, the !unsafe YAML file, and the redaction of values.
#include "raydeploy/engine/engine_error.hpp"
#include "raydeploy/engine/extra_vars.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>
#include <yaml-cpp/yaml.h>

using namespace raydeploy;
namespace json = boost::json;

namespace {

variable_spec spec(std::string name, variable_type type, std::vector<json::value> choices = {},
                   std::optional<std::string> pattern = std::nullopt, bool secret = false)
{
    return variable_spec{std::move(name), type, "test variable", std::move(choices), std::move(pattern), secret};
}

checkpoint runtime_checkpoint()
{
    checkpoint item;
    item.name = "deploy";
    item.vars = {spec("ray_runtime", variable_type::string, {json::value("docker"), json::value("native")}),
                 spec("ray_version", variable_type::string, {}, "[0-9]+\\.[0-9]+\\.[0-9]+"),
                 spec("message", variable_type::string),
                 spec("threads", variable_type::integer),
                 spec("enabled", variable_type::boolean),
                 spec("entries", variable_type::list),
                 spec("settings", variable_type::dict),
                 spec("password", variable_type::string, {}, std::nullopt, true)};
    return item;
}

// The field a refusal names, or a description of what happened instead.
std::string refused_field(const checkpoint& item, std::string_view vars_json)
{
    try {
        check_extra_vars(item, json::parse(vars_json).as_object());
    } catch (const engine_error& e) {
        if (e.which() != engine_error::kind::invalid || e.code() != "VALIDATION_ERROR") return "<wrong kind: " + std::string{e.what()} + ">";
        return std::string{e.details().at("field").as_string()};
    }
    return "<accepted>";
}

std::string refused_message(const checkpoint& item, std::string_view vars_json)
{
    try {
        check_extra_vars(item, json::parse(vars_json).as_object());
    } catch (const engine_error& e) {
        return e.what();
    }
    return "<accepted>";
}

std::string limit_refusal(std::string_view limit)
{
    try {
        check_limit(limit);
    } catch (const engine_error& e) {
        return std::string{e.details().at("field").as_string()};
    }
    return "<accepted>";
}

bool contains(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }

}  // namespace

BOOST_AUTO_TEST_SUITE(extra_vars)

BOOST_AUTO_TEST_CASE(the_issue_vectors_are_refused_naming_the_variable)
{
    const checkpoint item = runtime_checkpoint();
    const std::vector<std::pair<std::string, std::string>> cases = {
        {R"({"ansible_python_interpreter": "{{ lookup('pipe','id > owned.txt') or ansible_playbook_python }}"})",
         "extra_vars.ansible_python_interpreter"},
        {R"({"ansible_connection": "local"})", "extra_vars.ansible_connection"},
        {R"({"ansible_ssh_common_args": "-o ProxyCommand=\"sh -c 'id > owned.txt'\""})", "extra_vars.ansible_ssh_common_args"},
        {R"({"ansible_become": true})", "extra_vars.ansible_become"},
        {R"({"ansible_become_user": "root"})", "extra_vars.ansible_become_user"},
        {R"({"raydeploy_run_dir": "/etc"})", "extra_vars.raydeploy_run_dir"},
        {R"({"hostvars": {}})", "extra_vars.hostvars"},
        {R"({"cleanup_protected_paths": []})", "extra_vars.cleanup_protected_paths"},
        {R"({"not_declared": 1})", "extra_vars.not_declared"},
        {R"({"message": "{{ 7 * 7 }}"})", "extra_vars.message"},
        {R"({"message": "x{%if true%}y{%endif%}"})", "extra_vars.message"},
        {R"({"message": "{# comment #}"})", "extra_vars.message"},
        {R"({"entries": ["fine", ["deeper", "{{ lookup('pipe', 'id') }}"]]})", "extra_vars.entries"},
        {R"({"settings": {"a": {"b": "{{ lookup('pipe', 'id') }}"}}})", "extra_vars.settings"},
        {R"({"settings": {"{{ lookup('pipe', 'id') }}": 1}})", "extra_vars.settings"},
    };
    for (const auto& [vars, field] : cases)
        BOOST_TEST_CONTEXT(vars) { BOOST_TEST(refused_field(item, vars) == field); }
}

BOOST_AUTO_TEST_CASE(types_choices_and_patterns_are_enforced)
{
    const checkpoint item = runtime_checkpoint();
    const std::vector<std::string> refused = {
        R"({"ray_runtime": "podman"})", R"({"ray_runtime": 1})",        R"({"ray_version": "2.60.0; rm -rf /"})",
        R"({"ray_version": "2.60"})",   R"({"threads": "6379"})",          R"({"threads": 63.5})",
        R"({"threads": true})",            R"({"enabled": "yes"})",        R"({"entries": {"a": 1}})",
        R"({"settings": [1]})",         R"({"message": null})",         R"({"message": 5})",
    };
    for (const auto& vars : refused)
        BOOST_TEST_CONTEXT(vars) { BOOST_TEST(refused_field(item, vars).starts_with("extra_vars."), refused_field(item, vars)); }

    const std::vector<std::string> accepted = {
        R"({"ray_runtime": "native", "ray_version": "2.60.0"})",
        R"({"threads": 6379, "enabled": false, "entries": [1, "two", {"three": 3}], "settings": {"k": ["v"]}})",
        // Single braces and percent signs are ordinary characters.
        R"({"message": "a{b%c} {x} 100% }} %} #} { {"})",
        R"({})",
    };
    for (const auto& vars : accepted)
        BOOST_TEST_CONTEXT(vars) { BOOST_TEST(refused_field(item, vars) == "<accepted>"); }
}

BOOST_AUTO_TEST_CASE(refusals_never_quote_the_value)
{
    // Refusal messages go to the audit trail: a secret sent by mistake must not land there.
    const checkpoint item = runtime_checkpoint();
    for (const std::string vars : {R"({"password": "{{ hunter2-secret }}"})", R"({"ray_version": "hunter2-secret"})",
                                   R"({"ray_runtime": "hunter2-secret"})"}) {
        const std::string message = refused_message(item, vars);
        BOOST_TEST_CONTEXT(vars)
        {
            BOOST_TEST(message != "<accepted>");
            BOOST_TEST(!contains(message, "hunter2"), message);
        }
    }
    // And they say what to do: the declared names, the allowed values.
    BOOST_TEST(contains(refused_message(item, R"({"nope": 1})"), "ray_runtime, ray_version"));
    BOOST_TEST(contains(refused_message(item, R"({"ray_runtime": "x"})"), "docker, native"));
}

BOOST_AUTO_TEST_CASE(limit_is_a_host_pattern)
{
    for (const std::string limit : {"host1", "host1,host2", "ray_workers:!worker3", "web*.example.com", "db[0:2]",
                                    "ray_head:&staging", "~web0[0-9]", "node-1.local"})
        BOOST_TEST_CONTEXT(limit) { BOOST_TEST(limit_refusal(limit) == "<accepted>"); }
    for (const std::string limit : std::vector<std::string>{"@/etc/passwd", "-x", "--list-hosts", "host1,@/etc/passwd",
                                                            "host 1", "host1;id", "$(id)", "", "host1\nhost2",
                                                            std::string(1025, 'a')})
        BOOST_TEST_CONTEXT(limit) { BOOST_TEST(limit_refusal(limit) == "limit"); }
}

BOOST_AUTO_TEST_CASE(limit_and_check_are_refused_for_every_kind_but_ansible)
{
    const auto refusal = [](const checkpoint& item, const execution_params& params) -> std::string {
        try {
            check_run_params(item, params);
        } catch (const engine_error& e) {
            BOOST_TEST((e.which() == engine_error::kind::invalid));
            return std::string{e.details().at("field").as_string()} + " | " + e.what();
        }
        return "<accepted>";
    };
    execution_params with_limit;
    with_limit.limit = "ray-head";
    execution_params with_check;
    with_check.check = true;
    execution_params plain;
    plain.extra_vars = json::parse(R"({"ray_runtime": "native"})").as_object();

    checkpoint playbook = runtime_checkpoint();
    BOOST_TEST(refusal(playbook, with_limit) == "<accepted>");
    BOOST_TEST(refusal(playbook, with_check) == "<accepted>");
    for (const auto kind : {checkpoint_kind::cml_project, checkpoint_kind::cml_jobs, checkpoint_kind::cml_job_runs,
                            checkpoint_kind::cml_ray_cluster}) {
        checkpoint item = runtime_checkpoint();
        item.kind = kind;
        BOOST_TEST_CONTEXT(to_string(kind))
        {
            const auto limit = refusal(item, with_limit);
            BOOST_TEST(limit.rfind("limit | limit: applies to kind ansible only (ansible-playbook's --limit); checkpoint "
                                   "'deploy' is of kind " + std::string{to_string(kind)} + ", which runs no playbook",
                                   0) == 0u,
                       limit);
            BOOST_TEST(refusal(item, with_check).rfind("check | check: applies to kind ansible only", 0) == 0u);
            BOOST_TEST(refusal(item, plain) == "<accepted>");
        }
    }
}

BOOST_AUTO_TEST_CASE(a_deployment_variable_needs_one_declaring_step_and_goes_only_to_those)
{
    const checkpoint deploy = runtime_checkpoint();
    checkpoint check;
    check.name = "check";
    check.vars = {spec("ray_runtime", variable_type::string, {json::value("docker"), json::value("native")}),
                  spec("threshold", variable_type::integer)};
    checkpoint plain;
    plain.name = "plain";
    const std::vector<const checkpoint*> steps = {&check, &plain, &deploy};

    const json::object vars = json::parse(R"({"ray_runtime": "native", "threshold": 4, "message": "hi"})").as_object();
    BOOST_CHECK_NO_THROW(check_deployment_extra_vars(steps, vars));
    BOOST_TEST(json::serialize(declared_extra_vars(check, vars)) == R"({"ray_runtime":"native","threshold":4})");
    BOOST_TEST(json::serialize(declared_extra_vars(plain, vars)) == "{}");
    BOOST_TEST(json::serialize(declared_extra_vars(deploy, vars)) == R"({"ray_runtime":"native","message":"hi"})");

    const auto field_of_refusal = [&](std::string_view text, const std::vector<const checkpoint*>& of) -> std::string {
        try {
            check_deployment_extra_vars(of, json::parse(text).as_object());
        } catch (const engine_error& e) {
            return std::string{e.details().at("field").as_string()} + " | " + e.what();
        }
        return "<accepted>";
    };
    // Declared by no step of this deployment (deploy declares it, but is not a step here).
    BOOST_TEST(field_of_refusal(R"({"message": "hi"})", {&check, &plain}).starts_with("extra_vars.message | "));
    // A declaring step refuses the value.
    const std::string bad_value = field_of_refusal(R"({"ray_runtime": "podman"})", steps);
    BOOST_TEST(bad_value.starts_with("extra_vars.ray_runtime | "), bad_value);
    BOOST_TEST(contains(bad_value, "'check'"), bad_value);
    BOOST_TEST(field_of_refusal(R"({"ansible_connection": "local"})", steps).starts_with("extra_vars.ansible_connection | "));
    BOOST_TEST(field_of_refusal(R"({"message": ["{{ x }}"]})", steps).starts_with("extra_vars.message | "));
}

BOOST_AUTO_TEST_CASE(the_file_tags_every_string_unsafe_and_keeps_it_exact)
{
    const std::string tricky = "{{ lookup('pipe','id') }} a{b%c} \"q\" back\\slash\ttab\nline2 \x01 \xC3\xA9 "
                               "\xE6\x97\xA5 \xF0\x9F\x98\x80 \xC2\x85 \xE2\x80\xA8 \xEF\xBB\xBF";
    json::object vars{{"message", tricky},
                      {"entries", json::array{tricky, 3, 1e100, true, nullptr}},
                      {"settings", json::object{{tricky, json::object{{"inner", tricky}}}}},
                      {"count", 7}};
    const json::object service{{"raydeploy_execution_id", "ex-1"}, {"raydeploy_run_dir", "/state/runs/ex-1"}};
    const std::string text = extra_vars_yaml(vars, service);
    // Printable ASCII only: no reader can fold, drop or refuse a byte of it.
    for (char c : text) BOOST_TEST_REQUIRE((c == '\n' || (c >= 0x20 && c < 0x7F)), "byte " << int(static_cast<unsigned char>(c)));

    const YAML::Node root = YAML::Load(text);
    BOOST_TEST(root["message"].Tag() == "!unsafe");
    BOOST_TEST(root["message"].Scalar() == tricky);
    BOOST_TEST(root["entries"][0].Tag() == "!unsafe");
    BOOST_TEST(root["entries"][0].Scalar() == tricky);
    BOOST_TEST(root["entries"][1].as<int>() == 3);
    BOOST_TEST(root["entries"][2].Tag() == "tag:yaml.org,2002:float");
    BOOST_TEST(root["entries"][2].as<double>() == 1e100);
    BOOST_TEST(root["entries"][3].as<bool>());
    BOOST_TEST(root["entries"][4].IsNull());
    const YAML::Node settings = root["settings"];
    BOOST_TEST_REQUIRE(settings.size() == 1u);
    BOOST_TEST(settings.begin()->first.Tag() == "!unsafe");
    BOOST_TEST(settings.begin()->first.Scalar() == tricky);
    BOOST_TEST(settings.begin()->second["inner"].Tag() == "!unsafe");
    BOOST_TEST(settings.begin()->second["inner"].Scalar() == tricky);
    BOOST_TEST(root["count"].as<int>() == 7);
    // The service's own variables are plain strings.
    BOOST_TEST(root["raydeploy_execution_id"].Tag() != "!unsafe");
    BOOST_TEST(root["raydeploy_run_dir"].Scalar() == "/state/runs/ex-1");
}

BOOST_AUTO_TEST_CASE(values_are_redacted_for_viewers_and_secrets_for_everyone)
{
    const checkpoint item = runtime_checkpoint();
    const json::object vars = json::parse(R"({"ray_runtime": "native", "password": "hunter2", "settings": {"a": 1}})").as_object();
    BOOST_TEST(json::serialize(redact_extra_vars(vars, {&item}, true)) ==
               R"({"ray_runtime":"native","password":"***","settings":{"a":1}})");
    BOOST_TEST(json::serialize(redact_extra_vars(vars, {&item}, false)) ==
               R"({"ray_runtime":"***","password":"***","settings":"***"})");
    // A checkpoint no longer in the catalog: nobody knows what was secret, so nothing is shown.
    BOOST_TEST(json::serialize(redact_extra_vars(vars, {&item, nullptr}, true)) ==
               R"({"ray_runtime":"***","password":"***","settings":"***"})");
}

BOOST_AUTO_TEST_SUITE_END()
