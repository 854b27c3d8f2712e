// CML API v2 answers as the reference (part A) describes them, and as a real workspace may vary
// them: int64 strings, omitted zero values, null timestamps, statuses added later, and answers
// that are not API v2's at all.
#include "raydeploy/cml/cml_api.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>

namespace cml = raydeploy::cml;
namespace json = boost::json;

BOOST_TEST_DONT_PRINT_LOG_VALUE(raydeploy::cml::run_status)
BOOST_TEST_DONT_PRINT_LOG_VALUE(raydeploy::cml::application_status)

namespace {

// The message of the cml_parse_error `parse` throws.
template <class Parse>
std::string parse_error(Parse parse, std::string_view body)
{
    try {
        parse(body);
    } catch (const cml::cml_parse_error& e) {
        return e.what();
    }
    BOOST_FAIL("expected a cml_parse_error for: " + std::string{body});
    return {};
}

bool contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

// Reference A.6, the project as a workspace lists it.
constexpr std::string_view project_page_text = R"({
  "projects": [
    {
      "id": "q7w2-9x4k-p3m8-z5t1", "name": "ray-poc",
      "owner": {"username": "alice", "name": "Alice Example", "email": "alice@example.com"},
      "creator": {"username": "alice", "name": "Alice Example", "email": "alice@example.com"},
      "description": "Ray orchestration proof of concept", "visibility": "private",
      "default_engine_type": "ml_runtime", "created_at": "2025-04-10T08:00:01.250Z",
      "updated_at": "2025-04-10T08:03:12.004Z", "creation_status": "success",
      "permissions": {"read": true, "write": true, "admin": true, "business_user": false, "operator": false, "inherit": false},
      "shared_memory_limit": 64, "environment": "{}", "slug": "ray-poc"
    }
  ],
  "next_page_token": ""
})";

constexpr std::string_view job_text = R"({"id": "h2k9-a8d3-m1q7-x6c4", "name": "nightly-train", "script": "jobs/train.py",
 "cpu": 2, "memory": 8, "nvidia_gpu": 0, "arguments": "--epochs 3", "type": "manual", "paused": false,
 "timeout": "3600", "kill_on_timeout": false, "engine_image_id": "0",
 "runtime_identifier": "registry.example.com/ml-runtime-python3.10-standard:2025.01.1-b1",
 "environment": "{\"RAY_ADDRESS\":\"http://ray-head:8265\"}",
 "creator": {"username": "alice", "name": "Alice Example", "email": "alice@example.com"},
 "created_at": "2025-04-10T08:10:00Z", "updated_at": "2025-04-10T08:10:00Z"})";

}  // namespace

BOOST_AUTO_TEST_SUITE(cml_parse)

BOOST_AUTO_TEST_CASE(a_project_page_as_the_reference_shows_it)
{
    const auto page = cml::parse_project_page(project_page_text);
    BOOST_TEST_REQUIRE(page.items.size() == 1U);
    const auto& p = page.items[0];
    BOOST_TEST(p.id == "q7w2-9x4k-p3m8-z5t1");
    BOOST_TEST(p.name == "ray-poc");
    BOOST_TEST(p.owner == "alice");
    BOOST_TEST(p.creation_status == "success");
    BOOST_TEST(p.ready());
    BOOST_TEST(!p.failed());
    BOOST_TEST(p.default_engine_type == "ml_runtime");
    BOOST_TEST(p.created_at == "2025-04-10T08:00:01.250Z");
    BOOST_TEST(page.next_page_token.empty());
}

BOOST_AUTO_TEST_CASE(creation_status_is_free_text)
{
    const auto creating = cml::parse_project(R"({"id": "a", "creation_status": "creating"})");
    BOOST_TEST((!creating.ready() && !creating.failed()));
    const auto failed = cml::parse_project(R"({"id": "a", "creation_status": "failure: git clone failed"})");
    BOOST_TEST((!failed.ready() && failed.failed()));
    BOOST_TEST(cml::parse_project(R"({"id": "a", "creation_status": "failed"})").failed());
    // Nothing said yet is not ready.
    BOOST_TEST(!cml::parse_project(R"({"id": "a"})").ready());
}

BOOST_AUTO_TEST_CASE(a_job_with_int64_strings_and_environment_text)
{
    const auto j = cml::parse_job(job_text);
    BOOST_TEST(j.id == "h2k9-a8d3-m1q7-x6c4");
    BOOST_TEST(j.name == "nightly-train");
    BOOST_TEST(j.cpu == 2.0);
    BOOST_TEST(j.memory == 8.0);
    BOOST_TEST(j.timeout == 3600);
    BOOST_TEST(j.type == "manual");
    BOOST_TEST(j.arguments == "--epochs 3");
    BOOST_TEST(j.environment.size() == 1U);
    BOOST_TEST(j.environment.at("RAY_ADDRESS") == "http://ray-head:8265");
    BOOST_TEST(j.parent_id.empty());
}

BOOST_AUTO_TEST_CASE(integers_come_as_strings_or_numbers)
{
    BOOST_TEST(cml::parse_job(R"({"id": "a", "timeout": 60})").timeout == 60);
    BOOST_TEST(cml::parse_job(R"({"id": "a", "timeout": 60.0})").timeout == 60);
    BOOST_TEST(cml::parse_job(R"({"id": "a", "timeout": "9223372036854775807"})").timeout == INT64_MAX);
    BOOST_TEST(cml::parse_job(R"({"id": "a", "nvidia_gpu": "2"})").nvidia_gpu == 2);
    BOOST_TEST(cml::parse_job(R"({"id": "a", "cpu": "1.5"})").cpu == 1.5);
    for (const char* bad : {R"({"id": "a", "timeout": "sixty"})", R"({"id": "a", "timeout": "60s"})",
                            R"({"id": "a", "timeout": 1.5})", R"({"id": "a", "timeout": true})",
                            R"({"id": "a", "timeout": "99999999999999999999"})", R"({"id": "a", "timeout": ""})"}) {
        const auto message = parse_error(cml::parse_job, bad);
        BOOST_TEST(contains(message, "timeout: expected an integer"), message);
    }
}

BOOST_AUTO_TEST_CASE(missing_and_null_fields_are_zero_values)
{
    // grpc-gateway with EmitDefaults=false: every zero value left out (reference A.1, item 4).
    const auto lean = cml::parse_job(R"({"id": "a", "name": "j", "cpu": 1})");
    BOOST_TEST(lean.timeout == 0);
    BOOST_TEST(!lean.kill_on_timeout);
    BOOST_TEST(lean.environment.empty());
    BOOST_TEST(lean.runtime_identifier.empty());
    BOOST_TEST(lean.memory == 0.0);

    const auto run = cml::parse_job_run(
        R"({"id": "r", "status": "ENGINE_RUNNING", "finished_at": null, "running_at": "2025-04-10T08:11:05Z",
            "environment": null, "cpu": null})");
    BOOST_TEST(run.finished_at.empty());
    BOOST_TEST(run.running_at == "2025-04-10T08:11:05Z");
    BOOST_TEST(run.environment.empty());
    BOOST_TEST(run.cpu == 0.0);

    // An omitted status is the enum's zero value.
    const auto scheduled = cml::parse_job_run(R"({"id": "r"})");
    BOOST_TEST(scheduled.status == cml::run_status::scheduling);
    BOOST_TEST(scheduled.status_text == "ENGINE_SCHEDULING");
    const auto app = cml::parse_application(R"({"id": "x"})");
    BOOST_TEST(app.status == cml::application_status::unknown);

    const auto empty_pages = cml::parse_job_page("{}");
    BOOST_TEST(empty_pages.items.empty());
    BOOST_TEST(empty_pages.next_page_token.empty());
    BOOST_TEST(cml::parse_application_page(R"({"applications": null, "next_page_token": null})").items.empty());
}

BOOST_AUTO_TEST_CASE(run_statuses_and_the_terminal_ones)
{
    using cml::run_status;
    const std::pair<const char*, run_status> known[] = {
        {"ENGINE_SCHEDULING", run_status::scheduling}, {"ENGINE_STARTING", run_status::starting},
        {"ENGINE_RUNNING", run_status::running},       {"ENGINE_STOPPING", run_status::stopping},
        {"ENGINE_STOPPED", run_status::stopped},       {"ENGINE_SUCCEEDED", run_status::succeeded},
        {"ENGINE_FAILED", run_status::failed},         {"ENGINE_TIMEDOUT", run_status::timedout},
        {"ENGINE_SKIPPED", run_status::skipped},       {"ENGINE_UNKNOWN", run_status::unknown}};
    for (const auto& [text, status] : known) BOOST_TEST((cml::parse_run_status(text) == status), text);
    for (auto terminal : {run_status::stopped, run_status::succeeded, run_status::failed, run_status::timedout,
                          run_status::skipped})
        BOOST_TEST(cml::is_terminal(terminal));
    // UNKNOWN is not an end (reference A.3), and neither is STOPPING.
    for (auto going : {run_status::scheduling, run_status::starting, run_status::running, run_status::stopping,
                       run_status::unknown})
        BOOST_TEST(!cml::is_terminal(going));

    // A status a later CML adds is kept as written, not refused.
    const auto later = cml::parse_job_run(R"({"id": "r", "status": "ENGINE_QUEUED_FOR_GPU"})");
    BOOST_TEST(later.status == run_status::unknown);
    BOOST_TEST(later.status_text == "ENGINE_QUEUED_FOR_GPU");
    BOOST_TEST(!later.terminal());
}

BOOST_AUTO_TEST_CASE(an_application)
{
    const auto app = cml::parse_application(
        R"({"id": "b5v1-k2j8-w4e6-s9d3", "name": "ray-head", "subdomain": "ray-head", "status": "APPLICATION_RUNNING",
            "cpu": 2, "memory": 8, "nvidia_gpu": 1, "bypass_authentication": false, "accelerator_label_id": "0",
            "environment": "{\"PORT_ENV\":\"CDSW_APP_PORT\",\"PROJECT_VAR\":\"1\"}", "running_at": "2025-04-10T08:12:00Z"})");
    BOOST_TEST(app.id == "b5v1-k2j8-w4e6-s9d3");
    BOOST_TEST(app.subdomain == "ray-head");
    BOOST_TEST(app.status == cml::application_status::running);
    BOOST_TEST(app.nvidia_gpu == 1);
    BOOST_TEST(app.environment.at("PORT_ENV") == "CDSW_APP_PORT");
    for (const auto& [text, status] : std::vector<std::pair<std::string, cml::application_status>>{
             {"APPLICATION_STARTING", cml::application_status::starting},
             {"APPLICATION_STOPPING", cml::application_status::stopping},
             {"APPLICATION_STOPPED", cml::application_status::stopped},
             {"APPLICATION_FAILED", cml::application_status::failed},
             {"APPLICATION_PAUSED", cml::application_status::unknown}})
        BOOST_TEST((cml::parse_application_status(text) == status), text);
}

BOOST_AUTO_TEST_CASE(an_environment_object_is_taken_too)
{
    BOOST_TEST(cml::parse_job(R"({"id": "a", "environment": {"A": "1"}})").environment.at("A") == "1");
    BOOST_TEST(cml::parse_job(R"({"id": "a", "environment": ""})").environment.empty());
    BOOST_TEST(contains(parse_error(cml::parse_job, R"({"id": "a", "environment": "{not json"})"),
                        "environment: expected JSON text of an object"));
    BOOST_TEST(contains(parse_error(cml::parse_job, R"({"id": "a", "environment": "[1]"})"),
                        "environment: expected an object of strings, got an array"));
    BOOST_TEST(contains(parse_error(cml::parse_job, R"({"id": "a", "environment": {"A": 1}})"),
                        "environment.A: expected a string, got a number"));
}

BOOST_AUTO_TEST_CASE(wrong_types_name_the_field)
{
    BOOST_TEST(contains(parse_error(cml::parse_job, R"({"id": "a", "cpu": "lots"})"), "cpu: expected a number"));
    BOOST_TEST(contains(parse_error(cml::parse_project, R"({"id": "a", "name": 7})"),
                        "name: expected a string, got a number"));
    BOOST_TEST(contains(parse_error(cml::parse_project, R"({"id": "a", "owner": "alice"})"),
                        "owner: expected an object, got a string"));
    BOOST_TEST(contains(parse_error(cml::parse_job, R"({"id": "a", "kill_on_timeout": "yes"})"),
                        "kill_on_timeout: expected true or false"));
    BOOST_TEST(contains(parse_error(cml::parse_job_run, R"({"id": "r", "status": 3})"),
                        "status: expected a string, got a number"));
    BOOST_TEST(contains(parse_error(cml::parse_job_run_page, R"({"job_runs": {"id": "r"}})"),
                        "job_runs: expected an array, got an object"));
    BOOST_TEST(contains(parse_error(cml::parse_job_run_page, R"({"job_runs": [{"id": "r"}, {"id": "s", "status": []}]})"),
                        "job_runs[1].status: expected a string, got an array"));
    BOOST_TEST(contains(parse_error(cml::parse_application_page, R"({"applications": ["a"]})"),
                        "applications[0]: expected an object, got a string"));
    BOOST_TEST(contains(parse_error(cml::parse_project_page, R"({"projects": [], "next_page_token": 2})"),
                        "next_page_token: expected a string"));
}

BOOST_AUTO_TEST_CASE(every_resource_needs_its_id)
{
    BOOST_TEST(contains(parse_error(cml::parse_project, R"({"name": "ray-poc"})"), "id: missing"));
    BOOST_TEST(contains(parse_error(cml::parse_job, R"({"id": "", "name": "j"})"), "id: missing"));
    BOOST_TEST(contains(parse_error(cml::parse_application_page, R"({"applications": [{"id": null}]})"),
                        "applications[0].id: missing"));
    BOOST_TEST(contains(parse_error(cml::parse_job_run, R"({"id": 17})"), "id: expected a string"));
}

BOOST_AUTO_TEST_CASE(garbage_is_refused_with_a_short_printable_excerpt)
{
    BOOST_TEST(contains(parse_error(cml::parse_project_page, ""), "the body is empty"));
    const auto html = parse_error(cml::parse_project_page,
                                  "<html><head><title>502 Bad Gateway</title></head><body>" + std::string(500, 'x') +
                                      "</body></html>");
    BOOST_TEST(contains(html, "not JSON"), html);
    BOOST_TEST(contains(html, "<html><head><title>502 Bad Gateway"), html);
    BOOST_TEST(html.size() < 300U, html);
    // What the fake's "garbage" fault sends: a cut-off answer with a NUL, a stray byte and HTML.
    static const char raw[] = "{\"projects\":[{\"id\":\"q7w2-\x00\xff<html>Bad Gateway";
    const std::string binary{raw, sizeof raw - 1};
    const auto mangled = parse_error(cml::parse_project_page, binary);
    BOOST_TEST(contains(mangled, "not JSON"), mangled);
    BOOST_TEST(mangled.find('\0') == std::string::npos);
    BOOST_TEST(contains(parse_error(cml::parse_job, "[1, 2]"), "expected a JSON object, got an array"));
    BOOST_TEST(contains(parse_error(cml::parse_job, "\"ok\""), "expected a JSON object, got a string"));
}

BOOST_AUTO_TEST_CASE(the_error_envelope)
{
    const auto full = cml::parse_error_envelope(
        R"({"error": "job not found", "code": 5, "message": "job not found", "details": []})");
    BOOST_TEST_REQUIRE(full.has_value());
    BOOST_TEST(full->code == 5);
    BOOST_TEST(full->message == "job not found");

    const auto observed = cml::parse_error_envelope(R"({"code":7,"message":"User is not an observability machine user"})");
    BOOST_TEST_REQUIRE(observed.has_value());
    BOOST_TEST(observed->code == 7);
    BOOST_TEST(observed->message == "User is not an observability machine user");

    const auto only_error = cml::parse_error_envelope(R"({"error": "invalid API key", "code": 16})");
    BOOST_TEST_REQUIRE(only_error.has_value());
    BOOST_TEST(only_error->message == "invalid API key");
    const auto only_code = cml::parse_error_envelope(R"({"code": 14})");
    BOOST_TEST_REQUIRE(only_code.has_value());
    BOOST_TEST(only_code->message.empty());

    for (const char* not_envelope : {"", "<html>503 Service Unavailable</html>", "upstream connect error", "[]",
                                     R"({"detail": "nothing we know"})", R"({"message": 5})"})
        BOOST_TEST(!cml::parse_error_envelope(not_envelope).has_value(), not_envelope);
}

BOOST_AUTO_TEST_CASE(job_bodies_use_each_direction_s_types)
{
    cml::job_request spec;
    spec.name = "git_sync";
    spec.script = "cml/jobs/git_sync.py";
    spec.cpu = 2;
    spec.memory = 4;
    spec.timeout = 600;
    spec.parent_id = "p1";
    spec.runtime_identifier = "runtime:1";
    spec.environment = {{"A", "1"}};

    // CreateJobRequest: timeout an int32 number, environment an object.
    const auto create = cml::create_job_body(spec);
    BOOST_TEST(create.at("timeout").as_int64() == 600);
    BOOST_TEST(create.at("environment").as_object().at("A").as_string() == "1");
    BOOST_TEST(create.at("parent_id").as_string() == "p1");
    // A Job in a PATCH: timeout an int64 string, environment JSON text; parent_id always sent so
    // clearing it makes the job manual again.
    const auto patch = cml::job_patch_body(spec);
    BOOST_TEST(patch.at("timeout").as_string() == "600");
    BOOST_TEST(patch.at("environment").as_string() == R"({"A":"1"})");
    spec.parent_id.clear();
    BOOST_TEST(cml::job_patch_body(spec).at("parent_id").as_string() == "");
    BOOST_TEST(!cml::create_job_body(spec).contains("parent_id"));

    // What CML answers for the created job matches the spec: nothing to PATCH.
    spec.parent_id = "p1";
    auto created = cml::parse_job(
        R"({"id": "j1", "name": "git_sync", "script": "cml/jobs/git_sync.py", "cpu": 2, "memory": 4.0, "timeout": "600",
            "parent_id": "p1", "runtime_identifier": "runtime:1", "environment": "{\"A\":\"1\"}", "type": "dependent"})");
    BOOST_TEST(cml::job_differences(created, spec).empty());
    spec.cpu = 3;
    spec.environment["B"] = "2";
    spec.parent_id.clear();
    const auto differences = cml::job_differences(created, spec);
    BOOST_TEST((differences == std::vector<std::string>{"cpu", "parent_id", "environment"}));
}

BOOST_AUTO_TEST_CASE(application_and_run_bodies)
{
    cml::application_spec spec;
    spec.name = "ray-head";
    spec.subdomain = "ray-head";
    spec.script = "cml/apps/ray_head.py";
    spec.cpu = 4;
    spec.memory = 16;
    spec.runtime_identifier = "runtime:1";
    spec.environment = {{"RAY_ROLE", "head"}};
    const auto create = cml::create_application_body(spec);
    BOOST_TEST(create.at("subdomain").as_string() == "ray-head");
    BOOST_TEST(create.at("environment").as_object().at("RAY_ROLE").as_string() == "head");
    const auto patch = cml::application_patch_body(spec);
    BOOST_TEST(patch.at("environment").as_string() == R"({"RAY_ROLE":"head"})");
    BOOST_TEST(!patch.contains("subdomain"));

    // CML adds the project's variables to an application's: only the spec's own are compared.
    const auto running = cml::parse_application(
        R"({"id": "a1", "name": "ray-head", "subdomain": "ray-head", "script": "cml/apps/ray_head.py", "cpu": 4,
            "memory": 16, "runtime_identifier": "runtime:1",
            "environment": "{\"RAY_ROLE\":\"head\",\"PROJECT_VAR\":\"1\"}", "status": "APPLICATION_RUNNING"})");
    BOOST_TEST(cml::application_differences(running, spec).empty());
    spec.memory = 32;
    spec.environment["RAY_ROLE"] = "worker";
    BOOST_TEST((cml::application_differences(running, spec) == std::vector<std::string>{"memory", "environment"}));

    BOOST_TEST(cml::create_run_body({}).empty());
    const auto run = cml::create_run_body({std::string{"--epochs 1"}, {{"RUN_MODE", "smoke"}}});
    BOOST_TEST(run.at("arguments").as_string() == "--epochs 1");
    BOOST_TEST(run.at("environment").as_object().at("RUN_MODE").as_string() == "smoke");

    const auto project = cml::create_project_body({"ray-poc", "https://git.example.com/team/ray-poc.git", "", "", "private"});
    BOOST_TEST(project.at("template").as_string() == "git");
    BOOST_TEST(project.at("git_url").as_string() == "https://git.example.com/team/ray-poc.git");
    BOOST_TEST(!project.contains("git_ref"));
}

BOOST_AUTO_TEST_CASE(subdomains)
{
    for (const char* good : {"ray-head", "ray-worker-12", "a", "0abc"}) BOOST_TEST(cml::is_valid_subdomain(good), good);
    for (const char* bad : {"", "Ray-Head", "ray_head", "-ray", "ray-", "ray--head", "ray.head"})
        BOOST_TEST(!cml::is_valid_subdomain(bad), bad);
    BOOST_TEST(!cml::is_valid_subdomain(std::string(64, 'a')));
}

BOOST_AUTO_TEST_SUITE_END()
