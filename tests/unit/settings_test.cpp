// Settings: layering of file, environment and flags, and the located errors users see.
#include "raydeploy/auth/tokens.hpp"
#include "raydeploy/config/settings.hpp"
#include "raydeploy/util/errors.hpp"

#include "support/test_support.hpp"

#include <boost/test/unit_test.hpp>

using namespace std::chrono_literals;

BOOST_TEST_DONT_PRINT_LOG_VALUE(raydeploy::log::level)
BOOST_TEST_DONT_PRINT_LOG_VALUE(raydeploy::log::format)
using raydeploy::config_error;
using raydeploy::load_settings;
using raydeploy::setting_override;
using raydeploy::test::temp_dir;

namespace {

// The message of the config_error that loading `yaml` raises.
std::string error_for(const std::string& yaml, const temp_dir& dir)
{
    const auto file = dir.write_file("raydeploy.yaml", yaml);
    try {
        load_settings(file, {}, {});
    } catch (const config_error& e) {
        return e.what();
    }
    BOOST_FAIL("expected a config_error for:\n" + yaml);
    return {};
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

BOOST_AUTO_TEST_SUITE(settings)

BOOST_AUTO_TEST_CASE(defaults_without_any_source)
{
    const auto value = load_settings(std::nullopt, {}, {});
    BOOST_TEST(value.listen.to_string() == "127.0.0.1:8000");
    // unit_tests runs from the checkout's build/bin: the defaults point into the checkout,
    // wherever the test is started from (config/install_layout.hpp).
    const auto checkout = raydeploy::test::source_dir().lexically_normal();
    BOOST_TEST(value.state_dir == checkout / "var");
    BOOST_TEST(value.catalog == checkout / "playbooks/checkpoints.yaml");
    BOOST_TEST(value.inventory == checkout / "playbooks/inventory/local.yml");
    BOOST_TEST(value.http.body_limit == 1024u * 1024u);
    BOOST_TEST(value.http.header_limit == 8192u);
    BOOST_TEST(value.sources.at("listen") == "default");
}

BOOST_AUTO_TEST_CASE(file_then_environment_then_flags)
{
    temp_dir dir;
    const auto file = dir.write_file("raydeploy.yaml",
                                     "listen: 127.0.0.1:9001\n"
                                     "log:\n  level: debug\n  format: json\n"
                                     "http:\n  idle_timeout: 5s\n  body_limit: 2048\n");
    const auto from_file = load_settings(file, {}, {});
    BOOST_TEST(from_file.listen.port == 9001);
    BOOST_TEST(from_file.log_level == raydeploy::log::level::debug);
    BOOST_TEST(from_file.log_format == raydeploy::log::format::json);
    BOOST_TEST(from_file.http.idle_timeout == 5s);
    BOOST_TEST(from_file.http.body_limit == 2048u);
    BOOST_TEST(from_file.sources.at("listen") == file.string() + ":1:9");

    const auto env = raydeploy::environment_overrides(
        {{"RAYDEPLOY_LISTEN", "127.0.0.1:9002"}, {"RAYDEPLOY_LOG_LEVEL", "warn"}, {"UNRELATED", "x"}});
    BOOST_TEST(env.size() == 2u);
    const auto from_env = load_settings(file, env, {});
    BOOST_TEST(from_env.listen.port == 9002);
    BOOST_TEST(from_env.log_level == raydeploy::log::level::warn);
    BOOST_TEST(from_env.sources.at("listen") == "environment variable RAYDEPLOY_LISTEN");

    const auto from_flag = load_settings(file, env, {{"listen", "127.0.0.1:0", "--listen"}});
    BOOST_TEST(from_flag.listen.port == 0);
    BOOST_TEST(from_flag.log_level == raydeploy::log::level::warn);  // flags override only what they name
    BOOST_TEST(from_flag.sources.at("listen") == "--listen");
}

BOOST_AUTO_TEST_CASE(paths_in_the_file_are_relative_to_the_file)
{
    temp_dir dir;
    const auto file = dir.write_file("conf/raydeploy.yaml", "catalog: ../catalog/checkpoints.yaml\nstate_dir: /srv/state\n");
    const auto value = load_settings(file, {}, {{"inventory", "inv.yml", "--inventory"}});
    BOOST_TEST(value.catalog == (dir.path() / "catalog/checkpoints.yaml").lexically_normal());
    BOOST_TEST(value.state_dir == "/srv/state");
    BOOST_TEST(value.inventory == "inv.yml");  // flags stay relative to the working directory
}

BOOST_AUTO_TEST_CASE(empty_file_means_defaults)
{
    temp_dir dir;
    const auto value = load_settings(dir.write_file("empty.yaml", "# nothing here\n"), {}, {});
    BOOST_TEST(value.listen.port == 8000);
}

BOOST_AUTO_TEST_CASE(unknown_key_names_file_line_and_suggestion)
{
    temp_dir dir;
    const auto message = error_for("state_dir: var\nlistn: 127.0.0.1:1\n", dir);
    BOOST_TEST(contains(message, (dir.path() / "raydeploy.yaml").string() + ":2:1: listn: unknown key"));
    BOOST_TEST(contains(message, "did you mean 'listen'?"));
}

BOOST_AUTO_TEST_CASE(unknown_nested_key_names_its_path)
{
    temp_dir dir;
    const auto message = error_for("http:\n  body_limt: 10\n", dir);
    BOOST_TEST(contains(message, ":2:3: http.body_limt: unknown key; did you mean 'body_limit'?"));
}

BOOST_AUTO_TEST_CASE(a_long_unknown_key_lists_the_valid_keys_instead_of_a_guess)
{
    temp_dir dir;
    const auto message = error_for("http:\n  " + std::string(1000, 'b') + "ody_limit: 10\n", dir);
    BOOST_TEST(contains(message, "unknown key; valid keys here:"));
    BOOST_TEST(contains(message, "body_limit"));
    BOOST_TEST(!contains(message, "did you mean"));
    // One character too many at the end still finds its key.
    BOOST_TEST(contains(error_for("http:\n  body_limitt: 10\n", dir), "did you mean 'body_limit'?"));
}

BOOST_AUTO_TEST_CASE(wrong_types_name_key_and_line)
{
    temp_dir dir;
    BOOST_TEST(contains(error_for("http:\n  body_limit: abc\n", dir), ":2:15: http.body_limit: expected a number of bytes"));
    BOOST_TEST(contains(error_for("listen: [1, 2]\n", dir), ":1:9: listen: expected a string, got a list"));
    BOOST_TEST(contains(error_for("log: verbose\n", dir), ":1:6: log: expected a mapping"));
    BOOST_TEST(contains(error_for("log:\n  level: loud\n", dir), "log.level: expected one of trace, debug, info, warn, error"));
    BOOST_TEST(contains(error_for("http:\n  idle_timeout: soon\n", dir), "http.idle_timeout: expected a positive duration"));
    BOOST_TEST(contains(error_for("listen: 127.0.0.1\n", dir), "listen: expected HOST:PORT"));
}

BOOST_AUTO_TEST_CASE(every_problem_is_reported_at_once)
{
    temp_dir dir;
    const auto message = error_for("listn: x\nhttp:\n  body_limit: abc\nlog:\n  format: xml\n", dir);
    BOOST_TEST(contains(message, ":1:1: listn"));
    BOOST_TEST(contains(message, ":3:15: http.body_limit"));
    BOOST_TEST(contains(message, ":5:11: log.format"));
}

BOOST_AUTO_TEST_CASE(duplicate_keys_are_rejected)
{
    temp_dir dir;
    BOOST_TEST(contains(error_for("listen: 127.0.0.1:1\nlisten: 127.0.0.1:2\n", dir), ":2:1: listen: duplicate key"));
}

BOOST_AUTO_TEST_CASE(missing_file_and_invalid_yaml)
{
    temp_dir dir;
    try {
        load_settings(dir.path() / "absent.yaml", {}, {});
        BOOST_FAIL("a missing file must fail");
    } catch (const config_error& e) {
        BOOST_TEST(contains(e.what(), "absent.yaml: file not found"));
    }
    BOOST_TEST(contains(error_for("listen: [unclosed\n", dir), "raydeploy.yaml:2:1: invalid YAML"));
    BOOST_TEST(contains(error_for("- just\n- a list\n", dir), "expected a mapping"));
}

BOOST_AUTO_TEST_CASE(environment_and_flag_errors_name_their_source)
{
    try {
        load_settings(std::nullopt, raydeploy::environment_overrides({{"RAYDEPLOY_HTTP_BODY_LIMIT", "lots"}}),
                      {{"log.format", "xml", "--log-format"}});
        BOOST_FAIL("expected a config_error");
    } catch (const config_error& e) {
        const std::string message = e.what();
        BOOST_TEST(contains(message, "environment variable RAYDEPLOY_HTTP_BODY_LIMIT: expected a number of bytes"));
        BOOST_TEST(contains(message, "--log-format: expected text or json"));
    }
}

BOOST_AUTO_TEST_CASE(listen_addresses)
{
    using raydeploy::parse_listen_address;
    BOOST_TEST(parse_listen_address("127.0.0.1:8000")->to_string() == "127.0.0.1:8000");
    BOOST_TEST(parse_listen_address("localhost:0")->to_string() == "127.0.0.1:0");
    BOOST_TEST(parse_listen_address("[::1]:8080")->to_string() == "[::1]:8080");
    BOOST_TEST(parse_listen_address("0.0.0.0:80")->is_loopback() == false);
    BOOST_TEST(parse_listen_address("127.0.0.1:80")->is_loopback() == true);
    for (const char* bad : {"127.0.0.1", ":80", "127.0.0.1:", "127.0.0.1:65536", "::1:80", "example.com:80", "1.2.3.4:8x"})
        BOOST_TEST_CONTEXT(bad) { BOOST_TEST(!parse_listen_address(bad).has_value()); }
}

BOOST_AUTO_TEST_CASE(every_setting_has_an_environment_variable)
{
    BOOST_TEST(raydeploy::environment_variable_for("http.body_limit") == "RAYDEPLOY_HTTP_BODY_LIMIT");
    BOOST_TEST(raydeploy::environment_variable_for("state_dir") == "RAYDEPLOY_STATE_DIR");
    std::map<std::string, std::string> environment;
    for (const auto& description : raydeploy::setting_descriptions())
        environment[raydeploy::environment_variable_for(description.key)] = "x";
    BOOST_TEST(raydeploy::environment_overrides(environment).size() == raydeploy::setting_descriptions().size());
}

BOOST_AUTO_TEST_CASE(serve_paths_are_checked)
{
    temp_dir dir;
    auto value = load_settings(std::nullopt, {}, {{"inventory", (dir.path() / "none.yml").string(), "--inventory"}});
    try {
        raydeploy::check_serve_paths(value);
        BOOST_FAIL("a missing inventory must fail");
    } catch (const config_error& e) {
        BOOST_TEST(contains(e.what(), "none.yml' (from --inventory) does not exist"));
    }
}

BOOST_AUTO_TEST_CASE(tls_needs_both_files_and_they_must_be_readable)
{
    temp_dir dir;
    const std::string only_cert = error_for("http: {tls_cert: server.crt}\n", dir);
    BOOST_TEST(contains(only_cert, "http.tls_cert (from "), only_cert);
    BOOST_TEST(contains(only_cert, "http.tls_key is not"), only_cert);
    const std::string only_key = error_for("http: {tls_key: server.key}\n", dir);
    BOOST_TEST(contains(only_key, "http.tls_key (from "), only_key);
    BOOST_TEST(contains(only_key, "set http.tls_cert too"), only_key);
    BOOST_TEST(contains(error_for("http: {tls_cert: ''}\n", dir), "expected a path"));

    // Relative to the config file; from the environment as given.
    const auto file = dir.write_file("raydeploy.yaml", "http: {tls_cert: server.crt, tls_key: server.key}\n");
    const auto from_file = load_settings(file, {}, {});
    BOOST_TEST(from_file.http.tls_cert.value() == dir.path() / "server.crt");
    BOOST_TEST(from_file.http.tls_key.value() == dir.path() / "server.key");
    const auto defaults = load_settings(std::nullopt, {}, {});
    BOOST_TEST(!defaults.http.tls_cert.has_value());
    BOOST_TEST(raydeploy::setting_value_text(defaults, "http.tls_cert") == "");

    // Named before the service starts: a missing file, or a directory.
    const auto inventory = dir.write_file("inventory.yml", "all: {}\n");
    const auto missing = load_settings(
        std::nullopt,
        {{"http.tls_cert", (dir.path() / "none.crt").string(), "environment variable RAYDEPLOY_HTTP_TLS_CERT"},
         {"http.tls_key", dir.path().string(), "environment variable RAYDEPLOY_HTTP_TLS_KEY"}},
        {{"inventory", inventory.string(), "--inventory"}});
    try {
        raydeploy::check_serve_paths(missing);
        BOOST_FAIL("a missing certificate must fail");
    } catch (const config_error& e) {
        BOOST_TEST(contains(e.what(), "http.tls_cert: '"), e.what());
        BOOST_TEST(contains(e.what(), "none.crt' (from environment variable RAYDEPLOY_HTTP_TLS_CERT) is not a readable file"),
                   e.what());
    }
    dir.write_file("none.crt", "x");
    try {
        raydeploy::check_serve_paths(missing);
        BOOST_FAIL("a directory as the key must fail");
    } catch (const config_error& e) {
        BOOST_TEST(contains(e.what(), "http.tls_key: '"), e.what());
    }
}

BOOST_AUTO_TEST_CASE(connection_and_subscriber_caps)
{
    const auto defaults = load_settings(std::nullopt, {}, {});
    BOOST_TEST(defaults.http.max_connections == 1024u);
    BOOST_TEST(defaults.events.max_subscribers == 256u);
    BOOST_TEST(defaults.events.page_bytes == 1024u * 1024u);
    temp_dir dir;
    const auto file = dir.write_file("raydeploy.yaml",
                                     "http: {max_connections: 10}\nevents: {max_subscribers: 3, page_bytes: 4096}\n");
    const auto value = load_settings(file, {}, {});
    BOOST_TEST(value.http.max_connections == 10u);
    BOOST_TEST(value.events.max_subscribers == 3u);
    BOOST_TEST(value.events.page_bytes == 4096u);
    BOOST_TEST(contains(error_for("http: {max_connections: 0}\n", dir), "between 1 and"));
    BOOST_TEST(contains(error_for("events: {max_subscribers: 0}\n", dir), "between 1 and"));
    BOOST_TEST(contains(error_for("events: {page_bytes: 10}\n", dir), "between 1024 and"));
}

// ------------------------------------------------------------------------------- auth and approvals

namespace {

const std::string hash_a = raydeploy::sha256_hex("token a");
const std::string hash_b = raydeploy::sha256_hex("token b");

std::string upper(std::string text)
{
    for (auto& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return text;
}

raydeploy::settings with_environment(const std::map<std::string, std::string>& environment)
{
    return load_settings(std::nullopt, raydeploy::environment_overrides(environment), {});
}

std::string environment_error(const std::map<std::string, std::string>& environment)
{
    try {
        with_environment(environment);
    } catch (const config_error& e) {
        return e.what();
    }
    BOOST_FAIL("expected a config_error");
    return {};
}

}  // namespace

BOOST_AUTO_TEST_CASE(auth_and_approval_defaults)
{
    const auto value = load_settings(std::nullopt, {}, {});
    BOOST_TEST(value.auth.tokens.empty());
    BOOST_TEST(value.auth.four_eyes);
    BOOST_TEST((value.approvals.default_ttl == 1h));
    BOOST_TEST((value.approvals.max_ttl == 24h));
    BOOST_TEST(contains(raydeploy::setting_value_text(value, "auth.tokens"), "open mode"));
}

BOOST_AUTO_TEST_CASE(tokens_from_the_file)
{
    temp_dir dir;
    const auto file = dir.write_file("raydeploy.yaml",
                                     "auth:\n"
                                     "  four_eyes: false\n"
                                     "  tokens:\n"
                                     "    - name: ci\n"
                                     "      role: operator\n"
                                     "      sha256: " + hash_a + "\n"
                                     "    - {name: alice, role: approver, sha256: " + upper(hash_b) + "}\n"
                                     "approvals:\n  default_ttl: 30m\n  max_ttl: 2h\n");
    const auto value = load_settings(file, {}, {});
    BOOST_TEST_REQUIRE(value.auth.tokens.size() == 2u);
    BOOST_TEST(value.auth.tokens[0].name == "ci");
    BOOST_TEST((value.auth.tokens[0].level == raydeploy::role::operator_));
    BOOST_TEST(value.auth.tokens[0].sha256_hex == hash_a);
    BOOST_TEST(value.auth.tokens[1].sha256_hex == hash_b);  // stored lower-case
    BOOST_TEST(!value.auth.four_eyes);
    BOOST_TEST((value.approvals.default_ttl == 30min));
    BOOST_TEST((value.approvals.max_ttl == 2h));
    BOOST_TEST(value.sources.at("auth.tokens") == file.string() + ":4:5");

    // --check-config shows who may call, never the hashes.
    const std::string shown = raydeploy::setting_value_text(value, "auth.tokens");
    BOOST_TEST(shown == "ci (operator), alice (approver)");

    BOOST_TEST(load_settings(dir.write_file("none.yaml", "auth:\n  tokens: []\n"), {}, {}).auth.tokens.empty());
}

BOOST_AUTO_TEST_CASE(token_errors_are_located)
{
    temp_dir dir;
    const std::string head = "auth:\n  tokens:\n";
    BOOST_TEST(contains(error_for(head + "    - name: ci\n      role: root\n      sha256: " + hash_a + "\n", dir),
                        ":4:13: auth.tokens[0].role: expected one of viewer, operator, approver, admin, got \"root\""));
    BOOST_TEST(contains(error_for(head + "    - name: ci\n      role: admin\n      sha256: rdp_secret\n", dir),
                        ":5:15: auth.tokens[0].sha256: expected the token's SHA-256 as 64 hex digits"));
    BOOST_TEST(contains(error_for(head + "    - name: \"\"\n      role: admin\n      sha256: " + hash_a + "\n", dir),
                        ":3:13: auth.tokens[0].name: a token needs a name"));
    BOOST_TEST(contains(error_for(head + "    - name: ci\n      role: admin\n", dir),
                        "auth.tokens[0].sha256: required key is missing"));
    BOOST_TEST(contains(error_for(head + "    - name: ci\n      role: admin\n      sha_256: x\n", dir),
                        ":5:7: auth.tokens[0].sha_256: unknown key; did you mean 'sha256'?"));
    BOOST_TEST(contains(error_for("auth:\n  tokens: ci:admin:" + hash_a + "\n", dir),
                        ":2:11: auth.tokens: expected a list of {name, role, sha256} mappings"));
    BOOST_TEST(contains(error_for("auth:\n  four_eyes: maybe\n", dir),
                        ":2:14: auth.four_eyes: expected true or false"));
    BOOST_TEST(contains(error_for("approvals:\n  max_ttl: forever\n", dir),
                        ":2:12: approvals.max_ttl: expected a positive duration"));

    const auto duplicates = error_for(head + "    - {name: ci, role: admin, sha256: " + hash_a + "}\n" +
                                          "    - {name: ci, role: viewer, sha256: " + hash_b + "}\n" +
                                          "    - {name: bob, role: viewer, sha256: " + hash_a + "}\n",
                                      dir);
    BOOST_TEST(contains(duplicates, ":4:7: auth.tokens[1]: token name 'ci' is used twice"), duplicates);
    BOOST_TEST(contains(duplicates, ":5:7: auth.tokens[2]: 'bob' has the same sha256 as 'ci'"), duplicates);
    // The four-eyes rule compares names ignoring case: "CI" and "ci" would be one person.
    const auto same_in_other_case = error_for(head + "    - {name: ci, role: admin, sha256: " + hash_a + "}\n" +
                                                  "    - {name: CI, role: viewer, sha256: " + hash_b + "}\n",
                                              dir);
    BOOST_TEST(contains(same_in_other_case, ":4:7: auth.tokens[1]: token name 'CI' is used twice (names are compared "
                                            "ignoring case)"),
               same_in_other_case);
    BOOST_TEST(contains(error_for(head + "    - {name: ci, role: admin, sha256: " + hash_a + ", person: \"a b\"}\n", dir),
                        "auth.tokens[0].person: 'a b' is not a valid token name"));

    const auto ttl = error_for("approvals:\n  default_ttl: 2d\n", dir);
    BOOST_TEST(contains(ttl, "approvals.default_ttl (48h from " + (dir.path() / "raydeploy.yaml").string() + ":2:16) "
                             "is longer than approvals.max_ttl (24h from default)"), ttl);

    const auto batching = error_for("events:\n  batch_delay: 100ms\n", dir);
    BOOST_TEST(contains(batching, "events.batch_max_delay (50ms from default) is shorter than events.batch_delay "
                                  "(100ms from " + (dir.path() / "raydeploy.yaml").string() + ":2:16)"),
               batching);
}

BOOST_AUTO_TEST_CASE(tokens_from_the_environment)
{
    const auto value = with_environment({{"RAYDEPLOY_AUTH_TOKENS", "ci:operator:" + hash_a + ", root:admin:" + hash_b},
                                         {"RAYDEPLOY_AUTH_FOUR_EYES", "false"},
                                         {"RAYDEPLOY_APPROVALS_DEFAULT_TTL", "10m"}});
    BOOST_TEST_REQUIRE(value.auth.tokens.size() == 2u);
    BOOST_TEST(value.auth.tokens[1].name == "root");
    BOOST_TEST((value.auth.tokens[1].level == raydeploy::role::admin));
    BOOST_TEST(value.auth.tokens[1].sha256_hex == hash_b);
    BOOST_TEST(!value.auth.four_eyes);
    BOOST_TEST((value.approvals.default_ttl == 10min));
    BOOST_TEST(value.sources.at("auth.tokens") == "environment variable RAYDEPLOY_AUTH_TOKENS");
    BOOST_TEST(value.auth.tokens[0].person.empty());

    const auto with_person = with_environment({{"RAYDEPLOY_AUTH_TOKENS", "alice-ci:operator:" + hash_a + ":alice"}});
    BOOST_TEST_REQUIRE(with_person.auth.tokens.size() == 1u);
    BOOST_TEST(with_person.auth.tokens[0].name == "alice-ci");
    BOOST_TEST(with_person.auth.tokens[0].sha256_hex == hash_a);
    BOOST_TEST(with_person.auth.tokens[0].person == "alice");

    BOOST_TEST(contains(environment_error({{"RAYDEPLOY_AUTH_TOKENS", "ci:operator"}}),
                        "environment variable RAYDEPLOY_AUTH_TOKENS: entry 1: 'ci...' is not NAME:ROLE:SHA256[:PERSON]"));
    BOOST_TEST(contains(environment_error({{"RAYDEPLOY_AUTH_TOKENS", "ci:operator:" + hash_a + ":al:ice"}}),
                        "entry 1: 'ci...' is not NAME:ROLE:SHA256[:PERSON]"));
    BOOST_TEST(contains(environment_error({{"RAYDEPLOY_AUTH_TOKENS", "ci:operator:" + hash_a + ":"}}),
                        "entry 1: person: a token needs a name"));
    BOOST_TEST(contains(environment_error({{"RAYDEPLOY_AUTH_TOKENS", "ci:operator:" + hash_a + ",ci:boss:" + hash_b}}),
                        "entry 2: role must be one of viewer, operator, approver, admin, not 'boss'"));
    BOOST_TEST(contains(environment_error({{"RAYDEPLOY_AUTH_TOKENS", "ci:admin:abc"}}), "entry 1: sha256: expected"));
    BOOST_TEST(contains(environment_error({{"RAYDEPLOY_AUTH_TOKENS", "ci:admin:" + hash_a + ",ci:admin:" + hash_b}}),
                        "entry 2: token name 'ci' is used twice"));
    BOOST_TEST(contains(environment_error({{"RAYDEPLOY_AUTH_TOKENS", ""}}), "RAYDEPLOY_AUTH_TOKENS: is empty"));
    BOOST_TEST(contains(environment_error({{"RAYDEPLOY_AUTH_FOUR_EYES", "sometimes"}}), "expected true or false"));
}

BOOST_AUTO_TEST_CASE(open_mode_is_refused_off_loopback)
{
    const auto loopback = load_settings(std::nullopt, {}, {});
    BOOST_CHECK_NO_THROW(raydeploy::check_listen_security(loopback));

    const auto exposed = load_settings(std::nullopt, {}, {{"listen", "0.0.0.0:8000", "--listen"}});
    try {
        raydeploy::check_listen_security(exposed);
        BOOST_FAIL("open mode on 0.0.0.0 must be refused");
    } catch (const config_error& e) {
        const std::string message = e.what();
        BOOST_TEST(contains(message, "listen: 0.0.0.0:8000 (from --listen) is not a loopback address"), message);
        BOOST_TEST(contains(message, "raydeploy token create --name NAME --role admin"), message);
        BOOST_TEST(contains(message, "auth.tokens"), message);
    }

    const auto token_env = raydeploy::environment_overrides({{"RAYDEPLOY_AUTH_TOKENS", "root:admin:" + hash_a}});
    const auto secured = load_settings(std::nullopt, token_env, {{"listen", "0.0.0.0:8000", "--listen"}});
    BOOST_CHECK_NO_THROW(raydeploy::check_listen_security(secured));
}

BOOST_AUTO_TEST_CASE(ray_settings_default_to_the_local_head)
{
    const auto value = load_settings(std::nullopt, {}, {});
    BOOST_TEST(value.ray.enabled);
    BOOST_TEST(value.ray.dashboard_url == "http://127.0.0.1:8265");
    BOOST_TEST(value.ray.poll_interval == 10s);
    BOOST_TEST(value.ray.request_timeout == 5s);
    BOOST_TEST(!value.ray.auth_token.has_value());
    BOOST_TEST(!value.ray.tls_insecure);
    BOOST_TEST(value.monitoring.prometheus_url == "http://127.0.0.1:9090");
    BOOST_TEST(value.monitoring.grafana_url.empty());
}

BOOST_AUTO_TEST_CASE(ray_dashboard_urls_are_checked_and_normalised)
{
    temp_dir dir;
    const auto file = dir.write_file("raydeploy.yaml", "ray:\n  dashboard_url: https://ray.example.com:8443/\n"
                                                       "  poll_interval: 2s\nmonitoring:\n  prometheus_url: \"\"\n");
    const auto value = load_settings(file, {}, {});
    BOOST_TEST(value.ray.dashboard_url == "https://ray.example.com:8443");
    BOOST_TEST(value.ray.poll_interval == 2s);
    BOOST_TEST(value.monitoring.prometheus_url.empty());
    for (const char* bad : {"ftp://h:1", "http://user:pw@h:8265", "http://h:8265/?x=1", "h:8265", "http://:80", ""}) {
        const std::string message = error_for(std::string{"ray:\n  dashboard_url: \""} + bad + "\"\n", dir);
        BOOST_TEST(contains(message, "ray.dashboard_url"), message);
        BOOST_TEST(contains(message, "expected an http:// or https:// URL"), message);
    }
}

BOOST_AUTO_TEST_CASE(the_ray_token_comes_from_the_environment_or_a_file_never_the_config_file)
{
    temp_dir dir;
    const auto message = error_for("ray:\n  auth_token: s3cret-token\n", dir);
    BOOST_TEST(contains(message, "RAYDEPLOY_RAY_TOKEN"), message);
    BOOST_TEST(!contains(message, "s3cret-token"), message);

    BOOST_TEST(raydeploy::environment_variable_for("ray.auth_token") == "RAYDEPLOY_RAY_TOKEN");
    const auto from_env = load_settings(
        std::nullopt, raydeploy::environment_overrides({{"RAYDEPLOY_RAY_TOKEN", "tok-from-env"}}), {});
    BOOST_TEST(from_env.ray.auth_token.value_or("") == "tok-from-env");
    BOOST_TEST(raydeploy::setting_value_text(from_env, "ray.auth_token") == "set (hidden)");

    const auto token_file = dir.write_file("ray-token", "tok-from-file\n");
    const auto from_file = load_settings(std::nullopt, {{"ray.auth_token_file", token_file.string(), "test"}}, {});
    BOOST_TEST(from_file.ray.auth_token.value_or("") == "tok-from-file");
    // The variable wins over the file.
    const auto both = load_settings(std::nullopt,
                                    {{"ray.auth_token", "tok-from-env", "test"},
                                     {"ray.auth_token_file", token_file.string(), "test"}},
                                    {});
    BOOST_TEST(both.ray.auth_token.value_or("") == "tok-from-env");
    try {
        load_settings(std::nullopt, {{"ray.auth_token_file", (dir.path() / "missing").string(), "test"}}, {});
        BOOST_FAIL("a missing token file must be refused");
    } catch (const config_error& e) {
        BOOST_TEST(contains(e.what(), "ray.auth_token_file"), e.what());
    }
}

// ---------------------------------------------------------------------------------------------- cml

BOOST_AUTO_TEST_CASE(cml_is_not_configured_by_default)
{
    const auto value = load_settings(std::nullopt, {}, {});
    BOOST_TEST(!value.cml.configured());
    BOOST_TEST(!value.cml.api_key.has_value());
    BOOST_TEST(value.cml.poll_interval == 10s);
    BOOST_TEST(value.cml.request_timeout == 30s);
    BOOST_TEST(value.cml.wait_for_ray);
    BOOST_TEST(!value.cml.tls_insecure);
    BOOST_TEST(raydeploy::setting_value_text(value, "cml.api_key") == "not set");
    BOOST_TEST(contains(raydeploy::setting_value_text(value, "cml.host"), "not configured"));
    BOOST_TEST(raydeploy::environment_variable_for("cml.api_key") == "RAYDEPLOY_CML_API_KEY");
    BOOST_TEST(raydeploy::environment_variable_for("cml.wait_for_ray") == "RAYDEPLOY_CML_WAIT_FOR_RAY");
}

BOOST_AUTO_TEST_CASE(cml_settings_from_the_file_and_the_environment)
{
    temp_dir dir;
    const auto file = dir.write_file("raydeploy.yaml",
                                     "cml:\n"
                                     "  host: https://ml.example.cloudera.site/\n"
                                     "  project_name: ray-cluster\n"
                                     "  git_url: https://github.com/example/ray-on-cml.git\n"
                                     "  runtime_identifier: docker.repository.cloudera.com/cloudera/cdsw/"
                                     "ml-runtime-pbj-jupyterlab-python3.11-standard:2025.09.1-b5\n"
                                     "  poll_interval: 2s\n"
                                     "  request_timeout: 45s\n"
                                     "  ca_file: certs/workspace-ca.pem\n"
                                     "  wait_for_ray: false\n");
    const auto value =
        load_settings(file, raydeploy::environment_overrides({{"RAYDEPLOY_CML_API_KEY", "cml-key-7f3a9c"}}), {});
    BOOST_TEST(value.cml.configured());
    BOOST_TEST(value.cml.host == "https://ml.example.cloudera.site");
    BOOST_TEST(value.cml.project_name == "ray-cluster");
    BOOST_TEST(value.cml.git_url == "https://github.com/example/ray-on-cml.git");
    BOOST_TEST(contains(value.cml.runtime_identifier, "python3.11-standard"));
    BOOST_TEST(value.cml.poll_interval == 2s);
    BOOST_TEST(value.cml.request_timeout == 45s);
    BOOST_TEST(value.cml.ca_file.value_or("").string() == (dir.path() / "certs/workspace-ca.pem").string());
    BOOST_TEST(!value.cml.wait_for_ray);
    BOOST_TEST(value.cml.api_key.value_or("") == "cml-key-7f3a9c");
    // --check-config prints every setting with setting_value_text: the key only as "set".
    for (const auto& description : raydeploy::setting_descriptions()) {
        const std::string shown = raydeploy::setting_value_text(value, description.key);
        BOOST_TEST(!contains(shown, "cml-key-7f3a9c"), description.key);
    }
    BOOST_TEST(raydeploy::setting_value_text(value, "cml.api_key") == "set");
    BOOST_TEST(value.sources.at("cml.api_key") == "environment variable RAYDEPLOY_CML_API_KEY");

    const auto from_env = with_environment({{"RAYDEPLOY_CML_HOST", "https://ml.example.cloudera.site"},
                                            {"RAYDEPLOY_CML_API_KEY", "k"},
                                            {"RAYDEPLOY_CML_TLS_INSECURE", "true"},
                                            {"RAYDEPLOY_CML_POLL_INTERVAL", "500ms"}});
    BOOST_TEST(from_env.cml.tls_insecure);
    BOOST_TEST(from_env.cml.poll_interval == 500ms);
}

BOOST_AUTO_TEST_CASE(the_cml_key_never_comes_from_the_config_file)
{
    temp_dir dir;
    const auto message = error_for("cml:\n  host: https://ml.example.cloudera.site\n  api_key: pasted-key-55d1\n", dir);
    BOOST_TEST(contains(message, "cml.api_key"), message);
    BOOST_TEST(contains(message, "RAYDEPLOY_CML_API_KEY"), message);
    BOOST_TEST(contains(message, "cml.api_key_file"), message);
    BOOST_TEST(!contains(message, "pasted-key-55d1"), message);
}

BOOST_AUTO_TEST_CASE(the_cml_key_from_its_variables_then_its_file)
{
    temp_dir dir;
    const std::string host = "https://ml.example.cloudera.site";
    // The seeds' name, when raydeploy's own is not set.
    const auto seed = with_environment({{"RAYDEPLOY_CML_HOST", host}, {"CML_API_KEY", "seed-key"}});
    BOOST_TEST(seed.cml.api_key.value_or("") == "seed-key");
    BOOST_TEST(seed.sources.at("cml.api_key") == "environment variable CML_API_KEY");
    const auto both = with_environment(
        {{"RAYDEPLOY_CML_HOST", host}, {"CML_API_KEY", "seed-key"}, {"RAYDEPLOY_CML_API_KEY", "own-key"}});
    BOOST_TEST(both.cml.api_key.value_or("") == "own-key");

    const auto key_file = dir.write_file("cml-key", "file-key-19ab\n");
    const auto from_file = with_environment({{"RAYDEPLOY_CML_HOST", host}, {"RAYDEPLOY_CML_API_KEY_FILE", key_file.string()}});
    BOOST_TEST(from_file.cml.api_key.value_or("") == "file-key-19ab");
    BOOST_TEST(from_file.sources.at("cml.api_key") == "cml.api_key_file");
    BOOST_TEST(raydeploy::setting_value_text(from_file, "cml.api_key") == "set");
    // A variable wins over the file.
    const auto variable_first = with_environment(
        {{"RAYDEPLOY_CML_HOST", host}, {"CML_API_KEY", "seed-key"}, {"RAYDEPLOY_CML_API_KEY_FILE", key_file.string()}});
    BOOST_TEST(variable_first.cml.api_key.value_or("") == "seed-key");

    const auto missing = environment_error({{"RAYDEPLOY_CML_API_KEY_FILE", (dir.path() / "missing").string()}});
    BOOST_TEST(contains(missing, "cml.api_key_file: cannot read"), missing);
    const auto two_lines = dir.write_file("two-lines", "line-one-key\nline-two-key\n");
    const auto several = environment_error({{"RAYDEPLOY_CML_API_KEY_FILE", two_lines.string()}});
    BOOST_TEST(contains(several, "exactly one line"), several);
    BOOST_TEST(!contains(several, "line-one-key"), several);
    const auto spaced = dir.write_file("spaced", "half key\n");
    const auto with_space = environment_error({{"RAYDEPLOY_CML_API_KEY_FILE", spaced.string()}});
    BOOST_TEST(contains(with_space, "holds a space"), with_space);
    BOOST_TEST(!contains(with_space, "half key"), with_space);

    const auto empty = environment_error({{"RAYDEPLOY_CML_API_KEY", " "}});
    BOOST_TEST(contains(empty, "RAYDEPLOY_CML_API_KEY: is empty"), empty);
    const auto broken = environment_error({{"CML_API_KEY", "abc\r\nX-Injected: 1"}});
    BOOST_TEST(contains(broken, "environment variable CML_API_KEY: holds a space, a line break"), broken);
    BOOST_TEST(!contains(broken, "X-Injected"), broken);
}

BOOST_AUTO_TEST_CASE(a_cml_host_needs_a_key)
{
    const auto message = environment_error({{"RAYDEPLOY_CML_HOST", "https://ml.example.cloudera.site"}});
    BOOST_TEST(contains(message, "cml.host is set (from environment variable RAYDEPLOY_CML_HOST) but no CML API key"),
               message);
    BOOST_TEST(contains(message, "RAYDEPLOY_CML_API_KEY"), message);
    BOOST_TEST(contains(message, "cml.api_key_file"), message);
    // A key without a host is fine: CML is simply not used.
    BOOST_CHECK_NO_THROW(with_environment({{"RAYDEPLOY_CML_API_KEY", "k"}}));
}

BOOST_AUTO_TEST_CASE(cml_hosts_and_git_urls_are_checked)
{
    const auto host = [](const std::string& url) {
        return with_environment({{"RAYDEPLOY_CML_HOST", url}, {"RAYDEPLOY_CML_API_KEY", "k"}}).cml.host;
    };
    BOOST_TEST(host("https://ml.example.cloudera.site:8443/") == "https://ml.example.cloudera.site:8443");
    BOOST_TEST(host("https://rest.example.com/workspace") == "https://rest.example.com/workspace");
    // A test's fake on this machine.
    BOOST_TEST(host("http://127.0.0.1:40123") == "http://127.0.0.1:40123");
    BOOST_TEST(host("http://[::1]:40123") == "http://[::1]:40123");
    BOOST_TEST(host("http://localhost:40123") == "http://localhost:40123");
    BOOST_TEST(host("").empty());

    const auto plain = environment_error({{"RAYDEPLOY_CML_HOST", "http://ml.example.cloudera.site"}, {"RAYDEPLOY_CML_API_KEY", "k"}});
    BOOST_TEST(contains(plain, "http:// would send the API key unencrypted"), plain);
    for (const char* bad : {"ml.example.cloudera.site", "ftp://ml.example.com", "https://user:pw@ml.example.com",
                            "https://ml.example.com/?x=1"}) {
        const auto message = environment_error({{"RAYDEPLOY_CML_HOST", bad}, {"RAYDEPLOY_CML_API_KEY", "k"}});
        BOOST_TEST(contains(message, "RAYDEPLOY_CML_HOST: expected the workspace's https:// URL"), message);
    }

    for (const char* good : {"https://github.com/example/ray-on-cml.git", "git@github.com:example/ray-on-cml.git",
                             "ssh://git@git.example.com/team/repo.git", "https://ci-bot@git.example.com/repo.git"})
        BOOST_TEST(with_environment({{"RAYDEPLOY_CML_GIT_URL", good}}).cml.git_url == good);
    const auto secret = environment_error({{"RAYDEPLOY_CML_GIT_URL", "https://bot:ghp_s3cretT0ken@github.com/x/y.git"}});
    BOOST_TEST(contains(secret, "carries a password or token"), secret);
    BOOST_TEST(!contains(secret, "ghp_s3cretT0ken"), secret);
    BOOST_TEST(contains(environment_error({{"RAYDEPLOY_CML_GIT_URL", "github.com/x/y"}}), "expected a git URL"));
    BOOST_TEST(contains(environment_error({{"RAYDEPLOY_CML_PROJECT_NAME", " ray"}}), "cannot start or end with a space"));
    BOOST_TEST(contains(environment_error({{"RAYDEPLOY_CML_RUNTIME_IDENTIFIER", "two words"}}), "one word"));
}

BOOST_AUTO_TEST_SUITE_END()
