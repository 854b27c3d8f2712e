// Suite event_feed: the WebSocket feed on /api/v1/events — live delivery, filters, replay with
// since=<seq> (also while events are being written), slow subscribers and message limits.
#include "support/test_support.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <functional>
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

// Lets a freshly upgraded subscriber's subscription take effect on the server before the test
// produces the events it expects live (the client sees the 101 answer before the server's
// coroutine subscribes).
void settle() { std::this_thread::sleep_for(200ms); }

// Reads messages until an execution.done arrived for every id in `executions`; every message is
// parsed and kept in arrival order. Throws when the whole read takes longer than `timeout`.
std::vector<json::object> read_until_done(ws_client& client, std::set<std::string> executions,
                                          std::chrono::milliseconds timeout = 30s,
                                          const std::function<void(const json::object&)>& on_message = {},
                                          std::source_location where = std::source_location::current())
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

BOOST_AUTO_TEST_CASE(slow_subscriber_is_closed_without_delaying_others)
{
    // Two `succeed` runs (about 55 KB of events) are not enough to make a subscriber slow: on
    // loopback the service's socket send buffer is autotuned to about 4 MB at once, and the
    // kernel takes everything. So the first run is a fixture of this test that writes about
    // 5 MB of events (60 items of a 90 KB debug message); the second is `succeed`.
    temp_dir dir;
    dir.write_file("chatty.yml", R"(---
- name: Produce large events
  hosts: host1
  gather_facts: false
  tasks:
    - name: Say a lot
      ansible.builtin.debug:
        msg: "{{ 'x' * 90000 }}"
      loop: "{{ range(60) | list }}"
)");
    // Events keep 16 KiB of each text by default: this test needs them whole.
    dir.write_file("ansible.cfg", "[callback_raydeploy_events]\noutput_limit = 1048576\n");
    const fs::path catalog = dir.write_file("catalog.yaml", "checkpoints:\n"
                                                            "  - name: chatty\n"
                                                            "    playbook: chatty.yml\n"
                                                            "    description: Writes about 5 MB of events.\n"
                                                            "    timeout: 2m\n"
                                                            "  - name: succeed\n"
                                                            "    playbook: " +
                                                                (source_dir() / "tests/fixtures/ansible/succeed.yml").string() +
                                                                "\n"
                                                                "    description: The succeed fixture.\n"
                                                                "    timeout: 2m\n");
    auto options = with_config(dir, "events:\n  queue_size: 16\n");
    options.catalog = catalog;
    service_process service{options};
    const auto port = service.port();

    // A never reads (and announces a tiny window); B reads everything as it comes.
    ws_client slow{port, "/api/v1/events", 1024};
    ws_client fast{port, "/api/v1/events"};
    settle();

    struct arrival {
        json::object event;
        steady::time_point at;
    };
    std::vector<arrival> fast_received;
    std::string fast_error;
    std::set<std::string> fast_done;
    std::thread reader{[&] {
        try {
            const auto deadline = steady::now() + 60s;
            while (fast_done.size() < 2 && steady::now() < deadline) {
                const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
                const auto message = fast.read(left);
                if (!message) {
                    fast_error = "the fast subscriber's feed ended: close code " + std::to_string(fast.close_code()) +
                                 " '" + fast.close_reason() + "' " + fast.end_error();
                    return;
                }
                fast_received.push_back({parse_json(*message).as_object(), steady::now()});
                if (is_done(fast_received.back().event)) fast_done.insert(text(fast_received.back().event, "execution_id"));
            }
        } catch (const std::exception& e) {
            fast_error = e.what();
        }
    }};

    std::vector<std::string> runs;
    steady::time_point second_seen_done{};
    try {
        for (const auto* checkpoint : {"chatty", "succeed"}) {
            runs.push_back(start_execution(port, checkpoint));
            wait_for_execution(port, runs.back(), final_statuses);
            second_seen_done = steady::now();
        }
    } catch (...) {
        reader.join();
        throw;
    }
    reader.join();
    BOOST_TEST_REQUIRE(fast_error.empty(), fast_error);

    // B got every event of both runs, in order, and the end of run 2 as soon as REST showed it,
    // although A had not read anything.
    std::vector<json::object> fast_events;
    for (const auto& item : fast_received) fast_events.push_back(item.event);
    check_feed_order(fast_events, true);
    std::vector<json::object> stored = execution_events(port, runs[0]);
    const auto stored_second = execution_events(port, runs[1]);
    stored.insert(stored.end(), stored_second.begin(), stored_second.end());
    BOOST_TEST(fast_events == stored, boost::test_tools::per_element());
    BOOST_TEST_REQUIRE(!fast_received.empty());
    const auto lag = std::chrono::duration_cast<std::chrono::milliseconds>(fast_received.back().at - second_seen_done);
    BOOST_TEST(lag.count() < 1500, "B saw run 2's execution.done " << lag.count() << " ms after REST did");

    // A: what it can still read is a prefix of the events, then the close (1013, with where to
    // resume), or a dropped connection once its overflow deadline (10 s) passed.
    std::vector<json::object> slow_events;
    const auto slow_deadline = steady::now() + 15s;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(slow_deadline - steady::now());
        BOOST_TEST_REQUIRE(left.count() > 0, "the slow subscriber was neither closed nor dropped; it read "
                                                 << slow_events.size() << " of " << stored.size() << " events");
        std::optional<std::string> message;
        try {
            message = slow.read(left);
        } catch (const std::runtime_error& e) {
            BOOST_FAIL("the slow subscriber was neither closed nor dropped within 15 s; it read "
                       << slow_events.size() << " of " << stored.size() << " events: " << e.what());
        }
        if (!message) break;
        slow_events.push_back(parse_json(*message).as_object());
    }
    BOOST_TEST_MESSAGE("slow subscriber: " << slow_events.size() << " of " << stored.size()
                                           << " events, then close code " << slow.close_code() << " '"
                                           << slow.close_reason() << "' " << slow.end_error());
    BOOST_TEST(slow_events.size() < stored.size());
    BOOST_TEST_REQUIRE(slow_events.size() <= stored.size());
    BOOST_TEST((slow_events == std::vector<json::object>(stored.begin(), stored.begin() + slow_events.size())),
               "the slow subscriber's events are not a prefix of the stored ones");
    const bool closed_1013 = slow.close_code() == 1013;
    const bool dropped = slow.close_code() == 0 && !slow.end_error().empty();
    BOOST_TEST((closed_1013 || dropped), "close code " << slow.close_code() << " '" << slow.close_reason() << "'");
    if (closed_1013) {
        const std::string reason = slow.close_reason();
        const auto at = reason.find("since=");
        BOOST_TEST_REQUIRE(at != std::string::npos, reason);
        // The resume point is the last event it got: resuming there loses nothing.
        const std::int64_t resume = std::stoll(reason.substr(at + 6));
        const std::int64_t last_read = slow_events.empty() ? 0 : integer(slow_events.back(), "seq");
        BOOST_TEST(resume == last_read);
        ws_client again{port, "/api/v1/events?since=" + std::to_string(resume)};
        const auto rest = read_count(again, stored.size() - slow_events.size(), 30s);
        BOOST_TEST((rest == std::vector<json::object>(stored.begin() + slow_events.size(), stored.end())));
    }
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
