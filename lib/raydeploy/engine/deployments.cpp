// The deployment pipeline: one coroutine per active deployment, woken by approval changes,
// finished executions and cancel requests.
#include "raydeploy/engine/deployments.hpp"

#include "raydeploy/engine/engine_error.hpp"
#include "raydeploy/engine/extra_vars.hpp"
#include "raydeploy/store/json_columns.hpp"
#include "raydeploy/util/log.hpp"
#include "raydeploy/util/named_enum.hpp"
#include "raydeploy/util/random_id.hpp"
#include "raydeploy/util/time.hpp"

#include <boost/json/serialize.hpp>

#include <array>
#include <set>

namespace raydeploy {
namespace {

// Why a deployment cannot include `item`, and how to run it instead.
std::string runs_on_its_own(const checkpoint& item)
{
    return "'" + item.name + "' runs only on its own (in_deployment: false), never in a deployment; run it with "
           "`raydeploy run " + item.name + "` or POST /api/v1/checkpoints/" + item.name;
}

// The start of the status_reason of a deployment whose auto_approve stopped at a gate because the
// step would end running Ray work.
constexpr std::string_view auto_approve_holds = "auto_approve does not grant";

namespace json = boost::json;

constexpr std::array<std::string_view, 6> status_names = {"queued",    "running", "awaiting_approval",
                                                          "succeeded", "failed",  "cancelled"};

json::array steps_json(const std::vector<deployment_step>& steps)
{
    json::array out;
    for (const auto& step : steps)
        out.push_back(json::object{
            {"checkpoint", step.checkpoint}, {"status", step.status}, {"execution_id", json_or_null(step.execution_id)}});
    return out;
}

std::vector<deployment_step> steps_from(const std::string& text)
{
    std::vector<deployment_step> steps;
    boost::system::error_code ec;
    const json::value parsed = json::parse(text, ec);
    if (ec || !parsed.is_array()) return steps;
    for (const auto& item : parsed.get_array()) {
        if (!item.is_object()) continue;
        const auto& object = item.get_object();
        deployment_step step;
        if (auto* name = object.if_contains("checkpoint"); name && name->is_string()) step.checkpoint = name->get_string();
        if (auto* status = object.if_contains("status"); status && status->is_string()) step.status = status->get_string();
        if (auto* id = object.if_contains("execution_id"); id && id->is_string()) step.execution_id = std::string{id->get_string()};
        steps.push_back(std::move(step));
    }
    return steps;
}

constexpr std::string_view select_columns =
    "SELECT deployments.rowid, id, status, steps, auto_approve, extra_vars, requested_by, created_at, started_at, "
    "finished_at, status_reason, failed_checkpoint, awaiting, resumed_by, requester_person, check_mode ";

deployment_record read_row(const sqlite::statement& row)
{
    deployment_record record;
    record.rowid = row.column_int(0);
    record.id = row.column_text(1);
    record.status = parse_deployment_status(row.column_text(2)).value_or(deployment_status::failed);
    record.steps = steps_from(row.column_text(3));
    record.auto_approve = row.column_int(4) != 0;
    record.extra_vars = sqlite::parse_object_column(row.column_text(5));
    record.requested_by = row.column_text(6);
    record.created_at = row.column_text(7);
    record.started_at = sqlite::optional_text_column(row, 8);
    record.finished_at = sqlite::optional_text_column(row, 9);
    record.status_reason = sqlite::optional_text_column(row, 10);
    record.failed_checkpoint = sqlite::optional_text_column(row, 11);
    if (!row.column_is_null(12)) record.awaiting = sqlite::parse_object_column(row.column_text(12));
    record.resumed_by = sqlite::optional_text_column(row, 13);
    // Rows from before persons were recorded: the name is the person.
    record.requester_person = sqlite::optional_text_column(row, 14)
                                  .value_or(person_key(record.resumed_by.value_or(record.requested_by)));
    record.check = row.column_int(15) != 0;
    return record;
}

// Who asks for the deployment's steps now: its creator, or whoever resumed it last.
run_requester requester_of(const deployment_record& record)
{
    return {record.resumed_by.value_or(record.requested_by), record.requester_person};
}

// What a step runs with, and so what its approval binds: the deployment's variables that the
// step's checkpoint declares, and its check mode (a grant of the real run does not let a check
// run through, nor the reverse, as for single runs).
execution_params step_params(const deployment_record& record, const checkpoint& item)
{
    return execution_params{declared_extra_vars(item, record.extra_vars), std::nullopt, record.check};
}

bool is_active(deployment_status status)
{
    return status == deployment_status::queued || status == deployment_status::running ||
           status == deployment_status::awaiting_approval;
}

// Single quotes for a POSIX shell: the command is meant to be pasted as it is.
std::string shell_quote(std::string_view text)
{
    std::string out = "'";
    for (char c : text) out += c == '\'' ? std::string{"'\\''"} : std::string(1, c);
    return out + "'";
}

}  // namespace

std::string_view to_string(deployment_status status) { return enum_name(status_names, status); }

std::optional<deployment_status> parse_deployment_status(std::string_view text)
{
    return enum_from_name<deployment_status>(status_names, text);
}

json::object to_json(const deployment_record& record)
{
    json::array checkpoints;
    std::optional<std::string> current;
    for (const auto& step : record.steps) {
        checkpoints.emplace_back(step.checkpoint);
        if (!current && step.status != "pending" && step.status != "succeeded" && is_active(record.status))
            current = step.checkpoint;
    }
    return json::object{
        {"deployment_id", record.id},
        {"status", to_string(record.status)},
        {"checkpoints", std::move(checkpoints)},
        {"steps", steps_json(record.steps)},
        {"current_checkpoint", json_or_null(current)},
        {"auto_approve", record.auto_approve},
        {"check", record.check},
        {"extra_vars", record.extra_vars},
        {"requested_by", record.requested_by},
        {"resumed_by", json_or_null(record.resumed_by)},
        {"created_at", record.created_at},
        {"started_at", json_or_null(record.started_at)},
        {"finished_at", json_or_null(record.finished_at)},
        {"status_reason", json_or_null(record.status_reason)},
        {"failed_checkpoint", json_or_null(record.failed_checkpoint)},
        {"awaiting", record.awaiting ? json::value(*record.awaiting) : json::value(nullptr)},
    };
}

deployment_manager::deployment_manager(net::any_io_executor executor, const checkpoint_catalog& catalog,
                                       sqlite::database& db, event_log& events, execution_manager& executions,
                                       approval_manager& approvals, std::string service_url, bool open_mode)
    : executor_{std::move(executor)},
      catalog_{catalog},
      db_{db},
      events_{events},
      executions_{executions},
      approvals_{approvals},
      service_url_{std::move(service_url)},
      open_mode_{open_mode}
{
    events_.add_commit_hooks(this, {[this] {
                                        for (const auto& [id, record] : unsaved_) write_row(record);
                                    },
                                    [this] { unsaved_.clear(); }});
    approvals_.on_change([this] { wake_all(); });
    executions_.on_finished([this](const execution_record& record) {
        if (!record.deployment_id) return;
        if (auto it = active_.find(*record.deployment_id); it != active_.end()) it->second->wake->cancel();
    });
}

deployment_manager::~deployment_manager() { events_.remove_commit_hooks(this); }

void deployment_manager::recover()
{
    std::vector<deployment_record> unfinished;
    for (auto status : {deployment_status::queued, deployment_status::running, deployment_status::awaiting_approval}) {
        deployment_filter in_status;
        in_status.status = status;
        in_status.limit = static_cast<std::size_t>(INT64_MAX);
        for (auto& record : list(in_status)) unfinished.push_back(std::move(record));
    }
    for (auto& record : unfinished) {
        if (record.status == deployment_status::awaiting_approval) {
            log::info("deployment goes on waiting for an approval", {{"deployment_id", record.id}});
            spawn(std::move(record));
            continue;
        }
        // A step whose execution executions.recover() followed again (its work survives restarts)
        // goes on, and the deployment with it.
        const bool step_goes_on = std::any_of(record.steps.begin(), record.steps.end(), [this](const deployment_step& step) {
            return step.execution_id && executions_.is_active(*step.execution_id);
        });
        if (step_goes_on) {
            log::info("deployment goes on with its re-attached step", {{"deployment_id", record.id}});
            spawn(std::move(record));
            continue;
        }
        // Its execution was ended as interrupted by executions.recover(); take its final status.
        for (auto& step : record.steps) {
            if (!step.execution_id) continue;
            if (auto execution = executions_.get(*step.execution_id)) step.status = std::string{to_string(execution->status)};
        }
        for (auto& step : record.steps)
            if (step.status == "running" || step.status == "queued") step.status = "interrupted";
        record.status = deployment_status::failed;
        record.finished_at = now_timestamp();
        record.status_reason = "the service stopped while this deployment ran; continue it with POST /api/v1/deployments/" +
                               record.id + "/resume";
        record.awaiting.reset();
        save(record);
        announce(record);
        log::warn("deployment interrupted by a restart", {{"deployment_id", record.id}});
    }
}

void deployment_manager::refuse_if_one_is_active() const
{
    for (const auto& [id, active] : active_) {
        const deployment_record& other = active->record;
        if (!is_active(other.status)) continue;
        throw engine_error{engine_error::kind::conflict, "DEPLOYMENT_ACTIVE",
                           "deployment " + other.id + " is " + std::string{to_string(other.status)} +
                               "; wait for it or cancel it with POST /api/v1/deployments/" + other.id + "/cancel",
                           {{"deployment_id", other.id}}};
    }
}

deployment_record deployment_manager::start(deployment_request request, const identity& caller)
{
    if (request.auto_approve && caller.level < role::admin)
        throw engine_error{engine_error::kind::forbidden, "FORBIDDEN",
                           "auto_approve needs the admin role; token '" + caller.name + "' has " +
                               std::string{to_string(caller.level)} + ". Leave it out and have the gates approved",
                           {{"required_role", "admin"}, {"field", "auto_approve"}}};
    std::vector<std::string> names;
    if (request.checkpoints) {
        std::set<std::string> seen;
        for (std::size_t i = 0; i < request.checkpoints->size(); ++i) {
            const std::string& name = (*request.checkpoints)[i];
            const std::string field = "checkpoints[" + std::to_string(i) + "]";
            const checkpoint* item = catalog_.find(name);
            if (!item) throw engine_error::invalid_field(field, "no checkpoint named '" + name + "'; GET /api/v1/checkpoints lists them");
            if (!item->in_deployment) throw engine_error::invalid_field(field, runs_on_its_own(*item));
            if (!seen.insert(name).second) throw engine_error::invalid_field(field, "'" + name + "' is listed twice");
            names.push_back(name);
        }
        if (names.empty()) throw engine_error::invalid_field("checkpoints", "name at least one checkpoint, or leave the field out for all of them");
        // The catalog's order is the dependency order (prerequisites before what needs them).
        std::vector<std::string> ordered;
        for (const auto& item : catalog_.checkpoints())
            if (seen.count(item.name)) ordered.push_back(item.name);
        names = std::move(ordered);
    } else {
        for (const auto& item : catalog_.checkpoints())
            if (item.in_deployment) names.push_back(item.name);
        if (names.empty())
            throw engine_error::invalid_field("checkpoints", "every checkpoint of the catalog has in_deployment: false, so "
                                                             "a deployment has nothing to run; run them one by one");
    }
    if (request.start_from) {
        if (const checkpoint* item = catalog_.find(*request.start_from); item && !item->in_deployment)
            throw engine_error::invalid_field("start_from", runs_on_its_own(*item));
        auto from = std::find(names.begin(), names.end(), *request.start_from);
        if (from == names.end())
            throw engine_error::invalid_field("start_from", "'" + *request.start_from + "' is not among the deployment's checkpoints");
        names.erase(names.begin(), from);
    }
    std::vector<const checkpoint*> steps;
    for (const auto& name : names) steps.push_back(catalog_.find(name));
    // Refused up front: a step that cannot dry-run would otherwise stop the deployment half-way,
    // after the steps before it ran.
    if (request.check)
        for (const checkpoint* item : steps)
            if (item->kind != checkpoint_kind::ansible)
                throw engine_error::invalid_field(
                    "check", "applies to kind ansible only (ansible-playbook's --check); the deployment's checkpoint '" +
                                 item->name + "' is of kind " + std::string{to_string(item->kind)} +
                                 ", which runs no playbook: leave it out (checkpoints, start_from) or deploy without check");
    check_deployment_extra_vars(steps, request.extra_vars);
    refuse_if_one_is_active();
    if (shutting_down_)
        throw engine_error{engine_error::kind::conflict, "SHUTTING_DOWN",
                           "the service is shutting down; start the deployment again once it is back"};

    deployment_record record;
    record.id = random_id("dp-");
    record.status = deployment_status::queued;
    for (auto& name : names) record.steps.push_back({std::move(name), "pending", std::nullopt});
    record.auto_approve = request.auto_approve;
    record.check = request.check;
    record.extra_vars = std::move(request.extra_vars);
    record.requested_by = caller.name;
    record.requester_person = person_key(caller);
    record.created_at = now_timestamp();
    insert(record);
    announce(record);
    log::info("deployment queued", {{"deployment_id", record.id}, {"checkpoints", record.steps.size()}});
    spawn(record);
    return record;
}

deployment_record deployment_manager::cancel(const std::string& id)
{
    auto it = active_.find(id);
    if (it == active_.end()) {
        auto record = get(id);
        if (!record)
            throw engine_error{engine_error::kind::not_found, "DEPLOYMENT_NOT_FOUND",
                               "no deployment '" + id + "'; GET /api/v1/deployments lists them"};
        throw engine_error{engine_error::kind::conflict, "ALREADY_FINISHED",
                           "deployment " + id + " already finished (" + std::string{to_string(record->status)} +
                               "); there is nothing to cancel",
                           {{"deployment_id", id}}};
    }
    active_deployment& active = *it->second;
    active.cancel_requested = true;
    active.wake->cancel();
    log::info("deployment cancel requested", {{"deployment_id", id}});
    return active.record;
}

deployment_record deployment_manager::resume(const std::string& id, const identity& caller)
{
    auto record = get(id);
    if (!record)
        throw engine_error{engine_error::kind::not_found, "DEPLOYMENT_NOT_FOUND",
                           "no deployment '" + id + "'; GET /api/v1/deployments lists them"};
    if (record->status != deployment_status::failed && record->status != deployment_status::cancelled)
        throw engine_error{engine_error::kind::conflict, "NOTHING_TO_RESUME",
                           "deployment " + id + " is " + std::string{to_string(record->status)} +
                               "; only a failed or cancelled deployment can be resumed",
                           {{"deployment_id", id}, {"status", to_string(record->status)}}};
    refuse_if_one_is_active();
    // Succeeded steps stay done; everything from the first other one runs again, afresh.
    bool reset = false;
    for (auto& step : record->steps) {
        if (step.status != "succeeded") reset = true;
        if (reset) {
            step.status = "pending";
            step.execution_id.reset();
        }
    }
    // The resumer answers for what runs from now on: their name goes on the executions and the
    // approval requests, and the four-eyes rule keeps them from approving those themselves.
    record->resumed_by = caller.name;
    record->requester_person = person_key(caller);
    std::string reason = "resumed by " + caller.name;
    // auto_approve grants in the requester's name: only an admin may have that done for them.
    if (record->auto_approve && caller.level < role::admin) {
        record->auto_approve = false;
        reason += "; auto_approve is off from now on (only an admin may resume with it), so gated steps wait "
                  "for an approver";
    }
    // Grants given while someone else was the requester do not carry over.
    approvals_.release_for_deployment(id, "deployment " + id + " was resumed by " + caller.name);
    record->status = deployment_status::queued;
    record->finished_at.reset();
    record->status_reason = reason;
    record->failed_checkpoint.reset();
    record->awaiting.reset();
    write_now(*record);
    announce(*record);
    log::info("deployment resumed", {{"deployment_id", id}, {"by", caller.name}, {"auto_approve", record->auto_approve}});
    spawn(*record);
    return *record;
}

void deployment_manager::spawn(deployment_record record)
{
    auto active = std::make_unique<active_deployment>();
    active->record = std::move(record);
    active->wake = std::make_unique<net::steady_timer>(executor_);
    const std::string id = active->record.id;
    active_.emplace(id, std::move(active));
    net::co_spawn(executor_, run(id), [this, id](std::exception_ptr error) {
        if (!error) return;
        try {
            std::rethrow_exception(error);
        } catch (const std::exception& e) {
            log::error("deployment failed inside the service", {{"deployment_id", id}, {"error", e.what()}});
            if (auto it = active_.find(id); it != active_.end()) {
                finish(*it->second, deployment_status::failed,
                       std::string{"internal error: "} + e.what() + "; the service log has the details");
            }
        }
    });
}

net::awaitable<void> deployment_manager::run(std::string id)
{
    active_deployment& active = *active_.at(id);
    deployment_record& record = active.record;
    if (!record.started_at) record.started_at = now_timestamp();

    for (auto& step : record.steps) {
        if (step.status == "succeeded") continue;
        if (active.cancel_requested) co_return finish(active, deployment_status::cancelled, "cancelled on request");
        const checkpoint* item = catalog_.find(step.checkpoint);
        if (!item) {
            record.failed_checkpoint = step.checkpoint;
            co_return finish(active, deployment_status::failed,
                             "checkpoint '" + step.checkpoint + "' is no longer in the catalog; start a new deployment");
        }

        execution_record execution;
        if (step.execution_id && executions_.is_active(*step.execution_id)) {
            // Started (and granted) by a previous life of the service; its work went on.
            execution = *executions_.get(*step.execution_id);
        } else {
            std::optional<std::string> grant_id;
            if (item->approval_required) {
                const bool proceed = co_await await_grant(active, step, grant_id);
                if (!proceed) co_return;  // finished (denied, cancelled) or the service is stopping
            }

            record.status = deployment_status::running;
            if (record.status_reason && record.status_reason->starts_with(auto_approve_holds))
                record.status_reason.reset();  // it explained the wait, which is over
            record.awaiting.reset();
            step.status = "queued";
            try {
                const std::string requester = requester_of(record).name;
                execution_params params = step_params(record, *item);
                execution_origin origin{requester, record.id, grant_id};
                execution = grant_id ? approvals_.start_granted(executions_, step.checkpoint, std::move(params),
                                                                std::move(origin), requester)
                                     : executions_.start(step.checkpoint, std::move(params), std::move(origin));
            } catch (const std::exception& e) {
                step.status = "failed";
                record.failed_checkpoint = step.checkpoint;
                co_return finish(active, deployment_status::failed,
                                 "checkpoint '" + step.checkpoint + "' could not start: " + e.what());
            }
            step.execution_id = execution.id;
        }
        step.status = std::string{to_string(execution.status)};
        save(record);
        announce(record);

        bool cancel_sent = false;
        while (executions_.is_active(execution.id)) {
            if (active.cancel_requested && !cancel_sent) {
                cancel_sent = true;
                executions_.cancel(execution.id);
                continue;
            }
            if (auto current = executions_.get(execution.id); current && step.status != to_string(current->status)) {
                step.status = std::string{to_string(current->status)};
                save(record);
                events_.commit_now();
            }
            // Finishing wakes the timer; the second only keeps the step's queued/running fresh.
            active.wake->expires_after(std::chrono::seconds{1});
            co_await active.wake->async_wait(nothrow_awaitable);
        }
        const auto final_record = executions_.get(execution.id);
        const execution_status final_status = final_record ? final_record->status : execution_status::failed;
        step.status = std::string{to_string(final_status)};
        if (final_status == execution_status::succeeded) {
            save(record);
            announce(record);
            continue;
        }
        if (final_status == execution_status::cancelled && active.cancel_requested)
            co_return finish(active, deployment_status::cancelled,
                             "cancelled on request while '" + step.checkpoint + "' ran");
        record.failed_checkpoint = step.checkpoint;
        std::string reason = "checkpoint '" + step.checkpoint + "' ended " + std::string{to_string(final_status)};
        if (final_record && final_record->error && final_record->error->contains("task")) {
            const auto& error = *final_record->error;
            const auto text = [&](std::string_view key) {
                const auto* value = error.if_contains(key);
                return value && value->is_string() ? std::string{value->get_string()} : std::string{};
            };
            reason += ": task '" + text("task") + "' failed on " + text("host") + ": " + text("message");
        } else if (final_record && final_record->status_reason) {
            reason += ": " + *final_record->status_reason;
        }
        reason += "; fix the cause, then continue with POST /api/v1/deployments/" + record.id + "/resume";
        co_return finish(active, deployment_status::failed, reason);
    }
    finish(active, deployment_status::succeeded, "");
}

// Waits at a gated step until a grant can be used. Returns false when the deployment finished
// meanwhile (denied, cancelled) or the service is stopping.
net::awaitable<bool> deployment_manager::await_grant(active_deployment& active, deployment_step& step,
                                                     std::optional<std::string>& grant_id)
{
    deployment_record& record = active.record;
    const checkpoint& item = *catalog_.find(step.checkpoint);
    for (;;) {
        if (shutting_down_) co_return false;
        if (active.cancel_requested) {
            step.status = "cancelled";  // nothing awaits an approval any more
            finish(active, deployment_status::cancelled,
                   "cancelled on request while waiting for an approval of '" + step.checkpoint + "'");
            co_return false;
        }
        const run_requester requester = requester_of(record);
        const execution_params params = step_params(record, item);
        auto grant = approvals_.usable_grant(step.checkpoint, params, requester, record.id);
        if (!grant && record.auto_approve) grant = approvals_.auto_grant(step.checkpoint, params, requester, record.id);
        if (grant) {
            grant_id = grant->id;
            co_return true;
        }
        // A request this deployment waited on and that was denied ends it, failing closed.
        if (record.awaiting) {
            const auto* waited = record.awaiting->if_contains("approval_id");
            if (waited && waited->is_string())
                if (auto request = approvals_.get(waited->get_string()); request && request->state == approval_state::denied) {
                    step.status = "denied";
                    record.failed_checkpoint = step.checkpoint;
                    finish(active, deployment_status::failed,
                           "the approval of '" + step.checkpoint + "' was denied by " + request->decided_by.value_or("?") +
                               ": " + request->reason.value_or("") +
                               "; resume the deployment to ask again once the objection is resolved");
                    co_return false;
                }
        }
        const approval_record request = approvals_.request(step.checkpoint, params, requester, record.id);
        const std::string command = approve_command(item, request);
        // Also when only the command changed: after a restart on another address or auth mode.
        if (!record.awaiting || record.awaiting->at("approval_id").as_string() != request.id ||
            record.awaiting->at("approve_command").as_string() != command) {
            json::array impact;
            for (const auto& line : item.impact_summary) impact.emplace_back(line);
            record.status = deployment_status::awaiting_approval;
            step.status = "awaiting_approval";
            if (record.auto_approve && request.live_impact && shows_running_work(*request.live_impact))
                record.status_reason = std::string{auto_approve_holds} + " '" + step.checkpoint +
                                       "' while it would end running Ray work (" +
                                       describe_live_impact(*request.live_impact) +
                                       "); a person grants it with acknowledge_running_work: true (approve_command)";
            record.awaiting = json::object{{"checkpoint", step.checkpoint},
                                           {"approval_id", request.id},
                                           {"destructive", item.destructive},
                                           {"impact_summary", std::move(impact)},
                                           {"approve_command", command},
                                           {"approve_url", service_url_ + "/#/approvals/" + item.name},
                                           {"live_impact", request.live_impact ? json::value(*request.live_impact)
                                                                               : json::value(nullptr)}};
            save(record);
            json::object fields = *record.awaiting;
            fields["deployment_id"] = record.id;
            events_.append(global_event("deployment.awaiting_approval", std::move(fields)));
            announce(record);
            log::info("deployment awaiting approval", {{"deployment_id", record.id}, {"checkpoint", step.checkpoint}});
        }
        // Approval changes, cancel and shutdown wake the timer; the minute is only a safety net.
        active.wake->expires_after(std::chrono::minutes{1});
        co_await active.wake->async_wait(nothrow_awaitable);
    }
}

std::string deployment_manager::approve_command(const checkpoint& item, const approval_record& request) const
{
    // Naming the request makes the command approve exactly this deployment's run, even when
    // other requests for the checkpoint are pending.
    json::object body = suggested_grant_body(item, request);
    std::string command = "curl -fsS -X POST " + service_url_ + "/api/v1/approvals/" + item.name;
    if (open_mode_)
        body["approved_by"] = "YOUR_NAME";
    else
        command += " -H \"Authorization: Bearer $RAYDEPLOY_TOKEN\"";
    command += " -H 'Content-Type: application/json' -d " + shell_quote(json::serialize(body));
    return command;
}

void deployment_manager::finish(active_deployment& active, deployment_status status, std::string reason)
{
    deployment_record& record = active.record;
    record.status = status;
    record.finished_at = now_timestamp();
    record.awaiting.reset();
    if (!reason.empty()) record.status_reason = reason;
    else if (status == deployment_status::succeeded) record.status_reason.reset();
    save(record);
    if (status != deployment_status::succeeded) {
        try {
            approvals_.release_for_deployment(record.id, "deployment " + record.id + " ended " +
                                                             std::string{to_string(status)} + " without it");
        } catch (const std::exception& e) {
            // Its requests and grants stay bound to a deployment that no longer asks: they expire.
            log::error("withdrawing the approvals of a finished deployment failed; they expire on their own",
                       {{"deployment_id", record.id}, {"error", e.what()}});
        }
    }
    announce(record);
    log::info("deployment finished", {{"deployment_id", record.id}, {"status", to_string(status)}});
    // The coroutine that owns `active` returns right after this; erase once it is done with it.
    net::post(executor_, [this, id = record.id] { active_.erase(id); });
}

void deployment_manager::insert(deployment_record& record)
{
    json::array checkpoints;
    for (const auto& step : record.steps) checkpoints.emplace_back(step.checkpoint);
    sqlite::transaction transaction{db_};
    auto statement = db_.prepare(
        "INSERT INTO deployments (id, status, checkpoints, steps, auto_approve, extra_vars, requested_by, created_at, "
        "requester_person, check_mode) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    statement.bind(1, record.id)
        .bind(2, to_string(record.status))
        .bind(3, json::serialize(checkpoints))
        .bind(4, json::serialize(steps_json(record.steps)))
        .bind(5, std::int64_t{record.auto_approve ? 1 : 0})
        .bind(6, json::serialize(record.extra_vars))
        .bind(7, record.requested_by)
        .bind(8, record.created_at)
        .bind(9, record.requester_person)
        .bind(10, std::int64_t{record.check ? 1 : 0});
    statement.step();
    record.rowid = db_.last_insert_rowid();
    auto by_checkpoint =
        db_.prepare("INSERT INTO deployment_checkpoints (checkpoint, deployment_rowid) VALUES (?, ?)");
    for (const auto& step : record.steps) {
        by_checkpoint.reset();
        by_checkpoint.bind(1, step.checkpoint).bind(2, record.rowid);
        by_checkpoint.step();
    }
    transaction.commit();
    ++generation_;
    if (newest_loaded_) newest_ = record;
}

const deployment_record* deployment_manager::newest()
{
    if (!newest_loaded_) {
        deployment_filter newest_only;
        newest_only.limit = 1;
        auto latest = list(newest_only);
        if (!latest.empty()) newest_ = get(latest.front().id);  // memory first: unsaved progress
        newest_loaded_ = true;
    }
    return newest_ ? &*newest_ : nullptr;
}

void deployment_manager::save(const deployment_record& record)
{
    unsaved_.insert_or_assign(record.id, record);
    changed(record);
}

void deployment_manager::write_now(const deployment_record& record)
{
    write_row(record);
    unsaved_.erase(record.id);  // older than what was just written
    changed(record);
}

void deployment_manager::changed(const deployment_record& record)
{
    ++generation_;
    if (newest_ && newest_->id == record.id) newest_ = record;
}

void deployment_manager::write_row(const deployment_record& record)
{
    auto statement = db_.prepare(
        "UPDATE deployments SET status = ?, steps = ?, started_at = ?, finished_at = ?, status_reason = ?, "
        "failed_checkpoint = ?, awaiting = ?, auto_approve = ?, resumed_by = ?, requester_person = ? WHERE id = ?");
    statement.bind(1, to_string(record.status)).bind(2, json::serialize(steps_json(record.steps)));
    sqlite::bind_optional(statement, 3, record.started_at);
    sqlite::bind_optional(statement, 4, record.finished_at);
    sqlite::bind_optional(statement, 5, record.status_reason);
    sqlite::bind_optional(statement, 6, record.failed_checkpoint);
    if (record.awaiting) statement.bind(7, json::serialize(*record.awaiting));
    else statement.bind_null(7);
    statement.bind(8, std::int64_t{record.auto_approve ? 1 : 0});
    sqlite::bind_optional(statement, 9, record.resumed_by);
    statement.bind(10, record.requester_person);
    statement.bind(11, record.id);
    statement.step();
}

void deployment_manager::announce(const deployment_record& record)
{
    json::object fields{{"deployment_id", record.id}, {"status", to_string(record.status)}, {"steps", steps_json(record.steps)}};
    fields["reason"] = json_or_null(record.status_reason);
    fields["failed_checkpoint"] = json_or_null(record.failed_checkpoint);
    events_.append(global_event("deployment.status", std::move(fields)));
    events_.flush();
}

void deployment_manager::wake_all()
{
    for (auto& [id, active] : active_) active->wake->cancel();
}

std::optional<deployment_record> deployment_manager::get(std::string_view id)
{
    if (auto it = active_.find(id); it != active_.end()) return it->second->record;
    if (auto it = unsaved_.find(id); it != unsaved_.end()) return it->second;
    auto statement = db_.prepare(std::string{select_columns} + "FROM deployments WHERE id = ?");
    statement.bind(1, id);
    if (!statement.step()) return std::nullopt;
    return read_row(statement);
}

std::string deployment_list_sql(const deployment_filter& filter)
{
    // Only the conditions given, so that SQLite can use the index of the one that narrows.
    std::string sql{select_columns};
    // A checkpoint's deployments come off its key in deployment_checkpoints, newest first, each
    // row then looked up by rowid; CROSS JOIN keeps SQLite from walking every deployment instead.
    const std::string_view order = filter.checkpoint ? "deployment_rowid" : "deployments.rowid";
    sql += filter.checkpoint ? "FROM deployment_checkpoints CROSS JOIN deployments ON deployments.rowid = "
                               "deployment_rowid WHERE checkpoint = :checkpoint"
                             : "FROM deployments WHERE 1";
    if (filter.status) sql += " AND status = :status";
    if (filter.before_rowid) sql.append(" AND ").append(order).append(" < :before_rowid");
    if (filter.created_after) sql += " AND created_at > :created_after";
    if (filter.created_before) sql += " AND created_at < :created_before";
    sql.append(" ORDER BY ").append(order).append(" DESC LIMIT :limit");
    return sql;
}

std::vector<deployment_record> deployment_manager::list(const deployment_filter& filter)
{
    auto statement = db_.prepare(deployment_list_sql(filter));
    if (filter.status) statement.bind_named(":status", to_string(*filter.status));
    if (filter.before_rowid) statement.bind_named(":before_rowid", *filter.before_rowid);
    if (filter.created_after) statement.bind_named(":created_after", *filter.created_after);
    if (filter.created_before) statement.bind_named(":created_before", *filter.created_before);
    if (filter.checkpoint) statement.bind_named(":checkpoint", *filter.checkpoint);
    statement.bind_named(":limit", static_cast<std::int64_t>(filter.limit));
    std::vector<deployment_record> records;
    while (statement.step()) {
        auto record = read_row(statement);
        // The active copy is the current one (it is saved at each step, but may be ahead).
        if (auto it = active_.find(record.id); it != active_.end()) record = it->second->record;
        records.push_back(std::move(record));
    }
    return records;
}

void deployment_manager::shutdown()
{
    shutting_down_ = true;
    wake_all();
}

}  // namespace raydeploy
