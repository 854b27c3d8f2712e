// Suite recovery: the service dies (SIGKILL) or is stopped (SIGTERM) during a run, and starts
// again on the same state directory: the run ends as `interrupted`, nothing of it keeps running,
// and what was stored before stays as it was.
#include "support/test_support.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <csignal>
#include <thread>

using namespace raydeploy::test;
namespace json = boost::json;

namespace {

using steady = std::chrono::steady_clock;

const std::initializer_list<std::string_view> final_statuses = {"succeeded", "failed", "cancelled", "timed_out",
                                                                "interrupted"};

// A service on a state directory that outlives it, with a 2 s kill grace.
service_options options_for(const fs::path& state_dir)
{
    auto options = fixture_service_options({{"RAYDEPLOY_EXECUTIONS_KILL_GRACE", "2s"}});
    options.state_dir = state_dir;
    return options;
}

// The interrupted run as the restarted service reports it: its stored events unchanged, then one
// execution.done with status interrupted and final_counter equal to its counter.
void check_interrupted(std::uint16_t port, const std::string& id, const std::vector<json::object>& before)
{
    const auto execution = get_execution(port, id);
    BOOST_TEST_CONTEXT(json::serialize(execution))
    {
        BOOST_TEST(text(execution, "status") == "interrupted");
        BOOST_TEST(text(execution, "status_reason").size() > 10u);
        BOOST_TEST(execution.at("finished_at").is_string());
        BOOST_TEST(execution.at("error").is_object());
    }
    const auto events = execution_events(port, id);
    BOOST_TEST_REQUIRE(events.size() > before.size());
    for (std::size_t i = 0; i < before.size(); ++i)
        BOOST_TEST(events[i] == before[i], "event #" << i + 1 << " changed across the restart");
    std::int64_t previous_seq = 0;
    std::size_t done_events = 0;
    for (std::size_t i = 0; i < events.size(); ++i) {
        BOOST_TEST(integer(events[i], "counter") == static_cast<std::int64_t>(i + 1), json::serialize(events[i]));
        BOOST_TEST(integer(events[i], "seq") > previous_seq);
        previous_seq = integer(events[i], "seq");
        if (text(events[i], "type") == "execution.done") ++done_events;
    }
    BOOST_TEST(done_events == 1u, "the run has " << done_events << " execution.done events");
    const json::object& done = events.back();
    BOOST_TEST(text(done, "type") == "execution.done");
    BOOST_TEST(text(done, "status") == "interrupted");
    BOOST_TEST(integer(done, "final_counter") == integer(done, "counter"));
    BOOST_TEST(integer(execution, "final_counter") == integer(done, "counter"));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(recovery)

BOOST_AUTO_TEST_CASE(kill_9_during_a_run_leaves_it_interrupted_and_nothing_running)
{
    temp_dir dir;
    auto options = options_for(dir.path() / "state");
    options.env["RAYDEPLOY_EXECUTIONS_MAX_CONCURRENT"] = "1";  // so a run waits, queued, when the service dies

    std::string earlier, victim, waiting;
    json::object earlier_execution;
    std::vector<json::object> earlier_events, victim_before;
    std::optional<run_processes> processes;
    {
        service_process first{options};
        const auto port = first.port();
        earlier = start_execution(port, "succeed");
        BOOST_TEST_REQUIRE(text(wait_for_execution(port, earlier, final_statuses), "status") == "succeeded");
        earlier_execution = get_execution(port, earlier);
        earlier_events = execution_events(port, earlier);

        victim = start_execution(port, "slow-long", R"({"extra_vars": {"sleep_seconds": 56}})");
        processes.emplace(victim, 56);
        BOOST_TEST_REQUIRE(processes->wait_for_sleep(10s), "the run's `sleep 56` never appeared");
        BOOST_TEST_REQUIRE(text(get_execution(port, victim), "status") == "running");
        victim_before = execution_events(port, victim);
        BOOST_TEST_REQUIRE(victim_before.size() >= 4u);
        waiting = start_execution(port, "stats");
        BOOST_TEST_REQUIRE(text(get_execution(port, waiting), "status") == "queued");

        first.send_signal(SIGKILL);
        BOOST_TEST_REQUIRE(first.wait_exit(5s).value_or(-1) == 128 + SIGKILL);
    }
    BOOST_TEST_MESSAGE("left of the run right after the kill:" << describe(processes->now()));

    service_process second{options};
    const auto port = second.port();
    check_interrupted(port, victim, victim_before);

    // Whatever the dead service left running is stopped by the restart (within the kill grace).
    const auto left = wait_until_none([&] { return processes->now(); }, 3s);
    BOOST_TEST(left.empty(), "processes of the interrupted run are still there:" << describe(left));

    BOOST_TEST_CONTEXT("the run that was queued")
    {
        const auto execution = get_execution(port, waiting);
        BOOST_TEST(text(execution, "status") == "interrupted", json::serialize(execution));
        BOOST_TEST(execution.at("started_at").is_null());
        const auto events = execution_events(port, waiting);
        BOOST_TEST_REQUIRE(events.size() == 2u);
        BOOST_TEST(text(events[0], "status") == "queued");
        BOOST_TEST(text(events[1], "type") == "execution.done");
        BOOST_TEST(text(events[1], "status") == "interrupted");
        BOOST_TEST(integer(events[1], "counter") == 2);
        BOOST_TEST(integer(events[1], "final_counter") == 2);
    }

    // What finished before is untouched.
    BOOST_TEST(get_execution(port, earlier) == earlier_execution);
    BOOST_TEST(execution_events(port, earlier) == earlier_events, boost::test_tools::per_element());

    // Seqs go on rising after the restart.
    const auto interrupted_events = execution_events(port, victim);
    const std::int64_t highest_before = integer(interrupted_events.back(), "seq");
    BOOST_TEST(highest_before > integer(earlier_events.back(), "seq"));
    const std::string after = start_execution(port, "succeed", R"({"limit": "host1"})");
    BOOST_TEST(text(wait_for_execution(port, after, final_statuses), "status") == "succeeded");
    const auto after_events = execution_events(port, after);
    BOOST_TEST_REQUIRE(!after_events.empty());
    BOOST_TEST(integer(after_events.front(), "seq") > highest_before);

    // The list still knows all three, newest first.
    const auto list = json_object_of(http_get(port, "/api/v1/executions"));
    std::vector<std::string> ids;
    for (const auto& item : list.at("executions").as_array()) ids.push_back(text(item.as_object(), "execution_id"));
    BOOST_TEST(ids == (std::vector<std::string>{after, waiting, victim, earlier}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(leftovers_of_a_run_whose_supervisor_died_too_are_stopped_at_restart)
{
    // A dying service normally takes its runs along (their supervisor stops the process group on
    // the parent-death signal). When the supervisor dies with it (kill -9 of both, the OOM
    // killer), the run's processes live on: the restart must find them in the old process group
    // and stop them, SIGKILL after the grace for a command that ignores SIGTERM.
    temp_dir dir;
    auto options = options_for(dir.path() / "state");
    options.catalog = write_stubborn_catalog(dir, 54);

    std::string victim;
    std::vector<json::object> victim_before;
    std::optional<run_processes> processes;
    {
        service_process first{options};
        const auto port = first.port();
        victim = start_execution(port, "stubborn");
        processes.emplace(victim, 54);
        BOOST_TEST_REQUIRE(processes->wait_for_sleep(10s), "the run's `sleep 54` never appeared");
        victim_before = execution_events(port, victim);

        // The run's process group leader, a child of the service.
        const std::string vars = "runs/" + victim + "/extra_vars.yml";
        std::optional<pid_t> leader;
        for (const auto& p : processes_matching(vars))
            if (p.pid == p.pgid) leader = p.pid;
        BOOST_TEST_REQUIRE(leader.has_value(), "no process group leader among" << describe(processes_matching(vars)));
        // Frozen first, so the service cannot react to the leader's death; then both die.
        first.send_signal(SIGSTOP);
        BOOST_TEST_REQUIRE(::kill(*leader, SIGKILL) == 0);
        first.send_signal(SIGKILL);
        BOOST_TEST_REQUIRE(first.wait_exit(5s).value_or(-1) == 128 + SIGKILL);
    }
    std::this_thread::sleep_for(300ms);
    const auto survivors = processes->now();
    BOOST_TEST_MESSAGE("left of the run after the kill:" << describe(survivors));
    BOOST_TEST_REQUIRE(!survivors.empty(), "nothing survived the kill, so this test proves nothing");

    service_process second{options};
    const auto left = wait_until_none([&] { return processes->now(); }, 3s);
    BOOST_TEST(left.empty(), "leftover processes of the interrupted run are still there:" << describe(left));
    check_interrupted(second.port(), victim, victim_before);
    BOOST_TEST(text(get_execution(second.port(), victim), "status_reason").find("leftover") != std::string::npos,
               "the reason does not say that leftover processes were stopped: "
                   << text(get_execution(second.port(), victim), "status_reason"));
}

BOOST_AUTO_TEST_CASE(a_run_still_stopping_after_a_kill_9_does_not_keep_the_services_port)
{
    // After a crash the supervisor stops the run: SIGTERM, and SIGKILL only after the grace. The
    // run's processes must not hold the service's listening socket meanwhile (nor anything else of
    // the service's), or a restart on the same address fails until the last of them is gone.
    temp_dir dir;
    auto options = options_for(dir.path() / "state");
    const fs::path stubborn_ansible = dir.write_file("ansible-playbook", "#!/bin/sh\ntrap '' TERM\nsleep 53\n");
    fs::permissions(stubborn_ansible, fs::perms::owner_all);
    options.args = {"--ansible-playbook", stubborn_ansible.string()};

    std::string victim;
    std::optional<run_processes> processes;
    std::uint16_t port = 0;
    {
        service_process first{options};
        port = first.port();
        options.listen = "127.0.0.1:" + std::to_string(port);
        victim = start_execution(first.port(), "succeed");
        processes.emplace(victim, 53);
        BOOST_TEST_REQUIRE(processes->wait_for_sleep(10s), "the run's `sleep 53` never appeared");
        first.send_signal(SIGKILL);
        BOOST_TEST_REQUIRE(first.wait_exit(5s).value_or(-1) == 128 + SIGKILL);
    }
    BOOST_TEST_REQUIRE(!processes->now().empty(), "the run ended with the service, so this test proves nothing");

    service_process second{options};  // throws, with the service's bind error, if the port is held
    BOOST_TEST(second.port() == port);
    const auto left = wait_until_none([&] { return processes->now(); }, 5s);
    BOOST_TEST(left.empty(), "processes of the interrupted run are still there:" << describe(left));
    BOOST_TEST(text(get_execution(second.port(), victim), "status") == "interrupted");
}

BOOST_AUTO_TEST_CASE(sigterm_during_a_run_exits_0_and_leaves_it_interrupted)
{
    temp_dir dir;
    const auto options = options_for(dir.path() / "state");

    std::string victim;
    std::vector<json::object> victim_before;
    std::optional<run_processes> processes;
    {
        service_process first{options};
        const auto port = first.port();
        victim = start_execution(port, "slow-long", R"({"extra_vars": {"sleep_seconds": 55}})");
        processes.emplace(victim, 55);
        BOOST_TEST_REQUIRE(processes->wait_for_sleep(10s), "the run's `sleep 55` never appeared");
        victim_before = execution_events(port, victim);
        // Clients that hold connections open: they must not hold up the shutdown.
        ws_client subscriber{port, "/api/v1/events"};
        streamed_response follower{port, make_request(http::verb::get, "/api/v1/executions/" + victim + "/log?follow=1")};
        follower.read_header(5s);

        // The subscriber reads all along, as a live client does (and so answers the service's close).
        std::string subscriber_error;
        std::thread reading{[&] {
            try {
                while (subscriber.read(10s)) {
                }
            } catch (const std::exception& e) {
                subscriber_error = e.what();
            }
        }};

        const auto signalled = steady::now();
        first.send_signal(SIGTERM);
        const auto status = first.wait_exit(8s);
        const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - signalled).count();
        reading.join();
        BOOST_TEST_REQUIRE(status.has_value(), "still running 8 s after SIGTERM; stderr:\n" << first.stderr_text());
        BOOST_TEST(*status == 0, "stderr:\n" << first.stderr_text());
        BOOST_TEST(took < 5000, "the shutdown took " << took << " ms");

        // The subscriber was told to come back later, and from where.
        BOOST_TEST(subscriber_error.empty(), subscriber_error);
        BOOST_TEST(subscriber.close_code() == 1001, "close code " << subscriber.close_code() << " '"
                                                                  << subscriber.close_reason() << "' "
                                                                  << subscriber.end_error());
        BOOST_TEST(subscriber.close_reason().find("since=") != std::string::npos, subscriber.close_reason());
        follower.read_to_end(5s);
        BOOST_TEST((follower.done() || follower.server_closed()));
    }
    const auto left = wait_until_none([&] { return processes->now(); }, 3s);
    BOOST_TEST(left.empty(), "processes of the stopped run are still there:" << describe(left));

    service_process second{options};
    check_interrupted(second.port(), victim, victim_before);
}

BOOST_AUTO_TEST_SUITE_END()
