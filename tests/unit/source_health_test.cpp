// The health of a polled source: events only on transitions, and the backoff's bounds.
#include "raydeploy/watch/source_health.hpp"

#include <boost/test/unit_test.hpp>

using namespace raydeploy::watch;
using namespace std::chrono_literals;

namespace {

const auto t0 = std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));

std::vector<std::string> types(const std::vector<health_event>& events)
{
    std::vector<std::string> names;
    for (const auto& event : events) names.push_back(event.type);
    return names;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(source_health_suite)

BOOST_AUTO_TEST_CASE(a_source_never_polled_is_unknown)
{
    const source_health health("cluster");
    BOOST_TEST((health.state() == source_state::unknown));
    BOOST_TEST(health.to_json().at("state").as_string() == "UNKNOWN");
    BOOST_TEST(health.to_json().at("last_success_at").is_null());
    BOOST_TEST(health.to_json().at("last_error").is_null());
    BOOST_TEST(health.next_delay(10s, 0.9) == 10s);
}

BOOST_AUTO_TEST_CASE(events_come_on_transitions_only)
{
    source_health health("cluster");
    BOOST_TEST(types(health.record(poll_outcome::ok, t0)) == std::vector<std::string>{"cluster.connected"},
               boost::test_tools::per_element());
    BOOST_TEST(health.record(poll_outcome::ok, t0 + 10s).empty());

    const auto unreachable = health.record(poll_outcome::none, t0 + 20s, "connection refused");
    BOOST_TEST(types(unreachable) == std::vector<std::string>{"cluster.unreachable"}, boost::test_tools::per_element());
    BOOST_TEST(unreachable.at(0).data.at("state").as_string() == "UNREACHABLE");
    BOOST_TEST(unreachable.at(0).data.at("last_error").as_string() == "connection refused");
    BOOST_TEST(unreachable.at(0).data.at("consecutive_failures").as_int64() == 1);
    BOOST_TEST(unreachable.at(0).data.at("last_success_at").as_string() == "2027-01-15T08:00:10.000Z");
    BOOST_TEST(health.record(poll_outcome::none, t0 + 40s, "timed out").empty());
    BOOST_TEST(health.consecutive_failures() == 2);
    BOOST_TEST(health.last_error().value() == "timed out");

    const auto degraded = health.record(poll_outcome::partial, t0 + 80s, "GET /api/serve/applications/ answered HTTP 500");
    BOOST_TEST(types(degraded) == std::vector<std::string>{"cluster.degraded"}, boost::test_tools::per_element());
    BOOST_TEST(degraded.at(0).data.at("consecutive_failures").as_int64() == 3);
    BOOST_TEST(health.record(poll_outcome::partial, t0 + 160s, "other").empty());
    BOOST_TEST((health.last_success_at().value() == t0 + 160s));

    const auto back = health.record(poll_outcome::ok, t0 + 200s);
    BOOST_TEST(types(back) == std::vector<std::string>{"cluster.connected"}, boost::test_tools::per_element());
    BOOST_TEST(back.at(0).data.at("last_error").is_null());
    BOOST_TEST(back.at(0).data.at("consecutive_failures").as_int64() == 0);
}

BOOST_AUTO_TEST_CASE(a_source_down_from_the_start_is_unreachable_then_connected)
{
    source_health health("cml");
    BOOST_TEST(types(health.record(poll_outcome::none, t0)) == std::vector<std::string>{"cml.unreachable"},
               boost::test_tools::per_element());
    BOOST_TEST(!health.last_success_at().has_value());
    BOOST_TEST(health.last_error().value() == "no answer");
    BOOST_TEST(types(health.record(poll_outcome::ok, t0 + 1s)) == std::vector<std::string>{"cml.connected"},
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(backoff_doubles_with_jitter_and_stops_at_a_minute)
{
    source_health health("cluster");
    health.record(poll_outcome::ok, t0);
    BOOST_TEST(health.next_delay(10s, 0.99) == 10s);

    health.record(poll_outcome::none, t0, "down");  // 1 failure: 20 s with jitter in [10, 20)
    BOOST_TEST(health.next_delay(10s, 0.0) == 10s);
    BOOST_TEST(health.next_delay(10s, 0.5) == 15s);
    BOOST_TEST(health.next_delay(10s, 0.999999) <= 20s);
    health.record(poll_outcome::none, t0, "down");  // 2: 40 s, [20, 40)
    BOOST_TEST(health.next_delay(10s, 0.0) == 20s);
    BOOST_TEST(health.next_delay(10s, 0.999999) < 40s);
    for (int i = 0; i < 100; ++i) health.record(poll_outcome::none, t0, "down");
    for (const double draw : {0.0, 0.25, 0.5, 0.999999, 1.0, -3.0, 42.0}) {
        BOOST_TEST_CONTEXT(draw)
        {
            BOOST_TEST(health.next_delay(10s, draw) >= 30s);
            BOOST_TEST(health.next_delay(10s, draw) <= max_backoff);
        }
    }
    // An interval above the cap is never shortened by backing off.
    BOOST_TEST(health.next_delay(120s, 0.0) == 120s);
    BOOST_TEST(health.next_delay(120s, 0.999) <= 120s);
    // Partial answers back off too.
    source_health partial("cluster");
    partial.record(poll_outcome::partial, t0, "serve 500");
    BOOST_TEST(partial.next_delay(10s, 0.999999) > 10s);
}

BOOST_AUTO_TEST_SUITE_END()
