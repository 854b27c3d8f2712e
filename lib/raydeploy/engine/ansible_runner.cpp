// The ansible runner: one ansible-playbook child per run; everything else reacts to the child's
// output, its event channel and its exit.
#include "raydeploy/engine/ansible_runner.hpp"

#include "raydeploy/config/install_layout.hpp"
#include "raydeploy/config/settings.hpp"
#include "raydeploy/engine/extra_vars.hpp"
#include "raydeploy/engine/supervisor.hpp"
#include "raydeploy/util/errors.hpp"
#include "raydeploy/util/log.hpp"
#include "raydeploy/util/private_files.hpp"
#include "raydeploy/util/json_input.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <unistd.h>

namespace raydeploy::embedded {
std::string_view callback_plugin_py();
}

namespace raydeploy {

namespace fs = std::filesystem;
namespace json = boost::json;

ansible_runner::ansible_runner(net::any_io_executor executor, std::shared_ptr<const ansible_settings> settings,
                               std::chrono::milliseconds kill_grace)
    : executor_{std::move(executor)}, settings_{std::move(settings)}, kill_grace_{kill_grace}
{
}

std::optional<runner_outcome> ansible_runner::start(run_context& context)
{
    const execution_record& record = context.record();
    const checkpoint& item = context.item();

    // Extra vars go in a file of the run's private directory, never on the command line (no
    // quoting, no secrets in `ps`), as YAML that marks the caller's strings !unsafe: Ansible must
    // never evaluate them as templates.
    const fs::path vars_file = context.run_dir() / "extra_vars.yml";
    json::object service_vars{{"raydeploy_execution_id", record.id}, {"raydeploy_checkpoint", item.name}};
    // Where a playbook may leave files of this run for people to fetch (final-validation's report).
    service_vars["raydeploy_run_dir"] = fs::absolute(context.run_dir()).string();
    if (!settings_->listen_address.empty()) service_vars["raydeploy_listen_address"] = settings_->listen_address;
    try {
        write_private_file(vars_file, extra_vars_yaml(record.params.extra_vars, service_vars));
    } catch (const runtime_failure& e) {
        return runner_outcome{execution_status::failed, std::nullopt, e.what(), std::nullopt};
    }

    if (settings_->ansible_playbook.empty())
        return runner_outcome{execution_status::failed, std::nullopt,
                              "ansible-playbook was not found on PATH: install ansible-core and set "
                              "ansible_playbook in the configuration to its path (in a checkout, "
                              "scripts/bootstrap.sh installs it into .venv)",
                              std::nullopt};

    child_spec spec;
    spec.executable = settings_->supervisor;
    spec.args = supervisor_arguments(kill_grace_);
    spec.args.insert(spec.args.end(), {settings_->ansible_playbook.string(), "-i", settings_->inventory.string(), "-e",
                                       "@" + vars_file.string()});
    if (record.params.limit) spec.args.insert(spec.args.end(), {"--limit", *record.params.limit});
    if (record.params.check) spec.args.push_back("--check");
    spec.args.push_back(item.playbook.string());
    spec.environment =
        build_child_environment(current_environment(), settings_->pass_env, settings_->callback_dir, record.id);
    spec.working_dir = item.playbook.parent_path();
    // No timeout of its own: the engine keeps the checkpoint's time limit and calls stop().
    spec.kill_grace = kill_grace_;

    try {
        child_ = std::make_unique<child_process>(
            executor_, spec,
            child_callbacks{[&context](std::string_view text) { context.write_output(text); },
                            [this, &context](std::string_view line) { on_event_line(context, line); },
                            [&context] { return context.events_backlogged(); }});
    } catch (const runtime_failure& e) {
        return runner_outcome{execution_status::failed, std::nullopt,
                              std::string{e.what()} + "; check ansible_playbook in the configuration", std::nullopt};
    }
    context.set_process_group(child_->pid(), child_->start_time());
    log::info("execution started", {{"execution_id", record.id}, {"checkpoint", item.name}, {"pid", child_->pid()}});
    // A stop that arrived while the child was being prepared.
    if (stop_requested_ != stop_cause::none) child_->stop(stop_requested_);
    return std::nullopt;
}

net::awaitable<runner_outcome> ansible_runner::run(run_context& context)
{
    std::optional<runner_outcome> not_started = start(context);
    if (not_started) co_return *not_started;

    const child_result result = co_await child_->wait();
    child_.reset();
    context.set_progress(progress_.progress(), progress_.host_summary());

    runner_outcome outcome;
    outcome.rc = result.exit_code;
    if (result.stopped_by == stop_cause::cancel) {
        outcome.status = execution_status::cancelled;
        outcome.reason = "cancelled on request";
    } else if (result.stopped_by == stop_cause::timeout) {
        outcome.status = execution_status::timed_out;
        outcome.reason = "exceeded the checkpoint's timeout of " + std::to_string(context.item().timeout.count()) +
                         " s; raise `timeout` in the catalog if the playbook needs longer";
    } else if (result.exit_code == 0) {
        outcome.status = execution_status::succeeded;
    } else {
        outcome.status = execution_status::failed;
        outcome.reason = "ansible-playbook exited with code " + std::to_string(result.exit_code);
        if (result.signal) outcome.reason += " (signal " + std::to_string(*result.signal) + ")";
        outcome.error = progress_.first_error();
    }
    co_return outcome;
}

void ansible_runner::stop(stop_cause cause)
{
    if (stop_requested_ == stop_cause::none) stop_requested_ = cause;
    if (child_) child_->stop(cause);
}

boost::json::object* plugin_line_parser::parse(std::string_view line, std::string& error)
{
    parsed_.reset();
    arena_.emplace(arena_buffer_.get(), arena_bytes);
    parser_.reset(json::storage_ptr{&*arena_});
    boost::system::error_code ec;
    parser_.write(line.data(), line.size(), ec);
    if (!ec) parsed_.emplace(parser_.release());
    // Back to the default storage: the parser must not keep a pointer into the arena.
    parser_.reset();
    if (!ec && util::has_non_finite_number(*parsed_)) ec = json::error::exponent_overflow;  // json_input.hpp
    if (ec) {
        error = ec.message();
        return nullptr;
    }
    if (!parsed_->is_object() || !parsed_->get_object().contains("event")) {
        error = "not an object with an \"event\" member";
        return nullptr;
    }
    return &parsed_->get_object();
}

void ansible_runner::on_event_line(run_context& context, std::string_view line)
{
    std::string error;
    json::object* event_fields = lines_.parse(line, error);
    if (!event_fields) {
        log::warn("ignoring a malformed line on the event channel",
                  {{"execution_id", context.record().id}, {"error", error}});
        return;
    }
    json::object& fields = *event_fields;
    progress_.observe(fields);
    const json::value name = fields["event"];
    std::string created;
    if (auto* when = fields.if_contains("created"); when && when->is_string()) created = when->get_string();
    // The plugin's `counter` and `created` are not kept as fields: the service numbers every event
    // of the execution, its own included, and the stored event has them as its own (an
    // execution's event leaves fields of those names out when it is encoded).
    const std::string event_name = name.is_string() ? std::string{name.get_string()} : std::string{"unknown"};
    context.relay("ansible." + event_name, std::move(created), fields, line);

    if (event_name == "playbook_on_task_start" || event_name == "playbook_on_play_start" ||
        event_name == "playbook_on_stats") {
        context.set_progress(progress_.progress(), progress_.host_summary());
        if (event_name == "playbook_on_stats" && progress_.results()) {
            const checkpoint_results& published = *progress_.results();
            for (const auto& warning : published.warnings)
                log::warn("checkpoint results left out", {{"execution_id", context.record().id},
                                                          {"checkpoint", context.record().checkpoint},
                                                          {"reason", warning}});
            context.set_results(published.results, published.report);
        }
    }
}

bool passes_to_child(std::string_view name, const std::vector<std::string>& pass_env)
{
    // What a shell, Python, ssh and Ansible need to behave as the operator expects, and nothing
    // that could carry a secret. LC_* are locale categories.
    static constexpr std::string_view always[] = {"PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR",
                                                  "SSH_AUTH_SOCK", "USER", "LOGNAME"};
    if (std::find(std::begin(always), std::end(always), name) != std::end(always)) return true;
    if (name.rfind("LC_", 0) == 0) return true;
    return std::find(pass_env.begin(), pass_env.end(), name) != pass_env.end();
}

std::vector<std::string> build_child_environment(const std::map<std::string, std::string>& service_environment,
                                                 const std::vector<std::string>& pass_env,
                                                 const fs::path& callback_dir, const std::string& execution_id)
{
    // An allow-list, not a deny-list: the service's environment holds its own tokens
    // (RAYDEPLOY_AUTH_TOKENS, RAYDEPLOY_TOKEN) and whatever credentials its operator exported, and a
    // playbook, a module or a `debug: var=lookup('env', ...)` must not see them unless the operator
    // lists the name in executor.pass_env.
    std::map<std::string, std::string> variables;
    for (const auto& [name, value] : service_environment)
        if (passes_to_child(name, pass_env)) variables.emplace(name, value);
    // Events come from our own plugin on our own channel, whatever the playbook's ansible.cfg says.
    std::string plugins = callback_dir.string();
    if (auto it = variables.find("ANSIBLE_CALLBACK_PLUGINS"); it != variables.end() && !it->second.empty())
        plugins += ":" + it->second;
    variables["ANSIBLE_CALLBACK_PLUGINS"] = plugins;
    variables["ANSIBLE_STDOUT_CALLBACK"] = "raydeploy_events";
    variables["RAYDEPLOY_EVENT_FD"] = std::to_string(event_channel_fd);
    variables["RAYDEPLOY_EXECUTION_ID"] = execution_id;
    variables["ANSIBLE_NOCOLOR"] = "1";
    variables["ANSIBLE_NOCOWS"] = "1";
    variables["ANSIBLE_FORCE_COLOR"] = "0";
    variables["ANSIBLE_RETRY_FILES_ENABLED"] = "0";
    variables["PYTHONUNBUFFERED"] = "1";
    std::vector<std::string> environment;
    environment.reserve(variables.size());
    for (const auto& [key, value] : variables) environment.push_back(key + "=" + value);
    return environment;
}

fs::path find_ansible_playbook(const fs::path& configured)
{
    if (!configured.empty()) return fs::absolute(configured);
    std::vector<fs::path> candidates;
    // The checkout's virtualenv (scripts/bootstrap.sh); an installation has none of its own.
    if (const auto& layout = this_install_layout(); layout.origin == install_layout::kind::checkout)
        candidates.push_back(layout.data_dir / ".venv/bin/ansible-playbook");
    if (const char* path = std::getenv("PATH")) {
        std::string_view rest{path};
        while (!rest.empty()) {
            const auto colon = rest.find(':');
            candidates.push_back(fs::path{rest.substr(0, colon)} / "ansible-playbook");
            rest = colon == std::string_view::npos ? std::string_view{} : rest.substr(colon + 1);
        }
    }
    for (const auto& candidate : candidates)
        if (::access(candidate.c_str(), X_OK) == 0) return candidate.lexically_normal();
    return {};
}

fs::path install_callback_plugin(const fs::path& directory)
{
    // Private like the rest of the state directory: whoever could write here would run code in
    // every playbook run.
    make_private_directory(directory.parent_path());
    make_private_directory(directory);
    const fs::path file = directory / "raydeploy_events.py";
    const std::string_view content = embedded::callback_plugin_py();
    std::string current;
    if (std::ifstream in{file, std::ios::binary}) current.assign(std::istreambuf_iterator<char>{in}, {});
    if (current != content) {
        const fs::path temporary = file.string() + ".tmp";
        write_private_file(temporary, content);
        fs::rename(temporary, file);
    }
    return directory;
}

}  // namespace raydeploy
