// Reading JSON as events: what a reader sees (places, values, skipped containers), and that the
// grammar is as strict as boost::json::parse.
#include "raydeploy/util/json_events.hpp"
#include "raydeploy/util/json_input.hpp"
#include "raydeploy/api/request_bodies.hpp"
#include "raydeploy/engine/ansible_runner.hpp"

#include <boost/json/error.hpp>
#include <boost/test/unit_test.hpp>

#include <limits>
#include <string>
#include <vector>

using namespace raydeploy::util;

namespace {

// Records every call as a line; objects get role 1, arrays role 2, and a container whose key is
// "skip" is skipped.
class recorder final : public json_event_reader {
public:
    std::vector<std::string> lines;

    int container(const json_place& place, bool is_object) override
    {
        if (place.key == "skip") {
            lines.push_back(where(place) + " skip");
            return skip;
        }
        lines.push_back(where(place) + (is_object ? " {" : " ["));
        return is_object ? 1 : 2;
    }

    void value(const json_place& place, const json_scalar& scalar) override
    {
        std::string shown;
        if (scalar.is_string()) shown = "'" + std::string(scalar.text) + "'";
        else if (scalar.is_null()) shown = "null";
        else if (scalar.is_bool()) shown = scalar.boolean ? "true" : "false";
        else if (const auto integer = scalar.integer()) shown = std::to_string(*integer);
        else if (const auto number = scalar.number()) shown = std::to_string(*number);
        else shown = "non-finite";
        lines.push_back(where(place) + " = " + shown);
    }

    void end(int role, std::size_t size) override
    {
        lines.push_back("end " + std::to_string(role) + " of " + std::to_string(size));
    }

private:
    static std::string where(const json_place& place)
    {
        return std::to_string(place.parent_role) + ":" + std::string(place.key) + "#" + std::to_string(place.index);
    }
};

std::vector<std::string> read(std::string_view body)
{
    recorder reader;
    const auto ec = read_json_events(body, reader);
    BOOST_TEST_REQUIRE(!ec, body << ": " << ec.message());
    return reader.lines;
}

json_scalar string_scalar(std::string_view text)
{
    json_scalar scalar;
    scalar.type = json_scalar::kind::string;
    scalar.text = text;
    return scalar;
}

json_scalar double_scalar(double number)
{
    json_scalar scalar;
    scalar.type = json_scalar::kind::floating;
    scalar.floating = number;
    return scalar;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(json_events)

BOOST_AUTO_TEST_CASE(containers_and_values_arrive_with_their_place)
{
    const std::vector<std::string> expected{
        "-1:#0 {",          "1:a#0 = 1",   "1:b#1 [",   "2:#0 = 'x'", "2:#1 = null", "2:#2 {", "1:c#0 = true",
        "end 1 of 1",       "end 2 of 3",  "1:d#2 = 2", "end 1 of 3",
    };
    const auto lines = read(R"({"a": 1, "b": ["x", null, {"c": true}], "d": 2})");
    BOOST_TEST(lines == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_skipped_container_is_silent_and_still_counts_as_a_member)
{
    const std::vector<std::string> expected{"-1:#0 {", "1:skip#0 skip", "1:after#1 = 'y'", "end 1 of 2"};
    const auto lines = read(R"({"skip": {"deep": [1, {"skip": 2}, "z"], "k": {}}, "after": "y"})");
    BOOST_TEST(lines == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(escaped_keys_and_strings_arrive_unescaped)
{
    const std::vector<std::string> expected{"-1:#0 {", "1:k\"ey#0 = 'line\nnext \xc3\xa9'", "end 1 of 1"};
    const auto lines = read(R"({"k\"ey": "line\nnext \u00e9"})");
    BOOST_TEST(lines == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_root_that_is_not_a_container_is_a_value_of_the_document)
{
    const std::vector<std::string> expected{"-1:#0 = 'text'"};
    BOOST_TEST(read(R"("text")") == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(the_grammar_is_as_strict_as_boost_json_parse)
{
    for (const std::string_view bad : {"", "{", "{\"a\": 1,}", "[1] [2]", "{} x", "// c\n{}", "{'a': 1}", "nan",
                                       "[1, 2", "<html>Bad Gateway</html>"}) {
        recorder reader;
        BOOST_TEST(read_json_events(bad, reader).failed(), "accepted: " << bad);
    }
    recorder reader;
    BOOST_TEST(read_json_events(" {\"a\": [1]} \n", reader) == boost::system::error_code(),
               "whitespace around the document is fine");
}

BOOST_AUTO_TEST_CASE(nesting_beyond_the_depth_limit_is_refused)
{
    const std::string deep = std::string(65, '[') + std::string(65, ']');
    recorder reader;
    BOOST_TEST(read_json_events(deep, reader, 64).failed());
    recorder shallower;
    BOOST_TEST(!read_json_events(deep, shallower, 100).failed());
}

BOOST_AUTO_TEST_CASE(numbers_read_as_ray_writes_them)
{
    BOOST_TEST(*double_scalar(3.0).integer() == 3);
    BOOST_TEST(!double_scalar(3.5).integer());
    BOOST_TEST(!double_scalar(9.3e18).integer(), "beyond int64");
    BOOST_TEST(*double_scalar(3.5).number() == 3.5);
    BOOST_TEST(!double_scalar(std::numeric_limits<double>::infinity()).number());
    BOOST_TEST(*string_scalar("1744271000000").integer() == 1744271000000);  // protobuf's uint64 as a string
    BOOST_TEST(!string_scalar("12a").integer());
    BOOST_TEST(!string_scalar("").integer());
    BOOST_TEST(!string_scalar("1234567890123456789").integer(), "over 18 digits");
    BOOST_TEST(!string_scalar("1").number(), "a string is never a number");

    json_scalar huge;
    huge.type = json_scalar::kind::uint64;
    huge.uint64 = 18446744073709551615u;
    BOOST_TEST(!huge.integer());
    BOOST_TEST(*huge.number() == 18446744073709551615.0);
}

// Boost.JSON 1.81 reads 1e400 as infinity and writes it back as `Infinity`, which is not JSON
// (found by fuzz_plugin_events: the stored event of such a line could not be read back). Every
// reader of outside JSON refuses such a number instead.
BOOST_AUTO_TEST_CASE(numbers_too_large_for_a_double_are_refused_wherever_outside_json_is_read)
{
    boost::system::error_code ec;
    for (const char* text : {R"({"a":1e400})", R"([1,[2,{"b":-1e999}]])", "8e888",
                             R"({"n":1000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000})"}) {
        (void)parse_outside_json(text, ec);
        BOOST_TEST((ec == boost::json::error::exponent_overflow), text);
    }
    const auto fine = parse_outside_json(R"({"a":1.7976931348623157e308,"b":[1,-2,0.5]})", ec);
    BOOST_TEST(!ec);
    BOOST_TEST(!has_non_finite_number(fine));

    // The request bodies: 400 INVALID_JSON saying what to send instead.
    try {
        (void)raydeploy::api::parse_json_body(R"({"extra_vars":{"size":1e400}})");
        BOOST_FAIL("a body with 1e400 was read");
    } catch (const raydeploy::api::api_error& e) {
        BOOST_TEST(e.code() == "INVALID_JSON");
        BOOST_TEST(std::string{e.what()}.find("too large") != std::string::npos, e.what());
    }

    // The callback plugin's lines: refused like a malformed line.
    raydeploy::plugin_line_parser lines;
    std::string error;
    BOOST_TEST(lines.parse(R"({"event":8e888})", error) == nullptr);
    BOOST_TEST(!error.empty());

    // The streaming reader of Ray's large answers.
    struct every_value : json_event_reader {
        int container(const json_place&, bool) override { return 1; }
        void value(const json_place&, const json_scalar&) override {}
    } reader;
    BOOST_TEST((read_json_events(R"([{"cpu":1e400}])", reader) == boost::json::error::exponent_overflow));
    BOOST_TEST(!read_json_events(R"([{"cpu":4.5}])", reader));
}

BOOST_AUTO_TEST_SUITE_END()
