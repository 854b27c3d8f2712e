// `raydeploy serve`: settings -> catalog -> state store -> HTTP server -> run until SIGTERM.
#include "raydeploy/api/routes.hpp"
#include "raydeploy/catalog/catalog.hpp"
#include "raydeploy/engine/execution_manager.hpp"
#include "raydeploy/events/event_bus.hpp"
#include "raydeploy/events/event_log.hpp"
#include "raydeploy/cli/cli.hpp"
#include "raydeploy/cli/commands.hpp"
#include "raydeploy/http/server.hpp"
#include "raydeploy/store/state_store.hpp"
#include "raydeploy/util/duration.hpp"
#include "raydeploy/util/log.hpp"
#include "raydeploy/util/version.hpp"

#include <csignal>
#include <iostream>

namespace raydeploy::cli {

namespace po = boost::program_options;

namespace {

void print_effective_settings(std::ostream& out, const settings& value, const checkpoint_catalog& catalog)
{
    out << "configuration OK\n";
    for (const auto& description : setting_descriptions()) {
        const std::string key{description.key};
        out << "  " << key << " = " << setting_value_text(value, key) << "  (" << value.sources.at(key) << ")\n";
    }
    out << "  catalog: " << catalog.checkpoints().size() << " checkpoints from " << catalog.source().string() << "\n";
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
                           "precedence. When ready it prints 'listening on http://HOST:PORT' on stdout.\n"
                           "SIGTERM or SIGINT stop it gracefully (exit 0).",
                           options);
        out << "\nSettings only the config file and environment set (YAML key, variable):\n";
        for (const auto& description : setting_descriptions())
            if (description.flag.empty())
                out << "  " << description.key << ", " << environment_variable_for(description.key) << ": "
                    << description.help << "\n";
        return exit_ok;
    }

    const settings config = settings_from(*vm);
    log::configure(config.log_level, config.log_format);
    check_serve_paths(config);
    checkpoint_catalog catalog = load_catalog(config.catalog);
    if (vm->count("check-config")) {
        print_effective_settings(out, config, catalog);
        return exit_ok;
    }

    state_store store{config.state_dir};
    log::info("state store ready", {{"database", store.database_file().string()}, {"schema_version", store.schema_version()}});

    // Writes to a closed pipe or socket must fail with EPIPE, not kill the service.
    std::signal(SIGPIPE, SIG_IGN);

    net::io_context io{1};
    const auto executor = io.get_executor();
    auto bus = std::make_shared<event_bus>(executor);
    auto events = std::make_shared<event_log>(executor, store.db(), *bus, event_log_options{config.events.batch_delay});

    engine_settings engine_config;
    engine_config.inventory = std::filesystem::absolute(config.inventory);
    engine_config.ansible_playbook = find_ansible_playbook(config.ansible_playbook);
    engine_config.supervisor = std::filesystem::read_symlink("/proc/self/exe");
    engine_config.runs_dir = std::filesystem::absolute(config.state_dir) / "runs";
    engine_config.callback_dir = install_callback_plugin(std::filesystem::absolute(config.state_dir) / "ansible/callback_plugins");
    engine_config.max_concurrent = config.executions.max_concurrent;
    engine_config.kill_grace = config.executions.kill_grace;
    if (engine_config.ansible_playbook.empty())
        log::warn("ansible-playbook not found; executions will fail until it is installed (scripts/bootstrap.sh "
                  "puts it in .venv) or ansible_playbook is set");
    else
        log::info("using ansible-playbook", {{"path", engine_config.ansible_playbook.string()}});

    auto state = std::make_shared<api::service_state>(std::move(catalog));
    state->bus = bus;
    state->events = events;
    state->event_options = config.events;
    state->websocket_options = config.websocket;
    state->executions = std::make_shared<execution_manager>(executor, state->catalog, store.db(), *events, engine_config);
    state->executions->recover();

    auto server = api::http_server::create(executor, api::make_router(state), config.http, config.listen);
    if (!config.listen.is_loopback())
        log::warn("listening on a non-loopback address; anyone who can reach it can use the API",
                  {{"listen", config.listen.to_string()}});

    net::signal_set signals{io, SIGINT, SIGTERM};
    signals.async_wait([&](const beast::error_code& ec, int signal_number) {
        if (ec) return;
        log::info("shutting down", {{"signal", signal_number == SIGTERM ? "SIGTERM" : "SIGINT"},
                                    {"grace", format_duration(config.http.shutdown_grace)},
                                    {"running_executions", state->executions->running_count()}});
        server->shutdown();
        // Runs in progress are stopped and end as `interrupted`; event subscribers are told to reconnect.
        state->executions->shutdown();
        bus->close_all();
    });
    net::co_spawn(io, server->run(), [&](std::exception_ptr error) {
        if (error) {
            try {
                std::rethrow_exception(error);
            } catch (const std::exception& e) {
                log::error("accept loop failed", {{"error", e.what()}});
            }
            server->shutdown();
            state->executions->shutdown();
        }
        signals.cancel();  // nothing left to stop once the listener is gone
    });

    const tcp::endpoint bound = server->local_endpoint();
    const listen_address actual{bound.address().to_string(), bound.port()};
    log::info("raydeploy started", {{"version", version()},
                                   {"listen", actual.to_string()},
                                   {"checkpoints", state->catalog.checkpoints().size()},
                                   {"state_dir", config.state_dir.string()}});
    out << "listening on http://" << actual.to_string() << std::endl;

    io.run();
    events->flush();
    log::info("stopped");
    return exit_ok;
}

}  // namespace raydeploy::cli
