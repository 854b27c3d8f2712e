// Command dispatch, global help and version, and the option plumbing the commands share.
#include "raydeploy/cli/cli.hpp"

#include "raydeploy/cli/commands.hpp"
#include "raydeploy/engine/supervisor.hpp"
#include "raydeploy/util/errors.hpp"
#include "raydeploy/util/version.hpp"

#include <iostream>
#include <sstream>

namespace raydeploy::cli {

namespace po = boost::program_options;

const std::vector<command>& commands()
{
    static const std::vector<command> table = {
        {"serve", "run the raydeploy service (REST API, event feed)", serve_command},
        {"checkpoints", "list the checkpoints of the catalog", checkpoints_command},
        {"token", "create a bearer token and the config entry that admits it", token_command},
        {"run", "run one checkpoint and follow it to its end", run_command},
        {"deploy", "run the checkpoints in order, waiting at approval gates", deploy_command},
        {"resume", "continue a failed deployment from where it stopped", resume_command},
        {"cancel", "cancel a deployment or an execution", cancel_command},
        {"approve", "grant an approval of a gated checkpoint", approve_command},
        {"deny", "deny the pending approval request of a checkpoint", deny_command},
        {"status", "deployment status, a checkpoint's last run, health, approvals", status_command},
        {"executions", "list executions, newest first", executions_command},
        {"logs", "print (or follow) an execution's output", logs_command},
        {"cluster", "the Ray cluster: status, info, nodes, capacity", cluster_command},
        {"apps", "Ray Serve applications: list, show, deploy, delete", apps_command},
        {"jobs", "Ray jobs: list, show, submit, stop, logs", jobs_command},
        {"nodes", "Ray nodes: list; add, remove workers of a cluster launched on CML", nodes_command},
    };
    return table;
}

namespace {

void print_usage(std::ostream& out)
{
    out << "raydeploy " << version() << ": deploy and operate Ray clusters in checkpoints\n\n"
        << "Usage: raydeploy COMMAND [OPTIONS]\n\nCommands:\n";
    for (const auto& cmd : commands()) {
        out << "  " << cmd.name << std::string(14 - std::min<std::size_t>(cmd.name.size(), 13), ' ') << cmd.summary
            << "\n";
    }
    out << "\nGlobal options:\n"
        << "  --help, -h    show this help; 'raydeploy COMMAND --help' shows a command's options\n"
        << "  --version     print the version\n\n"
        << "Exit codes: 0 success; 1 a checkpoint failed, or a runtime failure; 2 usage or configuration\n"
        << "error; 3 approval denied or expired (or --approval-timeout reached); 4 cancelled; 5 service\n"
        << "unreachable or authentication failed.\n"
        << "The commands from 'run' on talk to the service at --server URL (or RAYDEPLOY_SERVER, token\n"
        << "in RAYDEPLOY_TOKEN); without one they run the engine in-process on the state directory.\n";
}

const command* find_command(std::string_view name)
{
    for (const auto& cmd : commands())
        if (cmd.name == name) return &cmd;
    return nullptr;
}

}  // namespace

void print_error(std::ostream& err, std::string_view message)
{
    std::istringstream lines{std::string{message}};
    for (std::string line; std::getline(lines, line);) err << "raydeploy: error: " << line << "\n";
}

po::options_description settings_options(const std::vector<std::string_view>& keys)
{
    po::options_description options{"Options"};
    options.add_options()("config", po::value<std::string>()->value_name("FILE"),
                          "YAML settings file (also RAYDEPLOY_CONFIG)");
    for (const auto& description : setting_descriptions()) {
        if (description.flag.empty() || std::find(keys.begin(), keys.end(), description.key) == keys.end()) continue;
        const std::string name{description.flag.substr(2)};
        const std::string help = std::string{description.help} + " (also " +
                                 environment_variable_for(description.key) + ")";
        options.add(boost::make_shared<po::option_description>(
            name.c_str(), po::value<std::string>()->value_name("VALUE"), help.c_str()));
    }
    return options;
}

settings settings_from(const po::variables_map& vm)
{
    const auto environment = current_environment();
    std::optional<std::filesystem::path> config_file;
    if (vm.count("config")) {
        config_file = vm["config"].as<std::string>();
    } else if (auto it = environment.find("RAYDEPLOY_CONFIG"); it != environment.end() && !it->second.empty()) {
        config_file = it->second;
    }
    std::vector<setting_override> flags;
    for (const auto& description : setting_descriptions()) {
        if (description.flag.empty()) continue;
        const std::string name{description.flag.substr(2)};
        if (vm.count(name))
            flags.push_back({std::string{description.key}, vm[name].as<std::string>(), std::string{description.flag}});
    }
    return load_settings(config_file, environment_overrides(environment), flags);
}

std::optional<po::variables_map> parse_options(std::string_view command_name, const po::options_description& options,
                                               const std::vector<std::string>& args, std::ostream& err)
{
    po::variables_map vm;
    try {
        po::store(po::command_line_parser(args).options(options).run(), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        print_error(err, std::string{command_name} + ": " + e.what() + "; run 'raydeploy " + std::string{command_name} +
                             " --help' for the options");
        return std::nullopt;
    }
    return vm;
}

void print_command_help(std::ostream& out, std::string_view command_name, std::string_view synopsis,
                        std::string_view description, const po::options_description& options)
{
    out << "Usage: raydeploy " << command_name << " " << synopsis << "\n\n" << description << "\n\n" << options;
}

int run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err)
{
    if (args.empty()) {
        print_usage(err);
        return exit_usage;
    }
    const std::string& first = args.front();
    // Internal: the leader of a run's process group (see engine/supervisor.hpp). Not a user command.
    if (first == supervise_command) {
        if (args.size() < 4 || args[2] != "--") {
            err << "usage: raydeploy __supervise GRACE_MS -- PROGRAM [ARGS...]\n";
            return exit_usage;
        }
        return run_supervisor(std::chrono::milliseconds{std::atoll(args[1].c_str())}, {args.begin() + 3, args.end()});
    }
    if (first == "--help" || first == "-h") {
        print_usage(out);
        return exit_ok;
    }
    if (first == "help") {
        if (args.size() == 1) {
            print_usage(out);
            return exit_ok;
        }
        if (const command* cmd = find_command(args[1])) return cmd->run({"--help"}, out, err);
        print_error(err, "unknown command '" + args[1] + "'; run 'raydeploy --help' for the list of commands");
        return exit_usage;
    }
    if (first == "--version" || first == "version") {
        out << "raydeploy " << version() << "\n";
        return exit_ok;
    }
    const command* cmd = find_command(first);
    if (!cmd) {
        print_error(err, "unknown command '" + first + "'; run 'raydeploy --help' for the list of commands");
        return exit_usage;
    }
    try {
        return cmd->run({args.begin() + 1, args.end()}, out, err);
    } catch (const config_error& e) {
        print_error(err, e.what());
        return exit_usage;
    } catch (const runtime_failure& e) {
        print_error(err, e.what());
        return exit_failure;
    } catch (const std::exception& e) {
        print_error(err, std::string{"unexpected failure: "} + e.what());
        return exit_failure;
    }
}

int run(int argc, char** argv)
{
    return run(std::vector<std::string>(argv + 1, argv + argc), std::cout, std::cerr);
}

}  // namespace raydeploy::cli
