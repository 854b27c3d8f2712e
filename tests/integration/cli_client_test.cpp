// Suite cli_client: the client commands of the real binary (run, deploy, resume, approve, deny,
// status, executions, logs, cancel) against a real service running the Ansible fixtures, in CI
// mode (stdout is a file), the way a pipeline uses them.
#include "support/test_support.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <csignal>
#include <future>
#include <regex>
#include <sstream>
#include <thread>

using namespace raydeploy::test;
namespace json = boost::json;

namespace {

constexpr int exit_ok = 0;
constexpr int exit_failed = 1;
constexpr int exit_usage = 2;
constexpr int exit_approval = 3;
constexpr int exit_unreachable = 5;

bool contains(const std::string& text, std::string_view needle) { return text.find(needle) != std::string::npos; }

std::string url_of(const service_process& service) { return "http://127.0.0.1:" + std::to_string(service.port()); }

// The command with --server pointing at `service`.
std::vector<std::string> at(const service_process& service, std::vector<std::string> args)
{
    args.push_back("--server");
    args.push_back(url_of(service));
    return args;
}

// CI mode without GitHub Actions, whatever the machine running the tests sets.
env_map ci(env_map extra = {})
{
    extra.emplace("GITHUB_ACTIONS", "false");
    return extra;
}

std::string describe(const cli_result& result)
{
    return "exit " + std::to_string(result.exit_code) + "\nstdout:\n" + result.out + "stderr:\n" + result.err;
}

std::string first_match(const std::string& text, const std::string& pattern)
{
    std::smatch match;
    return std::regex_search(text, match, std::regex{pattern}) ? match.str(0) : std::string{};
}

// Polls until `condition` holds; false at the deadline.
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 30s)
{
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (condition()) return true;
        std::this_thread::sleep_for(100ms);
    }
    return condition();
}

// The pending approval request of `checkpoint`, once there is one.
bool has_pending_request(std::uint16_t port, const std::string& checkpoint,
                         const std::map<std::string, std::string>& headers = {})
{
    const auto res = http_request(port, http::verb::get, "/api/v1/approvals/" + checkpoint, {}, headers);
    if (res.result_int() != 200) return false;
    const json::object answer = json_object_of(res);
    const auto* pending = answer.if_contains("pending");
    return pending && pending->is_object();
}

response post_json(std::uint16_t port, const std::string& target, const json::object& body,
                   std::map<std::string, std::string> headers = {})
{
    headers["Content-Type"] = "application/json";
    return http_request(port, http::verb::post, target, json::serialize(body), headers);
}

// The follower polls every 100 ms in these tests; this is long enough for it to have seen a
// state the service reached (so a gate is shown before the test approves it).
void let_the_follower_see_it() { std::this_thread::sleep_for(1s); }

// Runs the CLI in the background, for tests that act on the service while it waits.
std::future<cli_result> start_cli(std::vector<std::string> args, env_map env, std::chrono::milliseconds timeout = 90s)
{
    return std::async(std::launch::async, [args = std::move(args), env = std::move(env), timeout] {
        return run_cli(args, env, std::nullopt, timeout);
    });
}

// A catalog of two checkpoints whose second one fails until `marker` exists: the fix that a
// resumed deployment picks up.
fs::path write_flaky_catalog(const temp_dir& dir, const fs::path& marker)
{
    const fs::path fixtures = source_dir() / "tests" / "fixtures" / "ansible";
    dir.write_file("succeed.yml", read_file(fixtures / "succeed.yml"));
    dir.write_file("flaky.yml", "- name: Needs the fix\n"
                                "  hosts: host1\n"
                                "  gather_facts: false\n"
                                "  tasks:\n"
                                "    - name: Check that the fix is in place\n"
                                "      ansible.builtin.command: test -e " + marker.string() + "\n"
                                "      changed_when: false\n");
    return dir.write_file("catalog.yaml", "checkpoints:\n"
                                          "  - name: first\n"
                                          "    playbook: succeed.yml\n"
                                          "    description: Succeeds.\n"
                                          "    timeout: 2m\n"
                                          "  - name: flaky\n"
                                          "    playbook: flaky.yml\n"
                                          "    description: Fails until the marker file exists.\n"
                                          "    timeout: 2m\n");
}

struct token {
    std::string secret;
    std::string env_form;  // NAME:ROLE:SHA256 for RAYDEPLOY_AUTH_TOKENS
};

token create_token(const std::string& name, const std::string& role)
{
    const auto result = run_cli({"token", "create", "--name", name, "--role", role});
    BOOST_TEST_REQUIRE(result.exit_code == 0, describe(result));
    std::istringstream lines{result.out};
    token made;
    std::getline(lines, made.secret);
    const std::string marker = "RAYDEPLOY_AUTH_TOKENS=";
    for (std::string line; std::getline(lines, line);)
        if (const auto found = line.find(marker); found != std::string::npos) made.env_form = line.substr(found + marker.size());
    BOOST_TEST_REQUIRE(!made.env_form.empty(), result.out);
    return made;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cli_client)

BOOST_AUTO_TEST_CASE(run_read_and_follow)
{
    service_process service{fixture_service_options()};

    const auto ok = run_cli(at(service, {"run", "succeed"}), ci(), std::nullopt, 60s);
    BOOST_TEST_REQUIRE(ok.exit_code == exit_ok, describe(ok));
    BOOST_TEST(contains(ok.out, "[1/1] succeed: task \"Say hello\""), ok.out);
    BOOST_TEST(contains(ok.out, "[1/1] succeed: succeeded after"), ok.out);
    // CI lines: every one starts with an RFC 3339 UTC timestamp.
    std::istringstream lines{ok.out};
    for (std::string line; std::getline(lines, line);)
        BOOST_TEST(std::regex_match(line, std::regex{R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z .+)"}), line);

    const auto failed = run_cli(at(service, {"run", "fail"}), ci(), std::nullopt, 60s);
    BOOST_TEST_REQUIRE(failed.exit_code == exit_failed, describe(failed));
    BOOST_TEST(contains(failed.out, "host2 failed in \"Break on purpose\": intentional failure for tests"), failed.out);
    BOOST_TEST(contains(failed.out, "fail: failed after"), failed.out);
    const std::string failed_id = first_match(failed.out, "ex-[0-9a-f]{20}");
    BOOST_TEST_REQUIRE(!failed_id.empty(), failed.out);
    BOOST_TEST(contains(failed.out, "raydeploy logs " + failed_id + " --server " + url_of(service)), failed.out);

    const auto list = run_cli(at(service, {"executions", "--format", "json"}), ci());
    BOOST_TEST_REQUIRE(list.exit_code == exit_ok, describe(list));
    const auto executions = parse_json(list.out).at("executions").as_array();
    BOOST_TEST_REQUIRE(executions.size() == 2u, list.out);
    BOOST_TEST(text(executions[0].at("execution_id")) == failed_id);  // newest first
    BOOST_TEST(text(executions[0].at("status")) == "failed");
    BOOST_TEST(text(executions[1].at("status")) == "succeeded");

    const auto table = run_cli(at(service, {"executions", "--status", "failed"}), ci());
    BOOST_TEST_REQUIRE(table.exit_code == exit_ok, describe(table));
    BOOST_TEST(contains(table.out, "EXECUTION"), table.out);
    BOOST_TEST(contains(table.out, failed_id), table.out);
    BOOST_TEST(!contains(table.out, "succeeded"), table.out);

    const auto log = run_cli(at(service, {"logs", failed_id}), ci());
    BOOST_TEST_REQUIRE(log.exit_code == exit_ok, describe(log));
    BOOST_TEST(contains(log.out, "Break on purpose"), log.out);
    BOOST_TEST(contains(log.out, "PLAY RECAP"), log.out);
    // Following a finished execution prints the same and ends.
    const auto followed = run_cli(at(service, {"logs", failed_id, "--follow"}), ci());
    BOOST_TEST(followed.exit_code == exit_ok, describe(followed));
    BOOST_TEST(followed.out == log.out);

    const auto status = run_cli(at(service, {"status", "--format", "json"}), ci());
    BOOST_TEST_REQUIRE(status.exit_code == exit_ok, describe(status));
    BOOST_TEST(parse_json(status.out).as_object().contains("deployment_status"), status.out);

    const auto latest = run_cli(at(service, {"status", "--checkpoint", "fail", "--format", "json"}), ci());
    BOOST_TEST_REQUIRE(latest.exit_code == exit_ok, describe(latest));
    BOOST_TEST(text(parse_json(latest.out).at("execution_id")) == failed_id);
    const auto latest_text = run_cli(at(service, {"status", "--checkpoint", "fail"}), ci());
    BOOST_TEST(contains(latest_text.out, "task \"Break on purpose\" on host2: intentional failure for tests"),
               latest_text.out);

    const auto gate = run_cli(at(service, {"status", "--approval-check", "gated", "--format", "json"}), ci());
    BOOST_TEST_REQUIRE(gate.exit_code == exit_ok, describe(gate));
    BOOST_TEST(parse_json(gate.out).at("approval_required").as_bool());

    const auto health = run_cli(at(service, {"status", "--health-only"}), ci());
    BOOST_TEST(health.exit_code == exit_ok, describe(health));
    BOOST_TEST(contains(health.out, "service: ok"), health.out);
    BOOST_TEST(contains(health.out, "cluster health: UNKNOWN"), health.out);

    // Names the service does not know: the request has to change, exit 2.
    const auto unknown = run_cli(at(service, {"run", "nope"}), ci());
    BOOST_TEST(unknown.exit_code == exit_usage, describe(unknown));
    BOOST_TEST(contains(unknown.err, "CHECKPOINT_NOT_FOUND"), unknown.err);
    const auto no_log = run_cli(at(service, {"logs", "ex-00000000000000000000"}), ci());
    BOOST_TEST(no_log.exit_code == exit_usage, describe(no_log));
}

BOOST_AUTO_TEST_CASE(status_of_a_checkpoint_shows_its_results_and_where_the_report_is)
{
    service_process service{fixture_service_options()};
    const auto port = service.port();
    const std::string results_id = start_execution(port, "results");
    const std::string report_id = start_execution(port, "report");
    for (const auto& id : {results_id, report_id})
        BOOST_TEST_REQUIRE(text(wait_for_execution(port, id, {"succeeded", "failed", "cancelled", "timed_out"}), "status") ==
                           "succeeded");

    const auto results = run_cli(at(service, {"status", "--checkpoint", "results"}), ci());
    BOOST_TEST_REQUIRE(results.exit_code == exit_ok, describe(results));
    BOOST_TEST(contains(results.out, "results:"), results.out);
    BOOST_TEST(std::regex_search(results.out, std::regex{R"(\n    host1 +hostname=host1 role=head cpus=2 ports=\{"6379":"free"\} problems=\[\]\n)"}),
               results.out);
    BOOST_TEST(std::regex_search(results.out, std::regex{R"(\n    host3 +hostname=host3 role=worker )"}), results.out);
    BOOST_TEST(contains(results.out, "  summary:  nodes=3 all_ok=true\n"), results.out);
    BOOST_TEST(!contains(results.out, "report:"), results.out);

    const auto report = run_cli(at(service, {"status", "--checkpoint", "report"}), ci());
    BOOST_TEST_REQUIRE(report.exit_code == exit_ok, describe(report));
    BOOST_TEST(contains(report.out, "  summary:  passed=2 failed=0\n"), report.out);
    BOOST_TEST(contains(report.out, "  report:   GET /api/v1/executions/" + report_id + "/report"), report.out);
    BOOST_TEST(contains(report.out, "curl -s '" + url_of(service) + "/api/v1/executions/" + report_id +
                                        "/report?format=markdown'"),
               report.out);

    const auto as_json = run_cli(at(service, {"status", "--checkpoint", "report", "--format", "json"}), ci());
    BOOST_TEST_REQUIRE(as_json.exit_code == exit_ok, describe(as_json));
    const auto execution = parse_json(as_json.out).as_object();
    BOOST_TEST(execution.at("has_report").as_bool());
    BOOST_TEST(execution.at("results").at("summary") == parse_json(R"({"passed": 2, "failed": 0})"), as_json.out);
}

BOOST_AUTO_TEST_CASE(unreachable_service_exits_5)
{
    std::uint16_t port = 0;
    {
        service_process service{fixture_service_options()};
        port = service.port();
        service.send_signal(SIGTERM);
        BOOST_TEST_REQUIRE(service.wait_exit(15s).has_value());
    }
    const std::string url = "http://127.0.0.1:" + std::to_string(port);
    const auto result = run_cli({"run", "succeed", "--server", url}, ci());
    BOOST_TEST(result.exit_code == exit_unreachable, describe(result));
    BOOST_TEST(contains(result.err, "cannot reach the raydeploy service at " + url), result.err);
    // RAYDEPLOY_SERVER works as well as the flag.
    const auto from_env = run_cli({"executions"}, ci({{"RAYDEPLOY_SERVER", url}}));
    BOOST_TEST(from_env.exit_code == exit_unreachable, describe(from_env));
}

BOOST_AUTO_TEST_CASE(ci_output_with_github_actions_and_heartbeat)
{
    service_process service{fixture_service_options({{"RAYDEPLOY_EXECUTIONS_KILL_GRACE", "2s"}})};
    // `slow` sleeps past its 8 s timeout: silence long enough for heartbeats, and a timed_out end.
    const auto result = run_cli(at(service, {"run", "slow", "--heartbeat", "1s"}), {{"GITHUB_ACTIONS", "true"}},
                                std::nullopt, 60s);
    BOOST_TEST(result.exit_code == exit_failed, describe(result));
    BOOST_TEST(contains(result.out, "\n::group::checkpoint slow\n"), result.out);
    BOOST_TEST(contains(result.out, "\n::endgroup::\n"), result.out);
    BOOST_TEST(contains(result.out, "\n::error::checkpoint slow timed_out"), result.out);
    // Not necessarily with the task's name: on a loaded machine the 8 s may pass before it starts.
    BOOST_TEST(contains(result.out, " still running: slow"), result.out);
    BOOST_TEST(result.out.find("::group::") < result.out.find("still running"), result.out);
    BOOST_TEST(result.out.find("still running") < result.out.find("::endgroup::"), result.out);
}

BOOST_AUTO_TEST_CASE(run_waits_at_a_gate_until_approved_over_http)
{
    service_process service{fixture_service_options()};
    auto running = start_cli(at(service, {"run", "gated", "--heartbeat", "1s"}), ci());
    BOOST_TEST_REQUIRE(eventually([&] { return has_pending_request(service.port(), "gated"); }));
    const auto grant = post_json(service.port(), "/api/v1/approvals/gated",
                                 {{"reason", "test approves"}, {"acknowledge_risks", true}, {"approved_by", "tester"}});
    BOOST_TEST_REQUIRE(grant.result_int() == 201, grant.body());
    const auto result = running.get();
    BOOST_TEST(result.exit_code == exit_ok, describe(result));
    BOOST_TEST(contains(result.out, "gated: waiting for an approval (destructive checkpoint)"), result.out);
    BOOST_TEST(contains(result.out, "impact: DESTRUCTIVE: test gate"), result.out);
    BOOST_TEST(contains(result.out, "approve it with: curl -sS -X POST '" + url_of(service) + "/api/v1/approvals/gated'"),
               result.out);
    BOOST_TEST(contains(result.out, "gated: succeeded after"), result.out);
}

BOOST_AUTO_TEST_CASE(run_exits_3_when_the_gate_is_denied)
{
    service_process service{fixture_service_options()};
    auto running = start_cli(at(service, {"run", "gated"}), ci());
    BOOST_TEST_REQUIRE(eventually([&] { return has_pending_request(service.port(), "gated"); }));
    const auto deny = run_cli(at(service, {"deny", "gated", "--reason", "not in this window"}), ci());
    BOOST_TEST_REQUIRE(deny.exit_code == exit_ok, describe(deny));
    BOOST_TEST(contains(deny.out, "denied ap-"), deny.out);
    const auto result = running.get();
    BOOST_TEST(result.exit_code == exit_approval, describe(result));
    BOOST_TEST(contains(result.out, " of gated was denied"), result.out);
    BOOST_TEST(!contains(result.out, "started gated"), result.out);
}

BOOST_AUTO_TEST_CASE(deploy_in_ci_waits_at_the_gate_and_finishes_after_approval)
{
    service_process service{fixture_service_options()};
    auto deploying = start_cli(
        at(service, {"deploy", "--checkpoints", "succeed,gated", "--heartbeat", "2s", "--poll-interval", "100ms"}),
        {{"GITHUB_ACTIONS", "true"}});
    BOOST_TEST_REQUIRE(eventually([&] { return has_pending_request(service.port(), "gated"); }, 60s));
    let_the_follower_see_it();
    // Approved with the CLI, as a second person would.
    const auto approve = run_cli(at(service, {"approve", "gated", "--reason", "window open", "--acknowledge-risks",
                                              "--as", "second-person"}),
                                 ci());
    BOOST_TEST_REQUIRE(approve.exit_code == exit_ok, describe(approve));
    BOOST_TEST(contains(approve.out, "granted ap-"), approve.out);
    BOOST_TEST(contains(approve.out, "second-person"), approve.out);

    const auto result = deploying.get();
    BOOST_TEST(result.exit_code == exit_ok, describe(result));
    BOOST_TEST(contains(result.out, "::group::checkpoint succeed"), result.out);
    BOOST_TEST(contains(result.out, "::group::checkpoint gated"), result.out);
    BOOST_TEST(contains(result.out, "[2/2] gated: waiting for an approval"), result.out);
    // The approve command is printed once, however long the wait.
    const auto first = result.out.find("approve it with: curl");
    BOOST_TEST_REQUIRE(first != std::string::npos, result.out);
    BOOST_TEST(result.out.find("approve it with: curl", first + 1) == std::string::npos, result.out);
    BOOST_TEST(contains(result.out, "[2/2] gated: succeeded after"), result.out);
    BOOST_TEST(contains(result.out, " succeeded\n"), result.out);
    BOOST_TEST(!contains(result.out, "::error::"), result.out);
}

BOOST_AUTO_TEST_CASE(deploy_gives_up_waiting_with_exit_3_and_says_how_to_go_on)
{
    service_process service{fixture_service_options()};
    const auto result =
        run_cli(at(service, {"deploy", "--checkpoints", "gated", "--approval-timeout", "2s"}), ci(), std::nullopt, 60s);
    BOOST_TEST(result.exit_code == exit_approval, describe(result));
    const std::string id = first_match(result.out, "dp-[0-9a-f]+");
    BOOST_TEST_REQUIRE(!id.empty(), result.out);
    BOOST_TEST(contains(result.err, "Deployment " + id + " keeps waiting on the service"), result.err);
    BOOST_TEST(contains(result.err, "raydeploy cancel " + id), result.err);

    // It does wait server-side; cancelling it is one command.
    const auto waiting = json_object_of(http_get(service.port(), "/api/v1/deployments/" + id));
    BOOST_TEST(text(waiting, "status") == "awaiting_approval");
    const auto cancel = run_cli(at(service, {"cancel", id}), ci());
    BOOST_TEST(cancel.exit_code == exit_ok, describe(cancel));
    BOOST_TEST(eventually([&] {
        return text(json_object_of(http_get(service.port(), "/api/v1/deployments/" + id)), "status") == "cancelled";
    }));
}

BOOST_AUTO_TEST_CASE(failed_deployment_exits_1_and_resume_finishes_it)
{
    temp_dir dir;
    const fs::path marker = dir.path() / "fixed";
    auto options = fixture_service_options();
    options.catalog = write_flaky_catalog(dir, marker);
    service_process service{options};

    const auto failed = run_cli(at(service, {"deploy"}), ci(), std::nullopt, 60s);
    BOOST_TEST_REQUIRE(failed.exit_code == exit_failed, describe(failed));
    const std::string id = first_match(failed.out, "dp-[0-9a-f]+");
    BOOST_TEST_REQUIRE(!id.empty(), failed.out);
    BOOST_TEST(contains(failed.out, "[1/2] first: succeeded"), failed.out);
    BOOST_TEST(contains(failed.out, "[2/2] flaky: failed"), failed.out);
    BOOST_TEST(contains(failed.out, "raydeploy resume " + id + " --server " + url_of(service)), failed.out);

    dir.write_file("fixed", "");
    const auto resumed = run_cli(at(service, {"resume", id}), ci(), std::nullopt, 60s);
    BOOST_TEST(resumed.exit_code == exit_ok, describe(resumed));
    BOOST_TEST(contains(resumed.out, "[2/2] flaky: succeeded after"), resumed.out);
    // What succeeded before is not run again.
    BOOST_TEST(!contains(resumed.out, "task \"Say hello\""), resumed.out);
    BOOST_TEST(contains(resumed.out, "deployment " + id + " succeeded"), resumed.out);
}

BOOST_AUTO_TEST_CASE(tokens_roles_and_a_second_identity_approving)
{
    const token operator_token = create_token("ci-operator", "operator");
    const token approver_token = create_token("release-approver", "approver");
    const token viewer_token = create_token("dashboard", "viewer");
    auto options = fixture_service_options(
        {{"RAYDEPLOY_AUTH_TOKENS", operator_token.env_form + "," + approver_token.env_form + "," + viewer_token.env_form}});
    service_process service{options};

    const auto anonymous = run_cli(at(service, {"executions"}), ci());
    BOOST_TEST(anonymous.exit_code == exit_unreachable, describe(anonymous));
    BOOST_TEST(contains(anonymous.err, "RAYDEPLOY_TOKEN"), anonymous.err);

    const auto viewer = run_cli(at(service, {"run", "succeed"}), ci({{"RAYDEPLOY_TOKEN", viewer_token.secret}}));
    BOOST_TEST(viewer.exit_code == exit_unreachable, describe(viewer));
    BOOST_TEST(contains(viewer.err, "403"), viewer.err);

    // The operator's deployment waits at the gate; the approver grants it with the CLI.
    auto deploying = start_cli(at(service, {"deploy", "--checkpoints", "gated", "--poll-interval", "100ms"}),
                               ci({{"RAYDEPLOY_TOKEN", operator_token.secret}}));
    const std::map<std::string, std::string> as_viewer = {{"Authorization", "Bearer " + viewer_token.secret}};
    BOOST_TEST_REQUIRE(eventually([&] { return has_pending_request(service.port(), "gated", as_viewer); }, 60s));
    let_the_follower_see_it();
    temp_dir secrets;
    const fs::path token_file = secrets.write_file("approver.token", approver_token.secret + "\n");
    const auto approve = run_cli(at(service, {"approve", "gated", "--reason", "reviewed", "--acknowledge-risks",
                                              "--token-file", token_file.string()}),
                                 ci());
    BOOST_TEST_REQUIRE(approve.exit_code == exit_ok, describe(approve));
    BOOST_TEST(contains(approve.out, "release-approver"), approve.out);
    const auto result = deploying.get();
    BOOST_TEST(result.exit_code == exit_ok, describe(result));
    BOOST_TEST(contains(result.out, "-H \"Authorization: Bearer $RAYDEPLOY_TOKEN\""), result.out);
    BOOST_TEST(!contains(result.out, operator_token.secret), result.out);  // the token itself is never printed
}

BOOST_AUTO_TEST_CASE(in_process_mode_without_a_server)
{
    temp_dir dir;
    const fs::path fixtures = source_dir() / "tests" / "fixtures" / "ansible";
    const std::vector<std::string> settings = {
        "--state-dir",  (dir.path() / "state").string(),       "--catalog",
        (fixtures / "catalog.yaml").string(),                  "--inventory",
        (fixtures / "inventory.yml").string(),                 "--ansible-playbook",
        (source_dir() / ".venv" / "bin" / "ansible-playbook").string()};
    std::vector<std::string> args = {"run", "succeed"};
    args.insert(args.end(), settings.begin(), settings.end());
    const auto result = run_cli(args, ci(), std::nullopt, 60s);
    BOOST_TEST(result.exit_code == exit_ok, describe(result));
    BOOST_TEST(contains(result.err, "running the engine in-process on " + (dir.path() / "state").string()), result.err);
    BOOST_TEST(contains(result.out, "succeed: succeeded after"), result.out);

    // The same state directory, read again in-process: the execution is there.
    std::vector<std::string> list = {"executions", "--format", "json"};
    list.insert(list.end(), settings.begin(), settings.end());
    const auto listed = run_cli(list, ci(), std::nullopt, 60s);
    BOOST_TEST_REQUIRE(listed.exit_code == exit_ok, describe(listed));
    BOOST_TEST(parse_json(listed.out).at("executions").as_array().size() == 1u, listed.out);

    // Another command running the engine in-process holds the state directory: it published no
    // address, so this one stops and says how to reach a service instead.
    auto holder = start_cli({"run", "slow-long", "--extra-vars", R"({"sleep_seconds": 5})", "--state-dir",
                             (dir.path() / "state").string(), "--catalog", (fixtures / "catalog.yaml").string(),
                             "--inventory", (fixtures / "inventory.yml").string(), "--ansible-playbook",
                             (source_dir() / ".venv" / "bin" / "ansible-playbook").string()},
                            ci(), 60s);
    // Its run has a directory once its service is up (the earlier run made the first one).
    const auto run_directories = [&] {
        std::error_code ec;
        const fs::directory_iterator runs{dir.path() / "state" / "runs", ec};
        return ec ? std::ptrdiff_t{0} : std::distance(runs, fs::directory_iterator{});
    };
    BOOST_TEST_REQUIRE(eventually([&] { return run_directories() == 2; }));
    const auto busy = run_cli(list, ci(), std::nullopt, 60s);
    BOOST_TEST(busy.exit_code == exit_failed, describe(busy));
    BOOST_TEST(contains(busy.err, "published no address"), busy.err);
    BOOST_TEST(contains(busy.err, "--server"), busy.err);
    const auto held_result = holder.get();
    BOOST_TEST(held_result.exit_code == exit_ok, describe(held_result));
}

BOOST_AUTO_TEST_CASE(a_service_on_the_state_directory_is_found_without_a_server)
{
    temp_dir dir;
    const fs::path state = dir.path() / "state";
    const std::vector<std::string> list = {"executions", "--format", "json", "--state-dir", state.string()};
    auto options = fixture_service_options();
    options.state_dir = state;
    {
        service_process service{options};
        start_execution(service.port(), "succeed");

        // The endpoint the service published in its state directory, private like the rest of it.
        const std::string published = read_file(state / "raydeploy.endpoint");
        BOOST_TEST(contains(published, "\"url\":\"" + url_of(service) + "\""), published);
        const bool private_file = (fs::status(state / "raydeploy.endpoint").permissions() & fs::perms::all) ==
                                  (fs::perms::owner_read | fs::perms::owner_write);
        BOOST_TEST(private_file, "raydeploy.endpoint is not 0600");

        const auto found = run_cli(list, ci(), std::nullopt, 60s);
        BOOST_TEST_REQUIRE(found.exit_code == exit_ok, describe(found));
        BOOST_TEST(contains(found.err, "talking to the service on " + state.string() + " at " + url_of(service) +
                                           " (pid " + std::to_string(service.pid()) + ")"),
                   found.err);
        BOOST_TEST(parse_json(found.out).at("executions").as_array().size() == 1u, found.out);

        // --server and RAYDEPLOY_SERVER still win: another service, with nothing run yet.
        service_process other{fixture_service_options()};
        const auto flagged = run_cli(at(other, list), ci(), std::nullopt, 60s);
        BOOST_TEST_REQUIRE(flagged.exit_code == exit_ok, describe(flagged));
        BOOST_TEST(parse_json(flagged.out).at("executions").as_array().empty(), flagged.out);
        BOOST_TEST(!contains(flagged.err, "talking to the service on"), flagged.err);
        const auto from_env = run_cli(list, ci({{"RAYDEPLOY_SERVER", url_of(other)}}), std::nullopt, 60s);
        BOOST_TEST_REQUIRE(from_env.exit_code == exit_ok, describe(from_env));
        BOOST_TEST(parse_json(from_env.out).at("executions").as_array().empty(), from_env.out);

        // A graceful stop withdraws the endpoint.
        service.send_signal(SIGTERM);
        const auto stopped = service.wait_exit(15s);
        BOOST_TEST_REQUIRE(stopped.has_value());
        BOOST_TEST(*stopped == 0);
        BOOST_TEST(!fs::exists(state / "raydeploy.endpoint"));
    }
    {
        // A killed service leaves its endpoint behind; the next command sees that nobody holds the
        // state directory and runs the engine in-process on it, as without a service.
        service_process service{options};
        service.send_signal(SIGKILL);
        BOOST_TEST_REQUIRE(service.wait_exit(15s).has_value());
        BOOST_TEST_REQUIRE(fs::exists(state / "raydeploy.endpoint"));
        const auto after = run_cli(list, ci(), std::nullopt, 60s);
        BOOST_TEST_REQUIRE(after.exit_code == exit_ok, describe(after));
        BOOST_TEST(contains(after.err, "running the engine in-process on " + state.string()), after.err);
        BOOST_TEST(parse_json(after.out).at("executions").as_array().size() == 1u, after.out);
        BOOST_TEST(!fs::exists(state / "raydeploy.endpoint"));
    }
}

BOOST_AUTO_TEST_SUITE_END()
