// `raydeploy serve`: settings -> checks -> the service (app/service.hpp) -> run until SIGTERM.
#include "raydeploy/app/service.hpp"
#include "raydeploy/catalog/catalog.hpp"
#include "raydeploy/cli/cli.hpp"
#include "raydeploy/cli/commands.hpp"
#include "raydeploy/config/install_layout.hpp"
#include "raydeploy/util/log.hpp"
#include "raydeploy/util/private_files.hpp"
#include "raydeploy/util/version.hpp"

#include <iostream>
#include <set>

namespace raydeploy::cli {

namespace po = boost::program_options;

namespace {

void print_effective_settings(std::ostream& out, const settings& value, const checkpoint_catalog& catalog)
{
    out << "configuration OK\n";
    const install_layout& layout = this_install_layout();
    out << "  defaults from " << layout.describe() << "; default state directory: "
        << (layout.state_dir.empty() ? std::string{"none (give --state-dir)"}
                                     : layout.state_dir.string() + " (" + layout.state_dir_origin + ")")
        << "\n";
    for (const auto& description : setting_descriptions()) {
        const std::string key{description.key};
        out << "  " << key << " = " << setting_value_text(value, key) << "  (" << value.sources.at(key) << ")\n";
    }
    out << "  catalog: " << catalog.checkpoints().size() << " checkpoints from " << catalog.source().string() << "\n";
    // The CML config files the catalog read, once each however many checkpoints name them.
    std::set<const void*> shown;
    for (const auto& item : catalog.checkpoints()) {
        if (item.jobs && shown.insert(item.jobs.get()).second) {
            std::string chain;
            for (const auto& job : item.jobs->jobs) chain += (chain.empty() ? "" : " -> ") + job.key;
            out << "  cml jobs: " << chain << " from " << item.jobs->source.string() << "\n";
        }
        if (item.cluster && shown.insert(item.cluster.get()).second)
            out << "  ray cluster: a head and " << item.cluster->num_workers << " workers from "
                << item.cluster->source.string() << "\n";
    }
}

}  // namespace

int serve_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err)
{
    auto options = settings_options(
        {"listen", "state_dir", "catalog", "inventory", "ansible_playbook", "log.level", "log.format"});
    options.add_options()("check-config", "validate the settings and the catalog, print them, and exit (0 or 2)")(
        "help,h", "show this help");
    const auto vm = parse_options("serve", options, args, err);
    if (!vm) return exit_usage;
    if (vm->count("help")) {
        print_command_help(out, "serve", "[OPTIONS]",
                           "Runs the raydeploy service. Settings come from embedded defaults, the YAML file\n"
                           "given with --config, RAYDEPLOY_* environment variables and flags, in rising\n"
                           "precedence. When ready it prints 'listening on http://HOST:PORT' on stdout\n"
                           "(https:// with http.tls_cert and http.tls_key; SIGHUP reloads them).\n"
                           "SIGTERM or SIGINT stop it gracefully (exit 0).",
                           options);
        out << "\nSettings only the config file and environment set (YAML key, variable):\n";
        for (const auto& description : setting_descriptions())
            if (description.flag.empty())
                out << "  " << description.key << ", " << environment_variable_for(description.key) << ": "
                    << description.help << "\n";
        return exit_ok;
    }

    // Before anything is created: whatever a library writes on its own is private too.
    restrict_umask();
    const settings config = settings_from(*vm);
    log::configure(config.log_level, config.log_format);
    check_serve_paths(config);
    check_listen_security(config);
    if (vm->count("check-config")) {
        print_effective_settings(out, config, load_catalog(config.catalog));
        return exit_ok;
    }

    service instance{config, true};
    instance.publish_endpoint();
    log::info("raydeploy started", {{"version", version()},
                                   {"listen", instance.endpoint().to_string()},
                                   {"checkpoints", instance.checkpoint_count()},
                                   {"state_dir", config.state_dir.string()}});
    out << "listening on " << (instance.tls() ? "https://" : "http://") << instance.endpoint().to_string() << std::endl;
    instance.run();
    return exit_ok;
}

}  // namespace raydeploy::cli
