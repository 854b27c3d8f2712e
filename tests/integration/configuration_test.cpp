// Suite service_lifecycle (part 2): how `serve` takes its settings, and how it refuses bad ones.
#include "support/test_support.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>

using namespace raydeploy::test;

namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;

constexpr int exit_failure = 1;
constexpr int exit_usage = 2;

std::string repository_catalog() { return (source_dir() / "playbooks" / "checkpoints.yaml").string(); }
std::string repository_inventory() { return (source_dir() / "playbooks" / "inventory" / "local.yml").string(); }

// `serve` with a private state dir and the repository's catalog and inventory, unless `extra`
// gives its own, followed by `extra`.
std::vector<std::string> serve_args(const temp_dir& dir, const std::vector<std::string>& extra)
{
    std::vector<std::string> args{"serve"};
    const auto add_default = [&](const std::string& flag, const std::string& value) {
        if (std::find(extra.begin(), extra.end(), flag) == extra.end()) {
            args.push_back(flag);
            args.push_back(value);
        }
    };
    add_default("--state-dir", (dir.path() / "state").string());
    add_default("--catalog", repository_catalog());
    add_default("--inventory", repository_inventory());
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
}

bool contains(const std::string& text, std::string_view needle) { return text.find(needle) != std::string::npos; }

// A rejected configuration: exit 2, nothing served, the state directory untouched.
void check_rejected(const cli_result& result, const temp_dir& dir)
{
    BOOST_TEST(result.exit_code == exit_usage, "exit " << result.exit_code << "; stderr:\n" << result.err);
    BOOST_TEST(!contains(result.out, "listening on"));
    BOOST_TEST(!fs::exists(dir.path() / "state"), "a rejected configuration created the state directory");
    BOOST_TEST(contains(result.err, "raydeploy: error: "), result.err);
}

// A port that is taken for as long as the object lives, so a service told to use it cannot start.
class occupied_port {
public:
    occupied_port() : acceptor_{io_, tcp::endpoint{net::ip::make_address_v4("127.0.0.1"), 0}} {}
    std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
    std::string address() const { return "127.0.0.1:" + std::to_string(port()); }

private:
    net::io_context io_;
    tcp::acceptor acceptor_;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(service_lifecycle)

BOOST_AUTO_TEST_CASE(bad_config_file_names_file_line_and_key)
{
    struct case_t {
        std::string name;
        std::string yaml;
        std::vector<std::string> expected;  // substrings of stderr; "@" stands for the file's path
    };
    const case_t cases[] = {
        {"unknown key", "# raydeploy settings\nlistn: x\n", {"@:2:1", "listn", "did you mean 'listen'"}},
        {"wrong type for a size",
         "log:\n  level: info\nhttp: {body_limit: abc}\n",
         {"@:3:", "http.body_limit", "abc"}},
        {"wrong type for a duration", "http:\n  idle_timeout: soon\n", {"@:2:", "http.idle_timeout", "soon"}},
        {"unknown key in a section",
         "http:\n  body_limmit: 10\n",
         {"@:2:3", "http.body_limmit", "did you mean 'body_limit'"}},
        {"section that is not a mapping", "listen: 127.0.0.1:0\nhttp: 5\n", {"@:2:", "http", "mapping"}},
        {"bad listen address", "listen: nowhere\n", {"@:1:", "listen", "nowhere"}},
        {"bad log level", "log:\n  level: loud\n", {"@:2:", "log.level", "loud"}},
        {"invalid YAML", "listen: [127.0.0.1\n", {"@:", "invalid YAML"}},
    };
    for (const auto& tc : cases) {
        BOOST_TEST_CONTEXT(tc.name)
        {
            temp_dir dir;
            const fs::path config = dir.write_file("raydeploy.yaml", tc.yaml);
            const auto result = run_cli(serve_args(dir, {"--config", config.string(), "--listen", "127.0.0.1:0"}));
            check_rejected(result, dir);
            for (std::string expected : tc.expected) {
                if (expected.starts_with('@')) expected = config.string() + expected.substr(1);
                BOOST_TEST(contains(result.err, expected), "'" << expected << "' not in stderr:\n" << result.err);
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(missing_files_are_configuration_errors)
{
    temp_dir dir;
    const std::string absent = (dir.path() / "absent.yaml").string();
    struct case_t {
        std::string name;
        std::vector<std::string> args;
        env_map env;
        std::vector<std::string> expected;
    };
    const case_t cases[] = {
        {"--config", {"--config", absent}, {}, {absent, "not found"}},
        {"RAYDEPLOY_CONFIG", {}, {{"RAYDEPLOY_CONFIG", absent}}, {absent, "not found"}},
        {"--catalog", {"--catalog", absent}, {}, {absent}},
        {"--inventory", {"--inventory", absent}, {}, {absent, "inventory"}},
    };
    for (const auto& tc : cases) {
        BOOST_TEST_CONTEXT(tc.name)
        {
            const auto result = run_cli(serve_args(dir, tc.args), tc.env);
            check_rejected(result, dir);
            for (const auto& expected : tc.expected)
                BOOST_TEST(contains(result.err, expected), "'" << expected << "' not in stderr:\n" << result.err);
        }
    }
}

BOOST_AUTO_TEST_CASE(bad_environment_variable_or_flag_is_named)
{
    temp_dir dir;
    const auto from_env = run_cli(serve_args(dir, {}), {{"RAYDEPLOY_LISTEN", "nonsense"}});
    check_rejected(from_env, dir);
    BOOST_TEST(contains(from_env.err, "RAYDEPLOY_LISTEN"), from_env.err);
    BOOST_TEST(contains(from_env.err, "nonsense"), from_env.err);

    const auto size_env =
        run_cli(serve_args(dir, {"--listen", "127.0.0.1:0"}), {{"RAYDEPLOY_HTTP_BODY_LIMIT", "lots"}});
    check_rejected(size_env, dir);
    BOOST_TEST(contains(size_env.err, "RAYDEPLOY_HTTP_BODY_LIMIT"), size_env.err);

    const auto from_flag = run_cli(serve_args(dir, {"--listen", "nonsense"}));
    check_rejected(from_flag, dir);
    BOOST_TEST(contains(from_flag.err, "--listen"), from_flag.err);

    const auto unknown_flag = run_cli(serve_args(dir, {"--listn", "127.0.0.1:0"}));
    check_rejected(unknown_flag, dir);
    BOOST_TEST(contains(unknown_flag.err, "listn"), unknown_flag.err);
}

BOOST_AUTO_TEST_CASE(flag_beats_environment_beats_config_file)
{
    // Each lower-precedence source names a port that is taken: if it won, the service could not
    // start (exit 1), so a started service proves the higher source was used.
    const occupied_port file_port;
    const occupied_port env_port;
    temp_dir dir;
    const fs::path config = dir.write_file("raydeploy.yaml", "listen: " + file_port.address() + "\n");

    {
        service_options options;
        options.args = {"--config", config.string()};
        options.env = {{"RAYDEPLOY_LISTEN", env_port.address()}};
        options.listen = "127.0.0.1:0";
        service_process service{options};
        BOOST_TEST(service.port() != file_port.port());
        BOOST_TEST(service.port() != env_port.port());
        BOOST_TEST(http_get(service.port(), "/health").result_int() == 200);
    }
    {
        service_options options;
        options.args = {"--config", config.string()};
        options.env = {{"RAYDEPLOY_LISTEN", "127.0.0.1:0"}};
        options.listen = std::nullopt;
        service_process service{options};
        BOOST_TEST(service.port() != file_port.port());
    }
    {
        // And the config file alone is really used: its taken port makes the start fail.
        const auto result = run_cli(serve_args(dir, {"--config", config.string()}));
        BOOST_TEST(result.exit_code == exit_failure, "exit " << result.exit_code << "; stderr:\n" << result.err);
        BOOST_TEST(contains(result.err, "cannot listen on " + file_port.address()), result.err);
    }

    // --check-config shows the winner and where it came from.
    const auto all_three =
        run_cli(serve_args(dir, {"--config", config.string(), "--listen", "127.0.0.1:7", "--check-config"}),
                {{"RAYDEPLOY_LISTEN", "127.0.0.1:8"}});
    BOOST_TEST(all_three.exit_code == 0, all_three.err);
    BOOST_TEST(contains(all_three.out, "listen = 127.0.0.1:7  (--listen)"), all_three.out);
    const auto env_and_file = run_cli(serve_args(dir, {"--config", config.string(), "--check-config"}),
                                      {{"RAYDEPLOY_LISTEN", "127.0.0.1:8"}});
    BOOST_TEST(env_and_file.exit_code == 0, env_and_file.err);
    BOOST_TEST(contains(env_and_file.out, "listen = 127.0.0.1:8  (environment variable RAYDEPLOY_LISTEN)"),
               env_and_file.out);
    const auto file_only = run_cli(serve_args(dir, {"--config", config.string(), "--check-config"}));
    BOOST_TEST(file_only.exit_code == 0, file_only.err);
    BOOST_TEST(contains(file_only.out, "listen = " + file_port.address() + "  (" + config.string() + ":1:"),
               file_only.out);
}

BOOST_AUTO_TEST_CASE(check_config_validates_without_serving)
{
    temp_dir dir;
    const fs::path good = dir.write_file("good.yaml", "listen: 127.0.0.1:0\nhttp:\n  idle_timeout: 5s\n");
    const auto valid = run_cli(serve_args(dir, {"--config", good.string(), "--check-config"}));
    BOOST_TEST(valid.exit_code == 0, valid.err);
    BOOST_TEST(contains(valid.out, "configuration OK"), valid.out);
    BOOST_TEST(contains(valid.out, "http.idle_timeout = 5s"), valid.out);
    BOOST_TEST(contains(valid.out, "6 checkpoints"), valid.out);
    BOOST_TEST(!contains(valid.out, "listening on"));
    BOOST_TEST(!fs::exists(dir.path() / "state"), "--check-config created the state directory");

    const fs::path bad = dir.write_file("bad.yaml", "listen: 127.0.0.1:0\nhttp:\n  idle_timeout: never\n");
    const auto invalid = run_cli(serve_args(dir, {"--config", bad.string(), "--check-config"}));
    check_rejected(invalid, dir);
    BOOST_TEST(!contains(invalid.out, "configuration OK"), invalid.out);
    BOOST_TEST(contains(invalid.err, bad.string() + ":3:"), invalid.err);
}

BOOST_AUTO_TEST_CASE(check_config_shows_whether_the_cml_key_is_set_never_the_key)
{
    temp_dir dir;
    const std::string key = "cml-key-never-printed-4b9e";
    const fs::path config = dir.write_file("cml.yaml", "cml:\n  host: https://ml.example.cloudera.site\n"
                                                       "  project_name: ray-cluster\n  tls_insecure: true\n");
    const auto shown = run_cli(serve_args(dir, {"--config", config.string(), "--check-config"}),
                               {{"RAYDEPLOY_CML_API_KEY", key}});
    BOOST_TEST(shown.exit_code == 0, shown.err);
    BOOST_TEST(contains(shown.out, "cml.host = https://ml.example.cloudera.site  (" + config.string()), shown.out);
    BOOST_TEST(contains(shown.out, "cml.api_key = set  (environment variable RAYDEPLOY_CML_API_KEY)"), shown.out);
    BOOST_TEST(!contains(shown.out + shown.err, key), shown.out + shown.err);

    const auto without = run_cli(serve_args(dir, {"--check-config"}));
    BOOST_TEST(without.exit_code == 0, without.err);
    BOOST_TEST(contains(without.out, "cml.api_key = not set  (default)"), without.out);

    const fs::path pasted = dir.write_file("pasted.yaml", "cml:\n  api_key: " + key + "\n");
    const auto refused = run_cli(serve_args(dir, {"--config", pasted.string(), "--check-config"}));
    check_rejected(refused, dir);
    BOOST_TEST(contains(refused.err, "RAYDEPLOY_CML_API_KEY"), refused.err);
    BOOST_TEST(!contains(refused.out + refused.err, key), refused.err);
}

BOOST_AUTO_TEST_SUITE_END()
