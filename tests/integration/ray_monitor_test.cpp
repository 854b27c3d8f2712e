// Suite ray_monitor: the service's Ray monitor against the project's fake Ray dashboard
// (tests/fake_ray): the cluster views agree with what Ray reports; down, 500, slow, garbage and
// oversized answers leave the API fast and the source state truthful, and recovery is seen; node
// and job changes become one event each; a node that died while the service was down is reported
// after the restart. Also the CLI's `raydeploy nodes`, whose add and remove need a Ray cluster
// launched on CML (the CML target's tests add and remove workers against the fake CML).
//
// Timing assertions are orders of magnitude (a status request that waited on a poll would take the
// 500 ms request timeout), and every wait is generous: the machine may be busy with builds.
#include "support/fake_ray_support.hpp"
#include "support/test_support.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <csignal>
#include <functional>
#include <sstream>
#include <thread>

using namespace raydeploy::test;
namespace json = boost::json;

namespace {

using steady = std::chrono::steady_clock;

constexpr auto poll_interval = "300ms";
constexpr auto request_timeout = "500ms";
// A status request answered from memory takes a few ms; one that waited on a Ray request would
// take up to the 500 ms timeout. The margin absorbs a loaded machine's scheduling delays.
constexpr auto fast_enough = 250ms;
// Backoff after a few failures is seconds (interval × 2^n with jitter); recovery must be seen well
// within this after the fault ends.
constexpr auto recovery_deadline = 20s;
constexpr auto state_deadline = 15s;

service_options ray_service_options(const fake_ray& fake, std::optional<fs::path> state_dir = std::nullopt)
{
    service_options options;
    options.env = {{"RAYDEPLOY_RAY_DASHBOARD_URL", fake.dashboard_url()},
                   {"RAYDEPLOY_RAY_POLL_INTERVAL", poll_interval},
                   {"RAYDEPLOY_RAY_REQUEST_TIMEOUT", request_timeout},
                   {"RAYDEPLOY_MONITORING_PROMETHEUS_URL", ""},
                   {"RAYDEPLOY_MONITORING_NODE_EXPORTER_URL", ""}};
    if (state_dir) options.state_dir = *state_dir;
    return options;
}

const json::object& source_of(const json::object& status) { return object_at(status, "source"); }
std::string source_state(const json::object& status) { return text(source_of(status), "state"); }

json::object wait_for_source_state(const api_client& client, std::string_view state,
                                   std::chrono::milliseconds timeout = state_deadline,
                                   source_location where = source_location::current())
{
    return client.wait_until(
        "/api/v1/cluster/status", [state](const json::object& status) { return source_state(status) == state; },
        timeout, where);
}

// The cluster.* events stored after `after_seq`, oldest first.
std::vector<json::object> cluster_events(const api_client& client, std::int64_t after_seq = 0,
                                         source_location where = source_location::current())
{
    std::vector<json::object> result;
    for (auto& item : replay_events(client, "types=cluster.*", 300ms, 10s, where))
        if (integer(item, "seq") > after_seq) result.push_back(std::move(item));
    return result;
}

std::int64_t last_cluster_seq(const api_client& client)
{
    const auto events = cluster_events(client);
    return events.empty() ? 0 : integer(events.back(), "seq");
}

// An event's payload field; the feed's messages carry the event's data beside seq and type.
const json::value* field_of(const json::object& item, std::string_view key)
{
    if (const auto* data = item.if_contains("data"); data && data->is_object())
        if (const auto* value = data->as_object().if_contains(key)) return value;
    return item.if_contains(key);
}

std::string field_text(const json::object& item, std::string_view key)
{
    const auto* value = field_of(item, key);
    return value ? text(*value) : "<no " + std::string{key} + ">";
}

std::vector<json::object> of_type(const std::vector<json::object>& events, std::string_view type,
                                  std::string_view key = {}, std::string_view value = {})
{
    std::vector<json::object> result;
    for (const auto& item : events)
        if (text(item, "type") == type && (key.empty() || field_text(item, key) == value)) result.push_back(item);
    return result;
}

// Polls the cluster events after `after_seq` until `done` holds for them; throws at the deadline
// with what arrived.
std::vector<json::object> wait_for_events(const api_client& client, std::int64_t after_seq,
                                          const std::function<bool(const std::vector<json::object>&)>& done,
                                          std::chrono::milliseconds timeout = state_deadline,
                                          source_location where = source_location::current())
{
    const auto deadline = steady::now() + timeout;
    for (;;) {
        auto events = cluster_events(client, after_seq, where);
        if (done(events)) return events;
        if (steady::now() >= deadline)
            throw std::runtime_error{fs::path{where.file_name()}.filename().string() + ":" +
                                     std::to_string(where.line()) + ": the expected cluster events did not arrive; got " +
                                     json::serialize(json::value_from(events))};
        std::this_thread::sleep_for(200ms);
    }
}

// Waits until the monitor asked the fake for its nodes `polls` more times: later polls had every
// chance to repeat an event.
void wait_for_polls(fake_ray& fake, int polls, source_location where = source_location::current())
{
    const auto start = fake.request_count("/api/v0/nodes", where);
    const auto deadline = steady::now() + 20s;
    while (fake.request_count("/api/v0/nodes", where) < start + polls) {
        if (steady::now() >= deadline)
            throw std::runtime_error{"the monitor did not poll " + std::to_string(polls) + " times within 20 s"};
        std::this_thread::sleep_for(100ms);
    }
}

// The slowest of `count` status requests spread over about a second (so over at least one poll
// while the monitor polls at its 300 ms interval, and over the 500 ms timeout of a slow one).
std::chrono::milliseconds slowest_status_request(std::uint16_t port, int count = 20)
{
    std::chrono::milliseconds slowest{0};
    for (int i = 0; i < count; ++i) {
        const auto start = steady::now();
        const auto answer = http_get(port, "/api/v1/cluster/status");
        const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - start);
        BOOST_TEST_REQUIRE(answer.result_int() == 200);
        slowest = std::max(slowest, took);
        std::this_thread::sleep_for(50ms);
    }
    return slowest;
}

std::string worker_node_id(fake_ray& fake)
{
    const auto state = fake.state();
    for (const auto& node : state.at("nodes").as_array())
        if (!node.as_object().at("is_head_node").as_bool()) return text(node.as_object(), "node_id");
    throw std::runtime_error{"the fake has no worker node"};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(ray_monitor)

BOOST_AUTO_TEST_CASE(views_agree_with_what_ray_reports)
{
    fake_ray fake;
    // A third node with a GPU, so resources are more than one node's worth of each kind.
    fake.nodes({{"action", "add"}, {"cpus", 8}, {"memory_gb", 32}, {"gpus", 2}});
    service_process service{ray_service_options(fake)};
    const api_client client{service.port()};

    const auto status = wait_for_source_state(client, "CONNECTED");
    const auto fake_state = fake.state();
    const auto& fake_nodes = fake_state.at("nodes").as_array();
    double cpus = 0, gpus = 0, memory_bytes = 0;
    for (const auto& node : fake_nodes) {
        const auto& resources = node.as_object().at("resources_total").as_object();
        cpus += resources.at("CPU").to_number<double>();
        memory_bytes += resources.at("memory").to_number<double>();
        if (const auto* gpu = resources.if_contains("GPU")) gpus += gpu->to_number<double>();
    }
    BOOST_TEST_CONTEXT(json::serialize(status))
    {
        BOOST_TEST(status.at("healthy").as_bool());
        BOOST_TEST(integer(status, "total_nodes") == static_cast<std::int64_t>(fake_nodes.size()));
        BOOST_TEST(integer(status, "alive_nodes") == static_cast<std::int64_t>(fake_nodes.size()));
        BOOST_TEST(text(object_at(object_at(status, "cluster_health"), "ray_cluster"), "status") == "HEALTHY");
        BOOST_TEST(source_of(status).at("last_error").is_null());
        BOOST_TEST(integer(source_of(status), "consecutive_failures") == 0);
        BOOST_TEST(text(source_of(status), "dashboard_url") == fake.dashboard_url());
        const auto& resources = object_at(status, "resources");
        BOOST_TEST(resources.at("total_cpus").to_number<double>() == cpus);
        BOOST_TEST(resources.at("total_gpus").to_number<double>() == gpus);
        BOOST_TEST(resources.at("total_memory").to_number<double>() == memory_bytes / (1024.0 * 1024 * 1024));
        BOOST_TEST(resources.at("available_cpus").to_number<double>() <= cpus);

        const auto capacity = client.get_object("/api/v1/resources/capacity");
        for (const auto* key : {"total_cpus", "total_gpus", "total_memory"})
            BOOST_TEST(capacity.at(key).to_number<double>() == resources.at(key).to_number<double>(), key);
        BOOST_TEST(text(source_of(capacity), "state") == "CONNECTED");
    }

    const auto nodes = client.get_object("/api/v1/resources/nodes");
    BOOST_TEST_CONTEXT(json::serialize(nodes))
    {
        BOOST_TEST(integer(nodes, "total_nodes") == static_cast<std::int64_t>(fake_nodes.size()));
        BOOST_TEST(integer(nodes, "alive_nodes") == static_cast<std::int64_t>(fake_nodes.size()));
        const auto& listed = nodes.at("nodes").as_array();
        BOOST_TEST_REQUIRE(listed.size() == fake_nodes.size());
        BOOST_TEST(text(listed.front().as_object(), "node_type") == "head");
        for (const auto& node : fake_nodes) {
            const auto id = text(node.as_object(), "node_id");
            const auto found = std::find_if(listed.begin(), listed.end(), [&](const json::value& item) {
                return text(item.as_object(), "node_id") == id;
            });
            BOOST_TEST_REQUIRE((found != listed.end()), "node " << id << " is not listed");
            BOOST_TEST(found->as_object().at("alive").as_bool());
            BOOST_TEST(text(found->as_object(), "node_ip") == text(node.as_object(), "node_ip"));
        }
    }

    const auto health = http_get(service.port(), "/health");
    BOOST_TEST(health.result_int() == 200);
    BOOST_TEST(json_object_of(health).at("ray_connected").as_bool(), health.body());

    const auto connected = of_type(cluster_events(client), "cluster.connected");
    BOOST_TEST_REQUIRE(connected.size() == 1u);
    BOOST_TEST(field_text(connected.front(), "state") == "CONNECTED");
    BOOST_TEST(integer(*field_of(connected.front(), "total_nodes")) == static_cast<std::int64_t>(fake_nodes.size()));
}

BOOST_AUTO_TEST_CASE(faults_leave_the_api_fast_and_the_source_truthful)
{
    // slow: 2 s, well beyond the 500 ms request timeout but short enough that the fake's sleeping
    // handler threads are gone soon after.
    struct fault {
        std::string mode;
        std::vector<std::string> paths;
        std::string expected_state;
        std::string error_says;  // part of last_error that names what failed
    };
    const std::vector<fault> faults = {
        {"down", {}, "UNREACHABLE", "cannot reach"},
        {"error500", {}, "UNREACHABLE", "HTTP 500"},
        {"slow", {}, "UNREACHABLE", "did not answer within"},
        {"garbage", {}, "UNREACHABLE", "invalid JSON"},
        {"huge", {}, "UNREACHABLE", "larger than"},
        {"error500", {"/api/jobs/"}, "DEGRADED", "GET /api/jobs/ answered HTTP 500"},
    };

    fake_ray fake;
    service_process service{ray_service_options(fake)};
    const api_client client{service.port()};
    wait_for_source_state(client, "CONNECTED");

    for (const auto& f : faults) {
        BOOST_TEST_CONTEXT("fault " << f.mode << (f.paths.empty() ? "" : " on " + f.paths.front()))
        {
            const auto mark = last_cluster_seq(client);
            fake.set_fault(f.mode, f.paths, 2.0);

            const auto failing = wait_for_source_state(client, f.expected_state);
            BOOST_TEST(source_of(failing).at("last_error").is_string());
            BOOST_TEST(text(source_of(failing), "last_error").find(f.error_says) != std::string::npos,
                       json::serialize(source_of(failing)));
            BOOST_TEST(!failing.at("healthy").as_bool());

            const auto slowest = slowest_status_request(service.port());
            BOOST_TEST(slowest.count() < fast_enough.count(), "the slowest status request took " << slowest.count() << " ms");

            // Failures keep being counted while the fault lasts.
            const auto later = client.wait_until(
                "/api/v1/cluster/status",
                [](const json::object& status) { return integer(source_of(status), "consecutive_failures") >= 2; },
                state_deadline);
            BOOST_TEST(source_state(later) == f.expected_state);
            if (f.expected_state == "DEGRADED") {
                const auto& errors = source_of(later).at("errors").as_array();
                BOOST_TEST_REQUIRE(errors.size() == 1u, json::serialize(errors));
                BOOST_TEST(text(errors.front().as_object(), "message").find("/api/jobs/") != std::string::npos);
                // The parts that answer are still shown.
                BOOST_TEST(integer(later, "alive_nodes") == 2);
            }

            const auto health = http_get(service.port(), "/health");
            BOOST_TEST(health.result_int() == 200);
            BOOST_TEST(!json_object_of(health).at("ray_connected").as_bool(), health.body());

            fake.set_fault("none");
            const auto recovered = wait_for_source_state(client, "CONNECTED", recovery_deadline);
            BOOST_TEST(integer(source_of(recovered), "consecutive_failures") == 0);
            BOOST_TEST(source_of(recovered).at("last_error").is_null());
            BOOST_TEST(json_object_of(http_get(service.port(), "/health")).at("ray_connected").as_bool());

            // One event for the outage, one for the recovery. A fault set while a poll is in flight
            // may let that poll see some answers first (DEGRADED on the way to UNREACHABLE), and so
            // may the recovery; never a second unreachable or connected event.
            const auto events = cluster_events(client, mark);
            BOOST_TEST_CONTEXT(json::serialize(json::value_from(events)))
            {
                if (f.expected_state == "UNREACHABLE") {
                    BOOST_TEST(of_type(events, "cluster.unreachable").size() == 1u);
                    BOOST_TEST(of_type(events, "cluster.degraded").size() <= 2u);
                } else {
                    BOOST_TEST(of_type(events, "cluster.unreachable").empty());
                    BOOST_TEST(of_type(events, "cluster.degraded").size() == 1u);
                }
                BOOST_TEST(of_type(events, "cluster.connected").size() == 1u);
                BOOST_TEST_REQUIRE(!events.empty());
                BOOST_TEST(text(events.back(), "type") == "cluster.connected");
                // A part that failed is not a change: no node died, no job moved.
                BOOST_TEST(of_type(events, "cluster.node_dead").empty());
                BOOST_TEST(of_type(events, "cluster.node_alive").empty());
                BOOST_TEST(of_type(events, "cluster.job_status").empty());
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(node_and_job_changes_become_one_event_each)
{
    // Each job state lasts 2 s, several polls, so every state is seen even on a busy machine.
    fake_ray fake{std::vector<std::string>{"--job-pending-s", "2", "--job-run-s", "2"}};
    service_process service{ray_service_options(fake)};
    const api_client client{service.port()};
    wait_for_source_state(client, "CONNECTED");
    const auto worker = worker_node_id(fake);

    auto mark = last_cluster_seq(client);
    fake.nodes({{"action", "kill"}, {"node_id", worker}});
    wait_for_events(client, mark, [&](const auto& events) { return !of_type(events, "cluster.node_dead").empty(); });
    wait_for_polls(fake, 5);
    auto events = cluster_events(client, mark);
    BOOST_TEST_CONTEXT(json::serialize(json::value_from(events)))
    {
        const auto dead = of_type(events, "cluster.node_dead");
        BOOST_TEST_REQUIRE(dead.size() == 1u);
        BOOST_TEST(field_text(dead.front(), "node_id") == worker);
        BOOST_TEST(field_text(dead.front(), "old_state") == "ALIVE");
        BOOST_TEST(field_text(dead.front(), "new_state") == "DEAD");
        BOOST_TEST(events.size() == 1u);
    }
    const auto after_kill = client.get_object("/api/v1/cluster/status");
    BOOST_TEST(integer(after_kill, "alive_nodes") == 1);
    BOOST_TEST(integer(after_kill, "total_nodes") == 2);

    mark = last_cluster_seq(client);
    fake.nodes({{"action", "revive"}, {"node_id", worker}});
    wait_for_events(client, mark, [&](const auto& events) { return !of_type(events, "cluster.node_alive").empty(); });
    wait_for_polls(fake, 5);
    events = cluster_events(client, mark);
    BOOST_TEST_CONTEXT(json::serialize(json::value_from(events)))
    {
        const auto alive = of_type(events, "cluster.node_alive");
        BOOST_TEST_REQUIRE(alive.size() == 1u);
        BOOST_TEST(field_text(alive.front(), "node_id") == worker);
        BOOST_TEST(field_text(alive.front(), "old_state") == "DEAD");
        BOOST_TEST(events.size() == 1u);
    }

    // A job submitted straight to Ray, not through raydeploy: seen by polling alone.
    mark = last_cluster_seq(client);
    const auto submitted = http_request(fake.ray_port(), http::verb::post, "/api/jobs/",
                                        R"({"entrypoint": "python -c 'print(42)'"})");
    BOOST_TEST_REQUIRE(submitted.result_int() == 200, submitted.body());
    const auto submission_id = text(json_object_of(submitted), "submission_id");
    wait_for_events(
        client, mark,
        [&](const auto& events) {
            return !of_type(of_type(events, "cluster.job_status", "submission_id", submission_id), "cluster.job_status",
                            "new_status", "SUCCEEDED")
                        .empty();
        },
        30s);
    wait_for_polls(fake, 5);
    events = cluster_events(client, mark);
    BOOST_TEST_CONTEXT(json::serialize(json::value_from(events)))
    {
        const auto jobs = of_type(events, "cluster.job_status", "submission_id", submission_id);
        std::vector<std::string> statuses, previous;
        for (const auto& item : jobs) {
            statuses.push_back(field_text(item, "new_status"));
            previous.push_back(field_text(item, "old_status"));
        }
        const std::vector<std::string> expected{"PENDING", "RUNNING", "SUCCEEDED"};
        BOOST_TEST(statuses == expected, boost::test_tools::per_element());
        BOOST_TEST_REQUIRE(jobs.size() == 3u);
        BOOST_TEST(field_of(jobs[0], "old_status")->is_null());
        BOOST_TEST(previous[1] == "PENDING");
        BOOST_TEST(previous[2] == "RUNNING");
        BOOST_TEST(events.size() == jobs.size());
    }
}

BOOST_AUTO_TEST_CASE(a_node_that_died_while_the_service_was_down_is_reported_after_the_restart)
{
    fake_ray fake;
    temp_dir kept{"raydeploy-ray-restart"};
    const auto state_dir = kept.path() / "state";
    const auto worker = worker_node_id(fake);
    std::int64_t mark = 0;
    {
        service_process first{ray_service_options(fake, state_dir)};
        const api_client client{first.port()};
        wait_for_source_state(client, "CONNECTED");
        mark = last_cluster_seq(client);
        first.send_signal(SIGTERM);
        const auto status = first.wait_exit(15s);
        BOOST_TEST_REQUIRE(status.has_value(), "still running 15 s after SIGTERM; stderr:\n" << first.stderr_text());
        BOOST_TEST(*status == 0, first.stderr_text());
    }

    fake.nodes({{"action", "kill"}, {"node_id", worker}});

    service_process second{ray_service_options(fake, state_dir)};
    const api_client client{second.port()};
    wait_for_events(client, mark, [&](const auto& events) { return !of_type(events, "cluster.node_dead").empty(); });
    wait_for_polls(fake, 3);
    const auto events = cluster_events(client, mark);
    BOOST_TEST_CONTEXT(json::serialize(json::value_from(events)))
    {
        const auto dead = of_type(events, "cluster.node_dead");
        BOOST_TEST_REQUIRE(dead.size() == 1u);
        BOOST_TEST(field_text(dead.front(), "node_id") == worker);
        BOOST_TEST(field_text(dead.front(), "new_state") == "DEAD");
        // The stored snapshot is diffed against: nothing else is reported as new.
        BOOST_TEST(of_type(events, "cluster.node_alive").empty());
    }
    const auto status = wait_for_source_state(client, "CONNECTED");
    BOOST_TEST(integer(status, "alive_nodes") == 1);
}

BOOST_AUTO_TEST_CASE(the_cli_lists_the_nodes_and_says_add_and_remove_need_a_cml_cluster)
{
    // A job that keeps running holds one CPU of the head, so the CPU column shows use, not a constant.
    service_watching_fake_ray f{{"--job-pending-s", "0", "--job-run-s", "3600"}};
    f.ray.nodes({{"action", "add"}, {"cpus", 8}, {"memory_gb", 32}, {"gpus", 2}});
    const auto submitted = f.operator_.post("/api/v1/jobs", R"({"entrypoint": "sleep 3600", "submission_id": "busy"})");
    BOOST_TEST_REQUIRE(submitted.result_int() == 202, submitted.body());
    f.viewer.wait_until("/api/v1/resources/nodes", [](const json::object& body) {
        const auto& nodes = body.at("nodes").as_array();
        if (nodes.size() != 3) return false;
        const auto* used = nodes.front().as_object().if_contains("resources_used");
        const auto* cpu = used && used->is_object() ? used->as_object().if_contains("CPU") : nullptr;
        return cpu && cpu->to_number<double>() == 1.0;
    });
    const env_map as_operator{{"RAYDEPLOY_TOKEN", f.operator_id.token}};
    const std::string server = "http://127.0.0.1:" + std::to_string(f.service.port());
    const auto has = [](const std::string& text, std::string_view needle) { return text.find(needle) != std::string::npos; };

    const auto listed = run_cli({"nodes", "list", "--server", server}, {{"RAYDEPLOY_TOKEN", f.viewer_id.token}});
    BOOST_TEST_REQUIRE(listed.exit_code == 0, listed.err);
    BOOST_TEST_CONTEXT(listed.out)
    {
        BOOST_TEST(has(listed.out, "NAME"));
        BOOST_TEST(has(listed.out, "CML_APP_ID"));
        std::vector<std::string> lines;
        std::istringstream in{listed.out};
        for (std::string line; std::getline(in, line);) lines.push_back(line);
        BOOST_TEST_REQUIRE(lines.size() >= 4u);
        // Head first: name, type, ip, state, CPU used/total, GPU (none), no CML application.
        const auto words = [](const std::string& line) {
            std::vector<std::string> out;
            std::istringstream in{line};
            for (std::string word; in >> word;) out.push_back(word);
            return out;
        };
        BOOST_TEST(words(lines[1]) == (std::vector<std::string>{"10.0.0.5", "head", "10.0.0.5", "ALIVE", "1/4", "-", "-"}),
                   boost::test_tools::per_element());
        BOOST_TEST(words(lines[3]) == (std::vector<std::string>{"10.0.0.7", "worker", "10.0.0.7", "ALIVE", "0/8", "0/2", "-"}),
                   boost::test_tools::per_element());
        BOOST_TEST(has(listed.out, "3 alive of 3"));
        BOOST_TEST(has(listed.out, "CONNECTED"));
    }
    const auto as_json = run_cli({"nodes", "--format", "json", "--server", server}, as_operator);
    BOOST_TEST_REQUIRE(as_json.exit_code == 0, as_json.err);
    BOOST_TEST(integer(parse_json(as_json.out).as_object(), "total_nodes") == 3);

    // No cluster was launched on CML: the service's 409 and what to run first, exit 1.
    const auto added = run_cli({"nodes", "add", "--cpu", "2", "--memory", "8", "--server", server}, as_operator);
    BOOST_TEST(added.exit_code == 1, added.out << added.err);
    BOOST_TEST(has(added.err, "409 NO_CML_CLUSTER"), added.err);
    BOOST_TEST(has(added.err, "run launch-ray-cluster first"), added.err);
    BOOST_TEST(added.out.empty(), added.out);
    const auto removed = run_cli({"nodes", "remove", "abcd-1234-efgh-5678", "--force", "--server", server}, as_operator);
    BOOST_TEST(removed.exit_code == 1, removed.out << removed.err);
    BOOST_TEST(has(removed.err, "409 NO_CML_CLUSTER"), removed.err);

    // The role is checked before the cluster: a viewer is refused as for any other change.
    const auto as_viewer = run_cli({"nodes", "add", "--cpu", "2", "--memory", "8", "--server", server},
                                   {{"RAYDEPLOY_TOKEN", f.viewer_id.token}});
    BOOST_TEST(as_viewer.exit_code == 5, as_viewer.err);
    BOOST_TEST(has(as_viewer.err, "operator"), as_viewer.err);
    // A body the service refuses names the field, exit 2.
    const auto too_big = run_cli({"nodes", "add", "--cpu", "2", "--memory", "8", "--gpus", "17", "--server", server},
                                 as_operator);
    BOOST_TEST(too_big.exit_code == 2, too_big.err);
    BOOST_TEST(has(too_big.err, "gpus"), too_big.err);
}

BOOST_AUTO_TEST_SUITE_END()
