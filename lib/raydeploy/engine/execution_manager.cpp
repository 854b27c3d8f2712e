// The execution engine. Each running execution is one coroutine (`run`) around one
// ansible-playbook child; everything else reacts to the child's output and exit.
#include "raydeploy/engine/execution_manager.hpp"

#include "raydeploy/config/settings.hpp"
#include "raydeploy/engine/engine_error.hpp"
#include "raydeploy/engine/extra_vars.hpp"
#include "raydeploy/engine/supervisor.hpp"
#include "raydeploy/util/errors.hpp"
#include "raydeploy/util/log.hpp"
#include "raydeploy/util/private_files.hpp"
#include "raydeploy/util/time.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <csignal>
#include <thread>
#include <unistd.h>

namespace raydeploy::embedded {
std::string_view callback_plugin_py();
}

namespace raydeploy {

namespace fs = std::filesystem;
namespace json = boost::json;

execution_manager::execution_manager(net::any_io_executor executor, const checkpoint_catalog& catalog,
                                     sqlite::database& db, event_log& events, engine_settings settings)
    : executor_{std::move(executor)}, catalog_{catalog}, store_{db}, events_{events}, settings_{std::move(settings)}
{
}

void execution_manager::recover()
{
    const std::string boot_id = current_boot_id();
    for (auto& record : store_.with_status({execution_status::queued, execution_status::running})) {
        std::string reason = "the service stopped while this execution was " + std::string{to_string(record.status)};
        // Stop what is left of the previous life's process group, but only processes that are
        // provably ours: same boot, same group, started no earlier than the run's leader.
        if (record.pgid && record.boot_id == boot_id && record.process_start) {
            auto members = process_group_members(*record.pgid, *record.process_start);
            if (!members.empty()) {
                log::warn("stopping processes left running by a previous service",
                          {{"execution_id", record.id}, {"pgid", *record.pgid}, {"processes", members.size()}});
                ::kill(-*record.pgid, SIGTERM);
                const auto deadline = std::chrono::steady_clock::now() + settings_.kill_grace;
                while (!process_group_members(*record.pgid, *record.process_start).empty() &&
                       std::chrono::steady_clock::now() < deadline)
                    std::this_thread::sleep_for(std::chrono::milliseconds{50});
                ::kill(-*record.pgid, SIGKILL);
                reason += "; its leftover processes were stopped";
            }
        }
        const std::int64_t counter = store_.max_counter(record.id) + 1;
        record.status = execution_status::interrupted;
        record.status_reason = reason;
        record.finished_at = now_timestamp();
        record.final_counter = counter;
        record.error = json::object{{"message", reason + "; start it again when ready"}};
        events_.append(event{"execution.done", "", record.id, counter,
                             json::object{{"checkpoint", record.checkpoint},
                                          {"status", to_string(record.status)},
                                          {"final_counter", counter},
                                          {"reason", reason}}});
        events_.flush();
        store_.update(record);
        log::warn("execution interrupted by a restart", {{"execution_id", record.id}, {"checkpoint", record.checkpoint}});
    }
}

execution_record execution_manager::start(const std::string& checkpoint_name, execution_params params,
                                          execution_origin origin)
{
    const checkpoint* item = &find_checkpoint(catalog_, checkpoint_name);
    // Whoever starts it (a request, a deployment step), nothing undeclared reaches a playbook.
    check_run_params(*item, params.extra_vars, params.limit);
    refuse_if_active(checkpoint_name);
    // The approval rules live in approval_manager; this only refuses a gated run that skipped them.
    if (item->approval_required && !origin.approval_id)
        throw engine_error{engine_error::kind::conflict, "APPROVAL_REQUIRED",
                           "checkpoint '" + checkpoint_name + "' requires an approval before it runs"};
    if (shutting_down_)
        throw engine_error{engine_error::kind::conflict, "SHUTTING_DOWN",
                           "the service is shutting down; start the execution again once it is back"};

    auto run = std::make_unique<active_run>();
    run->record.id = new_execution_id();
    run->record.checkpoint = checkpoint_name;
    run->record.status = execution_status::queued;
    run->record.params = std::move(params);
    run->record.requested_by = std::move(origin.requested_by);
    run->record.deployment_id = std::move(origin.deployment_id);
    run->record.approval_id = std::move(origin.approval_id);
    run->record.created_at = now_timestamp();
    store_.insert(run->record);
    const std::string id = run->record.id;
    auto& ref = *run;
    active_.emplace(id, std::move(run));
    emit(ref, "execution.status", {{"status", "queued"}});
    events_.flush();
    queue_.push_back(id);
    log::info("execution queued", {{"execution_id", id}, {"checkpoint", checkpoint_name}});
    pump();
    return active_.count(id) ? active_.at(id)->record : *store_.get(id);
}

execution_record execution_manager::cancel(const std::string& id)
{
    auto it = active_.find(id);
    if (it == active_.end()) {
        auto record = store_.get(id);
        if (!record)
            throw engine_error{engine_error::kind::not_found, "EXECUTION_NOT_FOUND",
                               "no execution '" + id + "'; GET /api/v1/executions lists them"};
        throw engine_error{engine_error::kind::conflict, "ALREADY_FINISHED",
                           "execution " + id + " already finished (" + std::string{to_string(record->status)} +
                               "); there is nothing to cancel",
                           {{"execution_id", id}}};
    }
    active_run& run = *it->second;
    if (run.record.status == execution_status::queued) {
        queue_.erase(std::remove(queue_.begin(), queue_.end(), id), queue_.end());
        finish(run, execution_status::cancelled, std::nullopt, "cancelled before it started");
        auto record = run.record;
        active_.erase(it);
        return record;
    }
    if (!run.cancel_requested) {
        run.cancel_requested = true;
        emit(run, "execution.cancelling", {{"grace_ms", settings_.kill_grace.count()}});
        events_.flush();
        if (run.child) run.child->stop(stop_cause::cancel);
        log::info("execution cancel requested", {{"execution_id", id}});
    }
    return run.record;
}

void execution_manager::pump()
{
    while (!queue_.empty() && running_count() < settings_.max_concurrent && !shutting_down_) {
        const std::string id = queue_.front();
        queue_.pop_front();
        net::co_spawn(executor_, run(id), [this, id](std::exception_ptr error) {
            if (!error) return;
            try {
                std::rethrow_exception(error);
            } catch (const std::exception& e) {
                log::error("execution failed inside the service", {{"execution_id", id}, {"error", e.what()}});
                if (auto it = active_.find(id); it != active_.end()) {
                    finish(*it->second, execution_status::failed, std::nullopt,
                           std::string{"internal error: "} + e.what() + "; the service log has the details");
                    active_.erase(it);
                    pump();
                }
            }
        });
    }
}

void execution_manager::refuse_if_active(std::string_view checkpoint) const
{
    const auto running = active_for(checkpoint);
    if (!running) return;
    throw engine_error{engine_error::kind::conflict, "ALREADY_RUNNING",
                       "checkpoint '" + std::string{checkpoint} + "' already has execution " + running->id + " (" +
                           std::string{to_string(running->status)} +
                           "); wait for it to finish or cancel it with POST /api/v1/executions/" + running->id +
                           "/cancel",
                       {{"execution_id", running->id}}};
}

std::optional<execution_record> execution_manager::active_for(std::string_view checkpoint) const
{
    for (const auto& [id, run] : active_)
        if (run->record.checkpoint == checkpoint) return run->record;
    return std::nullopt;
}

std::size_t execution_manager::running_count() const
{
    std::size_t running = 0;
    for (const auto& [id, run] : active_)
        if (run->record.status == execution_status::running) ++running;
    return running;
}

std::vector<std::string> execution_manager::child_environment(const std::string& execution_id) const
{
    return build_child_environment(current_environment(), settings_.pass_env, settings_.callback_dir, execution_id);
}

net::awaitable<void> execution_manager::run(std::string id)
{
    active_run& run = *active_.at(id);
    const checkpoint& item = *catalog_.find(run.record.checkpoint);

    run.record.status = execution_status::running;
    run.record.started_at = now_timestamp();
    store_.update(run.record);
    emit(run, "execution.status", {{"status", "running"}});
    events_.flush();

    // The run's directory holds its log and extra_vars, which may carry secrets: owner only.
    // Extra vars go in a file, never on the command line (no quoting, no secrets in `ps`), as
    // YAML that marks the caller's strings !unsafe: Ansible must never evaluate them as templates.
    const fs::path run_dir = settings_.runs_dir / id;
    const fs::path vars_file = run_dir / "extra_vars.yml";
    json::object service_vars{{"raydeploy_execution_id", id}, {"raydeploy_checkpoint", item.name}};
    // Where a playbook may leave files of this run for people to fetch (final-validation's report).
    service_vars["raydeploy_run_dir"] = fs::absolute(run_dir).string();
    if (!settings_.listen_address.empty()) service_vars["raydeploy_listen_address"] = settings_.listen_address;
    try {
        make_private_directory(settings_.runs_dir);
        make_private_directory(run_dir);
        make_private_file(run_dir / "output.log");
        write_private_file(vars_file, extra_vars_yaml(run.record.params.extra_vars, service_vars));
    } catch (const runtime_failure& e) {
        finish(run, execution_status::failed, std::nullopt, e.what());
        active_.erase(id);
        pump();
        co_return;
    }
    run.log.open(run_dir / "output.log", std::ios::binary | std::ios::app);

    if (settings_.ansible_playbook.empty()) {
        finish(run, execution_status::failed, std::nullopt,
               "ansible-playbook was not found; run scripts/bootstrap.sh (it installs it into .venv) or set "
               "ansible_playbook in the configuration");
        active_.erase(id);
        pump();
        co_return;
    }

    child_spec spec;
    spec.executable = settings_.supervisor;
    spec.args = supervisor_arguments(settings_.kill_grace);
    spec.args.insert(spec.args.end(), {settings_.ansible_playbook.string(), "-i", settings_.inventory.string(), "-e",
                                       "@" + vars_file.string()});
    if (run.record.params.limit) spec.args.insert(spec.args.end(), {"--limit", *run.record.params.limit});
    if (run.record.params.check) spec.args.push_back("--check");
    spec.args.push_back(item.playbook.string());
    spec.environment = child_environment(id);
    spec.working_dir = item.playbook.parent_path();
    spec.timeout = item.timeout;
    spec.kill_grace = settings_.kill_grace;

    try {
        run.child = std::make_unique<child_process>(
            executor_, spec,
            child_callbacks{[this, &run](std::string_view text) {
                                run.log.write(text.data(), static_cast<std::streamsize>(text.size()));
                                run.log.flush();
                                notify_output(run);
                            },
                            [this, &run](std::string_view line) { on_ansible_event(run, line); }});
    } catch (const runtime_failure& e) {
        finish(run, execution_status::failed, std::nullopt, std::string{e.what()} + "; check ansible_playbook in the configuration");
        active_.erase(id);
        pump();
        co_return;
    }
    run.record.pgid = run.child->pid();
    run.record.boot_id = current_boot_id();
    run.record.process_start = run.child->start_time();
    store_.update(run.record);
    log::info("execution started", {{"execution_id", id}, {"checkpoint", item.name}, {"pid", run.child->pid()}});
    // A cancel that arrived while the child was being prepared.
    if (run.cancel_requested) run.child->stop(stop_cause::cancel);

    const child_result result = co_await run.child->wait();
    events_.flush();  // the child's last events belong before execution.done

    execution_status status = execution_status::failed;
    std::string reason;
    if (shutting_down_) {
        status = execution_status::interrupted;
        reason = "the service was shut down while this execution ran; start it again when the service is back";
    } else if (result.stopped_by == stop_cause::cancel) {
        status = execution_status::cancelled;
        reason = "cancelled on request";
    } else if (result.stopped_by == stop_cause::timeout) {
        status = execution_status::timed_out;
        reason = "exceeded the checkpoint's timeout of " + std::to_string(item.timeout.count()) +
                 " s; raise `timeout` in the catalog if the playbook needs longer";
    } else if (result.exit_code == 0) {
        status = execution_status::succeeded;
    } else {
        reason = "ansible-playbook exited with code " + std::to_string(result.exit_code);
        if (result.signal) reason += " (signal " + std::to_string(*result.signal) + ")";
    }
    finish(run, status, result.exit_code, reason);
    run.child.reset();
    active_.erase(id);
    pump();
}

void execution_manager::emit(active_run& run, std::string type, json::object fields)
{
    fields["checkpoint"] = run.record.checkpoint;
    events_.append(event{std::move(type), "", run.record.id, run.next_counter++, std::move(fields)});
}

void execution_manager::on_ansible_event(active_run& run, std::string_view line)
{
    boost::system::error_code ec;
    json::value parsed = json::parse(line, ec);
    if (ec || !parsed.is_object() || !parsed.get_object().contains("event")) {
        log::warn("ignoring a malformed line on the event channel", {{"execution_id", run.record.id}, {"error", ec.message()}});
        return;
    }
    json::object& fields = parsed.get_object();
    run.progress.observe(fields);
    const json::value name = fields["event"];
    std::string created;
    if (auto* when = fields.if_contains("created"); when && when->is_string()) created = when->get_string();
    // The service numbers every event of the execution, its own included.
    fields.erase("counter");
    fields.erase("created");
    const std::string event_name = name.is_string() ? std::string{name.get_string()} : std::string{"unknown"};
    events_.append(event{"ansible." + event_name, created, run.record.id, run.next_counter++, std::move(fields)});

    if (event_name == "playbook_on_task_start" || event_name == "playbook_on_play_start" ||
        event_name == "playbook_on_stats") {
        run.record.progress = run.progress.progress();
        run.record.host_summary = run.progress.host_summary();
        if (event_name == "playbook_on_stats" && run.progress.results()) {
            const checkpoint_results& published = *run.progress.results();
            for (const auto& warning : published.warnings)
                log::warn("checkpoint results left out",
                          {{"execution_id", run.record.id}, {"checkpoint", run.record.checkpoint}, {"reason", warning}});
            run.record.results = published.results;
            if (!published.report.empty()) {
                store_.save_report(run.record.id, published.report);
                run.record.has_report = true;
            }
        }
        store_.update(run.record);
    }
}

void execution_manager::notify_output(active_run& run)
{
    for (auto* waiter : run.output_waiters) waiter->cancel();
}

void execution_manager::finish(active_run& run, execution_status status, std::optional<int> rc, std::string reason)
{
    run.record.status = status;
    run.record.rc = rc;
    run.record.finished_at = now_timestamp();
    run.record.progress = run.progress.progress();
    run.record.host_summary = run.progress.host_summary();
    if (!reason.empty()) run.record.status_reason = reason;
    if (status != execution_status::succeeded) {
        if (status == execution_status::failed && run.progress.first_error())
            run.record.error = *run.progress.first_error();
        else
            run.record.error = json::object{{"message", reason}};
    }
    const std::int64_t final_counter = run.next_counter;
    run.record.final_counter = final_counter;
    json::object fields{{"status", to_string(status)}, {"final_counter", final_counter}};
    fields["rc"] = rc ? json::value(*rc) : json::value(nullptr);
    if (run.record.error) fields["error"] = *run.record.error;
    emit(run, "execution.done", std::move(fields));
    events_.flush();
    store_.update(run.record);
    if (run.log.is_open()) run.log.close();
    notify_output(run);
    for (const auto& listener : finish_listeners_) listener(run.record);
    log::info("execution finished",
              {{"execution_id", run.record.id}, {"checkpoint", run.record.checkpoint}, {"status", to_string(status)}});
}

fs::path execution_manager::log_file(std::string_view id) const { return settings_.runs_dir / std::string{id} / "output.log"; }

net::awaitable<void> execution_manager::wait_for_output(std::string id, std::chrono::milliseconds timeout)
{
    auto it = active_.find(id);
    if (it == active_.end()) co_return;
    active_run& run = *it->second;
    net::steady_timer timer{executor_, timeout};
    run.output_waiters.push_back(&timer);
    co_await timer.async_wait(nothrow_awaitable);
    // The run may have ended (and been erased) while we waited.
    if (auto again = active_.find(id); again != active_.end()) {
        auto& waiters = again->second->output_waiters;
        waiters.erase(std::remove(waiters.begin(), waiters.end(), &timer), waiters.end());
    }
}

void execution_manager::shutdown()
{
    if (shutting_down_) return;
    shutting_down_ = true;
    std::vector<std::string> queued(queue_.begin(), queue_.end());
    queue_.clear();
    for (const auto& id : queued) {
        auto it = active_.find(id);
        if (it == active_.end()) continue;
        finish(*it->second, execution_status::interrupted, std::nullopt,
               "the service was shut down before this execution started; start it again when the service is back");
        active_.erase(it);
    }
    for (auto& [id, run] : active_)
        if (run->child) run->child->stop(stop_cause::cancel);
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
    std::error_code ec;
    if (!configured.empty()) return fs::absolute(configured);
    std::vector<fs::path> candidates;
    const fs::path self = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) candidates.push_back(self.parent_path() / "../../.venv/bin/ansible-playbook");
    candidates.push_back(fs::current_path(ec) / ".venv/bin/ansible-playbook");
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
