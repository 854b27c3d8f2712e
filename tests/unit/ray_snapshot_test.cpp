// The Ray poller's sans-I/O step on canned answers: a real Ray 2.60 and a constructed 2.9-like one
// (tests/fixtures/ray/), garbage of every kind, the diff, the persisted form and the API views.
#include "raydeploy/watch/ray_snapshot.hpp"

#include "support/test_support.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>

using namespace raydeploy::watch;
namespace json = boost::json;
using raydeploy::test::read_file;
using raydeploy::test::source_dir;

namespace {

constexpr auto head_260 = "573befe2fe5e14bb56cf7aaafa44aa869a0feeda3ea661afc3b02bc0";
constexpr auto worker_260 = "03f5fd06ae19716ffebcbf3d5c0ba3f351d61eb35626d801d0395b62";
const auto observed = std::chrono::system_clock::time_point(std::chrono::milliseconds(1796312900123));

std::string fixture(std::string_view version, std::string_view name)
{
    return read_file(source_dir() / "tests" / "fixtures" / "ray" / std::string(version) / std::string(name));
}

ray_snapshot recorded(std::string_view version)
{
    return assemble_snapshot(observed, parse_version(fixture(version, "version.json")),
                             parse_cluster_status(fixture(version, "cluster_status.json")),
                             parse_nodes(fixture(version, "nodes.json")), parse_jobs(fixture(version, "jobs.json")),
                             parse_serve_applications(fixture(version, "serve.json")));
}

const ray_node& node_named(const ray_snapshot& snapshot, std::string_view id)
{
    const auto found = std::find_if(snapshot.nodes->begin(), snapshot.nodes->end(),
                                    [&](const ray_node& node) { return node.node_id == id; });
    BOOST_TEST_REQUIRE((found != snapshot.nodes->end()));
    return *found;
}

const ray_job& job_keyed(const ray_snapshot& snapshot, std::string_view key)
{
    const auto found = std::find_if(snapshot.jobs->begin(), snapshot.jobs->end(),
                                    [&](const ray_job& job) { return job.key() == key; });
    BOOST_TEST_REQUIRE((found != snapshot.jobs->end()));
    return *found;
}

// A State API answer listing these nodes.
std::string nodes_body(const std::vector<std::pair<std::string, std::string>>& id_and_state)
{
    json::array rows;
    for (const auto& [id, state] : id_and_state)
        rows.push_back(json::object{{"node_id", id}, {"node_ip", "10.0.0.1"}, {"node_name", "n-" + id},
                                    {"is_head_node", id == "h"}, {"state", state},
                                    {"state_message", state == "DEAD" ? json::value("killed") : json::value(nullptr)},
                                    {"resources_total", json::object{{"CPU", 4.0}}}});
    return json::serialize(json::object{
        {"result", true}, {"msg", ""}, {"data", json::object{{"result", json::object{{"total", rows.size()}, {"result", rows}}}}}});
}

std::string jobs_body(const std::vector<std::pair<std::string, std::string>>& id_and_status)
{
    json::array rows;
    for (const auto& [id, status] : id_and_status)
        rows.push_back(json::object{{"type", "SUBMISSION"}, {"job_id", nullptr}, {"submission_id", id},
                                    {"status", status}, {"entrypoint", "python " + id + ".py"},
                                    {"message", "m-" + status}});
    return json::serialize(rows);
}

std::string serve_body(const std::vector<std::pair<std::string, std::string>>& name_and_status)
{
    json::object apps;
    for (const auto& [name, status] : name_and_status)
        apps[name] = json::object{{"name", name}, {"status", status}, {"route_prefix", "/" + name},
                                  {"message", status == "DEPLOY_FAILED" ? "ImportError: broken" : ""},
                                  {"deployments", json::object{}}};
    return json::serialize(json::object{{"controller_info", json::object{{"actor_id", "c"}}}, {"applications", apps}});
}

ray_snapshot snapshot_of(const std::string& nodes, const std::string& jobs, const std::string& serve)
{
    return assemble_snapshot(observed, parse_version(R"({"ray_version":"2.60.0"})"),
                             parse_cluster_status(R"({"result":true,"msg":"","data":{"clusterStatus":null}})"),
                             parse_nodes(nodes), parse_jobs(jobs), parse_serve_applications(serve));
}

std::vector<std::string> types_of(const std::vector<ray_change>& changes)
{
    std::vector<std::string> types;
    for (const auto& change : changes) types.push_back(change.type);
    return types;
}

template <class T>
void expect_failure(const parse_result<T>& result, std::string_view endpoint, std::string_view why)
{
    BOOST_TEST(!result);
    BOOST_TEST(result.error.find(endpoint) != std::string::npos, result.error);
    BOOST_TEST(result.error.find(why) != std::string::npos, result.error);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(ray_snapshot)

BOOST_AUTO_TEST_CASE(reads_the_version_of_a_recorded_and_an_older_ray)
{
    const auto current = parse_version(fixture("2.60", "version.json"));
    BOOST_TEST_REQUIRE(bool(current));
    BOOST_TEST(current.value->ray_version == "2.60.0");
    BOOST_TEST(current.value->jobs_api_version == "4");
    BOOST_TEST(current.value->session_name.starts_with("session_2026-12-03"));

    const auto older = parse_version(fixture("2.9", "version.json"));
    BOOST_TEST_REQUIRE(bool(older));
    BOOST_TEST(older.value->ray_version == "2.9.3");
    BOOST_TEST(older.value->session_name.empty());
}

BOOST_AUTO_TEST_CASE(reads_recorded_nodes_alive_and_dead)
{
    const auto snapshot = recorded("2.60");
    BOOST_TEST_REQUIRE(snapshot.complete());
    BOOST_TEST_REQUIRE(snapshot.nodes->size() == 2u);
    const auto& head = node_named(snapshot, head_260);
    BOOST_TEST(head.is_head);
    BOOST_TEST(head.alive());
    BOOST_TEST(head.ip == "192.0.2.2");
    BOOST_TEST(head.resources.at("CPU").total == 2.0);
    BOOST_TEST(head.resources.at("object_store_memory").total == 7019990630.0);
    BOOST_TEST(head.end_time_ms.value() == 0);
    const auto& worker = node_named(snapshot, worker_260);
    BOOST_TEST(!worker.is_head);
    BOOST_TEST(worker.state == "DEAD");
    BOOST_TEST(worker.name == "rec-worker");
    BOOST_TEST(worker.state_message.value() == "Expected termination: received SIGTERM");
    BOOST_TEST(worker.end_time_ms.value() > 0);
}

BOOST_AUTO_TEST_CASE(older_nodes_without_is_head_node_find_the_head_by_its_resource)
{
    const auto snapshot = recorded("2.9");
    BOOST_TEST_REQUIRE(snapshot.complete());
    BOOST_TEST_REQUIRE(snapshot.nodes->size() == 2u);
    int heads = 0;
    for (const auto& node : *snapshot.nodes) {
        heads += node.is_head ? 1 : 0;
        BOOST_TEST(!node.state_message.has_value());
        BOOST_TEST(!node.start_time_ms.has_value());
        if (node.is_head) BOOST_TEST(node.ip == "10.0.0.5");
    }
    BOOST_TEST(heads == 1);
}

BOOST_AUTO_TEST_CASE(cluster_status_names_map_back_to_ray_names_and_give_nodes_their_usage)
{
    const auto snapshot = recorded("2.60");
    BOOST_TEST_REQUIRE(snapshot.cluster_status->has_load_metrics);
    const auto& usage = snapshot.cluster_status->usage;
    BOOST_TEST(usage.at("CPU").used == 1.0);
    BOOST_TEST(usage.at("CPU").total == 2.0);
    BOOST_TEST(usage.contains("object_store_memory"));
    BOOST_TEST(usage.contains("node:__internal_head__"));
    BOOST_TEST(!usage.contains("objectStoreMemory"));
    BOOST_TEST(node_named(snapshot, head_260).resources.at("CPU").used.value_or(-1) == 1.0);
    BOOST_TEST(!node_named(snapshot, worker_260).usage_known());

    // The older answer has no usageByNode and an accelerator type to map back from the nodes' names.
    const auto older = recorded("2.9");
    BOOST_TEST(older.cluster_status->usage.contains("accelerator_type:T4"));
    BOOST_TEST(older.cluster_status->usage.at("GPU").used == 1.0);
    for (const auto& node : *older.nodes) BOOST_TEST(!node.usage_known());
}

BOOST_AUTO_TEST_CASE(usage_by_node_in_any_order_reaches_the_right_nodes)
{
    // The GCS lists usage in its own order, not by id; a node the State API did not list and a
    // resource a node does not have are left out, and a node without usage keeps none.
    const auto nodes = nodes_body({{"a", "ALIVE"}, {"b", "ALIVE"}, {"c", "ALIVE"}});
    const auto status = parse_cluster_status(R"({"result":true,"data":{"clusterStatus":{"loadMetricsReport":{
        "usage":{"CPU":[3,12]},
        "usageByNode":{"c":{"CPU":[3,4],"objectStoreMemory":[1,2]},"x":{"CPU":[9,9]},"a":{"CPU":[0,4]}}}}}})");
    BOOST_TEST_REQUIRE(bool(status));
    BOOST_TEST(status.value->usage_by_node.size() == 3u);
    const auto snapshot = assemble_snapshot(observed, parse_version("{}"), status, parse_nodes(nodes), parse_jobs("[]"),
                                            parse_serve_applications("{}"));
    BOOST_TEST(node_named(snapshot, "a").resources.at("CPU").used.value_or(-1) == 0.0);
    BOOST_TEST(node_named(snapshot, "c").resources.at("CPU").used.value_or(-1) == 3.0);
    BOOST_TEST(node_named(snapshot, "c").resources.size() == 1u);
    BOOST_TEST(!node_named(snapshot, "b").usage_known());
    BOOST_TEST(snapshot.cluster_status->usage_by_node.empty());
    const auto view = nodes_view(snapshot);
    BOOST_TEST(json::serialize(view.at("nodes").at(2).at("resources_used")) == R"({"CPU":3})");
}

BOOST_AUTO_TEST_CASE(camel_case_matches_rays_to_camel_case)
{
    BOOST_TEST(ray_camel_case("object_store_memory") == "objectStoreMemory");
    BOOST_TEST(ray_camel_case("node:__internal_head__") == "node:InternalHead");
    BOOST_TEST(ray_camel_case("CPU") == "CPU");
    BOOST_TEST(ray_camel_case("accelerator_type:A10G") == "acceleratorType:A10G");
    // str.title() capitalises after digits: what Ray sent for the autoscaler's node names.
    BOOST_TEST(ray_camel_case("node_573befe2fe") == "node573Befe2Fe");
}

BOOST_AUTO_TEST_CASE(without_cluster_status_the_alive_nodes_give_the_totals)
{
    auto snapshot = recorded("2.9");
    snapshot.cluster_status = parse_cluster_status(R"({"result":true,"msg":"","data":{"clusterStatus":null}})").value;
    BOOST_TEST_REQUIRE(snapshot.cluster_status.has_value());
    BOOST_TEST(!snapshot.cluster_status->has_load_metrics);
    const auto totals = cluster_resources(snapshot);
    BOOST_TEST(totals.at("CPU").total == 12.0);
    BOOST_TEST(totals.at("CPU").used == 0.0);
    BOOST_TEST(totals.at("GPU").total == 1.0);

    // A dead node's resources are not capacity.
    const auto current = recorded("2.60");
    auto without_status = current;
    without_status.cluster_status.reset();
    BOOST_TEST(cluster_resources(without_status).at("CPU").total == 2.0);
    BOOST_TEST(cluster_resources(without_status).at("CPU").used == 1.0);  // from usageByNode
}

BOOST_AUTO_TEST_CASE(an_empty_load_report_of_a_starting_head_does_not_hide_its_capacity)
{
    // What Ray 2.x answers for the first seconds after `ray start --head` (measured: 4 s), while
    // /api/v0/nodes already lists the head alive.
    auto snapshot = recorded("2.60");
    snapshot.cluster_status = parse_cluster_status(
        R"({"result":true,"msg":"","data":{"clusterStatus":{"loadMetricsReport":{"usage":{},"usageByNode":{}}}}})")
                                  .value;
    BOOST_TEST_REQUIRE(snapshot.cluster_status.has_value());
    BOOST_TEST(snapshot.cluster_status->has_load_metrics);
    const auto totals = cluster_resources(snapshot);
    BOOST_TEST(totals.at("CPU").total == 2.0);
    BOOST_TEST(capacity_view(snapshot).at("total_cpus").to_number<double>() == 2.0);
}

BOOST_AUTO_TEST_CASE(reads_recorded_jobs_of_both_types)
{
    const auto snapshot = recorded("2.60");
    BOOST_TEST_REQUIRE(snapshot.jobs->size() == 4u);
    const auto& failed = job_keyed(snapshot, "rec-fail");
    BOOST_TEST(failed.status == "FAILED");
    BOOST_TEST(failed.driver_exit_code.value() == 3);
    BOOST_TEST(failed.error_type.value() == "JOB_ENTRYPOINT_COMMAND_ERROR");
    BOOST_TEST(!failed.job_id.has_value());
    BOOST_TEST(failed.is_terminal());
    const auto& ok = job_keyed(snapshot, "rec-ok");
    BOOST_TEST(ok.metadata.at("owner").as_string() == "recorder");
    BOOST_TEST(ok.runtime_env.at("env_vars").at("MODE").as_string() == "x");
    BOOST_TEST(ok.end_time.value() > ok.start_time.value());
    const auto& driver = job_keyed(snapshot, "03000000");
    BOOST_TEST(driver.type == "DRIVER");
    BOOST_TEST(!driver.submission_id.has_value());
    BOOST_TEST(job_keyed(snapshot, "rec-long").status == "RUNNING");

    const auto older = recorded("2.9");
    BOOST_TEST_REQUIRE(older.jobs->size() == 3u);
    BOOST_TEST(!job_keyed(older, "raysubmit_XyZ12abCDefGH345").driver_exit_code.has_value());
    BOOST_TEST(job_keyed(older, "nightly-eval").runtime_env.is_null());
    BOOST_TEST(job_keyed(older, "nightly-eval").metadata.empty());
}

BOOST_AUTO_TEST_CASE(reads_serve_applications_old_and_new)
{
    const auto serve = parse_serve_applications(fixture("2.60", "serve.json"));
    BOOST_TEST_REQUIRE(bool(serve));
    BOOST_TEST(serve.value->running);
    BOOST_TEST(serve.value->http_port.value() == 8000);
    BOOST_TEST_REQUIRE(serve.value->applications.size() == 2u);
    const auto& broken = serve.value->applications[0];
    BOOST_TEST(broken.name == "broken");
    BOOST_TEST(broken.status == "DEPLOY_FAILED");
    BOOST_TEST(broken.message.find("ModuleNotFoundError") != std::string::npos);
    BOOST_TEST(!broken.route_prefix.has_value());
    const auto& summarizer = serve.value->applications[1];
    BOOST_TEST(summarizer.route_prefix.value() == "/summarize");
    BOOST_TEST_REQUIRE(summarizer.deployments.size() == 1u);
    BOOST_TEST(summarizer.deployments[0].target_num_replicas.value() == 2);
    BOOST_TEST(summarizer.deployments[0].running_replicas == 2);
    BOOST_TEST(summarizer.deployed_app_config.at("import_path").as_string() == "summarizer.app:graph");

    const auto stopped = parse_serve_applications(fixture("2.60", "serve_not_running.json"));
    BOOST_TEST_REQUIRE(bool(stopped));
    BOOST_TEST(!stopped.value->running);
    BOOST_TEST(!stopped.value->http_port.has_value());
    BOOST_TEST(stopped.value->applications.empty());

    const auto older = parse_serve_applications(fixture("2.9", "serve.json"));
    BOOST_TEST_REQUIRE(bool(older));
    const auto& model = older.value->applications.at(0).deployments.at(0);
    BOOST_TEST(model.target_num_replicas.value() == 3);  // from deployment_config
    BOOST_TEST(model.replicas == 2);
    BOOST_TEST(model.running_replicas == 1);
}

BOOST_AUTO_TEST_CASE(missing_optional_fields_are_fine)
{
    const auto nodes = parse_nodes(R"({"result":true,"data":{"result":{"result":[{"node_id":"a","state":"ALIVE","resources_total":null,"labels":null}]}}})");
    BOOST_TEST_REQUIRE(bool(nodes));
    BOOST_TEST(nodes.value->at(0).resources.empty());
    BOOST_TEST(!nodes.value->at(0).is_head);

    const auto jobs = parse_jobs(R"([{"job_id":"01000000","status":"RUNNING","metadata":null,"runtime_env":null,"driver_info":null}])");
    BOOST_TEST_REQUIRE(bool(jobs));
    BOOST_TEST(jobs.value->at(0).type == "DRIVER");
    BOOST_TEST(jobs.value->at(0).entrypoint.empty());

    const auto serve = parse_serve_applications(R"({"applications":{"a":{"status":"RUNNING","deployments":null}},"http_options":null})");
    BOOST_TEST_REQUIRE(bool(serve));
    BOOST_TEST(serve.value->applications.at(0).name == "a");
    BOOST_TEST(!serve.value->http_port.has_value());
    BOOST_TEST(bool(parse_serve_applications(R"({"applications":null})")));

    const auto status = parse_cluster_status(R"({"result":true,"data":{"clusterStatus":{"time":1.5}}})");
    BOOST_TEST_REQUIRE(bool(status));
    BOOST_TEST(!status.value->has_load_metrics);
    BOOST_TEST(status.value->report_time.value() == 1.5);
}

BOOST_AUTO_TEST_CASE(unknown_fields_of_newer_ray_are_ignored)
{
    const auto nodes = parse_nodes(R"({"result":true,"data":{"result":{"result":[{"node_id":"a","state":"ALIVE",
        "future_field":{"deep":[1,2,3]},"resources_total":{"CPU":1,"new_thing":"text"}}],"extra":1}},"more":true})");
    BOOST_TEST_REQUIRE(bool(nodes));
    BOOST_TEST(nodes.value->at(0).resources.size() == 1u);
    const auto jobs = parse_jobs(R"([{"submission_id":"s","status":"PENDING","retry_policy":{"max_retries":3},"attempt_number":0}])");
    BOOST_TEST(bool(jobs));
}

BOOST_AUTO_TEST_CASE(garbage_is_an_error_naming_the_endpoint_and_never_a_throw)
{
    expect_failure(parse_nodes("<html>Bad Gateway</html>"), "GET /api/v0/nodes", "invalid JSON");
    expect_failure(parse_nodes(""), "GET /api/v0/nodes", "invalid JSON");
    expect_failure(parse_nodes("[]"), "GET /api/v0/nodes", "envelope");
    expect_failure(parse_nodes("null"), "GET /api/v0/nodes", "envelope");
    expect_failure(parse_nodes(R"({"result":true,"data":{}})"), "GET /api/v0/nodes", "data.result");
    expect_failure(parse_nodes(R"({"result":true,"data":{"result":null}})"), "GET /api/v0/nodes", "data.result");
    expect_failure(parse_nodes(R"({"result":false,"msg":"GCS unavailable","data":{"result":null}})"), "GET /api/v0/nodes",
                   "GCS unavailable");
    expect_failure(parse_nodes(R"({"result":true,"data":{"result":{"result":[{"state":"ALIVE"}]}}})"), "GET /api/v0/nodes",
                   "without node_id");
    expect_failure(parse_nodes(R"({"result":true,"data":{"result":{"result":[{"node_id":7,"state":"ALIVE"}]}}})"),
                   "GET /api/v0/nodes", "without node_id");
    expect_failure(parse_nodes(R"({"result":true,"data":{"result":{"result":[3]}}})"), "GET /api/v0/nodes", "not an object");
    expect_failure(parse_jobs(R"({"raysubmit_1":{"status":"RUNNING"}})"), "GET /api/jobs/", "not the list of jobs");
    expect_failure(parse_jobs(R"([{"entrypoint":"x"}])"), "GET /api/jobs/", "without status");
    expect_failure(parse_jobs("[1,"), "GET /api/jobs/", "invalid JSON");
    expect_failure(parse_version("\"2.60.0\""), "GET /api/version", "no object");
    expect_failure(parse_version("{}"), "GET /api/version", "no ray_version");
    expect_failure(parse_cluster_status(R"({"result":true,"data":{"clusterStatus":"Node status\n..."}})"),
                   "GET /api/cluster_status", "format=1");
    expect_failure(parse_cluster_status("[]"), "GET /api/cluster_status", "envelope");
    expect_failure(parse_serve_applications("[]"), "GET /api/serve/applications/", "not the Serve instance");
    expect_failure(parse_serve_applications(R"({"applications":[]})"), "GET /api/serve/applications/", "not a map");
    expect_failure(parse_serve_applications(R"({"applications":{"a":{"status":5}}})"), "GET /api/serve/applications/",
                   "without a status");

    // Nesting deeper than the parser allows is refused, not recursed into.
    const std::string deep(100'000, '[');
    expect_failure(parse_jobs(deep), "GET /api/jobs/", "invalid JSON");
    expect_failure(parse_serve_applications(std::string(100'000, '{')), "GET /api/serve/applications/", "invalid JSON");
}

BOOST_AUTO_TEST_CASE(wrong_types_and_huge_numbers_inside_items_count_as_absent)
{
    const auto nodes = parse_nodes(R"({"result":true,"data":{"result":{"result":[{"node_id":"a","state":"ALIVE",
        "node_ip":17,"is_head_node":"yes","state_message":{"x":1},"start_time_ms":1e300,"end_time_ms":-5,
        "resources_total":{"CPU":1e308,"GPU":"two","memory":[1],"huge":18446744073709551615}}]}}})");
    BOOST_TEST_REQUIRE(bool(nodes));
    const auto& node = nodes.value->at(0);
    BOOST_TEST(node.ip.empty());
    BOOST_TEST(!node.is_head);
    BOOST_TEST(!node.state_message.has_value());
    BOOST_TEST(!node.start_time_ms.has_value());
    BOOST_TEST(node.end_time_ms.value() == -5);
    BOOST_TEST(node.resources.at("CPU").total == 1e308);
    BOOST_TEST(!node.resources.contains("GPU"));
    BOOST_TEST(node.resources.contains("huge"));

    // An exponent beyond double either fails to parse or is dropped; neither throws.
    const auto overflow = parse_jobs(R"([{"submission_id":"s","status":"RUNNING","start_time":1e999,"driver_exit_code":99999999999999999999}])");
    if (overflow) {
        BOOST_TEST(!overflow.value->at(0).start_time.has_value());
        BOOST_TEST(!overflow.value->at(0).driver_exit_code.has_value());
    } else {
        BOOST_TEST(overflow.error.find("GET /api/jobs/") != std::string::npos);
    }

    const auto usage = parse_cluster_status(R"({"result":true,"data":{"clusterStatus":{"loadMetricsReport":{
        "usage":{"CPU":[1,2],"GPU":[1],"memory":"x","objectStoreMemory":[null,3]},"usageByNode":{"n":null}}}}})");
    BOOST_TEST_REQUIRE(bool(usage));
    BOOST_TEST(usage.value->usage.size() == 1u);
    BOOST_TEST_REQUIRE(usage.value->usage_by_node.size() == 1u);
    BOOST_TEST(usage.value->usage_by_node[0].node_id == "n");
    BOOST_TEST(usage.value->usage_by_node[0].usage.empty());
}

BOOST_AUTO_TEST_CASE(lists_over_their_bound_are_refused)
{
    std::string body = R"({"result":true,"data":{"result":{"result":[)";
    for (std::size_t i = 0; i <= max_ray_nodes; ++i) body += i ? ",0" : "0";
    body += "]}}}";
    expect_failure(parse_nodes(body), "GET /api/v0/nodes", "more than the bound");
}

BOOST_AUTO_TEST_CASE(repeated_ids_keep_the_last_row)
{
    const auto nodes = parse_nodes(nodes_body({{"b", "ALIVE"}, {"a", "ALIVE"}, {"b", "DEAD"}}));
    BOOST_TEST_REQUIRE(bool(nodes));
    BOOST_TEST_REQUIRE(nodes.value->size() == 2u);
    BOOST_TEST(nodes.value->at(0).node_id == "a");
    BOOST_TEST(nodes.value->at(1).state == "DEAD");
}

BOOST_AUTO_TEST_CASE(failed_parts_are_recorded_and_the_rest_kept)
{
    const auto snapshot = assemble_snapshot(observed, parse_version(fixture("2.60", "version.json")),
                                            parse_result<ray_cluster_status>::failure("HTTP 500"),
                                            parse_nodes("garbage"), parse_jobs(fixture("2.60", "jobs.json")),
                                            parse_result<ray_serve_status>{serve_not_installed(), {}});
    BOOST_TEST(!snapshot.complete());
    BOOST_TEST(snapshot.any_part());
    BOOST_TEST_REQUIRE(snapshot.errors.size() == 2u);
    BOOST_TEST((snapshot.errors[0].part == ray_part::cluster_status));
    BOOST_TEST(snapshot.errors[0].message == "HTTP 500");
    BOOST_TEST((snapshot.errors[1].part == ray_part::nodes));
    BOOST_TEST(snapshot.errors[1].message.find("invalid JSON") != std::string::npos);
    BOOST_TEST(!snapshot.has(ray_part::nodes));
    BOOST_TEST(snapshot.has(ray_part::jobs));
    BOOST_TEST(!snapshot.serve->installed);

    const auto nothing = assemble_snapshot(observed, parse_version(""), parse_cluster_status(""), parse_nodes(""),
                                           parse_jobs(""), parse_serve_applications(""));
    BOOST_TEST(!nothing.any_part());
    BOOST_TEST(nothing.errors.size() == 5u);
}

BOOST_AUTO_TEST_CASE(first_observation_and_unchanged_input_give_no_events)
{
    const auto snapshot = recorded("2.60");
    BOOST_TEST(diff(nullptr, snapshot).empty());
    BOOST_TEST(diff(&snapshot, recorded("2.60")).empty());
    BOOST_TEST(diff(&snapshot, snapshot).empty());
}

BOOST_AUTO_TEST_CASE(node_death_disappearance_and_return)
{
    const auto jobs = jobs_body({});
    const auto serve = serve_body({});
    const auto before = snapshot_of(nodes_body({{"h", "ALIVE"}, {"w1", "ALIVE"}, {"w2", "ALIVE"}, {"w3", "DEAD"}}), jobs, serve);
    const auto after = snapshot_of(nodes_body({{"h", "ALIVE"}, {"w1", "DEAD"}, {"w3", "ALIVE"}, {"w4", "ALIVE"}, {"w5", "DEAD"}}), jobs, serve);
    const auto changes = diff(&before, after);
    BOOST_TEST(types_of(changes) == (std::vector<std::string>{"cluster.node_dead", "cluster.node_dead",
                                                               "cluster.node_alive", "cluster.node_alive"}),
               boost::test_tools::per_element());
    BOOST_TEST_REQUIRE(changes.size() == 4u);
    BOOST_TEST(changes[0].data.at("node_id").as_string() == "w1");
    BOOST_TEST(changes[0].data.at("new_state").as_string() == "DEAD");
    BOOST_TEST(changes[0].data.at("state_message").as_string() == "killed");
    BOOST_TEST(changes[1].data.at("node_id").as_string() == "w2");
    BOOST_TEST(changes[1].data.at("new_state").as_string() == "GONE");
    BOOST_TEST(changes[2].data.at("node_id").as_string() == "w3");
    BOOST_TEST(changes[2].data.at("old_state").as_string() == "DEAD");
    BOOST_TEST(changes[3].data.at("node_id").as_string() == "w4");
    BOOST_TEST(changes[3].data.at("old_state").is_null());
    BOOST_TEST(changes[3].data.at("node_name").as_string() == "n-w4");
}

BOOST_AUTO_TEST_CASE(job_transitions_and_new_jobs)
{
    const auto nodes = nodes_body({{"h", "ALIVE"}});
    const auto serve = serve_body({});
    const auto before = snapshot_of(nodes, jobs_body({{"a", "PENDING"}, {"b", "RUNNING"}, {"c", "RUNNING"}, {"gone", "SUCCEEDED"}}), serve);
    const auto after = snapshot_of(nodes, jobs_body({{"a", "RUNNING"}, {"b", "RUNNING"}, {"c", "FAILED"}, {"d", "PENDING"}}), serve);
    const auto changes = diff(&before, after);
    BOOST_TEST_REQUIRE(changes.size() == 3u);
    for (const auto& change : changes) BOOST_TEST(change.type == "cluster.job_status");
    BOOST_TEST(changes[0].data.at("submission_id").as_string() == "a");
    BOOST_TEST(changes[0].data.at("old_status").as_string() == "PENDING");
    BOOST_TEST(changes[0].data.at("new_status").as_string() == "RUNNING");
    BOOST_TEST(changes[0].data.at("entrypoint").as_string() == "python a.py");
    BOOST_TEST(changes[1].data.at("submission_id").as_string() == "c");
    BOOST_TEST(changes[1].data.at("new_status").as_string() == "FAILED");
    BOOST_TEST(changes[1].data.at("message").as_string() == "m-FAILED");
    BOOST_TEST(changes[2].data.at("submission_id").as_string() == "d");
    BOOST_TEST(changes[2].data.at("old_status").is_null());
    // The events carry no runtime_env: env_vars values may be secrets.
    for (const auto& change : changes) BOOST_TEST(!change.data.contains("runtime_env"));
}

BOOST_AUTO_TEST_CASE(serve_apps_reaching_running_failing_and_deleted)
{
    const auto nodes = nodes_body({{"h", "ALIVE"}});
    const auto jobs = jobs_body({});
    const auto before = snapshot_of(nodes, jobs, serve_body({{"a", "DEPLOYING"}, {"b", "DEPLOYING"}, {"c", "RUNNING"}, {"d", "RUNNING"}}));
    const auto after = snapshot_of(nodes, jobs, serve_body({{"a", "RUNNING"}, {"b", "DEPLOY_FAILED"}, {"d", "RUNNING"}, {"e", "DEPLOYING"}}));
    const auto changes = diff(&before, after);
    BOOST_TEST_REQUIRE(changes.size() == 4u);
    for (const auto& change : changes) BOOST_TEST(change.type == "cluster.serve_app_status");
    BOOST_TEST(changes[0].data.at("name").as_string() == "a");
    BOOST_TEST(changes[0].data.at("new_status").as_string() == "RUNNING");
    BOOST_TEST(changes[1].data.at("new_status").as_string() == "DEPLOY_FAILED");
    BOOST_TEST(changes[1].data.at("message").as_string() == "ImportError: broken");
    BOOST_TEST(changes[2].data.at("name").as_string() == "c");
    BOOST_TEST(changes[2].data.at("old_status").as_string() == "RUNNING");
    BOOST_TEST(changes[2].data.at("new_status").as_string() == "DELETED");
    BOOST_TEST(changes[3].data.at("name").as_string() == "e");
    BOOST_TEST(changes[3].data.at("old_status").is_null());

    // Serve shut down: every app is deleted. Serve not installed (501): nothing to compare.
    const auto shut = snapshot_of(nodes, jobs, fixture("2.60", "serve_not_running.json"));
    BOOST_TEST(diff(&after, shut).size() == 4u);  // a, b, d, e
    auto uninstalled = after;
    uninstalled.serve = serve_not_installed();
    BOOST_TEST(diff(&after, uninstalled).empty());
}

BOOST_AUTO_TEST_CASE(a_missing_part_gives_no_events_and_the_carried_part_is_compared_later)
{
    const auto jobs = jobs_body({{"a", "RUNNING"}});
    const auto serve = serve_body({{"x", "RUNNING"}});
    const auto before = snapshot_of(nodes_body({{"h", "ALIVE"}, {"w", "ALIVE"}}), jobs, serve);

    // /api/v0/nodes fails: no node_dead for every node.
    const auto failed = assemble_snapshot(observed, parse_version(R"({"ray_version":"2.60.0"})"),
                                          parse_cluster_status("{}"), parse_result<std::vector<ray_node>>::failure("timeout"),
                                          parse_jobs(jobs_body({{"a", "SUCCEEDED"}})), parse_result<ray_serve_status>::failure("HTTP 503"));
    const auto changes = diff(&before, failed);
    BOOST_TEST_REQUIRE(changes.size() == 1u);
    BOOST_TEST(changes[0].type == "cluster.job_status");

    // The monitor keeps the last known nodes; the next good answer is compared with them.
    const auto kept = carry_forward(before, failed);
    BOOST_TEST(kept.nodes.has_value());
    BOOST_TEST(!kept.has(ray_part::nodes));
    BOOST_TEST(kept.has(ray_part::jobs));
    BOOST_TEST(kept.stale.size() == 3u);  // cluster_status, nodes, serve
    BOOST_TEST(diff(&before, kept).size() == 1u);  // stale parts of `after` are not compared

    const auto recovered = snapshot_of(nodes_body({{"h", "ALIVE"}}), jobs_body({{"a", "SUCCEEDED"}}), serve);
    const auto later = diff(&kept, recovered);
    BOOST_TEST_REQUIRE(later.size() == 1u);
    BOOST_TEST(later[0].type == "cluster.node_dead");
    BOOST_TEST(later[0].data.at("node_id").as_string() == "w");
}

BOOST_AUTO_TEST_CASE(the_diff_order_is_nodes_jobs_then_apps_each_by_id)
{
    const auto before = snapshot_of(nodes_body({{"b", "ALIVE"}, {"a", "ALIVE"}}), jobs_body({{"y", "PENDING"}, {"x", "PENDING"}}),
                                    serve_body({{"q", "DEPLOYING"}, {"p", "DEPLOYING"}}));
    const auto after = snapshot_of(nodes_body({{"b", "DEAD"}, {"a", "DEAD"}}), jobs_body({{"y", "RUNNING"}, {"x", "RUNNING"}}),
                                   serve_body({{"q", "RUNNING"}, {"p", "RUNNING"}}));
    std::vector<std::string> keys;
    for (const auto& change : diff(&before, after)) {
        const auto& data = change.data;
        keys.push_back(std::string(data.contains("node_id") ? data.at("node_id").as_string()
                                   : data.contains("submission_id") ? data.at("submission_id").as_string()
                                                                    : data.at("name").as_string()));
    }
    BOOST_TEST(keys == (std::vector<std::string>{"a", "b", "x", "y", "p", "q"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(the_persisted_form_reads_back_the_same)
{
    for (const char* version : {"2.60", "2.9"}) {
        BOOST_TEST_CONTEXT(version)
        {
            auto snapshot = recorded(version);
            snapshot.errors.push_back({ray_part::serve, "HTTP 503"});
            snapshot.stale.push_back(ray_part::serve);
            const auto text = json::serialize(to_json(snapshot));
            const auto back = snapshot_from_json(json::parse(text));
            BOOST_TEST_REQUIRE(back.has_value());
            BOOST_TEST(json::serialize(to_json(*back)) == text);
            BOOST_TEST((back->observed_at == observed));
            BOOST_TEST(diff(&snapshot, *back).empty());
        }
    }
    const auto partial = assemble_snapshot(observed, parse_version(""), parse_cluster_status(""), parse_nodes(""),
                                           parse_jobs("[]"), parse_serve_applications(""));
    const auto back = snapshot_from_json(to_json(partial));
    BOOST_TEST_REQUIRE(back.has_value());
    BOOST_TEST(!back->nodes.has_value());
    BOOST_TEST(back->jobs.has_value());
    BOOST_TEST(back->errors.size() == 4u);
}

BOOST_AUTO_TEST_CASE(a_persisted_form_that_is_not_one_reads_as_nothing)
{
    for (const char* text : {"null", "[]", "{}", R"({"observed_at_ms":"x"})", R"({"observed_at_ms":1,"nodes":{}})",
                             R"({"observed_at_ms":1,"nodes":[{"state":"ALIVE"}]})",
                             R"({"observed_at_ms":1,"errors":[{"part":"bogus"}]})",
                             R"({"observed_at_ms":1,"serve":{"applications":[1]}})"})
        BOOST_TEST_CONTEXT(text) { BOOST_TEST(!snapshot_from_json(json::parse(text)).has_value()); }
}

BOOST_AUTO_TEST_CASE(nodes_view_has_the_seed_shape)
{
    const auto view = nodes_view(recorded("2.60"));
    BOOST_TEST(view.at("total_nodes").as_int64() == 2);
    BOOST_TEST(view.at("alive_nodes").as_int64() == 1);
    const auto& head = view.at("nodes").at(0).as_object();
    BOOST_TEST(head.at("node_id").as_string() == head_260);
    BOOST_TEST(head.at("node_type").as_string() == "head");
    BOOST_TEST(head.at("cml_app_id").is_null());
    BOOST_TEST(head.at("cml_app_name").is_null());
    BOOST_TEST(head.at("alive").as_bool());
    BOOST_TEST(head.at("resources").at("CPU").as_int64() == 2);
    BOOST_TEST(head.at("resources").at("memory").as_int64() == 16379978138);
    BOOST_TEST(!head.at("resources").as_object().contains("node:__internal_head__"));
    BOOST_TEST(!head.at("resources").as_object().contains("node:192.0.2.2"));
    BOOST_TEST(head.at("resources_used").at("CPU").as_int64() == 1);
    const auto& worker = view.at("nodes").at(1).as_object();
    BOOST_TEST(worker.at("node_type").as_string() == "worker");
    BOOST_TEST(!worker.at("alive").as_bool());
    BOOST_TEST(worker.at("state_message").as_string() == "Expected termination: received SIGTERM");

    raydeploy::watch::ray_snapshot unknown;
    BOOST_TEST(nodes_view(unknown).at("nodes").as_array().empty());
}

BOOST_AUTO_TEST_CASE(capacity_view_in_gib_with_one_decimal_utilization)
{
    const auto current = capacity_view(recorded("2.60"));
    BOOST_TEST(current.at("total_cpus").as_int64() == 2);
    BOOST_TEST(current.at("available_cpus").as_int64() == 1);
    BOOST_TEST(current.at("utilization_percent").as_double() == 50.0);
    BOOST_TEST(current.at("total_memory").as_double() == 15.26);  // 16379978138 bytes
    BOOST_TEST(current.at("total_gpus").as_int64() == 0);

    const auto older = capacity_view(recorded("2.9"));
    BOOST_TEST(older.at("total_cpus").as_int64() == 12);
    BOOST_TEST(older.at("available_cpus").as_int64() == 9);
    BOOST_TEST(older.at("total_memory").as_double() == 48.0);
    BOOST_TEST(older.at("available_memory").as_double() == 48.0);
    BOOST_TEST(older.at("total_gpus").as_int64() == 1);
    BOOST_TEST(older.at("available_gpus").as_int64() == 0);
    BOOST_TEST(older.at("utilization_percent").as_double() == 25.0);

    auto thirds = recorded("2.9");
    thirds.cluster_status->usage["CPU"] = {1.0, 3.0};
    BOOST_TEST(capacity_view(thirds).at("utilization_percent").as_double() == 33.3);
    BOOST_TEST(capacity_view(raydeploy::watch::ray_snapshot{}).at("utilization_percent").as_double() == 0.0);
}

BOOST_AUTO_TEST_CASE(applications_view_and_detail_hide_env_var_values)
{
    const auto view = applications_view(recorded("2.60"));
    BOOST_TEST(view.at("total_applications").as_int64() == 2);
    const auto& summarizer = view.at("applications").at(1).as_object();
    BOOST_TEST(summarizer.at("name").as_string() == "summarizer");
    BOOST_TEST(summarizer.at("status").as_string() == "RUNNING");
    BOOST_TEST(summarizer.at("route_prefix").as_string() == "/summarize");
    BOOST_TEST(summarizer.at("num_replicas").as_int64() == 2);
    BOOST_TEST(summarizer.at("message").as_string() == "");
    BOOST_TEST(summarizer.at("last_deployed_time").as_string() == "2026-12-03T15:48:20.250Z");
    BOOST_TEST(view.at("applications").at(0).at("route_prefix").is_null());

    const auto serve = parse_serve_applications(fixture("2.60", "serve.json"));
    const auto detail = application_detail_view(serve.value->applications.at(1));
    BOOST_TEST(detail.at("deployments").at(0).at("running_replicas").as_int64() == 2);
    const auto config = json::serialize(detail.at("deployed_app_config"));
    BOOST_TEST(config.find("secret-value") == std::string::npos);
    BOOST_TEST(config.find("HF_TOKEN") != std::string::npos);

    const auto older = applications_view(recorded("2.9"));
    BOOST_TEST(older.at("applications").at(0).at("num_replicas").as_int64() == 3);
    BOOST_TEST(older.at("applications").at(0).at("running_replicas").as_int64() == 1);
}

BOOST_AUTO_TEST_CASE(job_view_redacts_for_viewers_only)
{
    const auto snapshot = recorded("2.9");
    const auto& job = job_keyed(snapshot, "raysubmit_XyZ12abCDefGH345");
    const auto hidden = job_view(job, true);
    BOOST_TEST(hidden.at("runtime_env").at("env_vars").at("WANDB_API_KEY").as_string() == "<redacted>");
    BOOST_TEST(hidden.at("entrypoint").as_string() == "python train.py --epochs 3");
    BOOST_TEST(hidden.at("start_time").as_string() == "2024-02-03T22:40:01.123Z");
    BOOST_TEST(hidden.at("end_time").is_null());
    BOOST_TEST(job_view(job, false).at("runtime_env").at("env_vars").at("WANDB_API_KEY").as_string() == "k-123");
    BOOST_TEST(iso_from_epoch_ms(-1).empty());
    BOOST_TEST(iso_from_epoch_ms(std::numeric_limits<std::int64_t>::max()).empty());
    // Found by fuzz_ray_responses: a start time after the year 2262 overflowed the conversion to
    // the system clock's nanoseconds (undefined behaviour) instead of reading as no time.
    BOOST_TEST(iso_from_epoch_ms(9'796'312'838'481).empty());
    BOOST_TEST(iso_from_epoch_ms(9'223'372'036'854).starts_with("2262-04-11T"));
}

BOOST_AUTO_TEST_CASE(a_persisted_snapshot_observed_at_a_time_the_clock_cannot_hold_is_not_read)
{
    json::value persisted = to_json(recorded("2.60"));
    BOOST_TEST_REQUIRE(snapshot_from_json(persisted).has_value());
    persisted.as_object()["observed_at_ms"] = 9'796'312'838'481;
    BOOST_TEST(!snapshot_from_json(persisted).has_value());
    persisted.as_object()["observed_at_ms"] = -1;
    BOOST_TEST(!snapshot_from_json(persisted).has_value());
}

BOOST_AUTO_TEST_SUITE_END()
