// Deployments: an ordered list of checkpoints run one after another. A deployment waits at a
// gated checkpoint until it is approved (or denied), stops at the first checkpoint that does not
// succeed, can be cancelled, and resumes from the first checkpoint that did not succeed.
//
// One deployment is active (queued, running or awaiting approval) at a time: two pipelines
// changing the same cluster at once is the accident this tool exists to prevent.
//
// @par Thread safety
// Single-threaded: use from the io_context's thread.
#pragma once

#include "raydeploy/auth/identity.hpp"
#include "raydeploy/catalog/catalog.hpp"
#include "raydeploy/engine/approvals.hpp"
#include "raydeploy/engine/execution_manager.hpp"
#include "raydeploy/events/event_log.hpp"
#include "raydeploy/store/sqlite.hpp"
#include "raydeploy/util/net.hpp"

#include <boost/json/object.hpp>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace raydeploy {

enum class deployment_status { queued, running, awaiting_approval, succeeded, failed, cancelled };
std::string_view to_string(deployment_status status);
std::optional<deployment_status> parse_deployment_status(std::string_view text);

struct deployment_step {
    std::string checkpoint;
    // "pending" (not reached), "awaiting_approval", "denied", or the execution's status.
    std::string status = "pending";
    std::optional<std::string> execution_id;
};

struct deployment_record {
    std::int64_t rowid = 0;  // paging cursor
    std::string id;          // "dp-" + hex
    deployment_status status = deployment_status::queued;
    std::vector<deployment_step> steps;
    bool auto_approve = false;
    // Every step runs in check mode (ansible-playbook --check), a resumed one too.
    bool check = false;
    boost::json::object extra_vars;
    std::string requested_by;
    // Whoever last resumed it: the requester of every step run since (executions, approval
    // requests, the four-eyes rule). Empty until resumed.
    std::optional<std::string> resumed_by;
    std::string requester_person;  // person_key of the current requester
    std::string created_at;
    std::optional<std::string> started_at;
    std::optional<std::string> finished_at;
    std::optional<std::string> status_reason;
    std::optional<std::string> failed_checkpoint;
    // While awaiting approval: {checkpoint, approval_id, destructive, impact_summary, approve_command,
    // live_impact (the request's, or null)}.
    std::optional<boost::json::object> awaiting;
};

boost::json::object to_json(const deployment_record& record);

// POST /api/v1/deployments, already parsed.
struct deployment_request {
    std::optional<std::vector<std::string>> checkpoints;  // default: the whole catalog, in order
    std::optional<std::string> start_from;
    bool auto_approve = false;
    bool check = false;  // every step in check mode: all of them must be of kind ansible
    boost::json::object extra_vars;
};

struct deployment_filter {
    std::optional<deployment_status> status;
    std::size_t limit = 50;
    std::optional<std::int64_t> before_rowid;
    std::optional<std::string> checkpoint;  // only deployments that include this checkpoint
    // Only deployments created strictly after / before these times (as format_timestamp prints them).
    std::optional<std::string> created_after;
    std::optional<std::string> created_before;
};

// The query deployment_manager::list runs for `filter`, with named parameters (:checkpoint, ...):
// only the conditions given, so that SQLite reads a page off the index of the one that narrows.
std::string deployment_list_sql(const deployment_filter& filter);

class deployment_manager {
public:
    // `service_url` is where approvers reach this service; it goes into the approve command
    // shown at a gate. `open_mode`: no tokens configured (the command then names approved_by).
    deployment_manager(net::any_io_executor executor, const checkpoint_catalog& catalog, sqlite::database& db,
                       event_log& events, execution_manager& executions, approval_manager& approvals,
                       std::string service_url, bool open_mode);
    ~deployment_manager();
    deployment_manager(const deployment_manager&) = delete;
    deployment_manager& operator=(const deployment_manager&) = delete;

    // After executions.recover(): a deployment that was running is failed (its execution was
    // interrupted) and can be resumed; one awaiting approval goes on waiting.
    void recover();

    // Throws engine_error: invalid (checkpoints, start_from, check with a step that is not of
    // kind ansible), forbidden (auto_approve below admin), conflict (another deployment is active).
    deployment_record start(deployment_request request, const identity& caller);
    deployment_record cancel(const std::string& id);
    // The caller becomes the requester of every step from now on. A deployment with auto_approve
    // keeps it only when an admin resumes it; anyone else resumes it with auto_approve off.
    deployment_record resume(const std::string& id, const identity& caller);

    std::optional<deployment_record> get(std::string_view id);
    std::vector<deployment_record> list(const deployment_filter& filter);
    // The newest deployment (nullptr: none ever), from memory: read from SQL once, then kept by
    // this manager's writes, the only ones to the deployments table.
    const deployment_record* newest();
    // Grows with every write: an answer built from deployments is current while it stays the same.
    std::uint64_t generation() const { return generation_; }

    // Stops driving deployments without changing their state (the service is stopping).
    void shutdown();

private:
    struct active_deployment {
        deployment_record record;
        bool cancel_requested = false;
        std::unique_ptr<net::steady_timer> wake;
    };

    net::awaitable<void> run(std::string id);
    net::awaitable<bool> await_grant(active_deployment& active, deployment_step& step, std::optional<std::string>& grant_id);
    void spawn(deployment_record record);
    void finish(active_deployment& active, deployment_status status, std::string reason);
    // The deployment's own progress: the row is written in the next batch of events' transaction
    // (announce() commits it with its event). While the disk refuses that batch the record waits
    // in memory, is retried with the events, and get() answers from it: a failing disk neither
    // loses a deployment's state nor throws out of the coroutine that drives it.
    void save(const deployment_record& record);
    // A request's change, written before it is answered: a disk that refuses it fails the request
    // (503) and nothing changes.
    void write_now(const deployment_record& record);
    void write_row(const deployment_record& record);
    // What answers from memory (generation(), newest()) follows a save or write.
    void changed(const deployment_record& record);
    void insert(deployment_record& record);
    void announce(const deployment_record& record);
    void wake_all();
    std::string approve_command(const checkpoint& item, const approval_record& request) const;
    // Throws DEPLOYMENT_ACTIVE naming the deployment under way, if there is one.
    void refuse_if_one_is_active() const;

    net::any_io_executor executor_;
    const checkpoint_catalog& catalog_;
    sqlite::database& db_;
    event_log& events_;
    execution_manager& executions_;
    approval_manager& approvals_;
    std::string service_url_;
    bool open_mode_;
    std::map<std::string, std::unique_ptr<active_deployment>, std::less<>> active_;
    std::map<std::string, deployment_record, std::less<>> unsaved_;  // save()d, not yet committed
    bool shutting_down_ = false;
    bool newest_loaded_ = false;
    std::optional<deployment_record> newest_;
    std::uint64_t generation_ = 0;
};

}  // namespace raydeploy
