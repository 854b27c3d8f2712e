// Suite service_lifecycle (part 3): the command line of the real binary: version, help, checkpoints.
#include "support/test_support.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <regex>
#include <sstream>

using namespace raydeploy::test;
namespace json = boost::json;

namespace {

constexpr int exit_usage = 2;

const std::vector<std::string> repository_checkpoint_names = {
    "prerequisites-check", "docker-installation", "cleanup-existing",
    "ray-deployment",      "monitoring-deployment", "final-validation"};

bool contains(const std::string& text, std::string_view needle) { return text.find(needle) != std::string::npos; }

std::string catalog_flag() { return (source_dir() / "playbooks" / "checkpoints.yaml").string(); }

// The line of a table that mentions `name` as a whole word; empty when there is none.
std::string table_row(const std::string& table, const std::string& name)
{
    std::istringstream lines{table};
    for (std::string line; std::getline(lines, line);)
        if (contains(line, " " + name + " ")) return line;
    return {};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(service_lifecycle)

BOOST_AUTO_TEST_CASE(cli_version)
{
    const auto result = run_cli({"--version"});
    BOOST_TEST(result.exit_code == 0, result.err);
    BOOST_TEST(std::regex_match(result.out, std::regex{"raydeploy [0-9]+\\.[0-9]+\\.[0-9]+\n"}), result.out);
}

BOOST_AUTO_TEST_CASE(cli_help)
{
    const auto global = run_cli({"--help"});
    BOOST_TEST(global.exit_code == 0, global.err);
    for (const auto* word : {"Usage: raydeploy COMMAND", "serve", "checkpoints", "--version"})
        BOOST_TEST(contains(global.out, word), "'" << word << "' not in:\n" << global.out);

    const auto serve = run_cli({"serve", "--help"});
    BOOST_TEST(serve.exit_code == 0, serve.err);
    for (const auto* flag : {"--config", "--listen", "--state-dir", "--catalog", "--inventory", "--log-level",
                             "--log-format", "--check-config", "RAYDEPLOY_LISTEN", "RAYDEPLOY_HTTP_BODY_LIMIT"})
        BOOST_TEST(contains(serve.out, flag), "'" << flag << "' not in:\n" << serve.out);

    const auto checkpoints = run_cli({"checkpoints", "--help"});
    BOOST_TEST(checkpoints.exit_code == 0, checkpoints.err);
    BOOST_TEST(contains(checkpoints.out, "--format"), checkpoints.out);
}

BOOST_AUTO_TEST_CASE(cli_checkpoints_table)
{
    const auto result = run_cli({"checkpoints", "--catalog", catalog_flag()});
    BOOST_TEST_REQUIRE(result.exit_code == 0, result.err);
    std::size_t previous = 0;
    for (const auto& name : repository_checkpoint_names) {
        const auto at = result.out.find(name);
        BOOST_TEST(at != std::string::npos, name << " not in:\n" << result.out);
        BOOST_TEST(at >= previous, name << " is out of catalog order");  // listed in catalog order
        previous = at == std::string::npos ? previous : at;
    }
    // The approval and destructive flags show per row.
    const std::string cleanup = table_row(result.out, "cleanup-existing");
    BOOST_TEST(contains(cleanup, "required"), cleanup);
    BOOST_TEST(contains(cleanup, "YES"), cleanup);
    const std::string docker = table_row(result.out, "docker-installation");
    BOOST_TEST(contains(docker, "required"), docker);
    BOOST_TEST(!contains(docker, "YES"), docker);
    const std::string prerequisites = table_row(result.out, "prerequisites-check");
    BOOST_TEST(!contains(prerequisites, "required"), prerequisites);
    BOOST_TEST(!contains(prerequisites, "YES"), prerequisites);
}

BOOST_AUTO_TEST_CASE(cli_checkpoints_json_is_the_api_document)
{
    const auto result = run_cli({"checkpoints", "--catalog", catalog_flag(), "--format", "json"});
    BOOST_TEST_REQUIRE(result.exit_code == 0, result.err);
    const json::value from_cli = parse_json(result.out);

    service_process service;
    const json::value from_api = parse_json(http_get(service.port(), "/api/v1/checkpoints").body());
    BOOST_TEST(from_cli == from_api, "CLI:\n" << result.out << "API:\n" << json::serialize(from_api));
    BOOST_TEST(from_cli.at("checkpoints").as_array().size() == repository_checkpoint_names.size());
}

BOOST_AUTO_TEST_CASE(cli_usage_errors_exit_2)
{
    const auto xml = run_cli({"checkpoints", "--catalog", catalog_flag(), "--format", "xml"});
    BOOST_TEST(xml.exit_code == exit_usage, xml.err);
    BOOST_TEST(contains(xml.err, "xml"), xml.err);
    BOOST_TEST(xml.out.empty(), xml.out);

    const auto unknown = run_cli({"deploy-everything"});
    BOOST_TEST(unknown.exit_code == exit_usage, unknown.err);
    BOOST_TEST(contains(unknown.err, "unknown command 'deploy-everything'"), unknown.err);

    const auto nothing = run_cli({});
    BOOST_TEST(nothing.exit_code == exit_usage, nothing.err);
    BOOST_TEST(contains(nothing.err, "Usage:"), nothing.err);

    temp_dir dir;
    const auto bad_catalog = run_cli({"checkpoints", "--catalog", (dir.path() / "absent.yaml").string()});
    BOOST_TEST(bad_catalog.exit_code == exit_usage, bad_catalog.err);
    BOOST_TEST(contains(bad_catalog.err, "absent.yaml"), bad_catalog.err);
}

BOOST_AUTO_TEST_SUITE_END()
