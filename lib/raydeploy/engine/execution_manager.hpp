// The execution engine: starts checkpoint runs, queues them beyond the concurrency limit, cancels
// them, stops them at their timeout, numbers their events and keeps their rows current, and at
// start-up reconciles what a previous life of the service left running. What a run does is up to
// the runner of its checkpoint's kind (runner.hpp, builtin_runners.cpp); everything else is here.
//
// @par Thread safety
// Single-threaded: use from the io_context's thread.
#pragma once

#include "raydeploy/catalog/catalog.hpp"
#include "raydeploy/config/settings.hpp"
#include "raydeploy/engine/ansible_runner.hpp"
#include "raydeploy/engine/cml_runners.hpp"
#include "raydeploy/engine/execution.hpp"
#include "raydeploy/engine/execution_store.hpp"
#include "raydeploy/engine/runner.hpp"
#include "raydeploy/events/event_log.hpp"
#include "raydeploy/util/net.hpp"

#include <chrono>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>

namespace raydeploy {

struct engine_settings {
    std::filesystem::path runs_dir;  // STATE_DIR/runs: one directory per execution
    std::size_t max_concurrent = 4;
    // How long a stopped run's processes get between SIGTERM and SIGKILL, also for the leftovers
    // of a previous life that recover() stops.
    std::chrono::milliseconds kill_grace{std::chrono::seconds{10}};
    ansible_settings ansible;  // how checkpoints of kind ansible run
    cml_settings cml;          // the CML workspace the CML kinds drive
    std::shared_ptr<cml::cml_availability> cml_status;  // where they say whether it answered
    std::shared_ptr<cml::ray_cluster_context> cml_cluster;  // where cml-ray-cluster records its cluster
};

// Who and what a run is for; recorded with the execution.
struct execution_origin {
    std::optional<std::string> requested_by;
    std::optional<std::string> deployment_id;
    // The grant the run consumes; required for a checkpoint with approval_required.
    std::optional<std::string> approval_id;
};

class execution_manager {
public:
    // Events kept in memory while the disk refuses them before runs stop reading their producers
    // (run_context::events_backlogged): a few tens of MB at the plugin's event sizes, and hundreds
    // of times the largest batch that waits while the disk works.
    static constexpr std::size_t max_waiting_events = 10'000;

    // Runs every kind with its built-in runner (builtin_runners).
    execution_manager(net::any_io_executor executor, const checkpoint_catalog& catalog, sqlite::database& db,
                      event_log& events, engine_settings settings);
    // Runs each kind with the runner `runners` has for it; a kind it has none for fails its runs.
    execution_manager(net::any_io_executor executor, const checkpoint_catalog& catalog, sqlite::database& db,
                      event_log& events, engine_settings settings, runner_registry runners);
    ~execution_manager();
    execution_manager(const execution_manager&) = delete;
    execution_manager& operator=(const execution_manager&) = delete;

    // Reconciles what a previous life left queued or running. A running execution whose runner's
    // work survives the service (checkpoint_runner::survives_restart) is followed again: same
    // execution, counters going on, an `execution.reattached` event. Every other one ends as
    // `interrupted`, after what is left of its process group is stopped. Call once, before serving.
    void recover();

    // Queues a run of `checkpoint` and starts it when a slot is free. Throws engine_error.
    // `with_row`: writes committed with the run's row or not at all (execution_store::insert).
    execution_record start(const std::string& checkpoint, execution_params params, execution_origin origin = {},
                           const std::function<void(const execution_record&)>& with_row = {});
    // Cancels a queued or running execution. Throws engine_error.
    execution_record cancel(const std::string& id);

    // A run that ended while the disk refused its final row answers from memory.
    std::optional<execution_record> get(std::string_view id);
    std::vector<execution_record> list(const execution_filter& filter) { return store_.list(filter); }
    // The newest execution of `checkpoint` (nullptr: never run), from memory (execution_store::latest).
    const execution_record* latest(std::string_view checkpoint) { return store_.latest(checkpoint); }
    // Grows with every change to any execution (execution_store::generation).
    std::uint64_t generation() const { return store_.generation(); }
    // The execution's stored report: nullopt for an unknown execution, empty when it has none.
    std::optional<execution_report> report(std::string_view id) { return store_.report(id); }

    // The execution's text output (for kind ansible: stdout and stderr of ansible-playbook).
    std::filesystem::path log_file(std::string_view id) const;
    bool is_active(std::string_view id) const { return active_.count(std::string{id}) != 0; }
    // Throws engine_error ALREADY_RUNNING when `checkpoint` has a queued or running execution.
    void refuse_if_active(std::string_view checkpoint) const;
    // Called with the final record whenever an execution ends (not for those recover() closes).
    void on_finished(std::function<void(const execution_record&)> listener) { finish_listeners_.push_back(std::move(listener)); }
    // Completes when the execution writes output or ends, or after `timeout`; at once when it is
    // not active.
    net::awaitable<void> wait_for_output(std::string id, std::chrono::milliseconds timeout);

    // Stops every running execution (they end as `interrupted`; those whose work survives the
    // service are detached and stay running for the next life) and refuses new ones.
    void shutdown();
    std::size_t running_count() const;
    std::size_t queued_count() const { return queue_.size(); }

private:
    class context;

    struct active_run {
        execution_record record;
        std::int64_t next_counter = 1;
        std::filesystem::path run_dir;
        std::unique_ptr<checkpoint_runner> runner;
        std::unique_ptr<context> runner_context;
        std::unique_ptr<net::steady_timer> deadline;
        std::ofstream log;
        std::vector<net::steady_timer*> output_waiters;
        bool cancel_requested = false;
        bool resumed = false;  // continues a run a previous life of the service started
        bool progress_unsaved = false;  // written with the next batch of events (save_progress)
        std::optional<execution_report> report_unsaved;  // likewise
    };
    // A run that ended: its final row (and report) go with the batch that holds its execution.done.
    struct finished_row {
        execution_record record;
        std::optional<execution_report> report;
    };

    // The queued or running execution of `checkpoint`, if any.
    std::optional<execution_record> active_for(std::string_view checkpoint) const;
    void pump();
    // Makes `run` active and publishes its first event of this life (queued, or re-attached).
    active_run& track(std::unique_ptr<active_run> run, std::string type, boost::json::object fields);
    void spawn(const std::string& id);
    // Follows again, after a restart, a running execution whose runner survives restarts.
    void reattach(execution_record record, std::unique_ptr<checkpoint_runner> runner);
    net::awaitable<void> run(std::string id);
    // Stops the run's runner with `stop_cause::timeout` once the checkpoint's timeout has passed.
    void start_deadline(active_run& run, std::chrono::seconds timeout);
    void emit(active_run& run, std::string type, boost::json::object fields);
    void notify_output(active_run& run);
    // In each batch of events' transaction: the progress, results and report of every run that
    // changed since the last batch, and the final row of every run that ended since. They count
    // as saved only once that transaction committed (saved()): a batch the disk refused is
    // retried with them.
    void save_progress();
    void saved();
    void finish(active_run& run, execution_status status, std::optional<int> rc, std::string reason,
                std::optional<boost::json::object> error = std::nullopt);

    net::any_io_executor executor_;
    const checkpoint_catalog& catalog_;
    execution_store store_;
    event_log& events_;
    engine_settings settings_;
    runner_registry runners_;
    std::map<std::string, std::unique_ptr<active_run>, std::less<>> active_;  // queued and running
    std::vector<finished_row> finished_unsaved_;
    std::deque<std::string> queue_;
    std::vector<std::function<void(const execution_record&)>> finish_listeners_;
    bool shutting_down_ = false;
};

}  // namespace raydeploy
