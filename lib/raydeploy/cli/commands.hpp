// The subcommands and the helpers they share. Each command parses its own options and returns
// an exit code from cli.hpp.
#pragma once

#include "raydeploy/config/settings.hpp"

#include <boost/program_options.hpp>

#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

namespace raydeploy::cli {

struct command {
    std::string_view name;
    std::string_view summary;
    int (*run)(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
};

const std::vector<command>& commands();

int serve_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int checkpoints_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int token_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

// Client commands (client_*_commands.cpp): they talk to a service over its REST API.
int run_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int deploy_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int resume_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int cancel_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int approve_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int deny_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int status_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int executions_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int logs_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
// The Ray cluster, its Serve applications and jobs, and the nodes of a cluster launched on CML
// (client_ray_commands.cpp).
int cluster_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int apps_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int jobs_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int nodes_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

// Options every command that reads settings accepts: --config and the per-setting flags named in
// `keys` (setting names such as "listen", "catalog").
boost::program_options::options_description settings_options(const std::vector<std::string_view>& keys);

// Settings from --config / RAYDEPLOY_CONFIG, the environment and the parsed flags.
settings settings_from(const boost::program_options::variables_map& vm);

// Parses `args` against `options`; on a usage error prints it with a hint and returns nullopt.
std::optional<boost::program_options::variables_map> parse_options(
    std::string_view command_name, const boost::program_options::options_description& options,
    const std::vector<std::string>& args, std::ostream& err);

void print_command_help(std::ostream& out, std::string_view command_name, std::string_view synopsis,
                        std::string_view description, const boost::program_options::options_description& options);

// Prints an error for the user, one "raydeploy: error: " line per line of `message`.
void print_error(std::ostream& err, std::string_view message);

}  // namespace raydeploy::cli
