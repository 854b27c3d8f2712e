// Suite deployments: whole pipelines over real HTTP against the real binary, with the test
// pipeline tests/fixtures/ansible/pipeline.yaml: first, gate-light (gated), gate-destructive
// (gated, destructive) and needs-marker (fails until the file named by FIXTURE_MARKER
// exists). Gates, denial, failure, resume, cancel, auto_approve, the seeds' cluster status and a
// restart while a deployment waits for an approval.
#include "support/test_support.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <csignal>
#include <fstream>

using namespace raydeploy::test;
namespace json = boost::json;

namespace {

const fs::path fixtures = source_dir() / "tests" / "fixtures" / "ansible";
const std::vector<std::string> pipeline = {"first", "gate-light", "gate-destructive", "needs-marker"};
constexpr auto step_timeout = 90s;  // a few ansible-playbook runs on a loaded machine

struct team {
    test_identity viewer = make_identity("vera", "viewer");
    test_identity operator_ = make_identity("otto", "operator");
    test_identity approver = make_identity("alice", "approver");
    test_identity admin = make_identity("ada", "admin");

    std::string tokens() const { return auth_tokens_env({viewer, operator_, approver, admin}); }
};

// A service running the pipeline, with tokens, whose needs-marker checks `marker`.
service_options pipeline_options(const team& who, const fs::path& marker)
{
    auto options = fixture_service_options({{"RAYDEPLOY_AUTH_TOKENS", who.tokens()},
                                            {"FIXTURE_MARKER", marker.string()},
                                            {"RAYDEPLOY_EXECUTOR_PASS_ENV", "FIXTURE_MARKER"}});
    options.catalog = fixtures / "pipeline.yaml";
    return options;
}

struct clients {
    api_client viewer, otto, alice, admin;
    clients(std::uint16_t port, const team& who)
        : viewer{port, who.viewer}, otto{port, who.operator_}, alice{port, who.approver}, admin{port, who.admin}
    {
    }
};

std::string field_of(const response& res)
{
    const json::object body = json_object_of(res);
    return body.contains("field") ? text(body, "field") : "<no field in " + res.body() + ">";
}

std::vector<std::string> strings_of(const json::value& value)
{
    std::vector<std::string> out;
    if (!value.is_array()) return {"<not an array: " + json::serialize(value) + ">"};
    for (const auto& item : value.as_array()) out.push_back(text(item));
    return out;
}

const json::object& step(const json::object& deployment, std::size_t index)
{
    return deployment.at("steps").as_array().at(index).as_object();
}

std::vector<std::string> step_statuses(const json::object& deployment)
{
    std::vector<std::string> out;
    for (const auto& item : deployment.at("steps").as_array()) out.push_back(text(item.as_object(), "status"));
    return out;
}

std::string awaiting_checkpoint(const json::object& deployment)
{
    const auto& awaiting = deployment.at("awaiting");
    return awaiting.is_object() ? text(awaiting.as_object(), "checkpoint") : "";
}

// Like start_deployment (test_support), checking the answer's id and Location too.
std::string start_checked_deployment(const api_client& client, std::string body)
{
    const auto res = client.post("/api/v1/deployments", std::move(body));
    BOOST_TEST_REQUIRE(res.result_int() == 202, res.body());
    const json::object answer = json_object_of(res);
    const std::string id = text(answer, "deployment_id");
    BOOST_TEST_REQUIRE(id.starts_with("dp-"), res.body());
    BOOST_TEST(std::string{res[http::field::location]} == "/api/v1/deployments/" + id);
    return id;
}

// Waits until the deployment waits for an approval of `checkpoint`.
json::object wait_awaiting(const api_client& client, const std::string& id, std::string_view checkpoint)
{
    return client.wait_until(
        "/api/v1/deployments/" + id,
        [&](const json::object& d) {
            return (text(d, "status") == "awaiting_approval" && awaiting_checkpoint(d) == checkpoint) ||
                   text(d, "status") == "succeeded" || text(d, "status") == "failed" || text(d, "status") == "cancelled";
        },
        step_timeout);
}

// Waits until the deployment has finished (succeeded, failed, cancelled).
json::object wait_finished(const api_client& client, const std::string& id)
{
    return client.wait_until(
        "/api/v1/deployments/" + id,
        [](const json::object& d) {
            const std::string status = text(d, "status");
            return status == "succeeded" || status == "failed" || status == "cancelled";
        },
        step_timeout);
}

void check_awaiting(const json::object& deployment, std::string_view checkpoint, std::uint16_t port, bool destructive)
{
    BOOST_TEST_CONTEXT("deployment: " << json::serialize(deployment))
    {
        BOOST_TEST_REQUIRE(text(deployment, "status") == "awaiting_approval");
        BOOST_TEST(text(deployment, "current_checkpoint") == checkpoint);
        const json::object& awaiting = object_at(deployment, "awaiting");
        BOOST_TEST(text(awaiting, "checkpoint") == checkpoint);
        BOOST_TEST(text(awaiting, "approval_id").starts_with("ap-"));
        BOOST_TEST(awaiting.at("destructive") == json::value(destructive));
        BOOST_TEST(awaiting.at("impact_summary").is_array());
        const std::string command = text(awaiting, "approve_command");
        const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/api/v1/approvals/" + std::string{checkpoint};
        BOOST_TEST(command.find(url) != std::string::npos, command);
        BOOST_TEST(command.starts_with("curl "), command);
        BOOST_TEST(command.find("Authorization: Bearer") != std::string::npos, command);
        BOOST_TEST((command.find("acknowledge_risks") != std::string::npos) == destructive, command);
    }
}

json::object cluster_status(const api_client& client) { return client.get_object("/api/v1/cluster/status"); }

std::vector<json::object> audit_rows(const api_client& admin)
{
    const json::object body = admin.get_object("/api/v1/audit?limit=1000");
    std::vector<json::object> rows;
    for (const auto& item : body.at("entries").as_array()) rows.push_back(item.as_object());
    return rows;
}

std::string rows_text(const std::vector<json::object>& rows)
{
    std::string out;
    for (const auto& row : rows) out += "\n  " + json::serialize(row);
    return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(deployments)

// The whole life of one deployment: gate, approval, denial, resume, failure, fix, resume, done.
BOOST_AUTO_TEST_CASE(waits_at_gates_stops_at_failures_and_resumes)
{
    const team who;
    const temp_dir scratch{"raydeploy-deployments"};
    const fs::path marker = scratch.path() / "marker";
    service_process service{pipeline_options(who, marker)};
    const auto port = service.port();
    const clients c{port, who};

    BOOST_TEST_CONTEXT("a fresh store")
    {
        const json::object status = cluster_status(c.viewer);
        BOOST_TEST(text(status, "deployment_status") == "NOT_STARTED");
        BOOST_TEST(strings_of(status.at("completed_checkpoints")).empty());
        BOOST_TEST(integer(status, "total_checkpoints") == 4);
        BOOST_TEST(status.at("deployment_id").is_null());
        BOOST_TEST(text(object_at(status, "cluster_health"), "overall_status") == "UNKNOWN");
        const json::object list = c.viewer.get_object("/api/v1/deployments");
        BOOST_TEST(list.at("deployments") == json::array{});
        BOOST_TEST(list.at("next_cursor").is_null());
        const auto missing = c.viewer.get("/api/v1/deployments/dp-nope");
        BOOST_TEST(missing.result_int() == 404);
        BOOST_TEST(error_field_of(missing) == "DEPLOYMENT_NOT_FOUND");
    }

    BOOST_TEST_CONTEXT("refused requests start nothing")
    {
        struct refusal {
            std::string body;
            std::string field;
        };
        const std::vector<refusal> refusals = {
            {R"({"checkpoints": ["no-such-checkpoint"]})", "checkpoints[0]"},
            {R"({"checkpoints": ["first", "nope"]})", "checkpoints[1]"},
            {R"({"checkpoints": ["first", "first"]})", "checkpoints[1]"},
            {R"({"checkpoints": []})", "checkpoints"},
            {R"({"checkpoints": "first"})", "checkpoints"},
            {R"({"checkpoints": [3]})", "checkpoints[0]"},
            {R"({"checkpoints": ["first", "gate-light"], "start_from": "needs-marker"})", "start_from"},
            {R"({"start_from": "nope"})", "start_from"},
            {R"({"auto_approve": "yes"})", "auto_approve"},
            {R"({"bogus": 1})", "bogus"},
        };
        for (const auto& item : refusals) {
            const auto res = c.otto.post("/api/v1/deployments", item.body);
            BOOST_TEST(res.result_int() == 422, item.body << " -> " << res.body());
            BOOST_TEST(error_field_of(res) == "VALIDATION_ERROR", item.body);
            if (res.result_int() == 422) BOOST_TEST(field_of(res) == item.field, item.body);
        }
        const auto auto_by_operator = c.otto.post("/api/v1/deployments", R"({"auto_approve": true})");
        BOOST_TEST(auto_by_operator.result_int() == 403, auto_by_operator.body());
        BOOST_TEST(error_field_of(auto_by_operator) == "FORBIDDEN");
        const auto by_viewer = c.viewer.post("/api/v1/deployments", "{}");
        BOOST_TEST(by_viewer.result_int() == 403, by_viewer.body());
        BOOST_TEST(c.viewer.get_object("/api/v1/deployments").at("deployments") == json::array{});
        BOOST_TEST(c.viewer.get_object("/api/v1/executions").at("executions") == json::array{});
    }

    // Without a body: every checkpoint of the catalog, in order.
    const std::string id = start_checked_deployment(c.otto, "");
    const std::string target = "/api/v1/deployments/" + id;
    {
        const json::object created = c.viewer.get_object(target);
        BOOST_TEST(strings_of(created.at("checkpoints")) == pipeline, boost::test_tools::per_element());
        BOOST_TEST(text(created, "requested_by") == "otto");
        BOOST_TEST(created.at("auto_approve") == json::value(false));
        BOOST_TEST(created.at("steps").as_array().size() == 4u);
        for (std::size_t i = 0; i < 4 && i < created.at("steps").as_array().size(); ++i)
            BOOST_TEST(text(step(created, i), "checkpoint") == pipeline[i]);
    }

    const auto second = c.otto.post("/api/v1/deployments", R"({"checkpoints": ["first"]})");
    BOOST_TEST(second.result_int() == 409, second.body());
    BOOST_TEST(error_field_of(second) == "DEPLOYMENT_ACTIVE");
    if (second.result_int() == 409) BOOST_TEST(text(json_object_of(second), "deployment_id") == id);

    // Gate 1: gate-light, after first succeeded.
    const json::object at_light = wait_awaiting(c.viewer, id, "gate-light");
    check_awaiting(at_light, "gate-light", port, false);
    BOOST_TEST(step_statuses(at_light) == (std::vector<std::string>{"succeeded", "awaiting_approval", "pending", "pending"}),
               boost::test_tools::per_element());
    const std::string first_execution = text(step(at_light, 0), "execution_id");
    BOOST_TEST_CONTEXT("the gate's request and the cluster status while waiting")
    {
        const json::object approvals = c.viewer.get_object("/api/v1/approvals");
        const auto& pending = approvals.at("pending").as_array();
        BOOST_TEST_REQUIRE(pending.size() == 1u, json::serialize(approvals));
        BOOST_TEST(text(pending[0].as_object(), "id") == text(object_at(at_light, "awaiting"), "approval_id"));
        BOOST_TEST(text(pending[0].as_object(), "checkpoint") == "gate-light");
        BOOST_TEST(text(pending[0].as_object(), "deployment_id") == id);
        BOOST_TEST(text(pending[0].as_object(), "requested_by") == "otto");

        const json::object status = cluster_status(c.viewer);
        BOOST_TEST(text(status, "deployment_status") == "AWAITING_APPROVAL");
        BOOST_TEST(strings_of(status.at("completed_checkpoints")) == std::vector<std::string>{"first"},
                   boost::test_tools::per_element());
        BOOST_TEST(text(status, "deployment_id") == id);

        const json::object execution = c.viewer.get_object("/api/v1/executions/" + first_execution);
        BOOST_TEST(text(execution, "deployment_id") == id);
        BOOST_TEST(text(execution, "requested_by") == "otto");
        BOOST_TEST(text(execution, "status") == "succeeded");
    }

    // Approving lets it go on, to the destructive gate.
    const auto light = c.alice.post("/api/v1/approvals/gate-light", R"({"reason": "looks fine"})");
    BOOST_TEST_REQUIRE(light.result_int() == 201, light.body());
    const json::object at_destructive = wait_awaiting(c.viewer, id, "gate-destructive");
    check_awaiting(at_destructive, "gate-destructive", port, true);
    BOOST_TEST(step_statuses(at_destructive) ==
                   (std::vector<std::string>{"succeeded", "succeeded", "awaiting_approval", "pending"}),
               boost::test_tools::per_element());
    const std::string light_execution = text(step(at_destructive, 1), "execution_id");
    BOOST_TEST(text(c.viewer.get_object("/api/v1/executions/" + light_execution), "approval_id") ==
               text(json_object_of(light), "id"));
    const std::string denied_request = text(object_at(at_destructive, "awaiting"), "approval_id");

    // Denied: the deployment fails closed at the gate.
    const auto deny = c.alice.post("/api/v1/approvals/gate-destructive/deny", R"({"reason": "not today"})");
    BOOST_TEST_REQUIRE(deny.result_int() == 200, deny.body());
    const json::object denied = wait_finished(c.viewer, id);
    BOOST_TEST_CONTEXT("after the denial: " << json::serialize(denied))
    {
        BOOST_TEST(text(denied, "status") == "failed");
        BOOST_TEST(text(denied, "failed_checkpoint") == "gate-destructive");
        BOOST_TEST(step_statuses(denied) == (std::vector<std::string>{"succeeded", "succeeded", "denied", "pending"}),
                   boost::test_tools::per_element());
        BOOST_TEST(denied.at("awaiting").is_null());
        BOOST_TEST(text(denied, "status_reason").find("not today") != std::string::npos);
        BOOST_TEST(text(cluster_status(c.viewer), "deployment_status") == "FAILED");
    }
    // Nobody waits for its request any more: it is withdrawn, not left for someone to grant.
    const json::object approvals = c.viewer.get_object("/api/v1/approvals");
    BOOST_TEST(approvals.at("pending") == json::array{}, json::serialize(approvals));

    // Resume: it waits at the same gate again, with a new request.
    const auto resumed = c.otto.post(target + "/resume");
    BOOST_TEST_REQUIRE(resumed.result_int() == 202, resumed.body());
    const json::object again = wait_awaiting(c.viewer, id, "gate-destructive");
    check_awaiting(again, "gate-destructive", port, true);
    BOOST_TEST(text(object_at(again, "awaiting"), "approval_id") != denied_request);
    BOOST_TEST(text(step(again, 0), "execution_id") == first_execution);
    BOOST_TEST(text(step(again, 1), "execution_id") == light_execution);

    // Approved (destructive: with acknowledge_risks), then needs-marker fails.
    const auto destructive = c.alice.post("/api/v1/approvals/gate-destructive",
                                          R"({"reason": "CHG-7", "acknowledge_risks": true})");
    BOOST_TEST_REQUIRE(destructive.result_int() == 201, destructive.body());
    const json::object failed = wait_finished(c.viewer, id);
    std::string destructive_execution, failed_execution;
    BOOST_TEST_CONTEXT("after needs-marker failed: " << json::serialize(failed))
    {
        BOOST_TEST_REQUIRE(text(failed, "status") == "failed");
        BOOST_TEST(text(failed, "failed_checkpoint") == "needs-marker");
        BOOST_TEST(step_statuses(failed) == (std::vector<std::string>{"succeeded", "succeeded", "succeeded", "failed"}),
                   boost::test_tools::per_element());
        BOOST_TEST(text(step(failed, 0), "execution_id") == first_execution);
        BOOST_TEST(text(step(failed, 1), "execution_id") == light_execution);
        destructive_execution = text(step(failed, 2), "execution_id");
        failed_execution = text(step(failed, 3), "execution_id");
        BOOST_TEST(text(failed, "status_reason").find("needs-marker") != std::string::npos);
        BOOST_TEST(text(c.viewer.get_object("/api/v1/executions/" + failed_execution), "status") == "failed");
        const json::object status = cluster_status(c.viewer);
        BOOST_TEST(text(status, "deployment_status") == "FAILED");
        BOOST_TEST(strings_of(status.at("completed_checkpoints")) ==
                       (std::vector<std::string>{"first", "gate-light", "gate-destructive"}),
                   boost::test_tools::per_element());
    }

    // Fix the cause and resume: only needs-marker runs again.
    { std::ofstream{marker} << "fixed\n"; }
    const auto resumed_again = c.otto.post(target + "/resume");
    BOOST_TEST_REQUIRE(resumed_again.result_int() == 202, resumed_again.body());
    const json::object done = wait_finished(c.viewer, id);
    BOOST_TEST_CONTEXT("after the second resume: " << json::serialize(done))
    {
        BOOST_TEST_REQUIRE(text(done, "status") == "succeeded");
        BOOST_TEST(step_statuses(done) == (std::vector<std::string>(4, "succeeded")), boost::test_tools::per_element());
        BOOST_TEST(text(step(done, 0), "execution_id") == first_execution);
        BOOST_TEST(text(step(done, 1), "execution_id") == light_execution);
        BOOST_TEST(text(step(done, 2), "execution_id") == destructive_execution);
        BOOST_TEST(text(step(done, 3), "execution_id") != failed_execution);
        BOOST_TEST(done.at("failed_checkpoint").is_null());
        BOOST_TEST(done.at("current_checkpoint").is_null());
        BOOST_TEST(done.at("awaiting").is_null());
        BOOST_TEST(!done.at("finished_at").is_null());
        const json::object status = cluster_status(c.viewer);
        BOOST_TEST(text(status, "deployment_status") == "COMPLETED");
        BOOST_TEST(strings_of(status.at("completed_checkpoints")) == pipeline, boost::test_tools::per_element());
    }

    const auto nothing = c.otto.post(target + "/resume");
    BOOST_TEST(nothing.result_int() == 409, nothing.body());
    BOOST_TEST(error_field_of(nothing) == "NOTHING_TO_RESUME");
    const auto cancel = c.otto.post(target + "/cancel");
    BOOST_TEST(cancel.result_int() == 409, cancel.body());
    BOOST_TEST(error_field_of(cancel) == "ALREADY_FINISHED");

    BOOST_TEST_CONTEXT("every execution of the deployment names it and its requester")
    {
        const json::object list = c.viewer.get_object("/api/v1/executions?limit=100");
        std::size_t count = 0;
        for (const auto& item : list.at("executions").as_array()) {
            const json::object& execution = item.as_object();
            BOOST_TEST(text(execution, "deployment_id") == id, json::serialize(execution));
            BOOST_TEST(text(execution, "requested_by") == "otto", json::serialize(execution));
            ++count;
        }
        BOOST_TEST(count == 5u, "first, gate-light, gate-destructive and needs-marker twice: " << json::serialize(list));
    }
    BOOST_TEST_CONTEXT("listing")
    {
        const json::object succeeded = c.viewer.get_object("/api/v1/deployments?status=succeeded");
        BOOST_TEST(succeeded.at("deployments").as_array().size() == 1u);
        BOOST_TEST(c.viewer.get_object("/api/v1/deployments?status=failed").at("deployments") == json::array{});
        const auto bad = c.viewer.get("/api/v1/deployments?status=bogus");
        BOOST_TEST(bad.result_int() == 400, bad.body());
    }
    BOOST_TEST_CONTEXT("stored deployment events")
    {
        const auto events = replay_events(c.viewer, "types=deployment.*");
        std::vector<std::string> gates;
        std::string last_status;
        for (const auto& event : events) {
            BOOST_TEST(text(event, "deployment_id") == id, json::serialize(event));
            if (text(event, "type") == "deployment.awaiting_approval") {
                gates.push_back(text(event, "checkpoint"));
                BOOST_TEST(text(event, "approval_id").starts_with("ap-"), json::serialize(event));
                BOOST_TEST(text(event, "approve_command").starts_with("curl "), json::serialize(event));
            }
            if (text(event, "type") == "deployment.status") last_status = text(event, "status");
        }
        BOOST_TEST(gates == (std::vector<std::string>{"gate-light", "gate-destructive", "gate-destructive"}),
                   boost::test_tools::per_element());
        BOOST_TEST(last_status == "succeeded");
    }
    const auto rows = audit_rows(c.admin);
    BOOST_TEST_CONTEXT("audit trail:" << rows_text(rows))
    {
        std::size_t starts = 0, resumes = 0;
        for (const auto& row : rows) {
            if (text(row, "actor") != "otto" || text(row, "outcome") != "succeeded") continue;
            starts += text(row, "action") == "deployment.start";
            resumes += text(row, "action") == "deployment.resume" && text(row, "target") == id;
        }
        BOOST_TEST(starts == 1u);
        BOOST_TEST(resumes == 2u);
    }
}

// Cancel at a gate; auto_approve (admin only, audited as such) runs through the gates.
BOOST_AUTO_TEST_CASE(cancel_at_a_gate_and_auto_approve)
{
    const team who;
    const temp_dir scratch{"raydeploy-deployments"};
    service_process service{pipeline_options(who, scratch.path() / "marker")};
    const clients c{service.port(), who};

    // Given out of order, they run in catalog order (the dependency order).
    const std::string waiting = start_checked_deployment(c.otto, R"({"checkpoints": ["gate-destructive", "gate-light"]})");
    const json::object at_gate = wait_awaiting(c.viewer, waiting, "gate-light");
    check_awaiting(at_gate, "gate-light", service.port(), false);
    BOOST_TEST(strings_of(at_gate.at("checkpoints")) == (std::vector<std::string>{"gate-light", "gate-destructive"}),
               boost::test_tools::per_element());
    const auto cancel = c.otto.post("/api/v1/deployments/" + waiting + "/cancel");
    BOOST_TEST_REQUIRE(cancel.result_int() == 202, cancel.body());
    const json::object cancelled = wait_finished(c.viewer, waiting);
    BOOST_TEST_CONTEXT("cancelled: " << json::serialize(cancelled))
    {
        BOOST_TEST(text(cancelled, "status") == "cancelled");
        BOOST_TEST(cancelled.at("awaiting").is_null());
        // The gate it waited at is no longer awaiting anything.
        BOOST_TEST(text(step(cancelled, 0), "status") != "awaiting_approval");
        BOOST_TEST(text(step(cancelled, 1), "status") == "pending");
        BOOST_TEST(step(cancelled, 0).at("execution_id").is_null());
        BOOST_TEST(text(cluster_status(c.viewer), "deployment_status") == "FAILED");
    }
    // Nobody waits for its request any more: it is withdrawn, not left for someone to grant.
    const json::object approvals = c.viewer.get_object("/api/v1/approvals");
    BOOST_TEST(approvals.at("pending") == json::array{}, json::serialize(approvals));
    const auto twice = c.otto.post("/api/v1/deployments/" + waiting + "/cancel");
    BOOST_TEST(twice.result_int() == 409, twice.body());
    BOOST_TEST(error_field_of(twice) == "ALREADY_FINISHED");
    BOOST_TEST(c.viewer.get_object("/api/v1/executions").at("executions") == json::array{}, "nothing ran");

    const auto by_operator = c.otto.post("/api/v1/deployments", R"({"auto_approve": true, "checkpoints": ["gate-light"]})");
    BOOST_TEST(by_operator.result_int() == 403, by_operator.body());
    BOOST_TEST(error_field_of(by_operator) == "FORBIDDEN");

    // Admin: the gates grant themselves, the destructive one included; start_from skips "first".
    const std::string automatic = start_checked_deployment(
        c.admin, R"({"auto_approve": true, "checkpoints": ["first", "gate-light", "gate-destructive"], "start_from": "gate-light"})");
    const json::object done = wait_finished(c.viewer, automatic);
    BOOST_TEST_CONTEXT("auto-approved: " << json::serialize(done))
    {
        BOOST_TEST_REQUIRE(text(done, "status") == "succeeded");
        BOOST_TEST(done.at("auto_approve") == json::value(true));
        BOOST_TEST(strings_of(done.at("checkpoints")) == (std::vector<std::string>{"gate-light", "gate-destructive"}),
                   boost::test_tools::per_element());
        for (std::size_t i = 0; i < 2; ++i) {
            const json::object execution =
                c.viewer.get_object("/api/v1/executions/" + text(step(done, i), "execution_id"));
            BOOST_TEST(text(execution, "deployment_id") == automatic);
            BOOST_TEST(text(execution, "requested_by") == "ada");
            BOOST_TEST(text(execution, "approval_id").starts_with("ap-"), json::serialize(execution));
        }
        const json::object approvals = c.viewer.get_object("/api/v1/approvals");
        BOOST_TEST(approvals.at("grants") == json::array{}, json::serialize(approvals));
        BOOST_TEST(approvals.at("pending") == json::array{}, json::serialize(approvals));
    }

    const auto rows = audit_rows(c.admin);
    BOOST_TEST_CONTEXT("audit trail:" << rows_text(rows))
    {
        std::size_t auto_rows = 0, refused = 0;
        for (const auto& row : rows) {
            if (text(row, "action") != "deployment.start") continue;
            BOOST_TEST(text(row, "remote_addr") == "127.0.0.1");
            const json::object& detail = object_at(row, "detail");
            if (text(row, "actor") == "ada" && text(row, "outcome") == "succeeded") {
                ++auto_rows;
                BOOST_TEST(detail.contains("request_auto_approve"), json::serialize(row));
                if (detail.contains("request_auto_approve"))
                    BOOST_TEST(detail.at("request_auto_approve") == json::value(true));
                BOOST_TEST(text(detail, "deployment_id") == automatic);
            }
            if (text(row, "actor") == "otto" && text(row, "outcome") == "FORBIDDEN") ++refused;
        }
        BOOST_TEST(auto_rows == 1u);
        BOOST_TEST(refused == 1u);
        std::size_t cancels = 0;
        for (const auto& row : rows)
            cancels += text(row, "action") == "deployment.cancel" && text(row, "target") == waiting &&
                       text(row, "outcome") == "succeeded";
        BOOST_TEST(cancels == 1u);
    }
}

// SIGTERM while a deployment waits at a gate: after the restart it still waits, its request is
// still pending, and approving it lets it finish.
BOOST_AUTO_TEST_CASE(a_restart_keeps_a_deployment_waiting_for_its_approval)
{
    const team who;
    const temp_dir scratch{"raydeploy-deployments"};
    auto options = pipeline_options(who, scratch.path() / "marker");
    options.state_dir = scratch.path() / "state";

    std::string id, request_id;
    std::uint16_t port = 0;
    {
        service_process before{options};
        port = before.port();
        const clients c{port, who};
        id = start_checked_deployment(c.otto, R"({"checkpoints": ["first", "gate-light"]})");
        const json::object waiting = wait_awaiting(c.viewer, id, "gate-light");
        check_awaiting(waiting, "gate-light", port, false);
        request_id = text(object_at(waiting, "awaiting"), "approval_id");
        before.send_signal(SIGTERM);
        const auto status = before.wait_exit(20s);
        BOOST_TEST_REQUIRE(status.has_value(), "the service did not stop within 20 s of SIGTERM");
        BOOST_TEST(*status == 0, before.stderr_text());
    }

    // Another port (port 0 again): the approve command must name the address it listens on now.
    service_process after{options};
    BOOST_TEST_MESSAGE("ports before and after the restart: " << port << ", " << after.port());
    const clients c{after.port(), who};
    const std::string new_url = "127.0.0.1:" + std::to_string(after.port()) + "/";
    const json::object still = c.viewer.wait_until(
        "/api/v1/deployments/" + id,
        [&](const json::object& d) {
            return d.at("awaiting").is_object() &&
                   text(object_at(d, "awaiting"), "approve_command").find(new_url) != std::string::npos;
        },
        5s);
    check_awaiting(still, "gate-light", after.port(), false);
    BOOST_TEST(text(object_at(still, "awaiting"), "approval_id") == request_id);
    BOOST_TEST(text(step(still, 0), "status") == "succeeded");
    const json::object check = c.viewer.get_object("/api/v1/approvals/gate-light");
    BOOST_TEST_REQUIRE(check.at("pending").is_object(), json::serialize(check));
    BOOST_TEST(text(object_at(check, "pending"), "id") == request_id);
    BOOST_TEST(text(object_at(check, "pending"), "deployment_id") == id);
    BOOST_TEST(text(cluster_status(c.viewer), "deployment_status") == "AWAITING_APPROVAL");

    const auto granted = c.alice.post("/api/v1/approvals/gate-light", R"({"reason": "after the restart"})");
    BOOST_TEST_REQUIRE(granted.result_int() == 201, granted.body());
    BOOST_TEST(text(json_object_of(granted), "id") == request_id);
    const json::object done = wait_finished(c.viewer, id);
    BOOST_TEST(text(done, "status") == "succeeded", json::serialize(done));
    BOOST_TEST(text(cluster_status(c.viewer), "deployment_status") == "COMPLETED");
}

// Without tokens, the command shown at a gate names approved_by instead of a token.
BOOST_AUTO_TEST_CASE(open_mode_gate_command_names_the_approver)
{
    const temp_dir scratch{"raydeploy-deployments"};
    auto options = fixture_service_options({{"FIXTURE_MARKER", (scratch.path() / "marker").string()},
                                            {"RAYDEPLOY_EXECUTOR_PASS_ENV", "FIXTURE_MARKER"}});
    options.catalog = fixtures / "pipeline.yaml";
    service_process service{options};
    const api_client local{service.port()};

    const std::string id = start_checked_deployment(local, R"({"checkpoints": ["gate-destructive"]})");
    const json::object waiting = wait_awaiting(local, id, "gate-destructive");
    BOOST_TEST_REQUIRE(text(waiting, "status") == "awaiting_approval", json::serialize(waiting));
    const std::string command = text(object_at(waiting, "awaiting"), "approve_command");
    BOOST_TEST(command.find("http://127.0.0.1:" + std::to_string(service.port()) + "/api/v1/approvals/gate-destructive") !=
                   std::string::npos,
               command);
    BOOST_TEST(command.find("approved_by") != std::string::npos, command);
    BOOST_TEST(command.find("acknowledge_risks") != std::string::npos, command);
    BOOST_TEST(command.find("Authorization") == std::string::npos, command);
    BOOST_TEST(text(waiting, "requested_by") == "local");

    const auto cancel = local.post("/api/v1/deployments/" + id + "/cancel");
    BOOST_TEST(cancel.result_int() == 202, cancel.body());
    BOOST_TEST(text(wait_finished(local, id), "status") == "cancelled");
}

BOOST_AUTO_TEST_SUITE_END()
