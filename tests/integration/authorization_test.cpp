// Suite authorization: bearer tokens and roles on a running service. Every mutating route (and a
// read) is called with no token, an unknown token and a token of each role; the answer must be
// 401, 403 below the route's role, and the handler's own answer at or above it.
#include "support/test_support.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <sstream>

using namespace raydeploy::test;
namespace json = boost::json;

namespace {

constexpr int exit_usage = 2;

// The role ladder as the API names it; a caller may use every route up to its own rank.
const std::vector<std::string> roles = {"viewer", "operator", "approver", "admin"};

std::size_t rank_of(const std::string& role)
{
    return static_cast<std::size_t>(std::find(roles.begin(), roles.end(), role) - roles.begin());
}

bool contains(const std::string& text, std::string_view needle) { return text.find(needle) != std::string::npos; }

struct created_token {
    std::string token;     // what the caller sends
    std::string env_form;  // NAME:ROLE:SHA256, as RAYDEPLOY_AUTH_TOKENS takes it
    std::string yaml_entry;
};

// `raydeploy token create`, the way an admin would make the tokens.
created_token create_token(const std::string& name, const std::string& role)
{
    const auto result = run_cli({"token", "create", "--name", name, "--role", role});
    BOOST_TEST_REQUIRE(result.exit_code == 0, result.err);
    std::istringstream lines{result.out};
    created_token made;
    std::getline(lines, made.token);
    const std::string env_marker = "RAYDEPLOY_AUTH_TOKENS=";
    for (std::string line; std::getline(lines, line);) {
        if (const auto at = line.find(env_marker); at != std::string::npos)
            made.env_form = line.substr(at + env_marker.size());
        if (line.starts_with("    ") || line.starts_with("      ")) made.yaml_entry += line + "\n";
    }
    BOOST_TEST_REQUIRE(!made.env_form.empty(), result.out);
    return made;
}

// One token per role, named after its role.
struct role_tokens {
    std::map<std::string, created_token> by_role;

    role_tokens()
    {
        for (const auto& role : roles) by_role.emplace(role, create_token(role + "-user", role));
    }
    std::string environment_value() const
    {
        std::string value;
        for (const auto& role : roles) value += (value.empty() ? "" : ",") + by_role.at(role).env_form;
        return value;
    }
};

service_options service_with_tokens(const role_tokens& tokens)
{
    service_options options;
    options.env = {{"RAYDEPLOY_AUTH_TOKENS", tokens.environment_value()}};
    return options;
}

struct route_row {
    http::verb verb;
    std::string target;
    std::string body;          // sent as application/json when not empty
    std::string required_role;
};

struct caller {
    std::string label;
    std::optional<std::string> token;
    std::optional<std::string> role;  // nullopt: no valid token
};

std::vector<caller> callers(const role_tokens& tokens)
{
    std::vector<caller> result = {{"no token", std::nullopt, std::nullopt},
                                  {"unknown token", "rdp_" + std::string(43, 'x'), std::nullopt}};
    for (const auto& role : roles) result.push_back({role, tokens.by_role.at(role).token, role});
    return result;
}

response call(std::uint16_t port, const route_row& row, const std::optional<std::string>& token)
{
    std::map<std::string, std::string> headers;
    if (token) headers["Authorization"] = "Bearer " + *token;
    if (!row.body.empty()) headers["Content-Type"] = "application/json";
    return http_request(port, row.verb, row.target, row.body, headers);
}

std::string name_of(const route_row& row) { return std::string{http::to_string(row.verb)} + " " + row.target; }

// The whole matrix of `rows` against a service holding `tokens`.
void check_matrix(std::uint16_t port, const role_tokens& tokens, const std::vector<route_row>& rows)
{
    for (const auto& row : rows) {
        // A route nobody serves answers the router's 404 NOT_FOUND to everyone; say that once
        // instead of failing every cell of its row.
        const auto probe = call(port, row, tokens.by_role.at("admin").token);
        if (probe.result_int() == 404 && error_field_of(probe) == "NOT_FOUND") {
            BOOST_ERROR("route not served: " << name_of(row) << " (" << probe.body() << ")");
            continue;
        }
        for (const auto& who : callers(tokens)) {
            BOOST_TEST_CONTEXT(name_of(row) << " as " << who.label)
            {
                const auto res = call(port, row, who.token);
                if (!who.role) {
                    BOOST_TEST(res.result_int() == 401, res.body());
                    BOOST_TEST(error_field_of(res) == "UNAUTHENTICATED");
                    BOOST_TEST(std::string{res[http::field::www_authenticate]}.starts_with("Bearer"));
                } else if (rank_of(*who.role) < rank_of(row.required_role)) {
                    BOOST_TEST(res.result_int() == 403, res.body());
                    BOOST_TEST(error_field_of(res) == "FORBIDDEN");
                    if (res.result_int() == 403)
                        BOOST_TEST(text(json_object_of(res), "required_role") == row.required_role);
                } else {
                    BOOST_TEST(res.result_int() != 401, res.body());
                    BOOST_TEST(res.result_int() != 403, res.body());
                    BOOST_TEST(error_field_of(res) != "NOT_FOUND", res.body());  // the router's "no route"
                }
            }
        }
    }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(authorization)

// The routes that exist since issue 3. The handlers answer 404/409/426 for the made-up names,
// which proves they ran after the role check.
BOOST_AUTO_TEST_CASE(matrix_of_checkpoint_execution_and_event_routes)
{
    const role_tokens tokens;
    service_process service{service_with_tokens(tokens)};
    check_matrix(service.port(), tokens,
                 {
                     {http::verb::get, "/api/v1/checkpoints", "", "viewer"},
                     {http::verb::get, "/api/v1/checkpoints/prerequisites-check", "", "viewer"},
                     {http::verb::get, "/api/v1/executions", "", "viewer"},
                     {http::verb::get, "/api/v1/executions/ex-nope", "", "viewer"},
                     {http::verb::get, "/api/v1/executions/ex-nope/events", "", "viewer"},
                     {http::verb::get, "/api/v1/executions/ex-nope/log", "", "viewer"},
                     {http::verb::get, "/api/v1/events", "", "viewer"},  // 426 without the upgrade
                     {http::verb::post, "/api/v1/events/tickets", "", "viewer"},
                     {http::verb::post, "/api/v1/checkpoints/no-such-checkpoint", "{}", "operator"},
                     {http::verb::post, "/api/v1/executions/ex-nope/cancel", "", "operator"},
                 });

    // Public: a load balancer's health check and the API description need no token.
    BOOST_TEST(http_get(service.port(), "/health").result_int() == 200);
    BOOST_TEST(http_get(service.port(), "/openapi.yaml").result_int() == 200);
}

// The routes of issue 4's approvals, deployments and audit log. Bodies name a checkpoint or id
// that does not exist, so an allowed caller gets a 404/422 and nothing runs.
BOOST_AUTO_TEST_CASE(matrix_of_approval_deployment_and_audit_routes)
{
    const role_tokens tokens;
    service_process service{service_with_tokens(tokens)};
    check_matrix(service.port(), tokens,
                 {
                     {http::verb::get, "/api/v1/approvals", "", "viewer"},
                     {http::verb::get, "/api/v1/approvals/cleanup-existing", "", "viewer"},
                     {http::verb::post, "/api/v1/approvals/no-such-checkpoint",
                      R"({"reason":"matrix","acknowledge_risks":true})", "approver"},
                     {http::verb::delete_, "/api/v1/approvals/no-such-checkpoint", "", "approver"},
                     {http::verb::post, "/api/v1/approvals/no-such-checkpoint/deny", R"({"reason":"matrix"})",
                      "approver"},
                     {http::verb::get, "/api/v1/deployments", "", "viewer"},
                     {http::verb::get, "/api/v1/deployments/dp-nope", "", "viewer"},
                     {http::verb::post, "/api/v1/deployments", R"({"checkpoints":["no-such-checkpoint"]})", "operator"},
                     {http::verb::post, "/api/v1/deployments/dp-nope/cancel", "", "operator"},
                     {http::verb::post, "/api/v1/deployments/dp-nope/resume", "", "operator"},
                     {http::verb::get, "/api/v1/cluster/status", "", "viewer"},
                     {http::verb::get, "/api/v1/audit", "", "admin"},
                 });
}

BOOST_AUTO_TEST_CASE(messages_say_what_to_do_and_the_log_names_the_caller)
{
    const role_tokens tokens;
    service_process service{service_with_tokens(tokens)};

    const auto anonymous = http_get(service.port(), "/api/v1/checkpoints");
    BOOST_TEST(anonymous.result_int() == 401);
    const std::string message = text(json_object_of(anonymous), "message");
    BOOST_TEST(contains(message, "Authorization: Bearer $RAYDEPLOY_TOKEN"), message);
    BOOST_TEST(contains(message, "raydeploy token create"), message);

    const auto denied = http_request(service.port(), http::verb::post, "/api/v1/executions/ex-nope/cancel", "",
                                     {{"Authorization", "Bearer " + tokens.by_role.at("viewer").token}});
    BOOST_TEST(denied.result_int() == 403);
    BOOST_TEST(text(json_object_of(denied), "message") ==
               "this needs the operator role; token 'viewer-user' has viewer; use a token with that role or ask an "
               "admin for one");

    const auto read = http_request(service.port(), http::verb::get, "/api/v1/checkpoints", "",
                                   {{"Authorization", "Bearer " + tokens.by_role.at("operator").token}});
    BOOST_TEST(read.result_int() == 200);
    BOOST_TEST(service.wait_for_stderr("caller=operator-user", 5s), service.stderr_text());
    for (const auto& [role, made] : tokens.by_role)
        BOOST_TEST(!contains(service.stderr_text(), made.token), "the log holds the " << role << " token");
}

BOOST_AUTO_TEST_CASE(open_mode_on_loopback_needs_no_token)
{
    service_process service;  // no tokens, 127.0.0.1
    BOOST_TEST(http_get(service.port(), "/api/v1/checkpoints").result_int() == 200);
    const auto cancel = http_request(service.port(), http::verb::post, "/api/v1/executions/ex-nope/cancel");
    BOOST_TEST(cancel.result_int() == 404);
    BOOST_TEST(error_field_of(cancel) == "EXECUTION_NOT_FOUND");
}

// Host and Origin are checked before the caller: no token, however strong, makes a request from
// another site's page (or through a rebound DNS name) acceptable, and public routes are no exception.
BOOST_AUTO_TEST_CASE(host_and_origin_rules_hold_for_every_caller_and_route)
{
    const role_tokens tokens;
    service_options options = service_with_tokens(tokens);
    options.env["RAYDEPLOY_HTTP_ALLOWED_HOSTS"] = "deploy.example";
    service_process with_tokens{options};
    service_process open_mode;
    const std::vector<route_row> rows = {
        {http::verb::get, "/health", "", ""},
        {http::verb::get, "/api/v1/checkpoints", "", "viewer"},
        {http::verb::get, "/api/v1/events", "", "viewer"},
        {http::verb::post, "/api/v1/events/tickets", "", "viewer"},
        {http::verb::post, "/api/v1/checkpoints/no-such-checkpoint", "{}", "operator"},
        {http::verb::post, "/api/v1/approvals/no-such-checkpoint", R"({"reason":"matrix"})", "approver"},
        {http::verb::get, "/api/v1/audit", "", "admin"},
    };
    const auto send = [](std::uint16_t port, const route_row& row, const std::optional<std::string>& token,
                         std::map<std::string, std::string> headers) {
        if (token) headers["Authorization"] = "Bearer " + *token;
        if (row.target == "/api/v1/events")
            headers.insert({{"Upgrade", "websocket"}, {"Connection", "Upgrade"}, {"Sec-WebSocket-Version", "13"},
                            {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}});
        return http_request(port, row.verb, row.target, row.body, headers);
    };
    for (const auto& row : rows) {
        for (const auto& who : callers(tokens)) {
            BOOST_TEST_CONTEXT(name_of(row) << " as " << who.label << " with tokens")
            {
                const std::string own = "127.0.0.1:" + std::to_string(with_tokens.port());
                const auto rebound = send(with_tokens.port(), row, who.token, {{"Host", "evil.example:8000"}});
                BOOST_TEST(rebound.result_int() == 421, rebound.body());
                BOOST_TEST(error_field_of(rebound) == "HOST_NOT_ALLOWED");
                const auto foreign = send(with_tokens.port(), row, who.token,
                                          {{"Host", own}, {"Origin", "https://evil.example"}});
                BOOST_TEST(foreign.result_int() == 403, foreign.body());
                BOOST_TEST(error_field_of(foreign) == "ORIGIN_NOT_ALLOWED");
                // A listed name and this service's own origin get the route's usual answer.
                const auto listed = send(with_tokens.port(), row, who.token,
                                         {{"Host", "deploy.example"}, {"Origin", "http://deploy.example"}});
                BOOST_TEST(listed.result_int() != 421, listed.body());
                BOOST_TEST((listed.result_int() != 403 || error_field_of(listed) == "FORBIDDEN"), listed.body());
            }
        }
        BOOST_TEST_CONTEXT(name_of(row) << " in open mode")
        {
            const auto rebound = send(open_mode.port(), row, std::nullopt,
                                      {{"Host", "evil.example:" + std::to_string(open_mode.port())}});
            BOOST_TEST(rebound.result_int() == 421, rebound.body());
            BOOST_TEST(error_field_of(rebound) == "HOST_NOT_ALLOWED");
            const auto foreign = send(open_mode.port(), row, std::nullopt, {{"Origin", "http://127.0.0.1:1"}});
            BOOST_TEST(foreign.result_int() == 403, foreign.body());
            BOOST_TEST(error_field_of(foreign) == "ORIGIN_NOT_ALLOWED");
        }
    }
}

// Needs check_listen_security() in `serve`'s start-up.
BOOST_AUTO_TEST_CASE(open_mode_off_loopback_refuses_to_start)
{
    temp_dir dir;
    const auto result = run_cli({"serve", "--listen", "0.0.0.0:0", "--state-dir", (dir.path() / "state").string(),
                                 "--catalog", (source_dir() / "playbooks" / "checkpoints.yaml").string(),
                                 "--inventory", (source_dir() / "playbooks" / "inventory" / "local.yml").string()});
    BOOST_TEST(result.exit_code == exit_usage, "exit " << result.exit_code << "; stderr:\n" << result.err);
    BOOST_TEST(!contains(result.out, "listening on"), result.out);
    BOOST_TEST(contains(result.err, "raydeploy token create --name NAME --role admin"), result.err);
    BOOST_TEST(!fs::exists(dir.path() / "state"), "a refused start created the state directory");
}

// Tokens from a config file (the form 'raydeploy token create' prints) allow any address.
BOOST_AUTO_TEST_CASE(tokens_from_a_config_file_allow_a_non_loopback_listen)
{
    const auto admin = create_token("root", "admin");
    temp_dir dir;
    const auto config = dir.write_file("raydeploy.yaml", "auth:\n  tokens:\n" + admin.yaml_entry);
    service_options options;
    options.listen = "0.0.0.0:0";
    options.args = {"--config", config.string()};
    service_process service{options};
    BOOST_TEST(http_get(service.port(), "/api/v1/checkpoints").result_int() == 401);
    const auto read = http_request(service.port(), http::verb::get, "/api/v1/checkpoints", "",
                                   {{"Authorization", "Bearer " + admin.token}});
    BOOST_TEST(read.result_int() == 200, read.body());

    const auto shown = run_cli({"serve", "--config", config.string(), "--check-config", "--catalog",
                                (source_dir() / "playbooks" / "checkpoints.yaml").string(), "--inventory",
                                (source_dir() / "playbooks" / "inventory" / "local.yml").string()});
    BOOST_TEST(shown.exit_code == 0, shown.err);
    BOOST_TEST(contains(shown.out, "auth.tokens = root (admin)"), shown.out);
    const std::string hash = admin.env_form.substr(admin.env_form.rfind(':') + 1);
    BOOST_TEST(!contains(shown.out, hash), "--check-config shows the hash:\n" << shown.out);
}

// Who may decide whose run (issue 9): for a destructive gate, each requester x approver pair,
// where alice's two tokens (her laptop's and her CI job's, sharing the person "Alice") are one
// person; and a grant serves only the run it was asked for.
BOOST_AUTO_TEST_CASE(matrix_of_four_eyes_by_person_and_bound_grants)
{
    const test_identity alice = make_identity("alice", "approver");
    const test_identity alice_ci = make_identity("alice-ci", "operator");
    const test_identity bob = make_identity("bob", "approver");
    const test_identity otto = make_identity("otto", "operator");
    auto options = fixture_service_options(
        {{"RAYDEPLOY_AUTH_TOKENS", auth_tokens_env({alice, bob, otto}) + "," + alice_ci.env_entry() + ":Alice"}});
    options.catalog = source_dir() / "tests" / "fixtures" / "ansible" / "pipeline.yaml";
    service_process service{options};

    struct cell {
        const test_identity& requester;
        const test_identity& approver;
        bool allowed;
    };
    const std::vector<cell> cells = {
        {otto, alice, true}, {otto, bob, true}, {alice_ci, alice, false}, {alice_ci, bob, true},
        {alice, alice, false}, {bob, alice, true},
    };
    int host = 0;
    for (const auto& c : cells) {
        BOOST_TEST_CONTEXT(c.requester.name << " asks, " << c.approver.name << " grants")
        {
            // A distinct limit per cell: each asks for a run of its own.
            const std::string body = R"({"limit": "host)" + std::to_string(++host) + R"("})";
            const auto asked = api_client{service.port(), c.requester}.post("/api/v1/checkpoints/gate-destructive", body);
            BOOST_TEST_REQUIRE(asked.result_int() == 409, asked.body());
            const std::string id = text(json_object_of(asked), "approval_id");
            const auto decided = api_client{service.port(), c.approver}.post(
                "/api/v1/approvals/gate-destructive",
                R"({"approval_id": ")" + id + R"(", "reason": "matrix", "acknowledge_risks": true})");
            BOOST_TEST(decided.result_int() == (c.allowed ? 201 : 403), decided.body());
            if (!c.allowed) BOOST_TEST(error_field_of(decided) == "FOUR_EYES");
            if (!c.allowed) continue;
            // Someone else asking for the very same run gets a request of their own.
            const test_identity& other = &c.requester == &otto ? bob : otto;
            const auto stolen = api_client{service.port(), other}.post("/api/v1/checkpoints/gate-destructive", body);
            BOOST_TEST(stolen.result_int() == 409, stolen.body());
            BOOST_TEST(text(json_object_of(stolen), "approval_id") != id, stolen.body());
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()
