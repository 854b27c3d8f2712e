// The CLI as a library: exit codes and output of the commands that need no server.
#include "raydeploy/api/dto.hpp"
#include "raydeploy/cli/cli.hpp"

#include "support/test_support.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>

#include <sstream>

using raydeploy::test::run_cli_in_process;
using raydeploy::test::temp_dir;

namespace {



const std::string catalog_path = std::string{RAYDEPLOY_SOURCE_DIR} + "/playbooks/checkpoints.yaml";

}  // namespace

BOOST_AUTO_TEST_SUITE(cli)

BOOST_AUTO_TEST_CASE(version_and_help)
{
    BOOST_TEST(run_cli_in_process({"--version"}).out.rfind("raydeploy ", 0) == 0u);
    const auto help = run_cli_in_process({"--help"});
    BOOST_TEST(help.exit_code == 0);
    BOOST_TEST(help.out.find("serve") != std::string::npos);
    BOOST_TEST(help.out.find("checkpoints") != std::string::npos);
    BOOST_TEST(run_cli_in_process({"help", "checkpoints"}).out.find("--format") != std::string::npos);
    BOOST_TEST(run_cli_in_process({"serve", "--help"}).out.find("RAYDEPLOY_HTTP_IDLE_TIMEOUT") != std::string::npos);
    BOOST_TEST(run_cli_in_process({}).exit_code == raydeploy::cli::exit_usage);
}

BOOST_AUTO_TEST_CASE(usage_errors_exit_2_with_a_hint)
{
    const auto unknown = run_cli_in_process({"deploy-everything"});
    BOOST_TEST(unknown.exit_code == raydeploy::cli::exit_usage);
    BOOST_TEST(unknown.err.find("unknown command 'deploy-everything'; run 'raydeploy --help'") != std::string::npos);
    const auto bad_option = run_cli_in_process({"checkpoints", "--colour"});
    BOOST_TEST(bad_option.exit_code == raydeploy::cli::exit_usage);
    BOOST_TEST(bad_option.err.find("run 'raydeploy checkpoints --help'") != std::string::npos);
    const auto bad_format = run_cli_in_process({"checkpoints", "--catalog", catalog_path, "--format", "xml"});
    BOOST_TEST(bad_format.exit_code == raydeploy::cli::exit_usage);
    BOOST_TEST(bad_format.err.find("--format must be text or json") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(checkpoints_json_is_the_api_document)
{
    const auto result = run_cli_in_process({"checkpoints", "--catalog", catalog_path, "--format", "json"});
    BOOST_TEST_REQUIRE(result.exit_code == 0);
    const auto expected = raydeploy::api::checkpoint_list_json(raydeploy::load_catalog(catalog_path));
    BOOST_TEST(boost::json::parse(result.out) == boost::json::value(expected));
}

BOOST_AUTO_TEST_CASE(checkpoints_table_shows_the_flags)
{
    const auto result = run_cli_in_process({"checkpoints", "--catalog", catalog_path});
    BOOST_TEST_REQUIRE(result.exit_code == 0);
    std::istringstream lines(result.out);
    std::string header, line;
    std::getline(lines, header);
    BOOST_TEST(header.find("APPROVAL") != std::string::npos);
    BOOST_TEST(header.find("DESTRUCTIVE") != std::string::npos);
    bool saw_cleanup = false;
    while (std::getline(lines, line))
        if (line.find("cleanup-existing") != std::string::npos) {
            saw_cleanup = true;
            BOOST_TEST(line.find("required") != std::string::npos);
            BOOST_TEST(line.find("YES") != std::string::npos);
        }
    BOOST_TEST(saw_cleanup);
}

BOOST_AUTO_TEST_CASE(catalog_errors_exit_2_and_name_the_file)
{
    temp_dir dir;
    const auto file = dir.write_file("bad.yaml", "checkpoints:\n  - {name: x, playbook: nope.yml, description: d, timeout: 1}\n");
    const auto result = run_cli_in_process({"checkpoints", "--catalog", file.string()});
    BOOST_TEST(result.exit_code == raydeploy::cli::exit_usage);
    BOOST_TEST(result.err.find("raydeploy: error: " + file.string() + ":2:") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(unknown_checkpoint_kinds_exit_2_naming_the_entry_and_the_kinds)
{
    temp_dir dir;
    const auto file = dir.write_file("bad.yaml", "checkpoints:\n  - {name: jobs, kind: cml-job, description: d, timeout: 1}\n");
    const auto config = dir.write_file("raydeploy.yaml", "catalog: " + file.string() + "\ninventory: " +
                                                             std::string{RAYDEPLOY_SOURCE_DIR} +
                                                             "/playbooks/inventory/local.yml\nstate_dir: state\n");
    for (const std::vector<std::string>& args : {std::vector<std::string>{"checkpoints", "--catalog", file.string()},
                                                std::vector<std::string>{"serve", "--config", config.string(), "--check-config"}}) {
        BOOST_TEST_CONTEXT(args.front())
        {
            const auto result = run_cli_in_process(args);
            BOOST_TEST(result.exit_code == raydeploy::cli::exit_usage);
            BOOST_TEST(result.err.find(file.string() + ":2:24: checkpoints[0].kind: checkpoint \"jobs\": \"cml-job\" is not a kind") !=
                           std::string::npos,
                       result.err);
            BOOST_TEST(result.err.find("the kinds are ansible, cml-project, cml-jobs, cml-job-runs, cml-ray-cluster") !=
                           std::string::npos,
                       result.err);
        }
    }
}

BOOST_AUTO_TEST_CASE(check_config_validates_without_serving)
{
    temp_dir dir;
    const auto config = dir.write_file("raydeploy.yaml", "catalog: " + catalog_path + "\ninventory: " +
                                                             std::string{RAYDEPLOY_SOURCE_DIR} +
                                                             "/playbooks/inventory/local.yml\nstate_dir: state\n");
    const auto ok = run_cli_in_process({"serve", "--config", config.string(), "--check-config"});
    BOOST_TEST(ok.exit_code == 0);
    BOOST_TEST(ok.out.find("configuration OK") != std::string::npos);
    BOOST_TEST(ok.out.find("catalog: 6 checkpoints") != std::string::npos);
    BOOST_TEST(!std::filesystem::exists(dir.path() / "state"));  // validation creates nothing

    const auto bad = run_cli_in_process({"serve", "--config", config.string(), "--listen", "nowhere", "--check-config"});
    BOOST_TEST(bad.exit_code == raydeploy::cli::exit_usage);
    BOOST_TEST(bad.err.find("--listen: expected HOST:PORT") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
