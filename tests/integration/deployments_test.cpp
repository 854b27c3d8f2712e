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
        BOOST_TEST(text(awaiting, "approve_url") ==
                   "http://127.0.0.1:" + std::to_string(port) + "/#/approvals/" + std::string{checkpoint});
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

// The deployment ids of a list answer, in its order.
std::vector<std::string> deployment_ids(const json::object& list)
{
    std::vector<std::string> out;
    for (const auto& item : list.at("deployments").as_array()) out.push_back(text(item.as_object(), "deployment_id"));
    return out;
}

// Every page of `path` (a list with `query`), `limit` at a time, following next_cursor; no page
// may come back empty. `items` is the member holding the list.
std::vector<json::object> all_pages(const api_client& client, const std::string& path, const std::string& query,
                                    std::string_view items, int limit)
{
    std::vector<json::object> out;
    std::string target = path + "?" + query + "&limit=" + std::to_string(limit);
    for (int page = 0; page < 100; ++page) {
        const json::object body = client.get_object(target);
        const auto& array = body.at(items).as_array();
        BOOST_TEST_REQUIRE(!array.empty(), "an empty page: " << target << " -> " << json::serialize(body));
        for (const auto& item : array) out.push_back(item.as_object());
        if (body.at("next_cursor").is_null()) return out;
        target = path + "?" + query + "&limit=" + std::to_string(limit) + "&cursor=" + text(body.at("next_cursor"));
    }
    BOOST_FAIL("more than 100 pages of " << path << "?" << query);
    return out;
}

// A 400 INVALID_PARAMETER naming `parameter`.
void check_invalid_parameter(const response& res, std::string_view parameter, std::string_view what)
{
    BOOST_TEST(res.result_int() == 400, what << " -> " << res.body());
    BOOST_TEST(error_field_of(res) == "INVALID_PARAMETER", what);
    if (res.result_int() == 400) {
        const json::object body = json_object_of(res);
        BOOST_TEST(text(body, "parameter") == parameter, what << " -> " << res.body());
        BOOST_TEST(text(body, "message").find("RFC 3339") != std::string::npos, res.body());
    }
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

// "check": true runs every step with ansible-playbook --check, through the gates as a single run
// in check mode does (the grant binds the check), and a resume keeps it. The lists filter by
// checkpoint and creation time, and the audit trail by actor, action, outcome and time, with paging.
BOOST_AUTO_TEST_CASE(check_mode_runs_every_step_dry_and_lists_filter)
{
    const team who;
    const temp_dir scratch{"raydeploy-deployments"};
    const fs::path marker = scratch.path() / "marker";
    service_process service{pipeline_options(who, marker)};
    const clients c{service.port(), who};

    for (const std::string body : {R"({"check": null})", R"({"check": "yes"})", R"({"check": 1})"}) {
        const auto res = c.otto.post("/api/v1/deployments", body);
        BOOST_TEST(res.result_int() == 422, body << " -> " << res.body());
        if (res.result_int() == 422) BOOST_TEST(field_of(res) == "check", body);
    }

    // A plain step and a failing one, in check mode: the failure stops it, the resume keeps check.
    const std::string checked = start_checked_deployment(c.otto, R"({"checkpoints": ["first", "needs-marker"], "check": true})");
    BOOST_TEST(c.viewer.get_object("/api/v1/deployments/" + checked).at("check") == json::value(true));
    const json::object failed = wait_finished(c.viewer, checked);
    BOOST_TEST_REQUIRE(text(failed, "status") == "failed", json::serialize(failed));
    BOOST_TEST(failed.at("check") == json::value(true));
    const std::string failed_execution = text(step(failed, 1), "execution_id");
    { std::ofstream{marker} << "fixed\n"; }
    const auto resumed = c.otto.post("/api/v1/deployments/" + checked + "/resume");
    BOOST_TEST_REQUIRE(resumed.result_int() == 202, resumed.body());
    const json::object done = wait_finished(c.viewer, checked);
    BOOST_TEST_CONTEXT("resumed in check mode: " << json::serialize(done))
    {
        BOOST_TEST_REQUIRE(text(done, "status") == "succeeded");
        BOOST_TEST(done.at("check") == json::value(true));
        BOOST_TEST(text(step(done, 1), "execution_id") != failed_execution);
        for (std::size_t i = 0; i < 2; ++i) {
            const json::object execution = c.viewer.get_object("/api/v1/executions/" + text(step(done, i), "execution_id"));
            BOOST_TEST(object_at(execution, "params").at("check") == json::value(true), json::serialize(execution));
        }
        const json::object first_run = c.viewer.get_object("/api/v1/executions/" + text(step(done, 0), "execution_id"));
        // In check mode the `command` task of succeed.yml is skipped.
        for (const auto& [host, counts] : object_at(first_run, "host_summary"))
            BOOST_TEST(integer(counts.as_object(), "skipped") == 1, host);
    }

    // A gate in check mode waits for a grant of the check run, as POST /api/v1/checkpoints does.
    const std::string gated = start_checked_deployment(c.otto, R"({"checkpoints": ["gate-light"], "check": true})");
    const json::object waiting = wait_awaiting(c.viewer, gated, "gate-light");
    check_awaiting(waiting, "gate-light", service.port(), false);
    const json::object approvals = c.viewer.get_object("/api/v1/approvals");
    BOOST_TEST_REQUIRE(approvals.at("pending").as_array().size() == 1u, json::serialize(approvals));
    BOOST_TEST(object_at(approvals.at("pending").as_array()[0].as_object(), "params").at("check") == json::value(true),
               json::serialize(approvals));
    const auto granted = c.alice.post("/api/v1/approvals/gate-light", R"({"reason": "a dry run"})");
    BOOST_TEST_REQUIRE(granted.result_int() == 201, granted.body());
    const json::object gated_done = wait_finished(c.viewer, gated);
    BOOST_TEST_REQUIRE(text(gated_done, "status") == "succeeded", json::serialize(gated_done));
    const json::object gated_run = c.viewer.get_object("/api/v1/executions/" + text(step(gated_done, 0), "execution_id"));
    BOOST_TEST(object_at(gated_run, "params").at("check") == json::value(true), json::serialize(gated_run));
    BOOST_TEST(text(gated_run, "approval_id") == text(json_object_of(granted), "id"));

    // Without check: the default, shown as false.
    const std::string plain = start_checked_deployment(c.otto, R"({"checkpoints": ["first"]})");
    const json::object plain_done = wait_finished(c.viewer, plain);
    BOOST_TEST(plain_done.at("check") == json::value(false));
    BOOST_TEST(object_at(c.viewer.get_object("/api/v1/executions/" + text(step(plain_done, 0), "execution_id")), "params")
                   .at("check") == json::value(false));

    using ids = std::vector<std::string>;
    const auto listed = [&](const std::string& query) {
        return deployment_ids(c.viewer.get_object("/api/v1/deployments" + query));
    };
    BOOST_TEST_CONTEXT("deployments by checkpoint and time")
    {
        BOOST_TEST(listed("") == (ids{plain, gated, checked}), boost::test_tools::per_element());
        BOOST_TEST(listed("?checkpoint=first") == (ids{plain, checked}), boost::test_tools::per_element());
        BOOST_TEST(listed("?checkpoint=needs-marker") == (ids{checked}), boost::test_tools::per_element());
        BOOST_TEST(listed("?checkpoint=first&status=failed").empty());
        BOOST_TEST(listed("?checkpoint=no-such-checkpoint").empty());
        const std::string checked_at = text(c.viewer.get_object("/api/v1/deployments/" + checked), "created_at");
        const std::string plain_at = text(plain_done, "created_at");
        BOOST_TEST(listed("?created_after=" + checked_at) == (ids{plain, gated}), boost::test_tools::per_element());
        BOOST_TEST(listed("?created_before=" + plain_at) == (ids{gated, checked}), boost::test_tools::per_element());
        BOOST_TEST(listed("?created_after=" + checked_at + "&created_before=" + plain_at) == (ids{gated}),
                   boost::test_tools::per_element());
        BOOST_TEST(listed("?created_after=" + plain_at).empty());
        // Another offset is the same instant in UTC (`+` percent-encoded, as in any query).
        BOOST_TEST(listed("?created_after=2000-01-01T01:00:00%2B01:00") == (ids{plain, gated, checked}),
                   boost::test_tools::per_element());
        BOOST_TEST(listed("?created_before=2000-01-01T00:00:00Z").empty());
        // Paging keeps the filters: one at a time, no empty last page.
        ids paged;
        for (const auto& item : all_pages(c.viewer, "/api/v1/deployments", "checkpoint=first", "deployments", 1))
            paged.push_back(text(item, "deployment_id"));
        BOOST_TEST(paged == (ids{plain, checked}), boost::test_tools::per_element());
        paged.clear();
        for (const auto& item : all_pages(c.viewer, "/api/v1/deployments", "created_before=" + plain_at, "deployments", 1))
            paged.push_back(text(item, "deployment_id"));
        BOOST_TEST(paged == (ids{gated, checked}), boost::test_tools::per_element());
        for (const std::string bad : {"yesterday", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00.000Z", "2026-03-01",
                                      "2026-03-01T12:00:00", "2026-03-01%2012:00:00Z", ""}) {
            check_invalid_parameter(c.viewer.get("/api/v1/deployments?created_after=" + bad), "created_after", bad);
            check_invalid_parameter(c.viewer.get("/api/v1/deployments?created_before=" + bad), "created_before", bad);
        }
    }

    BOOST_TEST_CONTEXT("executions by time")
    {
        const auto execution_ids = [&](const std::string& query) {
            ids out;
            const json::object list = c.viewer.get_object("/api/v1/executions" + query);
            for (const auto& item : list.at("executions").as_array()) out.push_back(text(item.as_object(), "execution_id"));
            return out;
        };
        const ids every = execution_ids("");
        BOOST_TEST_REQUIRE(every.size() == 5u, "first and needs-marker twice, gate-light, first");
        const std::string newest_at = text(c.viewer.get_object("/api/v1/executions/" + every[0]), "created_at");
        const std::string oldest_at = text(c.viewer.get_object("/api/v1/executions/" + every[4]), "created_at");
        BOOST_TEST(execution_ids("?created_before=" + newest_at) == (ids{every.begin() + 1, every.end()}),
                   boost::test_tools::per_element());
        BOOST_TEST(execution_ids("?created_after=" + oldest_at) == (ids{every.begin(), every.end() - 1}),
                   boost::test_tools::per_element());
        BOOST_TEST(execution_ids("?created_after=" + newest_at).empty());
        BOOST_TEST(execution_ids("?checkpoint=first&created_before=" + newest_at) == (ids{every[4]}),
                   boost::test_tools::per_element());
        ids paged;
        for (const auto& item : all_pages(c.viewer, "/api/v1/executions", "created_after=" + oldest_at, "executions", 2))
            paged.push_back(text(item, "execution_id"));
        BOOST_TEST(paged == (ids{every.begin(), every.end() - 1}), boost::test_tools::per_element());
        check_invalid_parameter(c.viewer.get("/api/v1/executions?created_after=soon"), "created_after", "soon");
        check_invalid_parameter(c.viewer.get("/api/v1/executions?created_before=2026-03-01T25:00:00Z"), "created_before",
                                "hour 25");
    }

    BOOST_TEST_CONTEXT("the audit trail by actor, action, outcome and time")
    {
        const auto entries = [&](const std::string& query) {
            std::vector<json::object> out;
            const json::object page = c.admin.get_object("/api/v1/audit?limit=1000&" + query);
            for (const auto& item : page.at("entries").as_array()) out.push_back(item.as_object());
            return out;
        };
        const auto every = entries("");
        BOOST_TEST_CONTEXT("audit trail:" << rows_text(every))
        {
            const auto by_otto = entries("actor=otto");
            std::size_t otto_rows = 0;
            for (const auto& row : every) otto_rows += text(row, "actor") == "otto";
            BOOST_TEST(by_otto.size() == otto_rows);
            BOOST_TEST(otto_rows == 7u, "three refused and three accepted starts, a resume");
            for (const auto& row : by_otto) BOOST_TEST(text(row, "actor") == "otto", json::serialize(row));
            BOOST_TEST(entries("actor=OTTO").empty(), "the identity, exactly");

            const auto refused = entries("outcome=VALIDATION_ERROR");
            BOOST_TEST(refused.size() == 3u);
            for (const auto& row : refused) {
                BOOST_TEST(text(row, "action") == "deployment.start", json::serialize(row));
                BOOST_TEST(text(row, "outcome") == "VALIDATION_ERROR");
            }
            const auto started = entries("action=deployment.start&outcome=succeeded");
            BOOST_TEST(started.size() == 3u);
            for (const auto& row : started) BOOST_TEST(object_at(row, "detail").contains("deployment_id"), json::serialize(row));
            BOOST_TEST(entries("action=deployment").empty(), "an action without * is exact");

            const auto approvals_rows = entries("action=approval.*");
            BOOST_TEST_REQUIRE(approvals_rows.size() == 1u);
            BOOST_TEST(text(approvals_rows[0], "action") == "approval.grant");
            BOOST_TEST(text(approvals_rows[0], "actor") == "alice");
            BOOST_TEST(entries("action=deployment.*&actor=alice").empty());
            BOOST_TEST(entries("action=*").size() == every.size());

            // Time: strictly after / before the grant's row.
            const std::string grant_at = text(approvals_rows[0], "at");
            const auto grant_id = integer(approvals_rows[0], "id");
            const auto before = entries("created_before=" + grant_at);
            const auto after = entries("created_after=" + grant_at);
            BOOST_TEST(!before.empty());
            BOOST_TEST(!after.empty());
            for (const auto& row : before) {
                BOOST_TEST(text(row, "at") < grant_at, json::serialize(row));
                BOOST_TEST(integer(row, "id") < grant_id);
            }
            for (const auto& row : after) BOOST_TEST(text(row, "at") > grant_at, json::serialize(row));

            // Paging keeps the filters.
            const auto paged = all_pages(c.admin, "/api/v1/audit", "actor=otto", "entries", 2);
            BOOST_TEST(paged.size() == by_otto.size());
            for (std::size_t i = 0; i < paged.size() && i < by_otto.size(); ++i)
                BOOST_TEST(integer(paged[i], "id") == integer(by_otto[i], "id"));
            check_invalid_parameter(c.admin.get("/api/v1/audit?created_after=now"), "created_after", "now");
            check_invalid_parameter(c.admin.get("/api/v1/audit?created_before=2026-03-01T12:00:00.000+0100"),
                                    "created_before", "offset without colon");
        }
    }
}

// A deployment in check mode with a step that runs no playbook is refused before anything runs:
// check would not apply to that step.
BOOST_AUTO_TEST_CASE(check_mode_is_refused_with_a_step_that_is_not_ansible)
{
    const temp_dir dir{"raydeploy-deployments"};
    auto options = fixture_service_options();
    options.catalog = write_playbook_and_cml_jobs_catalog(dir, "first");
    service_process service{options};
    const api_client local{service.port()};

    for (const std::string body : {R"({"check": true})", R"({"check": true, "checkpoints": ["first", "create-jobs"]})",
                                   R"({"check": true, "start_from": "create-jobs"})"}) {
        const auto refused = local.post("/api/v1/deployments", body);
        BOOST_TEST(refused.result_int() == 422, body << " -> " << refused.body());
        if (refused.result_int() != 422) continue;
        BOOST_TEST(field_of(refused) == "check", body);
        const std::string message = text(json_object_of(refused), "message");
        BOOST_TEST(message.find("'create-jobs' is of kind cml-jobs") != std::string::npos, message);
    }
    BOOST_TEST(local.get_object("/api/v1/deployments").at("deployments") == json::array{}, "nothing started");
    BOOST_TEST(local.get_object("/api/v1/executions").at("executions") == json::array{}, "nothing ran");

    // Without the CML step it runs, dry.
    const std::string id = start_checked_deployment(local, R"({"check": true, "checkpoints": ["first"]})");
    const json::object done = wait_finished(local, id);
    BOOST_TEST_REQUIRE(text(done, "status") == "succeeded", json::serialize(done));
    const json::object run = local.get_object("/api/v1/executions/" + text(step(done, 0), "execution_id"));
    BOOST_TEST(object_at(run, "params").at("check") == json::value(true), json::serialize(run));
}

BOOST_AUTO_TEST_SUITE_END()
