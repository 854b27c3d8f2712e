// Suite browsers: a running service against what a web page can make a browser send — a rebound
// DNS name, a cross-site form or fetch, a WebSocket from another site — and the ways a WebUI on a
// listed origin is let in: CORS, the bearer subprotocol and one-time tickets on the WebSocket.
#include "raydeploy/cli/local_service.hpp"
#include "raydeploy/config/settings.hpp"
#include "support/test_support.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

using namespace raydeploy::test;
namespace json = boost::json;

namespace {

bool contains(const std::string& text, std::string_view needle) { return text.find(needle) != std::string::npos; }

std::string own_host(const service_process& service) { return "127.0.0.1:" + std::to_string(service.port()); }

// The headers of a WebSocket handshake, for tests that want the HTTP answer of a refused one.
std::map<std::string, std::string> upgrade(std::map<std::string, std::string> extra = {})
{
    extra.insert({{"Upgrade", "websocket"},
                  {"Connection", "Upgrade"},
                  {"Sec-WebSocket-Version", "13"},
                  {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}});
    return extra;
}

std::string header(const response& res, http::field name) { return std::string{res[name]}; }

service_options with_token(const test_identity& who, env_map extra = {})
{
    service_options options;
    options.env = std::move(extra);
    options.env["RAYDEPLOY_AUTH_TOKENS"] = who.env_entry();
    return options;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(browsers)

// DNS rebinding: a page of evil.example makes its name resolve to 127.0.0.1 and so becomes
// "same-origin" with the service; the Host header still says evil.example.
BOOST_AUTO_TEST_CASE(open_mode_refuses_other_host_names_on_every_route)
{
    service_process service;  // open mode
    const std::string rebound = "evil.example:" + std::to_string(service.port());
    for (const char* target : {"/api/v1/checkpoints", "/health", "/openapi.yaml"}) {
        BOOST_TEST_CONTEXT(target)
        {
            const auto res = http_request(service.port(), http::verb::get, target, {}, {{"Host", rebound}});
            BOOST_TEST(res.result_int() == 421, res.body());
            BOOST_TEST(error_field_of(res) == "HOST_NOT_ALLOWED");
            BOOST_TEST(contains(res.body(), "http.allowed_hosts"), res.body());
        }
    }
    const auto handshake = http_request(service.port(), http::verb::get, "/api/v1/events?since=0", {},
                                        upgrade({{"Host", rebound}}));
    BOOST_TEST(handshake.result_int() == 421, handshake.body());
    BOOST_TEST(error_field_of(handshake) == "HOST_NOT_ALLOWED");

    // The loopback names with the service's port are this machine's own.
    for (const std::string& host : {own_host(service), "localhost:" + std::to_string(service.port()), std::string{"localhost"}})
        BOOST_TEST(http_request(service.port(), http::verb::get, "/api/v1/checkpoints", {}, {{"Host", host}})
                       .result_int() == 200, host);
    BOOST_TEST(service.wait_for_stderr("refused=HOST_NOT_ALLOWED", 5s), service.stderr_text());
}

BOOST_AUTO_TEST_CASE(with_tokens_allowed_hosts_lists_the_names_answered)
{
    const auto admin = make_identity("root", "admin");
    service_process listed{with_token(admin, {{"RAYDEPLOY_HTTP_ALLOWED_HOSTS", "deploy.example, localhost:9000"}})};
    const api_client api{listed.port(), admin};
    const auto as_admin = [&](std::string host) {
        return http_request(listed.port(), http::verb::get, "/api/v1/checkpoints", {},
                            {{"Host", host}, {"Authorization", "Bearer " + admin.token}});
    };
    BOOST_TEST(as_admin("deploy.example:" + std::to_string(listed.port())).result_int() == 200);
    BOOST_TEST(as_admin("localhost:9000").result_int() == 200);  // an SSH tunnel's port
    BOOST_TEST(as_admin(own_host(listed)).result_int() == 200);
    const auto other = as_admin("other.example:" + std::to_string(listed.port()));
    BOOST_TEST(other.result_int() == 421, other.body());
    BOOST_TEST(error_field_of(other) == "HOST_NOT_ALLOWED");

    // No list: any name (a rebinding page has no token to send).
    service_process any{with_token(admin)};
    const auto res = http_request(any.port(), http::verb::get, "/api/v1/checkpoints", {},
                                  {{"Host", "whatever.example"}, {"Authorization", "Bearer " + admin.token}});
    BOOST_TEST(res.result_int() == 200, res.body());
}

// A page of another site posting to the service (fetch with mode no-cors, or a form): refused,
// while the service's own pages and clients without Origin (curl, the CLI) go on working.
BOOST_AUTO_TEST_CASE(cross_site_requests_are_refused_same_origin_and_curl_are_not)
{
    service_process service;
    const auto post_from = [&](std::map<std::string, std::string> headers) {
        headers["Host"] = own_host(service);
        return http_request(service.port(), http::verb::post, "/api/v1/checkpoints/prerequisites-check", "{}", headers);
    };
    const auto foreign = post_from({{"Origin", "https://evil.example"}});
    BOOST_TEST(foreign.result_int() == 403, foreign.body());
    BOOST_TEST(error_field_of(foreign) == "ORIGIN_NOT_ALLOWED");
    BOOST_TEST(header(foreign, http::field::access_control_allow_origin).empty());
    BOOST_TEST(error_field_of(post_from({{"Origin", "null"}})) == "ORIGIN_NOT_ALLOWED");
    BOOST_TEST(error_field_of(post_from({{"Sec-Fetch-Site", "cross-site"}, {"Sec-Fetch-Mode", "no-cors"}})) ==
               "ORIGIN_NOT_ALLOWED");
    BOOST_TEST(json_object_of(http_get(service.port(), "/api/v1/executions")).at("executions").as_array().empty(),
               "a refused request started a run");

    const auto same_origin = http_request(service.port(), http::verb::post, "/api/v1/events/tickets", {},
                                          {{"Host", own_host(service)}, {"Origin", "http://" + own_host(service)}});
    BOOST_TEST(same_origin.result_int() == 201, same_origin.body());
    const auto curl = http_request(service.port(), http::verb::post, "/api/v1/events/tickets");
    BOOST_TEST(curl.result_int() == 201, curl.body());

    // The WebSocket handshake too: a page elsewhere must not read the event history.
    const auto handshake = http_request(service.port(), http::verb::get, "/api/v1/events?since=0", {},
                                        upgrade({{"Host", own_host(service)}, {"Origin", "https://evil.example"}}));
    BOOST_TEST(handshake.result_int() == 403, handshake.body());
    BOOST_TEST(error_field_of(handshake) == "ORIGIN_NOT_ALLOWED");
    ws_client own_page{service.port(), "/api/v1/events?since=0", {{"Origin", "http://" + own_host(service)}}};
    BOOST_TEST(own_page.handshake_response().result_int() == 101);
}

// A form or a no-cors fetch can send text/plain with a JSON-looking body, or an empty POST.
BOOST_AUTO_TEST_CASE(posts_that_are_not_json_are_refused)
{
    service_process service;
    const auto text_plain = http_request(service.port(), http::verb::post, "/api/v1/checkpoints/prerequisites-check",
                                         R"({"check": true})", {{"Content-Type", "text/plain"}});
    BOOST_TEST(text_plain.result_int() == 415, text_plain.body());
    BOOST_TEST(error_field_of(text_plain) == "UNSUPPORTED_MEDIA_TYPE");
    BOOST_TEST(text(json_object_of(text_plain), "header") == "Content-Type");

    const auto empty = parse_response(raw_exchange(
        service.port(), "POST /api/v1/checkpoints/prerequisites-check HTTP/1.1\r\nHost: " + own_host(service) +
                            "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"));
    BOOST_TEST(empty.result_int() == 415, empty.body());
    BOOST_TEST(contains(empty.body(), "also when the body is empty"), empty.body());
    BOOST_TEST(json_object_of(http_get(service.port(), "/api/v1/executions")).at("executions").as_array().empty(),
               "a refused request started a run");

    const auto charset = http_request(service.port(), http::verb::post, "/api/v1/events/tickets", "{}",
                                      {{"Content-Type", "application/json; charset=utf-8"}});
    BOOST_TEST(charset.result_int() == 201, charset.body());
}

BOOST_AUTO_TEST_CASE(cors_preflight_answers_listed_origins_only)
{
    const auto admin = make_identity("root", "admin");
    service_process service{with_token(admin, {{"RAYDEPLOY_HTTP_ALLOWED_ORIGINS", "https://ui.example"}})};
    const auto preflight = [&](std::string origin) {
        return http_request(service.port(), http::verb::options, "/api/v1/checkpoints/prerequisites-check", {},
                            {{"Host", own_host(service)},
                             {"Origin", origin},
                             {"Access-Control-Request-Method", "POST"},
                             {"Access-Control-Request-Headers", "authorization,content-type"}});
    };
    const auto listed = preflight("https://ui.example");
    BOOST_TEST(listed.result_int() == 204, listed.body());
    BOOST_TEST(header(listed, http::field::access_control_allow_origin) == "https://ui.example");
    BOOST_TEST(header(listed, http::field::access_control_allow_methods) == "GET, POST, HEAD, OPTIONS");
    BOOST_TEST(header(listed, http::field::access_control_allow_headers) == "Authorization, Content-Type");
    BOOST_TEST(header(listed, http::field::access_control_max_age) == "600");
    BOOST_TEST(header(listed, http::field::vary) == "Origin");

    const auto unlisted = preflight("https://evil.example");
    BOOST_TEST(unlisted.result_int() == 403, unlisted.body());
    for (auto field : {http::field::access_control_allow_origin, http::field::access_control_allow_methods,
                       http::field::access_control_allow_headers})
        BOOST_TEST(header(unlisted, field).empty());

    // The actual request of the WebUI, with its token: readable by its page.
    const auto read = http_request(service.port(), http::verb::get, "/api/v1/checkpoints", {},
                                   {{"Host", own_host(service)}, {"Origin", "https://ui.example"},
                                    {"Authorization", "Bearer " + admin.token}});
    BOOST_TEST(read.result_int() == 200, read.body());
    BOOST_TEST(header(read, http::field::access_control_allow_origin) == "https://ui.example");
    BOOST_TEST(header(read, http::field::vary) == "Origin");
    BOOST_TEST(http_request(service.port(), http::verb::options, "/api/v1/nowhere").result_int() == 404);
}

BOOST_AUTO_TEST_CASE(websocket_takes_the_token_in_the_subprotocol_and_answers_the_plain_one)
{
    const auto vera = make_identity("vera", "viewer");
    service_process service{with_token(vera)};
    ws_client feed{service.port(), "/api/v1/events?since=0",
                   {{"Sec-WebSocket-Protocol", "raydeploy, raydeploy.bearer." + vera.token},
                    {"Origin", "http://" + own_host(service)}}};
    const auto& answer = feed.handshake_response();
    BOOST_TEST(answer.result_int() == 101);
    BOOST_TEST(header(answer, http::field::sec_websocket_protocol) == "raydeploy");
    for (const auto& field : answer) BOOST_TEST(!contains(std::string{field.value()}, vera.token));

    const auto wrong = http_request(service.port(), http::verb::get, "/api/v1/events", {},
                                    upgrade({{"Sec-WebSocket-Protocol", "raydeploy, raydeploy.bearer.rdp_nope"}}));
    BOOST_TEST(wrong.result_int() == 401, wrong.body());
    const auto bearer_only = http_request(service.port(), http::verb::get, "/api/v1/events", {},
                                          upgrade({{"Sec-WebSocket-Protocol", "raydeploy.bearer." + vera.token}}));
    BOOST_TEST(bearer_only.result_int() == 400, bearer_only.body());
    BOOST_TEST(contains(bearer_only.body(), "must offer 'raydeploy'"), bearer_only.body());
    // Outside a handshake the subprotocol is no credential.
    const auto plain = http_request(service.port(), http::verb::get, "/api/v1/checkpoints", {},
                                    {{"Sec-WebSocket-Protocol", "raydeploy, raydeploy.bearer." + vera.token}});
    BOOST_TEST(plain.result_int() == 401, plain.body());
    BOOST_TEST(!contains(service.stderr_text(), vera.token), "the log holds the token");
}

BOOST_AUTO_TEST_CASE(a_ticket_opens_one_websocket_and_never_reaches_the_log)
{
    const auto vera = make_identity("vera", "viewer");
    service_process service{with_token(vera)};
    const api_client api{service.port(), vera};
    const auto issued = api.post("/api/v1/events/tickets");
    BOOST_TEST_REQUIRE(issued.result_int() == 201, issued.body());
    BOOST_TEST(header(issued, http::field::cache_control) == "no-store");
    const auto body = json_object_of(issued);
    const std::string ticket = text(body, "ticket");
    BOOST_TEST(ticket.starts_with("rdt_"), ticket);
    BOOST_TEST(integer(body, "expires_in_s") == 30);
    BOOST_TEST(timestamp_ms(body.at("expires_at")) > 0, issued.body());
    BOOST_TEST(http_request(service.port(), http::verb::post, "/api/v1/events/tickets").result_int() == 401);

    const std::string target = "/api/v1/events?since=0&ticket=" + ticket;
    ws_client first{service.port(), target};
    BOOST_TEST(first.handshake_response().result_int() == 101);
    const auto second = http_request(service.port(), http::verb::get, target, {}, upgrade());
    BOOST_TEST(second.result_int() == 401, second.body());
    BOOST_TEST(contains(text(json_object_of(second), "message"), "used already or expired"), second.body());

    // A long-lived token in a URL is refused, valid or not.
    const auto in_url = http_request(service.port(), http::verb::get, "/api/v1/events?token=" + vera.token, {},
                                     upgrade());
    BOOST_TEST(in_url.result_int() == 400, in_url.body());
    BOOST_TEST(error_field_of(in_url) == "INVALID_PARAMETER");
    BOOST_TEST(text(json_object_of(in_url), "parameter") == "token");

    BOOST_TEST(service.wait_for_stderr("ticket=***", 5s), service.stderr_text());
    BOOST_TEST(service.wait_for_stderr("token=***", 5s), service.stderr_text());
    BOOST_TEST(!contains(service.stderr_text(), ticket), "the log holds the ticket");
    BOOST_TEST(!contains(service.stderr_text(), vera.token), "the log holds the token");
}

// The CLI's in-process service: any page in a browser on this machine can reach a loopback port,
// so it is not in open mode; only the CLI holds its token.
BOOST_AUTO_TEST_CASE(the_cli_in_process_service_is_not_open_mode)
{
    temp_dir dir;
    auto config = raydeploy::load_settings(std::nullopt, {}, {});
    config.state_dir = dir.path() / "state";
    config.catalog = source_dir() / "playbooks" / "checkpoints.yaml";
    config.inventory = source_dir() / "playbooks" / "inventory" / "local.yml";
    const raydeploy::cli::local_service local{config, "tester"};
    const std::string url = local.url();
    const auto port = static_cast<std::uint16_t>(std::stoi(url.substr(url.rfind(':') + 1)));

    const auto anonymous = http_get(port, "/api/v1/checkpoints");
    BOOST_TEST(anonymous.result_int() == 401, anonymous.body());
    BOOST_TEST(error_field_of(anonymous) == "UNAUTHENTICATED");
    BOOST_TEST(local.token().starts_with("rdp_"));
    const api_client cli{port, local.token()};
    BOOST_TEST(cli.get("/api/v1/checkpoints").result_int() == 200);
    // Runs and approvals are recorded under the person running the command.
    const auto ticket = cli.post("/api/v1/events/tickets");
    BOOST_TEST(ticket.result_int() == 201, ticket.body());
    const auto grant = cli.post("/api/v1/approvals/docker-installation", R"({"reason": "local window"})");
    BOOST_TEST(grant.result_int() == 201, grant.body());
    BOOST_TEST(text(json_object_of(grant), "approved_by") == "tester");
}

// The local flow at a gate: nobody else can reach the in-process service, so the command says
// how to approve instead of printing a curl command; a later in-process `approve` records the
// person's name, and the next run uses the grant (four-eyes needs two people).
BOOST_AUTO_TEST_CASE(cli_in_process_gates_are_approved_by_the_person_running_it)
{
    temp_dir dir;
    const fs::path fixtures = source_dir() / "tests" / "fixtures" / "ansible";
    const std::vector<std::string> settings = {
        "--state-dir", (dir.path() / "state").string(), "--catalog", (fixtures / "catalog.yaml").string(),
        "--inventory", (fixtures / "inventory.yml").string(), "--ansible-playbook",
        (source_dir() / ".venv" / "bin" / "ansible-playbook").string()};
    const auto cli = [&](std::vector<std::string> args) {
        args.insert(args.end(), settings.begin(), settings.end());
        return run_cli(args, {{"USER", "tester"}, {"LOGNAME", "tester"}}, std::nullopt, 60s);
    };
    const auto waiting = cli({"run", "gated", "--approval-timeout", "1s"});
    BOOST_TEST(waiting.exit_code == 3, waiting.out << waiting.err);
    BOOST_TEST(contains(waiting.out, "only this command can reach its in-process service"), waiting.out);
    BOOST_TEST(!contains(waiting.out, "curl"), waiting.out);

    const auto approved = cli({"approve", "gated", "--reason", "local window", "--acknowledge-risks"});
    BOOST_TEST_REQUIRE(approved.exit_code == 0, approved.out << approved.err);
    BOOST_TEST(contains(approved.out, "by tester"), approved.out);
    const auto ran = cli({"run", "gated"});
    BOOST_TEST(ran.exit_code == 0, ran.out << ran.err);
    BOOST_TEST(contains(ran.out, "gated: succeeded after"), ran.out);
}

BOOST_AUTO_TEST_SUITE_END()
