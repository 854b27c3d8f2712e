// Suite cml_catalog: the shipped CML catalog (cml/checkpoints.yaml) served by the real binary:
// its five checkpoints in order with kind and flags, a teardown no deployment includes, the
// Ansible-only run parameters refused for CML kinds, and broken CML config files stopping the
// service, --check-config and `raydeploy checkpoints` with exit 2, naming the key and the file.
#include "support/test_support.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

using namespace raydeploy::test;
namespace json = boost::json;

namespace {

const fs::path cml_dir = source_dir() / "cml";
const std::string inventory = (source_dir() / "playbooks" / "inventory" / "local.yml").string();

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

service_options cml_service_options()
{
    service_options options;
    options.catalog = cml_dir / "checkpoints.yaml";
    return options;
}

std::string field_of(const response& res)
{
    const json::object body = json_object_of(res);
    return body.contains("field") ? text(body, "field") : "<no field in " + res.body() + ">";
}

response post(std::uint16_t port, std::string_view target, const json::object& body)
{
    return http_request(port, http::verb::post, target, json::serialize(body));
}

// A copy of cml/ in `dir` whose jobs_config.yaml names a parent that is not a job.
fs::path broken_cml_catalog(const temp_dir& dir)
{
    for (const auto& name : {"checkpoints.yaml", "ray_cluster_config.yaml"})
        dir.write_file(name, read_file(cml_dir / name));
    std::string jobs = read_file(cml_dir / "jobs_config.yaml");
    const std::string parent = "parent_job_key: \"git_sync\"";
    BOOST_TEST_REQUIRE(contains(jobs, parent));
    jobs.replace(jobs.find(parent), parent.size(), "parent_job_key: \"git_snyc\"");
    dir.write_file("jobs_config.yaml", jobs);
    return dir.path() / "checkpoints.yaml";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cml_catalog)

BOOST_AUTO_TEST_CASE(the_service_lists_the_five_cml_checkpoints_in_order_with_kind_and_flags)
{
    service_process service{cml_service_options()};
    const json::object listed = json_object_of(http_get(service.port(), "/api/v1/checkpoints"));
    const json::array& items = listed.at("checkpoints").as_array();
    struct expected_step {
        std::string name, kind;
        bool approval_required, destructive, in_deployment;
    };
    const std::vector<expected_step> expected = {
        {"setup-project", "cml-project", false, false, true},
        {"create-jobs", "cml-jobs", false, false, true},
        {"run-jobs", "cml-job-runs", false, false, true},
        {"launch-ray-cluster", "cml-ray-cluster", true, false, true},
        {"teardown-ray-cluster", "cml-ray-cluster", true, true, false},
    };
    BOOST_TEST_REQUIRE(items.size() == expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
        const json::object& item = items[i].as_object();
        BOOST_TEST_CONTEXT(expected[i].name)
        {
            BOOST_TEST(text(item, "name") == expected[i].name);
            BOOST_TEST(integer(item, "order") == static_cast<std::int64_t>(i) + 1);
            BOOST_TEST(text(item, "kind") == expected[i].kind);
            BOOST_TEST(item.at("approval_required").as_bool() == expected[i].approval_required);
            BOOST_TEST(item.at("destructive").as_bool() == expected[i].destructive);
            BOOST_TEST(item.at("in_deployment").as_bool() == expected[i].in_deployment);
        }
    }
    const json::object run_jobs = json_object_of(http_get(service.port(), "/api/v1/checkpoints/run-jobs"));
    BOOST_TEST(text(object_at(object_at(run_jobs, "vars"), "force_rebuild"), "type") == "boolean");
}

BOOST_AUTO_TEST_CASE(limit_and_check_are_refused_for_cml_checkpoints_naming_the_field)
{
    service_process service{cml_service_options()};
    const auto port = service.port();
    const auto limited = post(port, "/api/v1/checkpoints/create-jobs", {{"limit", "ray-head"}});
    BOOST_TEST(limited.result_int() == 422u, limited.body());
    BOOST_TEST(field_of(limited) == "limit");
    BOOST_TEST(contains(text(json_object_of(limited), "message"),
                        "limit: applies to kind ansible only (ansible-playbook's --limit); checkpoint 'create-jobs' is of "
                        "kind cml-jobs"));
    const auto checked = post(port, "/api/v1/checkpoints/run-jobs", {{"check", true}, {"extra_vars", {{"force_rebuild", true}}}});
    BOOST_TEST(checked.result_int() == 422u, checked.body());
    BOOST_TEST(field_of(checked) == "check");
    // A pre-approval names a run, so it is checked the same way.
    const auto granted = post(port, "/api/v1/approvals/launch-ray-cluster", {{"reason", "try"}, {"check", true}});
    BOOST_TEST(granted.result_int() == 422u, granted.body());
    BOOST_TEST(field_of(granted) == "check");
    // Nothing was started.
    const json::object executions = json_object_of(http_get(port, "/api/v1/executions"));
    BOOST_TEST(executions.at("executions").as_array().empty(), json::serialize(executions));
}

BOOST_AUTO_TEST_CASE(deployments_leave_the_teardown_out_and_refuse_it_by_name)
{
    service_process service{cml_service_options()};
    const auto port = service.port();
    const auto named = post(port, "/api/v1/deployments", {{"checkpoints", json::array{"create-jobs", "teardown-ray-cluster"}}});
    BOOST_TEST(named.result_int() == 422u, named.body());
    BOOST_TEST(field_of(named) == "checkpoints[1]");
    BOOST_TEST(contains(text(json_object_of(named), "message"),
                        "'teardown-ray-cluster' runs only on its own (in_deployment: false), never in a deployment; run it "
                        "with `raydeploy run teardown-ray-cluster` or POST /api/v1/checkpoints/teardown-ray-cluster"));
    const auto from = post(port, "/api/v1/deployments", {{"start_from", "teardown-ray-cluster"}});
    BOOST_TEST(from.result_int() == 422u, from.body());
    BOOST_TEST(field_of(from) == "start_from");

    const auto whole = post(port, "/api/v1/deployments", {});
    BOOST_TEST_REQUIRE(whole.result_int() == 202u, whole.body());
    const json::object deployment = json_object_of(whole);
    std::vector<std::string> steps;
    for (const auto& step : deployment.at("checkpoints").as_array()) steps.push_back(text(step));
    BOOST_TEST(steps == (std::vector<std::string>{"setup-project", "create-jobs", "run-jobs", "launch-ray-cluster"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(check_config_shows_the_cml_config_files)
{
    temp_dir dir;
    const auto result = run_cli({"serve", "--catalog", (cml_dir / "checkpoints.yaml").string(), "--inventory", inventory,
                                 "--state-dir", (dir.path() / "state").string(), "--check-config"});
    BOOST_TEST_REQUIRE(result.exit_code == 0, result.err);
    BOOST_TEST(contains(result.out, "catalog: 5 checkpoints from " + (cml_dir / "checkpoints.yaml").string()), result.out);
    BOOST_TEST(contains(result.out, "cml jobs: git_sync -> setup_environment from " + (cml_dir / "jobs_config.yaml").string()),
               result.out);
    BOOST_TEST(contains(result.out, "ray cluster: a head and 1 workers from " + (cml_dir / "ray_cluster_config.yaml").string()),
               result.out);
}

BOOST_AUTO_TEST_CASE(a_broken_jobs_config_exits_2_naming_the_catalog_key_and_the_file)
{
    temp_dir dir;
    const fs::path catalog = broken_cml_catalog(dir);
    const std::string state = (dir.path() / "state").string();
    for (const auto& args : {std::vector<std::string>{"serve", "--catalog", catalog.string(), "--inventory", inventory,
                                                      "--state-dir", state, "--listen", "127.0.0.1:0"},
                             std::vector<std::string>{"serve", "--catalog", catalog.string(), "--inventory", inventory,
                                                      "--state-dir", state, "--check-config"},
                             std::vector<std::string>{"checkpoints", "--catalog", catalog.string()}}) {
        BOOST_TEST_CONTEXT(args.back())
        {
            const auto result = run_cli(args);
            BOOST_TEST(result.exit_code == 2, result.err);
            BOOST_TEST(!contains(result.out, "listening on"), result.out);
            BOOST_TEST(contains(result.err, catalog.string() + ":"), result.err);
            BOOST_TEST(contains(result.err, "checkpoints[1].jobs_config: " + (dir.path() / "jobs_config.yaml").string() +
                                                " has problems"),
                       result.err);
            BOOST_TEST(contains(result.err, "jobs.setup_environment.parent_job_key: \"git_snyc\" is not a job of this "
                                            "file; did you mean 'git_sync'?"),
                       result.err);
            BOOST_TEST(contains(result.err, "checkpoints[2].jobs_config: " + (dir.path() / "jobs_config.yaml").string() +
                                                " has the problems listed above"),
                       result.err);
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()
