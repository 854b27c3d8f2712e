// The pure halves of operating Ray: the Serve config read-modify-write (ray/serve_config.hpp), the
// one line of Ray's error texts worth showing, and the checks of the jobs and applications bodies
// (api/ray_requests.hpp).
#include "raydeploy/api/ray_requests.hpp"
#include "raydeploy/api/api_error.hpp"
#include "raydeploy/ray/dashboard_client.hpp"
#include "raydeploy/ray/serve_config.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

using namespace raydeploy;
namespace json = boost::json;

namespace {

json::object parse_object(std::string_view text) { return json::parse(text).as_object(); }

// GET /api/serve/applications/ of a running Serve with two applications: one deployed through
// raydeploy, one from someone's config file with settings raydeploy never writes.
const char* running_serve = R"({
  "controller_info": {"node_id": "n1", "actor_id": "c1"},
  "proxy_location": "HeadOnly",
  "http_options": {"host": "127.0.0.1", "port": 8123, "root_path": "", "request_timeout_s": 30},
  "grpc_options": {"port": 9000},
  "target_capacity": 50,
  "deploy_mode": "MULTI_APP",
  "applications": {
    "ours": {"name": "ours", "status": "RUNNING", "route_prefix": "/ours",
             "deployed_app_config": {"name": "ours", "route_prefix": "/ours", "import_path": "pkg.ours:app"},
             "deployments": {"Model": {"name": "Model"}, "Ingress": {"name": "Ingress"}}},
    "theirs": {"name": "theirs", "status": "RUNNING", "route_prefix": "/",
               "deployed_app_config": {"name": "theirs", "import_path": "their.mod:graph",
                                       "runtime_env": {"working_dir": "s3://b/x.zip"},
                                       "deployments": [{"name": "D", "user_config": {"k": [1, 2]},
                                                        "autoscaling_config": {"min_replicas": 1}}]},
               "deployments": {}}
  }
})";

const char* idle_serve = R"({"deploy_mode": "MULTI_APP", "controller_info": {}, "proxies": {}, "applications": {},
                             "target_capacity": null})";

// The field an api_error names, or its message when it names none.
template <class Call>
std::string refused_field(Call&& call)
{
    try {
        call();
    } catch (const api::api_error& e) {
        BOOST_TEST(static_cast<int>(e.status()) == 422);
        if (const auto* field = e.details().if_contains("field"); field && field->is_string())
            return std::string{field->get_string()};
        return std::string{"<no field: "} + e.what() + ">";
    }
    return "<accepted>";
}

json::object app_body(std::string_view extra = "")
{
    return parse_object(R"({"name": "svc", "import_path": "models.sentiment:app")" + std::string{extra} + "}");
}

}  // namespace

BOOST_AUTO_TEST_SUITE(ray_operations)

BOOST_AUTO_TEST_CASE(the_summary_of_a_traceback_is_its_innermost_exception_line)
{
    const std::string nested =
        "Traceback (most recent call last):\n  File \"job_head.py\", line 300, in submit_job\n    raise\n"
        "RuntimeError: Request failed with status code 400: Traceback (most recent call last):\n"
        "  File \"job_manager.py\", line 9\nValueError: Job with submission_id x already exists. Please use a "
        "different submission_id.\n.\n";
    BOOST_TEST(ray::ray_error_summary(nested) ==
               "ValueError: Job with submission_id x already exists. Please use a different submission_id.");
    BOOST_TEST(ray::ray_error_summary("Job abc does not exist") == "Job abc does not exist");
    BOOST_TEST(ray::ray_error_summary("\n  Unauthorized: Missing authentication token \n\nmore") ==
               "Unauthorized: Missing authentication token");
    BOOST_TEST(ray::ray_error_summary("") == "");
    const std::string long_line(1000, 'x');
    BOOST_TEST(ray::ray_error_summary(long_line).size() == 300u);
}

BOOST_AUTO_TEST_CASE(a_dashboard_answer_must_be_a_json_object_of_finite_numbers)
{
    BOOST_TEST(ray::parse_dashboard_object(R"({"submission_id": "raysubmit_1", "n": 1e300})", "POST /api/jobs/")
                   .at("submission_id")
                   .as_string() == "raysubmit_1");
    const auto message_for = [](std::string_view body) {
        try {
            (void)ray::parse_dashboard_object(body, "POST /api/jobs/");
        } catch (const ray::ray_error& e) {
            BOOST_TEST((e.kind() == ray::ray_error_kind::failed));
            return std::string{e.what()};
        }
        BOOST_FAIL("expected a ray_error for " << body);
        return std::string{};
    };
    BOOST_TEST(message_for(R"({"submission_id": "x", "n": 1e400})").find("a number too large for a double") !=
               std::string::npos);
    BOOST_TEST(message_for("[1, 2]").find("something other than a JSON object") != std::string::npos);
    BOOST_TEST(message_for("<html>Ray</html>").find("is ray.dashboard_url the Ray dashboard") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_running_serve_config_keeps_every_application_and_the_instance_options)
{
    const auto config = ray::serve_config_from(parse_object(running_serve), 8000);
    BOOST_TEST(config.serve_running);
    BOOST_TEST(config.not_declarative.empty());
    BOOST_TEST_REQUIRE(config.applications.size() == 2u);
    BOOST_TEST(config.applications[1] == parse_object(running_serve)
                                             .at("applications").as_object()
                                             .at("theirs").as_object()
                                             .at("deployed_app_config").as_object());
    BOOST_TEST(json::serialize(config.options) ==
               R"({"proxy_location":"HeadOnly","target_capacity":50,"http_options":{"host":"127.0.0.1","port":8123}})");
}

BOOST_AUTO_TEST_CASE(serve_not_running_gets_the_configured_port_on_every_interface)
{
    const auto config = ray::serve_config_from(parse_object(idle_serve), 8100);
    BOOST_TEST(!config.serve_running);
    BOOST_TEST(config.applications.empty());
    BOOST_TEST(json::serialize(ray::put_body(config)) ==
               R"({"http_options":{"host":"0.0.0.0","port":8100},"applications":[]})");
}

BOOST_AUTO_TEST_CASE(applications_deployed_from_python_are_reported_not_rewritten)
{
    auto details = parse_object(running_serve);
    details["applications"].as_object()["script"] = json::object{{"name", "script"}, {"status", "RUNNING"}};
    const auto config = ray::serve_config_from(details, 8000);
    BOOST_TEST(config.applications.size() == 2u);
    BOOST_TEST_REQUIRE(config.not_declarative.size() == 1u);
    BOOST_TEST(config.not_declarative.front() == "script");
    BOOST_CHECK_THROW(ray::serve_config_from(parse_object(R"({"applications": [1]})"), 8000), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(one_application_is_replaced_added_or_removed_and_the_others_stay_byte_for_byte)
{
    const auto config = ray::serve_config_from(parse_object(running_serve), 8000);
    const auto theirs = config.applications[1];

    const auto replaced = ray::with_application(config, parse_object(R"({"name": "ours", "import_path": "pkg.v2:app"})"));
    BOOST_TEST_REQUIRE(replaced.applications.size() == 2u);
    BOOST_TEST(replaced.applications[0].at("import_path").as_string() == "pkg.v2:app");
    BOOST_TEST(replaced.applications[1] == theirs);

    const auto added = ray::with_application(config, parse_object(R"({"name": "new", "import_path": "m:a"})"));
    BOOST_TEST(added.applications.size() == 3u);
    BOOST_TEST(added.applications[1] == theirs);

    const auto removed = ray::without_application(config, "ours");
    BOOST_TEST_REQUIRE(removed.applications.size() == 1u);
    BOOST_TEST(removed.applications[0] == theirs);
    BOOST_TEST(ray::without_application(removed, "absent").applications.size() == 1u);

    // The last one gone: an empty list (Serve keeps running), never a missing key.
    const auto none = ray::without_application(removed, "theirs");
    BOOST_TEST(ray::put_body(none).at("applications").as_array().empty());
    BOOST_TEST(ray::put_body(none).at("proxy_location").as_string() == "HeadOnly");
}

BOOST_AUTO_TEST_CASE(two_reads_agree_only_when_every_application_config_is_the_same)
{
    const auto first = ray::serve_config_from(parse_object(running_serve), 8000);
    auto reordered = first;
    std::swap(reordered.applications[0], reordered.applications[1]);
    BOOST_TEST(ray::same_applications(first, reordered));

    auto changed = first;
    changed.applications[1]["args"] = json::object{{"revision", 2}};
    BOOST_TEST(!ray::same_applications(first, changed));
    BOOST_TEST(!ray::same_applications(first, ray::without_application(first, "theirs")));
    auto with_script = first;
    with_script.not_declarative.push_back("script");
    BOOST_TEST(!ray::same_applications(first, with_script));
}

BOOST_AUTO_TEST_CASE(route_prefixes_belong_to_one_application_and_serves_default_is_root)
{
    const auto config = ray::serve_config_from(parse_object(running_serve), 8000);
    BOOST_TEST(ray::route_prefix_owner(config, "/", "ours").value_or("-") == "theirs");  // no route_prefix: "/"
    BOOST_TEST(ray::route_prefix_owner(config, "/ours", "new").value_or("-") == "ours");
    BOOST_TEST(!ray::route_prefix_owner(config, "/ours", "ours"));  // redeploying keeps its own prefix
    BOOST_TEST(!ray::route_prefix_owner(config, "/free", "new"));
}

BOOST_AUTO_TEST_CASE(top_level_replicas_and_actor_options_go_into_every_deployment_without_its_own)
{
    auto request = api::application_request_from(app_body(
        R"(, "route_prefix": "/s", "num_replicas": 2, "ray_actor_options": {"num_cpus": 0.5},
           "runtime_env": {"pip": ["x"]}, "args": {"a": 1},
           "deployments": [{"name": "Model", "num_replicas": 4}, {"name": "Ingress", "max_ongoing_requests": 8}])"));
    const auto app = ray::application_config(request, {});
    BOOST_TEST(json::serialize(app) ==
               R"({"name":"svc","import_path":"models.sentiment:app","route_prefix":"/s","runtime_env":{"pip":["x"]},)"
               R"("args":{"a":1},"deployments":[{"name":"Model","num_replicas":4,"ray_actor_options":{"num_cpus":5E-1}},)"
               R"({"name":"Ingress","max_ongoing_requests":8,"num_replicas":2,"ray_actor_options":{"num_cpus":5E-1}}]})");
    BOOST_TEST(!ray::needs_deployment_names(request, {}));

    // Without `deployments`: the names Serve reports for the application, when it has them.
    request = api::application_request_from(app_body(R"(, "num_replicas": 3)"));
    BOOST_TEST(ray::needs_deployment_names(request, {}));
    BOOST_TEST(!ray::application_config(request, {}).contains("deployments"));
    const auto known = ray::deployment_names(parse_object(running_serve), "ours");
    BOOST_TEST_REQUIRE(known.size() == 2u);
    BOOST_TEST(known[0] == "Ingress");
    BOOST_TEST(json::serialize(ray::application_config(request, known).at("deployments")) ==
               R"([{"name":"Ingress","num_replicas":3},{"name":"Model","num_replicas":3}])");
    BOOST_TEST(!ray::needs_deployment_names(request, known));

    // Nothing to place: no deployments entry at all, so Serve's own defaults apply.
    request = api::application_request_from(app_body());
    BOOST_TEST(!ray::needs_deployment_names(request, {}));
    BOOST_TEST(!ray::application_config(request, known).contains("deployments"));
    BOOST_TEST(request.route_prefix == "/svc");
}

BOOST_AUTO_TEST_CASE(application_bodies_are_refused_naming_the_field)
{
    BOOST_TEST(refused_field([] { api::application_request_from(parse_object(R"({"import_path": "m:a"})")); }) == "name");
    BOOST_TEST(refused_field([] { api::application_request_from(parse_object(R"({"name": "a b", "import_path": "m:a"})")); }) ==
               "name");
    BOOST_TEST(refused_field([] { api::application_request_from(parse_object(R"({"name": "svc"})")); }) == "import_path");
    for (const char* bad : {"m:a:b", "m:", ":a", "1m:a", "module", "m-x:a", "m:a b"})
        BOOST_TEST(refused_field([&] {
                       api::application_request_from(
                           parse_object(std::string{R"({"name": "svc", "import_path": ")"} + bad + "\"}"));
                   }) == "import_path",
                   bad);
    BOOST_TEST(refused_field([] {
                   api::application_request_from(parse_object(R"({"name": "svc", "import_path": "pkg.mod.app"})"));
               }) == "<accepted>");
    for (const char* bad : {"x", "/x/", "/a/{id}", "/a b"})
        BOOST_TEST(refused_field([&] { api::application_request_from(app_body(std::string{R"(, "route_prefix": ")"} + bad + "\"")); }) ==
                       "route_prefix",
                   bad);
    BOOST_TEST(refused_field([] { api::application_request_from(app_body(R"(, "route_prefix": "/")")); }) == "<accepted>");
    for (const char* bad : {"0", "-1", "1.5", "\"2\"", "10001"})
        BOOST_TEST(refused_field([&] { api::application_request_from(app_body(std::string{R"(, "num_replicas": )"} + bad)); }) ==
                       "num_replicas",
                   bad);
    BOOST_TEST(refused_field([] { api::application_request_from(app_body(R"(, "ray_actor_options": 1)")); }) ==
               "ray_actor_options");
    BOOST_TEST(refused_field([] { api::application_request_from(app_body(R"(, "ray_actor_options": {"num_cpus": -1})")); }) ==
               "ray_actor_options.num_cpus");
    BOOST_TEST(refused_field([] { api::application_request_from(app_body(R"(, "ray_actor_options": {"memory": "1G"})")); }) ==
               "ray_actor_options.memory");
    BOOST_TEST(refused_field([] {
                   api::application_request_from(app_body(R"(, "ray_actor_options": {"resources": {"TPU": -2}})"));
               }) == "ray_actor_options.resources.TPU");
    BOOST_TEST(refused_field([] { api::application_request_from(app_body(R"(, "runtime_env": [])")); }) == "runtime_env");
    BOOST_TEST(refused_field([] { api::application_request_from(app_body(R"(, "deployments": {})")); }) == "deployments");
    BOOST_TEST(refused_field([] {
                   api::application_request_from(app_body(R"(, "deployments": [{"name": "A"}, {"name": "B", "num_replicas": 0}])"));
               }) == "deployments[1].num_replicas");
    BOOST_TEST(refused_field([] { api::application_request_from(app_body(R"(, "deployments": [{"num_replicas": 1}])")); }) ==
               "deployments[0].name");
    BOOST_TEST(refused_field([] { api::application_request_from(app_body(R"(, "deployments": [{"name": "A"}, {"name": "A"}])")); }) ==
               "deployments[1].name");
    BOOST_TEST(refused_field([] { api::application_request_from(app_body(R"(, "deployments": [{"name": "A", "num_replicas": "auto"}])")); }) ==
               "<accepted>");
    BOOST_TEST(refused_field([] { api::application_request_from(app_body(R"(, "replicas": 2)")); }) == "replicas");
}

BOOST_AUTO_TEST_CASE(job_bodies_are_refused_naming_the_field)
{
    const auto job = api::job_submission_from(parse_object(
        R"({"entrypoint": "python train.py", "runtime_env": {"env_vars": {"K": "v"}}, "metadata": {"owner": "ci"},
            "submission_id": "train-01"})"));
    BOOST_TEST(job.entrypoint == "python train.py");
    BOOST_TEST(job.submission_id.value_or("") == "train-01");
    BOOST_TEST(job.metadata->at("owner").as_string() == "ci");

    BOOST_TEST(refused_field([] { api::job_submission_from(parse_object(R"({})")); }) == "entrypoint");
    BOOST_TEST(refused_field([] { api::job_submission_from(parse_object(R"({"entrypoint": "  "})")); }) == "entrypoint");
    BOOST_TEST(refused_field([] { api::job_submission_from(parse_object(R"({"entrypoint": ["python"]})")); }) == "entrypoint");
    BOOST_TEST(refused_field([] { api::job_submission_from(parse_object(R"({"entrypoint": "x", "runtime_env": "pip"})")); }) ==
               "runtime_env");
    BOOST_TEST(refused_field([] { api::job_submission_from(parse_object(R"({"entrypoint": "x", "metadata": {"n": 1}})")); }) ==
               "metadata.n");
    BOOST_TEST(refused_field([] { api::job_submission_from(parse_object(R"({"entrypoint": "x", "submission_id": "a/b"})")); }) ==
               "submission_id");
    BOOST_TEST(refused_field([] {
                   api::job_submission_from(parse_object(R"({"entrypoint": "x", "entrypoint_num_cpus": 1})"));
               }) == "entrypoint_num_cpus");
}

BOOST_AUTO_TEST_CASE(a_status_filter_lists_known_statuses_in_any_case)
{
    const auto statuses = api::job_status_filter("running,Failed");
    BOOST_TEST_REQUIRE(statuses.size() == 2u);
    BOOST_TEST(statuses[0] == "RUNNING");
    BOOST_TEST(statuses[1] == "FAILED");
    for (const char* bad : {"DONE", "RUNNING,", ""}) {
        try {
            api::job_status_filter(bad);
            BOOST_ERROR("accepted '" << bad << "'");
        } catch (const api::api_error& e) {
            BOOST_TEST(static_cast<int>(e.status()) == 400);
            BOOST_TEST(e.details().at("parameter").as_string() == "status");
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()
