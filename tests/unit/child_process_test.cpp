// Child process supervision with /bin/sh as the child: output, the event channel, exit codes,
// timeout and stop escalation, and that nothing of the process group survives.
#include "raydeploy/engine/child_process.hpp"
#include "raydeploy/util/errors.hpp"
#include "raydeploy/util/private_files.hpp"

#include "support/test_support.hpp"

#include <boost/test/unit_test.hpp>

#include <csignal>
#include <fcntl.h>
#include <fstream>
#include <limits>
#include <sys/stat.h>
#include <unistd.h>

using namespace raydeploy;
using namespace std::chrono_literals;

BOOST_TEST_DONT_PRINT_LOG_VALUE(raydeploy::stop_cause)

namespace {

struct run_outcome {
    child_result result;
    std::string output;
    std::vector<std::string> events;
    int pid = -1;
    std::chrono::milliseconds elapsed{};
};

child_spec shell(std::string script)
{
    child_spec spec;
    spec.executable = "/bin/sh";
    spec.args = {"-c", std::move(script)};
    spec.environment = {"PATH=/usr/bin:/bin"};
    spec.working_dir = "/";
    spec.kill_grace = 500ms;
    return spec;
}

// Runs the child to its end on a private io_context; `on_start` may act on it (stop it) and watch
// what arrived so far. `hold_events` is the child's child_callbacks::hold_events.
run_outcome run(const child_spec& spec,
                std::function<void(child_process&, net::io_context&, const run_outcome&)> on_start = {},
                std::function<bool()> hold_events = {})
{
    net::io_context io;
    run_outcome outcome;
    const auto started = std::chrono::steady_clock::now();
    child_process child{io.get_executor(), spec,
                        {[&](std::string_view text) { outcome.output += text; },
                         [&](std::string_view line) { outcome.events.emplace_back(line); }, std::move(hold_events)}};
    outcome.pid = child.pid();
    BOOST_TEST(child.start_time() > 0);
    bool done = false;
    net::co_spawn(io, child.wait(), [&](std::exception_ptr error, child_result result) {
        if (error) std::rethrow_exception(error);
        outcome.result = result;
        done = true;
    });
    if (on_start) on_start(child, io, outcome);
    io.run_for(20s);
    BOOST_TEST_REQUIRE(done, "the child did not finish within 20 s");
    outcome.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    return outcome;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(child_process)

BOOST_AUTO_TEST_CASE(output_event_lines_and_exit_code)
{
    const auto outcome = run(shell("echo out; echo err >&2; printf '{\"a\":1}\\n{\"b\":2}\\n{\"partial\":3}' >&3; exit 7"));
    BOOST_TEST(outcome.result.exit_code == 7);
    BOOST_TEST(outcome.result.stopped_by == stop_cause::none);
    BOOST_TEST(outcome.output.find("out\n") != std::string::npos);
    BOOST_TEST(outcome.output.find("err\n") != std::string::npos);
    // A last line without its newline still arrives.
    BOOST_TEST(outcome.events == (std::vector<std::string>{R"({"a":1})", R"({"b":2})", R"({"partial":3})"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(an_event_line_over_the_limit_is_dropped_and_later_lines_still_arrive)
{
    // 300 000 bytes without a newline, then a normal line; then an endless-looking last line.
    auto spec = shell("head -c 300000 /dev/zero | tr '\\0' a >&3; printf '\\n{\"after\":1}\\n' >&3; "
                      "head -c 200000 /dev/zero | tr '\\0' b >&3");
    spec.max_event_line = 100000;
    const auto outcome = run(spec);
    BOOST_TEST(outcome.result.exit_code == 0);
    BOOST_TEST(outcome.events == (std::vector<std::string>{R"({"after":1})"}), boost::test_tools::per_element());
}

// 20,000 lines of 100 bytes: far more than a pipe holds, so a child whose reader pauses blocks.
const std::string many_event_lines = "yes '" + std::string(99, 'e') + "' | head -n 20000 >&3; echo wrote all";

BOOST_AUTO_TEST_CASE(a_held_event_channel_is_not_read_and_the_child_waits_until_it_is_released)
{
    bool held = true;
    std::size_t lines_while_held = 1;
    bool child_wrote_all_while_held = true;
    const auto outcome = run(
        shell(many_event_lines),
        [&](raydeploy::child_process&, net::io_context& io, const run_outcome& so_far) {
            auto timer = std::make_shared<net::steady_timer>(io, 1s);
            timer->async_wait([&, timer](boost::system::error_code) {
                lines_while_held = so_far.events.size();
                child_wrote_all_while_held = so_far.output.find("wrote all") != std::string::npos;
                held = false;
            });
        },
        [&] { return held; });
    BOOST_TEST(lines_while_held == 0u);
    BOOST_TEST(!child_wrote_all_while_held);
    BOOST_TEST(outcome.result.exit_code == 0);
    BOOST_TEST(outcome.output == "wrote all\n");
    BOOST_TEST(outcome.events.size() == 20000u);
}

BOOST_AUTO_TEST_CASE(a_stop_ends_the_hold_and_a_child_blocked_on_its_writes_is_stopped)
{
    const auto outcome = run(
        shell(many_event_lines),
        [](raydeploy::child_process& child, net::io_context& io, const run_outcome&) {
            auto timer = std::make_shared<net::steady_timer>(io, 300ms);
            timer->async_wait([&child, timer](boost::system::error_code) { child.stop(stop_cause::cancel); });
        },
        [] { return true; });
    BOOST_TEST(outcome.result.stopped_by == stop_cause::cancel);
    BOOST_TEST(outcome.elapsed < 5s);
    BOOST_TEST(outcome.events.size() < 20000u);  // what the pipe held when the child was stopped
}

BOOST_AUTO_TEST_CASE(lines_written_before_the_child_exits_arrive_though_the_channel_is_held)
{
    const auto outcome = run(shell("for i in 1 2 3; do echo \"{\\\"n\\\":$i}\" >&3; done"), {}, [] { return true; });
    BOOST_TEST(outcome.result.exit_code == 0);
    BOOST_TEST(outcome.events == (std::vector<std::string>{R"({"n":1})", R"({"n":2})", R"({"n":3})"}),
               boost::test_tools::per_element());
    BOOST_TEST(outcome.elapsed < 3s);  // not the 5 s a reader left open gets
}

BOOST_AUTO_TEST_CASE(the_child_gets_the_umask_the_service_replaced)
{
    const mode_t original = ::umask(022);
    restrict_umask();  // the service's 077; the child must see 022 again
    const auto outcome = run(shell("umask"));
    ::umask(original);
    BOOST_TEST(outcome.output == "0022\n");
}

BOOST_AUTO_TEST_CASE(environment_and_working_directory_are_the_specs)
{
    auto spec = shell("echo \"$MARKER\"; pwd");
    spec.environment.push_back("MARKER=fromspec");
    spec.working_dir = "/tmp";
    const auto outcome = run(spec);
    BOOST_TEST(outcome.output == "fromspec\n/tmp\n");
}

BOOST_AUTO_TEST_CASE(the_child_inherits_no_descriptor_of_the_service_but_its_stdio_and_event_channel)
{
    // What a service has open without close-on-exec: Asio's sockets (a listening one here, as the
    // service's own), a file, a pipe. Opened before the child's pipes, so they sit below the
    // launcher's own descriptors, where Boost 1.81's closing of inherited descriptors misses them.
    net::io_context io;
    tcp::acceptor listening{io, {net::ip::make_address("127.0.0.1"), 0}};
    const int file = ::open("/dev/null", O_RDONLY);
    int pipe_ends[2];
    BOOST_TEST_REQUIRE(::pipe(pipe_ends) == 0);
    const std::vector<int> service_descriptors{listening.native_handle(), file, pipe_ends[0], pipe_ends[1]};

    std::string script = "for fd in 0 1 2 3";
    for (int fd : service_descriptors) script += " " + std::to_string(fd);
    script += "; do if [ -e /proc/$$/fd/$fd ]; then echo \"open $fd\"; fi; done";
    const auto outcome = run(shell(script));

    ::close(file);
    ::close(pipe_ends[0]);
    ::close(pipe_ends[1]);
    BOOST_TEST(outcome.output == "open 0\nopen 1\nopen 2\nopen 3\n");
}

BOOST_AUTO_TEST_CASE(the_child_gets_default_signal_handling_whatever_the_service_ignores_or_blocks)
{
    // The service ignores SIGPIPE; the launching thread may block signals.
    const auto previous_handler = std::signal(SIGPIPE, SIG_IGN);
    sigset_t blocked, previous_mask;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGUSR1);
    sigaddset(&blocked, SIGUSR2);
    ::pthread_sigmask(SIG_BLOCK, &blocked, &previous_mask);
    auto spec = shell("");
    spec.executable = "/bin/grep";  // not a shell: dash clears its signal mask when it starts
    spec.args = {"-E", "^Sig(Blk|Ign)", "/proc/self/status"};
    const auto outcome = run(spec);
    ::pthread_sigmask(SIG_SETMASK, &previous_mask, nullptr);
    std::signal(SIGPIPE, previous_handler);
    BOOST_TEST(outcome.output == "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
}

BOOST_AUTO_TEST_CASE(a_signal_ends_it_as_128_plus_signal)
{
    const auto outcome = run(shell("kill -9 $$"));
    BOOST_TEST(outcome.result.signal.value_or(0) == SIGKILL);
    BOOST_TEST(outcome.result.exit_code == 128 + SIGKILL);
}

BOOST_AUTO_TEST_CASE(timeout_stops_the_whole_group)
{
    test::temp_dir dir;
    const auto marker = dir.path() / "background.pid";
    // A background grandchild in the same group must not survive the stop.
    auto spec = shell("sleep 30 & echo $! > " + marker.string() + "; sleep 30");
    spec.timeout = 300ms;
    const auto outcome = run(spec);
    BOOST_TEST(outcome.result.stopped_by == stop_cause::timeout);
    BOOST_TEST(outcome.elapsed < 5s);
    std::ifstream in{marker};
    int background = 0;
    in >> background;
    BOOST_TEST_REQUIRE(background > 0);  // the background process did start
    // (A killed orphan may linger as a zombie until it is reaped, so ask for live members.)
    // SIGKILL is delivered asynchronously: allow the kernel a moment.
    for (int i = 0; i < 40 && !process_group_members(outcome.pid, 0).empty(); ++i) ::usleep(50'000);
    BOOST_TEST(process_group_members(outcome.pid, 0).empty(), "a process of the group survived");
}

BOOST_AUTO_TEST_CASE(stop_escalates_to_sigkill_after_the_grace_period)
{
    auto spec = shell("trap '' TERM; echo ready; while true; do sleep 0.1; done");
    spec.kill_grace = 300ms;
    const auto outcome = run(spec, [](raydeploy::child_process& child, net::io_context& io, const run_outcome&) {
        auto timer = std::make_shared<net::steady_timer>(io, 200ms);
        timer->async_wait([&child, timer](boost::system::error_code) { child.stop(stop_cause::cancel); });
    });
    BOOST_TEST(outcome.result.stopped_by == stop_cause::cancel);
    BOOST_TEST(outcome.result.signal.value_or(0) == SIGKILL);
    BOOST_TEST(outcome.elapsed >= 450ms);  // 200 ms before the stop + the 300 ms grace
    BOOST_TEST(outcome.elapsed < 5s);
}

BOOST_AUTO_TEST_CASE(a_missing_executable_is_reported)
{
    net::io_context io;
    child_spec spec = shell("true");
    spec.executable = "/nonexistent/ansible-playbook";
    try {
        raydeploy::child_process child{io.get_executor(), spec, {}};
        BOOST_FAIL("starting a missing executable must fail");
    } catch (const runtime_failure& e) {
        BOOST_TEST(std::string{e.what()}.find("cannot start /nonexistent/ansible-playbook") != std::string::npos);
    }
}

BOOST_AUTO_TEST_CASE(process_identity_helpers)
{
    BOOST_TEST(!current_boot_id().empty());
    BOOST_TEST(process_start_time(::getpid()).has_value());
    BOOST_TEST(!process_start_time(999'999'999).has_value());
    // This process's group contains at least this process, started no later than now.
    const auto members = process_group_members(::getpgrp(), 0);
    BOOST_TEST((std::find(members.begin(), members.end(), ::getpid()) != members.end()));
    BOOST_TEST(process_group_members(::getpgrp(), std::numeric_limits<std::int64_t>::max()).empty());
}

BOOST_AUTO_TEST_SUITE_END()
