// Suite approvals: the grant rules of issue 4 over real HTTP against the real binary, with bearer
// tokens for five identities (viewer, operator, two approvers, admin) and the test pipeline
// tests/fixtures/ansible/pipeline.yaml (gate-light: gated; gate-destructive: gated, destructive).
// Every decision must also leave an audit row and an approval.* event.
#include "support/test_support.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <ctime>
#include <thread>

using namespace raydeploy::test;
namespace json = boost::json;

namespace {

const fs::path fixtures = source_dir() / "tests" / "fixtures" / "ansible";

// The callers of a service with tokens. Names are what the service records as identities.
struct team {
    test_identity viewer = make_identity("vera", "viewer");
    test_identity operator_ = make_identity("otto", "operator");
    test_identity approver = make_identity("alice", "approver");
    test_identity approver2 = make_identity("bob", "approver");
    test_identity admin = make_identity("ada", "admin");

    service_options options() const
    {
        auto options = fixture_service_options(
            {{"RAYDEPLOY_AUTH_TOKENS", auth_tokens_env({viewer, operator_, approver, approver2, admin})}});
        options.catalog = fixtures / "pipeline.yaml";
        return options;
    }
};

// The service of one test case and a client per identity.
struct gated_service {
    team who;
    service_process service{who.options()};
    api_client viewer{service.port(), who.viewer};
    api_client otto{service.port(), who.operator_};
    api_client alice{service.port(), who.approver};
    api_client bob{service.port(), who.approver2};
    api_client admin{service.port(), who.admin};
};


const std::string destructive_grant = R"({"reason": "CHG-42 maintenance window", "acknowledge_risks": true})";

// The fields every approval record has (the contract's record shape).
void check_record_shape(const json::object& record)
{
    for (const std::string_view key : {"id", "checkpoint", "state", "requested_by", "requested_at", "approved_by",
                                       "reason", "acknowledge_risks", "granted_at", "expires_at", "decided_at",
                                       "decided_by", "execution_id", "deployment_id"})
        BOOST_TEST(record.contains(key), "approval record without '" << key << "': " << json::serialize(record));
    BOOST_TEST(text(record, "id").starts_with("ap-"), json::serialize(record));
}

std::string field_of(const response& res)
{
    const json::object body = json_object_of(res);
    return body.contains("field") ? text(body, "field") : "<no field in " + res.body() + ">";
}

std::vector<std::string> ids_in(const json::object& body, std::string_view key)
{
    std::vector<std::string> ids;
    for (const auto& item : body.at(key).as_array()) ids.push_back(text(item.as_object(), "id"));
    return ids;
}

// The 409 APPROVAL_REQUIRED of a run: the seeds' shape plus the pending request's id.
std::string check_approval_required(const response& res, std::string_view checkpoint)
{
    BOOST_TEST(res.result_int() == 409, res.body());
    BOOST_TEST(error_field_of(res) == "APPROVAL_REQUIRED");
    if (res.result_int() != 409) return "";
    const json::object body = json_object_of(res);
    BOOST_TEST(text(body, "checkpoint") == checkpoint);
    BOOST_TEST(body.contains("approval_info"), res.body());
    if (body.contains("approval_info")) {
        const json::object& info = object_at(body, "approval_info");
        BOOST_TEST(info.at("approval_required") == json::value(true), res.body());
        BOOST_TEST(info.contains("destructive_operation"), res.body());
        BOOST_TEST(info.contains("impact_summary"), res.body());
    }
    const std::string id = text(body, "approval_id");
    BOOST_TEST(id.starts_with("ap-"), res.body());
    return id;
}

// ------------------------------------------------------------------------------------ audit, events

std::vector<json::object> audit_rows(const api_client& admin)
{
    const json::object body = admin.get_object("/api/v1/audit?limit=1000");
    std::vector<json::object> rows;
    for (const auto& item : body.at("entries").as_array()) rows.push_back(item.as_object());
    return rows;
}

// The audit rows of `action` on `target` by `actor` with `outcome`; each must name where the
// request came from and when.
std::size_t audit_count(const std::vector<json::object>& rows, std::string_view action, std::string_view target,
                        std::string_view actor, std::string_view outcome)
{
    std::size_t count = 0;
    for (const auto& row : rows) {
        if (text(row, "action") != action || text(row, "target") != target || text(row, "actor") != actor ||
            text(row, "outcome") != outcome)
            continue;
        ++count;
        BOOST_TEST(text(row, "remote_addr") == "127.0.0.1", json::serialize(row));
        BOOST_TEST(!text(row, "at").empty(), json::serialize(row));
    }
    return count;
}

std::string rows_text(const std::vector<json::object>& rows)
{
    std::string out;
    for (const auto& row : rows) out += "\n  " + json::serialize(row);
    return out;
}

// The stored approval.* event of `type` about approval `id`; polls (the expiry timer is
// asynchronous) until it is there or 5 s passed.
std::optional<json::object> approval_event(const api_client& client, std::string_view type, std::string_view id)
{
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    for (;;) {
        for (const auto& item : replay_events(client, "types=approval.*", 300ms))
            if (text(item, "type") == type && text(item, "id") == id) return item;
        if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
        std::this_thread::sleep_for(200ms);
    }
}

void check_event(const api_client& client, std::string_view type, std::string_view id,
                 const std::function<void(const json::object&)>& more = {})
{
    const auto found = approval_event(client, type, id);
    BOOST_TEST(found.has_value(), "no stored " << type << " event for " << id);
    if (!found) return;
    BOOST_TEST(integer(*found, "seq") > 0);
    BOOST_TEST(text(*found, "checkpoint") != "");
    if (more) more(*found);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(approvals)

BOOST_AUTO_TEST_CASE(grant_validation_identity_and_the_approval_check)
{
    gated_service s;

    BOOST_TEST_CONTEXT("GET /approvals/{checkpoint}: the seeds' approval check, nothing pending or granted")
    {
        const json::object check = s.viewer.get_object("/api/v1/approvals/gate-destructive");
        BOOST_TEST(text(check, "checkpoint") == "gate-destructive");
        BOOST_TEST(check.at("approval_required") == json::value(true));
        BOOST_TEST(check.at("destructive_operation") == json::value(true));
        BOOST_TEST(check.at("impact_summary") == json::parse(R"(["DESTRUCTIVE: pretends to remove everything"])"));
        BOOST_TEST(check.at("pending").is_null(), json::serialize(check));
        BOOST_TEST(check.at("grant").is_null(), json::serialize(check));

        const json::object plain = s.viewer.get_object("/api/v1/approvals/first");
        BOOST_TEST(plain.at("approval_required") == json::value(false));
        BOOST_TEST(plain.at("destructive_operation") == json::value(false));
        BOOST_TEST(plain.at("impact_summary") == json::array{});

        const auto unknown = s.viewer.get("/api/v1/approvals/no-such-checkpoint");
        BOOST_TEST(unknown.result_int() == 404);
        BOOST_TEST(error_field_of(unknown) == "CHECKPOINT_NOT_FOUND");

        const json::object all = s.viewer.get_object("/api/v1/approvals");
        BOOST_TEST(all.at("pending") == json::array{}, json::serialize(all));
        BOOST_TEST(all.at("grants") == json::array{}, json::serialize(all));
    }

    struct refusal {
        std::string body;
        unsigned status;
        std::string code;
        std::string field;
    };
    const std::vector<refusal> refusals = {
        {R"({})", 422, "VALIDATION_ERROR", "acknowledge_risks"},
        {R"({"reason": "CHG-42"})", 422, "VALIDATION_ERROR", "acknowledge_risks"},
        {R"({"reason": "CHG-42", "acknowledge_risks": false})", 422, "VALIDATION_ERROR", "acknowledge_risks"},
        {R"({"reason": "CHG-42", "acknowledge_risks": "yes"})", 422, "VALIDATION_ERROR", "acknowledge_risks"},
        {R"({"acknowledge_risks": true})", 422, "VALIDATION_ERROR", "reason"},
        {R"({"acknowledge_risks": true, "reason": ""})", 422, "VALIDATION_ERROR", "reason"},
        {R"({"acknowledge_risks": true, "reason": "x", "ttl_s": 0})", 422, "VALIDATION_ERROR", "ttl_s"},
        {R"({"acknowledge_risks": true, "reason": "x", "ttl_s": -5})", 422, "VALIDATION_ERROR", "ttl_s"},
        {R"({"acknowledge_risks": true, "reason": "x", "ttl_s": 86401})", 422, "VALIDATION_ERROR", "ttl_s"},
        {R"({"acknowledge_risks": true, "reason": "x", "ttl_s": "60"})", 422, "VALIDATION_ERROR", "ttl_s"},
        {R"({"acknowledge_risks": true, "reason": "x", "bogus": 1})", 422, "VALIDATION_ERROR", "bogus"},
        // A body naming someone else is refused, not trusted.
        {R"({"acknowledge_risks": true, "reason": "x", "approved_by": "bob"})", 403, "IDENTITY_MISMATCH", ""},
    };
    for (const auto& item : refusals) {
        BOOST_TEST_CONTEXT("alice grants gate-destructive with " << item.body)
        {
            const auto res = s.alice.post("/api/v1/approvals/gate-destructive", item.body);
            BOOST_TEST(res.result_int() == item.status, res.body());
            BOOST_TEST(error_field_of(res) == item.code);
            if (!item.field.empty() && res.result_int() == 422) BOOST_TEST(field_of(res) == item.field);
        }
    }
    BOOST_TEST(s.viewer.get_object("/api/v1/approvals/gate-destructive").at("grant").is_null());

    BOOST_TEST_CONTEXT("roles, ungated and unknown checkpoints")
    {
        const auto by_operator = s.otto.post("/api/v1/approvals/gate-destructive", destructive_grant);
        BOOST_TEST(by_operator.result_int() == 403, by_operator.body());
        BOOST_TEST(error_field_of(by_operator) == "FORBIDDEN");
        const auto by_viewer = s.viewer.post("/api/v1/approvals/gate-light", R"({"reason": "x"})");
        BOOST_TEST(by_viewer.result_int() == 403, by_viewer.body());

        const auto ungated = s.alice.post("/api/v1/approvals/first", R"({"reason": "x"})");
        BOOST_TEST(ungated.result_int() == 409, ungated.body());
        BOOST_TEST(error_field_of(ungated) == "APPROVAL_NOT_REQUIRED");
        const auto unknown = s.alice.post("/api/v1/approvals/no-such-checkpoint", destructive_grant);
        BOOST_TEST(unknown.result_int() == 404, unknown.body());
        BOOST_TEST(error_field_of(unknown) == "CHECKPOINT_NOT_FOUND");
    }

    // approved_by equal to the token's own identity is accepted; what is recorded is the token's name.
    const auto granted = s.alice.post("/api/v1/approvals/gate-destructive",
                                      R"({"reason": "CHG-42", "acknowledge_risks": true, "ttl_s": 600, "approved_by": "alice"})");
    BOOST_TEST_REQUIRE(granted.result_int() == 201, granted.body());
    const json::object grant = json_object_of(granted);
    check_record_shape(grant);
    const std::string grant_id = text(grant, "id");
    BOOST_TEST(text(grant, "checkpoint") == "gate-destructive");
    BOOST_TEST(text(grant, "state") == "granted");
    BOOST_TEST(text(grant, "approved_by") == "alice");
    BOOST_TEST(text(grant, "reason") == "CHG-42");
    BOOST_TEST(grant.at("acknowledge_risks") == json::value(true));
    BOOST_TEST(grant.at("requested_by").is_null(), "granted ahead of any request: " << granted.body());
    BOOST_TEST(grant.at("execution_id").is_null());
    const auto ttl_ms = timestamp_ms(grant.at("expires_at")) - timestamp_ms(grant.at("granted_at"));
    BOOST_TEST((ttl_ms >= 599'000 && ttl_ms <= 601'000), "expires_at - granted_at = " << ttl_ms << " ms");

    const auto again = s.bob.post("/api/v1/approvals/gate-destructive", destructive_grant);
    BOOST_TEST(again.result_int() == 409, again.body());
    BOOST_TEST(error_field_of(again) == "ALREADY_GRANTED");

    // A non-destructive gate needs neither a reason nor acknowledge_risks; the default TTL is an hour.
    const auto light = s.bob.post("/api/v1/approvals/gate-light", "{}");
    BOOST_TEST_REQUIRE(light.result_int() == 201, light.body());
    const json::object light_grant = json_object_of(light);
    BOOST_TEST(text(light_grant, "approved_by") == "bob");
    const auto default_ttl_ms = timestamp_ms(light_grant.at("expires_at")) - timestamp_ms(light_grant.at("granted_at"));
    BOOST_TEST((default_ttl_ms >= 3'599'000 && default_ttl_ms <= 3'601'000), default_ttl_ms);

    const json::object all = s.viewer.get_object("/api/v1/approvals");
    BOOST_TEST(all.at("pending") == json::array{}, json::serialize(all));
    const auto grant_ids = ids_in(all, "grants");
    BOOST_TEST(grant_ids.size() == 2u, json::serialize(all));
    BOOST_TEST((std::find(grant_ids.begin(), grant_ids.end(), grant_id) != grant_ids.end()), json::serialize(all));
    for (const auto& item : all.at("grants").as_array()) check_record_shape(item.as_object());
    const json::object check = s.viewer.get_object("/api/v1/approvals/gate-destructive");
    BOOST_TEST(check.at("pending").is_null());
    BOOST_TEST_REQUIRE(check.at("grant").is_object(), json::serialize(check));
    BOOST_TEST(text(object_at(check, "grant"), "id") == grant_id);

    const auto rows = audit_rows(s.admin);
    BOOST_TEST_CONTEXT("audit trail:" << rows_text(rows))
    {
        BOOST_TEST(audit_count(rows, "approval.grant", "gate-destructive", "alice", "VALIDATION_ERROR") == 11u);
        BOOST_TEST(audit_count(rows, "approval.grant", "gate-destructive", "alice", "IDENTITY_MISMATCH") == 1u);
        BOOST_TEST(audit_count(rows, "approval.grant", "gate-destructive", "alice", "succeeded") == 1u);
        BOOST_TEST(audit_count(rows, "approval.grant", "gate-destructive", "bob", "ALREADY_GRANTED") == 1u);
        BOOST_TEST(audit_count(rows, "approval.grant", "gate-light", "bob", "succeeded") == 1u);
    }
    check_event(s.viewer, "approval.granted", grant_id, [](const json::object& event) {
        BOOST_TEST(text(event, "approved_by") == "alice");
        BOOST_TEST(text(event, "state") == "granted");
    });
}

BOOST_AUTO_TEST_CASE(a_grant_is_consumed_by_exactly_one_run)
{
    gated_service s;
    const auto granted = s.alice.post("/api/v1/approvals/gate-light", R"({"reason": "go"})");
    BOOST_TEST_REQUIRE(granted.result_int() == 201, granted.body());
    const std::string grant_id = text(json_object_of(granted), "id");

    const auto run = s.otto.post("/api/v1/checkpoints/gate-light", "{}");
    BOOST_TEST_REQUIRE(run.result_int() == 202, run.body());
    const std::string execution_id = text(json_object_of(run), "execution_id");
    // Used up at once: no grant is left, even while the run goes on.
    BOOST_TEST(s.viewer.get_object("/api/v1/approvals/gate-light").at("grant").is_null());
    BOOST_TEST(s.viewer.get_object("/api/v1/approvals").at("grants") == json::array{});

    const json::object execution = s.viewer.wait_until("/api/v1/executions/" + execution_id, [](const json::object& e) {
        return is_final_status(text(e, "status"));
    });
    BOOST_TEST(text(execution, "status") == "succeeded", json::serialize(execution));
    BOOST_TEST(text(execution, "approval_id") == grant_id);
    BOOST_TEST(text(execution, "requested_by") == "otto");
    BOOST_TEST(execution.at("deployment_id").is_null());

    const std::string pending_id = check_approval_required(s.otto.post("/api/v1/checkpoints/gate-light", "{}"), "gate-light");
    BOOST_TEST(pending_id != grant_id);
    const json::object check = s.viewer.get_object("/api/v1/approvals/gate-light");
    BOOST_TEST_REQUIRE(check.at("pending").is_object(), json::serialize(check));
    const json::object& pending = object_at(check, "pending");
    check_record_shape(pending);
    BOOST_TEST(text(pending, "id") == pending_id);
    BOOST_TEST(text(pending, "state") == "pending");
    BOOST_TEST(text(pending, "requested_by") == "otto");
    BOOST_TEST(timestamp_ms(pending.at("requested_at")) > 0, json::serialize(pending));
    BOOST_TEST(check.at("grant").is_null());
    BOOST_TEST(ids_in(s.viewer.get_object("/api/v1/approvals"), "pending") == std::vector<std::string>{pending_id});

    check_event(s.viewer, "approval.consumed", grant_id, [&](const json::object& event) {
        BOOST_TEST(text(event, "state") == "consumed");
        BOOST_TEST(text(event, "execution_id") == execution_id);
    });
    check_event(s.viewer, "approval.requested", pending_id,
                [](const json::object& event) { BOOST_TEST(text(event, "requested_by") == "otto"); });
    const auto rows = audit_rows(s.admin);
    BOOST_TEST_CONTEXT("audit trail:" << rows_text(rows))
    {
        BOOST_TEST(audit_count(rows, "approval.grant", "gate-light", "alice", "succeeded") == 1u);
        BOOST_TEST(audit_count(rows, "execution.start", "gate-light", "otto", "succeeded") == 1u);
        BOOST_TEST(audit_count(rows, "execution.start", "gate-light", "otto", "APPROVAL_REQUIRED") == 1u);
    }
}

BOOST_AUTO_TEST_CASE(an_expired_grant_is_gone_and_cannot_be_used)
{
    gated_service s;
    const auto granted = s.alice.post("/api/v1/approvals/gate-light", R"({"reason": "brief", "ttl_s": 1})");
    BOOST_TEST_REQUIRE(granted.result_int() == 201, granted.body());
    const json::object grant = json_object_of(granted);
    const std::string grant_id = text(grant, "id");
    const auto ttl_ms = timestamp_ms(grant.at("expires_at")) - timestamp_ms(grant.at("granted_at"));
    BOOST_TEST((ttl_ms >= 999 && ttl_ms <= 1001), ttl_ms);

    std::this_thread::sleep_for(2s);
    BOOST_TEST(s.viewer.get_object("/api/v1/approvals/gate-light").at("grant").is_null());
    BOOST_TEST(s.viewer.get_object("/api/v1/approvals").at("grants") == json::array{});
    check_approval_required(s.otto.post("/api/v1/checkpoints/gate-light", "{}"), "gate-light");
    check_event(s.viewer, "approval.expired", grant_id,
                [](const json::object& event) { BOOST_TEST(text(event, "state") == "expired"); });
    // Expired is not revocable.
    const auto revoke = s.alice.del("/api/v1/approvals/gate-light");
    BOOST_TEST(revoke.result_int() == 404, revoke.body());
    BOOST_TEST(error_field_of(revoke) == "NO_GRANT");
}

BOOST_AUTO_TEST_CASE(ttl_s_is_any_whole_number_and_its_refusal_names_approvals_max_ttl)
{
    gated_service s;
    // JSON Schema calls 60.0 an integer, and so does the service.
    const auto granted = s.alice.post("/api/v1/approvals/gate-light", R"({"reason": "brief", "ttl_s": 60.0})");
    BOOST_TEST_REQUIRE(granted.result_int() == 201, granted.body());
    const json::object grant = json_object_of(granted);
    BOOST_TEST(timestamp_ms(grant.at("expires_at")) - timestamp_ms(grant.at("granted_at")) == 60'000);

    // Past the largest int32 or int64, or as a float: the message names the real limit, 86400.
    for (const std::string ttl : {"86401", "4294967296", "1e12", "18446744073709551615", "-1e30", "0"}) {
        BOOST_TEST_CONTEXT("ttl_s " << ttl)
        {
            const auto res = s.bob.post("/api/v1/approvals/gate-destructive",
                                        R"({"reason": "x", "acknowledge_risks": true, "ttl_s": )" + ttl + "}");
            BOOST_TEST(res.result_int() == 422, res.body());
            BOOST_TEST(field_of(res) == "ttl_s");
            BOOST_TEST(text(json_object_of(res), "message").find("between 1 and 86400 (approvals.max_ttl)") !=
                           std::string::npos,
                       res.body());
        }
    }
    const auto fraction = s.bob.post("/api/v1/approvals/gate-destructive",
                                     R"({"reason": "x", "acknowledge_risks": true, "ttl_s": 60.5})");
    BOOST_TEST(fraction.result_int() == 422, fraction.body());
    BOOST_TEST(field_of(fraction) == "ttl_s");

    // Those 8 requests are 8 audit rows: pages of 3 are 3, 3 and 2, and the third is the last.
    std::vector<std::size_t> pages;
    std::string query = "/api/v1/audit?limit=3";
    for (int page = 0; page < 5; ++page) {
        const json::object body = s.admin.get_object(query);
        pages.push_back(body.at("entries").as_array().size());
        if (body.at("next_cursor").is_null()) break;
        query = "/api/v1/audit?limit=3&cursor=" + text(body.at("next_cursor"));
    }
    BOOST_TEST(pages == (std::vector<std::size_t>{3, 3, 2}), boost::test_tools::per_element());
    BOOST_TEST(s.admin.get_object("/api/v1/audit?limit=8").at("next_cursor").is_null());
    BOOST_TEST(s.admin.get_object("/api/v1/audit?limit=7").at("next_cursor").is_string());
}

BOOST_AUTO_TEST_CASE(revoke_takes_back_an_unused_grant)
{
    gated_service s;
    const auto nothing = s.alice.del("/api/v1/approvals/gate-light");
    BOOST_TEST(nothing.result_int() == 404, nothing.body());
    BOOST_TEST(error_field_of(nothing) == "NO_GRANT");

    const auto granted = s.alice.post("/api/v1/approvals/gate-light", R"({"reason": "go"})");
    BOOST_TEST_REQUIRE(granted.result_int() == 201, granted.body());
    const std::string grant_id = text(json_object_of(granted), "id");

    const auto by_operator = s.otto.del("/api/v1/approvals/gate-light");
    BOOST_TEST(by_operator.result_int() == 403, by_operator.body());
    BOOST_TEST(error_field_of(by_operator) == "FORBIDDEN");

    const auto revoked = s.bob.del("/api/v1/approvals/gate-light");
    BOOST_TEST_REQUIRE(revoked.result_int() == 200, revoked.body());
    const json::object record = json_object_of(revoked);
    check_record_shape(record);
    BOOST_TEST(text(record, "id") == grant_id);
    BOOST_TEST(text(record, "state") == "revoked");
    BOOST_TEST(text(record, "decided_by") == "bob");
    BOOST_TEST(timestamp_ms(record.at("decided_at")) > 0, revoked.body());
    BOOST_TEST(s.viewer.get_object("/api/v1/approvals/gate-light").at("grant").is_null());

    check_approval_required(s.otto.post("/api/v1/checkpoints/gate-light", "{}"), "gate-light");

    const auto twice = s.bob.del("/api/v1/approvals/gate-light");
    BOOST_TEST(twice.result_int() == 404, twice.body());
    BOOST_TEST(error_field_of(twice) == "NO_GRANT");
    const auto ungated = s.bob.del("/api/v1/approvals/first");
    BOOST_TEST(ungated.result_int() == 409, ungated.body());
    BOOST_TEST(error_field_of(ungated) == "APPROVAL_NOT_REQUIRED");

    check_event(s.viewer, "approval.revoked", grant_id,
                [](const json::object& event) { BOOST_TEST(text(event, "decided_by") == "bob"); });
    const auto rows = audit_rows(s.admin);
    BOOST_TEST_CONTEXT("audit trail:" << rows_text(rows))
    {
        BOOST_TEST(audit_count(rows, "approval.revoke", "gate-light", "alice", "NO_GRANT") == 1u);
        BOOST_TEST(audit_count(rows, "approval.revoke", "gate-light", "bob", "succeeded") == 1u);
        BOOST_TEST(audit_count(rows, "approval.revoke", "gate-light", "bob", "NO_GRANT") == 1u);
    }
}

BOOST_AUTO_TEST_CASE(deny_refuses_a_pending_request)
{
    gated_service s;
    const auto nothing = s.alice.post("/api/v1/approvals/gate-light/deny", R"({"reason": "no"})");
    BOOST_TEST(nothing.result_int() == 404, nothing.body());
    BOOST_TEST(error_field_of(nothing) == "NO_PENDING_REQUEST");

    const std::string pending_id = check_approval_required(s.otto.post("/api/v1/checkpoints/gate-light", "{}"), "gate-light");
    // One pending request per checkpoint: asking again names the same one.
    BOOST_TEST(check_approval_required(s.otto.post("/api/v1/checkpoints/gate-light", "{}"), "gate-light") == pending_id);
    const json::object all = s.viewer.get_object("/api/v1/approvals");
    BOOST_TEST_REQUIRE(all.at("pending").as_array().size() == 1u, json::serialize(all));
    const json::object& pending = all.at("pending").as_array()[0].as_object();
    check_record_shape(pending);
    BOOST_TEST(text(pending, "id") == pending_id);
    BOOST_TEST(text(pending, "checkpoint") == "gate-light");
    BOOST_TEST(text(pending, "requested_by") == "otto");
    BOOST_TEST(all.at("grants") == json::array{});

    for (const std::string body : {R"({})", R"({"reason": ""})"}) {
        const auto res = s.alice.post("/api/v1/approvals/gate-light/deny", body);
        BOOST_TEST(res.result_int() == 422, body << " -> " << res.body());
        if (res.result_int() == 422) BOOST_TEST(field_of(res) == "reason");
    }
    const auto by_operator = s.otto.post("/api/v1/approvals/gate-light/deny", R"({"reason": "mine"})");
    BOOST_TEST(by_operator.result_int() == 403, by_operator.body());

    const auto denied = s.alice.post("/api/v1/approvals/gate-light/deny", R"({"reason": "change freeze"})");
    BOOST_TEST_REQUIRE(denied.result_int() == 200, denied.body());
    const json::object record = json_object_of(denied);
    check_record_shape(record);
    BOOST_TEST(text(record, "id") == pending_id);
    BOOST_TEST(text(record, "state") == "denied");
    BOOST_TEST(text(record, "reason") == "change freeze");
    BOOST_TEST(text(record, "decided_by") == "alice");
    BOOST_TEST(text(record, "requested_by") == "otto");
    BOOST_TEST(record.at("approved_by").is_null());

    BOOST_TEST(s.viewer.get_object("/api/v1/approvals").at("pending") == json::array{});
    const json::object check = s.viewer.get_object("/api/v1/approvals/gate-light");
    BOOST_TEST(check.at("pending").is_null());
    // What a waiting requester reads to learn that its request was denied.
    BOOST_TEST_REQUIRE(check.at("last_decision").is_object(), json::serialize(check));
    BOOST_TEST(text(object_at(check, "last_decision"), "id") == pending_id);
    BOOST_TEST(text(object_at(check, "last_decision"), "state") == "denied");
    const auto twice = s.alice.post("/api/v1/approvals/gate-light/deny", R"({"reason": "again"})");
    BOOST_TEST(twice.result_int() == 404, twice.body());
    BOOST_TEST(error_field_of(twice) == "NO_PENDING_REQUEST");

    check_event(s.viewer, "approval.requested", pending_id);
    check_event(s.viewer, "approval.denied", pending_id, [](const json::object& event) {
        BOOST_TEST(text(event, "decided_by") == "alice");
        BOOST_TEST(text(event, "reason") == "change freeze");
    });
    const auto rows = audit_rows(s.admin);
    BOOST_TEST_CONTEXT("audit trail:" << rows_text(rows))
    {
        BOOST_TEST(audit_count(rows, "approval.deny", "gate-light", "alice", "NO_PENDING_REQUEST") == 2u);
        BOOST_TEST(audit_count(rows, "approval.deny", "gate-light", "alice", "VALIDATION_ERROR") == 2u);
        BOOST_TEST(audit_count(rows, "approval.deny", "gate-light", "alice", "succeeded") == 1u);
    }
}

BOOST_AUTO_TEST_CASE(four_eyes_for_destructive_checkpoints)
{
    gated_service s;
    // alice asks to run the destructive checkpoint: her 409 leaves a pending request in her name.
    const std::string pending_id =
        check_approval_required(s.alice.post("/api/v1/checkpoints/gate-destructive", "{}"), "gate-destructive");

    const auto own = s.alice.post("/api/v1/approvals/gate-destructive", destructive_grant);
    BOOST_TEST(own.result_int() == 403, own.body());
    BOOST_TEST(error_field_of(own) == "FOUR_EYES");
    const json::object check = s.viewer.get_object("/api/v1/approvals/gate-destructive");
    BOOST_TEST_REQUIRE(check.at("pending").is_object(), json::serialize(check));
    BOOST_TEST(text(object_at(check, "pending"), "id") == pending_id);
    BOOST_TEST(check.at("grant").is_null());

    const auto other = s.bob.post("/api/v1/approvals/gate-destructive", destructive_grant);
    BOOST_TEST_REQUIRE(other.result_int() == 201, other.body());
    const json::object grant = json_object_of(other);
    BOOST_TEST(text(grant, "id") == pending_id, "the grant answers the pending request");
    BOOST_TEST(text(grant, "approved_by") == "bob");
    BOOST_TEST(text(grant, "requested_by") == "alice");
    BOOST_TEST(text(grant, "state") == "granted");

    const auto run = s.alice.post("/api/v1/checkpoints/gate-destructive", "{}");
    BOOST_TEST_REQUIRE(run.result_int() == 202, run.body());
    const std::string execution_id = text(json_object_of(run), "execution_id");
    const json::object execution = s.viewer.wait_until("/api/v1/executions/" + execution_id, [](const json::object& e) {
        return is_final_status(text(e, "status"));
    });
    BOOST_TEST(text(execution, "status") == "succeeded", json::serialize(execution));
    BOOST_TEST(text(execution, "approval_id") == pending_id);
    BOOST_TEST(text(execution, "requested_by") == "alice");

    // The other way round: a grant bob gave ahead is no use to bob himself.
    const auto ahead = s.bob.post("/api/v1/approvals/gate-destructive", destructive_grant);
    BOOST_TEST_REQUIRE(ahead.result_int() == 201, ahead.body());
    const std::string ahead_id = text(json_object_of(ahead), "id");
    check_approval_required(s.bob.post("/api/v1/checkpoints/gate-destructive", "{}"), "gate-destructive");
    const json::object after = s.viewer.get_object("/api/v1/approvals/gate-destructive");
    BOOST_TEST_REQUIRE(after.at("grant").is_object(), json::serialize(after));
    BOOST_TEST(text(object_at(after, "grant"), "id") == ahead_id, "bob's own grant stays unused");
    // ... and it does not block the grant bob can use: alice answers his pending request.
    const auto answer = s.alice.post("/api/v1/approvals/gate-destructive", destructive_grant);
    BOOST_TEST_REQUIRE(answer.result_int() == 201, answer.body());
    const std::string answer_id = text(json_object_of(answer), "id");
    const auto bobs_run = s.bob.post("/api/v1/checkpoints/gate-destructive", "{}");
    BOOST_TEST_REQUIRE(bobs_run.result_int() == 202, bobs_run.body());
    const json::object bobs_execution = s.viewer.wait_until(
        "/api/v1/executions/" + text(json_object_of(bobs_run), "execution_id"),
        [](const json::object& e) { return is_final_status(text(e, "status")); });
    BOOST_TEST(text(bobs_execution, "approval_id") == answer_id, "bob's run used alice's grant, not his own");

    check_event(s.viewer, "approval.granted", pending_id,
                [](const json::object& event) { BOOST_TEST(text(event, "approved_by") == "bob"); });
    const auto rows = audit_rows(s.admin);
    BOOST_TEST_CONTEXT("audit trail:" << rows_text(rows))
    {
        BOOST_TEST(audit_count(rows, "approval.grant", "gate-destructive", "alice", "FOUR_EYES") == 1u);
        BOOST_TEST(audit_count(rows, "approval.grant", "gate-destructive", "bob", "succeeded") == 2u);
        BOOST_TEST(audit_count(rows, "approval.grant", "gate-destructive", "alice", "succeeded") == 1u);
    }
}

BOOST_AUTO_TEST_CASE(inline_approval_in_the_run_body)
{
    gated_service s;
    const auto by_operator = s.otto.post("/api/v1/checkpoints/gate-light", R"({"approve": true})");
    BOOST_TEST(by_operator.result_int() == 403, by_operator.body());
    BOOST_TEST(error_field_of(by_operator) == "FORBIDDEN");

    const auto destructive = s.alice.post("/api/v1/checkpoints/gate-destructive", R"({"approve": true})");
    BOOST_TEST(destructive.result_int() == 403, destructive.body());
    BOOST_TEST(error_field_of(destructive) == "INLINE_APPROVAL_NOT_ALLOWED");
    BOOST_TEST(s.viewer.get_object("/api/v1/approvals/gate-destructive").at("grant").is_null());

    const auto run = s.alice.post("/api/v1/checkpoints/gate-light", R"({"approve": true})");
    BOOST_TEST_REQUIRE(run.result_int() == 202, run.body());
    const std::string execution_id = text(json_object_of(run), "execution_id");
    const json::object execution = s.viewer.wait_until("/api/v1/executions/" + execution_id, [](const json::object& e) {
        return is_final_status(text(e, "status"));
    });
    BOOST_TEST(text(execution, "status") == "succeeded", json::serialize(execution));
    BOOST_TEST(text(execution, "requested_by") == "alice");
    const std::string approval_id = text(execution, "approval_id");
    BOOST_TEST(approval_id.starts_with("ap-"), json::serialize(execution));
    BOOST_TEST(s.viewer.get_object("/api/v1/approvals").at("grants") == json::array{}, "the inline grant is used up");

    check_event(s.viewer, "approval.granted", approval_id,
                [](const json::object& event) { BOOST_TEST(text(event, "approved_by") == "alice"); });
    check_event(s.viewer, "approval.consumed", approval_id,
                [&](const json::object& event) { BOOST_TEST(text(event, "execution_id") == execution_id); });
    const auto rows = audit_rows(s.admin);
    BOOST_TEST_CONTEXT("audit trail:" << rows_text(rows))
    {
        BOOST_TEST(audit_count(rows, "execution.start", "gate-light", "alice", "succeeded") == 1u);
        BOOST_TEST(audit_count(rows, "execution.start", "gate-destructive", "alice", "INLINE_APPROVAL_NOT_ALLOWED") == 1u);
        BOOST_TEST(audit_count(rows, "execution.start", "gate-light", "otto", "FORBIDDEN") == 1u);
    }
}

BOOST_AUTO_TEST_CASE(open_mode_grants_name_their_approver)
{
    auto options = fixture_service_options();
    options.catalog = fixtures / "pipeline.yaml";
    service_process service{options};
    const api_client local{service.port()};

    for (const std::string body : {R"({"reason": "x"})", R"({"reason": "x", "approved_by": ""})"}) {
        const auto res = local.post("/api/v1/approvals/gate-light", body);
        BOOST_TEST(res.result_int() == 422, body << " -> " << res.body());
        BOOST_TEST(error_field_of(res) == "VALIDATION_ERROR");
        if (res.result_int() == 422) BOOST_TEST(field_of(res) == "approved_by");
    }
    const auto granted = local.post("/api/v1/approvals/gate-light", R"({"reason": "x", "approved_by": "carol"})");
    BOOST_TEST_REQUIRE(granted.result_int() == 201, granted.body());
    const std::string grant_id = text(json_object_of(granted), "id");
    BOOST_TEST(text(json_object_of(granted), "approved_by") == "carol");

    // Everyone is "local" in open mode, so the four-eyes rule cannot apply there.
    check_approval_required(local.post("/api/v1/checkpoints/gate-destructive", "{}"), "gate-destructive");
    const auto destructive = local.post("/api/v1/approvals/gate-destructive",
                                        R"({"reason": "CHG-1", "acknowledge_risks": true, "approved_by": "carol"})");
    BOOST_TEST(destructive.result_int() == 201, destructive.body());

    check_event(local, "approval.granted", grant_id,
                [](const json::object& event) { BOOST_TEST(text(event, "approved_by") == "carol"); });
    const auto rows = audit_rows(local);
    BOOST_TEST_CONTEXT("audit trail:" << rows_text(rows))
    {
        BOOST_TEST(audit_count(rows, "approval.grant", "gate-light", "local", "VALIDATION_ERROR") == 2u);
        BOOST_TEST(audit_count(rows, "approval.grant", "gate-light", "local", "succeeded") == 1u);
    }
}

BOOST_AUTO_TEST_SUITE_END()
