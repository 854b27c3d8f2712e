// Suite event_feed: the WebSocket feed on /api/v1/events — live delivery, filters, replay with
// since=<seq> (also while events are being written), slow and stalled subscribers, message limits.
#include "support/test_support.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <functional>
#include <limits>
#include <sstream>
#include <map>
#include <set>
#include <thread>

using namespace raydeploy::test;
namespace json = boost::json;

namespace {

using steady = std::chrono::steady_clock;

bool is_done(const json::object& item) { return text(item, "type") == "execution.done"; }

const std::initializer_list<std::string_view> final_statuses = {"succeeded", "failed", "cancelled", "timed_out",
                                                                "interrupted"};

// The value of an unlabelled series in a Prometheus text exposition; NaN when it is missing.
double metric_value(const std::string& exposition, std::string_view name)
{
    std::istringstream lines{exposition};
    for (std::string line; std::getline(lines, line);) {
        if (line.size() > name.size() && line.compare(0, name.size(), name) == 0 && line[name.size()] == ' ')
            return std::stod(line.substr(name.size() + 1));
    }
    return std::numeric_limits<double>::quiet_NaN();
}

// Lets a freshly upgraded subscriber's subscription take effect on the server before the test
// produces the events it expects live (the client sees the 101 answer before the server's
// coroutine subscribes).
void settle() { std::this_thread::sleep_for(200ms); }

// Reads messages until an execution.done arrived for every id in `executions`; every message is
// parsed and kept in arrival order. Throws when the whole read takes longer than `timeout`.
std::vector<json::object> read_until_done(ws_client& client, std::set<std::string> executions,
                                          std::chrono::milliseconds timeout = 30s,
                                          const std::function<void(const json::object&)>& on_message = {},
                                          source_location where = source_location::current())
{
    std::vector<json::object> received;
    const auto deadline = steady::now() + timeout;
    while (!executions.empty()) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
        if (left <= 0ms) throw std::runtime_error{"read_until_done: deadline passed"};
        const auto message = client.read(left, where);
        if (!message)
            throw std::runtime_error{"the feed ended (close code " + std::to_string(client.close_code()) + " '" +
                                     client.close_reason() + "', " + client.end_error() + ") after " +
                                     std::to_string(received.size()) + " messages"};
        json::value parsed = parse_json(*message, where);
        if (!parsed.is_object()) throw std::runtime_error{"a feed message is not an object: " + *message};
        received.push_back(std::move(parsed.get_object()));
        if (on_message) on_message(received.back());
        if (is_done(received.back())) executions.erase(text(received.back(), "execution_id"));
    }
    return received;
}

// Reads exactly `count` messages.
std::vector<json::object> read_count(ws_client& client, std::size_t count, std::chrono::milliseconds timeout = 20s)
{
    std::vector<json::object> received;
    const auto deadline = steady::now() + timeout;
    while (received.size() < count) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
        if (left <= 0ms) throw std::runtime_error{"read_count: deadline passed"};
        const auto message = client.read(left);
        if (!message) throw std::runtime_error{"the feed ended after " + std::to_string(received.size()) + " messages"};
        received.push_back(parse_json(*message).as_object());
    }
    return received;
}

std::vector<json::object> of_execution(const std::vector<json::object>& events, const std::string& id)
{
    std::vector<json::object> result;
    for (const auto& item : events)
        if (text(item, "execution_id") == id) result.push_back(item);
    return result;
}

// What a subscriber received: seqs strictly increasing (so no duplicate), and for every execution
// rising counters; without a type filter (`complete`) they run without a gap, from 1 when `from_start`.
void check_feed_order(const std::vector<json::object>& received, bool from_start, bool complete = true)
{
    std::int64_t previous_seq = 0;
    std::map<std::string, std::int64_t> last_counter;
    for (std::size_t i = 0; i < received.size(); ++i) {
        const json::object& item = received[i];
        BOOST_TEST_CONTEXT("message #" << i + 1 << ": " << json::serialize(item))
        {
            const auto seq = integer(item, "seq");
            BOOST_TEST(seq > previous_seq);
            previous_seq = seq;
            if (!item.contains("execution_id")) continue;
            const std::string id = text(item, "execution_id");
            const auto counter = integer(item, "counter");
            const auto it = last_counter.find(id);
            if (it == last_counter.end()) {
                if (from_start && complete) BOOST_TEST(counter == 1);
            } else if (complete) {
                BOOST_TEST(counter == it->second + 1);
            } else {
                BOOST_TEST(counter > it->second);
            }
            last_counter[id] = counter;
        }
    }
}

service_options with_config(const temp_dir& dir, std::string_view yaml)
{
    auto options = fixture_service_options();
    options.args.push_back("--config");
    options.args.push_back(dir.write_file("raydeploy.yaml", yaml).string());
    return options;
}

const std::map<std::string, std::string> upgrade_headers = {{"Upgrade", "websocket"},
                                                            {"Connection", "Upgrade"},
                                                            {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
                                                            {"Sec-WebSocket-Version", "13"}};

}  // namespace

BOOST_AUTO_TEST_SUITE(event_feed)

BOOST_AUTO_TEST_CASE(live_events_arrive_in_order_and_filters_apply)
{
    service_process service{fixture_service_options()};
    const auto port = service.port();
    ws_client everything{port, "/api/v1/events"};
    ws_client lifecycle{port, "/api/v1/events?types=execution.*"};
    settle();

    const std::string succeed = start_execution(port, "succeed");
    const std::string failing = start_execution(port, "fail");
    // Joins late, for one execution only: replays it from the start and goes on live.
    ws_client one{port, "/api/v1/events?since=0&execution_id=" + succeed};

    // Events are published only once stored: each one is readable over REST the moment it arrives.
    std::vector<std::string> not_yet_stored;
    const auto all = read_until_done(everything, {succeed, failing}, 30s, [&](const json::object& item) {
        const auto counter = integer(item, "counter");
        const auto page = json_object_of(http_get(port, "/api/v1/executions/" + text(item, "execution_id") +
                                                            "/events?limit=1&since_counter=" + std::to_string(counter - 1)));
        const auto& items = page.at("events").as_array();
        if (items.empty() || integer(items[0].as_object(), "seq") != integer(item, "seq"))
            not_yet_stored.push_back(json::serialize(item));
    });
    BOOST_TEST(not_yet_stored.empty(), not_yet_stored.size() << " events arrived before REST had them, the first: "
                                                             << (not_yet_stored.empty() ? "" : not_yet_stored.front()));
    const auto states = read_until_done(lifecycle, {succeed, failing});
    const auto mine = read_until_done(one, {succeed});
    const auto stored_succeed = execution_events(port, succeed);
    const auto stored_failing = execution_events(port, failing);

    BOOST_TEST_CONTEXT("no filter")
    {
        check_feed_order(all, true);
        // Everything of both runs, exactly as stored, and the runs end with execution.done.
        BOOST_TEST(of_execution(all, succeed) == stored_succeed, boost::test_tools::per_element());
        BOOST_TEST(of_execution(all, failing) == stored_failing, boost::test_tools::per_element());
        BOOST_TEST(all.size() == stored_succeed.size() + stored_failing.size());
        BOOST_TEST(text(of_execution(all, succeed).back(), "status") == "succeeded");
        BOOST_TEST(text(of_execution(all, failing).back(), "status") == "failed");
    }
    BOOST_TEST_CONTEXT("types=execution.*")
    {
        check_feed_order(states, true, false);
        for (const auto& item : states) BOOST_TEST(text(item, "type").starts_with("execution."), json::serialize(item));
        for (const auto& id : {succeed, failing}) {
            const auto runs = of_execution(states, id);
            std::vector<std::string> shape;
            for (const auto& item : runs)
                shape.push_back(text(item, "type") + (item.contains("status") ? ":" + text(item, "status") : ""));
            const std::string outcome = id == succeed ? "succeeded" : "failed";
            BOOST_TEST(shape == (std::vector<std::string>{"execution.status:queued", "execution.status:running",
                                                          "execution.done:" + outcome}),
                       boost::test_tools::per_element());
        }
    }
    BOOST_TEST_CONTEXT("execution_id=" << succeed)
    {
        check_feed_order(mine, true);
        BOOST_TEST(mine == stored_succeed, boost::test_tools::per_element());
    }
}

BOOST_AUTO_TEST_CASE(bad_feed_requests_are_refused)
{
    service_process service{fixture_service_options()};
    const auto port = service.port();

    const auto plain = http_get(port, "/api/v1/events");
    BOOST_TEST(plain.result_int() == 426);
    BOOST_TEST(error_field_of(plain) == "UPGRADE_REQUIRED");
    BOOST_TEST(std::string{plain[http::field::upgrade]} == "websocket");
    // Parameters are checked before the upgrade, as the OpenAPI document says: a malformed ticket
    // is a bad parameter, with or without the upgrade headers.
    const auto bad_ticket = http_get(port, "/api/v1/events?ticket=x");
    BOOST_TEST(bad_ticket.result_int() == 400, bad_ticket.body());
    BOOST_TEST(error_field_of(bad_ticket) == "INVALID_PARAMETER");

    for (const std::string target : {"/api/v1/events?types=Execution.Done", "/api/v1/events?types=*.done",
                                     "/api/v1/events?types=execution.*,", "/api/v1/events?since=-1",
                                     "/api/v1/events?since=abc", "/api/v1/events?batch=yes",
                                     "/api/v1/events?batch=", "/api/v1/events?ticket=",
                                     "/api/v1/events?ticket=rdt_too-short"}) {
        BOOST_TEST_CONTEXT(target)
        {
            const auto res = http_request(port, http::verb::get, target, {}, upgrade_headers);
            BOOST_TEST(res.result_int() == 400, res.body());
            BOOST_TEST(error_field_of(res) == "INVALID_PARAMETER");
            BOOST_CHECK_THROW((ws_client{port, target}), std::runtime_error);
        }
    }
    // A good request through the same path upgrades.
    const auto good = http_request(port, http::verb::get, "/api/v1/events?types=execution.done,ansible.*", {},
                                   upgrade_headers);
    BOOST_TEST(good.result_int() == 101);
}

BOOST_AUTO_TEST_CASE(replay_since_a_seq_then_live_without_gap)
{
    service_process service{fixture_service_options()};
    const auto port = service.port();
    const std::string first = start_execution(port, "succeed");
    wait_for_execution(port, first, final_statuses);
    const auto stored_first = execution_events(port, first);
    BOOST_TEST_REQUIRE(stored_first.size() > 6u);
    const std::int64_t since = integer(stored_first[4], "seq");

    ws_client late{port, "/api/v1/events?since=" + std::to_string(since)};
    // Exactly what was missed: everything after the 5th event, in order.
    const std::vector<json::object> missed(stored_first.begin() + 5, stored_first.end());
    const auto replayed = read_count(late, missed.size());
    BOOST_TEST(replayed == missed, boost::test_tools::per_element());

    // Then live: the next run, from its first event on.
    const std::string second = start_execution(port, "succeed");
    const auto live = read_until_done(late, {second});
    const auto stored_second = execution_events(port, second);
    BOOST_TEST(live == stored_second, boost::test_tools::per_element());

    std::vector<json::object> all = replayed;
    all.insert(all.end(), live.begin(), live.end());
    check_feed_order(all, false);
    BOOST_TEST_REQUIRE(!live.empty());
    BOOST_TEST(integer(live.front(), "counter") == 1);
    BOOST_TEST(integer(live.front(), "seq") > integer(replayed.back(), "seq"));
}

BOOST_AUTO_TEST_CASE(batched_messages_carry_the_same_events_as_single_ones)
{
    service_process service{fixture_service_options()};
    const auto port = service.port();
    const std::string before = start_execution(port, "succeed");
    wait_for_execution(port, before, final_statuses);

    // Replayed and live: the first run is stored already, the second runs while they follow.
    ws_client single{port, "/api/v1/events?since=0"};
    ws_client batched{port, "/api/v1/events?since=0&batch=true"};
    ws_client batched_lifecycle{port, "/api/v1/events?since=0&batch=true&types=execution.*"};
    settle();
    const std::string during = start_execution(port, "fail");
    const auto expected = read_until_done(single, {before, during});

    // Every message of a batched subscriber is a non-empty array of events; together, in order,
    // they are exactly what the single subscriber got one by one.
    const auto read_batches = [](ws_client& client, std::set<std::string> executions, std::size_t& messages) {
        std::vector<json::object> received;
        const auto deadline = steady::now() + 30s;
        while (!executions.empty()) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
            BOOST_TEST_REQUIRE(left > 0ms, "the batched feed did not bring every execution.done in time");
            const auto message = client.read(left);
            BOOST_TEST_REQUIRE(message.has_value(), "the batched feed ended early: close code " << client.close_code());
            const json::value parsed = parse_json(*message);
            BOOST_TEST_REQUIRE(parsed.is_array(), "a batched message is not an array: " << *message);
            BOOST_TEST_REQUIRE(!parsed.get_array().empty(), "an empty batch was sent");
            ++messages;
            for (const auto& item : parsed.get_array()) {
                BOOST_TEST_REQUIRE(item.is_object());
                received.push_back(item.get_object());
                if (is_done(received.back())) executions.erase(text(received.back(), "execution_id"));
            }
        }
        return received;
    };
    std::size_t messages = 0;
    const auto all = read_batches(batched, {before, during}, messages);
    BOOST_TEST(all == expected, boost::test_tools::per_element());
    check_feed_order(all, true);
    // The replay alone is a page of events: fewer messages than events proves they were batched.
    BOOST_TEST(messages < all.size());

    std::size_t lifecycle_messages = 0;
    const auto lifecycle = read_batches(batched_lifecycle, {before, during}, lifecycle_messages);
    std::vector<json::object> expected_lifecycle;
    for (const auto& item : expected)
        if (text(item, "type").rfind("execution.", 0) == 0) expected_lifecycle.push_back(item);
    BOOST_TEST(lifecycle == expected_lifecycle, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(replay_while_events_are_written_has_no_gap_or_duplicate)
{
    service_process service{fixture_service_options()};
    const auto port = service.port();
    const std::string succeed = start_execution(port, "succeed");
    const std::string failing = start_execution(port, "fail");

    // Subscribers join with since=0 at different moments while both runs write events.
    std::vector<std::unique_ptr<ws_client>> clients;
    std::vector<std::size_t> stored_when_joined;
    const auto deadline = steady::now() + 20s;
    while (clients.size() < 12 && steady::now() < deadline) {
        const auto events = execution_events(port, succeed);
        if (!events.empty() && is_done(events.back())) break;
        if (events.size() >= 3) {
            clients.push_back(std::make_unique<ws_client>(port, "/api/v1/events?since=0"));
            stored_when_joined.push_back(events.size());
        }
        std::this_thread::sleep_for(40ms);
    }
    BOOST_TEST_REQUIRE(!clients.empty(), "the run ended before a subscriber could join");

    wait_for_execution(port, succeed, final_statuses);
    wait_for_execution(port, failing, final_statuses);
    const auto stored_succeed = execution_events(port, succeed);
    const auto stored_failing = execution_events(port, failing);
    std::string joined;
    for (const auto n : stored_when_joined) joined += " " + std::to_string(n);
    BOOST_TEST_MESSAGE(clients.size() << " subscribers joined after" << joined << " of " << stored_succeed.size()
                                      << " stored events of " << succeed);

    for (std::size_t i = 0; i < clients.size(); ++i) {
        BOOST_TEST_CONTEXT("subscriber #" << i + 1 << " joined after " << stored_when_joined[i] << " stored events")
        {
            const auto received = read_until_done(*clients[i], {succeed, failing});
            check_feed_order(received, true);
            BOOST_TEST(of_execution(received, succeed) == stored_succeed, boost::test_tools::per_element());
            BOOST_TEST(of_execution(received, failing) == stored_failing, boost::test_tools::per_element());
            BOOST_TEST(received.size() == stored_succeed.size() + stored_failing.size());
        }
    }
}

BOOST_AUTO_TEST_CASE(a_paused_subscriber_catches_up_and_a_stalled_one_is_dropped_without_delaying_others)
{
    // Two `succeed` runs (about 55 KB of events) are not enough to stall a subscriber's writes:
    // on loopback the kernel's socket buffers take about 4 to 6 MB before a write blocks (5 MB
    // of events all went through to a client that read nothing). So the first run is a fixture
    // of this test that writes about 13 MB of events (150 items of a 90 KB debug message); the
    // second is `succeed`.
    temp_dir dir;
    dir.write_file("chatty.yml", R"(---
- name: Produce large events
  hosts: host1
  gather_facts: false
  tasks:
    - name: Say a lot
      ansible.builtin.debug:
        msg: "{{ 'x' * 90000 }}"
      loop: "{{ range(150) | list }}"
)");
    // Events keep 16 KiB of each text by default: this test needs them whole.
    dir.write_file("ansible.cfg", "[callback_raydeploy_events]\noutput_limit = 1048576\n");
    const fs::path catalog = dir.write_file("catalog.yaml", "checkpoints:\n"
                                                            "  - name: chatty\n"
                                                            "    playbook: chatty.yml\n"
                                                            "    description: Writes about 13 MB of events.\n"
                                                            "    timeout: 2m\n"
                                                            "  - name: succeed\n"
                                                            "    playbook: " +
                                                                (source_dir() / "tests/fixtures/ansible/succeed.yml").string() +
                                                                "\n"
                                                                "    description: The succeed fixture.\n"
                                                                "    timeout: 2m\n");
    // The smallest window: every one of chatty's events pushes the one before it out.
    auto options = with_config(dir, "events:\n  window_bytes: 65536\n");
    options.catalog = catalog;
    service_process service{options};
    const auto port = service.port();

    // A never reads (and announces a tiny TCP window). B reads everything as it comes. C reads one
    // event, pauses for less than the service's grace (10 s) while the events go by, then reads on.
    ws_client slow{port, "/api/v1/events", 1024};
    ws_client fast{port, "/api/v1/events"};
    ws_client paused{port, "/api/v1/events", 1024};
    settle();

    struct reader_result {
        std::vector<json::object> events;
        std::vector<steady::time_point> arrivals;
        std::string error;
    };
    // Reads until two execution.done arrived, pausing after the first message for `pause`.
    const auto read_two_runs = [](ws_client& client, std::chrono::milliseconds pause, reader_result& result) {
        try {
            const auto deadline = steady::now() + 90s;
            std::set<std::string> done;
            while (done.size() < 2) {
                const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
                if (left <= 0ms) throw std::runtime_error{"deadline passed"};
                const auto message = client.read(left);
                if (!message)
                    throw std::runtime_error{"the feed ended: close code " + std::to_string(client.close_code()) +
                                             " '" + client.close_reason() + "' " + client.end_error()};
                result.events.push_back(parse_json(*message).as_object());
                result.arrivals.push_back(steady::now());
                if (is_done(result.events.back())) done.insert(text(result.events.back(), "execution_id"));
                if (result.events.size() == 1) std::this_thread::sleep_for(pause);
            }
        } catch (const std::exception& e) {
            result.error = e.what() + std::string{" after "} + std::to_string(result.events.size()) + " events";
        }
    };
    reader_result fast_result, paused_result;
    std::thread fast_reader{[&] { read_two_runs(fast, 0ms, fast_result); }};
    std::thread paused_reader{[&] { read_two_runs(paused, 4000ms, paused_result); }};

    std::vector<std::string> runs;
    steady::time_point second_seen_done{};
    try {
        for (const auto* checkpoint : {"chatty", "succeed"}) {
            runs.push_back(start_execution(port, checkpoint));
            wait_for_execution(port, runs.back(), final_statuses);
            second_seen_done = steady::now();
        }
    } catch (...) {
        fast_reader.join();
        paused_reader.join();
        throw;
    }
    fast_reader.join();
    paused_reader.join();
    BOOST_TEST_REQUIRE(fast_result.error.empty(), "fast subscriber: " << fast_result.error);
    BOOST_TEST_REQUIRE(paused_result.error.empty(), "paused subscriber: " << paused_result.error);

    // B got every event of both runs, in order, and the end of run 2 as soon as REST showed it,
    // although A had not read anything. C got every event too: those that left the memory window
    // while it paused came from the store, none twice.
    std::vector<json::object> stored = execution_events(port, runs[0]);
    const auto stored_second = execution_events(port, runs[1]);
    stored.insert(stored.end(), stored_second.begin(), stored_second.end());
    check_feed_order(fast_result.events, true);
    BOOST_TEST(fast_result.events == stored, boost::test_tools::per_element());
    check_feed_order(paused_result.events, true);
    BOOST_TEST(paused_result.events == stored, boost::test_tools::per_element());
    const auto lag =
        std::chrono::duration_cast<std::chrono::milliseconds>(fast_result.arrivals.back() - second_seen_done);
    BOOST_TEST(lag.count() < 1500, "B saw run 2's execution.done " << lag.count() << " ms after REST did");

    // A: the service drops it once it has been behind the window with a write pending for the
    // grace (10 s); what it can still read then is a prefix of the events (whatever the kernel's
    // buffers held), and then the end of the connection.
    const auto drop_deadline = steady::now() + 30s;
    std::string metrics = http_get(port, "/metrics").body();
    while (!(metric_value(metrics, "raydeploy_event_slow_subscriber_closes_total") >= 1.0)) {
        BOOST_TEST_REQUIRE((steady::now() < drop_deadline), "the stalled subscriber was not dropped within 30 s:\n"
                                                                 << metrics);
        std::this_thread::sleep_for(200ms);
        metrics = http_get(port, "/metrics").body();
    }
    // C fell behind the window too, and caught up from the store.
    BOOST_TEST(metric_value(metrics, "raydeploy_event_store_catchups_total") >= 2.0, metrics);
    BOOST_TEST(metric_value(metrics, "raydeploy_events_dropped_total") >= 1.0, metrics);
    std::vector<json::object> slow_events;
    const auto slow_deadline = steady::now() + 15s;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(slow_deadline - steady::now());
        BOOST_TEST_REQUIRE(left.count() > 0, "the stalled subscriber's connection did not end; it read "
                                                 << slow_events.size() << " of " << stored.size() << " events");
        std::optional<std::string> message;
        try {
            message = slow.read(left);
        } catch (const std::runtime_error& e) {
            BOOST_FAIL("the stalled subscriber's connection did not end within 15 s; it read "
                       << slow_events.size() << " of " << stored.size() << " events: " << e.what());
        }
        if (!message) break;
        slow_events.push_back(parse_json(*message).as_object());
    }
    BOOST_TEST_MESSAGE("stalled subscriber: " << slow_events.size() << " of " << stored.size()
                                              << " events, then close code " << slow.close_code() << " '"
                                              << slow.close_reason() << "' " << slow.end_error());
    BOOST_TEST(slow_events.size() < stored.size());
    BOOST_TEST_REQUIRE(slow_events.size() <= stored.size());
    BOOST_TEST((slow_events == std::vector<json::object>(stored.begin(), stored.begin() + slow_events.size())),
               "the stalled subscriber's events are not a prefix of the stored ones");
    BOOST_TEST((slow.close_code() == 0 && !slow.end_error().empty()),
               "close code " << slow.close_code() << " '" << slow.close_reason() << "'");
}

BOOST_AUTO_TEST_CASE(oversized_client_message_closes_with_1009)
{
    temp_dir dir;
    service_process service{with_config(dir, "websocket:\n  max_message: 256\n")};
    const auto port = service.port();

    // Within the limit nothing happens: a later event still arrives.
    ws_client small{port, "/api/v1/events?types=execution.status"};
    BOOST_TEST(small.write(std::string(200, 'x')).empty());

    ws_client big{port, "/api/v1/events"};
    BOOST_TEST(big.write(std::string(1000, 'x')).empty());
    const auto message = big.read(5s);
    BOOST_TEST(!message.has_value(), "got a message instead of the close: " << message.value_or(""));
    BOOST_TEST(big.close_code() == 1009, "close code " << big.close_code() << " " << big.end_error());

    settle();
    const std::string id = start_execution(port, "succeed", R"({"limit": "host1"})");
    const auto first = small.read(10s);
    BOOST_TEST_REQUIRE(first.has_value(), "the subscriber within the limit was closed: " << small.close_code());
    BOOST_TEST(text(parse_json(*first).as_object(), "execution_id") == id);
    wait_for_execution(port, id, final_statuses);
}

BOOST_AUTO_TEST_CASE(subscribers_past_max_subscribers_get_503_and_the_others_keep_receiving)
{
    temp_dir dir;
    service_process service{with_config(dir, "events: {max_subscribers: 2}\n")};
    const auto port = service.port();
    std::optional<ws_client> first{std::in_place, port, "/api/v1/events"};
    ws_client second{port, "/api/v1/events"};

    const auto refused = http_request(port, http::verb::get, "/api/v1/events", {}, upgrade_headers);
    BOOST_TEST(refused.result_int() == 503, refused.body());
    BOOST_TEST(error_field_of(refused) == "TOO_MANY_SUBSCRIBERS");
    BOOST_TEST(std::string{refused[http::field::retry_after]} == "5");
    BOOST_CHECK_THROW((ws_client{port, "/api/v1/events"}), std::runtime_error);

    settle();
    const std::string id = start_execution(port, "succeed");
    BOOST_TEST(!of_execution(read_until_done(*first, {id}), id).empty());
    BOOST_TEST(!of_execution(read_until_done(second, {id}), id).empty());

    // A subscriber that leaves frees its place (once the server has seen it go).
    first.reset();
    unsigned status = 0;
    for (const auto deadline = steady::now() + 5s; steady::now() < deadline && status != 101;) {
        status = http_request(port, http::verb::get, "/api/v1/events", {}, upgrade_headers).result_int();
        if (status != 101) std::this_thread::sleep_for(50ms);
    }
    BOOST_TEST(status == 101u);
}

BOOST_AUTO_TEST_CASE(replay_pages_through_a_small_byte_cap_without_losing_events)
{
    temp_dir dir;
    service_process service{with_config(dir, "events: {page_bytes: 1024}\n")};
    const auto port = service.port();
    const std::string id = start_execution(port, "succeed");
    wait_for_execution(port, id, final_statuses);
    const auto stored = execution_events(port, id);
    BOOST_TEST_REQUIRE(stored.size() > 6u);

    ws_client replay{port, "/api/v1/events?since=0&execution_id=" + id};
    const auto replayed = read_until_done(replay, {id});
    BOOST_TEST(replayed == stored, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()
