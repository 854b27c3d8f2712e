// The client commands without a service: server URLs, option parsing, the approval prompt, and
// how outcomes map to exit codes.
#include "raydeploy/cli/api_client.hpp"
#include "raydeploy/cli/cli.hpp"
#include "raydeploy/cli/client_commands.hpp"
#include "raydeploy/util/errors.hpp"

#include "support/test_support.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

#include <sstream>

using raydeploy::test::run_cli_in_process;
using namespace raydeploy::cli;
using raydeploy::config_error;
using raydeploy::test::temp_dir;

namespace {



bool contains(const std::string& text, std::string_view needle) { return text.find(needle) != std::string::npos; }

// A loopback port nobody listens on: bound, then released.
std::uint16_t closed_port()
{
    boost::asio::io_context io;
    boost::asio::ip::tcp::acceptor acceptor{io, {boost::asio::ip::make_address("127.0.0.1"), 0}};
    return acceptor.local_endpoint().port();
}

std::string config_error_of(std::string_view url)
{
    try {
        parse_server_url(url);
    } catch (const config_error& e) {
        return e.what();
    }
    return "<accepted>";
}

gate_answer prompt(const std::string& input, const gate_info& gate, std::string* shown = nullptr)
{
    std::istringstream in{input};
    std::ostringstream out;
    auto answer = prompt_for_gate(in, out, gate);
    if (shown) *shown = out.str();
    return answer;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(client_commands)

BOOST_AUTO_TEST_CASE(server_urls)
{
    const auto plain = parse_server_url("http://127.0.0.1:8000");
    BOOST_TEST(plain.host == "127.0.0.1");
    BOOST_TEST(plain.port == "8000");
    BOOST_TEST(plain.prefix == "");
    BOOST_TEST(plain.text() == "http://127.0.0.1:8000");

    const auto defaults = parse_server_url("http://raydeploy.internal/");
    BOOST_TEST(defaults.port == "80");
    BOOST_TEST(defaults.prefix == "");

    const auto proxied = parse_server_url("http://proxy:8080/raydeploy/");
    BOOST_TEST(proxied.prefix == "/raydeploy");
    BOOST_TEST(proxied.text() == "http://proxy:8080/raydeploy");

    const auto ipv6 = parse_server_url("http://[::1]:9000");
    BOOST_TEST(ipv6.host == "::1");
    BOOST_TEST(ipv6.text() == "http://[::1]:9000");

    const auto tls = parse_server_url("https://example.com/raydeploy");
    BOOST_TEST(tls.tls);
    BOOST_TEST(tls.port == "443");
    BOOST_TEST(tls.text() == "https://example.com:443/raydeploy");
    BOOST_TEST(!plain.tls);
    BOOST_TEST(contains(config_error_of("127.0.0.1:8000"), "http://HOST:PORT"));
    BOOST_TEST(contains(config_error_of("http://host:99999"), "port"));
    BOOST_TEST(contains(config_error_of("http://host:0"), "port"));
    BOOST_TEST(contains(config_error_of("http://:80"), "no host"));
    BOOST_TEST(contains(config_error_of("http://user:pw@host:80"), "RAYDEPLOY_TOKEN"));
    BOOST_TEST(contains(config_error_of("http://host:80/?x=1"), "no query"));
}

BOOST_AUTO_TEST_CASE(exit_codes)
{
    BOOST_TEST(exit_code_for_status("succeeded") == 0);
    BOOST_TEST(exit_code_for_status("failed") == 1);
    BOOST_TEST(exit_code_for_status("timed_out") == 1);
    BOOST_TEST(exit_code_for_status("interrupted") == 1);
    BOOST_TEST(exit_code_for_status("denied") == 3);
    BOOST_TEST(exit_code_for_status("cancelled") == 4);

    BOOST_TEST(exit_code_for_http_status(404) == 2);
    BOOST_TEST(exit_code_for_http_status(422) == 2);
    BOOST_TEST(exit_code_for_http_status(409) == 1);
    BOOST_TEST(exit_code_for_http_status(500) == 1);

    // The typed client errors, as every client command maps them.
    std::ostringstream err;
    BOOST_TEST(run_client_command(err, [] () -> int { throw service_unreachable{"down"}; }) == 5);
    BOOST_TEST(run_client_command(err, [] () -> int { throw authentication_error{401, "UNAUTHENTICATED", "who?"}; }) == 5);
    BOOST_TEST(run_client_command(err, [] () -> int { throw service_error{404, "CHECKPOINT_NOT_FOUND", "no"}; }) == 2);
    BOOST_TEST(run_client_command(err, [] () -> int { throw service_error{409, "ALREADY_RUNNING", "busy"}; }) == 1);
    BOOST_TEST(contains(err.str(), "raydeploy: error: down\n"), err.str());
    BOOST_TEST(contains(err.str(), "(401 UNAUTHENTICATED): who?"), err.str());
}

BOOST_AUTO_TEST_CASE(extra_vars)
{
    BOOST_TEST(parse_extra_vars(R"({"a": 1, "b": "x"})").at("a").as_int64() == 1);
    temp_dir dir;
    const auto file = dir.write_file("vars.json", R"({"from_file": true})");
    BOOST_TEST(parse_extra_vars("@" + file.string()).at("from_file").as_bool());
    BOOST_CHECK_EXCEPTION(parse_extra_vars("[1, 2]"), config_error,
                          [](const config_error& e) { return contains(e.what(), "expected a JSON object"); });
    BOOST_CHECK_EXCEPTION(parse_extra_vars("{nope"), config_error,
                          [](const config_error& e) { return contains(e.what(), "not valid JSON"); });
    BOOST_CHECK_EXCEPTION(parse_extra_vars("@" + (dir.path() / "absent.json").string()), config_error,
                          [](const config_error& e) { return contains(e.what(), "cannot be read"); });
}

BOOST_AUTO_TEST_CASE(token_sources)
{
    namespace po = boost::program_options;
    po::options_description options;
    options.add_options()("token-file", po::value<std::string>());
    const auto parse = [&](const std::vector<std::string>& args) {
        po::variables_map vm;
        po::store(po::command_line_parser(args).options(options).run(), vm);
        return vm;
    };
    temp_dir dir;
    const auto file = dir.write_file("token", "  rdp_from_file  \nsecond line\n");
    const auto empty = dir.write_file("empty", "\n");

    BOOST_TEST(!token_from(parse({}), {}).has_value());
    BOOST_TEST(*token_from(parse({}), {{"RAYDEPLOY_TOKEN", "rdp_env"}}) == "rdp_env");
    // The flag wins over the environment.
    BOOST_TEST(*token_from(parse({"--token-file", file.string()}), {{"RAYDEPLOY_TOKEN", "rdp_env"}}) == "rdp_from_file");
    BOOST_CHECK_THROW(token_from(parse({"--token-file", empty.string()}), {}), config_error);
    BOOST_CHECK_THROW(token_from(parse({"--token-file", (dir.path() / "absent").string()}), {}), config_error);
}

BOOST_AUTO_TEST_CASE(prompt_for_a_destructive_gate_wants_the_name)
{
    const gate_info gate{"cleanup-existing", true, {"DESTRUCTIVE: stops Ray"}, "", "", {}, false, ""};
    std::string shown;
    auto answer = prompt("cleanup-existing\nreplacing the cluster\n", gate, &shown);
    BOOST_TEST((answer.decision == gate_answer::kind::approve));
    BOOST_TEST(answer.reason == "replacing the cluster");
    BOOST_TEST(contains(shown, "DESTRUCTIVE: stops Ray"), shown);
    BOOST_TEST(contains(shown, "Type the checkpoint's name (cleanup-existing)"), shown);

    // "y" is not the name: not approved; then the operator denies, giving a reason after an empty answer.
    answer = prompt("y\nyes\n\nnot today\n", gate, &shown);
    BOOST_TEST((answer.decision == gate_answer::kind::deny));
    BOOST_TEST(answer.reason == "not today");
    BOOST_TEST(contains(shown, "A reason is required"), shown);

    // Declining both leaves it waiting; so does the end of input.
    BOOST_TEST((prompt("\n\n", gate).decision == gate_answer::kind::wait));
    BOOST_TEST((prompt("", gate).decision == gate_answer::kind::wait));
    BOOST_TEST((prompt("cleanup-existing\n", gate).decision == gate_answer::kind::wait));  // no reason
}

BOOST_AUTO_TEST_CASE(prompt_for_a_plain_gate_takes_yes)
{
    const gate_info gate{"docker-installation", false, {}, "", "", {}, false, ""};
    std::string shown;
    const auto answer = prompt("y\nroutine upgrade\n", gate, &shown);
    BOOST_TEST((answer.decision == gate_answer::kind::approve));
    BOOST_TEST(answer.reason == "routine upgrade");
    BOOST_TEST(contains(shown, "Approve it? [y/N]"), shown);
}

BOOST_AUTO_TEST_CASE(approve_command_for_ci_logs)
{
    const auto server = parse_server_url("http://10.0.0.5:8000");
    const std::string with_token = approve_curl_command(server, "cleanup-existing", "ap-0123abcd", true, true, false);
    BOOST_TEST(with_token ==
               "curl -sS -X POST 'http://10.0.0.5:8000/api/v1/approvals/cleanup-existing' -H 'Content-Type: "
               "application/json' -H \"Authorization: Bearer $RAYDEPLOY_TOKEN\" -d "
               "'{\"approval_id\":\"ap-0123abcd\",\"reason\":\"WHY\",\"acknowledge_risks\":true}'");
    const std::string open = approve_curl_command(server, "docker-installation", "", false, false, false);
    BOOST_TEST(!contains(open, "approval_id"), open);
    BOOST_TEST(!contains(open, "Authorization"), open);
    BOOST_TEST(!contains(open, "acknowledge_risks"), open);
    BOOST_TEST(contains(open, "\"approved_by\":\"YOUR NAME\""), open);
    BOOST_TEST(!contains(open, "acknowledge_running_work"), open);
    const std::string running = approve_curl_command(server, "cleanup-existing", "ap-0123abcd", true, true, true);
    BOOST_TEST(contains(running, "\"acknowledge_risks\":true,\"acknowledge_running_work\":true"), running);
    BOOST_TEST(approval_page_url(server, "cleanup-existing") == "http://10.0.0.5:8000/#/approvals/cleanup-existing");
}

namespace {

const auto running_impact = boost::json::parse(R"({
    "observed_at": "2027-01-15T08:00:00.000Z", "source_state": "CONNECTED", "fresh": true,
    "jobs": [{"submission_id": "raysubmit_a", "job_id": "02000000", "entrypoint": "python train.py", "status": "RUNNING"}],
    "applications": [{"name": "llm", "status": "RUNNING", "route_prefix": "/llm"}],
    "jobs_total": 3, "applications_total": 1,
    "summary": "3 running Ray jobs and 1 Serve application will end"})");

}  // namespace

BOOST_AUTO_TEST_CASE(a_live_impact_with_running_work_is_listed_and_must_be_acknowledged)
{
    gate_info gate{"cleanup-existing", true, {"DESTRUCTIVE: stops Ray"}, "", "ap-1", {}, false, ""};
    read_live_impact(&running_impact, gate);
    BOOST_TEST(gate.running_work);
    const std::vector<std::string> expected{
        "3 running Ray jobs and 1 Serve application will end (as of 2027-01-15T08:00:00.000Z)",
        "  job raysubmit_a (RUNNING): python train.py", "  and 2 more jobs", "  Serve application llm (RUNNING, /llm)"};
    BOOST_TEST(gate.live_impact == expected, boost::test_tools::per_element());

    std::string shown;
    const auto answer = prompt("cleanup-existing\nCHG-9\n", gate, &shown);
    BOOST_TEST((answer.decision == gate_answer::kind::approve));
    BOOST_TEST(contains(shown, "Running on the Ray cluster now, and ended by this checkpoint:"), shown);
    BOOST_TEST(contains(shown, "job raysubmit_a (RUNNING): python train.py"), shown);
    BOOST_TEST(contains(shown, "to approve it and end the running work listed above"), shown);
}

BOOST_AUTO_TEST_CASE(an_unknown_cluster_state_is_shown_and_asks_no_acknowledgement)
{
    const auto unknown = boost::json::parse(R"({
        "observed_at": null, "source_state": "UNREACHABLE", "fresh": false, "jobs": [], "applications": [],
        "jobs_total": 0, "applications_total": 0, "summary": "the cluster's state is unknown",
        "note": "the cluster's state is unknown: raydeploy could not read the Ray dashboard since the service started; check what runs before approving"})");
    gate_info gate{"cleanup-existing", true, {}, "", "ap-1", {}, false, ""};
    read_live_impact(&unknown, gate);
    BOOST_TEST(!gate.running_work);
    BOOST_TEST_REQUIRE(gate.live_impact.size() == 2u);
    BOOST_TEST(gate.live_impact[1].find("check what runs before approving") != std::string::npos);
    std::string shown;
    prompt("\n\n", gate, &shown);
    BOOST_TEST(contains(shown, "Live impact:"), shown);
    BOOST_TEST(!contains(shown, "end the running work"), shown);

    gate_info without{"cleanup-existing", true, {}, "", "ap-1", {}, false, ""};
    const boost::json::value null_impact;
    read_live_impact(&null_impact, without);
    read_live_impact(nullptr, without);
    BOOST_TEST(without.live_impact.empty());
    BOOST_TEST(!without.running_work);
}

BOOST_AUTO_TEST_CASE(usage_errors_exit_2)
{
    const auto no_name = run_cli_in_process({"run", "--server", "http://127.0.0.1:1"});
    BOOST_TEST(no_name.exit_code == exit_usage);
    BOOST_TEST(contains(no_name.err, "raydeploy run NAME"), no_name.err);

    const auto two_names = run_cli_in_process({"run", "a", "b", "--server", "http://127.0.0.1:1"});
    BOOST_TEST(two_names.exit_code == exit_usage, two_names.err);

    const auto ca = run_cli_in_process({"executions", "--server", "https://127.0.0.1:1", "--ca-file", "/nonexistent/ca.pem"});
    BOOST_TEST(ca.exit_code == exit_usage);
    BOOST_TEST(contains(ca.err, "--ca-file /nonexistent/ca.pem: cannot load it"), ca.err);

    const auto format = run_cli_in_process({"executions", "--format", "xml", "--server", "http://127.0.0.1:1"});
    BOOST_TEST(format.exit_code == exit_usage);
    BOOST_TEST(contains(format.err, "--format must be text or json"), format.err);

    const auto modes = run_cli_in_process({"status", "--health-only", "--checkpoint", "x", "--server", "http://127.0.0.1:1"});
    BOOST_TEST(modes.exit_code == exit_usage);
    BOOST_TEST(contains(modes.err, "exclude each other"), modes.err);

    const auto vars = run_cli_in_process({"run", "x", "--extra-vars", "[]", "--server", "http://127.0.0.1:1"});
    BOOST_TEST(vars.exit_code == exit_usage);
    BOOST_TEST(contains(vars.err, "--extra-vars"), vars.err);

    const auto timeout = run_cli_in_process({"deploy", "--approval-timeout", "soon", "--server", "http://127.0.0.1:1"});
    BOOST_TEST(timeout.exit_code == exit_usage);
    BOOST_TEST(contains(timeout.err, "--approval-timeout 'soon'"), timeout.err);

    const auto reason = run_cli_in_process({"approve", "x", "--server", "http://127.0.0.1:1"});
    BOOST_TEST(reason.exit_code == exit_usage);
    BOOST_TEST(contains(reason.err, "--reason is required"), reason.err);

    const auto unknown = run_cli_in_process({"logs", "--colour"});
    BOOST_TEST(unknown.exit_code == exit_usage);
    BOOST_TEST(contains(unknown.err, "run 'raydeploy logs --help'"), unknown.err);
}

BOOST_AUTO_TEST_CASE(nodes_usage_errors_exit_2_before_any_request)
{
    // Port 1 on loopback answers nothing: reaching the service would be exit 5, not 2.
    const auto no_memory = run_cli_in_process({"nodes", "add", "--cpu", "4", "--server", "http://127.0.0.1:1"});
    BOOST_TEST(no_memory.exit_code == exit_usage);
    BOOST_TEST(contains(no_memory.err, "nodes add needs --cpu N and --memory GB"), no_memory.err);

    const auto not_a_number = run_cli_in_process({"nodes", "add", "--cpu", "many", "--memory", "8", "--server", "http://127.0.0.1:1"});
    BOOST_TEST(not_a_number.exit_code == exit_usage, not_a_number.err);
    BOOST_TEST(contains(not_a_number.err, "cpu"), not_a_number.err);

    const auto no_id = run_cli_in_process({"nodes", "remove", "--server", "http://127.0.0.1:1"});
    BOOST_TEST(no_id.exit_code == exit_usage);
    BOOST_TEST(contains(no_id.err, "nodes remove needs a name or id"), no_id.err);

    const auto list_with_id = run_cli_in_process({"nodes", "list", "x", "--server", "http://127.0.0.1:1"});
    BOOST_TEST(list_with_id.exit_code == exit_usage);

    const auto unknown = run_cli_in_process({"nodes", "scale", "--server", "http://127.0.0.1:1"});
    BOOST_TEST(unknown.exit_code == exit_usage);
    BOOST_TEST(contains(unknown.err, "one of list, add, remove, not 'scale'"), unknown.err);

    const auto help = run_cli_in_process({"nodes", "--help"});
    BOOST_TEST(help.exit_code == exit_ok);
    BOOST_TEST(contains(help.out, "--force"), help.out);
    BOOST_TEST(contains(help.out, "--gpus"), help.out);
}

BOOST_AUTO_TEST_CASE(status_of_a_checkpoint_lists_hosts_by_name_whatever_order_the_service_uses)
{
    // The service lists hosts in the order they first reported, which differs from run to run.
    const auto execution = boost::json::parse(R"({
        "execution_id": "ex-00000000000000000001", "checkpoint": "results", "status": "succeeded",
        "host_summary": {
            "worker10": {"ok": 1, "changed": 0, "failures": 0, "unreachable": 0, "skipped": 0},
            "head": {"ok": 3, "changed": 0, "failures": 0, "unreachable": 0, "skipped": 0},
            "worker2": {"ok": 2, "changed": 0, "failures": 0, "unreachable": 0, "skipped": 0},
            "worker1": {"ok": 4, "changed": 0, "failures": 0, "unreachable": 0, "skipped": 0}},
        "results": {"nodes": {"worker2": {"cpus": 2}, "worker10": {"cpus": 10}, "head": {"cpus": 8}}, "summary": null},
        "has_report": false})").as_object();
    std::ostringstream out;
    print_execution_status(out, execution, "");
    const std::string text = out.str();
    const auto position = [&](std::string_view line) {
        const auto at = text.find(line);
        BOOST_TEST(at != std::string::npos, line << " missing from:\n" << text);
        return at;
    };
    const auto head = position("    head                 ok=3"), one = position("    worker1              ok=4"),
               two = position("    worker2              ok=2"), ten = position("    worker10             ok=1");
    BOOST_TEST((head < one && one < two && two < ten), text);
    const auto head_result = position("    head                 cpus=8"),
               two_result = position("    worker2              cpus=2"),
               ten_result = position("    worker10             cpus=10");
    BOOST_TEST((head_result < two_result && two_result < ten_result), text);
}

BOOST_AUTO_TEST_CASE(unreachable_service_exits_5)
{
    const std::string server = "http://127.0.0.1:" + std::to_string(closed_port());
    const auto answer = run_cli_in_process({"status", "--server", server});
    BOOST_TEST(answer.exit_code == exit_unreachable);
    BOOST_TEST(contains(answer.err, "cannot reach the raydeploy service at " + server), answer.err);
    BOOST_TEST(contains(answer.err, "--server or RAYDEPLOY_SERVER"), answer.err);
}

BOOST_AUTO_TEST_CASE(help_documents_the_exit_codes)
{
    for (const char* command : {"run", "deploy", "resume", "approve", "deny", "status", "executions", "logs", "cancel"}) {
        const auto help = run_cli_in_process({command, "--help"});
        BOOST_TEST_CONTEXT(command)
        {
            BOOST_TEST(help.exit_code == 0);
            BOOST_TEST(contains(help.out, "Usage: raydeploy " + std::string{command}), help.out);
            BOOST_TEST(contains(help.out, "3  approval denied or expired"), help.out);
            BOOST_TEST(contains(help.out, "5  service unreachable or authentication failed"), help.out);
            BOOST_TEST(contains(help.out, "--server"), help.out);
            BOOST_TEST(contains(help.out, "--state-dir"), help.out);
            BOOST_TEST(!contains(help.out, "--heartbeat"), help.out);  // a test knob, not advertised
        }
    }
    const auto global = run_cli_in_process({"--help"});
    BOOST_TEST(contains(global.out, "3 approval denied or expired"), global.out);
    BOOST_TEST(contains(global.out, "unreachable or authentication failed"), global.out);
    BOOST_TEST(contains(global.out, "deploy"), global.out);
}

BOOST_AUTO_TEST_CASE(tokens_never_go_over_plain_http_off_the_machine)
{
    // Refused when the client is made, so nothing is ever sent (these addresses are never contacted).
    for (const std::string url : {"http://192.0.2.1:8000", "http://raydeploy.example:8000", "http://[2001:db8::1]:8000",
                                  "http://10.0.0.5:8000"}) {
        BOOST_TEST_CONTEXT(url)
        {
            try {
                api_client client{parse_server_url(url), std::string{"secret"}};
                BOOST_FAIL("a token over plain http to " + url + " must be refused");
            } catch (const config_error& e) {
                BOOST_TEST(contains(e.what(), "refusing to send the token over plain http://"), e.what());
                BOOST_TEST(contains(e.what(), "use https://"), e.what());
                BOOST_TEST(!contains(e.what(), "secret"), e.what());
            }
            // Without a token there is nothing to leak; with https:// the token is protected.
            BOOST_CHECK_NO_THROW((api_client{parse_server_url(url), std::nullopt}));
            std::string tls_url = url;
            tls_url.replace(0, 4, "https");
            BOOST_CHECK_NO_THROW((api_client{parse_server_url(tls_url), std::string{"secret"}}));
        }
    }
    for (const std::string url : {"http://127.0.0.1:8000", "http://127.3.4.5:8000", "http://localhost:8000",
                                  "http://[::1]:8000"})
        BOOST_CHECK_NO_THROW((api_client{parse_server_url(url), std::string{"secret"}}));
}

BOOST_AUTO_TEST_SUITE_END()
