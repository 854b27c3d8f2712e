// Suite web_ui: the WebUI and the API reference page as the running binary serves them — public,
// compressed once at build time, cached by content hash, and under a Content-Security-Policy that
// lets no inline script and no other host in. Also GET /api/v1/whoami, which the UI's buttons follow.
#include "support/test_support.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <regex>

using namespace raydeploy::test;
namespace json = boost::json;

namespace {

std::string header(const response& res, std::string_view name) { return std::string{res[name]}; }
bool contains(std::string_view text, std::string_view needle) { return text.find(needle) != std::string_view::npos; }

// The /assets/... files a page loads (script src, link href), as paths from the root: the pages
// are /, /docs, so "assets/x" and "/assets/x" name the same file.
std::vector<std::string> assets_of(const std::string& page)
{
    std::vector<std::string> found;
    static const std::regex reference{R"re((?:src|href)="/?(assets/[^"]+)")re"};
    for (auto it = std::sregex_iterator(page.begin(), page.end(), reference); it != std::sregex_iterator(); ++it)
        found.push_back("/" + (*it)[1].str());
    return found;
}

// The directive's value in a Content-Security-Policy ("script-src 'self'" -> "'self'").
std::string directive(const std::string& policy, std::string_view name)
{
    const std::regex pattern{"(?:^|;)\\s*" + std::string{name} + "\\s+([^;]*)"};
    std::smatch match;
    return std::regex_search(policy, match, pattern) ? match[1].str() : std::string{};
}

void check_page_headers(const response& res)
{
    BOOST_TEST(res.result_int() == 200, res.body());
    BOOST_TEST(header(res, "Content-Type") == "text/html; charset=utf-8");
    BOOST_TEST(header(res, "Cache-Control") == "no-cache");
    BOOST_TEST(header(res, "X-Content-Type-Options") == "nosniff");
    BOOST_TEST(header(res, "Referrer-Policy") == "no-referrer");
    BOOST_TEST(header(res, "X-Frame-Options") == "DENY");
    const std::string policy = header(res, "Content-Security-Policy");
    BOOST_TEST(directive(policy, "script-src") == "'self'", policy);
    BOOST_TEST(directive(policy, "default-src") == "'self'", policy);
    BOOST_TEST(directive(policy, "connect-src") == "'self'", policy);
    BOOST_TEST(directive(policy, "frame-ancestors") == "'none'", policy);
    BOOST_TEST(std::regex_match(header(res, "ETag"), std::regex{R"("[0-9a-f]{20}")"}), header(res, "ETag"));
}

// Every <script> loads a file of this service: none is inline, none comes from another host.
void check_scripts_are_own_files(const std::string& page)
{
    static const std::regex script_tag{R"(<script\b([^>]*)>([\s\S]*?)</script>)"};
    int scripts = 0;
    for (auto it = std::sregex_iterator(page.begin(), page.end(), script_tag); it != std::sregex_iterator(); ++it) {
        ++scripts;
        const std::string attributes = (*it)[1].str();
        BOOST_TEST(std::regex_search(attributes, std::regex{R"(src="/?assets/)"}), attributes);
        BOOST_TEST((*it)[2].str().empty(), "inline script: " + (*it)[2].str());
    }
    BOOST_TEST(scripts >= 1);
    BOOST_TEST(!contains(page, "http://"));
    BOOST_TEST(!contains(page, "https://"));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(web_ui)

BOOST_AUTO_TEST_CASE(pages_are_public_with_a_strict_policy_and_load_only_their_own_scripts)
{
    const auto viewer = make_identity("vera", "viewer");
    service_options options;
    options.env["RAYDEPLOY_AUTH_TOKENS"] = viewer.env_entry();
    service_process service{options};

    for (const char* page : {"/", "/docs"}) {
        BOOST_TEST_CONTEXT(page)
        {
            const auto res = http_request(service.port(), http::verb::get, page);  // no token
            check_page_headers(res);
            check_scripts_are_own_files(res.body());
            for (const auto& asset : assets_of(res.body()))
                BOOST_TEST(http_request(service.port(), http::verb::get, asset).result_int() == 200, asset);
        }
    }
    // The API behind the page is not public for all that.
    BOOST_TEST(http_request(service.port(), http::verb::get, "/api/v1/checkpoints").result_int() == 401);
}

BOOST_AUTO_TEST_CASE(assets_are_immutable_compressed_once_and_revalidated_by_etag)
{
    service_process service;
    const auto page = http_request(service.port(), http::verb::get, "/");
    const auto assets = assets_of(page.body());
    BOOST_TEST_REQUIRE(!assets.empty(), page.body());

    for (const auto& asset : assets) {
        BOOST_TEST_CONTEXT(asset)
        {
            const auto plain = http_request(service.port(), http::verb::get, asset);
            BOOST_TEST(plain.result_int() == 200);
            BOOST_TEST(header(plain, "Cache-Control") == "public, max-age=31536000, immutable");
            BOOST_TEST(header(plain, "Content-Encoding").empty());
            BOOST_TEST(header(plain, "Vary") == "Accept-Encoding");
            BOOST_TEST(header(plain, "X-Content-Type-Options") == "nosniff");

            const auto packed = http_request(service.port(), http::verb::get, asset, {}, {{"Accept-Encoding", "br, gzip"}});
            BOOST_TEST(header(packed, "Content-Encoding") == "gzip");
            BOOST_TEST(packed.body().size() < plain.body().size());
            BOOST_TEST(packed.body().rfind("\x1f\x8b", 0) == 0u, "not a gzip stream");
            // Each representation has its own strong validator.
            BOOST_TEST(header(packed, "ETag") != header(plain, "ETag"));

            // A client that refuses gzip gets the plain file.
            const auto refused = http_request(service.port(), http::verb::get, asset, {}, {{"Accept-Encoding", "gzip;q=0"}});
            BOOST_TEST(header(refused, "Content-Encoding").empty());

            const auto again = http_request(service.port(), http::verb::get, asset, {}, {{"If-None-Match", header(plain, "ETag")}});
            BOOST_TEST(again.result_int() == 304);
            BOOST_TEST(again.body().empty());
            BOOST_TEST(header(again, "ETag") == header(plain, "ETag"));
        }
    }

    const auto page_again = http_request(service.port(), http::verb::get, "/", {}, {{"If-None-Match", header(page, "ETag")}});
    BOOST_TEST(page_again.result_int() == 304);
    const auto changed = http_request(service.port(), http::verb::get, "/", {}, {{"If-None-Match", "\"0000000000\""}});
    BOOST_TEST(changed.result_int() == 200);

    // HEAD: the GET answer's headers and no body (raw, since a response parser would wait for one).
    const std::string head = raw_exchange(service.port(), "HEAD / HTTP/1.1\r\nHost: 127.0.0.1:" +
                                                              std::to_string(service.port()) +
                                                              "\r\nConnection: close\r\n\r\n");
    BOOST_TEST(head.starts_with("HTTP/1.1 200"), head);
    BOOST_TEST(contains(head, "Content-Length: " + std::to_string(page.body().size()) + "\r\n"), head);
    BOOST_TEST(head.ends_with("\r\n\r\n"), head);
}

BOOST_AUTO_TEST_CASE(an_asset_of_another_build_is_a_404_that_says_to_reload)
{
    service_process service;
    const auto res = http_request(service.port(), http::verb::get, "/assets/app-00000000.js");
    BOOST_TEST(res.result_int() == 404);
    BOOST_TEST(error_field_of(res) == "ASSET_NOT_FOUND");
    BOOST_TEST(contains(res.body(), "reload the page"), res.body());
    BOOST_TEST(header(res, "X-Content-Type-Options") == "nosniff");
    // Nothing outside the embedded files is reachable through the asset route.
    for (const char* target : {"/assets/..%2Fopenapi.yaml", "/assets/%2E%2E", "/assets/", "/index.html"})
        BOOST_TEST(http_request(service.port(), http::verb::get, target).result_int() == 404, target);
}

BOOST_AUTO_TEST_CASE(whoami_names_the_caller_and_their_role)
{
    {
        service_process open;
        const auto res = http_request(open.port(), http::verb::get, "/api/v1/whoami");
        BOOST_TEST(res.result_int() == 200);
        BOOST_TEST(json::parse(res.body()) == json::parse(R"({"name":"local","person":"local","role":"admin","open_mode":true})"));
    }
    const auto approver = make_identity("alice-laptop", "approver");
    service_options options;
    options.env["RAYDEPLOY_AUTH_TOKENS"] = approver.env_entry();
    service_process service{options};
    const auto res = http_request(service.port(), http::verb::get, "/api/v1/whoami", {},
                                  {{"Authorization", "Bearer " + approver.token}});
    BOOST_TEST(res.result_int() == 200, res.body());
    const auto body = json::parse(res.body());
    BOOST_TEST(body.at("name").as_string() == "alice-laptop");
    BOOST_TEST(body.at("role").as_string() == "approver");
    BOOST_TEST(body.at("open_mode").as_bool() == false);
    BOOST_TEST(!contains(res.body(), approver.token));
    BOOST_TEST(http_request(service.port(), http::verb::get, "/api/v1/whoami").result_int() == 401);
}

BOOST_AUTO_TEST_SUITE_END()
