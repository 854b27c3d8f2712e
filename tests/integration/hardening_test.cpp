// Suite hardening: what the service keeps private on disk, what its playbooks may see of its
// environment, what the audit trail records of failed authentication, and retention.
#include "raydeploy/store/sqlite.hpp"

#include "support/test_support.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <csignal>
#include <fstream>
#include <sys/stat.h>

using namespace raydeploy::test;
namespace json = boost::json;

namespace {

unsigned mode_of(const fs::path& path)
{
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0) throw std::runtime_error{"cannot stat " + path.string()};
    return info.st_mode & 07777;
}

bool contains(std::string_view text, std::string_view needle) { return text.find(needle) != std::string_view::npos; }

// A catalog with one checkpoint, `dump-env`, whose playbook writes its environment into the run's
// directory (env.txt), on host1 of the fixtures' inventory.
fs::path write_env_catalog(const temp_dir& dir)
{
    dir.write_file("dump_env.yml", R"yaml(---
- name: Write the environment the playbook runs with
  hosts: host1
  gather_facts: false
  tasks:
    - name: Dump the environment
      ansible.builtin.shell: env > "{{ raydeploy_run_dir }}/env.txt"
      changed_when: false
)yaml");
    return dir.write_file("catalog.yaml", R"yaml(checkpoints:
  - name: dump-env
    playbook: dump_env.yml
    description: "Writes the environment of its ansible-playbook into the run directory."
    approval_required: false
    destructive: false
    impact_summary: []
    timeout: 2m
)yaml");
}

std::vector<json::object> audit_rows(const api_client& admin)
{
    const json::object page = admin.get_object("/api/v1/audit?limit=1000");
    std::vector<json::object> rows;
    for (const auto& row : page.at("entries").as_array()) rows.push_back(row.as_object());
    return rows;
}

std::vector<json::object> unauthenticated_rows(const api_client& admin)
{
    std::vector<json::object> rows;
    for (auto& row : audit_rows(admin))
        if (text(row, "outcome") == "UNAUTHENTICATED") rows.push_back(std::move(row));
    return rows;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(hardening)

BOOST_AUTO_TEST_CASE(a_fresh_state_directory_and_what_a_run_writes_are_private)
{
    temp_dir parent;
    const fs::path state = parent.path() / "state";
    auto options = fixture_service_options();
    options.state_dir = state;
    service_process service{options};
    const std::string id = start_execution(service.port(), "succeed");
    wait_for_execution(service.port(), id, {"succeeded"});

    BOOST_TEST(mode_of(state) == 0700u);
    BOOST_TEST(mode_of(state / "raydeploy.db") == 0600u);
    BOOST_TEST(mode_of(state / "raydeploy.db-wal") == 0600u);
    BOOST_TEST(mode_of(state / "raydeploy.db-shm") == 0600u);
    BOOST_TEST(mode_of(state / "raydeploy.lock") == 0600u);
    BOOST_TEST(mode_of(state / "ansible") == 0700u);
    BOOST_TEST(mode_of(state / "ansible" / "callback_plugins") == 0700u);
    BOOST_TEST(mode_of(state / "ansible" / "callback_plugins" / "raydeploy_events.py") == 0600u);
    BOOST_TEST(mode_of(state / "runs") == 0700u);
    BOOST_TEST(mode_of(state / "runs" / id) == 0700u);
    BOOST_TEST(mode_of(state / "runs" / id / "output.log") == 0600u);
    BOOST_TEST(mode_of(state / "runs" / id / "extra_vars.yml") == 0600u);
    BOOST_TEST(!contains(service.stderr_text(), "chmod 700"));
    // The bound address, not the configured port 0: prerequisites-check compares it with the Ray ports.
    const std::string vars = read_file(state / "runs" / id / "extra_vars.yml");
    BOOST_TEST(contains(vars, "raydeploy_listen_address: \"127.0.0.1:" + std::to_string(service.port()) + "\""), vars);
}

BOOST_AUTO_TEST_CASE(an_existing_state_directory_open_to_others_is_warned_about)
{
    temp_dir parent;
    const fs::path state = parent.path() / "shared-state";
    fs::create_directories(state);
    fs::permissions(state, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                               fs::perms::others_read | fs::perms::others_exec);
    service_options options;
    options.state_dir = state;
    service_process service{options};
    const std::string log = service.stderr_text();
    BOOST_TEST(contains(log, state.string()), log);
    BOOST_TEST(contains(log, "0755"), log);
    BOOST_TEST(contains(log, "chmod 700 " + state.string()), log);
    // The operator's directory keeps its mode; what the service creates in it is private.
    BOOST_TEST(mode_of(state) == 0755u);
    BOOST_TEST(mode_of(state / "raydeploy.db") == 0600u);
}

BOOST_AUTO_TEST_CASE(playbooks_see_only_the_allowed_environment_and_pass_env)
{
    temp_dir dir;
    const auto admin = make_identity("root-admin", "admin");
    auto options = fixture_service_options({{"RAYDEPLOY_AUTH_TOKENS", auth_tokens_env({admin})},
                                            {"RAYDEPLOY_TOKEN", "rdp_client_token_of_the_operator"},
                                            {"SOME_SECRET", "hunter2"},
                                            {"ANSIBLE_CONFIG", "/nonexistent/ansible.cfg"},
                                            {"LC_TIME", "C"},
                                            {"PASSED_ON", "visible-value"},
                                            {"RAYDEPLOY_EXECUTOR_PASS_ENV", "PASSED_ON, ALSO_LISTED_BUT_UNSET"}});
    options.catalog = write_env_catalog(dir);
    service_process service{options};
    const api_client client{service.port(), admin};
    const auto res = client.post("/api/v1/checkpoints/dump-env", "{}");
    BOOST_TEST_REQUIRE(res.result_int() == 202, res.body());
    const std::string id = text(json_object_of(res), "execution_id");
    const auto done = client.wait_until("/api/v1/executions/" + id,
                                        [](const json::object& e) { return is_final_status(text(e, "status")); });
    BOOST_TEST_REQUIRE(text(done, "status") == "succeeded", json::serialize(done));

    const std::string env = read_file(service.state_dir() / "runs" / id / "env.txt");
    BOOST_TEST_CONTEXT("environment of the playbook:\n" << env)
    {
        BOOST_TEST(!contains(env, "RAYDEPLOY_AUTH_TOKENS"));
        BOOST_TEST(!contains(env, "RAYDEPLOY_TOKEN"));
        BOOST_TEST(!contains(env, "rdp_client_token_of_the_operator"));
        BOOST_TEST(!contains(env, admin.env_entry()));
        BOOST_TEST(!contains(env, "SOME_SECRET"));
        BOOST_TEST(!contains(env, "hunter2"));
        BOOST_TEST(!contains(env, "ANSIBLE_CONFIG"));
        BOOST_TEST(contains(env, "\nPASSED_ON=visible-value\n"));
        BOOST_TEST(contains(env, "\nLC_TIME=C\n"));
        BOOST_TEST(contains(env, "\nPATH="));
        BOOST_TEST(contains(env, "\nRAYDEPLOY_EXECUTION_ID=" + id + "\n"));
    }
}

BOOST_AUTO_TEST_CASE(a_pass_env_name_of_the_service_itself_is_refused)
{
    const auto result =
        run_cli({"serve", "--check-config"}, {{"RAYDEPLOY_EXECUTOR_PASS_ENV", "HTTP_PROXY,RAYDEPLOY_AUTH_TOKENS"}});
    BOOST_TEST(result.exit_code == 2, result.err);
    BOOST_TEST(contains(result.err, "RAYDEPLOY_EXECUTOR_PASS_ENV"), result.err);
    BOOST_TEST(contains(result.err, "RAYDEPLOY_AUTH_TOKENS"), result.err);
}

BOOST_AUTO_TEST_CASE(failed_authentication_never_echoes_the_token_and_is_counted_not_flooded)
{
    const auto admin = make_identity("auditor", "admin");
    temp_dir parent;  // the state outlives the first service
    service_options options;
    options.env = {{"RAYDEPLOY_AUTH_TOKENS", auth_tokens_env({admin})}};
    options.state_dir = parent.path() / "state";
    auto service = std::make_unique<service_process>(options);

    // A token sent without its scheme, with another scheme, or unknown: 30 refusals in all.
    const std::vector<std::string> secrets = {"rdp_forgotTheSchemeSecretValue1", "dXNlcjpzZWNyZXRwYXNzd29yZA==",
                                              "rdp_unknownButSecretValue2"};
    const std::vector<std::string> headers = {secrets[0], "Basic " + secrets[1], "Bearer " + secrets[2]};
    for (int i = 0; i < 30; ++i) {
        const auto res = http_request(service->port(), http::verb::post, "/api/v1/checkpoints/prerequisites-check",
                                      "", {{"Authorization", headers[i % 3]}});
        BOOST_TEST_REQUIRE(res.result_int() == 401, res.body());
        for (const auto& secret : secrets) BOOST_TEST(!contains(res.body(), secret), res.body());
    }
    const api_client auditor{service->port(), admin};
    auto rows = unauthenticated_rows(auditor);
    BOOST_TEST_REQUIRE(rows.size() == 1u, "one row per address and minute, got " << rows.size());
    BOOST_TEST(text(rows[0], "remote_addr") == "127.0.0.1");
    BOOST_TEST(integer(object_at(rows[0], "detail"), "count") == 1);

    // The refusals folded into the window are written when the service stops.
    service->send_signal(SIGTERM);
    BOOST_TEST_REQUIRE(service->wait_exit(15s).value_or(-1) == 0);
    const std::string first_log = service->stderr_text();
    service.reset();
    service_process again{options};
    const api_client auditor_again{again.port(), admin};
    rows = unauthenticated_rows(auditor_again);
    BOOST_TEST_REQUIRE(rows.size() == 2u);
    BOOST_TEST(integer(object_at(rows[0], "detail"), "count") == 29);  // newest first
    BOOST_TEST(object_at(rows[0], "detail").at("folded") == json::value(true));

    const std::string trail = json::serialize(auditor_again.get_object("/api/v1/audit?limit=1000"));
    for (const auto& secret : secrets) {
        BOOST_TEST(!contains(trail, secret), trail);
        BOOST_TEST(!contains(first_log, secret), first_log);
    }
}

BOOST_AUTO_TEST_CASE(retention_at_start_removes_old_runs_but_keeps_the_latest_per_checkpoint_and_the_audit)
{
    temp_dir parent;
    const fs::path state = parent.path() / "state";
    service_options options;
    options.state_dir = state;
    {
        service_process first{options};  // creates the schema
        first.send_signal(SIGTERM);
        BOOST_TEST_REQUIRE(first.wait_exit(15s).value_or(-1) == 0);
    }
    {
        raydeploy::sqlite::database db{state / "raydeploy.db"};
        db.exec(R"sql(
INSERT INTO deployments (id, status, checkpoints, steps, requested_by, created_at)
VALUES ('dp-done', 'succeeded', '[]', '[]', 'alice', '2020-01-01T00:00:00.000Z');
INSERT INTO executions (id, checkpoint, status, created_at, deployment_id) VALUES
    ('ex-old-a1', 'a', 'succeeded', '2020-01-01T00:00:00.000Z', NULL),
    ('ex-old-a2', 'a', 'failed', '2020-01-02T00:00:00.000Z', 'dp-done'),
    ('ex-latest-a', 'a', 'succeeded', '2020-01-03T00:00:00.000Z', NULL),
    ('ex-latest-b', 'b', 'failed', '2020-02-01T00:00:00.000Z', NULL);
INSERT INTO events (type, created, execution_id, counter, payload) VALUES
    ('execution.status', '2020-01-01T00:00:00.000Z', 'ex-old-a1', 1, '{}'),
    ('ansible.runner_on_ok', '2020-01-01T00:00:00.000Z', 'ex-old-a1', 2, '{}'),
    ('execution.done', '2020-01-01T00:00:00.000Z', 'ex-old-a1', 3, '{}'),
    ('execution.done', '2020-01-03T00:00:00.000Z', 'ex-latest-a', 1, '{}');
INSERT INTO approvals (id, checkpoint, state, created_at, execution_id)
VALUES ('ap-used', 'a', 'used', '2020-01-01T00:00:00.000Z', 'ex-old-a1');
INSERT INTO audit (at, actor, action, target, outcome) VALUES
    ('2020-01-01T00:00:00.000Z', 'alice', 'execution.start', 'a', 'succeeded');
)sql");
    }
    for (const char* id : {"ex-old-a1", "ex-old-a2", "ex-latest-a"}) {
        fs::create_directories(state / "runs" / id);
        std::ofstream{state / "runs" / id / "output.log"} << "old output\n";
    }

    service_process service{options};  // retention.keep_days defaults to 90
    BOOST_TEST_REQUIRE(service.wait_for_stderr("retention pass done", 15s), service.stderr_text());
    const std::string log = service.stderr_text();
    BOOST_TEST(contains(log, "2020-01-01T00:00:00.000Z"), log);  // the oldest removed
    BOOST_TEST(contains(log, "2020-01-02T00:00:00.000Z"), log);  // the newest removed

    raydeploy::sqlite::database db{state / "raydeploy.db"};
    const auto ids = [&](std::string_view sql) {
        std::vector<std::string> out;
        auto query = db.prepare(sql);
        while (query.step()) out.push_back(query.column_text(0));
        return out;
    };
    BOOST_TEST(ids("SELECT id FROM executions ORDER BY id") ==
                   (std::vector<std::string>{"ex-latest-a", "ex-latest-b"}),
               boost::test_tools::per_element());
    BOOST_TEST(ids("SELECT DISTINCT execution_id FROM events WHERE execution_id LIKE 'ex-%' ORDER BY 1") ==
                   (std::vector<std::string>{"ex-latest-a"}),
               boost::test_tools::per_element());
    BOOST_TEST(ids("SELECT id || ':' || coalesce(execution_id, 'none') FROM approvals") ==
                   (std::vector<std::string>{"ap-used:none"}),
               boost::test_tools::per_element());
    BOOST_TEST(ids("SELECT actor FROM audit WHERE at = '2020-01-01T00:00:00.000Z'") ==
                   (std::vector<std::string>{"alice"}),
               boost::test_tools::per_element());
    BOOST_TEST(!fs::exists(state / "runs" / "ex-old-a1"));
    BOOST_TEST(!fs::exists(state / "runs" / "ex-old-a2"));
    BOOST_TEST(fs::exists(state / "runs" / "ex-latest-a" / "output.log"));
}

BOOST_AUTO_TEST_SUITE_END()
