// Route matching and the error answers of the HTTP layer (no sockets involved).
#include "raydeploy/api/routes.hpp"
#include "raydeploy/auth/tokens.hpp"
#include "raydeploy/http/response_cache.hpp"
#include "raydeploy/http/router.hpp"
#include "raydeploy/http/server.hpp"
#include "raydeploy/util/utf8.hpp"
#include "raydeploy/util/version.hpp"
#include "raydeploy/store/sqlite.hpp"
#include "raydeploy/store/state_store.hpp"
#include "support/faulty_vfs.hpp"
#include "support/test_support.hpp"

#include <boost/test/unit_test.hpp>

#include <sqlite3.h>

#include <sstream>

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
raydeploy::test::response exchange(web::http_server& server, http::verb method, std::string target,
                       std::optional<std::string> authorization = std::nullopt)
{
    web::request req{method, target, 11};
    req.set(http::field::host, "127.0.0.1");
    if (method == http::verb::post) req.set(http::field::content_type, "application/json");
    if (authorization) req.set(http::field::authorization, *authorization);
    return raydeploy::test::handle_in_process(server, req);
}

json::value body_of(const raydeploy::test::response& res) { return json::parse(res.body()); }

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

BOOST_AUTO_TEST_CASE(a_literal_segment_wins_over_a_parameter)
{
    // Registered in either order, /things/add belongs to the literal route only: a DELETE of it is
    // 405 (Allow: POST), never a delete of a thing called "add".
    for (const bool literal_first : {true, false}) {
        BOOST_TEST_CONTEXT("literal route registered " << (literal_first ? "first" : "last"))
        {
            web::router routes;
            if (literal_first) routes.add(http::verb::post, "/things/add", std::nullopt, answer("add"));
            routes.add(http::verb::delete_, "/things/{id}", std::nullopt, answer("delete"));
            routes.add(http::verb::get, "/things/{id}/log", std::nullopt, answer("log"));
            if (!literal_first) routes.add(http::verb::post, "/things/add", std::nullopt, answer("add"));

            const auto add = routes.match(http::verb::delete_, {"things", "add"});
            BOOST_TEST(add.result == web::router::outcome::method_not_allowed);
            BOOST_TEST(web::allow_header(add.allowed) == "POST");
            BOOST_TEST(routes.match(http::verb::post, {"things", "add"}).result == web::router::outcome::found);

            const auto other = routes.match(http::verb::delete_, {"things", "x1"});
            BOOST_TEST(other.result == web::router::outcome::found);
            BOOST_TEST(other.params.at("id") == "x1");
            // Deeper paths are matched on their own: "add" is an id there.
            BOOST_TEST(routes.match(http::verb::get, {"things", "add", "log"}).result == web::router::outcome::found);
        }
    }
}

BOOST_AUTO_TEST_CASE(a_decoded_slash_is_part_of_its_segment)
{
    // "/api%2Fv1/things" decodes to two segments, "api/v1" and "things": they spell the path of
    // the three-segment literal route, which they must not match.
    web::router routes;
    routes.add(http::verb::get, "/api/v1/things", std::nullopt, answer("list"));
    routes.add(http::verb::get, "/{group}/things", std::nullopt, answer("group"));
    const auto encoded = routes.match(http::verb::get, {"api/v1", "things"});
    BOOST_TEST(encoded.result == web::router::outcome::found);
    BOOST_TEST(encoded.matched->pattern == "/{group}/things");
    BOOST_TEST(encoded.params.at("group") == "api/v1");
    BOOST_TEST(routes.match(http::verb::get, {"api", "v1", "things"}).matched->pattern == "/api/v1/things");
    BOOST_TEST(routes.match(http::verb::get, {"api", "v1/things"}).result == web::router::outcome::not_found);
}

BOOST_AUTO_TEST_CASE(the_root_pattern_matches_only_the_root)
{
    web::router routes;
    routes.add(http::verb::get, "/", std::nullopt, answer("page"));
    routes.add(http::verb::get, "/docs", std::nullopt, answer("docs"));

    BOOST_TEST(routes.match(http::verb::get, {}).result == web::router::outcome::found);
    BOOST_TEST(routes.match(http::verb::get, {}).matched->pattern == "/");
    BOOST_TEST(routes.match(http::verb::get, {""}).result == web::router::outcome::not_found);
    BOOST_TEST(routes.match(http::verb::get, {"docs"}).matched->pattern == "/docs");
    BOOST_TEST(routes.match(http::verb::get, {"other"}).result == web::router::outcome::not_found);
}

BOOST_AUTO_TEST_CASE(a_request_that_cannot_write_the_state_database_gets_503_and_keeps_nothing)
{
    raydeploy::test::faulty_vfs disk;  // before the database, which opens through it
    raydeploy::test::temp_dir dir;
    auto db = open_database(dir.path() / "state.db");
    db->exec("CREATE TABLE things (name TEXT NOT NULL)");
    net::io_context io;
    web::router routes;
    api::add_route(routes, http::verb::post, "/things", std::nullopt,
                   [&db](web::request_context&) -> net::awaitable<web::response> {
                       sqlite::transaction tx{*db};
                       db->prepare("INSERT INTO things (name) VALUES ('a')").step();
                       db->prepare("INSERT INTO things (name) VALUES ('b')").step();
                       tx.commit();
                       co_return web::text_response(http::status::created, "stored", "text/plain");
                   });
    api::add_route(routes, http::verb::get, "/broken", std::nullopt,
                   [&db](web::request_context&) -> net::awaitable<web::response> {
                       db->prepare("SELECT * FROM no_such_table").step();
                       co_return web::response{};
                   });
    auto server = web::http_server::create(io.get_executor(), std::move(routes), {}, {"127.0.0.1", 0});
    const auto stored = [&db] {
        auto count = db->prepare("SELECT count(*) FROM things");
        count.step();
        return count.column_int(0);
    };

    const std::pair<int, std::string_view> refusals[] = {{SQLITE_FULL, "is full"},
                                                          {SQLITE_IOERR_WRITE, "failed a read or write"}};
    for (const auto& [refusal, says] : refusals) {
        BOOST_TEST_CONTEXT("writes fail with " << sqlite3_errstr(refusal))
        {
            disk.fail_writes(raydeploy::test::faulty_vfs::file_kind::wal, refusal);
            const auto refused = exchange(*server, http::verb::post, "/things");
            BOOST_TEST(refused.result() == http::status::service_unavailable);
            BOOST_TEST(body_of(refused).at("error") == "STORAGE_UNAVAILABLE");
            BOOST_TEST(body_of(refused).at("message").as_string().find(says) != std::string::npos);
            BOOST_TEST(refused[http::field::retry_after] == "10");
            BOOST_TEST(stored() == 0);  // neither row
            disk.heal();
        }
    }
    BOOST_TEST(exchange(*server, http::verb::post, "/things").result() == http::status::created);
    BOOST_TEST(stored() == 2);
    // Any other SQLite error is the service's own fault: 500, as before.
    BOOST_TEST(exchange(*server, http::verb::get, "/broken").result() == http::status::internal_server_error);
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
    BOOST_TEST(exchange(*server, http::verb::get, "/items/%C3%A9").body() == "\xC3\xA9");
}

BOOST_AUTO_TEST_CASE(bytes_that_are_not_utf8_reach_handlers_and_error_bodies_percent_encoded)
{
    net::io_context io;
    web::router routes;
    api::add_route(routes, http::verb::get, "/items/{name}", std::nullopt,
                   [](web::request_context& ctx) -> net::awaitable<web::response> {
                       throw api::api_error{http::status::not_found, "ITEM_NOT_FOUND",
                                            "no item '" + ctx.path_param("name") + "' (filter '" +
                                                ctx.query("filter").value_or("") + "')"};
                       co_return web::response{};
                   });
    auto server = web::http_server::create(io.get_executor(), std::move(routes), {}, {"127.0.0.1", 0});
    const auto res = exchange(*server, http::verb::get, "/items/a%FFb?filter=%C0%AF");
    BOOST_TEST(res.result() == http::status::not_found);
    BOOST_TEST(is_utf8(res.body()), res.body());
    BOOST_TEST(body_of(res).at("message") == "no item 'a%FFb' (filter '%C0%AF')");

    // Whatever a handler or the transport puts in an error body comes out as UTF-8.
    const auto direct = web::error_response(http::status::bad_request, "BAD", "got '\xFF\xFE'",
                                            json::object{{"value", "\xE2\x82"}, {"list", json::array{"\x80"}}});
    BOOST_TEST(is_utf8(direct.body()), direct.body());
    const auto parsed = json::parse(direct.body().view());
    BOOST_TEST(parsed.at("message") == "got '%FF%FE'");
    BOOST_TEST(parsed.at("value") == "%E2%82");
    BOOST_TEST(parsed.at("list").at(0) == "%80");
}

BOOST_AUTO_TEST_CASE(utf8_is_checked_as_rfc_3629_defines_it)
{
    for (const std::string_view good : {"", "plain", "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80", "\xEF\xBF\xBF",
                                        "\xF4\x8F\xBF\xBF"}) {
        BOOST_TEST(is_utf8(good), good);
        BOOST_TEST(percent_encode_invalid_utf8(good) == good);
    }
    struct case_t {
        std::string_view bytes;
        std::string_view encoded;
    };
    const case_t bad[] = {
        {"\xFF", "%FF"},
        {"a\x80z", "a%80z"},                 // a lone continuation byte
        {"\xC0\xAF", "%C0%AF"},              // an overlong '/'
        {"\xE0\x80\xAF", "%E0%80%AF"},       // an overlong '/' in three bytes
        {"\xED\xA0\x80", "%ED%A0%80"},       // a surrogate
        {"\xF4\x90\x80\x80", "%F4%90%80%80"},  // above U+10FFFF
        {"\xE2\x82", "%E2%82"},              // cut short
        {"\xC3\xA9\xFF\xC3\xA9", "\xC3\xA9%FF\xC3\xA9"},
    };
    for (const auto& c : bad) {
        BOOST_TEST(!is_utf8(c.bytes), c.encoded);
        BOOST_TEST(percent_encode_invalid_utf8(c.bytes) == c.encoded);
        BOOST_TEST(is_utf8(percent_encode_invalid_utf8(c.bytes)));
    }
    BOOST_TEST(utf8_length("/caf\xC3\xA9") == 5u);
    BOOST_TEST(utf8_length("\xFF\xFE") == 2u);
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
            // The WebUI's pages and assets hold no data: public, like the health check and the spec.
            if (route.pattern == "/health" || route.pattern == "/openapi.yaml" || route.pattern == "/" ||
                route.pattern == "/docs" || route.pattern == "/assets/{asset}") {
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

// What a cached answer puts on the wire: the bytes of its own text, once per answer, without a
// copy per answer (every answer sends the same bytes, kept alive by the answers in flight).
BOOST_AUTO_TEST_CASE(cached_answers_share_one_text_that_outlives_the_cache)
{
    web::response_cache cache{1};
    const web::request req{http::verb::get, "/api/v1/executions", 11};
    int builds = 0;
    const auto build = [&builds] {
        ++builds;
        return json::value(json::object{{"executions", json::array{"a", "b"}}});
    };
    web::response first = cache.get(req, "page", build);
    const web::response second = cache.get(req, "page", build);
    BOOST_TEST(builds == 1);
    BOOST_TEST(first.body() == R"({"executions":["a","b"]})" "\n");
    BOOST_TEST(first.body().view().data() == second.body().view().data());  // one text, two answers

    // A new state drops the kept answer; one still being written keeps its text.
    (void)cache.get(req, "another page", build);
    BOOST_TEST(cache.size() == 1u);
    first.prepare_payload();
    std::ostringstream wire;
    wire << first;
    const std::string sent = wire.str();
    BOOST_TEST(sent.find("Content-Length: 25\r\n") != std::string::npos, sent);
    BOOST_TEST(sent.substr(sent.size() - 25) == R"({"executions":["a","b"]})" "\n");

    // Changing a shared answer changes a copy of its own, never the text the others send.
    first.body() += "more";
    BOOST_TEST(first.body() == R"({"executions":["a","b"]})" "\nmore");
    BOOST_TEST(second.body() == R"({"executions":["a","b"]})" "\n");
    BOOST_TEST(first.body().view().data() != second.body().view().data());
    first.body().clear();
    BOOST_TEST(first.body().empty());
}

// The server writes the header text and the body where Beast's serializer wrote the message: the bytes
// on the wire must be the same.
BOOST_AUTO_TEST_CASE(the_header_text_is_what_beasts_serializer_writes)
{
    const auto wire_of = [](web::response res) {
        std::ostringstream out;
        out << res;
        return out.str();
    };
    const auto check = [&wire_of](web::response res) {
        res.prepare_payload();
        std::string head = "left from an earlier answer";
        web::write_header_text(head, res);
        BOOST_TEST(head + std::string{res.body().view()} == wire_of(res));
        // The fields of every answer come after the answer's own, as if set last.
        web::write_header_text(head, res, web::every_answer_fields());
        res.set(http::field::server, std::string{raydeploy::product_token()});
        res.set("X-Content-Type-Options", "nosniff");
        res.set("Referrer-Policy", "no-referrer");
        BOOST_TEST(head + std::string{res.body().view()} == wire_of(res));
    };
    check(web::json_response(http::status::ok, json::object{{"status", "ok"}}));
    auto closing = web::error_response(http::status::service_unavailable, "BUSY", "try again");
    closing.keep_alive(false);
    closing.set(http::field::retry_after, "5");
    check(std::move(closing));
    web::response not_modified{http::status::not_modified, 11};
    not_modified.set(http::field::etag, "\"abc\"");
    check(std::move(not_modified));
    web::response old_client{http::status::ok, 10};
    old_client.keep_alive(true);
    old_client.body() = "text";
    check(std::move(old_client));
    web::response unusual{http::status::ok, 11};
    unusual.reason("Fine");
    unusual.set("X-Custom", "a value");
    check(std::move(unusual));
}

BOOST_AUTO_TEST_SUITE_END()
