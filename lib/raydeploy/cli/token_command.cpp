// `raydeploy token create`: a fresh bearer token and the config entry that admits it. The service
// stores only the token's SHA-256, so this is the one moment the token itself is visible.
#include "raydeploy/auth/tokens.hpp"
#include "raydeploy/cli/cli.hpp"
#include "raydeploy/cli/commands.hpp"

#include <ostream>

namespace raydeploy::cli {

namespace po = boost::program_options;

namespace {

constexpr std::string_view synopsis = "create --name NAME --role viewer|operator|approver|admin [--person PERSON]";
constexpr std::string_view description =
    "Prints a new random token on the first line, then the auth.tokens entry that admits it\n"
    "(name, role and the token's SHA-256, never the token) as YAML, and the same entry in the\n"
    "form RAYDEPLOY_AUTH_TOKENS takes. The token is shown only this once: store it right away.\n"
    "Roles, each including the ones before it: viewer (reads), operator (runs and cancels),\n"
    "approver (grants and denies approvals), admin (audit log, auto_approve).";

void print_entry(std::ostream& out, const std::string& token, const token_entry& entry)
{
    // Everything after the token is valid YAML (notes are comments), so scripts can take line 1 as
    // the secret and parse the rest.
    out << token << "\n"
        << "# The token above is shown only once; raydeploy keeps only its SHA-256. Store it now,\n"
        << "# for example as the secret RAYDEPLOY_TOKEN of the CI job or person who will use it.\n"
        << "# Add this entry to auth.tokens in the service's config file and restart the service:\n"
        << "auth:\n"
        << "  tokens:\n"
        << "    - name: " << entry.name << "\n"
        << "      role: " << to_string(entry.level) << "\n"
        << "      sha256: " << entry.sha256_hex << "\n";
    if (!entry.person.empty()) out << "      person: " << entry.person << "\n";
    out
        << "# or give it in the environment (separate several entries with commas):\n"
        << "# RAYDEPLOY_AUTH_TOKENS=" << token_env_form(entry) << "\n";
}

}  // namespace

int token_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err)
{
    po::options_description options{"Options"};
    options.add_options()("name", po::value<std::string>()->value_name("NAME"),
                          "who or what uses the token (a person, ci); shown in logs and the audit trail")(
        "role", po::value<std::string>()->value_name("ROLE"), "viewer, operator, approver or admin")(
        "person", po::value<std::string>()->value_name("PERSON"),
        "who holds the token, when one person has several (laptop, CI): the four-eyes rule compares persons")(
        "help,h", "show this help");
    po::positional_options_description positional;
    positional.add("action", 1);
    po::options_description hidden;
    hidden.add_options()("action", po::value<std::string>());
    po::options_description all;
    all.add(options).add(hidden);

    po::variables_map vm;
    try {
        po::store(po::command_line_parser(args).options(all).positional(positional).run(), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        print_error(err, std::string{"token: "} + e.what() + "; run 'raydeploy token --help' for the options");
        return exit_usage;
    }
    if (vm.count("help")) {
        print_command_help(out, "token", synopsis, description, options);
        return exit_ok;
    }
    if (!vm.count("action") || vm["action"].as<std::string>() != "create") {
        const std::string given = vm.count("action") ? "'" + vm["action"].as<std::string>() + "'" : "no action";
        print_error(err,
                    "token: expected 'create', got " + given + "; usage: raydeploy token " + std::string{synopsis});
        return exit_usage;
    }
    if (!vm.count("name") || !vm.count("role")) {
        print_error(err, std::string{"token create: --name and --role are required; usage: raydeploy token "} +
                             std::string{synopsis});
        return exit_usage;
    }
    token_entry entry;
    entry.name = vm["name"].as<std::string>();
    if (auto problem = token_name_problem(entry.name)) {
        print_error(err, "token create: --name: " + *problem);
        return exit_usage;
    }
    const std::string role_text = vm["role"].as<std::string>();
    const auto level = parse_role(role_text);
    if (!level) {
        print_error(err, "token create: --role must be one of " + std::string{role_names()} + ", not '" + role_text +
                             "'");
        return exit_usage;
    }
    entry.level = *level;
    if (vm.count("person")) {
        entry.person = vm["person"].as<std::string>();
        if (auto problem = token_name_problem(entry.person)) {
            print_error(err, "token create: --person: " + *problem);
            return exit_usage;
        }
    }

    const std::string token = generate_token();
    entry.sha256_hex = sha256_hex(token);
    print_entry(out, token, entry);
    return exit_ok;
}

}  // namespace raydeploy::cli
