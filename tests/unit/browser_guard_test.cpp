// Browsers: Host and Origin checks, the JSON-only rule for bodies, CORS, WebSocket credentials
// (subprotocol and one-time tickets), redaction of credentials in logged targets, and the
// settings that configure them. No sockets: the server's handle() is driven directly.
#include "raydeploy/api/routes.hpp"
#include "raydeploy/auth/tickets.hpp"
#include "raydeploy/auth/tokens.hpp"
#include "raydeploy/config/settings.hpp"
#include "raydeploy/http/browser_guard.hpp"
#include "raydeploy/http/server.hpp"
#include "raydeploy/util/errors.hpp"
#include "raydeploy/util/web_origin.hpp"
#include "support/test_support.hpp"

#include <boost/test/unit_test.hpp>

using namespace raydeploy;
using raydeploy::test::handle_in_process;

BOOST_TEST_DONT_PRINT_LOG_VALUE(http::status)

namespace {

constexpr std::uint16_t port = 8000;

web::request request_to(http::verb method, std::string target, std::map<std::string, std::string> headers = {})
{
    web::request req{method, target, 11};
    for (const auto& [name, value] : headers) req.set(name, value);
    return req;
}

// The code of the refusal, or "" when the request is let through.
std::string refusal_code(const web::browser_guard& guard, const web::request& req)
{
    const auto refusal = guard.refusal(req, "http", port);
    return refusal ? refusal->code : std::string{};
}

web::browser_guard open_mode(std::vector<std::string> hosts = {}, std::vector<std::string> origins = {})
{
    return web::browser_guard{web::browser_policy::from_settings(true, hosts, origins)};
}

web::browser_guard with_tokens(std::vector<std::string> hosts = {}, std::vector<std::string> origins = {})
{
    return web::browser_guard{web::browser_policy::from_settings(false, hosts, origins)};
}

bool contains(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }


web::handler answer(std::string text)
{
    return [text](web::request_context&) -> net::awaitable<web::response> {
        co_return web::text_response(http::status::ok, text, "text/plain");
    };
}

// The authenticator's refusal of `req`; fails the test when it lets it through.
auth_refusal rejection(const token_authenticator& auth, const web::request& req, bool handshake)
{
    const auto result = auth.authenticate(req, handshake);
    if (!result) return result.refusal();
    BOOST_ERROR("expected a refusal, authenticated as '" + result.caller().name + "'");
    return auth_refusal{http::status::ok, "", "", {}};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(browser_guard)

BOOST_AUTO_TEST_CASE(hosts_and_origins_are_parsed_strictly_and_normalised)
{
    BOOST_TEST(parse_host("Example.COM:8443")->to_string() == "example.com:8443");
    BOOST_TEST(parse_host("[::1]:8000")->to_string() == "[::1]:8000");
    BOOST_TEST(parse_host("127.0.0.1")->to_string() == "127.0.0.1");
    for (const char* bad : {"", ":80", "a b", "host:", "host:0", "host:70000", "user@host", "host/x", "[::1", "http://a"})
        BOOST_TEST_CONTEXT(bad) { BOOST_TEST(!parse_host(bad).has_value()); }

    BOOST_TEST(parse_origin("HTTP://Example.com:80")->to_string() == "http://example.com");
    BOOST_TEST(parse_origin("https://ui.example:443")->to_string() == "https://ui.example");
    BOOST_TEST(parse_origin("http://127.0.0.1:3000")->to_string() == "http://127.0.0.1:3000");
    for (const char* bad : {"null", "ftp://a", "https://a/", "https://a/path", "https://a?x=1", "a.example", "https://"})
        BOOST_TEST_CONTEXT(bad) { BOOST_TEST(!parse_origin(bad).has_value()); }

    BOOST_TEST(contains(*allowed_origin_problem("https://ui.example/app"), "write 'https://ui.example'"));
    BOOST_TEST(contains(*allowed_origin_problem("*"), "any page"));
    BOOST_TEST(contains(*allowed_host_problem("https://deploy.example"), "has a scheme"));
    BOOST_TEST(!allowed_host_problem("deploy.example:8000"));
    BOOST_TEST(!allowed_origin_problem("http://localhost:3000"));
}

BOOST_AUTO_TEST_CASE(open_mode_answers_loopback_names_only)
{
    const auto guard = open_mode();
    for (const char* host : {"127.0.0.1:8000", "localhost:8000", "LOCALHOST:8000", "[::1]:8000", "127.0.0.1", "localhost"})
        BOOST_TEST_CONTEXT(host) { BOOST_TEST(refusal_code(guard, request_to(http::verb::get, "/health", {{"Host", host}})) == ""); }

    // DNS rebinding: the attacker's name, resolving to 127.0.0.1, with the right port.
    const auto rebound = guard.refusal(request_to(http::verb::get, "/health", {{"Host", "evil.example:8000"}}), "http", port);
    BOOST_TEST_REQUIRE(rebound.has_value());
    BOOST_TEST(rebound->status == http::status::misdirected_request);
    BOOST_TEST(rebound->code == "HOST_NOT_ALLOWED");
    BOOST_TEST(contains(rebound->message, "Host 'evil.example:8000'"), rebound->message);
    BOOST_TEST(contains(rebound->message, "http.allowed_hosts"), rebound->message);
    BOOST_TEST(rebound->details.at("header") == "Host");

    for (const char* host : {"localhost:9000", "127.0.0.2:8000", "0.0.0.0:8000", "not a host"})
        BOOST_TEST_CONTEXT(host) {
            BOOST_TEST(refusal_code(guard, request_to(http::verb::get, "/health", {{"Host", host}})) == "HOST_NOT_ALLOWED");
        }
    BOOST_TEST(refusal_code(guard, request_to(http::verb::get, "/health")) == "HOST_NOT_ALLOWED");  // no Host at all

    // The list adds names (an SSH tunnel on another port, a name in /etc/hosts).
    const auto listed = open_mode({"localhost:9000", "devbox"});
    BOOST_TEST(refusal_code(listed, request_to(http::verb::get, "/", {{"Host", "localhost:9000"}})) == "");
    BOOST_TEST(refusal_code(listed, request_to(http::verb::get, "/", {{"Host", "devbox:1234"}})) == "");
    BOOST_TEST(refusal_code(listed, request_to(http::verb::get, "/", {{"Host", "localhost:9001"}})) == "HOST_NOT_ALLOWED");
}

BOOST_AUTO_TEST_CASE(with_tokens_any_host_unless_a_list_is_given)
{
    BOOST_TEST(refusal_code(with_tokens(), request_to(http::verb::get, "/", {{"Host", "deploy.example:8000"}})) == "");
    BOOST_TEST(refusal_code(with_tokens(), request_to(http::verb::get, "/")) == "");

    const auto guard = with_tokens({"deploy.example"});
    BOOST_TEST(refusal_code(guard, request_to(http::verb::get, "/", {{"Host", "Deploy.Example:8000"}})) == "");
    BOOST_TEST(refusal_code(guard, request_to(http::verb::get, "/", {{"Host", "127.0.0.1:8000"}})) == "");
    const auto refusal = guard.refusal(request_to(http::verb::get, "/", {{"Host", "evil.example:8000"}}), "http", port);
    BOOST_TEST_REQUIRE(refusal.has_value());
    BOOST_TEST(refusal->code == "HOST_NOT_ALLOWED");
    BOOST_TEST(contains(refusal->message, "not in http.allowed_hosts"), refusal->message);
}

BOOST_AUTO_TEST_CASE(origins_of_other_sites_are_refused_unless_listed)
{
    const auto guard = open_mode({}, {"https://ui.example"});
    const auto from = [](std::string origin, std::string host = "127.0.0.1:8000") {
        return request_to(http::verb::post, "/api/v1/checkpoints/x", {{"Host", host}, {"Origin", origin}});
    };
    BOOST_TEST(refusal_code(guard, from("http://127.0.0.1:8000")) == "");  // a page of this service
    BOOST_TEST(refusal_code(guard, from("http://localhost:8000", "localhost:8000")) == "");
    BOOST_TEST(refusal_code(guard, from("https://ui.example")) == "");
    BOOST_TEST(refusal_code(guard, from("https://UI.example:443")) == "");
    BOOST_TEST(guard.listed_origin(from("https://ui.example")).value_or("") == "https://ui.example");
    BOOST_TEST(!guard.listed_origin(from("http://127.0.0.1:8000")).has_value());

    const auto foreign = guard.refusal(from("https://evil.example"), "http", port);
    BOOST_TEST_REQUIRE(foreign.has_value());
    BOOST_TEST(foreign->status == http::status::forbidden);
    BOOST_TEST(foreign->code == "ORIGIN_NOT_ALLOWED");
    BOOST_TEST(contains(foreign->message, "http://127.0.0.1:8000"), foreign->message);
    BOOST_TEST(contains(foreign->message, "http.allowed_origins"), foreign->message);
    // Another port of this machine is another origin, and so is https on this one.
    BOOST_TEST(refusal_code(guard, from("http://127.0.0.1:3000")) == "ORIGIN_NOT_ALLOWED");
    BOOST_TEST(refusal_code(guard, from("https://127.0.0.1:8000")) == "ORIGIN_NOT_ALLOWED");
    BOOST_TEST(refusal_code(guard, from("null")) == "ORIGIN_NOT_ALLOWED");
    BOOST_TEST(refusal_code(guard, from("https://ui.example/")) == "ORIGIN_NOT_ALLOWED");
    // Once TLS serves it, the scheme of its own pages is https.
    BOOST_TEST(!guard.refusal(from("https://127.0.0.1:8000"), "https", port).has_value());

    // Without Origin, Sec-Fetch-Site tells a cross-site subresource load from a person following a link.
    const auto fetch = [](std::string site, std::string mode) {
        return request_to(http::verb::get, "/api/v1/checkpoints",
                          {{"Host", "127.0.0.1:8000"}, {"Sec-Fetch-Site", site}, {"Sec-Fetch-Mode", mode}});
    };
    BOOST_TEST(refusal_code(guard, fetch("cross-site", "no-cors")) == "ORIGIN_NOT_ALLOWED");
    BOOST_TEST(refusal_code(guard, fetch("cross-site", "navigate")) == "");
    BOOST_TEST(refusal_code(guard, fetch("same-origin", "cors")) == "");
    BOOST_TEST(refusal_code(guard, request_to(http::verb::get, "/", {{"Host", "127.0.0.1:8000"}})) == "");  // curl
}

BOOST_AUTO_TEST_CASE(posts_and_bodies_must_be_json)
{
    const auto code = [](http::verb method, std::string type, std::string body) {
        auto req = request_to(method, "/x", type.empty() ? std::map<std::string, std::string>{}
                                                          : std::map<std::string, std::string>{{"Content-Type", type}});
        req.body() = body;
        const auto refusal = web::content_type_refusal(req);
        return refusal ? refusal->code : std::string{};
    };
    BOOST_TEST(code(http::verb::post, "", "") == "UNSUPPORTED_MEDIA_TYPE");
    BOOST_TEST(code(http::verb::post, "", "  \n") == "UNSUPPORTED_MEDIA_TYPE");
    BOOST_TEST(code(http::verb::post, "text/plain", R"({"check": true})") == "UNSUPPORTED_MEDIA_TYPE");
    BOOST_TEST(code(http::verb::post, "application/x-www-form-urlencoded", "a=b") == "UNSUPPORTED_MEDIA_TYPE");
    BOOST_TEST(code(http::verb::post, "application/jsonx", "{}") == "UNSUPPORTED_MEDIA_TYPE");
    BOOST_TEST(code(http::verb::get, "text/plain", "x") == "UNSUPPORTED_MEDIA_TYPE");
    BOOST_TEST(code(http::verb::post, "application/json", "") == "");
    BOOST_TEST(code(http::verb::post, "Application/JSON; charset=utf-8", "{}") == "");
    BOOST_TEST(code(http::verb::delete_, "", "") == "");
    BOOST_TEST(code(http::verb::get, "", "") == "");

    auto chunked = request_to(http::verb::put, "/x");
    chunked.chunked(true);
    const auto refusal = web::content_type_refusal(chunked);
    BOOST_TEST_REQUIRE(refusal.has_value());
    BOOST_TEST(refusal->status == http::status::unsupported_media_type);
    BOOST_TEST(contains(refusal->message, "Content-Type: application/json"), refusal->message);
    BOOST_TEST(refusal->details.at("header") == "Content-Type");
}

BOOST_AUTO_TEST_CASE(credentials_in_logged_targets_are_redacted)
{
    BOOST_TEST(web::redacted_target("/api/v1/events?since=3&ticket=rdt_abc&types=a.*") ==
               "/api/v1/events?since=3&ticket=***&types=a.*");
    BOOST_TEST(web::redacted_target("/x?token=rdp_secret") == "/x?token=***");
    BOOST_TEST(web::redacted_target("/x?access_token=rdp_secret&y") == "/x?access_token=***&y");
    BOOST_TEST(web::redacted_target("/x?tickets=1") == "/x?tickets=1");
    // Names are compared decoded, as the authenticator reads them.
    BOOST_TEST(web::redacted_target("/x?tick%65t=rdt_abc") == "/x?tick%65t=***");
    BOOST_TEST(web::redacted_target("/x?%74oken=rdp_secret") == "/x?%74oken=***");
    BOOST_TEST(web::redacted_target("/x?tok%zzen=rdp_secret") == "/x?tok%zzen=***");
    BOOST_TEST(web::redacted_target("/x") == "/x");
}

BOOST_AUTO_TEST_CASE(tickets_work_once_and_expire)
{
    auto now = std::chrono::steady_clock::time_point{} + std::chrono::hours{1};
    ticket_store tickets{std::chrono::seconds{30}, 3, [&now] { return now; }};
    const identity vera{"vera", role::viewer, false, "vera"};
    const std::string ticket = tickets.issue(vera);
    BOOST_TEST(ticket.starts_with("rdt_"));
    BOOST_TEST(ticket.size() == 4u + 43u);

    const auto holder = tickets.redeem(ticket);
    BOOST_TEST_REQUIRE(holder.has_value());
    BOOST_TEST(holder->name == "vera");
    BOOST_TEST((holder->level == role::viewer));
    BOOST_TEST(!tickets.redeem(ticket).has_value());  // used

    const std::string late = tickets.issue(vera);
    now += std::chrono::seconds{29};
    const std::string in_time = tickets.issue(vera);
    now += std::chrono::seconds{1};
    BOOST_TEST(!tickets.redeem(late).has_value());  // 30 s old
    BOOST_TEST(tickets.redeem(in_time).has_value());
    BOOST_TEST(!tickets.redeem("rdt_made-up").has_value());

    // Bounded: the oldest goes when a fourth one is issued.
    std::vector<std::string> issued;
    for (int i = 0; i < 4; ++i) issued.push_back(tickets.issue(vera));
    BOOST_TEST(tickets.size() == 3u);
    BOOST_TEST(!tickets.redeem(issued[0]).has_value());
    BOOST_TEST(tickets.redeem(issued[3]).has_value());
    now += std::chrono::seconds{31};
    tickets.issue(vera);
    BOOST_TEST(tickets.size() == 1u);  // the expired ones were swept
}

BOOST_AUTO_TEST_CASE(websocket_handshakes_take_the_subprotocol_or_a_ticket)
{
    const std::string token = generate_token();
    const auto tickets = std::make_shared<ticket_store>();
    const token_authenticator auth{{{"vera", role::viewer, sha256_hex(token), ""}}, tickets};
    const auto handshake = [](std::string target, std::map<std::string, std::string> headers) {
        headers.emplace("Upgrade", "websocket");
        return request_to(http::verb::get, target, headers);
    };

    const auto offered = handshake("/api/v1/events", {{"Sec-WebSocket-Protocol", "raydeploy, raydeploy.bearer." + token}});
    BOOST_TEST(auth.authenticate(offered, true).caller().name == "vera");
    BOOST_TEST(offered_subprotocols(offered) == (std::vector<std::string>{"raydeploy", "raydeploy.bearer." + token}));
    // Only where a browser has no other way: a plain request must use Authorization.
    BOOST_TEST(rejection(auth, offered, false).code == "UNAUTHENTICATED");
    BOOST_TEST(rejection(auth, handshake("/api/v1/events", {{"Sec-WebSocket-Protocol", "raydeploy, raydeploy.bearer.rdp_nope"}}), true)
                   .code == "UNAUTHENTICATED");

    const std::string ticket = tickets->issue(identity{"vera", role::viewer, false, "vera"});
    const auto with_ticket = handshake("/api/v1/events?since=0&ticket=" + ticket, {});
    BOOST_TEST(rejection(auth, with_ticket, false).message ==
               std::string{"a ticket is accepted only on the WebSocket handshake of GET /api/v1/events; "} +
                   "pass a token with -H 'Authorization: Bearer $RAYDEPLOY_TOKEN'; an admin creates one with "
                   "'raydeploy token create --name NAME --role ROLE' and adds its entry to auth.tokens");
    BOOST_TEST(auth.authenticate(with_ticket, true).caller().name == "vera");
    const auto again = rejection(auth, with_ticket, true);
    BOOST_TEST(again.code == "UNAUTHENTICATED");
    BOOST_TEST(contains(again.message, "used already or expired"), again.message);
    // Percent-encoded, the parameter is the same one.
    const std::string encoded = tickets->issue(identity{"vera", role::viewer, false, "vera"});
    BOOST_TEST(auth.authenticate(handshake("/api/v1/events?%74icket=" + encoded, {}), true).caller().name == "vera");

    const auto nothing = rejection(auth, handshake("/api/v1/events", {}), true);
    BOOST_TEST(contains(nothing.message, "raydeploy.bearer.TOKEN"), nothing.message);
}

BOOST_AUTO_TEST_CASE(tokens_in_urls_are_refused_in_every_mode)
{
    const std::string token = generate_token();
    const token_authenticator with_tokens{{{"vera", role::viewer, sha256_hex(token), ""}}};
    const token_authenticator open{{}};
    // Spelled out or percent-encoded, after another parameter or not.
    const std::vector<std::pair<std::string, std::string>> spellings{
        {"token", "token"}, {"access_token", "access_token"}, {"%74oken", "token"},
        {"access%5Ftoken", "access_token"}, {"limit=5&%74%6F%6B%65%6E", "token"}};
    for (const auto& [spelled, name] : spellings) {
        auto req = request_to(http::verb::get, "/api/v1/checkpoints?" + spelled + "=" + token,
                              {{"Authorization", "Bearer " + token}});
        for (const auto* auth : {&with_tokens, &open}) {
            const auto refusal = rejection(*auth, req, false);
            BOOST_TEST(refusal.status == http::status::bad_request, spelled);
            BOOST_TEST(refusal.code == "INVALID_PARAMETER", spelled);
            BOOST_TEST(refusal.details.at("parameter").as_string() == std::string_view{name}, spelled);
            BOOST_TEST(contains(refusal.message, "never accepted in a URL"), refusal.message);
        }
    }
}

BOOST_AUTO_TEST_CASE(server_refuses_before_routing_and_answers_cors_for_listed_origins)
{
    net::io_context io;
    web::router routes;
    int handled = 0;
    routes.add(http::verb::get, "/things", role::viewer, [&handled](web::request_context&) -> net::awaitable<web::response> {
        ++handled;
        co_return web::json_response(http::status::ok, json::object{{"ok", true}});
    });
    routes.add(http::verb::post, "/things", role::operator_, answer("made"));
    const std::string token = generate_token();
    const token_authenticator tokens{{{"olga", role::operator_, sha256_hex(token), ""}}};
    routes.set_authenticator([tokens](const web::request& req, bool handshake) { return tokens.authenticate(req, handshake); });
    auto server = web::http_server::create(io.get_executor(), std::move(routes), {}, {"127.0.0.1", 0},
                                           web::browser_policy::from_settings(false, {"deploy.example"}, {"https://ui.example"}));
    const auto local = "127.0.0.1:" + std::to_string(server->local_endpoint().port());

    // Refused before routing: an unknown path answers the same as a known one.
    for (const char* target : {"/things", "/nowhere"}) {
        const auto misdirected = handle_in_process(*server, request_to(http::verb::get, target, {{"Host", "evil.example"}}));
        BOOST_TEST(misdirected.result() == http::status::misdirected_request);
        BOOST_TEST(test::error_field_of(misdirected) == "HOST_NOT_ALLOWED");
    }
    const auto foreign = handle_in_process(*server, request_to(http::verb::post, "/things",
                                                      {{"Host", local}, {"Origin", "https://evil.example"},
                                                       {"Authorization", "Bearer " + token}}));
    BOOST_TEST(foreign.result() == http::status::forbidden);
    BOOST_TEST(test::error_field_of(foreign) == "ORIGIN_NOT_ALLOWED");
    BOOST_TEST(foreign.count(http::field::access_control_allow_origin) == 0u);

    // The preflight of a listed origin: no credentials needed, never '*'.
    const auto preflight = handle_in_process(*server, request_to(http::verb::options, "/things",
                                                        {{"Host", "deploy.example"},
                                                         {"Origin", "https://ui.example"},
                                                         {"Access-Control-Request-Method", "POST"},
                                                         {"Access-Control-Request-Headers", "authorization, content-type"}}));
    BOOST_TEST(preflight.result() == http::status::no_content);
    BOOST_TEST(preflight[http::field::access_control_allow_origin] == "https://ui.example");
    BOOST_TEST(preflight[http::field::access_control_allow_methods] == "GET, POST, HEAD, OPTIONS");
    BOOST_TEST(preflight[http::field::access_control_allow_headers] == "Authorization, Content-Type");
    BOOST_TEST(preflight[http::field::access_control_max_age] == "600");
    BOOST_TEST(preflight[http::field::vary] == "Origin");
    BOOST_TEST(preflight[http::field::allow] == "GET, POST, HEAD, OPTIONS");
    BOOST_TEST(handled == 0);

    // OPTIONS without CORS: the methods, no CORS headers; an unknown path is 404.
    const auto plain = handle_in_process(*server, request_to(http::verb::options, "/things", {{"Host", local}}));
    BOOST_TEST(plain.result() == http::status::no_content);
    BOOST_TEST(plain[http::field::allow] == "GET, POST, HEAD, OPTIONS");
    BOOST_TEST(plain.count(http::field::access_control_allow_origin) == 0u);
    BOOST_TEST(handle_in_process(*server, request_to(http::verb::options, "/nowhere", {{"Host", local}})).result() ==
               http::status::not_found);
    const auto wrong_method = handle_in_process(*server, request_to(http::verb::delete_, "/things", {{"Host", local}}));
    BOOST_TEST(wrong_method[http::field::allow] == "GET, POST, HEAD, OPTIONS");

    // The actual requests of the listed origin can be read by its page, errors included.
    const auto read = handle_in_process(*server, request_to(http::verb::get, "/things",
                                                   {{"Host", local}, {"Origin", "https://ui.example"},
                                                    {"Authorization", "Bearer " + token}}));
    BOOST_TEST(read.result() == http::status::ok);
    BOOST_TEST(read[http::field::access_control_allow_origin] == "https://ui.example");
    BOOST_TEST(read[http::field::vary] == "Origin");
    const auto anonymous = handle_in_process(*server, request_to(http::verb::get, "/things",
                                                        {{"Host", local}, {"Origin", "https://ui.example"}}));
    BOOST_TEST(anonymous.result() == http::status::unauthorized);
    BOOST_TEST(anonymous[http::field::access_control_allow_origin] == "https://ui.example");
    // Same-origin and origin-less requests get no CORS headers.
    const auto own = handle_in_process(*server, request_to(http::verb::get, "/things",
                                                  {{"Host", local}, {"Origin", "http://" + local},
                                                   {"Authorization", "Bearer " + token}}));
    BOOST_TEST(own.result() == http::status::ok);
    BOOST_TEST(own.count(http::field::access_control_allow_origin) == 0u);

    // A POST must say JSON, after authentication (so the refusal is audited with the caller).
    auto text_post = request_to(http::verb::post, "/things",
                                {{"Host", local}, {"Authorization", "Bearer " + token}, {"Content-Type", "text/plain"}});
    text_post.body() = R"({"x": 1})";
    BOOST_TEST(handle_in_process(*server, text_post).result() == http::status::unsupported_media_type);
    auto json_post = request_to(http::verb::post, "/things",
                                {{"Host", local}, {"Authorization", "Bearer " + token}, {"Content-Type", "application/json"}});
    BOOST_TEST(handle_in_process(*server, json_post).body() == "made");
}

// OPTIONS is served by the server for every path, not by routes, so openapi.yaml documents it
// once (info.description) and the route table has no OPTIONS routes to compare.
BOOST_AUTO_TEST_CASE(every_service_route_answers_options_with_its_methods)
{
    net::io_context io;
    auto state = std::make_shared<api::service_state>(
        load_catalog(std::filesystem::path{RAYDEPLOY_SOURCE_DIR} / "playbooks/checkpoints.yaml"));
    web::router routes = api::make_router(state);
    std::map<std::string, std::set<std::string>> methods;
    for (const auto& route : routes.routes()) {
        BOOST_TEST(route.method != http::verb::options);
        std::string path = route.pattern;
        for (std::size_t open; (open = path.find('{')) != std::string::npos;)
            path.replace(open, path.find('}', open) - open + 1, "x");
        methods[path].insert(std::string{http::to_string(route.method)});
    }
    auto server = web::http_server::create(io.get_executor(), std::move(routes), {}, {"127.0.0.1", 0});
    for (const auto& [path, expected] : methods) {
        BOOST_TEST_CONTEXT(path)
        {
            const auto res = handle_in_process(*server, request_to(http::verb::options, path, {{"Host", "127.0.0.1"}}));
            BOOST_TEST(res.result() == http::status::no_content);
            const std::string allow{res[http::field::allow]};
            for (const auto& method : expected) BOOST_TEST(contains(allow, method), allow);
            BOOST_TEST(contains(allow, "OPTIONS"), allow);
        }
    }
}

BOOST_AUTO_TEST_CASE(allowed_hosts_and_origins_come_from_file_and_environment)
{
    test::temp_dir dir;
    const auto file = dir.write_file("raydeploy.yaml", "http:\n  allowed_hosts: [deploy.example, 'localhost:9000']\n"
                                                       "  allowed_origins:\n    - https://ui.example\n");
    const auto from_file = load_settings(file, {}, {});
    BOOST_TEST(from_file.http.allowed_hosts == (std::vector<std::string>{"deploy.example", "localhost:9000"}));
    BOOST_TEST(from_file.http.allowed_origins == (std::vector<std::string>{"https://ui.example"}));
    BOOST_TEST(setting_value_text(from_file, "http.allowed_hosts") == "deploy.example, localhost:9000");
    BOOST_TEST(setting_value_text(settings{}, "http.allowed_origins") == "none");

    const auto environment = environment_overrides(
        {{"RAYDEPLOY_HTTP_ALLOWED_HOSTS", "a.example, b.example:8443"}, {"RAYDEPLOY_HTTP_ALLOWED_ORIGINS", ""}});
    const auto from_env = load_settings(file, environment, {});
    BOOST_TEST(from_env.http.allowed_hosts == (std::vector<std::string>{"a.example", "b.example:8443"}));
    BOOST_TEST(from_env.http.allowed_origins.empty());

    const auto message_for = [&](const std::string& yaml) {
        try {
            load_settings(dir.write_file("bad.yaml", yaml), {}, {});
        } catch (const config_error& e) {
            return std::string{e.what()};
        }
        return std::string{"no error"};
    };
    const std::string path = message_for("http:\n  allowed_origins: [https://ui.example/app]\n");
    BOOST_TEST(contains(path, "bad.yaml:2"), path);
    BOOST_TEST(contains(path, "http.allowed_origins"), path);
    BOOST_TEST(contains(path, "entry 1: 'https://ui.example/app' has a path"), path);
    BOOST_TEST(contains(message_for("http:\n  allowed_hosts: http://x\n"), "expected a list of strings"));
    try {
        load_settings(std::nullopt, environment_overrides({{"RAYDEPLOY_HTTP_ALLOWED_ORIGINS", "https://a.example, *"}}), {});
        BOOST_ERROR("a wildcard origin was accepted");
    } catch (const config_error& e) {
        BOOST_TEST(contains(e.what(), "RAYDEPLOY_HTTP_ALLOWED_ORIGINS: entry 2: '*'"), e.what());
    }
}

BOOST_AUTO_TEST_SUITE_END()
