// The CLI's progress rendering, driven with a fake clock: CI lines, heartbeats, GitHub Actions
// groups and the terminal's status line.
#include "raydeploy/cli/progress_printer.hpp"

#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

#include <regex>
#include <sstream>

namespace json = boost::json;
using namespace raydeploy::cli;
using namespace std::chrono_literals;

namespace {

// 2026-11-21T23:41:15Z, a fixed start so timestamps are known.
const wall_time t0 = wall_time{std::chrono::seconds{1795304475}};

json::object event(std::string_view text) { return json::parse(text).as_object(); }

json::object task_start(const std::string& task)
{
    return event(R"({"type":"ansible.playbook_on_task_start","event_data":{"task":")" + task + R"("}})");
}

json::object host_event(const std::string& kind, const std::string& host, const std::string& task,
                        const std::string& extra = "")
{
    return event(R"({"type":"ansible.)" + kind + R"(","event_data":{"task":")" + task + R"(","host":")" + host +
                 R"(")" + extra + "}}");
}

std::vector<std::string> lines_of(const std::string& text)
{
    std::vector<std::string> lines;
    std::istringstream in{text};
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

bool contains(const std::string& text, std::string_view needle) { return text.find(needle) != std::string::npos; }

progress_options plain(bool github = false)
{
    progress_options options;
    options.style = progress_style::plain;
    options.github_actions = github;
    return options;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(client_progress)

BOOST_AUTO_TEST_CASE(plain_lines_are_timestamped_one_per_task_and_step_change)
{
    std::ostringstream out;
    progress_printer printer{out, plain()};
    printer.plan({"prepare", "install"}, t0);
    printer.step_status("prepare", "pending", t0);  // nothing happened yet: no line
    printer.step_status("prepare", "running", t0 + 1s);
    printer.step_status("prepare", "running", t0 + 2s);  // a repeat: no line
    printer.event(task_start("Check disks"), t0 + 2s);
    printer.event(host_event("runner_on_start", "h1", "Check disks"), t0 + 2s);
    printer.event(host_event("runner_on_ok", "h1", "Check disks"), t0 + 3s);
    printer.event(task_start("Check memory"), t0 + 4s);
    printer.step_status("prepare", "succeeded", t0 + 65s);
    printer.finish(t0 + 65s);

    const auto lines = lines_of(out.str());
    BOOST_TEST_REQUIRE(lines.size() == 4u, out.str());
    BOOST_TEST(lines[0] == "2026-11-21T23:41:16.000Z [1/2] prepare: running");
    BOOST_TEST(lines[1] == "2026-11-21T23:41:17.000Z [1/2] prepare: task \"Check disks\"");
    BOOST_TEST(lines[2] == "2026-11-21T23:41:19.000Z [1/2] prepare: task \"Check memory\"");
    BOOST_TEST(lines[3] == "2026-11-21T23:42:20.000Z [1/2] prepare: succeeded after 1m4s");
    const std::regex rfc3339{R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z .*)"};
    for (const auto& line : lines) BOOST_TEST(std::regex_match(line, rfc3339), line);
}

BOOST_AUTO_TEST_CASE(failures_name_the_host_task_and_message)
{
    std::ostringstream out;
    progress_printer printer{out, plain()};
    printer.plan({"fail"}, t0);
    printer.step_status("fail", "running", t0);
    printer.event(task_start("Break on purpose"), t0);
    printer.event(host_event("runner_on_failed", "host2", "Break on purpose",
                             R"(,"res":{"msg":"intentional failure"},"ignore_errors":false)"),
                  t0 + 1s);
    // An ignored failure is not one.
    printer.event(host_event("runner_on_failed", "host3", "Break on purpose",
                             R"(,"res":{"msg":"ignored"},"ignore_errors":true)"),
                  t0 + 1s);
    printer.event(host_event("runner_on_unreachable", "ghost", "Break on purpose", R"(,"res":{"msg":"ssh: refused"})"),
                  t0 + 1s);
    printer.step_status("fail", "failed", t0 + 2s, "task \"Break on purpose\" on host2: intentional failure");
    printer.finish(t0 + 2s);

    const std::string text = out.str();
    BOOST_TEST(contains(text, "[1/1] fail: host2 failed in \"Break on purpose\": intentional failure\n"), text);
    BOOST_TEST(!contains(text, "host3"), text);
    BOOST_TEST(contains(text, "[1/1] fail: ghost unreachable: ssh: refused\n"), text);
    BOOST_TEST(contains(text, "[1/1] fail: failed after 2s: task \"Break on purpose\" on host2: intentional failure\n"), text);
    BOOST_TEST(!contains(text, "::"), text);  // no workflow commands outside GitHub Actions
}

BOOST_AUTO_TEST_CASE(heartbeat_after_the_interval_of_silence)
{
    std::ostringstream out;
    auto options = plain();
    options.heartbeat = 30s;
    progress_printer printer{out, options};
    printer.plan({"slow"}, t0);
    printer.step_status("slow", "running", t0);
    printer.event(task_start("Sleep"), t0);
    printer.tick(t0 + 29s);
    BOOST_TEST(lines_of(out.str()).size() == 2u, out.str());  // running + task, no heartbeat yet
    printer.tick(t0 + 30s);
    auto lines = lines_of(out.str());
    BOOST_TEST_REQUIRE(lines.size() == 3u, out.str());
    BOOST_TEST(lines[2] == "2026-11-21T23:41:45.000Z still running: slow: task \"Sleep\", elapsed 30s");
    // The heartbeat itself counts as output: the next one is another interval away.
    printer.tick(t0 + 59s);
    BOOST_TEST(lines_of(out.str()).size() == 3u, out.str());
    printer.tick(t0 + 90s);
    lines = lines_of(out.str());
    BOOST_TEST_REQUIRE(lines.size() == 4u, out.str());
    BOOST_TEST(contains(lines[3], "still running: slow: task \"Sleep\", elapsed 1m30s"), lines[3]);
    // Any line resets the silence.
    printer.event(task_start("Wake up"), t0 + 100s);
    printer.tick(t0 + 129s);
    BOOST_TEST(lines_of(out.str()).size() == 5u, out.str());
}

BOOST_AUTO_TEST_CASE(gate_is_explained_once_and_waiting_has_a_heartbeat)
{
    std::ostringstream out;
    auto options = plain();
    options.heartbeat = 30s;
    progress_printer printer{out, options};
    printer.plan({"prepare", "cleanup"}, t0);
    printer.step_status("cleanup", "awaiting_approval", t0);
    const gate_info gate{"cleanup", true, {"DESTRUCTIVE: removes Ray"}, "curl -X POST http://h/api/v1/approvals/cleanup",
                         "", {"1 running Ray job will end", "  job raysubmit_a (RUNNING): python train.py"}, true, ""};
    printer.awaiting_approval(gate, t0);
    printer.awaiting_approval(gate, t0 + 1s);  // seen again on the next poll: said already
    printer.tick(t0 + 30s);

    const auto lines = lines_of(out.str());
    BOOST_TEST_REQUIRE(lines.size() == 6u, out.str());
    BOOST_TEST(contains(lines[0], "[2/2] cleanup: waiting for an approval (destructive checkpoint)"), lines[0]);
    BOOST_TEST(contains(lines[1], "  impact: DESTRUCTIVE: removes Ray"), lines[1]);
    BOOST_TEST(contains(lines[2], "  live impact: 1 running Ray job will end"), lines[2]);
    BOOST_TEST(contains(lines[3], "  live impact:   job raysubmit_a (RUNNING): python train.py"), lines[3]);
    BOOST_TEST(contains(lines[4], "  approve it with: curl -X POST http://h/api/v1/approvals/cleanup"), lines[4]);
    BOOST_TEST(contains(lines[5], "still waiting for an approval of cleanup, elapsed 30s"), lines[5]);

    // Once it runs, the gate is over.
    printer.step_status("cleanup", "running", t0 + 31s);
    printer.tick(t0 + 61s);
    BOOST_TEST(contains(lines_of(out.str()).back(), "still running: cleanup, elapsed 30s"), out.str());
}

BOOST_AUTO_TEST_CASE(github_actions_groups_each_checkpoint_and_reports_errors)
{
    std::ostringstream out;
    progress_printer printer{out, plain(true)};
    printer.plan({"a", "b"}, t0);
    printer.step_status("a", "queued", t0);
    printer.step_status("a", "running", t0);
    printer.event(task_start("Task of a"), t0);
    printer.step_status("a", "succeeded", t0 + 1s);
    printer.step_status("b", "running", t0 + 1s);
    printer.step_status("b", "failed", t0 + 2s, "task \"x\" on h: 100% broken\nsecond line");
    printer.finish(t0 + 2s);

    const auto lines = lines_of(out.str());
    std::vector<std::string> commands;
    for (const auto& line : lines)
        if (line.starts_with("::")) commands.push_back(line);
    const std::vector<std::string> expected = {
        "::group::checkpoint a", "::endgroup::", "::group::checkpoint b", "::endgroup::",
        "::error::checkpoint b failed: task \"x\" on h: 100%25 broken%0Asecond line"};
    BOOST_TEST(commands == expected, out.str());
    // The lines of a checkpoint sit inside its group.
    const auto at = [&](std::string_view needle) {
        for (std::size_t i = 0; i < lines.size(); ++i)
            if (contains(lines[i], needle)) return i;
        return lines.size();
    };
    BOOST_TEST(at("::group::checkpoint a") < at("Task of a"));
    BOOST_TEST(at("Task of a") < at("::endgroup::"));
}

BOOST_AUTO_TEST_CASE(github_group_is_closed_by_finish)
{
    std::ostringstream out;
    progress_printer printer{out, plain(true)};
    printer.plan({"a"}, t0);
    printer.step_status("a", "running", t0);
    printer.finish(t0 + 1s);
    BOOST_TEST(lines_of(out.str()).back() == "::endgroup::", out.str());
}

BOOST_AUTO_TEST_CASE(terminal_rewrites_one_status_line)
{
    std::ostringstream out;
    progress_options options;
    options.style = progress_style::terminal;
    progress_printer printer{out, options};
    printer.plan({"prepare", "install"}, t0);
    printer.step_status("install", "running", t0 + 1s);
    printer.event(task_start("Install packages"), t0 + 2s);
    printer.event(host_event("runner_on_start", "h1", "Install packages"), t0 + 2s);
    printer.event(host_event("runner_on_start", "h2", "Install packages"), t0 + 2s);
    printer.event(host_event("runner_on_start", "h3", "Install packages"), t0 + 2s);
    printer.event(host_event("runner_on_ok", "h1", "Install packages"), t0 + 3s);
    printer.event(host_event("runner_on_skipped", "h2", "Install packages"), t0 + 3s);
    out.str("");
    printer.tick(t0 + 65s);
    BOOST_TEST(out.str() == "\r\033[K[2/2] install | task: Install packages | hosts 2/3 | 1m5s");
    // Nothing changed: nothing is written again.
    out.str("");
    printer.tick(t0 + 65s);
    BOOST_TEST(out.str().empty());
    // A lasting line goes above the status line, which is drawn again under it.
    printer.step_status("install", "succeeded", t0 + 70s);
    BOOST_TEST(out.str() == "\r\033[K[2/2] install: succeeded after 1m9s\n\r\033[Kwaiting for the service | 1m10s");
    // Task starts live in the status line only.
    BOOST_TEST(!contains(out.str(), "task \"Install packages\""));
    out.str("");
    printer.finish(t0 + 70s);
    BOOST_TEST(out.str() == "\r\033[K");
}

BOOST_AUTO_TEST_CASE(terminal_line_fits_the_width)
{
    std::ostringstream out;
    progress_options options;
    options.style = progress_style::terminal;
    options.width = 20;
    progress_printer printer{out, options};
    printer.plan({"install"}, t0);
    printer.step_status("install", "running", t0);
    printer.event(task_start("Install ünïcode packages everywhere"), t0);
    out.str("");
    printer.tick(t0 + 1s);
    const std::string text = out.str();
    BOOST_TEST_REQUIRE(text.starts_with("\r\033[K"));
    const std::string shown = text.substr(4);
    // 19 columns: one left free so the cursor never wraps.
    std::size_t columns = 0;
    for (const char c : shown)
        if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++columns;
    BOOST_TEST(columns == 19u, shown);
}

BOOST_AUTO_TEST_CASE(terminal_shows_the_gate)
{
    std::ostringstream out;
    progress_options options;
    options.style = progress_style::terminal;
    progress_printer printer{out, options};
    printer.plan({"a", "gated"}, t0);
    printer.awaiting_approval({"gated", false, {}, "", "", {}, false, ""}, t0 + 5s);
    out.str("");
    printer.tick(t0 + 7s);
    BOOST_TEST(out.str() == "\r\033[K[2/2] gated | waiting for an approval | 7s");
}

BOOST_AUTO_TEST_CASE(elapsed_and_escape_helpers)
{
    BOOST_TEST(format_elapsed(0ms) == "0s");
    BOOST_TEST(format_elapsed(1999ms) == "1s");
    BOOST_TEST(format_elapsed(90s) == "1m30s");
    BOOST_TEST(format_elapsed(std::chrono::milliseconds{3723000}) == "1h2m3s");
    BOOST_TEST(github_escape("a%b\r\nc") == "a%25b%0D%0Ac");
}

BOOST_AUTO_TEST_SUITE_END()
