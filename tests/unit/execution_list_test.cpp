// Suite execution_list: the first pages of GET /api/v1/executions that pollers get from memory,
// through the real route on an engine over a private database. The cache holds what the handler
// parsed, not the query as sent: parameters it does not read and later pages (a cursor) add no
// entry, distinct filters hold at most 16 pages, and a kept page answers 304 until an execution
// changes, then the new list, and is dropped.
#include "raydeploy/api/routes.hpp"
#include "raydeploy/engine/execution_manager.hpp"
#include "raydeploy/http/server.hpp"

#include "support/engine_ground.hpp"

#include <boost/test/unit_test.hpp>

using namespace raydeploy;
using namespace std::chrono_literals;
using test::temp_dir;
namespace json = boost::json;

namespace {

using ids = std::vector<std::string>;

struct list_fixture : test::engine_ground {
    std::shared_ptr<api::service_state> state = make_state();
    std::shared_ptr<web::http_server> server = make_server();

    std::shared_ptr<api::service_state> make_state()
    {
        dir.write_file("site.yml", "- hosts: all\n  tasks: []\n");
        const auto catalog = dir.write_file("catalog.yaml", "checkpoints:\n"
                                                            "  - name: build\n"
                                                            "    playbook: site.yml\n"
                                                            "    description: Builds.\n"
                                                            "    timeout: 1m\n"
                                                            "    vars:\n"
                                                            "      greeting: {type: string, description: Said.}\n");
        auto made = std::make_shared<api::service_state>(load_catalog(catalog));
        engine_settings settings;
        settings.runs_dir = dir.path() / "runs";
        // No runner for any kind: every run fails at once, and a list needs no more.
        made->executions = std::make_shared<execution_manager>(io.get_executor(), made->catalog, *db, events,
                                                               std::move(settings), runner_registry{});
        return made;
    }

    // The execution routes alone; "Bearer operator" calls as an operator, anything else as a viewer.
    std::shared_ptr<web::http_server> make_server()
    {
        web::router routes;
        api::add_execution_routes(routes, state);
        routes.set_authenticator([](const web::request& req, bool) -> auth_result {
            identity caller;
            caller.name = req[http::field::authorization] == "Bearer operator" ? "otto" : "vera";
            caller.level = caller.name == "otto" ? role::operator_ : role::viewer;
            return caller;
        });
        return web::http_server::create(io.get_executor(), std::move(routes), {}, {"127.0.0.1", 0});
    }

    // Runs `build` with the variable `greeting` until it has ended; returns its id.
    std::string run(std::string greeting)
    {
        execution_params params;
        params.extra_vars["greeting"] = greeting;
        const std::string id = state->executions->start("build", std::move(params)).id;
        BOOST_TEST_REQUIRE(run_until([&] { return !state->executions->is_active(id); }),
                           "the execution did not end within 10 s");
        return id;
    }

    test::response get(std::string_view target, const std::map<std::string, std::string>& headers = {})
    {
        return test::handle_in_process(*server, test::make_request(http::verb::get, target, {}, headers));
    }

    std::size_t kept() const { return state->execution_pages->size(); }
};

std::string etag_of(const test::response& res) { return std::string{res[http::field::etag]}; }

ids ids_of(const test::response& res)
{
    ids out;
    const json::object body = test::json_object_of(res);
    for (const auto& item : body.at("executions").as_array()) out.push_back(test::text(item.as_object(), "execution_id"));
    return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(execution_list)

BOOST_AUTO_TEST_CASE(parameters_the_list_does_not_read_and_later_pages_add_no_entry)
{
    list_fixture f;
    const std::string oldest = f.run("a");
    const std::string middle = f.run("b");
    const std::string newest = f.run("c");

    const auto first = f.get("/api/v1/executions?limit=500");
    BOOST_TEST_REQUIRE(first.result_int() == 200, first.body());
    BOOST_TEST(ids_of(first) == (ids{newest, middle, oldest}), boost::test_tools::per_element());
    BOOST_TEST(f.kept() == 1u);

    // A viewer that varies what the handler does not read: an unknown parameter, the order, a
    // second `limit` (the first one counts), a parameter without a value.
    std::vector<std::string> spellings;
    for (int i = 0; i < 100; ++i) spellings.push_back("/api/v1/executions?limit=500&x=" + std::to_string(i));
    for (const std::string other : {"?x=1&limit=500", "?limit=500&limit=7", "?limit=500&x", "?limit=500&"})
        spellings.push_back("/api/v1/executions" + other);
    for (const auto& target : spellings) {
        const auto res = f.get(target);
        BOOST_TEST(res.result_int() == 200, target << ": " << res.body());
        BOOST_TEST(etag_of(res) == etag_of(first), target);
        BOOST_TEST(res.body() == first.body(), target);
    }
    BOOST_TEST(f.kept() == 1u, "one filter, " << f.kept() << " pages kept");

    // One time bound in three spellings is one filter.
    for (const std::string bound : {"2026-03-01T12:00:00Z", "2026-03-01T12:00:00.000Z", "2026-03-01T13:00:00.000%2B01:00"})
        BOOST_TEST(f.get("/api/v1/executions?created_before=" + bound).result_int() == 200, bound);
    BOOST_TEST(f.kept() == 2u);

    // Walking back with a cursor, again and again, keeps nothing.
    const auto one = f.get("/api/v1/executions?limit=1");
    BOOST_TEST_REQUIRE(test::json_object_of(one).at("next_cursor").is_string(), one.body());
    BOOST_TEST(f.kept() == 3u);
    const std::string later = "/api/v1/executions?limit=1&cursor=" + test::text(test::json_object_of(one).at("next_cursor"));
    for (int i = 0; i < 50; ++i) {
        const auto res = f.get(later + "&x=" + std::to_string(i));
        BOOST_TEST(res.result_int() == 200, res.body());
        BOOST_TEST(ids_of(res) == (ids{middle}), boost::test_tools::per_element());
    }
    BOOST_TEST(f.kept() == 3u, "later pages kept: " << f.kept() - 3);

    // A later page is built for each request, and still validated.
    const auto page = f.get(later);
    BOOST_TEST_REQUIRE(!etag_of(page).empty());
    BOOST_TEST(page[http::field::cache_control] == "no-cache");
    const auto again = f.get(later, {{"If-None-Match", etag_of(page)}});
    BOOST_TEST(again.result_int() == 304);
    BOOST_TEST(again.body().empty());
    BOOST_TEST(etag_of(again) == etag_of(page));
}

BOOST_AUTO_TEST_CASE(distinct_filters_hold_at_most_16_pages_and_answers_stay_right)
{
    list_fixture f;
    const std::string id = f.run("a");
    std::size_t most = 0;
    for (int i = 0; i < 100; ++i) {
        const auto res = f.get("/api/v1/executions?limit=500&checkpoint=other-" + std::to_string(i));
        BOOST_TEST(res.result_int() == 200, res.body());
        BOOST_TEST(ids_of(res).empty());
        most = std::max(most, f.kept());
    }
    BOOST_TEST(most <= 16u);
    // Forgetting a page costs its next request a query, never a wrong answer.
    BOOST_TEST(ids_of(f.get("/api/v1/executions?checkpoint=build")) == (ids{id}), boost::test_tools::per_element());
    BOOST_TEST(ids_of(f.get("/api/v1/executions?checkpoint=other-0")).empty());
}

BOOST_AUTO_TEST_CASE(a_kept_page_answers_304_until_an_execution_is_created_then_the_new_list)
{
    list_fixture f;
    const std::string older = f.run("a");
    const auto before = f.get("/api/v1/executions");
    BOOST_TEST_REQUIRE(before.result_int() == 200, before.body());
    const std::string etag = etag_of(before);
    BOOST_TEST_REQUIRE(!etag.empty());
    BOOST_TEST(ids_of(before) == (ids{older}), boost::test_tools::per_element());

    const auto unchanged = f.get("/api/v1/executions", {{"If-None-Match", etag}});
    BOOST_TEST(unchanged.result_int() == 304);
    BOOST_TEST(unchanged.body().empty());
    BOOST_TEST(etag_of(unchanged) == etag);

    const std::string newer = f.run("b");
    const auto after = f.get("/api/v1/executions", {{"If-None-Match", etag}});
    BOOST_TEST_REQUIRE(after.result_int() == 200, after.body());
    BOOST_TEST(ids_of(after) == (ids{newer, older}), boost::test_tools::per_element());
    BOOST_TEST(etag_of(after) != etag);
    BOOST_TEST(f.get("/api/v1/executions", {{"If-None-Match", etag_of(after)}}).result_int() == 304);
    // The page of the list before is of no more use: not held until the cache is full.
    BOOST_TEST(f.kept() == 1u);
}

BOOST_AUTO_TEST_CASE(viewers_never_get_the_page_kept_for_an_operator)
{
    list_fixture f;
    f.run("hello");
    const auto greeting = [](const test::response& res) {
        const json::object body = test::json_object_of(res);
        const auto& item = body.at("executions").as_array().at(0).as_object();
        return test::text(test::object_at(test::object_at(item, "params"), "extra_vars"), "greeting");
    };
    BOOST_TEST(greeting(f.get("/api/v1/executions", {{"Authorization", "Bearer operator"}})) == "hello");
    BOOST_TEST(greeting(f.get("/api/v1/executions")) == "***");
    BOOST_TEST(greeting(f.get("/api/v1/executions", {{"Authorization", "Bearer operator"}})) == "hello");
    BOOST_TEST(f.kept() == 2u);
}

BOOST_AUTO_TEST_SUITE_END()
