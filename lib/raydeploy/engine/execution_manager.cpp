// The execution engine. Each running execution is one coroutine (`run`) around one runner; the
// runner reports through its context, and the engine turns that into events and the stored row.
#include "raydeploy/engine/execution_manager.hpp"

#include "raydeploy/engine/builtin_runners.hpp"
#include "raydeploy/engine/child_process.hpp"
#include "raydeploy/engine/engine_error.hpp"
#include "raydeploy/engine/extra_vars.hpp"
#include "raydeploy/metrics/service_metrics.hpp"
#include "raydeploy/util/errors.hpp"
#include "raydeploy/util/log.hpp"
#include "raydeploy/util/private_files.hpp"
#include "raydeploy/util/time.hpp"

#include <csignal>
#include <stdexcept>
#include <thread>

namespace raydeploy {

namespace fs = std::filesystem;
namespace json = boost::json;

// A running execution as its runner sees it.
class execution_manager::context final : public run_context {
public:
    context(execution_manager& manager, active_run& run, const checkpoint& item)
        : manager_{manager}, run_{run}, item_{item}
    {
    }

    const execution_record& record() const override { return run_.record; }
    const checkpoint& item() const override { return item_; }
    const fs::path& run_dir() const override { return run_.run_dir; }

    void emit(std::string type, json::object fields) override { manager_.emit(run_, std::move(type), std::move(fields)); }

    void relay(std::string type, std::string created, const json::object& fields, std::string_view fields_text) override
    {
        manager_.events_.append(event{std::move(type), std::move(created), run_.record.id, run_.next_counter++,
                                      encode_members(fields, fields_text, event_scope::execution)});
        metrics::service_metrics::instance().events_ingested.Increment();
    }

    void write_output(std::string_view text) override
    {
        run_.log.write(text.data(), static_cast<std::streamsize>(text.size()));
        run_.log.flush();
        manager_.notify_output(run_);
    }

    bool events_backlogged() const override { return manager_.events_.pending() >= max_waiting_events; }

    // Progress changes at every task of a playbook: it is written with the next batch of events,
    // in their commit, not in a commit of its own each time (that was most of the store's commits).
    void set_progress(json::object progress, json::object host_summary) override
    {
        run_.record.progress = std::move(progress);
        run_.record.host_summary = std::move(host_summary);
        run_.progress_unsaved = true;
        manager_.events_.commit_soon();
    }

    // Like progress: results arrive from the event channel's reader, which a disk that refuses
    // writes must not stop.
    void set_results(json::object results, const execution_report& report) override
    {
        run_.record.results = std::move(results);
        if (!report.empty()) {
            run_.report_unsaved = report;
            run_.record.has_report = true;
        }
        run_.progress_unsaved = true;
        manager_.events_.commit_soon();
    }

    void set_process_group(int pgid, std::int64_t leader_start_time) override
    {
        run_.record.pgid = pgid;
        run_.record.boot_id = current_boot_id();
        run_.record.process_start = leader_start_time;
        manager_.store_.update(run_.record);
    }

    void set_attachment(json::object attachment) override
    {
        run_.record.attachment = std::move(attachment);
        manager_.store_.update(run_.record);
    }

    bool resumed() const override { return run_.resumed; }

private:
    execution_manager& manager_;
    active_run& run_;
    const checkpoint& item_;
};

execution_manager::execution_manager(net::any_io_executor executor, const checkpoint_catalog& catalog,
                                     sqlite::database& db, event_log& events, engine_settings settings)
    : execution_manager{executor, catalog, db, events, settings,
                        builtin_runners(executor, settings.ansible, settings.kill_grace, settings.cml, settings.cml_status,
                                        settings.cml_cluster)}
{
}

execution_manager::execution_manager(net::any_io_executor executor, const checkpoint_catalog& catalog,
                                     sqlite::database& db, event_log& events, engine_settings settings,
                                     runner_registry runners)
    : executor_{std::move(executor)}, catalog_{catalog}, store_{db}, events_{events}, settings_{std::move(settings)},
      runners_{std::move(runners)}
{
    events_.add_commit_hooks(this, {[this] { save_progress(); }, [this] { saved(); }});
}

execution_manager::~execution_manager()
{
    events_.remove_commit_hooks(this);
}

void execution_manager::save_progress()
{
    for (auto& [id, run] : active_) {
        if (run->report_unsaved) store_.save_report(id, *run->report_unsaved);
        if (run->progress_unsaved) store_.update(run->record);
    }
    for (const auto& row : finished_unsaved_) {
        if (row.report) store_.save_report(row.record.id, *row.report);
        store_.update(row.record);
    }
}

void execution_manager::saved()
{
    for (auto& [id, run] : active_) {
        run->progress_unsaved = false;
        run->report_unsaved.reset();
    }
    finished_unsaved_.clear();
}

void execution_manager::recover()
{
    const std::string boot_id = current_boot_id();
    for (auto& record : store_.with_status({execution_status::queued, execution_status::running})) {
        if (record.status == execution_status::running) {
            const checkpoint* item = catalog_.find(record.checkpoint);
            auto runner = item ? runners_.make(item->kind) : nullptr;
            if (runner && runner->survives_restart()) {
                reattach(std::move(record), std::move(runner));
                continue;
            }
        }
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
                             encode_members({{"checkpoint", record.checkpoint},
                                             {"status", to_string(record.status)},
                                             {"final_counter", counter},
                                             {"reason", reason}},
                                            event_scope::execution)});
        events_.flush();
        store_.update(record);
        log::warn("execution interrupted by a restart", {{"execution_id", record.id}, {"checkpoint", record.checkpoint}});
    }
}

execution_manager::active_run& execution_manager::track(std::unique_ptr<active_run> run, std::string type,
                                                        boost::json::object fields)
{
    auto& ref = *run;
    active_.emplace(ref.record.id, std::move(run));
    emit(ref, std::move(type), std::move(fields));
    events_.flush();
    return ref;
}

void execution_manager::reattach(execution_record record, std::unique_ptr<checkpoint_runner> runner)
{
    auto run = std::make_unique<active_run>();
    run->record = std::move(record);
    run->next_counter = store_.max_counter(run->record.id) + 1;
    run->runner = std::move(runner);
    run->resumed = true;
    const active_run& ref =
        track(std::move(run), "execution.reattached",
              {{"reason", "the service restarted while this execution ran; its work went on and is followed again"}});
    log::info("execution re-attached after a restart",
              {{"execution_id", ref.record.id}, {"checkpoint", ref.record.checkpoint}});
    spawn(ref.record.id);
}

execution_record execution_manager::start(const std::string& checkpoint_name, execution_params params,
                                          execution_origin origin,
                                          const std::function<void(const execution_record&)>& with_row)
{
    const checkpoint* item = &find_checkpoint(catalog_, checkpoint_name);
    // Whoever starts it (a request, a deployment step), nothing undeclared reaches a playbook.
    check_run_params(*item, params);
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
    store_.insert(run->record, with_row);
    const std::string id = run->record.id;
    track(std::move(run), "execution.status", {{"status", "queued"}});
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
        if (run.runner) run.runner->stop(stop_cause::cancel);
        log::info("execution cancel requested", {{"execution_id", id}});
    }
    return run.record;
}

void execution_manager::pump()
{
    while (!queue_.empty() && running_count() < settings_.max_concurrent && !shutting_down_) {
        const std::string id = queue_.front();
        queue_.pop_front();
        spawn(id);
    }
}

void execution_manager::spawn(const std::string& id)
{
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

std::optional<execution_record> execution_manager::get(std::string_view id)
{
    for (const auto& row : finished_unsaved_)
        if (row.record.id == id) return row.record;
    return store_.get(id);
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

net::awaitable<void> execution_manager::run(std::string id)
{
    active_run& run = *active_.at(id);
    const checkpoint& item = *catalog_.find(run.record.checkpoint);

    if (!run.resumed) {
        run.record.status = execution_status::running;
        run.record.started_at = now_timestamp();
        store_.update(run.record);
        emit(run, "execution.status", {{"status", "running"}});
        events_.flush();
    }

    // The run's directory holds its log and whatever its runner keeps there (ansible's extra_vars),
    // which may carry secrets: owner only.
    run.run_dir = settings_.runs_dir / id;
    try {
        make_private_directory(settings_.runs_dir);
        make_private_directory(run.run_dir);
        make_private_file(run.run_dir / "output.log");
    } catch (const runtime_failure& e) {
        finish(run, execution_status::failed, std::nullopt, e.what());
        active_.erase(id);
        pump();
        co_return;
    }
    run.log.open(run.run_dir / "output.log", std::ios::binary | std::ios::app);

    if (!run.runner) run.runner = runners_.make(item.kind);
    if (!run.runner) {
        finish(run, execution_status::failed, std::nullopt, no_runner_reason(item, runners_));
        active_.erase(id);
        pump();
        co_return;
    }
    run.runner_context = std::make_unique<context>(*this, run, item);
    // A run followed again after a restart keeps the time it has left.
    auto time_left = item.timeout;
    if (run.resumed && item.timeout.count() > 0 && run.record.started_at)
        if (const auto started = parse_timestamp(*run.record.started_at)) {
            const auto elapsed = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now() - *started);
            time_left = std::max(std::chrono::seconds{1}, item.timeout - elapsed);
        }
    start_deadline(run, time_left);
    // A cancel that arrived while the run was being prepared.
    if (run.cancel_requested) run.runner->stop(stop_cause::cancel);

    runner_outcome outcome = co_await run.runner->run(*run.runner_context);
    run.deadline.reset();
    events_.flush();  // the runner's last events belong before execution.done

    if (outcome.detached) {
        // The work goes on without the service; the row stays running for the next life.
        log::info("execution detached: its work goes on and the next start of the service follows it",
                  {{"execution_id", id}, {"checkpoint", run.record.checkpoint}});
        if (run.log.is_open()) run.log.close();
        notify_output(run);
        run.runner.reset();
        active_.erase(id);
        co_return;
    }

    if (shutting_down_) {
        outcome.status = execution_status::interrupted;
        outcome.reason = "the service was shut down while this execution ran; start it again when the service is back";
        outcome.error.reset();
    }
    finish(run, outcome.status, outcome.rc, std::move(outcome.reason), std::move(outcome.error));
    run.runner.reset();
    active_.erase(id);
    pump();
}

void execution_manager::start_deadline(active_run& run, std::chrono::seconds timeout)
{
    if (timeout.count() <= 0) return;
    run.deadline = std::make_unique<net::steady_timer>(executor_, timeout);
    run.deadline->async_wait([this, id = run.record.id](boost::system::error_code ec) {
        if (ec) return;
        // The run may have ended, and its entry gone, while this completion waited to be called.
        auto it = active_.find(id);
        if (it == active_.end() || !it->second->runner) return;
        log::info("execution reached its timeout", {{"execution_id", id}});
        it->second->runner->stop(stop_cause::timeout);
    });
}

void execution_manager::emit(active_run& run, std::string type, json::object fields)
{
    fields["checkpoint"] = run.record.checkpoint;
    events_.append(
        event{std::move(type), "", run.record.id, run.next_counter++, encode_members(fields, event_scope::execution)});
    metrics::service_metrics::instance().events_ingested.Increment();
}

void execution_manager::notify_output(active_run& run)
{
    for (auto* waiter : run.output_waiters) waiter->cancel();
}

void execution_manager::finish(active_run& run, execution_status status, std::optional<int> rc, std::string reason,
                               std::optional<json::object> error)
{
    run.record.status = status;
    run.record.rc = rc;
    run.record.finished_at = now_timestamp();
    // Every finished execution shows a progress, also one that ended before its runner said any.
    if (run.record.progress.empty()) run.record.progress = initial_progress();
    if (!reason.empty()) run.record.status_reason = reason;
    if (status != execution_status::succeeded) {
        if (status == execution_status::failed && error)
            run.record.error = std::move(*error);
        else
            run.record.error = json::object{{"message", reason}};
    }
    const std::int64_t final_counter = run.next_counter;
    run.record.final_counter = final_counter;
    json::object fields{{"status", to_string(status)}, {"final_counter", final_counter}};
    fields["rc"] = rc ? json::value(*rc) : json::value(nullptr);
    if (run.record.error) fields["error"] = *run.record.error;
    emit(run, "execution.done", std::move(fields));
    // The final row commits with execution.done, or both wait for a disk that takes writes again:
    // a failing disk must neither lose the run's end nor stop the service here.
    finished_unsaved_.push_back({run.record, std::move(run.report_unsaved)});
    run.report_unsaved.reset();
    events_.flush();
    const auto started = run.record.started_at ? parse_timestamp(*run.record.started_at) : std::nullopt;
    const auto ended = parse_timestamp(*run.record.finished_at);
    metrics::service_metrics::instance().execution_finished(
        run.record.checkpoint, to_string(status),
        started && ended ? std::chrono::duration<double>(*ended - *started).count() : 0.0);
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
        if (run->runner) run->runner->stop(run->runner->survives_restart() ? stop_cause::detach : stop_cause::cancel);
}

}  // namespace raydeploy
