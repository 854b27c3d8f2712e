// Suite cml_deployment: the shipped CML catalog driving the project's fake CML API v2 through the
// real binary: a whole deployment (project, jobs, runs) and a second one that changes nothing, a
// failing job and resume, force_rebuild, a kill -9 during run-jobs followed by re-attaching to the
// same CML run (or failing, saying so, when that run was deleted from CML meanwhile), retried
// 429/503 answers, and a 401 whose key never shows anywhere.
#include "support/fake_cml_support.hpp"
#include "support/test_support.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <csignal>
#include <fstream>
#include <functional>
#include <iterator>

using namespace raydeploy::test;
namespace json = boost::json;

namespace {

const fs::path cml_catalog = source_dir() / "cml" / "checkpoints.yaml";
const std::string project_name = "raydeploy-e2e";
// The three steps a deployment runs before the approval-gated cluster launch.
const std::string three_steps = R"({"checkpoints":["setup-project","create-jobs","run-jobs"]})";

bool contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

// A fake whose project, runs and applications take a fraction of a second.
fake_cml quick_fake(std::vector<std::string> more = {})
{
    std::vector<std::string> args = {"--project-create-s", "0.3", "--run-scheduling-s", "0.1",
                                     "--run-starting-s",   "0.1", "--run-running-s",    "0.3"};
    args.insert(args.end(), more.begin(), more.end());
    return fake_cml{std::move(args)};
}

service_options cml_options(const fake_cml& cml, std::optional<fs::path> state_dir = std::nullopt)
{
    service_options options;
    options.catalog = cml_catalog;
    if (state_dir) options.state_dir = *state_dir;
    options.env = {{"RAYDEPLOY_CML_HOST", cml.cml_url()},
                   {"RAYDEPLOY_CML_API_KEY", cml.api_key()},
                   {"RAYDEPLOY_CML_PROJECT_NAME", project_name},
                   {"RAYDEPLOY_CML_GIT_URL", "https://git.example.com/team/ray-on-cml.git"},
                   {"RAYDEPLOY_CML_RUNTIME_IDENTIFIER",
                    "docker.repository.cloudera.com/cloudera/cdsw/ml-runtime-workbench-python3.10-standard:2024.02.1-b4"},
                   {"RAYDEPLOY_CML_POLL_INTERVAL", "100ms"},
                   {"RAYDEPLOY_CML_REQUEST_TIMEOUT", "5s"}};
    return options;
}



std::vector<std::string> types_of(const std::vector<json::object>& events)
{
    std::vector<std::string> types;
    for (const auto& e : events) types.push_back(text(e, "type"));
    return types;
}

void check_contiguous(const std::vector<json::object>& events)
{
    BOOST_TEST_REQUIRE(!events.empty());
    for (std::size_t i = 0; i < events.size(); ++i)
        BOOST_TEST(events[i].at("counter").to_number<std::int64_t>() == static_cast<std::int64_t>(i + 1));
    BOOST_TEST(text(events.back(), "type") == "execution.done");
}

std::string file_text(const fs::path& file)
{
    std::ifstream in{file, std::ios::binary};
    return {std::istreambuf_iterator<char>{in}, {}};
}

// Runs setup-project and create-jobs in `service`, starts run-jobs, and returns its id once one of
// its events satisfies `reached`.
std::string run_jobs_until(const service_process& service, const std::function<bool(const json::object&)>& reached)
{
    const api_client client{service.port()};
    const json::object setup =
        wait_deployment_finished(client, start_deployment(client, R"({"checkpoints":["setup-project","create-jobs"]})"));
    BOOST_TEST_REQUIRE(text(setup, "status") == "succeeded", json::serialize(setup));
    const std::string id = start_execution(service.port(), "run-jobs");
    client.wait_until("/api/v1/executions/" + id, [&](const json::object&) {
        for (const auto& e : execution_events(service.port(), id))
            if (reached(e)) return true;
        return false;
    });
    return id;
}

bool run_is_running(const json::object& e)
{
    return text(e, "type") == "cml.job_run_status" && text(e, "new_status") == "ENGINE_RUNNING";
}

// run_jobs_until in a service on `state_dir`, which is then killed with SIGKILL.
std::string kill_during_run_jobs(const fake_cml& cml, const fs::path& state_dir,
                                 const std::function<bool(const json::object&)>& reached)
{
    service_process first{cml_options(cml, state_dir)};
    const std::string id = run_jobs_until(first, reached);
    first.send_signal(SIGKILL);
    BOOST_TEST_REQUIRE(first.wait_exit(5s).value_or(-1) == 128 + SIGKILL);
    return id;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cml_deployment)

BOOST_AUTO_TEST_CASE(a_deployment_builds_everything_once_and_a_second_changes_nothing)
{
    const auto cml = quick_fake();
    service_process service{cml_options(cml)};
    const api_client client{service.port()};

    const json::object first = wait_deployment_finished(client, start_deployment(client, three_steps));
    BOOST_TEST_REQUIRE(text(first, "status") == "succeeded", json::serialize(first));
    BOOST_TEST(cml.count_calls("POST", "/projects$") == 1u);
    BOOST_TEST(cml.count_calls("POST", "/jobs$") == 2u);
    BOOST_TEST(cml.count_calls("POST", "/runs$") == 2u);
    // The child job names its parent.
    const json::object state = cml.state();
    std::size_t with_parent = 0;
    for (const auto& job : state.at("jobs").as_array())
        if (!text(job.as_object(), "parent_id").empty()) ++with_parent;
    BOOST_TEST(with_parent == 1u);

    // Status changes and the run ids are events of run-jobs.
    const std::string run_jobs = text(first.at("steps").as_array().at(2).as_object(), "execution_id");
    const auto events = execution_events(service.port(), run_jobs);
    check_contiguous(events);
    std::size_t status_changes = 0;
    for (const auto& e : events)
        if (text(e, "type") == "cml.job_run_status") {
            ++status_changes;
            BOOST_TEST(!text(e, "run_id").empty());
            BOOST_TEST(!text(e, "job_key").empty());
        }
    BOOST_TEST(status_changes >= 2u);

    // Nothing changed: nothing is created, patched or run again, and create-jobs says so.
    const std::int64_t mark = cml.last_call();
    const json::object second = wait_deployment_finished(client, start_deployment(client, three_steps));
    BOOST_TEST_REQUIRE(text(second, "status") == "succeeded", json::serialize(second));
    BOOST_TEST(cml.count_calls("POST", ".*", mark) == 0u);
    BOOST_TEST(cml.count_calls("PATCH", ".*", mark) == 0u);
    const std::string create_jobs = text(second.at("steps").as_array().at(1).as_object(), "execution_id");
    const json::object created = get_execution(service.port(), create_jobs);
    BOOST_TEST(created.at("results").at("summary").at("changed").as_bool() == false);
    const auto skipped = execution_events(service.port(), text(second.at("steps").as_array().at(2).as_object(), "execution_id"));
    std::size_t skips = 0;
    for (const auto& e : skipped) skips += text(e, "type") == "cml.job_run_skipped" ? 1 : 0;
    BOOST_TEST(skips == 2u);

    // force_rebuild runs every job again.
    const std::int64_t before_force = cml.last_call();
    const json::object forced = wait_deployment_finished(
        client, start_deployment(client, R"({"checkpoints":["run-jobs"],"extra_vars":{"force_rebuild":true}})"));
    BOOST_TEST_REQUIRE(text(forced, "status") == "succeeded", json::serialize(forced));
    BOOST_TEST(cml.count_calls("POST", "/runs$", before_force) == 2u);
}

BOOST_AUTO_TEST_CASE(a_dependent_job_that_cml_starts_itself_is_followed_not_started_again)
{
    const auto cml = quick_fake({"--dependent-runs"});
    service_process service{cml_options(cml)};
    const api_client client{service.port()};

    const json::object done = wait_deployment_finished(client, start_deployment(client, three_steps));
    BOOST_TEST_REQUIRE(text(done, "status") == "succeeded", json::serialize(done));
    // raydeploy started the first job only; CML started its child when it succeeded.
    BOOST_TEST(cml.count_calls("POST", "/runs$") == 1u);
    const auto events = execution_events(service.port(), text(done.at("steps").as_array().at(2).as_object(), "execution_id"));
    std::size_t followed = 0;
    for (const auto& e : events) followed += text(e, "type") == "cml.job_run_followed" ? 1 : 0;
    BOOST_TEST(followed == 1u);
}

BOOST_AUTO_TEST_CASE(a_failing_job_fails_the_deployment_and_resume_finishes_it_without_rerunning)
{
    const auto cml = quick_fake();
    cml.set_job_outcome({{"job_name", "Setup Python Environment"}, {"outcome", "fail"}});
    service_process service{cml_options(cml)};
    const api_client client{service.port()};

    const std::string id = start_deployment(client, three_steps);
    const json::object failed = wait_deployment_finished(client, id);
    BOOST_TEST_REQUIRE(text(failed, "status") == "failed", json::serialize(failed));
    BOOST_TEST(text(failed, "failed_checkpoint") == "run-jobs");
    BOOST_TEST(contains(text(failed, "status_reason"), "setup_environment"), text(failed, "status_reason"));
    BOOST_TEST(contains(text(failed, "status_reason"), "ENGINE_FAILED"), text(failed, "status_reason"));
    BOOST_TEST(cml.count_calls("POST", "/runs$") == 2u);

    cml.set_job_outcome({{"job_name", "Setup Python Environment"}, {"outcome", "succeed"}});
    const auto resumed = client.post("/api/v1/deployments/" + id + "/resume", "{}");
    BOOST_TEST_REQUIRE(resumed.result_int() == 202, resumed.body());
    const json::object done = wait_deployment_finished(client, id);
    BOOST_TEST_REQUIRE(text(done, "status") == "succeeded", json::serialize(done));
    // Only the failed job ran again: the first one's run succeeded with the same definition.
    BOOST_TEST(cml.count_calls("POST", "/runs$") == 3u);
}

BOOST_AUTO_TEST_CASE(a_kill_9_during_run_jobs_reattaches_to_the_same_cml_run)
{
    const auto cml = quick_fake({"--run-running-s", "3"});
    temp_dir state{"raydeploy-cml-state"};
    const std::string id = kill_during_run_jobs(
        cml, state.path(), [](const json::object& e) { return text(e, "type") == "cml.job_run_started"; });
    service_process second{cml_options(cml, state.path())};
    const json::object record = wait_for_execution(second.port(), id, {"succeeded", "failed", "interrupted"}, 60s);
    BOOST_TEST_REQUIRE(text(record, "status") == "succeeded", json::serialize(record));
    const auto events = execution_events(second.port(), id);
    check_contiguous(events);
    const auto types = types_of(events);
    BOOST_TEST(std::count(types.begin(), types.end(), "execution.reattached") == 1);
    // One run per job: the one in progress was followed, not started again.
    BOOST_TEST(cml.count_calls("POST", "/runs$") == 2u);
}

BOOST_AUTO_TEST_CASE(a_run_deleted_from_cml_while_the_service_was_down_fails_run_jobs_saying_so)
{
    const auto cml = quick_fake();
    // The first job's run stays ENGINE_RUNNING until deleted: no clock to race.
    cml.set_job_outcome({{"job_name", "Git Repository Sync"}, {"outcome", "hang"}});
    temp_dir state{"raydeploy-cml-state"};
    std::string run_id;
    // A status change comes after the run's id is stored with the execution, so the restart
    // re-attaches by that id rather than looking for the job's runs.
    const std::string id = kill_during_run_jobs(cml, state.path(), [&](const json::object& e) {
        if (!run_is_running(e)) return false;
        run_id = text(e, "run_id");
        return true;
    });
    BOOST_TEST_REQUIRE(cml.delete_run({{"job_name", "Git Repository Sync"}}) == run_id);
    const std::int64_t mark = cml.last_call();

    service_process second{cml_options(cml, state.path())};
    const json::object record = wait_for_execution(second.port(), id, {"succeeded", "failed", "interrupted"}, 60s);
    BOOST_TEST_REQUIRE(text(record, "status") == "failed", json::serialize(record));
    const std::string reason = text(record, "status_reason");
    BOOST_TEST(contains(reason, "gone from CML"), reason);
    BOOST_TEST(contains(reason, "run " + run_id + " of job git_sync"), reason);
    BOOST_TEST(contains(reason, "run run-jobs again"), reason);
    const auto events = execution_events(second.port(), id);
    check_contiguous(events);
    const auto types = types_of(events);
    BOOST_TEST(std::count(types.begin(), types.end(), "execution.reattached") == 1);
    // The restart asked CML for that run by its id, and started nothing in its place.
    BOOST_TEST(cml.count_calls("GET", "/runs/" + run_id + "$", mark) >= 1u);
    BOOST_TEST(cml.count_calls("POST", "/runs$", mark) == 0u);
    BOOST_TEST(cml.count_calls("POST", "/runs$") == 1u);
    BOOST_TEST(cml.state().at("runs").as_array().empty());
}

BOOST_AUTO_TEST_CASE(cancelling_run_jobs_stops_the_run_in_cml)
{
    const auto cml = quick_fake({"--run-running-s", "30"});
    service_process service{cml_options(cml)};
    const api_client client{service.port()};
    const std::string id = run_jobs_until(service, run_is_running);
    const auto cancelled = client.post("/api/v1/executions/" + id + "/cancel");
    BOOST_TEST_REQUIRE(cancelled.result_int() == 202, cancelled.body());
    const json::object record = wait_for_execution(service.port(), id, {"cancelled", "failed", "succeeded"}, 30s);
    BOOST_TEST(text(record, "status") == "cancelled", json::serialize(record));
    BOOST_TEST(contains(text(record, "status_reason"), "was stopped"), text(record, "status_reason"));
    BOOST_TEST(cml.count_calls("POST", ":stop$") == 1u);
}

BOOST_AUTO_TEST_CASE(a_project_cml_cannot_create_or_cannot_find_fails_setup_saying_why)
{
    const auto cml = quick_fake();
    cml.set_project_outcome({{"creation_status", "failure: git clone failed"}});
    {
        service_process service{cml_options(cml)};
        const std::string id = start_execution(service.port(), "setup-project");
        const json::object failed = wait_for_execution(service.port(), id, {"succeeded", "failed"}, 60s);
        BOOST_TEST_REQUIRE(text(failed, "status") == "failed", json::serialize(failed));
        BOOST_TEST(contains(text(failed, "status_reason"), "CML could not create project 'raydeploy-e2e': failure: git clone failed"),
                   text(failed, "status_reason"));
    }
    // Without cml.git_url a missing project cannot be created: nothing is sent but the search.
    cml.reset();
    auto options = cml_options(cml);
    options.env.erase("RAYDEPLOY_CML_GIT_URL");
    service_process service{options};
    const std::string id = start_execution(service.port(), "setup-project");
    const json::object failed = wait_for_execution(service.port(), id, {"succeeded", "failed"}, 60s);
    BOOST_TEST_REQUIRE(text(failed, "status") == "failed", json::serialize(failed));
    BOOST_TEST(contains(text(failed, "status_reason"), "cml.git_url is not set"), text(failed, "status_reason"));
    BOOST_TEST(cml.count_calls("POST", ".*") == 0u);
}

BOOST_AUTO_TEST_CASE(busy_answers_are_retried_and_a_refused_key_is_named_but_never_shown)
{
    const auto cml = quick_fake();
    service_process service{cml_options(cml)};
    const api_client client{service.port()};

    cml.add_fault({{"status", 429}, {"count", 2}, {"path", "/projects"}, {"method", "GET"}});
    cml.add_fault({{"status", 503}, {"count", 1}, {"path", "/projects$"}, {"method", "POST"}});
    const std::string setup = start_execution(service.port(), "setup-project");
    const json::object done = wait_for_execution(service.port(), setup, {"succeeded", "failed"}, 60s);
    BOOST_TEST(text(done, "status") == "succeeded", json::serialize(done));
    BOOST_TEST(client.get_object("/health").at("cai_available") == json::value(true));

    cml.set_key_valid(false);
    const std::string refused = start_execution(service.port(), "create-jobs");
    const json::object failed = wait_for_execution(service.port(), refused, {"succeeded", "failed"}, 60s);
    BOOST_TEST_REQUIRE(text(failed, "status") == "failed");
    BOOST_TEST(contains(text(failed, "status_reason"), "RAYDEPLOY_CML_API_KEY"), text(failed, "status_reason"));
    const json::object health = client.get_object("/health");
    BOOST_TEST(health.at("cai_available") == json::value(false));
    BOOST_TEST(contains(text(health, "cai_reason"), "RAYDEPLOY_CML_API_KEY"), json::serialize(health));

    // The key appears nowhere: log, events, responses, the database file, the runs' files.
    const std::string key = cml.api_key();
    BOOST_TEST(!contains(service.stderr_text(), key));
    for (const auto& id : {setup, refused}) {
        BOOST_TEST(!contains(json::serialize(get_execution(service.port(), id)), key));
        for (const auto& e : execution_events(service.port(), id)) BOOST_TEST(!contains(json::serialize(e), key));
        BOOST_TEST(!contains(client.get("/api/v1/executions/" + id + "/log").body(), key));
    }
    for (const auto& entry : fs::recursive_directory_iterator(service.state_dir()))
        if (entry.is_regular_file()) BOOST_TEST(!contains(file_text(entry.path()), key), entry.path().string());
}

BOOST_AUTO_TEST_SUITE_END()
