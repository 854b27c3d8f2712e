// The execution engine: starts checkpoint runs (ansible-playbook children), queues them beyond the
// concurrency limit, cancels them, turns their output into events and keeps their rows current,
// and at start-up reconciles what a previous life of the service left running.
//
// @par Thread safety
// Single-threaded: use from the io_context's thread.
#pragma once

#include "raydeploy/catalog/catalog.hpp"
#include "raydeploy/engine/child_process.hpp"
#include "raydeploy/engine/execution.hpp"
#include "raydeploy/engine/execution_store.hpp"
#include "raydeploy/engine/progress.hpp"
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
    std::filesystem::path inventory;
    // ansible-playbook to run; empty when none was found (runs then fail with a clear error).
    std::filesystem::path ansible_playbook;
    // The raydeploy binary, run as `__supervise` around ansible-playbook (see supervisor.hpp).
    std::filesystem::path supervisor;
    std::filesystem::path runs_dir;      // STATE_DIR/runs: one directory per execution
    std::filesystem::path callback_dir;  // where the raydeploy_events callback plugin was written
    std::size_t max_concurrent = 4;
    std::chrono::milliseconds kill_grace{std::chrono::seconds{10}};
    // Variables of the service's environment passed to ansible-playbook beyond the fixed
    // allow-list (see build_child_environment); executor.pass_env.
    std::vector<std::string> pass_env;
    // The address the service's own listener is bound to ("127.0.0.1:8000"), passed to every run as
    // raydeploy_listen_address so prerequisites-check can report a Ray port that collides with it;
    // empty: not passed.
    std::string listen_address;
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
    execution_manager(net::any_io_executor executor, const checkpoint_catalog& catalog, sqlite::database& db,
                      event_log& events, engine_settings settings);

    // Ends every execution a previous life left queued or running as `interrupted`, after
    // stopping what is left of its process group. Call once, before serving.
    void recover();

    // Queues a run of `checkpoint` and starts it when a slot is free. Throws engine_error.
    execution_record start(const std::string& checkpoint, execution_params params, execution_origin origin = {});
    // Cancels a queued or running execution. Throws engine_error.
    execution_record cancel(const std::string& id);

    std::optional<execution_record> get(std::string_view id) { return store_.get(id); }
    std::vector<execution_record> list(const execution_filter& filter) { return store_.list(filter); }
    // The execution's stored report: nullopt for an unknown execution, empty when it has none.
    std::optional<execution_report> report(std::string_view id) { return store_.report(id); }

    // The execution's text output (stdout and stderr of ansible-playbook).
    std::filesystem::path log_file(std::string_view id) const;
    bool is_active(std::string_view id) const { return active_.count(std::string{id}) != 0; }
    // Throws engine_error ALREADY_RUNNING when `checkpoint` has a queued or running execution.
    void refuse_if_active(std::string_view checkpoint) const;
    // Called with the final record whenever an execution ends (not for those recover() closes).
    void on_finished(std::function<void(const execution_record&)> listener) { finish_listeners_.push_back(std::move(listener)); }
    // Completes when the execution writes output or ends, or after `timeout`; at once when it is
    // not active.
    net::awaitable<void> wait_for_output(std::string id, std::chrono::milliseconds timeout);

    // Stops every running execution (they end as `interrupted`) and refuses new ones.
    void shutdown();
    std::size_t running_count() const;

private:
    struct active_run {
        execution_record record;
        std::int64_t next_counter = 1;
        execution_progress progress;
        std::unique_ptr<child_process> child;
        std::ofstream log;
        std::vector<net::steady_timer*> output_waiters;
        bool cancel_requested = false;
    };

    // The queued or running execution of `checkpoint`, if any.
    std::optional<execution_record> active_for(std::string_view checkpoint) const;
    void pump();
    net::awaitable<void> run(std::string id);
    void emit(active_run& run, std::string type, boost::json::object fields);
    void on_ansible_event(active_run& run, std::string_view line);
    void notify_output(active_run& run);
    void finish(active_run& run, execution_status status, std::optional<int> rc, std::string reason);
    std::vector<std::string> child_environment(const std::string& execution_id) const;

    net::any_io_executor executor_;
    const checkpoint_catalog& catalog_;
    execution_store store_;
    event_log& events_;
    engine_settings settings_;
    std::map<std::string, std::unique_ptr<active_run>, std::less<>> active_;  // queued and running
    std::deque<std::string> queue_;
    std::vector<std::function<void(const execution_record&)>> finish_listeners_;
    bool shutting_down_ = false;
};

// Whether the service's variable `name` reaches ansible-playbook: PATH, HOME, LANG, LANGUAGE,
// LC_*, TZ, TMPDIR, SSH_AUTH_SOCK, USER, LOGNAME, and the names in `pass_env`.
bool passes_to_child(std::string_view name, const std::vector<std::string>& pass_env);

// The environment of an execution's ansible-playbook, as "NAME=value" strings: the variables of
// `service_environment` that passes_to_child admits, plus the ANSIBLE_* and RAYDEPLOY_EVENT_FD /
// RAYDEPLOY_EXECUTION_ID settings the service needs for its event channel.
std::vector<std::string> build_child_environment(const std::map<std::string, std::string>& service_environment,
                                                 const std::vector<std::string>& pass_env,
                                                 const std::filesystem::path& callback_dir,
                                                 const std::string& execution_id);

// Where ansible-playbook is: the configured path (made absolute), else the project virtualenv next to the
// binary (BINARY/../../.venv/bin) or in the current directory, else PATH. Empty when not found.
std::filesystem::path find_ansible_playbook(const std::filesystem::path& configured);

// Writes the event callback plugin that ships inside the binary into `directory` (if its
// content changed) and returns the directory.
std::filesystem::path install_callback_plugin(const std::filesystem::path& directory);

}  // namespace raydeploy
