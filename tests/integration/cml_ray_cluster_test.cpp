// Suite cml_ray_cluster: launch-ray-cluster and teardown-ray-cluster of the shipped CML catalog,
// and the nodes API, through the real binary against the fake CML API v2 and a fake Ray dashboard
// standing in for the head's (cml.application_url points at it). The fake CML runs no Ray, so the
// test plays Ray's part: it names the fake Ray's nodes after the applications, as the scripts'
// `ray start --node-name` does.
#include "support/fake_cml_support.hpp"
#include "support/fake_ray_support.hpp"
#include "support/test_support.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <csignal>
#include <functional>
#include <optional>

using namespace raydeploy::test;
namespace json = boost::json;

namespace {

const fs::path cml_catalog = source_dir() / "cml" / "checkpoints.yaml";
const std::string project_name = "Raydeploy E2E";
// subdomain_prefix(project_name): every application's subdomain starts with it.
const std::string prefix = "raydeploy-e2e";
const std::string head_name = prefix + "-ray-head";
const std::string worker_name = prefix + "-ray-worker-1";

struct cluster_fixture {
    explicit cluster_fixture(bool wait_for_ray = true)
        : cml{{"--project-create-s", "0.2", "--app-start-s", "0.3", "--app-stop-s", "0.1"}}, ray{{"--workers", "0"}},
          wait_for_ray_{wait_for_ray}
    {
        restart();
        // The head of the fake Ray is the head application's node.
        const json::object state = ray.state();
        for (const auto& node : state.at("nodes").as_array())
            if (node.as_object().at("is_head_node").as_bool())
                ray.nodes({{"action", "rename"}, {"node_id", node.as_object().at("node_id")}, {"name", head_name}});
        const auto setup = run("setup-project");
        BOOST_TEST_REQUIRE(text(setup, "status") == "succeeded", json::serialize(setup));
    }

    // Starts the service (again, after a kill) on the fixture's state directory.
    void restart()
    {
        client_.reset();
        service_.reset();
        service_.emplace(options(wait_for_ray_));
        client_.emplace(service_->port());
    }

    const service_process& service() const { return *service_; }
    service_process& service() { return *service_; }
    const api_client& client() const { return *client_; }

    service_options options(bool wait_for_ray) const
    {
        service_options o;
        o.catalog = cml_catalog;
        o.state_dir = state.path() / "state";
        o.env = {{"RAYDEPLOY_CML_HOST", cml.cml_url()},
                 {"RAYDEPLOY_CML_API_KEY", cml.api_key()},
                 {"RAYDEPLOY_CML_PROJECT_NAME", project_name},
                 {"RAYDEPLOY_CML_GIT_URL", "https://git.example.com/team/ray-on-cml.git"},
                 {"RAYDEPLOY_CML_RUNTIME_IDENTIFIER", "docker.repository.cloudera.com/cloudera/cdsw/ml-runtime:2024.02.1-b4"},
                 {"RAYDEPLOY_CML_POLL_INTERVAL", "100ms"},
                 {"RAYDEPLOY_CML_REQUEST_TIMEOUT", "5s"},
                 {"RAYDEPLOY_CML_WAIT_FOR_RAY", wait_for_ray ? "true" : "false"},
                 {"RAYDEPLOY_CML_APPLICATION_URL", ray.dashboard_url()},
                 // Nothing listens there: until a cluster is launched, Ray is not reachable.
                 {"RAYDEPLOY_RAY_DASHBOARD_URL", "http://127.0.0.1:9"},
                 {"RAYDEPLOY_RAY_POLL_INTERVAL", "200ms"},
                 {"RAYDEPLOY_RAY_REQUEST_TIMEOUT", "2s"}};
        return o;
    }

    // Starts `checkpoint` (granting its approval first when it asks for one); returns its id.
    std::string start(const std::string& checkpoint) const
    {
        auto res = client().post("/api/v1/checkpoints/" + checkpoint, "{}");
        if (res.result_int() == 409 && error_field_of(res) == "APPROVAL_REQUIRED") {
            const std::string asked = text(json_object_of(res), "approval_id");
            const auto granted = client().post("/api/v1/approvals/" + checkpoint,
                                             R"({"approval_id": ")" + asked +
                                                 R"(", "reason": "CHG-42", "approved_by": "alice", "acknowledge_risks": true, "acknowledge_running_work": true})");
            BOOST_TEST_REQUIRE(granted.result_int() == 201, granted.body());
            res = client().post("/api/v1/checkpoints/" + checkpoint, "{}");
        }
        BOOST_TEST_REQUIRE(res.result_int() == 202, res.body());
        return text(json_object_of(res), "execution_id");
    }

    json::object run(const std::string& checkpoint) const
    {
        return wait_for_execution(service().port(), start(checkpoint), {"succeeded", "failed", "cancelled", "timed_out"}, 60s);
    }

    std::vector<json::object> events_of(const std::string& id) const { return execution_events(service().port(), id); }

    // Waits until the launch `id` says it waits for Ray to list the node `name`.
    void wait_until_ray_misses(const std::string& id, const std::string& name) const
    {
        client().wait_until(
            "/api/v1/executions/" + id,
            [&](const json::object&) {
                for (const auto& e : events_of(id))
                    if (text(e, "type") == "cml.heartbeat" && e.contains("missing") &&
                        json::serialize(e.at("missing")).find(name) != std::string::npos)
                        return true;
                return false;
            },
            30s);
    }

    // The fake's applications (every field), by name.
    std::map<std::string, json::object> applications() const
    {
        std::map<std::string, json::object> by_name;
        const json::object state = cml.state();  // not in the for: the temporary would die first
        for (const auto& app : state.at("applications").as_array())
            by_name[text(app.as_object(), "name")] = app.as_object();
        return by_name;
    }

    temp_dir state{"raydeploy-cml-cluster"};
    fake_cml cml;
    fake_ray ray;

private:
    bool wait_for_ray_;
    std::optional<service_process> service_;
    std::optional<api_client> client_;
};

const json::object* first_of(const std::vector<json::object>& events, std::string_view type)
{
    for (const auto& e : events)
        if (text(e, "type") == type) return &e;
    return nullptr;
}

std::size_t count_of(const std::vector<json::object>& events, std::string_view type)
{
    return static_cast<std::size_t>(
        std::count_if(events.begin(), events.end(), [&](const json::object& e) { return text(e, "type") == type; }));
}

// Reads the feed until an event satisfies `wanted`; returns it. Throws after `timeout`.
json::object read_until(ws_client& feed, const std::function<bool(const json::object&)>& wanted,
                        std::chrono::milliseconds timeout = 30s)
{
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left <= 0ms) throw std::runtime_error{"read_until: the expected event did not arrive in time"};
        const auto message = feed.read(left);
        if (!message) throw std::runtime_error{"read_until: the feed ended"};
        const json::value parsed = json::parse(*message);
        if (parsed.is_object() && wanted(parsed.as_object())) return parsed.as_object();
    }
}

std::string environment_value(const json::object& app, const std::string& name)
{
    // Responses hold the environment as JSON text (reference A.4).
    const json::object environment = json::parse(text(app, "environment")).as_object();
    const auto* value = environment.if_contains(name);
    return value ? std::string{value->as_string()} : std::string{};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cml_ray_cluster)

BOOST_AUTO_TEST_CASE(launch_starts_the_head_then_the_workers_and_the_monitor_watches_the_new_cluster)
{
    cluster_fixture f;
    const std::string launch = f.start("launch-ray-cluster");
    // The head runs and Ray lists it; the worker's node is missing until its application joins,
    // which the test plays once launch says it waits for it.
    f.wait_until_ray_misses(launch, worker_name);
    f.ray.nodes({{"action", "add"}, {"name", worker_name}, {"cpus", 8}, {"gpus", 1}});
    const json::object done = wait_for_execution(f.service().port(), launch, {"succeeded", "failed", "cancelled", "timed_out"}, 60s);
    BOOST_TEST_REQUIRE(text(done, "status") == "succeeded", json::serialize(done));

    const auto events = f.events_of(launch);
    BOOST_TEST(count_of(events, "cml.application_created") == 2u);
    const json::object* ready = first_of(events, "cml.ray_cluster_ready");
    BOOST_TEST_REQUIRE(ready);
    BOOST_TEST(text(*ready, "dashboard_url") == f.ray.dashboard_url());
    // The head node's IP (the fake's first node) and Ray's GCS port.
    BOOST_TEST(text(*ready, "head_address") == "10.0.0.5:6379");

    // In CML: the head and one worker with the configured resources, tagged as this cluster's.
    const auto apps = f.applications();
    BOOST_TEST_REQUIRE(apps.size() == 2u);
    const json::object& head = apps.at(head_name);
    const json::object& worker = apps.at(worker_name);
    BOOST_TEST(text(head, "subdomain") == head_name);
    BOOST_TEST(text(head, "script") == "cml/scripts/ray_head.py");
    BOOST_TEST(head.at("cpu").to_number<double>() == 4.0);
    BOOST_TEST(worker.at("cpu").to_number<double>() == 8.0);
    BOOST_TEST(worker.at("memory").to_number<double>() == 32.0);
    BOOST_TEST(worker.at("nvidia_gpu").to_number<std::int64_t>() == 1);
    BOOST_TEST(environment_value(head, "RAYDEPLOY_RAY_ROLE") == "head");
    BOOST_TEST(environment_value(worker, "RAYDEPLOY_RAY_ROLE") == "worker");
    BOOST_TEST(environment_value(worker, "RAYDEPLOY_RAY_CLUSTER") == prefix);
    BOOST_TEST(environment_value(worker, "RAYDEPLOY_RAY_NODE_NAME") == worker_name);

    // The monitor now watches the head's dashboard, and the nodes view says which node is which
    // application.
    const json::object status = f.client().get_object("/api/v1/cluster/status");
    BOOST_TEST(text(status.at("source").as_object(), "dashboard_url") == f.ray.dashboard_url(), json::serialize(status));
    const json::object nodes = f.client().get_object("/api/v1/resources/nodes");
    std::map<std::string, std::string> app_of_node;
    for (const auto& node : nodes.at("nodes").as_array())
        app_of_node[text(node.as_object(), "node_name")] = text(node.as_object(), "cml_app_id");
    BOOST_TEST(app_of_node[head_name] == text(head, "id"), json::serialize(nodes));
    BOOST_TEST(app_of_node[worker_name] == text(worker, "id"));

    // A worker added through the API is followed to RUNNING in CML, then to ALIVE in Ray, on the
    // feed; Ray lists its node once the test (playing the worker's script) names a node after it.
    ws_client feed{f.service().port(), "/api/v1/events?types=cml.node_*"};
    const auto added = f.client().post("/api/v1/resources/nodes/add", R"({"cpu": 2, "memory": 8})");
    BOOST_TEST_REQUIRE(added.result_int() == 202, added.body());
    const std::string added_id = text(json_object_of(added), "app_id");
    const std::string added_name = text(json_object_of(added), "app_name");
    read_until(feed, [&](const json::object& e) {
        return text(e, "type") == "cml.node_status" && text(e, "app_id") == added_id &&
               text(e, "new_status") == "APPLICATION_RUNNING";
    });
    const json::object joined = f.ray.nodes({{"action", "add"}, {"name", added_name}});
    const json::object alive = read_until(
        feed, [&](const json::object& e) { return text(e, "type") == "cml.node_alive" && text(e, "app_id") == added_id; });
    BOOST_TEST(text(alive, "app_name") == added_name);

    // Work runs on it: removing it needs force.
    f.ray.nodes({{"action", "load"}, {"node_id", joined.at("added").as_array().at(0)}, {"cpus", 1}});
    f.client().wait_until("/api/v1/resources/nodes", [&](const json::object& view) {
        for (const auto& node : view.at("nodes").as_array())
            if (text(node.as_object(), "node_name") == added_name) {
                const auto* cpu = node.as_object().at("resources_used").as_object().if_contains("CPU");
                return cpu && cpu->is_number() && cpu->to_number<double>() > 0;
            }
        return false;
    });
    const auto busy = f.client().del("/api/v1/resources/nodes/" + added_id);
    BOOST_TEST(busy.result_int() == 409);
    BOOST_TEST(error_field_of(busy) == "NODE_BUSY", busy.body());
    BOOST_TEST(f.applications().count(added_name) == 1u);
    const auto removed = f.client().del("/api/v1/resources/nodes/" + added_id + "?force=true");
    BOOST_TEST_REQUIRE(removed.result_int() == 200, removed.body());
    BOOST_TEST(f.applications().count(added_name) == 0u);

    // Its approval says what a launch now would do: nothing restarted, so no running work ends.
    const auto asked = f.client().post("/api/v1/checkpoints/launch-ray-cluster", "{}");
    BOOST_TEST_REQUIRE(error_field_of(asked) == "APPROVAL_REQUIRED", asked.body());
    const std::string plan = json::serialize(json_object_of(asked).at("approval_info"));
    BOOST_TEST(plan.find("restarts no running application") != std::string::npos, plan);

    // Launching again with nothing changed keeps both applications: nothing is created,
    // updated or restarted in CML.
    const std::int64_t before = f.cml.last_call();
    const json::object again = f.run("launch-ray-cluster");
    BOOST_TEST_REQUIRE(text(again, "status") == "succeeded", json::serialize(again));
    BOOST_TEST(f.cml.count_calls("POST", "/applications", before) == 0u);
    BOOST_TEST(f.cml.count_calls("PATCH", "/applications/", before) == 0u);
    BOOST_TEST(count_of(f.events_of(text(again, "execution_id")), "cml.application_unchanged") == 2u);
}

BOOST_AUTO_TEST_CASE(a_kill_9_while_launch_waits_for_ray_goes_on_after_the_restart)
{
    cluster_fixture f;
    const std::string launch = f.start("launch-ray-cluster");
    f.wait_until_ray_misses(launch, worker_name);
    f.service().send_signal(SIGKILL);
    BOOST_TEST_REQUIRE(f.service().wait_exit(5s).value_or(-1) == 128 + SIGKILL);

    // CML's applications went on running; the restarted service re-attaches the same execution,
    // keeps them (nothing created twice) and finishes once the worker's node joins.
    f.restart();
    f.ray.nodes({{"action", "add"}, {"name", worker_name}});
    const json::object done =
        wait_for_execution(f.service().port(), launch, {"succeeded", "failed", "cancelled", "timed_out", "interrupted"}, 60s);
    BOOST_TEST_REQUIRE(text(done, "status") == "succeeded", json::serialize(done));
    const auto events = f.events_of(launch);
    BOOST_TEST(count_of(events, "execution.reattached") == 1u);
    for (std::size_t i = 0; i < events.size(); ++i)
        BOOST_TEST(events[i].at("counter").to_number<std::int64_t>() == static_cast<std::int64_t>(i + 1));
    BOOST_TEST(f.cml.count_calls("POST", "/applications$") == 2u);
    BOOST_TEST(f.applications().size() == 2u);
}

BOOST_AUTO_TEST_CASE(workers_are_added_and_removed_through_the_api_and_teardown_removes_only_the_clusters_applications)
{
    cluster_fixture f{false};
    // Before any launch there is no cluster to add to.
    const auto early = f.client().post("/api/v1/resources/nodes/add", R"({"cpu": 2, "memory": 8})");
    BOOST_TEST(early.result_int() == 409);
    BOOST_TEST(error_field_of(early) == "NO_CML_CLUSTER", early.body());

    const json::object launched = f.run("launch-ray-cluster");
    BOOST_TEST_REQUIRE(text(launched, "status") == "succeeded", json::serialize(launched));
    const auto launch_events = f.events_of(text(launched, "execution_id"));
    const json::object* ready = first_of(launch_events, "cml.ray_cluster_ready");
    BOOST_TEST_REQUIRE(ready);
    BOOST_TEST(ready->at("head_address").is_null());  // cml.wait_for_ray false: Ray was not asked

    // Another application of the project, not raydeploy's: nothing here may touch it.
    const json::object project = f.cml.state().at("projects").as_array().at(0).as_object();
    const auto foreign = f.cml.cml(http::verb::post, "/api/v2/projects/" + text(project, "id") + "/applications",
                                   R"({"name": "team-notebook", "subdomain": "team-notebook", "script": "app.py",
                                       "runtime_identifier": "rt"})");
    BOOST_TEST_REQUIRE(foreign.result_int() == 200, foreign.body());

    // Bad bodies name the field and change nothing.
    for (const std::string body : {R"({"memory": 8})", R"({"cpu": -1, "memory": 8})", R"({"cpu": 2, "memory": 8, "node_type": "head"})",
                                   R"({"cpu": 2, "memory": 8, "shell": "rm -rf /"})", R"({"cpu": "2", "memory": 8})"}) {
        const auto bad = f.client().post("/api/v1/resources/nodes/add", body);
        BOOST_TEST(bad.result_int() == 422, body << " -> " << bad.body());
    }
    BOOST_TEST(f.applications().size() == 3u);

    const auto added = f.client().post("/api/v1/resources/nodes/add", R"({"cpu": 2, "memory": 8, "gpus": 0})");
    BOOST_TEST_REQUIRE(added.result_int() == 202, added.body());
    const json::object answer = json_object_of(added);
    BOOST_TEST(text(answer, "status") == "success");
    BOOST_TEST(text(answer, "node_type") == "worker");
    const std::string new_id = text(answer, "app_id");
    const std::string new_name = text(answer, "app_name");
    BOOST_TEST(new_name.starts_with(prefix + "-ray-worker-"));
    const auto apps = f.applications();
    BOOST_TEST_REQUIRE(apps.count(new_name) == 1u);
    BOOST_TEST(apps.at(new_name).at("cpu").to_number<double>() == 2.0);
    BOOST_TEST(environment_value(apps.at(new_name), "RAYDEPLOY_RAY_ROLE") == "worker");

    // The head is refused, and so is an application that is not the cluster's.
    const auto head = f.client().del("/api/v1/resources/nodes/" + text(apps.at(head_name), "id"));
    BOOST_TEST(head.result_int() == 409);
    BOOST_TEST(error_field_of(head) == "HEAD_NODE", head.body());
    const auto other = f.client().del("/api/v1/resources/nodes/" + text(apps.at("team-notebook"), "id"));
    BOOST_TEST(other.result_int() == 404);
    BOOST_TEST(error_field_of(other) == "NODE_NOT_FOUND", other.body());

    const auto removed = f.client().del("/api/v1/resources/nodes/" + new_id);
    BOOST_TEST_REQUIRE(removed.result_int() == 200, removed.body());
    BOOST_TEST(f.applications().count(new_name) == 0u);

    // Both changes are in the audit trail.
    const std::string audit = json::serialize(f.client().get_object("/api/v1/audit?limit=50"));
    BOOST_TEST(audit.find("node.add") != std::string::npos, audit);
    BOOST_TEST(audit.find("node.remove") != std::string::npos);

    // A key CML stops accepting is said, naming the setting, and never shown.
    f.cml.set_key_valid(false);
    const auto refused = f.client().post("/api/v1/resources/nodes/add", R"({"cpu": 2, "memory": 8})");
    BOOST_TEST(refused.result_int() == 502);
    BOOST_TEST(error_field_of(refused) == "CML_UNAUTHORIZED", refused.body());
    BOOST_TEST(refused.body().find("RAYDEPLOY_CML_API_KEY") != std::string::npos, refused.body());
    BOOST_TEST(refused.body().find(f.cml.api_key()) == std::string::npos);
    f.cml.set_key_valid(true);

    // Teardown removes the head and the worker, and leaves the other application alone.
    const json::object torn = f.run("teardown-ray-cluster");
    BOOST_TEST_REQUIRE(text(torn, "status") == "succeeded", json::serialize(torn));
    const auto left = f.applications();
    BOOST_TEST(left.size() == 1u);
    BOOST_TEST(left.count("team-notebook") == 1u);
    BOOST_TEST(count_of(f.events_of(text(torn, "execution_id")), "cml.application_deleted") == 2u);
    const auto after = f.client().post("/api/v1/resources/nodes/add", R"({"cpu": 2, "memory": 8})");
    BOOST_TEST(error_field_of(after) == "NO_CML_CLUSTER", after.body());
}

BOOST_AUTO_TEST_CASE(a_changed_spec_restarts_only_what_changed)
{
    cluster_fixture f{false};
    const json::object first = f.run("launch-ray-cluster");
    BOOST_TEST_REQUIRE(text(first, "status") == "succeeded", json::serialize(first));
    auto apps = f.applications();
    const std::string worker_id = text(apps.at(worker_name), "id");

    // Someone changed the worker in CML; launch puts the spec back and restarts that one only.
    const json::object project = f.cml.state().at("projects").as_array().at(0).as_object();
    const auto patched = f.cml.cml(http::verb::patch,
                                   "/api/v2/projects/" + text(project, "id") + "/applications/" + worker_id, R"({"cpu": 1})");
    BOOST_TEST_REQUIRE(patched.result_int() == 200, patched.body());
    const std::int64_t before = f.cml.last_call();
    const json::object second = f.run("launch-ray-cluster");
    BOOST_TEST_REQUIRE(text(second, "status") == "succeeded", json::serialize(second));
    BOOST_TEST(f.cml.count_calls("POST", "/applications/" + worker_id + ":restart", before) == 1u);
    BOOST_TEST(f.cml.count_calls("POST", ":restart", before) == 1u);
    BOOST_TEST(f.cml.count_calls("POST", "/applications$", before) == 0u);
    const auto events = f.events_of(text(second, "execution_id"));
    const json::object* updated = first_of(events, "cml.application_updated");
    BOOST_TEST_REQUIRE(updated);
    BOOST_TEST(text(*updated, "app_name") == worker_name);
    BOOST_TEST(json::serialize(updated->at("fields")).find("cpu") != std::string::npos);
    BOOST_TEST(f.applications().at(worker_name).at("cpu").to_number<double>() == 8.0);
}

BOOST_AUTO_TEST_SUITE_END()
