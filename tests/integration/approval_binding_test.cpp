// Suite approval_binding: an approval approves one run (issue 9, section 2). Over real HTTP
// against the real binary: a grant is bound to the run's parameters and to who asked (or the
// waiting deployment); several pending requests are decided by id; a pre-approval binds the
// parameters it names; the four-eyes rule compares persons (tokens sharing a `person`, names in
// any case); resuming a deployment makes the resumer its requester, and auto_approve survives a
// resume only by an admin.
#include "support/test_support.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <fstream>

using namespace raydeploy::test;
namespace json = boost::json;

namespace {

const fs::path fixtures = source_dir() / "tests" / "fixtures" / "ansible";
constexpr auto step_timeout = 90s;

const std::string destructive_grant = R"({"reason": "CHG-7", "acknowledge_risks": true})";

// A token entry with a `person`: NAME:ROLE:SHA256:PERSON.
std::string with_person(const test_identity& who, std::string_view person)
{
    return who.env_entry() + ":" + std::string{person};
}

struct team {
    test_identity otto = make_identity("otto", "operator");
    test_identity oscar = make_identity("oscar", "operator");
    test_identity alice = make_identity("alice", "approver");
    test_identity bob = make_identity("bob", "approver");
    test_identity ada = make_identity("ada", "admin");
    // alice's CI token: another name, the same person, spelled in capitals.
    test_identity alice_ci = make_identity("alice-ci", "operator");

    std::string tokens() const
    {
        return auth_tokens_env({otto, oscar, alice, bob, ada}) + "," + with_person(alice_ci, "ALICE");
    }
};

struct bound_service {
    team who;
    temp_dir dir;
    fs::path marker = dir.path() / "marker";
    service_process service;
    api_client otto{service.port(), who.otto};
    api_client oscar{service.port(), who.oscar};
    api_client alice{service.port(), who.alice};
    api_client bob{service.port(), who.bob};
    api_client ada{service.port(), who.ada};
    api_client alice_ci{service.port(), who.alice_ci};

    explicit bound_service(const fs::path& catalog)
        : service{options(catalog)}
    {
    }

    service_options options(const fs::path& catalog) const
    {
        auto result = fixture_service_options(
            {{"RAYDEPLOY_AUTH_TOKENS", who.tokens()},
             {"FIXTURE_MARKER", marker.string()},
             {"RAYDEPLOY_EXECUTOR_PASS_ENV", "FIXTURE_MARKER"}});
        result.catalog = catalog;
        return result;
    }

    void create_marker() const { std::ofstream{marker} << "fixed\n"; }
};

// The id of the pending request a 409 APPROVAL_REQUIRED names.
std::string approval_required(const response& res)
{
    BOOST_TEST(res.result_int() == 409, res.body());
    BOOST_TEST(error_field_of(res) == "APPROVAL_REQUIRED", res.body());
    if (res.result_int() != 409) return "";
    return text(json_object_of(res), "approval_id");
}

std::vector<std::string> ids_in(const json::value& list)
{
    std::vector<std::string> ids;
    for (const auto& item : list.as_array()) ids.push_back(text(item.as_object(), "id"));
    std::sort(ids.begin(), ids.end());
    return ids;
}

json::object finished_execution(const api_client& client, const response& started)
{
    BOOST_TEST_REQUIRE(started.result_int() == 202, started.body());
    const std::string id = text(json_object_of(started), "execution_id");
    return client.wait_until(
        "/api/v1/executions/" + id, [](const json::object& e) { return is_final_status(text(e, "status")); },
        step_timeout);
}

json::object wait_deployment(const api_client& client, const std::string& id,
                             const std::function<bool(const json::object&)>& done)
{
    return client.wait_until("/api/v1/deployments/" + id, done, step_timeout);
}

bool finished(const json::object& deployment)
{
    const std::string status = text(deployment, "status");
    return status == "succeeded" || status == "failed" || status == "cancelled";
}

bool awaiting(const json::object& deployment)
{
    return text(deployment, "status") == "awaiting_approval" || finished(deployment);
}


}  // namespace

BOOST_AUTO_TEST_SUITE(approval_binding)

BOOST_AUTO_TEST_CASE(a_grant_approves_the_parameters_and_the_requester_that_asked)
{
    bound_service s{fixtures / "pipeline.yaml"};
    const std::string asked = approval_required(s.otto.post("/api/v1/checkpoints/gate-light", R"({"limit": "host1"})"));
    BOOST_TEST_REQUIRE(asked.starts_with("ap-"));

    // The approver sees what is asked before deciding.
    const json::object check = s.alice.get_object("/api/v1/approvals/gate-light");
    BOOST_TEST_REQUIRE(check.at("pending_requests").as_array().size() == 1u, json::serialize(check));
    const json::object& request = check.at("pending_requests").as_array()[0].as_object();
    BOOST_TEST(text(request, "id") == asked);
    BOOST_TEST(text(request, "requested_by") == "otto");
    BOOST_TEST(text(request, "scope") == "requester");
    BOOST_TEST(object_at(request, "params").at("limit") == json::value("host1"), json::serialize(request));
    BOOST_TEST(object_at(request, "params").at("check") == json::value(false), json::serialize(request));

    const auto granted = s.alice.post("/api/v1/approvals/gate-light", R"({"approval_id": ")" + asked + R"(", "reason": "ok"})");
    BOOST_TEST_REQUIRE(granted.result_int() == 201, granted.body());
    BOOST_TEST(text(json_object_of(granted), "id") == asked);

    // Other parameters, or someone else: the grant is neither used nor in the way; each gets a
    // request of its own.
    const std::string plain = approval_required(s.otto.post("/api/v1/checkpoints/gate-light", "{}"));
    const std::string checked =
        approval_required(s.otto.post("/api/v1/checkpoints/gate-light", R"({"limit": "host1", "check": true})"));
    const std::string by_oscar = approval_required(s.oscar.post("/api/v1/checkpoints/gate-light", R"({"limit": "host1"})"));
    for (const auto& id : {plain, checked, by_oscar}) BOOST_TEST((id.starts_with("ap-") && id != asked), id);
    BOOST_TEST(plain != checked);
    BOOST_TEST(checked != by_oscar);
    // Asking again for the same run names the same request.
    BOOST_TEST(approval_required(s.oscar.post("/api/v1/checkpoints/gate-light", R"({"limit": "host1"})")) == by_oscar);
    const json::object after = s.alice.get_object("/api/v1/approvals/gate-light");
    BOOST_TEST(ids_in(after.at("grants")) == std::vector<std::string>{asked}, json::serialize(after));
    std::vector<std::string> expected_pending{plain, checked, by_oscar};
    std::sort(expected_pending.begin(), expected_pending.end());
    BOOST_TEST(ids_in(after.at("pending_requests")) == expected_pending, json::serialize(after));

    BOOST_TEST_CONTEXT("several pending requests: a decision names the one it decides")
    {
        const auto ambiguous = s.alice.post("/api/v1/approvals/gate-light", R"({"reason": "which?"})");
        BOOST_TEST(ambiguous.result_int() == 409, ambiguous.body());
        BOOST_TEST(error_field_of(ambiguous) == "APPROVAL_ID_REQUIRED");
        if (ambiguous.result_int() == 409)
            BOOST_TEST(ids_in(json_object_of(ambiguous).at("pending")) == expected_pending, ambiguous.body());
        const auto ambiguous_deny = s.alice.post("/api/v1/approvals/gate-light/deny", R"({"reason": "which?"})");
        BOOST_TEST(ambiguous_deny.result_int() == 409, ambiguous_deny.body());
        BOOST_TEST(error_field_of(ambiguous_deny) == "APPROVAL_ID_REQUIRED");

        const auto unknown = s.alice.post("/api/v1/approvals/gate-light", R"({"approval_id": "ap-nope", "reason": "x"})");
        BOOST_TEST(unknown.result_int() == 404, unknown.body());
        BOOST_TEST(error_field_of(unknown) == "APPROVAL_NOT_FOUND");
        const auto decided = s.alice.post("/api/v1/approvals/gate-light", R"({"approval_id": ")" + asked + R"(", "reason": "x"})");
        BOOST_TEST(decided.result_int() == 409, decided.body());
        BOOST_TEST(error_field_of(decided) == "APPROVAL_NOT_PENDING");
        const auto both = s.alice.post("/api/v1/approvals/gate-light",
                                       R"({"approval_id": ")" + plain + R"(", "reason": "x", "limit": "host2"})");
        BOOST_TEST(both.result_int() == 422, both.body());

        const auto denied = s.bob.post("/api/v1/approvals/gate-light/deny",
                                       R"({"approval_id": ")" + by_oscar + R"(", "reason": "not yours"})");
        BOOST_TEST_REQUIRE(denied.result_int() == 200, denied.body());
        BOOST_TEST(text(json_object_of(denied), "state") == "denied");
        BOOST_TEST(text(json_object_of(denied), "requested_by") == "oscar");
    }

    BOOST_TEST_CONTEXT("the CLI shows each request and grant with the run it approves")
    {
        const auto shown = run_cli({"status", "--approval-check", "gate-light", "--server",
                                    "http://127.0.0.1:" + std::to_string(s.service.port())},
                                   {{"RAYDEPLOY_TOKEN", s.who.alice.token}});
        BOOST_TEST(shown.exit_code == 0, shown.err);
        BOOST_TEST(shown.out.find("pending request: " + checked + " by otto") != std::string::npos, shown.out);
        BOOST_TEST(shown.out.find("limit host1, check mode") != std::string::npos, shown.out);
        BOOST_TEST(shown.out.find("grant: " + asked + " by alice") != std::string::npos, shown.out);
    }

    // Exactly the run that asked goes ahead, with the grant.
    const json::object run = finished_execution(s.otto, s.otto.post("/api/v1/checkpoints/gate-light", R"({"limit": "host1"})"));
    BOOST_TEST(text(run, "status") == "succeeded", json::serialize(run));
    BOOST_TEST(text(run, "approval_id") == asked);
    BOOST_TEST(text(run, "requested_by") == "otto");
    // oscar's run was denied, not approved by otto's grant.
    BOOST_TEST(approval_required(s.oscar.post("/api/v1/checkpoints/gate-light", R"({"limit": "host1"})")) != by_oscar);
}

BOOST_AUTO_TEST_CASE(a_pre_approval_binds_the_parameters_its_grant_names)
{
    bound_service s{fixtures / "pipeline.yaml"};
    const auto ahead = s.bob.post("/api/v1/approvals/gate-destructive",
                                  R"({"reason": "window", "acknowledge_risks": true, "limit": "host2"})");
    BOOST_TEST_REQUIRE(ahead.result_int() == 201, ahead.body());
    const json::object grant = json_object_of(ahead);
    BOOST_TEST(text(grant, "scope") == "anyone");
    BOOST_TEST(grant.at("requested_by").is_null());
    BOOST_TEST(object_at(grant, "params").at("limit") == json::value("host2"), ahead.body());

    // The plain run is not what was pre-approved.
    approval_required(s.otto.post("/api/v1/checkpoints/gate-destructive", "{}"));
    // The approver cannot use their own pre-approval of a destructive checkpoint.
    approval_required(s.bob.post("/api/v1/checkpoints/gate-destructive", R"({"limit": "host2"})"));
    const json::object run =
        finished_execution(s.otto, s.otto.post("/api/v1/checkpoints/gate-destructive", R"({"limit": "host2"})"));
    BOOST_TEST(text(run, "approval_id") == text(grant, "id"));

    // No parameters in a pre-approval: the plain run only.
    const auto plain = s.bob.post("/api/v1/approvals/gate-light", R"({"reason": "window"})");
    BOOST_TEST_REQUIRE(plain.result_int() == 201, plain.body());
    approval_required(s.otto.post("/api/v1/checkpoints/gate-light", R"({"check": true})"));
    // With a request pending, a pre-approval of other parameters is its own grant, not the request's.
    BOOST_TEST(text(finished_execution(s.otto, s.otto.post("/api/v1/checkpoints/gate-light", "{}")), "approval_id") ==
               text(json_object_of(plain), "id"));
}

BOOST_AUTO_TEST_CASE(four_eyes_compares_persons_not_token_spellings)
{
    bound_service s{fixtures / "pipeline.yaml"};
    // alice asks from her CI token (person "ALICE") and cannot grant it from her own token.
    const std::string asked = approval_required(s.alice_ci.post("/api/v1/checkpoints/gate-destructive", "{}"));
    const auto own = s.alice.post("/api/v1/approvals/gate-destructive", destructive_grant);
    BOOST_TEST(own.result_int() == 403, own.body());
    BOOST_TEST(error_field_of(own) == "FOUR_EYES");

    // A grant alice gives ahead is no use to her CI token either.
    const auto ahead = s.alice.post("/api/v1/approvals/gate-light", R"({"reason": "window"})");
    BOOST_TEST_REQUIRE(ahead.result_int() == 201, ahead.body());
    const auto pre = s.alice.post("/api/v1/approvals/gate-destructive",
                                  R"({"reason": "window", "acknowledge_risks": true, "limit": "host3"})");
    BOOST_TEST_REQUIRE(pre.result_int() == 201, pre.body());
    approval_required(s.alice_ci.post("/api/v1/checkpoints/gate-destructive", R"({"limit": "host3"})"));

    const auto other = s.bob.post("/api/v1/approvals/gate-destructive",
                                  R"({"approval_id": ")" + asked + R"(", "reason": "CHG-7", "acknowledge_risks": true})");
    BOOST_TEST_REQUIRE(other.result_int() == 201, other.body());
    const json::object run = finished_execution(s.alice_ci, s.alice_ci.post("/api/v1/checkpoints/gate-destructive", "{}"));
    BOOST_TEST(text(run, "approval_id") == asked);
    BOOST_TEST(text(run, "requested_by") == "alice-ci");
}

BOOST_AUTO_TEST_CASE(a_grant_for_a_waiting_deployment_is_that_deployments_only)
{
    bound_service s{fixtures / "pipeline.yaml"};
    const std::string id = start_deployment(s.otto, R"({"checkpoints": ["gate-light"]})");
    const json::object waiting = wait_deployment(s.otto, id, awaiting);
    BOOST_TEST_REQUIRE(text(waiting, "status") == "awaiting_approval", json::serialize(waiting));
    const json::object& gate = object_at(waiting, "awaiting");
    const std::string request = text(gate, "approval_id");
    BOOST_TEST(text(gate, "approve_command").find(request) != std::string::npos, json::serialize(gate));
    const json::object check = s.alice.get_object("/api/v1/approvals/gate-light");
    BOOST_TEST(text(object_at(check, "pending"), "scope") == "deployment", json::serialize(check));
    BOOST_TEST(text(object_at(check, "pending"), "deployment_id") == id, json::serialize(check));

    // The same run asked directly by the same person is another request, and the deployment's
    // grant does not serve it.
    const std::string direct = approval_required(s.otto.post("/api/v1/checkpoints/gate-light", "{}"));
    BOOST_TEST(direct != request);
    const auto granted = s.alice.post("/api/v1/approvals/gate-light",
                                      R"({"approval_id": ")" + request + R"(", "reason": "go"})");
    BOOST_TEST_REQUIRE(granted.result_int() == 201, granted.body());
    const json::object done = wait_deployment(s.otto, id, finished);
    BOOST_TEST(text(done, "status") == "succeeded", json::serialize(done));
    const std::string execution_id = text(done.at("steps").as_array()[0].as_object(), "execution_id");
    BOOST_TEST(text(s.otto.get_object("/api/v1/executions/" + execution_id), "approval_id") == request);
    BOOST_TEST(approval_required(s.otto.post("/api/v1/checkpoints/gate-light", "{}")) == direct);
}

BOOST_AUTO_TEST_CASE(whoever_resumes_a_deployment_is_its_requester)
{
    bound_service s{fixtures / "fragile_then_wipe.yaml"};
    // otto's deployment fails before its destructive step.
    const std::string id = start_deployment(s.otto, "{}");
    const json::object failed = wait_deployment(s.otto, id, finished);
    BOOST_TEST_REQUIRE(text(failed, "status") == "failed", json::serialize(failed));

    // alice, an approver, resumes it: the request at the gate is hers, so she cannot grant it.
    s.create_marker();
    const auto resumed = s.alice.post("/api/v1/deployments/" + id + "/resume");
    BOOST_TEST_REQUIRE(resumed.result_int() == 202, resumed.body());
    BOOST_TEST(text(json_object_of(resumed), "resumed_by") == "alice");
    BOOST_TEST(text(json_object_of(resumed), "requested_by") == "otto", "the creator stays on record");
    const json::object waiting = wait_deployment(s.otto, id, awaiting);
    BOOST_TEST_REQUIRE(text(waiting, "status") == "awaiting_approval", json::serialize(waiting));
    const std::string request = text(object_at(waiting, "awaiting"), "approval_id");
    BOOST_TEST(text(s.bob.get_object("/api/v1/approvals/wipe").at("pending").as_object(), "requested_by") == "alice");
    const auto own = s.alice.post("/api/v1/approvals/wipe", R"({"approval_id": ")" + request +
                                                                R"(", "reason": "CHG-7", "acknowledge_risks": true})");
    BOOST_TEST(own.result_int() == 403, own.body());
    BOOST_TEST(error_field_of(own) == "FOUR_EYES");

    const auto other = s.bob.post("/api/v1/approvals/wipe", R"({"approval_id": ")" + request +
                                                                R"(", "reason": "CHG-7", "acknowledge_risks": true})");
    BOOST_TEST_REQUIRE(other.result_int() == 201, other.body());
    const json::object done = wait_deployment(s.otto, id, finished);
    BOOST_TEST(text(done, "status") == "succeeded", json::serialize(done));
    for (const auto& item : done.at("steps").as_array()) {
        const auto execution = s.otto.get_object("/api/v1/executions/" + text(item.as_object(), "execution_id"));
        BOOST_TEST(text(execution, "requested_by") == "alice", json::serialize(execution));
    }
}

BOOST_AUTO_TEST_CASE(auto_approve_survives_a_resume_only_by_an_admin)
{
    bound_service s{fixtures / "fragile_then_wipe.yaml"};
    BOOST_TEST_CONTEXT("an admin resumes their auto-approved deployment: it goes on without asking")
    {
        const std::string id = start_deployment(s.ada, R"({"auto_approve": true})");
        BOOST_TEST_REQUIRE(text(wait_deployment(s.ada, id, finished), "status") == "failed");
        s.create_marker();
        const auto resumed = s.ada.post("/api/v1/deployments/" + id + "/resume");
        BOOST_TEST_REQUIRE(resumed.result_int() == 202, resumed.body());
        BOOST_TEST(json_object_of(resumed).at("auto_approve") == json::value(true), resumed.body());
        const json::object done = wait_deployment(s.ada, id, finished);
        BOOST_TEST(text(done, "status") == "succeeded", json::serialize(done));
        const auto wipe =
            s.ada.get_object("/api/v1/executions/" + text(done.at("steps").as_array()[1].as_object(), "execution_id"));
        BOOST_TEST(text(wipe, "requested_by") == "ada");
        const auto grant = s.ada.get_object("/api/v1/approvals/wipe").at("last_decision").as_object();
        BOOST_TEST(text(grant, "approved_by") == "ada", json::serialize(grant));
    }

    BOOST_TEST_CONTEXT("an operator resumes an admin's auto-approved deployment: no grant in the admin's name")
    {
        fs::remove(s.marker);
        const std::string id = start_deployment(s.ada, R"({"auto_approve": true})");
        BOOST_TEST_REQUIRE(text(wait_deployment(s.ada, id, finished), "status") == "failed");
        s.create_marker();
        const auto resumed = s.otto.post("/api/v1/deployments/" + id + "/resume");
        BOOST_TEST_REQUIRE(resumed.result_int() == 202, resumed.body());
        const json::object record = json_object_of(resumed);
        BOOST_TEST(record.at("auto_approve") == json::value(false), resumed.body());
        BOOST_TEST(text(record, "status_reason").find("auto_approve is off") != std::string::npos, resumed.body());
        const json::object waiting = wait_deployment(s.otto, id, awaiting);
        BOOST_TEST_REQUIRE(text(waiting, "status") == "awaiting_approval", json::serialize(waiting));
        const json::object check = s.bob.get_object("/api/v1/approvals/wipe");
        BOOST_TEST(text(check.at("pending").as_object(), "requested_by") == "otto", json::serialize(check));
        BOOST_TEST(check.at("grants") == json::array{}, json::serialize(check));
        BOOST_TEST_REQUIRE(s.otto.post("/api/v1/deployments/" + id + "/cancel").result_int() == 202);
        BOOST_TEST(text(wait_deployment(s.otto, id, finished), "status") == "cancelled");
    }
}

BOOST_AUTO_TEST_SUITE_END()
