// Duration grammar shared by config and catalog files.
#include "raydeploy/util/duration.hpp"
#include "raydeploy/util/time.hpp"

#include <boost/test/unit_test.hpp>

using namespace std::chrono_literals;
using raydeploy::format_duration;
using raydeploy::parse_duration;
using raydeploy::normalize_rfc3339;
using raydeploy::timestamp_rounding;

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

// Each part alone is well-formed: the sum of 200 of them once overflowed long long (UBSan's
// signed-integer-overflow in scripts/test-sanitized.sh), and a long bare number became negative.
BOOST_AUTO_TEST_CASE(rejects_durations_longer_than_the_maximum)
{
    BOOST_TEST(parse_duration("36500d").value() == 36500 * 24h);
    BOOST_TEST(parse_duration("3153600000").value() == 36500 * 24h);
    std::string many_parts;
    for (int i = 0; i < 200; ++i) many_parts += "999999999d";
    for (const std::string& bad : {std::string{"36500d1ms"}, std::string{"3153600000.001"}, std::string{"999999999d"},
                                   std::string{"99999999999999999999"}, many_parts})
        BOOST_TEST_CONTEXT(bad.substr(0, 30)) { BOOST_TEST(!parse_duration(bad).has_value()); }
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

// The time bounds of the lists: any RFC 3339 date-time, as the store's UTC milliseconds.
BOOST_AUTO_TEST_CASE(rfc3339_times_become_utc_milliseconds)
{
    const auto down = [](std::string_view text) { return normalize_rfc3339(text, timestamp_rounding::down).value_or("<refused>"); };
    const auto up = [](std::string_view text) { return normalize_rfc3339(text, timestamp_rounding::up).value_or("<refused>"); };
    BOOST_TEST(down("2026-03-01T12:00:00.123Z") == "2026-03-01T12:00:00.123Z");
    BOOST_TEST(down("2026-03-01t12:00:00z") == "2026-03-01T12:00:00.000Z");
    BOOST_TEST(down("2026-03-01T12:00:00.5Z") == "2026-03-01T12:00:00.500Z");
    BOOST_TEST(down("2026-03-01T01:30:00+02:00") == "2026-02-28T23:30:00.000Z");
    BOOST_TEST(down("2024-12-31T23:30:00-01:00") == "2025-01-01T00:30:00.000Z");
    BOOST_TEST(down("2024-02-29T00:00:00Z") == "2024-02-29T00:00:00.000Z");
    BOOST_TEST(down("2026-03-01T12:00:60Z") == "2026-03-01T12:01:00.000Z");
    // Finer than milliseconds: a lower bound rounds down, an upper bound up.
    BOOST_TEST(down("2026-03-01T12:00:00.1234Z") == "2026-03-01T12:00:00.123Z");
    BOOST_TEST(up("2026-03-01T12:00:00.1234Z") == "2026-03-01T12:00:00.124Z");
    BOOST_TEST(up("2026-03-01T12:00:00.123000Z") == "2026-03-01T12:00:00.123Z");
    BOOST_TEST(up("2026-03-01T23:59:59.9999Z") == "2026-03-02T00:00:00.000Z");
    // Offsets beyond the years 0000 to 9999 stay within them, so the text still compares.
    BOOST_TEST(down("0001-01-01T00:00:00+23:59") == "0000-12-31T00:01:00.000Z");
    BOOST_TEST(down("9999-12-31T23:00:00-23:00") == "9999-12-31T23:59:59.999Z");
    for (const char* bad : {"", "2026-03-01", "2026-03-01T12:00:00", "2026-03-01 12:00:00Z", "2026-13-01T00:00:00Z",
                            "2026-02-29T00:00:00Z", "2026-03-01T24:00:00Z", "2026-03-01T12:00:00.Z",
                            "2026-03-01T12:00:00+0100", "2026-03-01T12:00:00+24:00", "2026-03-01T12:00:00Zjunk",
                            "26-03-01T12:00:00Z", "2026-3-01T12:00:00Z", "yesterday"})
        BOOST_TEST_CONTEXT(bad) { BOOST_TEST(!normalize_rfc3339(bad, timestamp_rounding::down).has_value()); }
}

BOOST_AUTO_TEST_SUITE_END()
