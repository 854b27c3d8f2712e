// Suite ray_jobs: Ray jobs through the service, against the project's fake Ray dashboard. The
// service polls it every 200 ms; jobs move PENDING -> RUNNING -> SUCCEEDED (FAILED for an
// entrypoint with "exit 1") on the fake's clock. Also the CLI's `raydeploy jobs`.
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

// Jobs move on quickly unless a test wants them to stay RUNNING.
struct jobs_fixture : service_watching_fake_ray {
    explicit jobs_fixture(std::vector<std::string> fake_args = {"--job-pending-s", "0.2", "--job-run-s", "0.6"})
        : service_watching_fake_ray{std::move(fake_args)}
    {
    }

    json::object wait_for_job(std::string_view id, std::string_view status,
                              source_location where = source_location::current()) const
    {
        return wait_for_status(operator_, "/api/v1/jobs/" + std::string{id}, status, where);
    }
};

// The cluster.job_status events of one job, oldest first.
std::vector<json::object> job_events(const api_client& client, std::string_view id)
{
    std::vector<json::object> events;
    for (const auto& event : replay_events(client, "types=cluster.job_status", 300ms))
        if (text(event, "submission_id") == id) events.push_back(event);
    return events;
}

const std::string secret = "s3cret-value-1234";

}  // namespace

BOOST_AUTO_TEST_SUITE(ray_jobs)

BOOST_AUTO_TEST_CASE(a_submitted_job_is_followed_to_succeeded_with_events_logs_and_an_audit_row)
{
    jobs_fixture f;
    const auto submitted = f.operator_.post(
        "/api/v1/jobs", R"({"entrypoint": "python -c 'print(42)'", "submission_id": "job-ok", "metadata": {"owner": "ci"},
                            "runtime_env": {"env_vars": {"API_KEY": ")" + secret + R"("}, "pip": ["requests"]}})");
    BOOST_TEST_REQUIRE(submitted.result_int() == 202, submitted.body());
    const auto accepted = json_object_of(submitted);
    BOOST_TEST(text(accepted, "submission_id") == "job-ok");
    BOOST_TEST(submitted[http::field::location] == "/api/v1/jobs/job-ok");

    const auto job = f.wait_for_job("job-ok", "SUCCEEDED");
    BOOST_TEST(text(job, "entrypoint") == "python -c 'print(42)'");
    BOOST_TEST(text(object_at(job, "metadata"), "owner") == "ci");
    BOOST_TEST(timestamp_ms(job.at("observed_at")) > 0);

    // One event per status change, in order, ending SUCCEEDED; none twice.
    std::vector<json::object> events;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    do {
        events = job_events(f.viewer, "job-ok");
    } while ((events.empty() || text(events.back(), "new_status") != "SUCCEEDED") &&
             std::chrono::steady_clock::now() < deadline);
    BOOST_TEST_REQUIRE(!events.empty());
    BOOST_TEST(text(events.back(), "new_status") == "SUCCEEDED");
    std::set<std::string> seen;
    for (const auto& event : events)
        BOOST_TEST(seen.insert(text(event, "new_status")).second, "twice: " << json::serialize(event));

    const auto logs = f.viewer.get("/api/v1/jobs/job-ok/logs");
    BOOST_TEST_REQUIRE(logs.result_int() == 200, logs.body());
    BOOST_TEST(contains(text(json_object_of(logs), "logs"), "Running entrypoint for job job-ok"));

    // The audit row names the job; no body value (env vars) reaches the trail.
    const auto audit = f.admin.get_object("/api/v1/audit?limit=50");
    const std::string trail = json::serialize(audit);
    BOOST_TEST(!contains(trail, secret), trail);
    bool found = false;
    for (const auto& row : audit.at("entries").as_array()) {
        const auto& entry = row.as_object();
        if (text(entry, "action") != "job.submit") continue;
        found = true;
        BOOST_TEST(text(entry, "actor") == "otto");
        BOOST_TEST(text(entry, "outcome") == "succeeded");
        BOOST_TEST(text(object_at(entry, "detail"), "submission_id") == "job-ok");
    }
    BOOST_TEST(found, trail);
}

BOOST_AUTO_TEST_CASE(viewers_see_the_entrypoint_but_not_env_var_values)
{
    jobs_fixture f;
    const auto submitted = f.operator_.post(
        "/api/v1/jobs", R"({"entrypoint": "python train.py", "submission_id": "job-env",
                            "runtime_env": {"env_vars": {"API_KEY": ")" + secret + R"("}}})");
    BOOST_TEST_REQUIRE(submitted.result_int() == 202, submitted.body());
    const auto as_operator = f.wait_for_job("job-env", "SUCCEEDED");
    BOOST_TEST(text(object_at(object_at(as_operator, "runtime_env"), "env_vars"), "API_KEY") == secret);

    const auto as_viewer = f.viewer.get_object("/api/v1/jobs/job-env");
    BOOST_TEST(text(as_viewer, "entrypoint") == "python train.py");
    const auto& env_vars = object_at(object_at(as_viewer, "runtime_env"), "env_vars");
    BOOST_TEST(env_vars.contains("API_KEY"));
    BOOST_TEST(text(env_vars, "API_KEY") != secret);
    const auto list = json::serialize(f.viewer.get_object("/api/v1/jobs"));
    BOOST_TEST(contains(list, "python train.py"));
    BOOST_TEST(!contains(list, secret), list);
}

BOOST_AUTO_TEST_CASE(stop_ends_a_running_job_once_and_unknown_jobs_are_404)
{
    jobs_fixture f{{"--job-pending-s", "0", "--job-run-s", "3600"}};
    BOOST_TEST_REQUIRE(f.operator_.post("/api/v1/jobs", R"({"entrypoint": "sleep 3600", "submission_id": "long"})").result_int() ==
                       202);
    f.wait_for_job("long", "RUNNING");
    const auto stopped = f.operator_.post("/api/v1/jobs/long/stop", "{}");
    BOOST_TEST_REQUIRE(stopped.result_int() == 200, stopped.body());
    BOOST_TEST(json_object_of(stopped).at("stopped").as_bool());
    f.wait_for_job("long", "STOPPED");
    const auto again = f.operator_.post("/api/v1/jobs/long/stop", "{}");
    BOOST_TEST_REQUIRE(again.result_int() == 200, again.body());
    BOOST_TEST(!json_object_of(again).at("stopped").as_bool());

    for (const auto& res : {f.operator_.post("/api/v1/jobs/nope/stop", "{}"), f.viewer.get("/api/v1/jobs/nope/logs"),
                            f.viewer.get("/api/v1/jobs/nope")}) {
        BOOST_TEST(res.result_int() == 404, res.body());
        BOOST_TEST(error_field_of(res) == "JOB_NOT_FOUND");
    }
}

BOOST_AUTO_TEST_CASE(the_list_filters_by_status_and_refuses_unknown_statuses)
{
    jobs_fixture f;
    BOOST_TEST_REQUIRE(f.operator_.post("/api/v1/jobs", R"({"entrypoint": "echo ok", "submission_id": "good"})").result_int() ==
                       202);
    BOOST_TEST_REQUIRE(f.operator_.post("/api/v1/jobs", R"({"entrypoint": "exit 1", "submission_id": "bad"})").result_int() ==
                       202);
    f.wait_for_job("good", "SUCCEEDED");
    f.wait_for_job("bad", "FAILED");

    auto ids = [&](std::string_view query) {
        std::set<std::string> found;
        const auto body = f.viewer.get_object("/api/v1/jobs" + std::string{query});
        for (const auto& job : body.at("jobs").as_array()) found.insert(text(job.as_object(), "submission_id"));
        BOOST_TEST(integer(body, "total_jobs") == static_cast<std::int64_t>(found.size()));
        return found;
    };
    BOOST_TEST((ids("?status=FAILED") == std::set<std::string>{"bad"}));
    BOOST_TEST((ids("?status=failed,SUCCEEDED") == std::set<std::string>{"bad", "good"}));
    BOOST_TEST(ids("?status=RUNNING").empty());
    BOOST_TEST((ids("") == std::set<std::string>{"bad", "good"}));
    const auto refused = f.viewer.get("/api/v1/jobs?status=DONE");
    BOOST_TEST(refused.result_int() == 400);
    BOOST_TEST(error_field_of(refused) == "INVALID_PARAMETER");
}

BOOST_AUTO_TEST_CASE(submitting_and_stopping_need_the_operator_role_and_refusals_are_audited)
{
    jobs_fixture f;
    const auto refused = f.viewer.post("/api/v1/jobs", R"({"entrypoint": "echo hi"})");
    BOOST_TEST(refused.result_int() == 403, refused.body());
    BOOST_TEST(f.viewer.post("/api/v1/jobs/x/stop", "{}").result_int() == 403);
    const auto counts = f.ray.control(http::verb::get, "/requests").as_object();
    BOOST_TEST(!object_at(counts, "counts").contains("/api/jobs/x/stop"));

    const auto audit = f.admin.get_object("/api/v1/audit?limit=50");
    std::set<std::string> refusals;
    for (const auto& row : audit.at("entries").as_array())
        if (text(row.as_object(), "actor") == "vera") refusals.insert(text(row.as_object(), "action") + " " + text(row.as_object(), "outcome"));
    BOOST_TEST((refusals == std::set<std::string>{"job.submit FORBIDDEN", "job.stop FORBIDDEN"}), json::serialize(audit));
}

BOOST_AUTO_TEST_CASE(invalid_bodies_are_422_naming_the_field_and_never_reach_ray)
{
    jobs_fixture f;
    const std::vector<std::pair<std::string, std::string>> cases = {
        {R"({})", "entrypoint"},
        {R"({"entrypoint": 5})", "entrypoint"},
        {R"({"entrypoint": "x", "priority": 1})", "priority"},
        {R"({"entrypoint": "x", "metadata": {"n": 1}})", "metadata.n"},
        {R"({"entrypoint": "x", "runtime_env": "pip"})", "runtime_env"},
        {R"({"entrypoint": "x", "submission_id": "no spaces"})", "submission_id"},
    };
    for (const auto& [body, field] : cases) {
        const auto res = f.operator_.post("/api/v1/jobs", body);
        BOOST_TEST_CONTEXT(body)
        {
            BOOST_TEST(res.result_int() == 422, res.body());
            BOOST_TEST(error_field_of(res) == "VALIDATION_ERROR");
            BOOST_TEST(text(json_object_of(res), "field") == field);
        }
    }
    const auto fake_state = f.ray.control(http::verb::get, "/state").as_object();
    BOOST_TEST(fake_state.at("jobs").as_array().empty(), json::serialize(fake_state));

    BOOST_TEST_REQUIRE(f.operator_.post("/api/v1/jobs", R"({"entrypoint": "echo", "submission_id": "twice"})").result_int() == 202);
    const auto duplicate = f.operator_.post("/api/v1/jobs", R"({"entrypoint": "echo", "submission_id": "twice"})");
    BOOST_TEST(duplicate.result_int() == 409, duplicate.body());
    BOOST_TEST(error_field_of(duplicate) == "CONFLICT");
    BOOST_TEST(contains(duplicate.body(), "already exists"));
    BOOST_TEST(!contains(duplicate.body(), "Traceback"));
}

BOOST_AUTO_TEST_CASE(with_ray_down_writes_are_503_and_reads_answer_from_the_last_snapshot)
{
    jobs_fixture f;
    BOOST_TEST_REQUIRE(f.operator_.post("/api/v1/jobs", R"({"entrypoint": "echo", "submission_id": "before"})").result_int() ==
                       202);
    f.wait_for_job("before", "SUCCEEDED");
    f.ray.control(http::verb::post, "/fault", R"({"mode": "down"})");

    const auto refused = f.operator_.post("/api/v1/jobs", R"({"entrypoint": "echo"})");
    BOOST_TEST(refused.result_int() == 503, refused.body());
    BOOST_TEST(error_field_of(refused) == "RAY_UNAVAILABLE");
    BOOST_TEST(contains(refused.body(), "ray.dashboard_url"));
    BOOST_TEST(f.viewer.get("/api/v1/jobs/before/logs").result_int() == 503);

    const auto list = f.viewer.wait_until("/api/v1/jobs", [](const json::object& body) {
        return text(object_at(body, "source"), "state") == "UNREACHABLE";
    });
    BOOST_TEST(integer(list, "total_jobs") == 1);
    BOOST_TEST(timestamp_ms(list.at("observed_at")) > 0);
    BOOST_TEST(text(object_at(list, "source"), "last_error") != "");
}

BOOST_AUTO_TEST_CASE(the_cli_submits_lists_shows_stops_and_prints_logs)
{
    jobs_fixture f{{"--job-pending-s", "0", "--job-run-s", "3600"}};
    const env_map as_operator{{"RAYDEPLOY_TOKEN", f.operator_id.token}};
    const std::string server = "http://127.0.0.1:" + std::to_string(f.service.port());

    auto submitted = run_cli({"jobs", "submit", "--entrypoint", "python serve.py", "--submission-id", "cli-job", "--metadata",
                              "owner=cli", "--runtime-env", R"({"env_vars": {"K": "v"}})", "--server", server},
                             as_operator);
    BOOST_TEST_REQUIRE(submitted.exit_code == 0, submitted.err);
    BOOST_TEST(contains(submitted.out, "submitted cli-job"), submitted.out);
    f.wait_for_job("cli-job", "RUNNING");

    const auto listed = run_cli({"jobs", "list", "--server", server}, as_operator);
    BOOST_TEST_REQUIRE(listed.exit_code == 0, listed.err);
    BOOST_TEST(contains(listed.out, "JOB"), listed.out);
    BOOST_TEST(contains(listed.out, "ENTRYPOINT"));
    BOOST_TEST(contains(listed.out, "cli-job"));
    BOOST_TEST(contains(listed.out, "RUNNING"));
    BOOST_TEST(contains(listed.out, "python serve.py"));

    const auto as_json = run_cli({"jobs", "list", "--status", "RUNNING", "--format", "json", "--server", server}, as_operator);
    BOOST_TEST_REQUIRE(as_json.exit_code == 0, as_json.err);
    const auto body = parse_json(as_json.out).as_object();
    BOOST_TEST(integer(body, "total_jobs") == 1);

    const auto shown = run_cli({"jobs", "show", "cli-job", "--server", server}, as_operator);
    BOOST_TEST_REQUIRE(shown.exit_code == 0, shown.err);
    BOOST_TEST(contains(shown.out, "job cli-job: RUNNING"), shown.out);
    BOOST_TEST(contains(shown.out, "owner"));

    const auto logs = run_cli({"jobs", "logs", "cli-job", "--server", server}, as_operator);
    BOOST_TEST_REQUIRE(logs.exit_code == 0, logs.err);
    BOOST_TEST(contains(logs.out, "Running entrypoint for job cli-job"), logs.out);

    const auto stopped = run_cli({"jobs", "stop", "cli-job", "--server", server}, as_operator);
    BOOST_TEST_REQUIRE(stopped.exit_code == 0, stopped.err);
    BOOST_TEST(contains(stopped.out, "stopping cli-job"), stopped.out);

    const auto missing = run_cli({"jobs", "show", "nope", "--server", server}, as_operator);
    BOOST_TEST(missing.exit_code == 2, missing.out << missing.err);
    BOOST_TEST(contains(missing.err, "JOB_NOT_FOUND"), missing.err);

    const auto usage = run_cli({"jobs", "submit", "--server", server}, as_operator);
    BOOST_TEST(usage.exit_code == 2);
    BOOST_TEST(contains(usage.err, "--entrypoint"), usage.err);

    const auto as_viewer = run_cli({"jobs", "submit", "--entrypoint", "x", "--server", server},
                                   {{"RAYDEPLOY_TOKEN", f.viewer_id.token}});
    BOOST_TEST(as_viewer.exit_code == 5, as_viewer.err);
}

BOOST_AUTO_TEST_SUITE_END()
