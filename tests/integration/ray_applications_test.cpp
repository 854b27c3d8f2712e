// Suite ray_applications: Serve applications through the service, against the project's fake Ray
// dashboard (whose PUT replaces the whole application set, as Serve's does). What matters most:
// a write changes only the named application, whoever deployed the others, and a config changed
// by someone else between raydeploy's read and write is refused, not overwritten. Also the CLI's
// `raydeploy apps` and `raydeploy cluster`.
#include "support/fake_ray_support.hpp"
#include "support/test_support.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <set>
#include <thread>

using namespace raydeploy::test;
namespace json = boost::json;

namespace {

bool contains(const std::string& text, std::string_view needle) { return text.find(needle) != std::string::npos; }

struct apps_fixture : service_watching_fake_ray {
    apps_fixture() : service_watching_fake_ray{{"--serve-deploy-s", "0.3"}, {{"RAYDEPLOY_RAY_SERVE_HTTP_PORT", "8123"}}} {}

    response deploy(const std::string& body) const { return operator_.post("/api/v1/applications", body); }

    json::object wait_for_status(std::string_view name, std::string_view status,
                                 source_location where = source_location::current()) const
    {
        return service_watching_fake_ray::wait_for_status(viewer, "/api/v1/applications/" + std::string{name}, status,
                                                          where);
    }

    // An application PUT straight to Serve, as someone's own `serve deploy` would, with settings
    // raydeploy never writes itself.
    void deploy_outsider() const
    {
        const auto res = ray.ray(http::verb::put, "/api/serve/applications/", outsider_config);
        BOOST_TEST_REQUIRE(res.result_int() == 200, res.body());
    }

    static inline const std::string outsider_config = R"({"proxy_location": "EveryNode",
        "applications": [{"name": "outsider", "route_prefix": "/legacy", "import_path": "legacy.app:graph",
                          "runtime_env": {"working_dir": "https://example.com/legacy.zip"},
                          "args": {"threshold": 0.75},
                          "deployments": [{"name": "Legacy", "num_replicas": 1, "user_config": {"mode": ["a", "b"]},
                                           "max_ongoing_requests": 7}]}]})";
};

const std::string alpha = R"({"name": "alpha", "import_path": "models.alpha:app", "route_prefix": "/alpha",
                              "deployments": [{"name": "Alpha", "num_replicas": 2}]})";
const std::string beta = R"({"name": "beta", "import_path": "models.beta:app", "route_prefix": "/beta"})";

std::vector<json::object> app_events(const api_client& client, std::string_view name)
{
    std::vector<json::object> events;
    for (const auto& event : replay_events(client, "types=cluster.serve_app_status", 300ms))
        if (text(event, "name") == name) events.push_back(event);
    return events;
}

// Polls the events until one of `name` reached `status`; the last event of `name` seen otherwise.
json::object wait_for_event(const api_client& client, std::string_view name, std::string_view status)
{
    const auto deadline = std::chrono::steady_clock::now() + 15s;
    json::object last;
    while (std::chrono::steady_clock::now() < deadline) {
        for (const auto& event : app_events(client, name)) {
            last = event;
            if (text(event, "new_status") == status) return event;
        }
    }
    return last;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(ray_applications)

BOOST_AUTO_TEST_CASE(a_deployed_application_reaches_running_with_events_and_its_defaults_in_every_deployment)
{
    apps_fixture f;
    const auto accepted = f.deploy(
        R"({"name": "seed", "import_path": "my_module:deployment", "route_prefix": "/api", "num_replicas": 2,
            "ray_actor_options": {"num_cpus": 1}})");
    BOOST_TEST_REQUIRE(accepted.result_int() == 202, accepted.body());
    const auto body = json_object_of(accepted);
    BOOST_TEST(text(body, "status") == "accepted");
    BOOST_TEST(text(body, "name") == "seed");
    BOOST_TEST(text(body, "route_prefix") == "/api");

    const auto event = wait_for_event(f.viewer, "seed", "RUNNING");
    BOOST_TEST(text(event, "new_status") == "RUNNING", json::serialize(event));

    // Serve names the deployments once it built the application; the service then writes the
    // request's replicas and actor options into each of them.
    json::value config;
    const auto deadline = std::chrono::steady_clock::now() + 15s;
    do {
        config = f.ray.deployed_config("seed");
    } while (!(config.is_object() && config.as_object().contains("deployments")) &&
             std::chrono::steady_clock::now() < deadline);
    BOOST_TEST_REQUIRE(config.is_object());
    BOOST_TEST(json::serialize(config.as_object().at("deployments")) ==
               R"([{"name":"deployment","num_replicas":2,"ray_actor_options":{"num_cpus":1}}])");
    const auto app = f.wait_for_status("seed", "RUNNING");
    f.viewer.wait_until("/api/v1/applications/seed", [](const json::object& shown) {
        return integer(shown, "num_replicas") == 2 && integer(shown, "running_replicas") == 2;
    });
    BOOST_TEST(text(app, "route_prefix") == "/api");

    // Serve started with the configured port on every interface.
    const auto details = f.ray.serve_details();
    BOOST_TEST(integer(object_at(details, "http_options"), "port") == 8123);

    const auto list = f.viewer.get_object("/api/v1/applications");
    BOOST_TEST(integer(list, "total_applications") == 1);
    BOOST_TEST(timestamp_ms(list.at("observed_at")) > 0);
}

BOOST_AUTO_TEST_CASE(a_second_application_and_a_delete_leave_the_others_untouched)
{
    apps_fixture f;
    f.deploy_outsider();
    BOOST_TEST_REQUIRE(f.deploy(alpha).result_int() == 202);
    f.wait_for_status("alpha", "RUNNING");
    const auto outsider_before = f.ray.deployed_config("outsider");
    const auto alpha_before = f.ray.deployed_config("alpha");
    const auto alpha_deployed_at = text(f.viewer.get_object("/api/v1/applications/alpha"), "last_deployed_time");
    BOOST_TEST_REQUIRE(outsider_before.is_object());

    BOOST_TEST_REQUIRE(f.deploy(beta).result_int() == 202);
    f.wait_for_status("beta", "RUNNING");
    BOOST_TEST(f.ray.deployed_config("alpha") == alpha_before);
    BOOST_TEST(f.ray.deployed_config("outsider") == outsider_before);
    const auto alpha_after = f.viewer.get_object("/api/v1/applications/alpha");
    BOOST_TEST(text(alpha_after, "status") == "RUNNING");
    BOOST_TEST(text(alpha_after, "last_deployed_time") == alpha_deployed_at);  // not redeployed

    const auto deleted = f.operator_.del("/api/v1/applications/alpha");
    BOOST_TEST_REQUIRE(deleted.result_int() == 202, deleted.body());
    const auto apps = object_at(f.ray.serve_details(), "applications");
    std::set<std::string> names;
    for (const auto& member : apps) names.insert(std::string{member.key()});
    BOOST_TEST((names == std::set<std::string>{"beta", "outsider"}));
    BOOST_TEST(f.ray.deployed_config("outsider") == outsider_before);
    BOOST_TEST(wait_for_event(f.viewer, "alpha", "DELETED").contains("new_status"));

    const auto again = f.operator_.del("/api/v1/applications/alpha");
    BOOST_TEST(again.result_int() == 404);
    BOOST_TEST(error_field_of(again) == "APPLICATION_NOT_FOUND");

    // The last ones gone: Serve keeps running (its proxy keeps its port) with no applications.
    BOOST_TEST(f.operator_.del("/api/v1/applications/beta").result_int() == 202);
    BOOST_TEST(f.ray.deployed_config("outsider") == outsider_before);
    BOOST_TEST(f.operator_.del("/api/v1/applications/outsider").result_int() == 202);
    const auto empty = f.ray.serve_details();
    BOOST_TEST(object_at(empty, "applications").empty());
    BOOST_TEST(!object_at(empty, "controller_info").empty());
}

BOOST_AUTO_TEST_CASE(a_config_changed_between_read_and_write_is_refused_with_409)
{
    apps_fixture f;
    f.deploy_outsider();
    f.ray.control(http::verb::post, "/serve_churn", R"({"application": "outsider"})");
    const auto refused = f.deploy(alpha);
    BOOST_TEST(refused.result_int() == 409, refused.body());
    BOOST_TEST(error_field_of(refused) == "CONFLICT");
    BOOST_TEST(contains(refused.body(), "changed while raydeploy was writing"));
    BOOST_TEST(f.ray.deployed_config("alpha").is_null());
    BOOST_TEST(f.operator_.del("/api/v1/applications/outsider").result_int() == 409);

    f.ray.control(http::verb::post, "/serve_churn", R"({"application": null})");
    BOOST_TEST(f.deploy(alpha).result_int() == 202);
    BOOST_TEST(f.ray.deployed_config("alpha").is_object());
    BOOST_TEST(f.ray.deployed_config("outsider").is_object());
}

BOOST_AUTO_TEST_CASE(a_failed_deploy_shows_serves_message_and_a_taken_route_prefix_is_409)
{
    apps_fixture f;
    BOOST_TEST_REQUIRE(f.deploy(R"({"name": "broken-app", "import_path": "broken.module:app"})").result_int() == 202);
    const auto app = f.wait_for_status("broken-app", "DEPLOY_FAILED");
    BOOST_TEST(contains(text(app, "message"), "ModuleNotFoundError"), json::serialize(app));
    BOOST_TEST(text(app, "route_prefix") == "/broken-app");
    const auto event = wait_for_event(f.viewer, "broken-app", "DEPLOY_FAILED");
    BOOST_TEST(contains(text(event, "message"), "ModuleNotFoundError"), json::serialize(event));

    const auto taken = f.deploy(R"({"name": "other", "import_path": "m:a", "route_prefix": "/broken-app"})");
    BOOST_TEST(taken.result_int() == 409, taken.body());
    BOOST_TEST(contains(taken.body(), "broken-app"));
}

BOOST_AUTO_TEST_CASE(writes_need_the_operator_role_valid_bodies_and_a_reachable_ray)
{
    apps_fixture f;
    BOOST_TEST(f.viewer.post("/api/v1/applications", alpha).result_int() == 403);
    BOOST_TEST(f.viewer.del("/api/v1/applications/alpha").result_int() == 403);
    std::set<std::string> refusals;
    const auto audit = f.admin.get_object("/api/v1/audit?limit=50");
    for (const auto& row : audit.at("entries").as_array())
        if (text(row.as_object(), "actor") == "vera")
            refusals.insert(text(row.as_object(), "action") + " " + text(row.as_object(), "outcome"));
    BOOST_TEST((refusals == std::set<std::string>{"application.deploy FORBIDDEN", "application.delete FORBIDDEN"}));

    const std::vector<std::pair<std::string, std::string>> cases = {
        {R"({"import_path": "m:a"})", "name"},
        {R"({"name": "a/b", "import_path": "m:a"})", "name"},
        {R"({"name": "a", "import_path": "no colon or dot"})", "import_path"},
        {R"({"name": "a", "import_path": "m:a", "route_prefix": "/x/"})", "route_prefix"},
        {R"({"name": "a", "import_path": "m:a", "num_replicas": 0})", "num_replicas"},
        {R"({"name": "a", "import_path": "m:a", "ray_actor_options": {"num_gpus": -1}})", "ray_actor_options.num_gpus"},
        {R"({"name": "a", "import_path": "m:a", "runtime_env": 3})", "runtime_env"},
        {R"({"name": "a", "import_path": "m:a", "replicas": 3})", "replicas"},
    };
    for (const auto& [body, field] : cases) {
        const auto res = f.deploy(body);
        BOOST_TEST_CONTEXT(body)
        {
            BOOST_TEST(res.result_int() == 422, res.body());
            BOOST_TEST(text(json_object_of(res), "field") == field);
        }
    }
    const auto unknown = f.viewer.get("/api/v1/applications/nope");
    BOOST_TEST(unknown.result_int() == 404);
    BOOST_TEST(error_field_of(unknown) == "APPLICATION_NOT_FOUND");

    f.ray.control(http::verb::post, "/fault", R"({"mode": "down"})");
    const auto down = f.deploy(alpha);
    BOOST_TEST(down.result_int() == 503, down.body());
    BOOST_TEST(error_field_of(down) == "RAY_UNAVAILABLE");
    const auto list = f.viewer.get_object("/api/v1/applications");
    BOOST_TEST(list.contains("source"));
    BOOST_TEST(integer(list, "total_applications") == 0);
}

BOOST_AUTO_TEST_CASE(the_cli_deploys_lists_shows_and_deletes_and_shows_the_cluster)
{
    apps_fixture f;
    const env_map as_operator{{"RAYDEPLOY_TOKEN", f.operator_id.token}};
    const std::string server = "http://127.0.0.1:" + std::to_string(f.service.port());

    const auto deployed = run_cli({"apps", "deploy", "--name", "cli-app", "--import-path", "pkg.mod:app", "--route-prefix",
                                   "/cli", "--deployments", R"([{"name": "Model", "num_replicas": 2}])", "--server", server},
                                  as_operator);
    BOOST_TEST_REQUIRE(deployed.exit_code == 0, deployed.err);
    BOOST_TEST(contains(deployed.out, "deploying cli-app at /cli"), deployed.out);
    f.wait_for_status("cli-app", "RUNNING");

    const auto listed = run_cli({"apps", "list", "--server", server}, as_operator);
    BOOST_TEST_REQUIRE(listed.exit_code == 0, listed.err);
    BOOST_TEST(contains(listed.out, "NAME"), listed.out);
    BOOST_TEST(contains(listed.out, "cli-app"));
    BOOST_TEST(contains(listed.out, "RUNNING"));
    BOOST_TEST(contains(listed.out, "/cli"));

    const auto shown = run_cli({"apps", "show", "cli-app", "--server", server}, as_operator);
    BOOST_TEST_REQUIRE(shown.exit_code == 0, shown.err);
    BOOST_TEST(contains(shown.out, "application cli-app: RUNNING"), shown.out);
    BOOST_TEST(contains(shown.out, "Model"));

    const auto as_json = run_cli({"apps", "show", "cli-app", "--format", "json", "--server", server}, as_operator);
    BOOST_TEST_REQUIRE(as_json.exit_code == 0, as_json.err);
    BOOST_TEST(text(parse_json(as_json.out).as_object(), "status") == "RUNNING");

    for (const std::string what : {"status", "info", "nodes", "capacity"}) {
        const auto text_form = run_cli({"cluster", what, "--server", server}, as_operator);
        BOOST_TEST_CONTEXT(what)
        {
            BOOST_TEST(text_form.exit_code == 0, text_form.err);
            BOOST_TEST(contains(text_form.out, "CONNECTED"), text_form.out);
            const auto json_form = run_cli({"cluster", what, "--format", "json", "--server", server}, as_operator);
            BOOST_TEST(json_form.exit_code == 0, json_form.err);
            BOOST_TEST(parse_json(json_form.out).is_object());
        }
    }
    const auto nodes = run_cli({"cluster", "nodes", "--server", server}, as_operator);
    BOOST_TEST(contains(nodes.out, "head"), nodes.out);
    BOOST_TEST(contains(nodes.out, "worker"));
    BOOST_TEST(contains(nodes.out, "2 alive of 2"));

    const auto deleted = run_cli({"apps", "delete", "cli-app", "--server", server}, as_operator);
    BOOST_TEST_REQUIRE(deleted.exit_code == 0, deleted.err);
    BOOST_TEST(f.ray.deployed_config("cli-app").is_null());
    const auto missing = run_cli({"apps", "delete", "cli-app", "--server", server}, as_operator);
    BOOST_TEST(missing.exit_code == 2, missing.err);
    BOOST_TEST(contains(missing.err, "APPLICATION_NOT_FOUND"), missing.err);

    const auto usage = run_cli({"apps", "deploy", "--name", "x", "--server", server}, as_operator);
    BOOST_TEST(usage.exit_code == 2);
    BOOST_TEST(contains(usage.err, "--import-path"), usage.err);
    const auto bad_action = run_cli({"cluster", "explode", "--server", server}, as_operator);
    BOOST_TEST(bad_action.exit_code == 2);
}

BOOST_AUTO_TEST_SUITE_END()
