// Suite live_impact: an approval of a destructive checkpoint shows the Ray work it would end. The
// service watches the project's fake Ray dashboard (tests/fake_ray/fake_ray_dashboard.py), where a
// test submits a long job or deploys a Serve application; the fixture pipeline
// (tests/fixtures/ansible/pipeline.yaml) has gate-destructive (gated, destructive) and gate-light
// (gated, not destructive).
#include "support/fake_ray_support.hpp"
#include "support/test_support.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

using namespace raydeploy::test;
namespace json = boost::json;

namespace {

const fs::path fixtures = source_dir() / "tests" / "fixtures" / "ansible";

// Work on the fake Ray, submitted or deployed there directly (not through raydeploy).
void submit_job(const fake_ray& ray, std::string_view submission_id, std::string_view entrypoint)
{
    const json::object body{{"entrypoint", entrypoint}, {"submission_id", submission_id}};
    const auto res = ray.ray(http::verb::post, "/api/jobs/", json::serialize(body));
    BOOST_TEST_REQUIRE(res.result_int() == 200, res.body());
}

void deploy_application(const fake_ray& ray, std::string_view name, std::string_view route_prefix)
{
    const json::object config{
        {"applications", json::array{json::object{{"name", name}, {"route_prefix", route_prefix}, {"import_path", "app:main"}}}}};
    const auto res = ray.ray(http::verb::put, "/api/serve/applications/", json::serialize(config));
    BOOST_TEST_REQUIRE(res.result_int() == 200, res.body());
}

struct team {
    test_identity operator_ = make_identity("otto", "operator");
    test_identity approver = make_identity("alice", "approver");
    test_identity admin = make_identity("ada", "admin");
};

// A service with tokens watching `ray`, polling it often so tests see changes within a second.
struct watching_service {
    // Jobs stay RUNNING and applications come up at once.
    fake_ray ray{{"--job-pending-s", "0", "--job-run-s", "3600", "--serve-deploy-s", "0"}};
    team who;
    service_process service{options()};
    api_client otto{service.port(), who.operator_};
    api_client alice{service.port(), who.approver};
    api_client ada{service.port(), who.admin};

    service_options options() const
    {
        auto options = fixture_service_options({{"RAYDEPLOY_AUTH_TOKENS", auth_tokens_env({who.operator_, who.approver, who.admin})},
                                                {"RAYDEPLOY_RAY_DASHBOARD_URL", ray.dashboard_url()},
                                                {"RAYDEPLOY_RAY_POLL_INTERVAL", "200ms"},
                                                {"RAYDEPLOY_RAY_REQUEST_TIMEOUT", "2s"}});
        options.catalog = fixtures / "pipeline.yaml";
        return options;
    }

    // Waits until the checkpoint's live impact now (GET /api/v1/approvals/{checkpoint}) satisfies `done`.
    json::object wait_live_impact(std::string_view checkpoint, const std::function<bool(const json::object&)>& done) const
    {
        return otto
            .wait_until("/api/v1/approvals/" + std::string{checkpoint},
                        [&](const json::object& check) {
                            const auto* impact = check.if_contains("live_impact");
                            return impact && impact->is_object() && done(impact->get_object());
                        })
            .at("live_impact")
            .as_object();
    }
};

std::vector<std::string> listed(const json::object& impact, std::string_view list, std::string_view key)
{
    std::vector<std::string> values;
    for (const auto& item : impact.at(list).as_array()) values.push_back(text(item.as_object(), key));
    return values;
}

// The live impact lists the job and the application, both RUNNING (the fake starts them at once).
bool lists_work(const json::object& impact)
{
    const auto running = [&](std::string_view list) {
        const auto& items = impact.at(list).as_array();
        return !items.empty() && text(items[0].as_object(), "status") == "RUNNING";
    };
    return impact.at("fresh").as_bool() && running("jobs") && running("applications");
}

const std::string destructive_grant = R"({"reason": "CHG-77 replace the cluster", "acknowledge_risks": true)";

std::string grant_body(const std::string& approval_id, bool acknowledge_running_work)
{
    return destructive_grant + R"(, "approval_id": ")" + approval_id + "\"" +
           (acknowledge_running_work ? R"(, "acknowledge_running_work": true})" : "}");
}

// The 409 APPROVAL_REQUIRED of a run of `checkpoint`: its body.
json::object approval_required(const api_client& client, std::string_view checkpoint)
{
    const auto res = client.post("/api/v1/checkpoints/" + std::string{checkpoint}, "{}");
    BOOST_TEST_REQUIRE(res.result_int() == 409, res.body());
    BOOST_TEST_REQUIRE(error_field_of(res) == "APPROVAL_REQUIRED", res.body());
    return json_object_of(res);
}

bool contains(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }

}  // namespace

BOOST_AUTO_TEST_SUITE(live_impact)

BOOST_AUTO_TEST_CASE(running_work_is_shown_and_a_grant_must_acknowledge_it)
{
    watching_service s;
    submit_job(s.ray, "raysubmit_train1", "python train.py --epochs 90");
    deploy_application(s.ray, "llm", "/llm");
    s.wait_live_impact("gate-destructive", lists_work);

    // The refusal of the run shows what would end, and the grant it suggests acknowledges it.
    const json::object refusal = approval_required(s.otto, "gate-destructive");
    const std::string approval_id = text(refusal, "approval_id");
    const json::object& shown = object_at(object_at(refusal, "approval_info"), "live_impact");
    BOOST_TEST_CONTEXT(json::serialize(refusal))
    {
        BOOST_TEST(shown.at("fresh").as_bool());
        BOOST_TEST(text(shown, "source_state") == "CONNECTED");
        BOOST_TEST(timestamp_ms(shown.at("observed_at")) > 0);
        BOOST_TEST(listed(shown, "jobs", "submission_id") == std::vector<std::string>{"raysubmit_train1"},
                   boost::test_tools::per_element());
        BOOST_TEST(listed(shown, "jobs", "entrypoint") == std::vector<std::string>{"python train.py --epochs 90"},
                   boost::test_tools::per_element());
        BOOST_TEST(listed(shown, "applications", "name") == std::vector<std::string>{"llm"},
                   boost::test_tools::per_element());
        BOOST_TEST(listed(shown, "applications", "route_prefix") == std::vector<std::string>{"/llm"},
                   boost::test_tools::per_element());
        BOOST_TEST(text(shown, "summary") == "1 running Ray job and 1 Serve application will end");
        BOOST_TEST(contains(text(refusal, "message"), "\"acknowledge_running_work\":true"));
        BOOST_TEST(contains(text(refusal, "message"), "job raysubmit_train1"));
    }

    // The pending request keeps what it showed, for whoever decides it.
    const json::object approvals = s.alice.get_object("/api/v1/approvals");
    const auto& pending = approvals.at("pending").as_array();
    BOOST_TEST_REQUIRE(pending.size() == 1u, json::serialize(approvals));
    BOOST_TEST(pending[0].at("live_impact").as_object() == shown, json::serialize(approvals));

    // Without the acknowledgement: 422 naming the field, listing the work and how to acknowledge it.
    const auto refused = s.alice.post("/api/v1/approvals/gate-destructive", grant_body(approval_id, false));
    BOOST_TEST_REQUIRE(refused.result_int() == 422, refused.body());
    const json::object error = json_object_of(refused);
    BOOST_TEST(text(error, "field") == "acknowledge_running_work");
    BOOST_TEST(contains(text(error, "message"), "job raysubmit_train1 (RUNNING: python train.py --epochs 90)"), refused.body());
    BOOST_TEST(contains(text(error, "message"), "Serve application llm (RUNNING, /llm)"), refused.body());
    BOOST_TEST(contains(text(error, "message"), "--acknowledge-running-work"), refused.body());
    BOOST_TEST(listed(object_at(error, "live_impact"), "jobs", "submission_id") ==
                   std::vector<std::string>{"raysubmit_train1"},
               boost::test_tools::per_element());
    // The CLI without its flag is refused the same way, and says which flag it needs.
    const env_map as_alice{{"RAYDEPLOY_TOKEN", s.who.approver.token}};
    const std::vector<std::string> approve{"approve",   "gate-destructive", "--id", approval_id, "--reason", "CHG-77",
                                           "--acknowledge-risks", "--server",
                                           "http://127.0.0.1:" + std::to_string(s.service.port())};
    const auto without_flag = run_cli(approve, as_alice);
    BOOST_TEST(without_flag.exit_code != 0, without_flag.out);
    BOOST_TEST(contains(without_flag.err, "--acknowledge-running-work"), without_flag.err);

    // With it, through the CLI: granted, recorded as acknowledged, and the run proceeds.
    auto with_flag = approve;
    with_flag.push_back("--acknowledge-running-work");
    const auto granted = run_cli(with_flag, as_alice);
    BOOST_TEST_REQUIRE(granted.exit_code == 0, granted.err);
    const json::object after = s.alice.get_object("/api/v1/approvals/gate-destructive");
    const auto& grants = after.at("grants").as_array();
    BOOST_TEST_REQUIRE(grants.size() == 1u, json::serialize(after));
    BOOST_TEST(grants[0].at("acknowledge_running_work").as_bool());
    BOOST_TEST(grants[0].at("live_impact").as_object() == shown);

    const auto started = s.otto.post("/api/v1/checkpoints/gate-destructive", "{}");
    BOOST_TEST_REQUIRE(started.result_int() == 202, started.body());
    const std::string execution = text(json_object_of(started), "execution_id");
    const json::object done = s.otto.wait_until("/api/v1/executions/" + execution, [](const json::object& e) {
        return is_final_status(text(e, "status"));
    });
    BOOST_TEST(text(done, "status") == "succeeded", json::serialize(done));

    // The event of the request carried it too: the stream shows what the approver was shown.
    const auto requested = replay_events(s.otto, "types=approval.requested");
    BOOST_TEST_REQUIRE(requested.size() == 1u);
    BOOST_TEST(requested[0].at("live_impact").as_object() == shown, json::serialize(requested[0]));
}

BOOST_AUTO_TEST_CASE(a_pre_approval_acknowledges_the_work_running_when_it_is_granted)
{
    watching_service s;
    submit_job(s.ray, "raysubmit_batch", "python batch.py");
    s.wait_live_impact("gate-destructive", [](const json::object& impact) {
        return impact.at("fresh").as_bool() && !impact.at("jobs").as_array().empty();
    });
    const auto refused = s.alice.post("/api/v1/approvals/gate-destructive", destructive_grant + "}");
    BOOST_TEST_REQUIRE(refused.result_int() == 422, refused.body());
    BOOST_TEST(text(json_object_of(refused), "field") == "acknowledge_running_work");

    const auto granted =
        s.alice.post("/api/v1/approvals/gate-destructive", destructive_grant + R"(, "acknowledge_running_work": true})");
    BOOST_TEST_REQUIRE(granted.result_int() == 201, granted.body());
    const json::object grant = json_object_of(granted);
    BOOST_TEST(text(grant, "scope") == "anyone");
    BOOST_TEST(listed(object_at(grant, "live_impact"), "jobs", "submission_id") ==
                   std::vector<std::string>{"raysubmit_batch"},
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_deployment_waiting_at_the_gate_shows_the_work_and_its_command_acknowledges_it)
{
    watching_service s;
    deploy_application(s.ray, "llm", "/llm");
    s.wait_live_impact("gate-destructive", [](const json::object& impact) {
        return impact.at("fresh").as_bool() && !impact.at("applications").as_array().empty();
    });
    const auto created = s.otto.post("/api/v1/deployments", R"({"checkpoints": ["gate-destructive"]})");
    BOOST_TEST_REQUIRE(created.result_int() == 202, created.body());
    const std::string id = text(json_object_of(created), "deployment_id");
    const json::object deployment = s.otto.wait_until("/api/v1/deployments/" + id, [](const json::object& d) {
        return text(d, "status") == "awaiting_approval";
    });
    const json::object& awaiting = object_at(deployment, "awaiting");
    BOOST_TEST(listed(object_at(awaiting, "live_impact"), "applications", "name") == std::vector<std::string>{"llm"},
               boost::test_tools::per_element());
    BOOST_TEST(contains(text(awaiting, "approve_command"), R"("acknowledge_running_work":true)"),
               text(awaiting, "approve_command"));
}

BOOST_AUTO_TEST_CASE(auto_approve_stops_at_a_destructive_gate_that_would_end_running_work)
{
    watching_service s;
    submit_job(s.ray, "raysubmit_nightly", "python nightly.py");
    s.wait_live_impact("gate-destructive", [](const json::object& impact) {
        return impact.at("fresh").as_bool() && !impact.at("jobs").as_array().empty();
    });
    const auto created =
        s.ada.post("/api/v1/deployments", R"({"checkpoints": ["gate-light", "gate-destructive"], "auto_approve": true})");
    BOOST_TEST_REQUIRE(created.result_int() == 202, created.body());
    const std::string id = text(json_object_of(created), "deployment_id");

    // The light gate is granted by the pipeline; the destructive one waits for a person.
    const json::object waiting = s.ada.wait_until("/api/v1/deployments/" + id, [](const json::object& d) {
        return text(d, "status") == "awaiting_approval";
    });
    BOOST_TEST_CONTEXT(json::serialize(waiting))
    {
        const json::object& awaiting = object_at(waiting, "awaiting");
        BOOST_TEST(text(awaiting, "checkpoint") == "gate-destructive");
        BOOST_TEST(contains(text(waiting, "status_reason"), "auto_approve does not grant 'gate-destructive'"));
        BOOST_TEST(contains(text(waiting, "status_reason"), "raysubmit_nightly"));
        BOOST_TEST(contains(text(waiting, "status_reason"), "acknowledge_running_work"));
        BOOST_TEST(listed(object_at(awaiting, "live_impact"), "jobs", "submission_id") ==
                       std::vector<std::string>{"raysubmit_nightly"},
                   boost::test_tools::per_element());
    }
    const auto& steps = waiting.at("steps").as_array();
    BOOST_TEST_REQUIRE(steps.size() == 2u, json::serialize(waiting));
    BOOST_TEST(text(steps[0].as_object(), "status") == "succeeded", json::serialize(steps[0]));

    // A person's grant that acknowledges the work lets it go on, and the explanation goes with the wait.
    const std::string approval_id = text(object_at(waiting, "awaiting"), "approval_id");
    const auto granted = s.alice.post("/api/v1/approvals/gate-destructive", grant_body(approval_id, true));
    BOOST_TEST_REQUIRE(granted.result_int() == 201, granted.body());
    const json::object done = s.ada.wait_until("/api/v1/deployments/" + id, [](const json::object& d) {
        return text(d, "status") == "succeeded" || text(d, "status") == "failed";
    });
    BOOST_TEST(text(done, "status") == "succeeded", json::serialize(done));
    BOOST_TEST(done.at("status_reason").is_null(), json::serialize(done));
}

BOOST_AUTO_TEST_CASE(with_the_dashboard_down_the_state_is_unknown_and_no_acknowledgement_is_asked)
{
    watching_service s;
    submit_job(s.ray, "raysubmit_hidden", "python hidden.py");
    s.wait_live_impact("gate-destructive", [](const json::object& impact) {
        return impact.at("fresh").as_bool() && !impact.at("jobs").as_array().empty();
    });
    s.ray.set_fault("down");
    s.wait_live_impact("gate-destructive",
                       [](const json::object& impact) { return text(impact, "source_state") == "UNREACHABLE"; });

    const json::object refusal = approval_required(s.otto, "gate-destructive");
    const json::object& shown = object_at(object_at(refusal, "approval_info"), "live_impact");
    BOOST_TEST_CONTEXT(json::serialize(refusal))
    {
        BOOST_TEST(!shown.at("fresh").as_bool());
        BOOST_TEST(shown.at("jobs").as_array().empty());
        BOOST_TEST(contains(text(shown, "note"), "the cluster's state is unknown: raydeploy could not read the Ray "
                                                 "dashboard since "));
        BOOST_TEST(contains(text(shown, "note"), "check what runs before approving"));
        // It does not claim that nothing runs: it says what it last saw.
        BOOST_TEST(contains(text(shown, "summary"), "Ray listed 1 running Ray job"));
        BOOST_TEST(contains(text(refusal, "message"), "the cluster's state is unknown"));
        BOOST_TEST(!contains(text(refusal, "message"), "acknowledge_running_work"));
    }
    const auto granted =
        s.alice.post("/api/v1/approvals/gate-destructive", grant_body(text(refusal, "approval_id"), false));
    BOOST_TEST(granted.result_int() == 201, granted.body());
}

BOOST_AUTO_TEST_CASE(a_gated_checkpoint_that_is_not_destructive_gets_no_live_impact)
{
    watching_service s;
    submit_job(s.ray, "raysubmit_other", "python other.py");
    s.wait_live_impact("gate-destructive", [](const json::object& impact) {
        return impact.at("fresh").as_bool() && !impact.at("jobs").as_array().empty();
    });
    const json::object refusal = approval_required(s.otto, "gate-light");
    BOOST_TEST(!object_at(refusal, "approval_info").contains("live_impact"), json::serialize(refusal));
    const json::object check = s.otto.get_object("/api/v1/approvals/gate-light");
    BOOST_TEST(!check.contains("live_impact"), json::serialize(check));
    const auto& pending = check.at("pending_requests").as_array();
    BOOST_TEST_REQUIRE(pending.size() == 1u);
    BOOST_TEST(pending[0].at("live_impact").is_null());
    const auto granted = s.alice.post("/api/v1/approvals/gate-light",
                                      R"({"reason": "ok", "approval_id": ")" + text(refusal, "approval_id") + "\"}");
    BOOST_TEST(granted.result_int() == 201, granted.body());
}

BOOST_AUTO_TEST_SUITE_END()
