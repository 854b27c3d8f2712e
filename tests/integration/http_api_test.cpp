// Suite http_api: the REST routes of a running service, seen by a client over loopback.
#include "support/test_support.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <thread>

using namespace raydeploy::test;
namespace json = boost::json;

namespace {

// The six checkpoints of playbooks/checkpoints.yaml, in catalog order, with their approval flags.
struct expected_checkpoint {
    std::string name;
    bool approval_required;
    bool destructive;
};
const std::vector<expected_checkpoint> repository_checkpoints = {
    {"prerequisites-check", false, false}, {"docker-installation", true, false},
    {"cleanup-existing", true, true},      {"ray-deployment", false, false},
    {"monitoring-deployment", false, false}, {"final-validation", false, false},
};

std::string header(const response& res, http::field field) { return std::string{res[field]}; }

bool is_integer(const json::value& value) { return value.is_int64() || value.is_uint64(); }

// `raydeploy --version` prints "raydeploy X.Y.Z".
std::string cli_version()
{
    const auto result = run_cli({"--version"});
    BOOST_TEST_REQUIRE(result.exit_code == 0);
    std::string out = result.out;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    BOOST_TEST_REQUIRE(out.starts_with("raydeploy "));
    return out.substr(std::string_view{"raydeploy "}.size());
}

}  // namespace

BOOST_AUTO_TEST_SUITE(http_api)

BOOST_AUTO_TEST_CASE(health_reports_status_version_and_whole_second_uptime)
{
    service_process service;
    const auto first = http_get(service.port(), "/health");
    BOOST_TEST(first.result_int() == 200);
    BOOST_TEST(header(first, http::field::content_type) == "application/json");
    const json::value body = parse_json(first.body());
    BOOST_TEST_REQUIRE(body.is_object());
    BOOST_TEST(text(body.at("status")) == "ok");
    BOOST_TEST(text(body.at("version")) == cli_version());
    BOOST_TEST_REQUIRE(is_integer(body.at("uptime_s")));
    BOOST_TEST(body.at("uptime_s").to_number<std::int64_t>() >= 0);

    // The uptime counts from the start of the service, in seconds.
    std::this_thread::sleep_for(1100ms);
    const json::value later = parse_json(http_get(service.port(), "/health").body());
    BOOST_TEST_REQUIRE(is_integer(later.at("uptime_s")));
    BOOST_TEST(later.at("uptime_s").to_number<std::int64_t>() >= 1);
}

BOOST_AUTO_TEST_CASE(the_nodes_view_without_a_snapshot_is_empty_and_says_why)
{
    // Services started by tests do not watch Ray unless the test names a dashboard.
    service_process service;
    const auto res = http_get(service.port(), "/api/v1/resources/nodes");
    BOOST_TEST_REQUIRE(res.result_int() == 200, res.body());
    BOOST_TEST(header(res, http::field::content_type) == "application/json");
    const json::object body = json_object_of(res);
    BOOST_TEST(body.at("nodes").as_array().empty(), res.body());
    BOOST_TEST(integer(body, "total_nodes") == 0);
    BOOST_TEST(integer(body, "alive_nodes") == 0);
    BOOST_TEST(body.at("observed_at").is_null());
    BOOST_TEST(text(object_at(body, "source"), "state") == "DISABLED");
}

BOOST_AUTO_TEST_CASE(checkpoint_list_is_the_catalog_in_order)
{
    service_process service;
    const auto res = http_get(service.port(), "/api/v1/checkpoints");
    BOOST_TEST(res.result_int() == 200);
    BOOST_TEST(header(res, http::field::content_type) == "application/json");
    const json::value body = parse_json(res.body());
    BOOST_TEST_REQUIRE(body.is_object());
    const json::array& list = body.at("checkpoints").as_array();
    BOOST_TEST_REQUIRE(list.size() == repository_checkpoints.size());

    for (std::size_t i = 0; i < list.size(); ++i) {
        const auto& expected = repository_checkpoints[i];
        BOOST_TEST_CONTEXT("checkpoint #" << i + 1 << " (" << expected.name << ")")
        {
            const json::object& item = list[i].as_object();
            BOOST_TEST(text(item.at("name")) == expected.name);
            BOOST_TEST_REQUIRE(is_integer(item.at("order")));
            BOOST_TEST(item.at("order").to_number<std::int64_t>() == static_cast<std::int64_t>(i + 1));
            BOOST_TEST(!text(item.at("description")).empty());
            BOOST_TEST(item.at("approval_required") == json::value(expected.approval_required));
            BOOST_TEST(item.at("destructive") == json::value(expected.destructive));
            BOOST_TEST_REQUIRE(item.at("impact_summary").is_array());
            const json::array& impact = item.at("impact_summary").as_array();
            BOOST_TEST(!impact.empty());
            for (const auto& line : impact) {
                BOOST_TEST(line.is_string());
                // The catalog marks each destructive effect; a destructive step must say which.
                if (expected.destructive) BOOST_TEST(text(line).starts_with("DESTRUCTIVE: "));
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(single_checkpoint_matches_its_list_entry)
{
    service_process service;
    const auto res = http_get(service.port(), "/api/v1/checkpoints/cleanup-existing");
    BOOST_TEST(res.result_int() == 200);
    BOOST_TEST(header(res, http::field::content_type) == "application/json");
    const json::value item = parse_json(res.body());
    BOOST_TEST_REQUIRE(item.is_object());
    BOOST_TEST(text(item.at("name")) == "cleanup-existing");
    BOOST_TEST(item.at("order") == json::value(3));
    BOOST_TEST(item.at("approval_required") == json::value(true));
    BOOST_TEST(item.at("destructive") == json::value(true));

    const json::value list = parse_json(http_get(service.port(), "/api/v1/checkpoints").body());
    BOOST_TEST(item == list.at("checkpoints").as_array().at(2));
}

BOOST_AUTO_TEST_CASE(unknown_checkpoint_is_404_checkpoint_not_found)
{
    service_process service;
    const auto res = http_get(service.port(), "/api/v1/checkpoints/no-such-step");
    BOOST_TEST(res.result_int() == 404);
    BOOST_TEST(header(res, http::field::content_type) == "application/json");
    BOOST_TEST(error_code_of(res) == "CHECKPOINT_NOT_FOUND");
    BOOST_TEST(res.body().find("no-such-step") != std::string::npos);  // the message names what was asked for
}

BOOST_AUTO_TEST_CASE(error_bodies_quote_bytes_that_are_not_utf8_percent_encoded)
{
    service_process service;
    struct case_t {
        std::string target;
        unsigned status;
        std::string code;
        std::string quoted;  // how the message quotes what was sent
    };
    const case_t cases[] = {
        {"/api/v1/executions/%FF", 404, "EXECUTION_NOT_FOUND", "'%FF'"},
        {"/api/v1/checkpoints/a%C3%28b", 404, "CHECKPOINT_NOT_FOUND", "'a%C3(b'"},
        {"/api/v1/deployments/%ED%A0%80", 404, "DEPLOYMENT_NOT_FOUND", "'%ED%A0%80'"},  // a surrogate
        {"/api/v1/executions/%C3%A9t%C3%A9", 404, "EXECUTION_NOT_FOUND", "'\xC3\xA9t\xC3\xA9'"},  // UTF-8 stays
        {"/api/v1/executions?cursor=%FE%FF", 400, "INVALID_PARAMETER", "'%FE%FF'"},
        {"/api/v1/deployments?limit=%80", 400, "INVALID_PARAMETER", "'%80'"},
        {"/nowhere/%FF", 404, "NOT_FOUND", "/nowhere/%FF"},
    };
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT("GET " << c.target)
        {
            const auto res = http_get(service.port(), c.target);
            BOOST_TEST(res.result_int() == c.status, res.body());
            // Boost.JSON refuses a document that is not UTF-8, as every JSON parser must.
            const json::object body = json_object_of(res);
            BOOST_TEST(text(body, "error") == c.code);
            BOOST_TEST(text(body, "message").find(c.quoted) != std::string::npos, res.body());
        }
    }
}

BOOST_AUTO_TEST_CASE(unknown_path_is_404_not_found)
{
    service_process service;
    for (const std::string_view target : {"/api/v2/checkpoints", "/index.html", "/healthz", "/api/v1/checkpoints/a/b"}) {
        BOOST_TEST_CONTEXT("GET " << target)
        {
            const auto res = http_get(service.port(), target);
            BOOST_TEST(res.result_int() == 404);
            BOOST_TEST(header(res, http::field::content_type) == "application/json");
            BOOST_TEST(error_code_of(res) == "NOT_FOUND");
        }
    }
}

BOOST_AUTO_TEST_CASE(wrong_method_is_405_with_allow)
{
    service_process service;
    struct case_t {
        http::verb verb;
        std::string target;
        std::string allow;  // exact Allow header; empty: only "lists GET, not the verb used"
    };
    // The checkpoint resource may gain methods (running a checkpoint), so only its GET is pinned.
    // HEAD is answered wherever GET is, OPTIONS everywhere.
    for (const auto& tc : {case_t{http::verb::post, "/health", "GET, HEAD, OPTIONS"},
                           case_t{http::verb::delete_, "/api/v1/checkpoints", "GET, HEAD, OPTIONS"},
                           case_t{http::verb::put, "/api/v1/checkpoints/cleanup-existing", ""},
                           case_t{http::verb::post, "/openapi.yaml", "GET, HEAD, OPTIONS"}}) {
        BOOST_TEST_CONTEXT(tc.verb << " " << tc.target)
        {
            const auto res = http_request(service.port(), tc.verb, tc.target, "{}",
                                          {{"Content-Type", "application/json"}});
            BOOST_TEST(res.result_int() == 405);
            const std::string allow = header(res, http::field::allow);
            if (!tc.allow.empty()) {
                BOOST_TEST(allow == tc.allow);
            } else {
                BOOST_TEST(allow.find("GET") != std::string::npos, allow);
                BOOST_TEST(allow.find(std::string{http::to_string(tc.verb)}) == std::string::npos, allow);
            }
            BOOST_TEST(header(res, http::field::content_type) == "application/json");
            BOOST_TEST(error_code_of(res) == "METHOD_NOT_ALLOWED");
        }
    }
}

// RFC 9110 section 9.3.2 forbids content in a HEAD response: a keep-alive client reads only the
// headers and would take a stray body for the start of the next response.
BOOST_AUTO_TEST_CASE(head_response_carries_no_body)
{
    service_process service;
    // HEAD then GET, pipelined: the GET's status line must directly follow the HEAD's headers.
    const std::string raw = raw_exchange(service.port(),
                                         "HEAD /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                                         "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    BOOST_TEST_REQUIRE(raw.starts_with("HTTP/1.1 "), "no response to HEAD:\n" << raw);
    const auto head_end = raw.find("\r\n\r\n");
    BOOST_TEST_REQUIRE(head_end != std::string::npos);
    const std::string after = raw.substr(head_end + 4);
    BOOST_TEST(after.starts_with("HTTP/1.1 200"), "after the headers of the HEAD response came:\n" << after);
    // And the HEAD answer is GET's: 200 with the Content-Length of the body it leaves out.
    BOOST_TEST(raw.starts_with("HTTP/1.1 200"), raw);
    BOOST_TEST(raw.substr(0, head_end).find("Content-Length: ") != std::string::npos, raw);
}

BOOST_AUTO_TEST_CASE(openapi_document_is_served_verbatim)
{
    service_process service;
    const auto res = http_get(service.port(), "/openapi.yaml");
    BOOST_TEST(res.result_int() == 200);
    BOOST_TEST(header(res, http::field::content_type) == "application/yaml");
    const std::string expected = read_file(source_dir() / "openapi" / "openapi.yaml");
    BOOST_TEST_REQUIRE(!expected.empty());
    // Compared as a boolean: a failure should not print two copies of the whole document.
    const bool same = res.body() == expected;
    BOOST_TEST(same, "served " << res.body().size() << " bytes, the file has " << expected.size());
}

BOOST_AUTO_TEST_CASE(keep_alive_connection_serves_several_requests)
{
    service_process service;
    http_connection connection{service.port()};
    const auto first = connection.exchange(make_request(http::verb::get, "/health"));
    BOOST_TEST(first.result_int() == 200);
    BOOST_TEST(first.keep_alive());
    const auto second = connection.exchange(make_request(http::verb::get, "/api/v1/checkpoints"));
    BOOST_TEST(second.result_int() == 200);
    BOOST_TEST(parse_json(second.body()).at("checkpoints").as_array().size() == 6u);

    // Pipelined: two requests in one write, answered in order on the same connection.
    connection.send_raw("GET /api/v1/checkpoints/ray-deployment HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                        "GET /nope HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    const auto third = connection.receive();
    const auto fourth = connection.receive();
    BOOST_TEST(third.result_int() == 200);
    BOOST_TEST(text(parse_json(third.body()).at("name")) == "ray-deployment");
    BOOST_TEST(fourth.result_int() == 404);

    // A client asking to close gets its answer, then the server closes.
    auto last = make_request(http::verb::get, "/health");
    last.keep_alive(false);
    const auto fifth = connection.exchange(last);
    BOOST_TEST(fifth.result_int() == 200);
    BOOST_TEST(!fifth.keep_alive());
    BOOST_TEST(connection.wait_closed(3s).has_value());
}

BOOST_AUTO_TEST_CASE(custom_catalog_is_what_the_api_serves)
{
    temp_dir dir;
    const auto playbook = "- hosts: all\n  gather_facts: false\n  tasks: []\n";
    dir.write_file("plays/alpha.yml", playbook);
    dir.write_file("plays/omega.yml", playbook);
    const fs::path catalog = dir.write_file("my-catalog.yaml", R"(checkpoints:
  - name: alpha-probe
    playbook: plays/alpha.yml
    description: "Probes the alpha hosts."
    approval_required: false
    destructive: false
    impact_summary: []
    timeout: 90s
  - name: omega-wipe
    playbook: plays/omega.yml
    description: "Wipes the omega hosts."
    approval_required: true
    destructive: true
    impact_summary:
      - "DESTRUCTIVE: wipes omega"
    timeout: 120
)");
    service_process service{{.catalog = catalog}};

    const json::value body = parse_json(http_get(service.port(), "/api/v1/checkpoints").body());
    const json::array& list = body.at("checkpoints").as_array();
    BOOST_TEST_REQUIRE(list.size() == 2u);
    BOOST_TEST(text(list[0].at("name")) == "alpha-probe");
    BOOST_TEST(list[0].at("order") == json::value(1));
    BOOST_TEST(list[0].at("approval_required") == json::value(false));
    BOOST_TEST(list[0].at("impact_summary").as_array().empty());
    BOOST_TEST(text(list[1].at("name")) == "omega-wipe");
    BOOST_TEST(list[1].at("order") == json::value(2));
    BOOST_TEST(list[1].at("approval_required") == json::value(true));
    BOOST_TEST(list[1].at("destructive") == json::value(true));
    BOOST_TEST(text(list[1].at("impact_summary").as_array().at(0)) == "DESTRUCTIVE: wipes omega");

    BOOST_TEST(http_get(service.port(), "/api/v1/checkpoints/omega-wipe").result_int() == 200);
    // None of the six repository checkpoints is assumed to exist.
    const auto missing = http_get(service.port(), "/api/v1/checkpoints/prerequisites-check");
    BOOST_TEST(missing.result_int() == 404);
    BOOST_TEST(error_code_of(missing) == "CHECKPOINT_NOT_FOUND");
}

BOOST_AUTO_TEST_SUITE_END()
