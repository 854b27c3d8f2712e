// Route matching and the error answers of the HTTP layer (no sockets involved).
#include "raydeploy/api/routes.hpp"
#include "raydeploy/auth/tokens.hpp"
#include "raydeploy/http/router.hpp"
#include "raydeploy/http/server.hpp"
#include "support/test_support.hpp"

#include <boost/test/unit_test.hpp>

using namespace raydeploy;

BOOST_TEST_DONT_PRINT_LOG_VALUE(web::router::outcome)


namespace {

web::handler answer(std::string text)
{
    return [text](web::request_context&) -> net::awaitable<web::response> {
        co_return web::text_response(http::status::ok, text, "text/plain");
    };
}

// Runs one request through a server's handle() on a private io_context.
web::response exchange(web::http_server& server, http::verb method, std::string target,
                       std::optional<std::string> authorization = std::nullopt)
{
    web::request req{method, target, 11};
    req.set(http::field::host, "127.0.0.1");
    if (method == http::verb::post) req.set(http::field::content_type, "application/json");
    if (authorization) req.set(http::field::authorization, *authorization);
    return raydeploy::test::handle_in_process(server, req);
}

json::value body_of(const web::response& res) { return json::parse(res.body()); }

}  // namespace

BOOST_AUTO_TEST_SUITE(router)

BOOST_AUTO_TEST_CASE(matches_literals_and_parameters)
{
    web::router routes;
    routes.add(http::verb::get, "/api/v1/things", std::nullopt, answer("list"));
    routes.add(http::verb::get, "/api/v1/things/{name}", std::nullopt, answer("one"));
    routes.add(http::verb::post, "/api/v1/things/{name}", std::nullopt, answer("run"));

    auto list = routes.match(http::verb::get, {"api", "v1", "things"});
    BOOST_TEST(list.result == web::router::outcome::found);
    BOOST_TEST(list.matched->pattern == "/api/v1/things");

    auto one = routes.match(http::verb::post, {"api", "v1", "things", "a b"});
    BOOST_TEST(one.result == web::router::outcome::found);
    BOOST_TEST(one.params.at("name") == "a b");

    BOOST_TEST(routes.match(http::verb::get, {"api", "v1", "things", ""}).result == web::router::outcome::not_found);
    BOOST_TEST(routes.match(http::verb::get, {"api", "v1"}).result == web::router::outcome::not_found);
    BOOST_TEST(routes.match(http::verb::get, {"api", "v1", "things", "x", "y"}).result == web::router::outcome::not_found);

    auto wrong = routes.match(http::verb::delete_, {"api", "v1", "things", "x"});
    BOOST_TEST(wrong.result == web::router::outcome::method_not_allowed);
    BOOST_TEST(web::allow_header(wrong.allowed) == "GET, POST");
}

BOOST_AUTO_TEST_CASE(server_answers_errors_as_json)
{
    net::io_context io;
    web::router routes;
    routes.add(http::verb::get, "/ok", std::nullopt, answer("fine"));
    routes.add(http::verb::get, "/fails", std::nullopt, [](web::request_context&) -> net::awaitable<web::response> {
        throw std::runtime_error{"secret internal detail"};
        co_return web::response{};
    });
    // The api layer's wrapper answers its api_error; the transport alone would answer 500.
    api::add_route(routes, http::verb::get, "/refuses", std::nullopt,
                   [](web::request_context&) -> net::awaitable<web::response> {
                       throw api::api_error{http::status::conflict, "ALREADY_RUNNING", "it runs"};
                       co_return web::response{};
                   });
    auto server = web::http_server::create(io.get_executor(), std::move(routes), {}, {"127.0.0.1", 0});

    BOOST_TEST(exchange(*server, http::verb::get, "/ok").body() == "fine");

    auto missing = exchange(*server, http::verb::get, "/nowhere?x=1");
    BOOST_TEST(missing.result() == http::status::not_found);
    BOOST_TEST(body_of(missing).at("error") == "NOT_FOUND");
    BOOST_TEST(missing[http::field::content_type] == "application/json");

    auto wrong = exchange(*server, http::verb::put, "/ok");
    BOOST_TEST(wrong.result() == http::status::method_not_allowed);
    BOOST_TEST(wrong[http::field::allow] == "GET, HEAD, OPTIONS");
    BOOST_TEST(body_of(wrong).at("error") == "METHOD_NOT_ALLOWED");

    auto failed = exchange(*server, http::verb::get, "/fails");
    BOOST_TEST(failed.result() == http::status::internal_server_error);
    BOOST_TEST(body_of(failed).at("error") == "INTERNAL_ERROR");
    BOOST_TEST(failed.body().find("secret") == std::string::npos);  // details stay in the log

    auto refused = exchange(*server, http::verb::get, "/refuses");
    BOOST_TEST(refused.result() == http::status::conflict);
    BOOST_TEST(body_of(refused).at("message") == "it runs");

    auto bad_target = exchange(*server, http::verb::get, "/x/%zz");
    BOOST_TEST(bad_target.result() == http::status::bad_request);
    BOOST_TEST(body_of(bad_target).at("error") == "BAD_REQUEST");
}

BOOST_AUTO_TEST_CASE(percent_encoded_parameters_are_decoded)
{
    net::io_context io;
    web::router routes;
    routes.add(http::verb::get, "/items/{name}", std::nullopt,
               [](web::request_context& ctx) -> net::awaitable<web::response> {
                   co_return web::text_response(http::status::ok, ctx.path_param("name"), "text/plain");
               });
    auto server = web::http_server::create(io.get_executor(), std::move(routes), {}, {"127.0.0.1", 0});
    BOOST_TEST(exchange(*server, http::verb::get, "/items/a%20b").body() == "a b");
}

BOOST_AUTO_TEST_CASE(routes_check_the_caller_before_the_handler_runs)
{
    net::io_context io;
    web::router routes;
    int handled = 0;
    const auto who = [&handled](web::request_context& ctx) -> net::awaitable<web::response> {
        ++handled;
        co_return web::text_response(http::status::ok, ctx.caller.name, "text/plain");
    };
    routes.add(http::verb::get, "/public", std::nullopt, who);
    routes.add(http::verb::get, "/read", role::viewer, who);
    routes.add(http::verb::post, "/approve", role::approver, who);
    const std::string viewer_token = generate_token();
    const std::string approver_token = generate_token();
    const token_authenticator tokens{{{"vera", role::viewer, sha256_hex(viewer_token), ""},
                                      {"alice", role::approver, sha256_hex(approver_token), ""}}};
    routes.set_authenticator([tokens](const web::request& req, bool handshake) { return tokens.authenticate(req, handshake); });
    auto server = web::http_server::create(io.get_executor(), std::move(routes), {}, {"127.0.0.1", 0});

    BOOST_TEST(exchange(*server, http::verb::get, "/public").result() == http::status::ok);

    auto anonymous = exchange(*server, http::verb::get, "/read");
    BOOST_TEST(anonymous.result() == http::status::unauthorized);
    BOOST_TEST(body_of(anonymous).at("error") == "UNAUTHENTICATED");
    BOOST_TEST(anonymous[http::field::www_authenticate].starts_with("Bearer"));
    BOOST_TEST(exchange(*server, http::verb::get, "/read", "Bearer rdp_nope").result() == http::status::unauthorized);
    BOOST_TEST(handled == 1);  // only /public ran

    auto read = exchange(*server, http::verb::get, "/read", "Bearer " + viewer_token);
    BOOST_TEST(read.result() == http::status::ok);
    BOOST_TEST(read.body() == "vera");
    BOOST_TEST(exchange(*server, http::verb::head, "/read").result() == http::status::unauthorized);

    auto too_low = exchange(*server, http::verb::post, "/approve", "Bearer " + viewer_token);
    BOOST_TEST(too_low.result() == http::status::forbidden);
    const auto body = body_of(too_low).as_object();
    BOOST_TEST(body.at("error") == "FORBIDDEN");
    BOOST_TEST(body.at("required_role") == "approver");
    BOOST_TEST(body.at("message").as_string() ==
               "this needs the approver role; token 'vera' has viewer; use a token with that role or ask an admin "
               "for one");
    BOOST_TEST(handled == 2);

    auto approved = exchange(*server, http::verb::post, "/approve", "Bearer " + approver_token);
    BOOST_TEST(approved.result() == http::status::ok);
    BOOST_TEST(approved.body() == "alice");
    // A higher role includes the lower ones.
    BOOST_TEST(exchange(*server, http::verb::get, "/read", "Bearer " + approver_token).result() == http::status::ok);

    // Unknown paths and wrong methods answer as before, without asking for a token.
    BOOST_TEST(exchange(*server, http::verb::get, "/nowhere").result() == http::status::not_found);
    BOOST_TEST(exchange(*server, http::verb::delete_, "/approve").result() == http::status::method_not_allowed);
}

BOOST_AUTO_TEST_CASE(default_authenticator_is_open_mode)
{
    net::io_context io;
    web::router routes;
    routes.add(http::verb::post, "/admin-only", role::admin,
               [](web::request_context& ctx) -> net::awaitable<web::response> {
                   co_return web::text_response(http::status::ok,
                                                ctx.caller.name + (ctx.caller.open_mode ? " open" : ""), "text/plain");
               });
    auto server = web::http_server::create(io.get_executor(), std::move(routes), {}, {"127.0.0.1", 0});
    BOOST_TEST(exchange(*server, http::verb::post, "/admin-only").body() == "local open");
}

BOOST_AUTO_TEST_CASE(service_routes_declare_their_roles)
{
    auto state = std::make_shared<api::service_state>(
        load_catalog(std::filesystem::path{RAYDEPLOY_SOURCE_DIR} / "playbooks/checkpoints.yaml"));
    const web::router routes = api::make_router(state);
    for (const auto& route : routes.routes()) {
        const std::string name = std::string{http::to_string(route.method)} + " " + route.pattern;
        BOOST_TEST_CONTEXT(name)
        {
            if (route.pattern == "/health" || route.pattern == "/openapi.yaml") {
                BOOST_TEST(!route.access.has_value());
            } else if (route.pattern == "/api/v1/audit") {
                BOOST_TEST((route.access == role::admin));
            } else if (route.method == http::verb::get || route.pattern == "/api/v1/events/tickets") {
                // A ticket carries its holder's identity: whoever may read the events may get one.
                BOOST_TEST((route.access == role::viewer));
            } else if (route.pattern.starts_with("/api/v1/approvals")) {
                BOOST_TEST((route.access == role::approver));
            } else {
                BOOST_TEST((route.access == role::operator_));
            }
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()
