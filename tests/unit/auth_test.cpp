// Roles, token hashing and generation, the bearer-token authenticator, and `raydeploy token create`.
#include "raydeploy/auth/identity.hpp"
#include "raydeploy/auth/tokens.hpp"
#include "raydeploy/cli/cli.hpp"
#include "raydeploy/http/response.hpp"
#include "support/test_support.hpp"

#include <boost/test/unit_test.hpp>
#include <yaml-cpp/yaml.h>

#include <set>
#include <sstream>

using raydeploy::test::run_cli_in_process;
using namespace raydeploy;

BOOST_TEST_DONT_PRINT_LOG_VALUE(raydeploy::role)
BOOST_TEST_DONT_PRINT_LOG_VALUE(http::status)

namespace {

web::request request_with(std::optional<std::string> authorization)
{
    web::request req{http::verb::get, "/api/v1/checkpoints", 11};
    if (authorization) req.set(http::field::authorization, *authorization);
    return req;
}

// Why authenticating `req` is refused; fails the test when it is not.
auth_refusal rejection(const token_authenticator& auth, const web::request& req)
{
    const auto result = auth.authenticate(req);
    if (!result) return result.refusal();
    BOOST_ERROR("expected 401, authenticated as '" + result.caller().name + "'");
    return auth_refusal{http::status::ok, "", "", {}};
}

bool contains(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }



}  // namespace

BOOST_AUTO_TEST_SUITE(auth)

BOOST_AUTO_TEST_CASE(roles_are_ordered_and_named)
{
    BOOST_TEST((role::viewer < role::operator_ && role::operator_ < role::approver && role::approver < role::admin));
    BOOST_TEST(to_string(role::operator_) == "operator");
    for (role r : {role::viewer, role::operator_, role::approver, role::admin})
        BOOST_TEST((parse_role(to_string(r)) == r));
    BOOST_TEST(!parse_role("operator_").has_value());
    BOOST_TEST(!parse_role("Admin").has_value());
    BOOST_TEST(!parse_role("").has_value());
}

BOOST_AUTO_TEST_CASE(sha256_matches_known_vectors)
{
    BOOST_TEST(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    BOOST_TEST(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

BOOST_AUTO_TEST_CASE(generated_tokens_are_prefixed_random_base64url)
{
    std::set<std::string> seen;
    for (int i = 0; i < 50; ++i) {
        const std::string token = generate_token();
        BOOST_TEST_REQUIRE(token.size() == 4u + 43u, token);  // 32 bytes -> 43 base64url characters
        BOOST_TEST(token.rfind("rdp_", 0) == 0u);
        BOOST_TEST(token.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", 4) ==
                       std::string::npos,
                   token);
        BOOST_TEST(seen.insert(token).second);
    }
}

BOOST_AUTO_TEST_CASE(entry_checks)
{
    BOOST_TEST(!token_name_problem("ci").has_value());
    BOOST_TEST(!token_name_problem("alice@example.com").has_value());
    BOOST_TEST(token_name_problem("").has_value());
    BOOST_TEST(token_name_problem("a:b").has_value());  // would break the NAME:ROLE:SHA256 form
    BOOST_TEST(token_name_problem("two words").has_value());
    BOOST_TEST(!token_hash_problem(sha256_hex("x")).has_value());
    BOOST_TEST(token_hash_problem(sha256_hex("x").substr(1)).has_value());
    BOOST_TEST(token_hash_problem(std::string(64, 'g')).has_value());
    BOOST_TEST(token_hash_problem("rdp_not-a-hash").has_value());
    BOOST_TEST(token_env_form({"ci", role::operator_, "ab", ""}) == "ci:operator:ab");
}

BOOST_AUTO_TEST_CASE(open_mode_makes_everyone_local_admin)
{
    const token_authenticator auth{{}};
    BOOST_TEST(auth.open_mode());
    for (auto header : {std::optional<std::string>{}, std::optional<std::string>{"Bearer whatever"}}) {
        const identity who = auth.authenticate(request_with(header)).caller();
        BOOST_TEST(who.name == "local");
        BOOST_TEST(who.level == role::admin);
        BOOST_TEST(who.open_mode);
    }
}

BOOST_AUTO_TEST_CASE(each_configured_token_authenticates_with_its_role)
{
    const std::vector<std::pair<std::string, role>> people = {
        {"vera", role::viewer}, {"ci", role::operator_}, {"alice", role::approver}, {"root", role::admin}};
    std::vector<token_entry> entries;
    std::vector<std::string> tokens;
    for (const auto& [name, level] : people) {
        tokens.push_back(generate_token());
        entries.push_back({name, level, sha256_hex(tokens.back()), ""});
    }
    const token_authenticator auth{entries};
    BOOST_TEST(!auth.open_mode());
    for (std::size_t i = 0; i < people.size(); ++i) {
        const identity who = auth.authenticate(request_with("Bearer " + tokens[i])).caller();
        BOOST_TEST(who.name == people[i].first);
        BOOST_TEST(who.level == people[i].second);
        BOOST_TEST(!who.open_mode);
    }
    // The scheme is case-insensitive (RFC 7235); stray spaces around the token are tolerated.
    BOOST_TEST(auth.authenticate(request_with("bearer  " + tokens[1] + " ")).caller().name == "ci");
}

BOOST_AUTO_TEST_CASE(tokens_of_one_person_are_one_person)
{
    const std::string laptop = generate_token(), ci = generate_token(), bob = generate_token();
    const token_entry ci_entry{"alice-ci", role::operator_, sha256_hex(ci), "Alice"};
    const token_authenticator auth{{{"alice", role::approver, sha256_hex(laptop), ""}, ci_entry,
                                    {"bob", role::approver, sha256_hex(bob), ""}}};
    const identity from_laptop = auth.authenticate(request_with("Bearer " + laptop)).caller();
    const identity from_ci = auth.authenticate(request_with("Bearer " + ci)).caller();
    const identity from_bob = auth.authenticate(request_with("Bearer " + bob)).caller();
    BOOST_TEST(from_ci.name == "alice-ci", "the name stays the token's, for logs and the audit trail");
    BOOST_TEST(person_key(from_laptop) == "alice");
    BOOST_TEST(person_key(from_ci) == person_key(from_laptop));
    BOOST_TEST(person_key(from_bob) != person_key(from_laptop));
    BOOST_TEST(same_person("ALICE", "alice"));
    BOOST_TEST(!same_person("alice", "alice2"));
    BOOST_TEST(token_env_form(ci_entry) == "alice-ci:operator:" + sha256_hex(ci) + ":Alice");
}

BOOST_AUTO_TEST_CASE(missing_malformed_and_unknown_tokens_are_401)
{
    const std::string token = generate_token();
    const token_authenticator auth{{{"ci", role::operator_, sha256_hex(token), ""}}};

    const auto missing = rejection(auth, request_with(std::nullopt));
    BOOST_TEST(missing.status == http::status::unauthorized);
    BOOST_TEST(missing.code == "UNAUTHENTICATED");
    BOOST_TEST(contains(missing.message, "Authorization: Bearer $RAYDEPLOY_TOKEN"), missing.message);
    BOOST_TEST(contains(missing.message, "raydeploy token create"), missing.message);

    const auto basic = rejection(auth, request_with("Basic Y2k6cGFzcw=="));
    BOOST_TEST(basic.status == http::status::unauthorized);
    BOOST_TEST(contains(basic.message, "'Bearer TOKEN'"), basic.message);

    BOOST_TEST(rejection(auth, request_with("Bearer")).status == http::status::unauthorized);
    BOOST_TEST(rejection(auth, request_with("Bearer ")).status == http::status::unauthorized);
    BOOST_TEST(rejection(auth, request_with(token)).status == http::status::unauthorized);  // no scheme

    const auto unknown = rejection(auth, request_with("Bearer " + generate_token()));
    BOOST_TEST(unknown.status == http::status::unauthorized);
    BOOST_TEST(contains(unknown.message, "not one this service knows"), unknown.message);

    // The configured hash is not itself a credential.
    BOOST_TEST(rejection(auth, request_with("Bearer " + sha256_hex(token))).status == http::status::unauthorized);
}

BOOST_AUTO_TEST_CASE(token_create_prints_the_token_and_a_matching_entry)
{
    const auto result = run_cli_in_process({"token", "create", "--name", "ci", "--role", "operator"});
    BOOST_TEST_REQUIRE(result.exit_code == cli::exit_ok, result.err);
    const auto newline = result.out.find('\n');
    BOOST_TEST_REQUIRE(newline != std::string::npos);
    const std::string token = result.out.substr(0, newline);
    BOOST_TEST(token.rfind("rdp_", 0) == 0u, token);
    BOOST_TEST(contains(result.out, "shown only once"));

    // The rest is YAML: the auth.tokens entry, ready to paste into a config file.
    const YAML::Node config = YAML::Load(result.out.substr(newline + 1));
    const YAML::Node entry = config["auth"]["tokens"][0];
    BOOST_TEST_REQUIRE(entry.IsMap());
    BOOST_TEST(entry["name"].as<std::string>() == "ci");
    BOOST_TEST(entry["role"].as<std::string>() == "operator");
    BOOST_TEST(entry["sha256"].as<std::string>() == sha256_hex(token));
    BOOST_TEST(result.out.find(token, newline) == std::string::npos, "the token appears only on line 1");

    BOOST_TEST(contains(result.out, "RAYDEPLOY_AUTH_TOKENS=ci:operator:" + sha256_hex(token)));

    // The entry admits exactly that token.
    const token_authenticator auth{{{"ci", role::operator_, entry["sha256"].as<std::string>(), ""}}};
    BOOST_TEST(auth.authenticate(request_with("Bearer " + token)).caller().name == "ci");

    BOOST_TEST(run_cli_in_process({"token", "create", "--name", "ci", "--role", "operator"}).out.substr(0, newline) !=
               token);
}

BOOST_AUTO_TEST_CASE(token_create_names_the_person)
{
    const auto result = run_cli_in_process({"token", "create", "--name", "alice-ci", "--role", "operator", "--person", "alice"});
    BOOST_TEST_REQUIRE(result.exit_code == cli::exit_ok, result.err);
    const YAML::Node entry = YAML::Load(result.out.substr(result.out.find('\n') + 1))["auth"]["tokens"][0];
    BOOST_TEST(entry["person"].as<std::string>() == "alice");
    BOOST_TEST(contains(result.out, ":alice\n"), result.out);
    const auto bad = run_cli_in_process({"token", "create", "--name", "x", "--role", "viewer", "--person", "a b"});
    BOOST_TEST(bad.exit_code == cli::exit_usage);
    BOOST_TEST(contains(bad.err, "--person"), bad.err);
}

BOOST_AUTO_TEST_CASE(token_create_usage_errors_exit_2)
{
    const auto bad_role = run_cli_in_process({"token", "create", "--name", "ci", "--role", "superuser"});
    BOOST_TEST(bad_role.exit_code == cli::exit_usage);
    BOOST_TEST(contains(bad_role.err, "viewer, operator, approver, admin"), bad_role.err);
    BOOST_TEST(bad_role.out.empty(), "no token is printed for a failed command");

    const auto no_name = run_cli_in_process({"token", "create", "--role", "admin"});
    BOOST_TEST(no_name.exit_code == cli::exit_usage);
    BOOST_TEST(contains(no_name.err, "--name and --role are required"), no_name.err);

    const auto bad_name = run_cli_in_process({"token", "create", "--name", "a:b", "--role", "admin"});
    BOOST_TEST(bad_name.exit_code == cli::exit_usage);

    const auto no_action = run_cli_in_process({"token", "--name", "ci", "--role", "admin"});
    BOOST_TEST(no_action.exit_code == cli::exit_usage);
    BOOST_TEST(contains(no_action.err, "expected 'create'"), no_action.err);

    const auto help = run_cli_in_process({"token", "--help"});
    BOOST_TEST(help.exit_code == cli::exit_ok);
    BOOST_TEST(contains(help.out, "--role"));
}

BOOST_AUTO_TEST_SUITE_END()
