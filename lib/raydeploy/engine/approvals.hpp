// Approvals: the human decision a gated checkpoint needs before it runs.
//
// One row per decision process. A run or deployment that reaches a gated checkpoint without a
// grant leaves a `pending` request; an approver turns it into a `granted` grant (or grants ahead
// of any request: a pre-approval), or `denied`s it. A grant is `consumed` by exactly one
// execution, can be `revoked` while unused, and `expired` when its TTL passes. A request whose
// deployment ended without it is `withdrawn`, so nobody grants a run nobody awaits. Every change
// is stored, published as an `approval.*` event, and wakes whoever waits on approvals.
//
// An approval approves one run: it is bound to the run's parameters (extra_vars, limit, check)
// and to who asked (the requesting person, or the waiting deployment). A run with other
// parameters, or by someone else, neither consumes it nor is blocked by it: it gets a request of
// its own. A pre-approval binds the parameters its grant names and anyone but its approver (for a
// destructive checkpoint). Persons are compared with same_person (case-insensitive, tokens of one
// `person` are one person).
//
// @par Thread safety
// Single-threaded: use from the io_context's thread.
#pragma once

#include "raydeploy/auth/identity.hpp"
#include "raydeploy/catalog/catalog.hpp"
#include "raydeploy/engine/execution_manager.hpp"
#include "raydeploy/events/event_log.hpp"
#include "raydeploy/store/sqlite.hpp"
#include "raydeploy/util/net.hpp"

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace raydeploy {

enum class approval_state { pending, granted, consumed, denied, revoked, expired, withdrawn };
std::string_view to_string(approval_state state);

// Who asks for a run: the identity's name (what records show) and its person key (what the
// four-eyes rule and bindings compare).
struct run_requester {
    std::string name;
    std::string person;  // person_key(): lower case

    static run_requester of(const identity& caller) { return {caller.name, person_key(caller)}; }
};

// The parameters an approval binds, as the API shows and compares them.
bool same_params(const execution_params& a, const execution_params& b);

struct approval_record {
    std::string id;  // "ap-" + hex
    std::string checkpoint;
    approval_state state = approval_state::pending;
    // The run it approves: the parameters, and who asked (absent for a pre-approval).
    execution_params params;
    std::optional<std::string> requested_by;
    std::optional<std::string> requester_person;
    std::optional<std::string> deployment_id;  // the deployment waiting at this gate: only it may use the grant
    std::optional<std::string> approved_by;
    std::optional<std::string> approver_person;
    std::optional<std::string> reason;
    bool acknowledge_risks = false;
    // Of a destructive checkpoint: what tearing down would end, as the service saw it when the
    // request was made (for a pre-approval: when it was granted), i.e. what the approver was shown.
    // Its shape is the provider's (see approval_manager::live_impact_provider); absent when no
    // provider is set or the checkpoint is not destructive.
    std::optional<boost::json::object> live_impact;
    bool acknowledge_running_work = false;
    std::string created_at;
    std::optional<std::string> granted_at;
    std::optional<std::string> expires_at;
    // When and by whom it stopped being pending or usable: denied, revoked, consumed, expired.
    std::optional<std::string> decided_at;
    std::optional<std::string> decided_by;
    std::optional<std::string> execution_id;  // the execution that consumed the grant

    // Granted ahead of any request: usable by any requester with the same parameters.
    bool is_pre_approval() const { return !requested_by && !deployment_id; }
};

boost::json::object to_json(const approval_record& record);

// True when `live_impact` is fresh and lists jobs or applications: running work that a grant must
// acknowledge. A live impact that is not fresh knows of nothing running, so it asks for no flag.
bool shows_running_work(const boost::json::object& live_impact);
bool shows_running_work(const std::optional<boost::json::object>& live_impact);

struct approval_policy {
    std::chrono::seconds default_ttl{3600};
    std::chrono::seconds max_ttl{24 * 3600};
    // Whoever requested a destructive run cannot approve it. The service turns it off in open
    // mode, where every caller is "local" and nobody could approve.
    bool four_eyes = true;
};

// What an approver sends: POST /api/v1/approvals/{checkpoint}.
struct grant_input {
    std::string reason;
    bool acknowledge_risks = false;
    // Required when the request (or, for a pre-approval, the cluster now) shows running work.
    bool acknowledge_running_work = false;
    std::optional<std::chrono::seconds> ttl;
    std::optional<std::string> approved_by;  // required in open mode, must match the caller otherwise
    // The pending request decided; required when the checkpoint has several.
    std::optional<std::string> approval_id;
    // The run a pre-approval approves (none given: the plain run). With pending requests, they
    // pick the request with these parameters.
    std::optional<execution_params> params;
};

class approval_manager {
public:
    // What running `item` would end right now, as a JSON object {observed_at, source_state, fresh,
    // jobs [...], applications [...], summary, note (when not fresh)}, plus what the checkpoint
    // would change where the service knows it (launch-ray-cluster's restarts): the service builds
    // it from the Ray monitor (watch/live_impact.hpp), so the engine stays free of Ray and CML.
    // nullopt: nothing to say for `item` (not destructive, no monitor), and its approvals carry none.
    using live_impact_provider = std::function<std::optional<boost::json::object>(const checkpoint& item)>;

    approval_manager(const checkpoint_catalog& catalog, sqlite::database& db, event_log& events,
                     approval_policy policy);

    // Set before serving; requests and pre-approvals record its answer.
    void set_live_impact(live_impact_provider provider) { live_impact_ = std::move(provider); }
    // The live impact of running `item` now: the provider's, nullopt without one.
    std::optional<boost::json::object> live_impact_of(const checkpoint& item) const;

    std::optional<approval_record> get(std::string_view id);
    // The checkpoint's pending requests, oldest first.
    std::vector<approval_record> pending_requests(std::string_view checkpoint);
    // The checkpoint's grants that are unused and not expired, oldest first.
    std::vector<approval_record> live_grants(std::string_view checkpoint);
    // The checkpoint's record that most recently stopped being pending or usable (denied,
    // consumed, revoked, expired, withdrawn): what became of a request that is no longer pending.
    std::optional<approval_record> last_decision(std::string_view checkpoint);
    std::vector<approval_record> all_pending();
    std::vector<approval_record> all_live_grants();

    // Records that `requester` (for `deployment_id`, when a deployment waits) wants to run the
    // gated `checkpoint` with `params`: the existing pending request for exactly that run, or a
    // new one.
    approval_record request(const std::string& checkpoint, const execution_params& params,
                            const run_requester& requester, std::optional<std::string> deployment_id);

    // Decides a pending request (input.approval_id, the only one, or the one with input.params)
    // or grants ahead of any. Throws engine_error: not_found (checkpoint, approval_id), conflict
    // (not gated, several pending and none named, not pending, already granted), invalid (reason,
    // acknowledge_risks, ttl_s, approved_by, acknowledge_running_work when the request or the
    // cluster now shows running work), forbidden (four-eyes, identity).
    approval_record grant(const std::string& checkpoint, const identity& caller, grant_input input);
    // A grant given by the pipeline itself for a deployment with auto_approve, in the name of
    // the admin who is its requester. None for a destructive checkpoint while the cluster runs
    // work it would end (the request's live_impact): ending someone's jobs takes a person's
    // acknowledge_running_work, so the request stays pending for one.
    std::optional<approval_record> auto_grant(const std::string& checkpoint, const execution_params& params,
                               const run_requester& admin, const std::string& deployment_id);
    approval_record deny(const std::string& checkpoint, const identity& caller, const std::string& reason,
                         const std::optional<std::string>& approval_id);
    approval_record revoke(const std::string& checkpoint, const identity& caller,
                           const std::optional<std::string>& approval_id);

    // The live grant for exactly this run: same parameters, and granted for this requester, for
    // this deployment, or ahead of any request; none when the four-eyes rule forbids it (the
    // requester approved it themselves).
    std::optional<approval_record> usable_grant(std::string_view checkpoint, const execution_params& params,
                                                const run_requester& requester,
                                                const std::optional<std::string>& deployment_id);
    // Starts the run that the grant `origin.approval_id` allows and consumes the grant in the
    // transaction that stores the run's row: a store that refuses either keeps neither, so one
    // grant never starts two runs. Throws engine_error APPROVAL_REQUIRED when the grant is no
    // longer live (used, revoked or expired meanwhile).
    execution_record start_granted(execution_manager& executions, const std::string& checkpoint,
                                   execution_params params, execution_origin origin, const std::string& consumer);
    // When a deployment ends without them: its pending requests are withdrawn and its unused
    // grants revoked, so a resumed deployment (perhaps by someone else) asks anew.
    void release_for_deployment(const std::string& deployment_id, const std::string& reason);

    // Marks grants whose TTL passed as expired (watch/approval_expiry calls it every second).
    void expire_due();

    // Called after every change of any approval.
    void on_change(std::function<void()> listener) { listeners_.push_back(std::move(listener)); }

    const approval_policy& policy() const { return policy_; }

    // A record as the API and the event stream show it: extra_vars values only with `reveal`
    // (operators and above), and never those of variables the checkpoint declares secret.
    boost::json::object shown(const approval_record& record, bool reveal) const;

private:
    const checkpoint& gated(const std::string& checkpoint_name) const;
    bool four_eyes_forbids(const checkpoint& item, const std::optional<std::string>& approver_person,
                           std::string_view requester_person) const;
    bool usable_by(const approval_record& grant, const execution_params& params, const run_requester& requester,
                   const std::optional<std::string>& deployment_id) const;
    // The pending request a grant or denial decides: the one named, else the only one (with
    // `params`, when given); nullopt when there is none. Throws when the name is unknown or not
    // pending, or when several match and none is named.
    std::optional<approval_record> decided_request(const std::string& checkpoint,
                                                   const std::optional<std::string>& approval_id,
                                                   const std::optional<execution_params>& params);
    std::vector<approval_record> select(std::string_view where, std::string_view value);
    void insert(const approval_record& record);
    void update(const approval_record& record);
    void changed(const approval_record& record, std::string event_type);
    boost::json::array shown(const std::vector<approval_record>& records) const;

    const checkpoint_catalog& catalog_;
    sqlite::database& db_;
    event_log& events_;
    approval_policy policy_;
    std::vector<std::function<void()>> listeners_;
    live_impact_provider live_impact_;
};

// Starts a run of `checkpoint` by `caller`. For a gated checkpoint it consumes a usable grant;
// with `inline_approve` (the run body's "approve": true) an approver grants a non-destructive
// checkpoint on the spot. Without either, it records a pending request and throws
// engine_error APPROVAL_REQUIRED (409, with the seeds' approval_info and the request's id).
execution_record start_checkpoint(execution_manager& executions, approval_manager& approvals,
                                  const checkpoint_catalog& catalog, const std::string& checkpoint,
                                  execution_params params, const identity& caller, bool inline_approve,
                                  std::optional<std::string> deployment_id = std::nullopt);

// The seeds' approval_info for a checkpoint: {approval_required, destructive_operation, impact_summary},
// plus live_impact when one is given.
boost::json::object approval_info(const checkpoint& item,
                                  const std::optional<boost::json::object>& live_impact = std::nullopt);

// The body of the POST /api/v1/approvals/{checkpoint} that grants `request`: approval_id, a
// placeholder reason, and acknowledge_risks / acknowledge_running_work when the grant needs them.
boost::json::object suggested_grant_body(const checkpoint& item, const approval_record& request);

// One line on what `live_impact` says for messages: its summary, the work it lists (the first few),
// or its note when the cluster's state is unknown.
std::string describe_live_impact(const boost::json::object& live_impact);

}  // namespace raydeploy
