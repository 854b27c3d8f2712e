// Approval rules and their rows in the approvals table.
#include "raydeploy/engine/approvals.hpp"

#include "raydeploy/engine/engine_error.hpp"
#include "raydeploy/engine/extra_vars.hpp"
#include "raydeploy/metrics/service_metrics.hpp"
#include "raydeploy/store/json_columns.hpp"
#include "raydeploy/util/log.hpp"
#include "raydeploy/util/named_enum.hpp"
#include "raydeploy/util/random_id.hpp"
#include "raydeploy/util/time.hpp"

#include <array>

namespace raydeploy {
namespace {

namespace json = boost::json;

constexpr std::array<std::string_view, 7> state_names = {"pending", "granted", "consumed", "denied",
                                                         "revoked", "expired", "withdrawn"};

approval_state parse_state(std::string_view text)
{
    // Unknown text is never treated as usable.
    return enum_from_name<approval_state>(state_names, text).value_or(approval_state::expired);
}

constexpr std::string_view select_columns =
    "SELECT id, checkpoint, state, requested_by, deployment_id, approved_by, reason, acknowledge_risks, created_at, "
    "granted_at, expires_at, decided_at, decided_by, execution_id, params, requester_person, approver_person, "
    "live_impact, acknowledge_running_work "
    "FROM approvals ";

approval_record read_row(const sqlite::statement& row)
{
    approval_record record;
    record.id = row.column_text(0);
    record.checkpoint = row.column_text(1);
    record.state = parse_state(row.column_text(2));
    record.requested_by = sqlite::optional_text_column(row, 3);
    record.deployment_id = sqlite::optional_text_column(row, 4);
    record.approved_by = sqlite::optional_text_column(row, 5);
    record.reason = sqlite::optional_text_column(row, 6);
    record.acknowledge_risks = row.column_int(7) != 0;
    record.created_at = row.column_text(8);
    record.granted_at = sqlite::optional_text_column(row, 9);
    record.expires_at = sqlite::optional_text_column(row, 10);
    record.decided_at = sqlite::optional_text_column(row, 11);
    record.decided_by = sqlite::optional_text_column(row, 12);
    record.execution_id = sqlite::optional_text_column(row, 13);
    // Rows from before parameters were bound approved the plain run.
    if (auto params = sqlite::optional_text_column(row, 14)) record.params = params_from_json(sqlite::parse_object_column(*params));
    // Rows from before persons were recorded: the name is the person.
    record.requester_person = sqlite::optional_text_column(row, 15);
    if (!record.requester_person && record.requested_by) record.requester_person = person_key(*record.requested_by);
    record.approver_person = sqlite::optional_text_column(row, 16);
    if (!record.approver_person && record.approved_by) record.approver_person = person_key(*record.approved_by);
    if (auto impact = sqlite::optional_text_column(row, 17)) record.live_impact = sqlite::parse_object_column(*impact);
    record.acknowledge_running_work = row.column_int(18) != 0;
    return record;
}

// One reading of the clock for both, so a grant lasts exactly its ttl (two readings made some
// grants a millisecond longer than asked).
void stamp_grant(approval_record& record, std::chrono::seconds ttl)
{
    const auto now = std::chrono::system_clock::now();
    record.granted_at = format_timestamp(now);
    record.expires_at = format_timestamp(now + ttl);
}


// Refuses a grant that would end running work the approver has not acknowledged. `shown` is the
// live impact the request carried (what the approver saw), `now` the cluster's as the grant is
// made: work that started since the request must be acknowledged too.
void require_running_work_acknowledged(const std::string& checkpoint, const grant_input& input,
                                       const std::optional<json::object>& shown, const std::optional<json::object>& now)
{
    if (input.acknowledge_running_work) return;
    const std::optional<json::object>& running = shows_running_work(now) ? now : shown;
    if (!shows_running_work(running)) return;
    throw engine_error{engine_error::kind::invalid, "VALIDATION_ERROR",
                       "acknowledge_running_work: running '" + checkpoint + "' ends work on the Ray cluster: " +
                           describe_live_impact(*running) +
                           ". Stop that work first, or grant anyway with \"acknowledge_running_work\": true "
                           "(raydeploy approve --acknowledge-running-work)",
                       {{"field", "acknowledge_running_work"}, {"live_impact", *running}}};
}

std::string_view scope_of(const approval_record& record)
{
    if (record.deployment_id) return "deployment";
    if (record.requested_by) return "requester";
    return "anyone";
}

// A grant that can still be used: granted and not expired by `now`. The timestamps share one
// fixed-width UTC format, so text order is time order.
bool is_live(const approval_record& record, std::string_view now)
{
    return record.state == approval_state::granted && record.expires_at && *record.expires_at > now;
}

}  // namespace

std::string_view to_string(approval_state state) { return enum_name(state_names, state); }

bool same_params(const execution_params& a, const execution_params& b)
{
    // json::object equality ignores member order, so {"a":1,"b":2} binds the same run as {"b":2,"a":1}.
    return a.extra_vars == b.extra_vars && a.limit == b.limit && a.check == b.check;
}

json::object to_json(const approval_record& record)
{
    return json::object{
        {"id", record.id},
        {"checkpoint", record.checkpoint},
        {"state", to_string(record.state)},
        {"requested_by", json_or_null(record.requested_by)},
        {"requested_at", record.requested_by ? json::value(record.created_at) : json::value(nullptr)},
        {"deployment_id", json_or_null(record.deployment_id)},
        {"approved_by", json_or_null(record.approved_by)},
        {"reason", json_or_null(record.reason)},
        {"acknowledge_risks", record.acknowledge_risks},
        {"created_at", record.created_at},
        {"granted_at", json_or_null(record.granted_at)},
        {"expires_at", json_or_null(record.expires_at)},
        {"decided_at", json_or_null(record.decided_at)},
        {"decided_by", json_or_null(record.decided_by)},
        {"execution_id", json_or_null(record.execution_id)},
        {"params", to_json(record.params)},
        {"scope", scope_of(record)},
        {"live_impact", record.live_impact ? json::value(*record.live_impact) : json::value(nullptr)},
        {"acknowledge_running_work", record.acknowledge_running_work},
    };
}

bool shows_running_work(const json::object& live_impact)
{
    const auto listed = [&](std::string_view key) {
        const auto* items = live_impact.if_contains(key);
        return items && items->is_array() && !items->get_array().empty();
    };
    const auto* fresh = live_impact.if_contains("fresh");
    return fresh && fresh->is_bool() && fresh->get_bool() && (listed("jobs") || listed("applications"));
}

bool shows_running_work(const std::optional<json::object>& live_impact)
{
    return live_impact && shows_running_work(*live_impact);
}

json::object approval_info(const checkpoint& item, const std::optional<json::object>& live_impact)
{
    json::array impact;
    for (const auto& line : item.impact_summary) impact.emplace_back(line);
    json::object info{{"approval_required", item.approval_required},
                      {"destructive_operation", item.destructive},
                      {"impact_summary", std::move(impact)}};
    if (live_impact) info["live_impact"] = *live_impact;
    return info;
}

json::object suggested_grant_body(const checkpoint& item, const approval_record& request)
{
    json::object body{{"approval_id", request.id}, {"reason", "REASON"}};
    if (item.destructive) body["acknowledge_risks"] = true;
    if (shows_running_work(request.live_impact)) body["acknowledge_running_work"] = true;
    return body;
}

std::string describe_live_impact(const json::object& live_impact)
{
    const auto text = [](const json::object& object, std::string_view key) -> std::string {
        const auto* value = object.if_contains(key);
        return value && value->is_string() ? std::string{value->get_string()} : std::string{};
    };
    if (!shows_running_work(live_impact)) {
        const std::string note = text(live_impact, "note");
        return note.empty() ? text(live_impact, "summary") : note;
    }
    // The first few by name: enough to recognise them; the approval record lists them all.
    constexpr std::size_t named = 5;
    std::vector<std::string> items;
    std::size_t total = 0;
    for (const std::string_view key : {"jobs", "applications"}) {
        const auto* list = live_impact.if_contains(key);
        if (!list || !list->is_array()) continue;
        for (const auto& item : list->get_array()) {
            ++total;
            if (items.size() == named || !item.is_object()) continue;
            const auto& object = item.get_object();
            if (key == "jobs") {
                std::string id = text(object, "submission_id");
                if (id.empty()) id = text(object, "job_id");
                items.push_back("job " + id + " (" + text(object, "status") + ": " + text(object, "entrypoint") + ")");
            } else {
                const std::string route = text(object, "route_prefix");
                items.push_back("Serve application " + text(object, "name") + " (" + text(object, "status") +
                                (route.empty() ? "" : ", " + route) + ")");
            }
        }
    }
    std::string listing;
    for (const auto& item : items) listing += (listing.empty() ? "" : ", ") + item;
    if (total > items.size()) listing += " and " + std::to_string(total - items.size()) + " more";
    std::string observed = text(live_impact, "observed_at");
    return text(live_impact, "summary") + (observed.empty() ? "" : " (as of " + observed + ")") + ": " + listing;
}

std::optional<json::object> approval_manager::live_impact_of(const checkpoint& item) const
{
    if (!live_impact_) return std::nullopt;
    return live_impact_(item);
}

approval_manager::approval_manager(const checkpoint_catalog& catalog, sqlite::database& db, event_log& events,
                                   approval_policy policy)
    : catalog_{catalog}, db_{db}, events_{events}, policy_{policy}
{
}

std::vector<approval_record> approval_manager::select(std::string_view where, std::string_view value)
{
    auto statement = db_.prepare(std::string{select_columns} + std::string{where});
    if (!value.empty()) statement.bind(1, value);
    std::vector<approval_record> records;
    while (statement.step()) records.push_back(read_row(statement));
    return records;
}

std::optional<approval_record> approval_manager::get(std::string_view id)
{
    auto rows = select("WHERE id = ?", id);
    if (rows.empty()) return std::nullopt;
    return rows.front();
}

std::vector<approval_record> approval_manager::pending_requests(std::string_view checkpoint)
{
    return select("WHERE checkpoint = ? AND state = 'pending' ORDER BY created_at, rowid", checkpoint);
}

std::vector<approval_record> approval_manager::live_grants(std::string_view checkpoint)
{
    const std::string now = now_timestamp();
    std::vector<approval_record> live;
    for (auto& record : select("WHERE checkpoint = ? AND state = 'granted' ORDER BY granted_at", checkpoint))
        if (is_live(record, now)) live.push_back(std::move(record));
    return live;
}

std::optional<approval_record> approval_manager::last_decision(std::string_view checkpoint)
{
    auto rows = select("WHERE checkpoint = ? AND decided_at IS NOT NULL ORDER BY decided_at DESC, rowid DESC LIMIT 1",
                       checkpoint);
    if (rows.empty()) return std::nullopt;
    return rows.front();
}

std::vector<approval_record> approval_manager::all_pending()
{
    return select("WHERE state = 'pending' ORDER BY created_at", "");
}

std::vector<approval_record> approval_manager::all_live_grants()
{
    const std::string now = now_timestamp();
    std::vector<approval_record> live;
    for (auto& record : select("WHERE state = 'granted' ORDER BY granted_at", ""))
        if (is_live(record, now)) live.push_back(std::move(record));
    return live;
}

void approval_manager::insert(const approval_record& record)
{
    auto statement = db_.prepare("INSERT INTO approvals (id, checkpoint, state, created_at) VALUES (?, ?, ?, ?)");
    statement.bind(1, record.id).bind(2, record.checkpoint).bind(3, to_string(record.state)).bind(4, record.created_at);
    statement.step();
    update(record);
}

void approval_manager::update(const approval_record& record)
{
    auto statement = db_.prepare(
        "UPDATE approvals SET state = ?, requested_by = ?, deployment_id = ?, approved_by = ?, reason = ?, "
        "acknowledge_risks = ?, granted_at = ?, expires_at = ?, decided_at = ?, decided_by = ?, execution_id = ?, "
        "params = ?, requester_person = ?, approver_person = ?, live_impact = ?, acknowledge_running_work = ? "
        "WHERE id = ?");
    statement.bind(1, to_string(record.state));
    sqlite::bind_optional(statement, 2, record.requested_by);
    sqlite::bind_optional(statement, 3, record.deployment_id);
    sqlite::bind_optional(statement, 4, record.approved_by);
    sqlite::bind_optional(statement, 5, record.reason);
    statement.bind(6, std::int64_t{record.acknowledge_risks ? 1 : 0});
    sqlite::bind_optional(statement, 7, record.granted_at);
    sqlite::bind_optional(statement, 8, record.expires_at);
    sqlite::bind_optional(statement, 9, record.decided_at);
    sqlite::bind_optional(statement, 10, record.decided_by);
    sqlite::bind_optional(statement, 11, record.execution_id);
    statement.bind(12, json::serialize(to_json(record.params)));
    sqlite::bind_optional(statement, 13, record.requester_person);
    sqlite::bind_optional(statement, 14, record.approver_person);
    if (record.live_impact) statement.bind(15, json::serialize(*record.live_impact));
    else statement.bind_null(15);
    statement.bind(16, std::int64_t{record.acknowledge_running_work ? 1 : 0});
    statement.bind(17, record.id);
    statement.step();
}

json::object approval_manager::shown(const approval_record& record, bool reveal) const
{
    json::object out = to_json(record);
    out["params"].as_object()["extra_vars"] =
        redact_extra_vars(record.params.extra_vars, {catalog_.find(record.checkpoint)}, reveal);
    return out;
}

json::array approval_manager::shown(const std::vector<approval_record>& records) const
{
    // Only approvers read these (in a refusal of their decision): values but not secrets.
    json::array items;
    for (const auto& record : records) items.emplace_back(shown(record, true));
    return items;
}

void approval_manager::changed(const approval_record& record, std::string event_type)
{
    // Viewers read the event stream: no extra_vars values in it.
    events_.append(global_event(std::move(event_type), shown(record, false)));
    events_.flush();
    log::info("approval " + std::string{to_string(record.state)},
              {{"approval_id", record.id}, {"checkpoint", record.checkpoint}});
    // How long a request waited for its answer; a grant made in advance answered no request.
    const bool answers_request = record.state == approval_state::granted || record.state == approval_state::denied ||
                                 record.state == approval_state::withdrawn;
    if (answers_request && record.requested_by) {
        const auto asked = parse_timestamp(record.created_at);
        const auto answered = parse_timestamp(
            (record.state == approval_state::granted ? record.granted_at : record.decided_at).value_or(""));
        if (asked && answered)
            metrics::service_metrics::instance().approval_decided(to_string(record.state),
                                                                  std::chrono::duration<double>(*answered - *asked).count());
    }
    for (const auto& listener : listeners_) listener();
}

const checkpoint& approval_manager::gated(const std::string& checkpoint_name) const
{
    const checkpoint* item = &find_checkpoint(catalog_, checkpoint_name);
    if (!item->approval_required)
        throw engine_error{engine_error::kind::conflict, "APPROVAL_NOT_REQUIRED",
                           "checkpoint '" + checkpoint_name + "' does not require an approval; run it directly"};
    return *item;
}

approval_record approval_manager::request(const std::string& checkpoint, const execution_params& params,
                                          const run_requester& requester, std::optional<std::string> deployment_id)
{
    const raydeploy::checkpoint& item = gated(checkpoint);
    // A resume withdraws the deployment's requests, so a pending one is always its current requester's.
    for (auto& existing : pending_requests(checkpoint))
        if (existing.deployment_id == deployment_id && same_params(existing.params, params) &&
            existing.requester_person == requester.person)
            return existing;
    approval_record record;
    record.id = random_id("ap-");
    record.checkpoint = checkpoint;
    record.state = approval_state::pending;
    record.params = params;
    record.requested_by = requester.name;
    record.requester_person = requester.person;
    record.deployment_id = std::move(deployment_id);
    record.created_at = now_timestamp();
    record.live_impact = live_impact_of(item);
    insert(record);
    changed(record, "approval.requested");
    return record;
}

std::optional<approval_record> approval_manager::decided_request(const std::string& checkpoint,
                                                                 const std::optional<std::string>& approval_id,
                                                                 const std::optional<execution_params>& params)
{
    if (approval_id) {
        auto record = get(*approval_id);
        if (!record || record->checkpoint != checkpoint)
            throw engine_error{engine_error::kind::not_found, "APPROVAL_NOT_FOUND",
                               "checkpoint '" + checkpoint + "' has no approval request '" + *approval_id +
                                   "'; GET /api/v1/approvals/" + checkpoint + " lists its pending requests",
                               {{"field", "approval_id"}}};
        if (record->state != approval_state::pending)
            throw engine_error{engine_error::kind::conflict, "APPROVAL_NOT_PENDING",
                               "approval request " + *approval_id + " is " + std::string{to_string(record->state)} +
                                   ", no longer pending; GET /api/v1/approvals/" + checkpoint +
                                   " shows what is pending now",
                               {{"approval_id", *approval_id}, {"state", to_string(record->state)}}};
        return record;
    }
    std::vector<approval_record> candidates;
    for (auto& record : pending_requests(checkpoint))
        if (!params || same_params(record.params, *params)) candidates.push_back(std::move(record));
    if (candidates.size() > 1)
        throw engine_error{engine_error::kind::conflict, "APPROVAL_ID_REQUIRED",
                           "checkpoint '" + checkpoint + "' has " + std::to_string(candidates.size()) +
                               " pending requests; name the one you decide with \"approval_id\" (they are listed "
                               "under \"pending\", each with who asked and its parameters)",
                           {{"pending", shown(candidates)}}};
    if (candidates.empty()) return std::nullopt;
    return candidates.front();
}

approval_record approval_manager::grant(const std::string& checkpoint, const identity& caller, grant_input input)
{
    const raydeploy::checkpoint& item = gated(checkpoint);

    std::string approver = caller.name;
    std::string approver_person = person_key(caller);
    if (caller.open_mode) {
        // Without tokens nobody is authenticated: the body names the approver, as the seeds did.
        if (!input.approved_by || input.approved_by->empty())
            throw engine_error::invalid_field("approved_by", "name who approves (no tokens are configured, so the service cannot tell who "
                                   "you are); for example \"approved_by\": \"alice\"");
        approver = *input.approved_by;
        approver_person = person_key(approver);
    } else if (input.approved_by && *input.approved_by != caller.name) {
        throw engine_error{engine_error::kind::forbidden, "IDENTITY_MISMATCH",
                           "approved_by is '" + *input.approved_by + "' but the token belongs to '" + caller.name +
                               "'; approvals are recorded under the token's identity: omit approved_by",
                           {{"field", "approved_by"}}};
    }
    if (input.approval_id && input.params)
        throw engine_error::invalid_field("extra_vars", "a pending request's parameters are the ones it was asked with; "
                                          "send either approval_id or the parameters of a pre-approval, not both");
    if (item.destructive) {
        if (!input.acknowledge_risks)
            throw engine_error::invalid_field("acknowledge_risks", "checkpoint '" + checkpoint +
                                             "' is destructive; send \"acknowledge_risks\": true after reading its "
                                             "impact_summary (GET /api/v1/approvals/" + checkpoint + ")");
        if (input.reason.empty())
            throw engine_error::invalid_field("reason", "a destructive checkpoint needs a reason for the audit trail, such as the change ticket");
    }
    const auto ttl = input.ttl.value_or(policy_.default_ttl);
    if (ttl.count() < 1 || ttl > policy_.max_ttl)
        throw engine_error::invalid_field("ttl_s", "expected a whole number of seconds between 1 and " +
                                                       std::to_string(policy_.max_ttl.count()) + " (approvals.max_ttl)");

    auto record = decided_request(checkpoint, input.approval_id, input.params);
    std::optional<json::object> impact_now = live_impact_of(item);
    if (record) {
        if (four_eyes_forbids(item, approver_person, record->requester_person.value_or("")))
            throw engine_error{engine_error::kind::forbidden, "FOUR_EYES",
                               "you requested this run of the destructive checkpoint '" + checkpoint +
                                   "' (as " + record->requested_by.value_or("?") +
                                   "), so another person must grant it (four-eyes rule)",
                               {{"approval_id", record->id}}};
        // A grant the requester can already use makes this one pointless; one they cannot use
        // (they approved it themselves) must not block this one.
        const run_requester requester{record->requested_by.value_or(""), record->requester_person.value_or("")};
        for (const auto& existing : live_grants(checkpoint)) {
            if (!usable_by(existing, record->params, requester, record->deployment_id)) continue;
            throw engine_error{engine_error::kind::conflict, "ALREADY_GRANTED",
                               "the run requested by " + requester.name + " already has an unused grant (" +
                                   existing.id + ") by " + existing.approved_by.value_or("?") + " until " +
                                   existing.expires_at.value_or("?") + "; revoke it with DELETE /api/v1/approvals/" +
                                   checkpoint + "?approval_id=" + existing.id + " to grant anew",
                               {{"approval_id", existing.id}}};
        }
        require_running_work_acknowledged(checkpoint, input, record->live_impact, impact_now);
        // Work that started after the request is what the approver acknowledged: record it.
        if (shows_running_work(impact_now) && !shows_running_work(record->live_impact))
            record->live_impact = std::move(impact_now);
    } else {
        // A pre-approval (a maintenance window): it binds the parameters given, none meaning the
        // plain run, and anyone but its approver for a destructive checkpoint.
        const execution_params params = input.params.value_or(execution_params{});
        for (const auto& existing : live_grants(checkpoint)) {
            if (!existing.is_pre_approval() || !same_params(existing.params, params)) continue;
            throw engine_error{engine_error::kind::conflict, "ALREADY_GRANTED",
                               "checkpoint '" + checkpoint + "' already has an unused pre-approval of this run (" +
                                   existing.id + ") by " + existing.approved_by.value_or("?") + " until " +
                                   existing.expires_at.value_or("?") + "; revoke it with DELETE /api/v1/approvals/" +
                                   checkpoint + "?approval_id=" + existing.id + " to grant anew",
                               {{"approval_id", existing.id}}};
        }
        require_running_work_acknowledged(checkpoint, input, std::nullopt, impact_now);
        record.emplace();
        record->id = random_id("ap-");
        record->checkpoint = checkpoint;
        record->params = params;
        record->created_at = now_timestamp();
        record->state = approval_state::granted;
        record->live_impact = std::move(impact_now);
        insert(*record);
    }
    record->state = approval_state::granted;
    record->approved_by = approver;
    record->approver_person = approver_person;
    record->reason = input.reason;
    record->acknowledge_risks = input.acknowledge_risks;
    record->acknowledge_running_work = input.acknowledge_running_work;
    stamp_grant(*record, ttl);
    update(*record);
    changed(*record, "approval.granted");
    return *record;
}

std::optional<approval_record> approval_manager::auto_grant(const std::string& checkpoint,
                                                            const execution_params& params, const run_requester& admin,
                                                            const std::string& deployment_id)
{
    const raydeploy::checkpoint& item = gated(checkpoint);
    approval_record record = request(checkpoint, params, admin, deployment_id);
    // Ending running work takes a person's grant, whatever the checkpoint (a destructive one, or a
    // launch that restarts nodes).
    if (shows_running_work(record.live_impact)) return std::nullopt;
    record.state = approval_state::granted;
    record.approved_by = admin.name;
    record.approver_person = admin.person;
    record.reason = "auto_approve of deployment " + deployment_id;
    record.acknowledge_risks = item.destructive;
    stamp_grant(record, policy_.default_ttl);
    update(record);
    changed(record, "approval.granted");
    return record;
}

approval_record approval_manager::deny(const std::string& checkpoint, const identity& caller, const std::string& reason,
                                       const std::optional<std::string>& approval_id)
{
    gated(checkpoint);
    if (reason.empty()) throw engine_error::invalid_field("reason", "say why the run is denied; the requester sees it");
    auto record = decided_request(checkpoint, approval_id, std::nullopt);
    if (!record)
        throw engine_error{engine_error::kind::not_found, "NO_PENDING_REQUEST",
                           "checkpoint '" + checkpoint + "' has no pending approval request; GET /api/v1/approvals "
                           "lists the pending ones"};
    record->state = approval_state::denied;
    record->reason = reason;
    record->decided_at = now_timestamp();
    record->decided_by = caller.name;
    update(*record);
    changed(*record, "approval.denied");
    return *record;
}

approval_record approval_manager::revoke(const std::string& checkpoint, const identity& caller,
                                         const std::optional<std::string>& approval_id)
{
    gated(checkpoint);
    auto live = live_grants(checkpoint);
    if (approval_id)
        std::erase_if(live, [&](const approval_record& record) { return record.id != *approval_id; });
    if (live.empty())
        throw engine_error{engine_error::kind::not_found, "NO_GRANT",
                           approval_id ? "checkpoint '" + checkpoint + "' has no unused grant '" + *approval_id +
                                             "'; GET /api/v1/approvals/" + checkpoint + " lists its grants"
                                       : "checkpoint '" + checkpoint + "' has no unused grant to revoke"};
    if (live.size() > 1)
        throw engine_error{engine_error::kind::conflict, "APPROVAL_ID_REQUIRED",
                           "checkpoint '" + checkpoint + "' has " + std::to_string(live.size()) +
                               " unused grants; name the one to revoke with ?approval_id= (they are listed under "
                               "\"grants\")",
                           {{"grants", shown(live)}}};
    approval_record record = live.front();
    record.state = approval_state::revoked;
    record.decided_at = now_timestamp();
    record.decided_by = caller.name;
    update(record);
    changed(record, "approval.revoked");
    return record;
}

bool approval_manager::four_eyes_forbids(const checkpoint& item, const std::optional<std::string>& approver_person,
                                         std::string_view requester_person) const
{
    return policy_.four_eyes && item.destructive && approver_person && !requester_person.empty() &&
           *approver_person == requester_person;
}

bool approval_manager::usable_by(const approval_record& grant, const execution_params& params,
                                 const run_requester& requester, const std::optional<std::string>& deployment_id) const
{
    if (!same_params(grant.params, params)) return false;
    if (grant.deployment_id) {
        if (grant.deployment_id != deployment_id) return false;
    } else if (grant.requested_by) {
        // Granted for one person's direct run: neither a deployment nor anyone else uses it.
        if (deployment_id || grant.requester_person != requester.person) return false;
    }
    const raydeploy::checkpoint* item = catalog_.find(grant.checkpoint);
    return !item || !four_eyes_forbids(*item, grant.approver_person, requester.person);
}

std::optional<approval_record> approval_manager::usable_grant(std::string_view checkpoint,
                                                              const execution_params& params,
                                                              const run_requester& requester,
                                                              const std::optional<std::string>& deployment_id)
{
    for (auto& grant : live_grants(checkpoint))
        if (usable_by(grant, params, requester, deployment_id)) return grant;
    return std::nullopt;
}

execution_record approval_manager::start_granted(execution_manager& executions, const std::string& checkpoint,
                                                execution_params params, execution_origin origin,
                                                const std::string& consumer)
{
    const std::string approval_id = origin.approval_id.value();
    std::optional<approval_record> consumed;
    execution_record record = executions.start(
        checkpoint, std::move(params), std::move(origin), [&](const execution_record& row) {
            // Read inside the transaction, which holds the write lock: no other writer can use
            // the grant between this check and the update.
            auto grant = get(approval_id);
            if (!grant || !is_live(*grant, now_timestamp()))
                throw engine_error{engine_error::kind::conflict, "APPROVAL_REQUIRED",
                                   "approval " + approval_id + " of checkpoint '" + checkpoint +
                                       "' was used, revoked or expired meanwhile; start the run again, which asks an "
                                       "approver anew"};
            grant->state = approval_state::consumed;
            grant->execution_id = row.id;
            grant->decided_at = now_timestamp();
            grant->decided_by = consumer;
            update(*grant);
            consumed = std::move(grant);
        });
    changed(*consumed, "approval.consumed");
    return record;
}

void approval_manager::release_for_deployment(const std::string& deployment_id, const std::string& reason)
{
    for (auto& record :
         select("WHERE state IN ('pending', 'granted') AND deployment_id = ? ORDER BY created_at", deployment_id)) {
        const bool was_pending = record.state == approval_state::pending;
        record.state = was_pending ? approval_state::withdrawn : approval_state::revoked;
        record.decided_at = now_timestamp();
        record.decided_by = record.requested_by;
        record.reason = reason;
        update(record);
        changed(record, was_pending ? "approval.withdrawn" : "approval.revoked");
    }
}

void approval_manager::expire_due()
{
    const std::string now = now_timestamp();
    auto statement = db_.prepare(std::string{select_columns} + "WHERE state = 'granted' AND expires_at <= ?");
    statement.bind(1, now);
    std::vector<approval_record> due;
    while (statement.step()) due.push_back(read_row(statement));
    for (auto& record : due) {
        record.state = approval_state::expired;
        record.decided_at = now;
        update(record);
        changed(record, "approval.expired");
    }
}

execution_record start_checkpoint(execution_manager& executions, approval_manager& approvals,
                                  const checkpoint_catalog& catalog, const std::string& checkpoint_name,
                                  execution_params params, const identity& caller, bool inline_approve,
                                  std::optional<std::string> deployment_id)
{
    const checkpoint* item = &find_checkpoint(catalog, checkpoint_name);
    execution_origin origin{caller.name, deployment_id, std::nullopt};
    if (!item->approval_required) return executions.start(checkpoint_name, std::move(params), std::move(origin));

    // Refuse before touching approvals, so a busy checkpoint neither consumes nor requests one.
    executions.refuse_if_active(checkpoint_name);

    const run_requester requester = run_requester::of(caller);
    auto grant = approvals.usable_grant(checkpoint_name, params, requester, deployment_id);
    if (!grant && inline_approve) {
        if (item->destructive)
            throw engine_error{engine_error::kind::forbidden, "INLINE_APPROVAL_NOT_ALLOWED",
                               "\"approve\": true cannot approve the destructive checkpoint '" + checkpoint_name +
                                   "'; grant it with POST /api/v1/approvals/" + checkpoint_name +
                                   " {\"reason\": ..., \"acknowledge_risks\": true}"};
        if (caller.level < role::approver)
            throw engine_error{engine_error::kind::forbidden, "FORBIDDEN",
                               "\"approve\": true needs the approver role; token '" + caller.name + "' has " +
                                   std::string{to_string(caller.level)},
                               {{"required_role", "approver"}}};
        const approval_record request = approvals.request(checkpoint_name, params, requester, deployment_id);
        grant_input input;
        input.reason = "approved inline with the run request";
        if (caller.open_mode) input.approved_by = caller.name;
        input.approval_id = request.id;
        grant = approvals.grant(checkpoint_name, caller, std::move(input));
    }
    if (!grant) {
        const approval_record request = approvals.request(checkpoint_name, params, requester, deployment_id);
        std::string message = "checkpoint '" + checkpoint_name + "' requires an approval of this run (its parameters "
                              "and requester) before it runs; an approver grants it with POST /api/v1/approvals/" +
                              checkpoint_name + " " + json::serialize(suggested_grant_body(*item, request));
        if (request.live_impact) message += ". Live impact: " + describe_live_impact(*request.live_impact);
        throw engine_error{engine_error::kind::conflict, "APPROVAL_REQUIRED", message,
                           {{"checkpoint", checkpoint_name},
                            {"approval_info", approval_info(*item, request.live_impact)},
                            {"approval_id", request.id}}};
    }
    origin.approval_id = grant->id;
    return approvals.start_granted(executions, checkpoint_name, std::move(params), std::move(origin), caller.name);
}

}  // namespace raydeploy
