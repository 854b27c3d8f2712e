// The seam between the execution engine and what a checkpoint runs. The engine (execution_manager)
// owns the lifecycle every kind shares: queueing, one run per checkpoint, the run's directory and
// log, events numbered with contiguous counters and ending in `execution.done`, cancel, timeout,
// shutdown, the stored row and its report. A runner does the one thing that differs between kinds:
// it runs the checkpoint (ansible-playbook for kind ansible, CML's REST API for the CML kinds) and
// says how that ended. builtin_runners.cpp says which runner runs which kind.
//
// @par Thread safety
// Single-threaded: runners and their context are used from the io_context's thread.
#pragma once

#include "raydeploy/catalog/catalog.hpp"
#include "raydeploy/engine/execution.hpp"
#include "raydeploy/engine/stop_cause.hpp"
#include "raydeploy/util/net.hpp"

#include <boost/json/object.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace raydeploy {

// How a run ended, as its runner saw it.
struct runner_outcome {
    execution_status status = execution_status::failed;  // a final status
    std::optional<int> rc;                                // the exit code of what ran, when it has one
    std::string reason;                                   // why it did not succeed; what to do next
    // For a failure, what failed where ({"task", "host", "message"}); without it the execution's
    // error is {"message": reason}.
    std::optional<boost::json::object> error;
    // The run returned on stop(stop_cause::detach) while its work goes on: the execution stays
    // running for the next life of the service to follow (`status` is then ignored).
    bool detached = false;
};

// What the engine gives a runner for one run. Everything it records is visible through the API as
// it happens.
class run_context {
public:
    // The execution as stored: its id and what the caller asked for (params: extra_vars, limit, check).
    virtual const execution_record& record() const = 0;
    virtual const checkpoint& item() const = 0;
    // The run's private directory (owner only), STATE_DIR/runs/<execution_id>. It holds the run's
    // output.log, kept by the engine; a runner keeps files of its own run here.
    virtual const std::filesystem::path& run_dir() const = 0;

    // An event of the service about this run: it gets the run's next counter and the checkpoint's
    // name in its fields.
    virtual void emit(std::string type, boost::json::object fields) = 0;
    // An event produced by what the runner drives (an Ansible callback, ...), kept as it came: it
    // gets the run's next counter like emit's, but keeps its own timestamp (`created`; empty: now)
    // and its fields unchanged. `fields_text`, when not empty, is the JSON text `fields` was parsed
    // from: the event keeps its members as written there.
    virtual void relay(std::string type, std::string created, const boost::json::object& fields,
                       std::string_view fields_text) = 0;
    // Appends to the run's log (GET /api/v1/executions/{id}/log) and wakes whoever follows it.
    virtual void write_output(std::string_view text) = 0;
    // True while more events wait to be stored than the service keeps in memory (the disk refuses
    // them): a runner that reads a producer as fast as it writes stops reading until it is false,
    // so the producer waits instead of the service's memory growing.
    virtual bool events_backlogged() const = 0;

    // What the API shows of the run so far: `progress` as {"play", "task", "tasks_started",
    // "tasks_done"}, `host_summary` as host -> counts. Stored with the next batch of events (or
    // once the disk takes writes again); the last one set is what the finished execution keeps.
    virtual void set_progress(boost::json::object progress, boost::json::object host_summary) = 0;
    // What the checkpoint published (see checkpoint_results in progress.hpp), and its report when
    // not empty. Stored as progress is.
    virtual void set_results(boost::json::object results, const execution_report& report) = 0;
    // The process group the run's processes live in, and its leader's start time: a service that
    // restarts after a crash stops what is left of it (execution_manager::recover).
    virtual void set_process_group(int pgid, std::int64_t leader_start_time) = 0;

    // What a runner whose work survives the service needs to find that work again after a restart
    // (the CML job run it follows: {"job_run": {...}}). Stored at once, before the call returns, so
    // a kill -9 right after it loses nothing; record().attachment holds the last one set.
    virtual void set_attachment(boost::json::object attachment) = 0;
    // True when this run continues one that a previous life of the service started (the service
    // restarted while it ran): the runner follows the work it left, found through
    // record().attachment, instead of starting it again.
    virtual bool resumed() const = 0;

protected:
    ~run_context() = default;
};

// Runs one execution of one checkpoint. A new runner is made for every run.
class checkpoint_runner {
public:
    virtual ~checkpoint_runner() = default;

    // Runs the checkpoint to its end and says how it ended. Called once; `context` outlives it.
    // Failures the caller can act on are outcomes (status failed, with a reason saying what to do);
    // an exception is an internal error of the service.
    virtual net::awaitable<runner_outcome> run(run_context& context) = 0;

    // Asks the run to end early: cancel (on request, or the service shutting down) or timeout (the
    // engine keeps the checkpoint's time limit). run() then ends soon with status cancelled or
    // timed_out. Only the first cause counts; it may come before run() started. A runner that
    // survives restarts also gets `detach` (the service is stopping): run() returns soon with
    // runner_outcome::detached, leaving its work running.
    virtual void stop(stop_cause cause) = 0;

    // Whether what this runner drives goes on without the service (a CML job run does; an
    // ansible-playbook child does not). Such a run is detached, not stopped, when the service
    // shuts down, and after a restart (also after a kill -9) the engine runs the runner again for
    // the same execution, with run_context::resumed() true, instead of ending it as interrupted.
    virtual bool survives_restart() const { return false; }
};

// Which runner runs each kind of checkpoint.
class runner_registry {
public:
    using factory = std::function<std::unique_ptr<checkpoint_runner>()>;

    // Makes `make` the runner of `kind`, replacing any earlier one.
    void add(checkpoint_kind kind, factory make);
    // A new runner for one run of a checkpoint of `kind`; nullptr when no runner runs that kind.
    std::unique_ptr<checkpoint_runner> make(checkpoint_kind kind) const;
    // The kinds that have a runner, in declaration order.
    std::vector<checkpoint_kind> kinds() const;

private:
    std::map<checkpoint_kind, factory> factories_;
};

// Why a run of `item` cannot start when no runner runs its kind, saying what to do instead.
std::string no_runner_reason(const checkpoint& item, const runner_registry& runners);

}  // namespace raydeploy
