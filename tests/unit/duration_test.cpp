// Duration grammar shared by config and catalog files.
#include "raydeploy/util/duration.hpp"

#include <boost/test/unit_test.hpp>

using namespace std::chrono_literals;
using raydeploy::format_duration;
using raydeploy::parse_duration;

BOOST_AUTO_TEST_SUITE(duration)

BOOST_AUTO_TEST_CASE(accepts_numbers_as_seconds_and_unit_strings)
{
    BOOST_TEST(parse_duration("600").value() == 600s);
    BOOST_TEST(parse_duration("1.5").value() == 1500ms);
    BOOST_TEST(parse_duration("90s").value() == 90s);
    BOOST_TEST(parse_duration("30m").value() == 30min);
    BOOST_TEST(parse_duration("1h30m").value() == 90min);
    BOOST_TEST(parse_duration("250ms").value() == 250ms);
    BOOST_TEST(parse_duration("2d").value() == 48h);
}

BOOST_AUTO_TEST_CASE(rejects_malformed_text)
{
    for (const char* bad : {"", "m", "10x", "-5", "5 m", "1h-3m", "ten", "1.5h", "s10", "10m5", "99999999999s"})
        BOOST_TEST_CONTEXT(bad) { BOOST_TEST(!parse_duration(bad).has_value()); }
}

BOOST_AUTO_TEST_CASE(formats_round_trip)
{
    BOOST_TEST(format_duration(90min) == "1h30m");
    BOOST_TEST(format_duration(45s) == "45s");
    BOOST_TEST(format_duration(1250ms) == "1s250ms");
    BOOST_TEST(format_duration(0ms) == "0s");
    for (const char* text : {"1h30m", "45s", "10m", "2h", "1s250ms"})
        BOOST_TEST(format_duration(parse_duration(text).value()) == text);
}

BOOST_AUTO_TEST_SUITE_END()
