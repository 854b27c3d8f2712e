// Suite executions: running checkpoints of tests/fixtures/ansible through the REST API, with the
// real ansible-playbook against local "hosts": results, events, logs, timeouts, cancel, queueing,
// refusals, listing, and what checkpoints publish (results per node, summary, report).
#include "support/test_support.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <ctime>
#include <fstream>
#include <set>
#include <thread>

using namespace raydeploy::test;
namespace json = boost::json;

namespace {

using steady = std::chrono::steady_clock;

std::int64_t milliseconds_since(steady::time_point start)
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - start).count();
}
bool contains(std::string_view haystack, std::string_view needle) { return haystack.find(needle) != std::string_view::npos; }


std::set<std::string> keys_of(const json::object& object)
{
    std::set<std::string> keys;
    for (const auto& [key, value] : object) keys.emplace(key);
    return keys;
}

// The counters of the events are 1..N in order, each event belongs to `id`, seqs rise.
void check_contiguous(const std::vector<json::object>& events, std::string_view id)
{
    std::int64_t previous_seq = 0;
    for (std::size_t i = 0; i < events.size(); ++i) {
        BOOST_TEST_CONTEXT("event #" << i + 1 << ": " << json::serialize(events[i]))
        {
            BOOST_TEST(integer(events[i], "counter") == static_cast<std::int64_t>(i + 1));
            BOOST_TEST(text(events[i], "execution_id") == id);
            const auto seq = integer(events[i], "seq");
            BOOST_TEST(seq > previous_seq);
            previous_seq = seq;
        }
    }
}

std::string config_file(const temp_dir& dir, std::string_view yaml) { return dir.write_file("raydeploy.yaml", yaml).string(); }

service_options with_config(const temp_dir& dir, std::string_view yaml)
{
    auto options = fixture_service_options();
    options.args.push_back("--config");
    options.args.push_back(config_file(dir, yaml));
    return options;
}

response post_json(std::uint16_t port, std::string_view target, std::string body,
                   std::string content_type = "application/json")
{
    return http_request(port, http::verb::post, target, std::move(body), {{"Content-Type", std::move(content_type)}});
}

std::vector<std::string> ids_of(const response& res)
{
    std::vector<std::string> ids;
    const json::object body = json_object_of(res);
    for (const auto& item : body.at("executions").as_array()) ids.push_back(text(item.as_object(), "execution_id"));
    return ids;
}

const std::vector<std::string> local_hosts = {"host1", "host2", "host3"};
const std::vector<std::string> succeed_tasks = {"Say hello", "Run a harmless command", "Remember something"};

}  // namespace

BOOST_AUTO_TEST_SUITE(executions)

BOOST_AUTO_TEST_CASE(succeed_reports_hosts_progress_events_and_log)
{
    service_process service{fixture_service_options()};
    const auto port = service.port();

    const auto accepted = http_request(port, http::verb::post, "/api/v1/checkpoints/succeed");
    BOOST_TEST_REQUIRE(accepted.result_int() == 202, accepted.body());
    const json::object answer = json_object_of(accepted);
    const std::string id = text(answer, "execution_id");
    BOOST_TEST_REQUIRE(id.size() > 3);
    BOOST_TEST(text(answer, "checkpoint") == "succeed");
    BOOST_TEST((text(answer, "status") == "queued" || text(answer, "status") == "running"), accepted.body());
    BOOST_TEST(std::string{accepted[http::field::location]} == "/api/v1/executions/" + id);

    const json::object execution = wait_for_execution(port, id, {"succeeded", "failed", "cancelled", "timed_out", "interrupted"});
    BOOST_TEST_CONTEXT("execution: " << json::serialize(execution))
    {
        BOOST_TEST(text(execution, "status") == "succeeded");
        BOOST_TEST(text(execution, "checkpoint") == "succeed");
        BOOST_TEST(integer(execution, "rc") == 0);
        BOOST_TEST(execution.at("error").is_null());
        const auto created = timestamp_ms(execution.at("created_at"));
        const auto started = timestamp_ms(execution.at("started_at"));
        const auto finished = timestamp_ms(execution.at("finished_at"));
        BOOST_TEST(created > 0);
        BOOST_TEST(started >= created);
        BOOST_TEST(finished >= started);

        const json::object& hosts = object_at(execution, "host_summary");
        BOOST_TEST((keys_of(hosts) == std::set<std::string>{"host1", "host2", "host3"}));
        for (const auto& host : local_hosts) {
            BOOST_TEST_CONTEXT("host " << host)
            {
                const json::object& counts = object_at(hosts, host);
                BOOST_TEST(integer(counts, "ok") == 3);
                BOOST_TEST(integer(counts, "failures") == 0);
                BOOST_TEST(integer(counts, "unreachable") == 0);
                BOOST_TEST(integer(counts, "changed") == 0);
                BOOST_TEST(integer(counts, "skipped") == 0);
            }
        }
        const json::object& progress = object_at(execution, "progress");
        BOOST_TEST(integer(progress, "tasks_done") == 3);
        BOOST_TEST(text(progress, "play") == "Succeed on every local host");
        BOOST_TEST(text(progress, "task") == "Remember something");
    }
    const std::int64_t final_counter = integer(execution, "final_counter");

    const auto events = execution_events(port, id);
    BOOST_TEST_REQUIRE(static_cast<std::int64_t>(events.size()) == final_counter);
    BOOST_TEST_REQUIRE(events.size() >= 4u);
    check_contiguous(events, id);

    BOOST_TEST(text(events.front(), "type") == "execution.status");
    BOOST_TEST(text(events.front(), "status") == "queued");
    BOOST_TEST(text(events[1], "type") == "execution.status");
    BOOST_TEST(text(events[1], "status") == "running");
    const json::object& done = events.back();
    BOOST_TEST(text(done, "type") == "execution.done");
    BOOST_TEST(text(done, "status") == "succeeded");
    BOOST_TEST(integer(done, "final_counter") == final_counter);
    BOOST_TEST(integer(done, "counter") == final_counter);

    // Between them, Ansible's own events, naming hosts and tasks.
    std::vector<std::string> task_starts;
    std::set<std::pair<std::string, std::string>> ok_results;
    bool stats = false;
    for (std::size_t i = 2; i + 1 < events.size(); ++i) {
        const json::object& item = events[i];
        const std::string type = text(item, "type");
        BOOST_TEST(type.starts_with("ansible."), json::serialize(item));
        BOOST_TEST(!text(item, "created").empty());
        if (!item.contains("event_data")) continue;
        const json::object& data = object_at(item, "event_data");
        if (type == "ansible.playbook_on_task_start") task_starts.push_back(text(data, "task"));
        if (type == "ansible.runner_on_ok") ok_results.emplace(text(data, "host"), text(data, "task"));
        if (type == "ansible.playbook_on_stats") stats = true;
    }
    BOOST_TEST(task_starts == succeed_tasks, boost::test_tools::per_element());
    std::set<std::pair<std::string, std::string>> expected_ok;
    for (const auto& host : local_hosts)
        for (const auto& task : succeed_tasks) expected_ok.emplace(host, task);
    BOOST_TEST((ok_results == expected_ok), "runner_on_ok (host, task) pairs: " << ok_results.size() << " of 9 expected");
    BOOST_TEST(stats, "no ansible.playbook_on_stats event");

    // The events route's own summary fields.
    const auto listing = http_get(port, "/api/v1/executions/" + id + "/events");
    BOOST_TEST(listing.result_int() == 200);
    const json::object listing_body = json_object_of(listing);
    BOOST_TEST(text(listing_body, "status") == "succeeded");
    BOOST_TEST(integer(listing_body, "final_counter") == final_counter);

    BOOST_TEST_CONTEXT("paging with since_counter and limit")
    {
        const auto page = json_object_of(http_get(port, "/api/v1/executions/" + id + "/events?since_counter=5&limit=3"));
        const json::array& items = page.at("events").as_array();
        BOOST_TEST_REQUIRE(items.size() == 3u);
        for (std::size_t i = 0; i < 3; ++i) {
            BOOST_TEST(integer(items[i].as_object(), "counter") == static_cast<std::int64_t>(6 + i));
            BOOST_TEST(items[i].as_object() == events[5 + i]);
        }
        const auto tail = json_object_of(http_get(port, "/api/v1/executions/" + id + "/events?since_counter=" +
                                                            std::to_string(final_counter - 1)));
        BOOST_TEST_REQUIRE(tail.at("events").as_array().size() == 1u);
        BOOST_TEST(tail.at("events").as_array()[0].as_object() == done);
        const auto after_end = json_object_of(
            http_get(port, "/api/v1/executions/" + id + "/events?since_counter=" + std::to_string(final_counter)));
        BOOST_TEST(after_end.at("events").as_array().empty());
        const auto bad_limit = http_get(port, "/api/v1/executions/" + id + "/events?limit=0");
        BOOST_TEST(bad_limit.result_int() == 400);
        BOOST_TEST(error_field_of(bad_limit) == "INVALID_PARAMETER");
    }

    BOOST_TEST_CONTEXT("the log")
    {
        const auto log = http_get(port, "/api/v1/executions/" + id + "/log");
        BOOST_TEST(log.result_int() == 200);
        BOOST_TEST(std::string{log[http::field::content_type]}.starts_with("text/plain"));
        BOOST_TEST(contains(log.body(), "PLAY RECAP"), log.body());
        BOOST_TEST(contains(log.body(), "hello from host2"), log.body());
        // Written by the handler, not the session: the fields of every answer all the same.
        BOOST_TEST(std::string{log["X-Content-Type-Options"]} == "nosniff");
        BOOST_TEST(std::string{log[http::field::server]}.starts_with("raydeploy/"));
        // Following a finished execution's log gives the whole log and ends at once.
        streamed_response follow{port, make_request(http::verb::get, "/api/v1/executions/" + id + "/log?follow=1")};
        BOOST_TEST(follow.read_to_end(5s), "the followed log of a finished run did not end within 5 s");
        BOOST_TEST(follow.body() == log.body());
        BOOST_TEST(std::string{follow.get()["X-Content-Type-Options"]} == "nosniff");
        BOOST_TEST(std::string{follow.get()["Referrer-Policy"]} == "no-referrer");
    }

    BOOST_TEST_CONTEXT("unknown execution")
    {
        for (const std::string suffix : {"", "/events", "/log"}) {
            const auto res = http_get(port, "/api/v1/executions/ex-00000000000000000000" + suffix);
            BOOST_TEST(res.result_int() == 404, suffix);
            BOOST_TEST(error_field_of(res) == "EXECUTION_NOT_FOUND", suffix);
        }
    }
}

BOOST_AUTO_TEST_CASE(log_follow_streams_chunks_until_the_execution_ends)
{
    service_process service{fixture_service_options()};
    const auto port = service.port();
    const std::string id = start_execution(port, "slow-long", R"({"extra_vars": {"sleep_seconds": 3}})");

    streamed_response follow{port, make_request(http::verb::get, "/api/v1/executions/" + id + "/log?follow=1")};
    follow.read_header(5s);
    BOOST_TEST(follow.get().result_int() == 200);
    BOOST_TEST(follow.chunked());
    BOOST_TEST(std::string{follow.get()[http::field::content_type]}.starts_with("text/plain"));

    // Output arrives while the run is still sleeping ...
    BOOST_TEST_REQUIRE(follow.read_more(10s), "no log output within 10 s");
    BOOST_TEST(!follow.done());
    BOOST_TEST(text(get_execution(port, id), "status") == "running", "the first log bytes should arrive during the 3 s sleep");

    // Once the long task started (its event may come a moment after its log line), progress names
    // the current play and task; nothing final yet.
    json::object meanwhile;
    for (const auto deadline = steady::now() + 2s; steady::now() < deadline; std::this_thread::sleep_for(20ms)) {
        meanwhile = get_execution(port, id);
        const auto* progress = meanwhile.if_contains("progress");
        if (progress && progress->is_object() && text(progress->get_object(), "task") == "Sleep for a while") break;
    }
    BOOST_TEST_CONTEXT("while it runs: " << json::serialize(meanwhile))
    {
        BOOST_TEST(text(meanwhile, "status") == "running");
        const json::object& progress = object_at(meanwhile, "progress");
        BOOST_TEST(text(progress, "play") == "Take a long time");
        BOOST_TEST(text(progress, "task") == "Sleep for a while");
        BOOST_TEST((progress.contains("tasks_done") && integer(progress, "tasks_done") == 0));
        BOOST_TEST(meanwhile.at("final_counter").is_null());
        BOOST_TEST(meanwhile.at("finished_at").is_null());
        BOOST_TEST(meanwhile.at("rc").is_null());
        const auto listing = json_object_of(http_get(port, "/api/v1/executions/" + id + "/events"));
        BOOST_TEST(listing.at("final_counter").is_null());
        BOOST_TEST(text(listing, "status") == "running");
    }

    // ... and the response ends once the execution has ended, with all of it.
    BOOST_TEST_REQUIRE(follow.read_to_end(20s), "the followed log did not end within 20 s; got:\n" << follow.body());
    const auto after = get_execution(port, id);
    BOOST_TEST(text(after, "status") == "succeeded");
    BOOST_TEST(contains(follow.body(), "PLAY RECAP"), follow.body());
    const auto whole = http_get(port, "/api/v1/executions/" + id + "/log");
    BOOST_TEST(follow.body() == whole.body());
}

BOOST_AUTO_TEST_CASE(failing_task_and_unreachable_host_are_named_in_the_error)
{
    service_process service{fixture_service_options()};
    const auto port = service.port();
    // In parallel: two checkpoints, two slots.
    const std::string failing = start_execution(port, "fail");
    const std::string unreachable = start_execution(port, "unreachable");

    BOOST_TEST_CONTEXT("fail")
    {
        const auto execution = wait_for_execution(port, failing, {"succeeded", "failed", "cancelled", "timed_out"});
        BOOST_TEST_CONTEXT(json::serialize(execution))
        {
            BOOST_TEST(text(execution, "status") == "failed");
            BOOST_TEST(integer(execution, "rc") == 2);
            BOOST_TEST_REQUIRE(execution.at("error").is_object());
            const json::object& error = execution.at("error").get_object();
            BOOST_TEST(text(error, "task") == "Break on purpose");
            BOOST_TEST(text(error, "host") == "host2");
            BOOST_TEST(contains(text(error, "message"), "intentional failure"));
            const json::object& hosts = object_at(execution, "host_summary");
            BOOST_TEST(integer(object_at(hosts, "host2"), "failures") == 1);
            BOOST_TEST(integer(object_at(hosts, "host1"), "failures") == 0);
            BOOST_TEST(integer(object_at(hosts, "host3"), "failures") == 0);
            // host1 and host3 go on to the last task.
            BOOST_TEST(integer(object_at(hosts, "host1"), "ok") == 2);
        }
        const auto events = execution_events(port, failing);
        BOOST_TEST_REQUIRE(!events.empty());
        check_contiguous(events, failing);
        BOOST_TEST(text(events.back(), "type") == "execution.done");
        BOOST_TEST(text(events.back(), "status") == "failed");
        BOOST_TEST(object_at(events.back(), "error") == execution.at("error").get_object());
        bool failed_event = false;
        for (const auto& item : events)
            if (text(item, "type") == "ansible.runner_on_failed") {
                const auto& data = object_at(item, "event_data");
                failed_event = text(data, "host") == "host2" && text(data, "task") == "Break on purpose";
            }
        BOOST_TEST(failed_event, "no ansible.runner_on_failed for host2 / Break on purpose");
    }

    BOOST_TEST_CONTEXT("unreachable")
    {
        const auto execution = wait_for_execution(port, unreachable, {"succeeded", "failed", "cancelled", "timed_out"});
        BOOST_TEST_CONTEXT(json::serialize(execution))
        {
            BOOST_TEST(text(execution, "status") == "failed");
            BOOST_TEST(integer(execution, "rc") != 0);
            const json::object& hosts = object_at(execution, "host_summary");
            BOOST_TEST((keys_of(hosts) == std::set<std::string>{"ghost"}));
            BOOST_TEST(integer(object_at(hosts, "ghost"), "unreachable") == 1);
            BOOST_TEST(integer(object_at(hosts, "ghost"), "ok") == 0);
            BOOST_TEST_REQUIRE(execution.at("error").is_object());
            const json::object& error = execution.at("error").get_object();
            BOOST_TEST(text(error, "host") == "ghost");
            BOOST_TEST(text(error, "task") == "Ping the ghost");
            BOOST_TEST(!text(error, "message").empty());
        }
        const auto events = execution_events(port, unreachable);
        BOOST_TEST_REQUIRE(!events.empty());
        check_contiguous(events, unreachable);
        BOOST_TEST(text(events.back(), "status") == "failed");
    }
}

BOOST_AUTO_TEST_CASE(timeout_stops_the_run_and_leaves_no_process)
{
    temp_dir dir;
    service_process service{with_config(dir, "executions:\n  kill_grace: 2s\n")};
    const auto port = service.port();

    const auto posted = steady::now();
    // `slow` has an 8 s timeout; its sleep gets a value of its own so this test finds only its process.
    const std::string id = start_execution(port, "slow", R"({"extra_vars": {"sleep_seconds": 57}})");
    run_processes processes{id, 57};
    BOOST_TEST_REQUIRE(processes.wait_for_sleep(8s), "the run's `sleep 57` never appeared");

    const auto execution = wait_for_execution(port, id, {"succeeded", "failed", "cancelled", "timed_out", "interrupted"}, 30s);
    const auto elapsed = milliseconds_since(posted);
    BOOST_TEST_CONTEXT(json::serialize(execution))
    {
        BOOST_TEST(text(execution, "status") == "timed_out");
        BOOST_TEST(contains(text(execution, "status_reason"), "timeout"));
        BOOST_TEST(elapsed >= 8000);
        // The 8 s timeout counts from the start, then at most the 2 s grace, and slack for the
        // service's own steps. Bounded on the service's clock, not this test's: under a loaded
        // machine (CI's sanitized run beside other work) starting ansible-playbook and polling
        // for the status stretch the wall time, not the run.
        const auto ran_ms = timestamp_ms(execution.at("finished_at")) - timestamp_ms(execution.at("started_at"));
        BOOST_TEST(ran_ms >= 7900);
        BOOST_TEST(ran_ms < 8000 + 2000 + 4000);
    }
    const auto left = wait_until_none([&] { return processes.now(); }, 3s);
    BOOST_TEST(left.empty(), "processes of the timed-out run are still there:" << describe(left));

    const auto events = execution_events(port, id);
    BOOST_TEST_REQUIRE(!events.empty());
    check_contiguous(events, id);
    BOOST_TEST(text(events.back(), "type") == "execution.done");
    BOOST_TEST(text(events.back(), "status") == "timed_out");
}

BOOST_AUTO_TEST_CASE(cancel_stops_the_run_and_leaves_no_process)
{
    service_process service{fixture_service_options({{"RAYDEPLOY_EXECUTIONS_KILL_GRACE", "2s"}})};
    const auto port = service.port();
    const std::string id = start_execution(port, "slow-long", R"({"extra_vars": {"sleep_seconds": 58}})");
    run_processes processes{id, 58};
    BOOST_TEST_REQUIRE(processes.wait_for_sleep(10s), "the run's `sleep 58` never appeared");
    BOOST_TEST(text(get_execution(port, id), "status") == "running");

    BOOST_TEST_CONTEXT("a second run of a running checkpoint")
    {
        const auto again = post_json(port, "/api/v1/checkpoints/slow-long", "{}");
        BOOST_TEST(again.result_int() == 409);
        BOOST_TEST(error_field_of(again) == "ALREADY_RUNNING");
        BOOST_TEST(text(json_object_of(again), "execution_id") == id);
    }

    const auto cancelled_at = steady::now();
    const auto cancel = http_request(port, http::verb::post, "/api/v1/executions/" + id + "/cancel");
    BOOST_TEST(cancel.result_int() == 202, cancel.body());
    BOOST_TEST(text(json_object_of(cancel), "execution_id") == id);

    const auto execution = wait_for_execution(port, id, {"succeeded", "failed", "cancelled", "timed_out", "interrupted"}, 15s);
    BOOST_TEST(text(execution, "status") == "cancelled", json::serialize(execution));
    BOOST_TEST(!text(execution, "status_reason").empty());
    // SIGTERM at once, SIGKILL after the 2 s grace at the latest.
    BOOST_TEST(milliseconds_since(cancelled_at) < 6000);
    const auto left = wait_until_none([&] { return processes.now(); }, 3s);
    BOOST_TEST(left.empty(), "processes of the cancelled run are still there:" << describe(left));

    const auto events = execution_events(port, id);
    BOOST_TEST_REQUIRE(!events.empty());
    check_contiguous(events, id);
    bool cancelling = false;
    for (const auto& item : events) cancelling = cancelling || text(item, "type") == "execution.cancelling";
    BOOST_TEST(cancelling, "no execution.cancelling event");
    BOOST_TEST(text(events.back(), "type") == "execution.done");
    BOOST_TEST(text(events.back(), "status") == "cancelled");

    BOOST_TEST_CONTEXT("cancelling again")
    {
        const auto again = http_request(port, http::verb::post, "/api/v1/executions/" + id + "/cancel");
        BOOST_TEST(again.result_int() == 409);
        BOOST_TEST(error_field_of(again) == "ALREADY_FINISHED");
        BOOST_TEST(text(get_execution(port, id), "status") == "cancelled");
    }
    BOOST_TEST_CONTEXT("cancelling an unknown execution")
    {
        const auto unknown = http_request(port, http::verb::post, "/api/v1/executions/ex-does-not-exist/cancel");
        BOOST_TEST(unknown.result_int() == 404);
        BOOST_TEST(error_field_of(unknown) == "EXECUTION_NOT_FOUND");
    }
}

BOOST_AUTO_TEST_CASE(cancel_stops_a_command_that_ignores_sigterm)
{
    temp_dir dir;
    auto options = fixture_service_options({{"RAYDEPLOY_EXECUTIONS_KILL_GRACE", "2s"}});
    options.catalog = write_stubborn_catalog(dir, 53);
    service_process service{options};
    const auto port = service.port();
    const std::string id = start_execution(port, "stubborn");
    run_processes processes{id, 53};
    BOOST_TEST_REQUIRE(processes.wait_for_sleep(10s), "the run's `sleep 53` never appeared");

    const auto cancelled_at = steady::now();
    const auto cancel = http_request(port, http::verb::post, "/api/v1/executions/" + id + "/cancel");
    BOOST_TEST(cancel.result_int() == 202, cancel.body());
    const auto execution = wait_for_execution(port, id, {"succeeded", "failed", "cancelled", "timed_out", "interrupted"}, 15s);
    BOOST_TEST(text(execution, "status") == "cancelled", json::serialize(execution));
    BOOST_TEST(milliseconds_since(cancelled_at) < 6000);
    const auto left = wait_until_none([&] { return processes.now(); }, 3s);
    BOOST_TEST(left.empty(), "processes of the cancelled run are still there:" << describe(left));
}

BOOST_AUTO_TEST_CASE(runs_beyond_max_concurrent_wait_queued)
{
    temp_dir dir;
    service_process service{with_config(dir, "executions:\n  max_concurrent: 1\n")};
    const auto port = service.port();

    const std::string first = start_execution(port, "slow-long", R"({"extra_vars": {"sleep_seconds": 2}})");
    const auto second_post = http_request(port, http::verb::post, "/api/v1/checkpoints/succeed");
    BOOST_TEST_REQUIRE(second_post.result_int() == 202, second_post.body());
    const std::string second = text(json_object_of(second_post), "execution_id");
    BOOST_TEST(text(json_object_of(second_post), "status") == "queued");

    BOOST_TEST_CONTEXT("cancelling a queued run")
    {
        const std::string dropped = start_execution(port, "stats");
        BOOST_TEST(text(get_execution(port, dropped), "status") == "queued");
        const auto cancel = http_request(port, http::verb::post, "/api/v1/executions/" + dropped + "/cancel");
        BOOST_TEST(cancel.result_int() == 202, cancel.body());
        const auto execution = get_execution(port, dropped);
        BOOST_TEST(text(execution, "status") == "cancelled");
        BOOST_TEST(execution.at("started_at").is_null());
        const auto events = execution_events(port, dropped);
        BOOST_TEST_REQUIRE(events.size() == 2u);
        check_contiguous(events, dropped);
        BOOST_TEST(text(events[0], "status") == "queued");
        BOOST_TEST(text(events[1], "type") == "execution.done");
        BOOST_TEST(text(events[1], "status") == "cancelled");
        BOOST_TEST(integer(events[1], "final_counter") == 2);
    }
    // A third one queued behind the second: when the slot frees, only one of them may take it.
    const std::string third = start_execution(port, "fail", R"({"limit": "host1"})");

    // While the first one runs, the others wait. (They are read first: if the first still runs
    // afterwards, it also ran while they were read.)
    int observed = 0;
    for (const auto deadline = steady::now() + 20s; steady::now() < deadline;) {
        const auto waiting = get_execution(port, second);
        const auto waiting_too = get_execution(port, third);
        const auto running = get_execution(port, first);
        if (is_final_status(text(running, "status"))) break;
        ++observed;
        for (const auto* queued : {&waiting, &waiting_too}) {
            BOOST_TEST_REQUIRE(text(*queued, "status") == "queued",
                               "a run while the first is " << text(running, "status") << ": " << json::serialize(*queued));
            BOOST_TEST_REQUIRE(queued->at("started_at").is_null());
        }
        std::this_thread::sleep_for(100ms);
    }
    BOOST_TEST(observed > 3, "the first run was seen running only " << observed << " times");

    // Never more than one running at a time, until all have finished.
    std::size_t most_running = 0;
    for (const auto deadline = steady::now() + 30s; steady::now() < deadline;) {
        const auto res = http_get(port, "/api/v1/executions?status=running");
        most_running = std::max(most_running, ids_of(res).size());
        if (is_final_status(text(get_execution(port, second), "status")) &&
            is_final_status(text(get_execution(port, third), "status")))
            break;
        std::this_thread::sleep_for(50ms);
    }
    BOOST_TEST(most_running <= 1u, most_running << " executions were running at once with max_concurrent 1");

    const auto one = wait_for_execution(port, first, {"succeeded", "failed", "cancelled", "timed_out"});
    const auto two = wait_for_execution(port, second, {"succeeded", "failed", "cancelled", "timed_out"});
    const auto three = wait_for_execution(port, third, {"succeeded", "failed", "cancelled", "timed_out"});
    BOOST_TEST(text(one, "status") == "succeeded");
    BOOST_TEST(text(two, "status") == "succeeded");
    BOOST_TEST(text(three, "status") == "succeeded");
    // One after the other, in the order they were queued.
    BOOST_TEST(timestamp_ms(two.at("started_at")) >= timestamp_ms(one.at("finished_at")),
               "the second run started before the first ended: " << json::serialize(one) << "\n" << json::serialize(two));
    BOOST_TEST(timestamp_ms(three.at("started_at")) >= timestamp_ms(two.at("finished_at")),
               "the third run started before the second ended: " << json::serialize(two) << "\n"
                                                                  << json::serialize(three));
    const auto events = execution_events(port, second);
    BOOST_TEST_REQUIRE(events.size() >= 2u);
    check_contiguous(events, second);
    BOOST_TEST(text(events[0], "status") == "queued");
    BOOST_TEST(text(events[1], "status") == "running");
    BOOST_TEST(integer(events[1], "seq") > integer(execution_events(port, first).back(), "seq"),
               "the queued run's `running` event precedes the first run's end");
}

BOOST_AUTO_TEST_CASE(approval_required_and_unknown_checkpoints_are_refused)
{
    service_process service{fixture_service_options()};
    const auto port = service.port();

    const auto gated = post_json(port, "/api/v1/checkpoints/gated", R"({"extra_vars": {}})");
    BOOST_TEST(gated.result_int() == 409);
    BOOST_TEST(error_field_of(gated) == "APPROVAL_REQUIRED");
    const json::object body = json_object_of(gated);
    BOOST_TEST(text(body, "checkpoint") == "gated");
    const json::value expected_info = json::parse(
        R"({"approval_required": true, "destructive_operation": true, "impact_summary": ["DESTRUCTIVE: test gate"]})");
    BOOST_TEST(body.contains("approval_info"), gated.body());
    if (body.contains("approval_info")) {
        // The seeds' fields, and for a destructive checkpoint what the Ray monitor says would end
        // (not watched here: the state is unknown).
        json::object seeds_fields = body.at("approval_info").as_object();
        const json::value live_impact = seeds_fields["live_impact"];
        seeds_fields.erase("live_impact");
        BOOST_TEST(json::value(seeds_fields) == expected_info, gated.body());
        BOOST_TEST((live_impact.is_object() && !live_impact.as_object().at("fresh").as_bool()), gated.body());
    }
    // Beside the seeds' fields, the pending request the refusal recorded (issue 4).
    const std::string approval_id = text(body, "approval_id");
    BOOST_TEST(approval_id.starts_with("ap-"), gated.body());
    BOOST_TEST(!text(body, "message").empty());
    const json::object check = json_object_of(http_get(port, "/api/v1/approvals/gated"));
    BOOST_TEST_REQUIRE(check.at("pending").is_object(), json::serialize(check));
    BOOST_TEST(text(check.at("pending").as_object(), "id") == approval_id);

    const auto unknown = http_request(port, http::verb::post, "/api/v1/checkpoints/no-such-checkpoint");
    BOOST_TEST(unknown.result_int() == 404);
    BOOST_TEST(error_field_of(unknown) == "CHECKPOINT_NOT_FOUND");

    // Neither created an execution.
    const auto list = http_get(port, "/api/v1/executions");
    BOOST_TEST(list.result_int() == 200);
    BOOST_TEST(ids_of(list).empty(), list.body());
}

BOOST_AUTO_TEST_CASE(invalid_bodies_are_rejected_and_nothing_runs)
{
    service_process service{fixture_service_options()};
    const auto port = service.port();
    const std::string target = "/api/v1/checkpoints/succeed";

    struct case_t {
        std::string body;
        std::string content_type;
        unsigned status;
        std::string code;
        std::string field;  // "" when the answer names none
    };
    const std::vector<case_t> cases = {
        {R"({"extra_vars": )", "application/json", 400, "INVALID_JSON", ""},
        {R"({})", "text/plain", 415, "UNSUPPORTED_MEDIA_TYPE", ""},
        {R"({"extra_vars": {}, "bogus": 1})", "application/json", 422, "VALIDATION_ERROR", "bogus"},
        {R"({"extra_vars": ["a"]})", "application/json", 422, "VALIDATION_ERROR", "extra_vars"},
        {R"({"extra_vars": "sleep_seconds=1"})", "application/json", 422, "VALIDATION_ERROR", "extra_vars"},
        {R"({"extra_vars": {"raydeploy_execution_id": "x"}})", "application/json", 422, "VALIDATION_ERROR",
         "extra_vars.raydeploy_execution_id"},
        {R"({"extra_vars": {"1st": 1}})", "application/json", 422, "VALIDATION_ERROR", "extra_vars.1st"},
        {R"({"limit": "-x"})", "application/json", 422, "VALIDATION_ERROR", "limit"},
        {R"({"limit": 3})", "application/json", 422, "VALIDATION_ERROR", "limit"},
        {R"({"check": "yes"})", "application/json", 422, "VALIDATION_ERROR", "check"},
        // Not nullable in the OpenAPI document (only `limit` is): null is a wrong type, not "absent".
        {R"({"approve": null})", "application/json", 422, "VALIDATION_ERROR", "approve"},
        {R"({"check": null})", "application/json", 422, "VALIDATION_ERROR", "check"},
        {R"({"extra_vars": null})", "application/json", 422, "VALIDATION_ERROR", "extra_vars"},
        {R"([1, 2])", "application/json", 422, "VALIDATION_ERROR", "body"},
    };
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT("body " << c.body << " as " << c.content_type)
        {
            const auto res = post_json(port, target, c.body, c.content_type);
            BOOST_TEST(res.result_int() == c.status, res.body());
            BOOST_TEST(error_field_of(res) == c.code);
            if (!c.field.empty() && res.result_int() == c.status)
                BOOST_TEST(text(json_object_of(res), "field") == c.field, res.body());
        }
    }
    const auto list = http_get(port, "/api/v1/executions");
    BOOST_TEST(ids_of(list).empty(), "a rejected request started a run: " << list.body());
}

BOOST_AUTO_TEST_CASE(limit_and_check_reach_ansible_playbook)
{
    service_process service{fixture_service_options()};
    const auto port = service.port();
    // `fail` breaks on host2 only: limited to host1 it succeeds.
    const std::string limited = start_execution(port, "fail", R"({"limit": "host1"})");
    const std::string checked = start_execution(port, "succeed", R"({"check": true})");

    BOOST_TEST_CONTEXT("limit host1")
    {
        const auto execution = wait_for_execution(port, limited, {"succeeded", "failed", "cancelled", "timed_out"});
        BOOST_TEST(text(execution, "status") == "succeeded", json::serialize(execution));
        BOOST_TEST((keys_of(object_at(execution, "host_summary")) == std::set<std::string>{"host1"}),
                   json::serialize(execution));
        BOOST_TEST(text(object_at(execution, "params"), "limit") == "host1");
        for (const auto& item : execution_events(port, limited))
            if (const auto* data = item.if_contains("event_data"); data && data->is_object())
                if (const auto* host = data->get_object().if_contains("host"))
                    BOOST_TEST(text(*host) == "host1", json::serialize(item));
    }
    BOOST_TEST_CONTEXT("check mode")
    {
        const auto execution = wait_for_execution(port, checked, {"succeeded", "failed", "cancelled", "timed_out"});
        BOOST_TEST(text(execution, "status") == "succeeded", json::serialize(execution));
        BOOST_TEST(object_at(execution, "params").at("check") == json::value(true));
        // In check mode the `command` task is skipped (it cannot know what a command would do).
        const json::object& hosts = object_at(execution, "host_summary");
        BOOST_TEST((keys_of(hosts) == std::set<std::string>{"host1", "host2", "host3"}));
        for (const auto& host : local_hosts) {
            BOOST_TEST(integer(object_at(hosts, host), "skipped") == 1, host);
            BOOST_TEST(integer(object_at(hosts, host), "ok") == 2, host);
        }
    }
}

BOOST_AUTO_TEST_CASE(list_filters_by_checkpoint_and_status_and_pages_newest_first)
{
    service_process service{fixture_service_options()};
    const auto port = service.port();
    const std::string first_succeed = start_execution(port, "succeed", R"({"limit": "host1"})");
    const std::string failing = start_execution(port, "fail");
    const std::string stats = start_execution(port, "stats", R"({"limit": "host1"})");
    for (const auto& id : {first_succeed, failing, stats})
        wait_for_execution(port, id, {"succeeded", "failed", "cancelled", "timed_out"});
    // A poller's first page: 304 while nothing changed, the new list once an execution was created.
    const auto polled = http_get(port, "/api/v1/executions?limit=10");
    const std::string etag{polled[http::field::etag]};
    BOOST_TEST_REQUIRE(!etag.empty(), polled.body());
    const auto if_none_match = [&] {
        return http_request(port, http::verb::get, "/api/v1/executions?limit=10", {}, {{"If-None-Match", etag}});
    };
    BOOST_TEST(if_none_match().result_int() == 304);
    const std::string second_succeed = start_execution(port, "succeed", R"({"limit": "host1"})");
    const auto changed = if_none_match();
    BOOST_TEST_REQUIRE(changed.result_int() == 200);
    BOOST_TEST(ids_of(changed) == (std::vector<std::string>{second_succeed, stats, failing, first_succeed}),
               boost::test_tools::per_element());
    BOOST_TEST(std::string{changed[http::field::etag]} != etag);
    BOOST_TEST(text(wait_for_execution(port, second_succeed, {"succeeded", "failed", "cancelled", "timed_out"}),
                    "status") == "succeeded");
    BOOST_TEST(text(get_execution(port, failing), "status") == "failed");

    using ids = std::vector<std::string>;
    const auto list = [&](const std::string& query) {
        const auto res = http_get(port, "/api/v1/executions" + query);
        BOOST_TEST_REQUIRE(res.result_int() == 200, query << ": " << res.body());
        return ids_of(res);
    };
    BOOST_TEST(list("") == (ids{second_succeed, stats, failing, first_succeed}), boost::test_tools::per_element());
    BOOST_TEST(list("?checkpoint=succeed") == (ids{second_succeed, first_succeed}), boost::test_tools::per_element());
    BOOST_TEST(list("?status=failed") == (ids{failing}), boost::test_tools::per_element());
    BOOST_TEST(list("?status=succeeded") == (ids{second_succeed, stats, first_succeed}), boost::test_tools::per_element());
    BOOST_TEST(list("?checkpoint=fail&status=succeeded").empty());
    BOOST_TEST(list("?checkpoint=no-such-checkpoint").empty());

    // One at a time, each page continues with the next older execution, and the last one says it
    // is the last: no empty page at the end.
    ids paged;
    int pages = 0;
    std::string query = "?limit=1";
    for (; pages < 10; ++pages) {
        const auto res = http_get(port, "/api/v1/executions" + query);
        BOOST_TEST_REQUIRE(res.result_int() == 200, res.body());
        const json::object body = json_object_of(res);
        const auto page_ids = ids_of(res);
        BOOST_TEST_REQUIRE(page_ids.size() == 1u, "an empty page: " << res.body());
        paged.insert(paged.end(), page_ids.begin(), page_ids.end());
        if (body.at("next_cursor").is_null()) break;
        query = "?limit=1&cursor=" + text(body.at("next_cursor"));
    }
    BOOST_TEST(pages == 3, "the fourth page is not the last");
    BOOST_TEST(paged == (ids{second_succeed, stats, failing, first_succeed}), boost::test_tools::per_element());
    // A page exactly as long as what is left is the last page too.
    BOOST_TEST(json_object_of(http_get(port, "/api/v1/executions?limit=4")).at("next_cursor").is_null());
    BOOST_TEST(json_object_of(http_get(port, "/api/v1/executions?limit=3")).at("next_cursor").is_string());

    const auto two = http_get(port, "/api/v1/executions?checkpoint=succeed&limit=1");
    const json::object two_body = json_object_of(two);
    BOOST_TEST_REQUIRE(two_body.at("next_cursor").is_string(), two.body());
    BOOST_TEST(list("?checkpoint=succeed&limit=1&cursor=" + text(two_body.at("next_cursor"))) == (ids{first_succeed}),
               boost::test_tools::per_element());

    // A cursor is what next_cursor gave (the OpenAPI document's Cursor pattern), nothing else.
    for (const std::string bad : {"?status=exploded", "?status=", "?limit=0", "?limit=abc", "?cursor=x", "?cursor=",
                                  "?cursor=0", "?cursor=01", "?cursor=-1", "?cursor=1000000000000000000",
                                  "?cursor=%FF"}) {
        const auto res = http_get(port, "/api/v1/executions" + bad);
        BOOST_TEST(res.result_int() == 400, bad << ": " << res.body());
        BOOST_TEST(error_field_of(res) == "INVALID_PARAMETER", bad);
    }
}

BOOST_AUTO_TEST_CASE(results_per_node_and_summary_are_stored_with_the_execution)
{
    service_process service{fixture_service_options()};
    const auto port = service.port();
    const std::string id = start_execution(port, "results");
    const std::string plain = start_execution(port, "succeed", R"({"limit": "host1"})");
    const json::object execution = wait_for_execution(port, id, {"succeeded", "failed", "cancelled", "timed_out"});
    BOOST_TEST_CONTEXT("execution: " << json::serialize(execution))
    {
        BOOST_TEST(text(execution, "status") == "succeeded");
        BOOST_TEST(execution.at("has_report") == json::value(false));
        const json::object& results = object_at(execution, "results");
        // Only the contract's keys: raydeploy_node per host and raydeploy_summary.
        BOOST_TEST((keys_of(results) == std::set<std::string>{"nodes", "summary"}));
        const json::object& nodes = object_at(results, "nodes");
        BOOST_TEST((keys_of(nodes) == std::set<std::string>{"host1", "host2", "host3"}));
        for (const auto& host : local_hosts) {
            BOOST_TEST_CONTEXT("host " << host)
            {
                const json::object& node = object_at(nodes, host);
                BOOST_TEST(text(node, "hostname") == host);
                BOOST_TEST(text(node, "role") == (host == "host1" ? "head" : "worker"));
                BOOST_TEST(integer(node, "cpus") == 2);
                BOOST_TEST(text(object_at(node, "ports"), "6379") == "free");
                BOOST_TEST(node.at("problems").as_array().empty());
                BOOST_TEST(!node.contains("raydeploy_fixture_other"));
            }
        }
        BOOST_TEST(results.at("summary") == json::parse(R"({"nodes": 3, "all_ok": true})"));
    }
    // The list shows the same.
    const auto listed = json_object_of(http_get(port, "/api/v1/executions?checkpoint=results"));
    BOOST_TEST(listed.at("executions").as_array().at(0).as_object().at("results") == execution.at("results"));

    // A playbook that publishes nothing has empty results of the same shape.
    const json::object nothing = wait_for_execution(port, plain, {"succeeded", "failed", "cancelled", "timed_out"});
    BOOST_TEST(nothing.at("results") == json::parse(R"({"nodes": {}, "summary": null})"), json::serialize(nothing));
    BOOST_TEST(nothing.at("has_report") == json::value(false));

    BOOST_TEST_CONTEXT("the report route's errors")
    {
        const auto none = http_get(port, "/api/v1/executions/" + id + "/report");
        BOOST_TEST(none.result_int() == 404);
        BOOST_TEST(error_field_of(none) == "REPORT_NOT_FOUND");
        const std::string message = text(json_object_of(none), "message");
        BOOST_TEST(contains(message, id), message);
        BOOST_TEST(contains(message, "only final-validation writes a report"), message);
        BOOST_TEST(contains(message, "GET /api/v1/executions?checkpoint=final-validation&limit=1"), message);
        const auto none_markdown = http_get(port, "/api/v1/executions/" + id + "/report?format=markdown");
        BOOST_TEST(none_markdown.result_int() == 404);
        BOOST_TEST(error_field_of(none_markdown) == "REPORT_NOT_FOUND");

        const auto bad_format = http_get(port, "/api/v1/executions/" + id + "/report?format=xml");
        BOOST_TEST(bad_format.result_int() == 400);
        BOOST_TEST(error_field_of(bad_format) == "INVALID_PARAMETER");
        BOOST_TEST(text(json_object_of(bad_format), "parameter") == "format");

        const auto unknown = http_get(port, "/api/v1/executions/ex-00000000000000000000/report");
        BOOST_TEST(unknown.result_int() == 404);
        BOOST_TEST(error_field_of(unknown) == "EXECUTION_NOT_FOUND");
    }
}

BOOST_AUTO_TEST_CASE(report_is_served_as_json_and_markdown_and_survives_a_restart)
{
    temp_dir state{"raydeploy-results"};
    auto options = fixture_service_options();
    options.state_dir = state.path() / "state";
    const json::value expected_report = json::parse(
        R"({"title": "Fixture report", "checks": [{"name": "first", "passed": true}, {"name": "second", "passed": true}]})");
    const std::string expected_markdown =
        "# Fixture report\n\n| check | result |\n|---|---|\n| first | passed |\n| second | passed |\n";

    std::string id;
    std::string other;
    json::object before;
    const auto check_report = [&](std::uint16_t port) {
        const auto as_json = http_get(port, "/api/v1/executions/" + id + "/report");
        BOOST_TEST_REQUIRE(as_json.result_int() == 200, as_json.body());
        BOOST_TEST(std::string{as_json[http::field::content_type]}.starts_with("application/json"));
        BOOST_TEST(parse_json(as_json.body()) == expected_report, as_json.body());
        const auto explicit_json = http_get(port, "/api/v1/executions/" + id + "/report?format=json");
        BOOST_TEST(parse_json(explicit_json.body()) == expected_report, explicit_json.body());

        const auto as_markdown = http_get(port, "/api/v1/executions/" + id + "/report?format=markdown");
        BOOST_TEST_REQUIRE(as_markdown.result_int() == 200, as_markdown.body());
        BOOST_TEST(std::string{as_markdown[http::field::content_type]}.starts_with("text/markdown"));
        BOOST_TEST(as_markdown.body() == expected_markdown);
        const auto accepted = http_request(port, http::verb::get, "/api/v1/executions/" + id + "/report", {},
                                           {{"Accept", "text/markdown"}});
        BOOST_TEST(accepted.result_int() == 200);
        BOOST_TEST(std::string{accepted[http::field::content_type]}.starts_with("text/markdown"));
        BOOST_TEST(accepted.body() == expected_markdown);
    };

    {
        service_process service{options};
        const auto port = service.port();
        id = start_execution(port, "report");
        before = wait_for_execution(port, id, {"succeeded", "failed", "cancelled", "timed_out"});
        BOOST_TEST_CONTEXT("execution: " << json::serialize(before))
        {
            BOOST_TEST(text(before, "status") == "succeeded");
            BOOST_TEST(before.at("has_report") == json::value(true));
            BOOST_TEST(before.at("results") ==
                       json::parse(R"({"nodes": {"host1": {"role": "head"}}, "summary": {"passed": 2, "failed": 0}})"));
            // The execution shows that there is a report, not the report itself.
            BOOST_TEST(!before.contains("report"));
        }
        check_report(port);
        // Another execution without a report points at this one.
        other = start_execution(port, "succeed", R"({"limit": "host1"})");
        wait_for_execution(port, other, {"succeeded", "failed", "cancelled", "timed_out"});
        const auto none = http_get(port, "/api/v1/executions/" + other + "/report");
        BOOST_TEST(error_field_of(none) == "REPORT_NOT_FOUND");
        BOOST_TEST(contains(text(json_object_of(none), "message"), "GET /api/v1/executions/" + id + "/report"), none.body());
    }
    BOOST_TEST_CONTEXT("after a restart")
    {
        service_process service{options};
        const auto port = service.port();
        const json::object after = get_execution(port, id);
        BOOST_TEST(after.at("results") == before.at("results"), json::serialize(after));
        BOOST_TEST(after.at("has_report") == json::value(true));
        check_report(port);
        BOOST_TEST(get_execution(port, other).at("has_report") == json::value(false));
    }
}

// The service's peak resident memory (VmHWM), in KiB.
static std::int64_t peak_memory_kib(pid_t pid)
{
    std::ifstream status{"/proc/" + std::to_string(pid) + "/status"};
    for (std::string line; std::getline(status, line);)
        if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6));
    throw std::runtime_error{"no VmHWM in /proc/" + std::to_string(pid) + "/status"};
}

BOOST_AUTO_TEST_CASE(log_is_streamed_from_disk_whatever_its_size)
{
    service_process service{fixture_service_options()};
    const auto port = service.port();
    const std::string id = start_execution(port, "succeed");
    wait_for_execution(port, id, {"succeeded"});

    // Grow the finished run's log past the 64 MiB the service used to read into memory at once.
    const fs::path log = service.state_dir() / "runs" / id / "output.log";
    {
        std::ofstream out{log, std::ios::app | std::ios::binary};
        const std::string line(1023, 'x');
        for (int i = 0; i < 70 * 1024; ++i) out << line << '\n';
        out << "the very end\n";
    }
    const auto size = fs::file_size(log);
    const auto memory_before = peak_memory_kib(service.pid());

    // HEAD: the length from the file's size, no body (read raw: a parser would wait for the body).
    const std::string head = raw_exchange(
        port, "HEAD /api/v1/executions/" + id + "/log HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    BOOST_TEST(head.find("HTTP/1.1 200") == 0u, head);
    BOOST_TEST(contains(head, "Content-Length: " + std::to_string(size) + "\r\n"), head);
    BOOST_TEST(head.ends_with("\r\n\r\n"), head);

    // GET: all of it, in one response of that length.
    http_connection get{port, 30s};
    get.send(make_request(http::verb::get, "/api/v1/executions/" + id + "/log"));
    const auto raw = get.wait_closed(30s);
    BOOST_TEST_REQUIRE(raw.has_value(), "the log response did not end within 30 s");
    const auto header_end = raw->find("\r\n\r\n");
    BOOST_TEST_REQUIRE(header_end != std::string::npos);
    const std::string header = raw->substr(0, header_end);
    BOOST_TEST(header.find("HTTP/1.1 200") == 0u, header);
    BOOST_TEST(contains(header, "Content-Length: " + std::to_string(size)), header);
    BOOST_TEST(raw->size() - header_end - 4 == size);
    BOOST_TEST(raw->ends_with("xxx\nthe very end\n"));

    // Sent a piece at a time: the service never held the 70 MiB.
    const auto memory_after = peak_memory_kib(service.pid());
    BOOST_TEST(memory_after - memory_before < 32 * 1024, "peak memory grew by " << (memory_after - memory_before) << " KiB");
}

BOOST_AUTO_TEST_CASE(event_pages_stop_at_the_byte_cap_and_say_where_to_continue)
{
    temp_dir dir;
    auto options = fixture_service_options();
    options.args.push_back("--config");
    options.args.push_back(dir.write_file("raydeploy.yaml", "events: {page_bytes: 1024}\n").string());
    service_process service{options};
    const auto port = service.port();
    const std::string id = start_execution(port, "succeed");
    const auto final_counter = integer(wait_for_execution(port, id, {"succeeded"}), "final_counter");

    std::int64_t since = 0;
    std::vector<std::int64_t> counters;
    int pages = 0;
    for (; pages < 1000; ++pages) {
        const auto res = http_get(port, "/api/v1/executions/" + id + "/events?limit=500&since_counter=" +
                                            std::to_string(since));
        BOOST_TEST_REQUIRE(res.result_int() == 200);
        const auto page = json_object_of(res);
        const auto& events = page.at("events").as_array();
        BOOST_TEST_REQUIRE(!events.empty());
        // Over the cap only when a single event is larger than it.
        if (events.size() > 1) BOOST_TEST(res.body().size() <= 1024u + 256u, res.body());
        for (const auto& item : events) counters.push_back(integer(item.as_object(), "counter"));
        BOOST_TEST(integer(page, "final_counter") == final_counter);
        if (page.at("next_since_counter").is_null()) break;
        BOOST_TEST(integer(page, "next_since_counter") == counters.back());
        since = counters.back();
    }
    BOOST_TEST(pages > 1, "a 1 KiB cap should need several pages");
    // Every event once, in order, none left out.
    BOOST_TEST_REQUIRE(counters.size() == static_cast<std::size_t>(final_counter));
    for (std::size_t i = 0; i < counters.size(); ++i) BOOST_TEST(counters[i] == static_cast<std::int64_t>(i + 1));

    // A page that holds the last event says there is nothing after it.
    const auto last = json_object_of(http_get(port, "/api/v1/executions/" + id + "/events?since_counter=" +
                                                        std::to_string(final_counter - 1)));
    BOOST_TEST(last.at("next_since_counter").is_null());
}

BOOST_AUTO_TEST_CASE(each_kind_runs_with_its_runner_and_cml_without_its_settings_fails_saying_what_to_set)
{
    // One catalog with a playbook and a CML step: the first runs, the second finds no CML workspace
    // configured (a kind without a runner at all is the unit suite runners' case).
    temp_dir dir;
    auto options = fixture_service_options();
    options.catalog = write_playbook_and_cml_jobs_catalog(dir, "succeed");
    service_process service{options};
    const auto port = service.port();

    const json::object listed = json_object_of(http_get(port, "/api/v1/checkpoints"));
    const json::array& items = listed.at("checkpoints").as_array();
    BOOST_TEST_REQUIRE(items.size() == 2u);
    BOOST_TEST(text(items[0].as_object(), "kind") == "ansible");
    BOOST_TEST(text(items[1].as_object(), "kind") == "cml-jobs");
    BOOST_TEST(text(json_object_of(http_get(port, "/api/v1/checkpoints/create-jobs")), "kind") == "cml-jobs");

    const std::string failed_id = start_execution(port, "create-jobs");
    const json::object failed = wait_for_execution(port, failed_id, {"succeeded", "failed", "cancelled", "timed_out", "interrupted"});
    BOOST_TEST_CONTEXT("execution: " << json::serialize(failed))
    {
        BOOST_TEST(text(failed, "status") == "failed");
        BOOST_TEST(failed.at("rc").is_null());
        const std::string reason = text(failed, "status_reason");
        BOOST_TEST(contains(reason, "CML is not configured: set cml.host (RAYDEPLOY_CML_HOST)"), reason);
        BOOST_TEST(text(object_at(failed, "error"), "message") == reason);
    }
    const auto events = execution_events(port, failed_id);
    check_contiguous(events, failed_id);
    BOOST_TEST_REQUIRE(events.size() == 3u);
    BOOST_TEST(text(events[0], "status") == "queued");
    BOOST_TEST(text(events[1], "status") == "running");
    BOOST_TEST(text(events[2], "type") == "execution.done");
    BOOST_TEST(text(events[2], "status") == "failed");
    BOOST_TEST(integer(events[2], "final_counter") == 3);

    const std::string played_id = start_execution(port, "succeed");
    const json::object played = wait_for_execution(port, played_id, {"succeeded", "failed", "cancelled", "timed_out", "interrupted"}, 60s);
    BOOST_TEST(text(played, "status") == "succeeded", json::serialize(played));
}

BOOST_AUTO_TEST_SUITE_END()
