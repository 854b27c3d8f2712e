// The audit trail: the decorator that writes it for every mutating route, and GET /api/v1/audit.
#include "raydeploy/api/request_helpers.hpp"
#include "raydeploy/api/routes.hpp"
#include "raydeploy/store/audit_log.hpp"
#include "raydeploy/util/json_input.hpp"
#include "raydeploy/util/log.hpp"

#include <boost/json/parse.hpp>

namespace raydeploy::api {
namespace {

// What identifies the request's subject: the path's parameters ("cleanup-existing", "ex-...").
std::string target_of(const request_context& ctx)
{
    std::string target;
    for (const auto& [name, value] : ctx.path_params) target += (target.empty() ? "" : " ") + value;
    return target;
}

// The ids a successful response names, and the reason the caller gave: enough to find the
// records without copying request bodies (extra_vars may hold secrets) into the trail.
json::object detail_of(const request_context& ctx, const response& res)
{
    json::object detail{{"http_status", res.result_int()}};
    boost::system::error_code ec;
    const json::value body = json::parse(res.body().view(), ec);
    if (!ec && body.is_object())
        for (const std::string_view key : {"execution_id", "deployment_id", "id", "state", "status", "submission_id", "name", "stopped"})
            if (const auto* value = body.get_object().if_contains(key)) detail[key == "id" ? "approval_id" : key] = *value;
    const json::value request_body = util::parse_outside_json(ctx.req.body(), ec);
    if (!ec && request_body.is_object()) {
        const auto& fields = request_body.get_object();
        for (const std::string_view key :
             {"reason", "auto_approve", "acknowledge_risks", "acknowledge_running_work", "start_from", "checkpoints", "check"})
            if (const auto* value = fields.if_contains(key)) detail[std::string{"request_"} + std::string{key}] = *value;
    }
    return detail;
}

void record(const service_state& state, audit_entry entry)
{
    // The trail must not turn an accepted request into a failed one (or hide a refusal).
    try {
        if (state.audit) state.audit->record(std::move(entry));
    } catch (const std::exception& e) {
        log::error("writing the audit trail failed", {{"action", entry.action}, {"error", e.what()}});
    }
}

audit_entry entry_for(const request_context& ctx, const std::string& action)
{
    audit_entry entry;
    entry.actor = ctx.caller.name.empty() ? "(unauthenticated)" : ctx.caller.name;
    entry.remote_addr = ctx.remote.address().to_string();
    entry.action = action;
    entry.target = target_of(ctx);
    return entry;
}

json::object refusal_detail(http::status status, std::string_view message)
{
    return json::object{{"http_status", static_cast<int>(status)}, {"message", message}};
}

}  // namespace

void add_audited(router& routes, const std::shared_ptr<const service_state>& state, http::verb method,
                 std::string pattern, role access, std::string action, handler handle)
{
    auto audited = [state, action, handle = std::move(handle)](request_context& ctx) -> net::awaitable<response> {
        audit_entry entry = entry_for(ctx, action);
        try {
            response res = co_await handle(ctx);
            entry.outcome = "succeeded";
            entry.detail = detail_of(ctx, res);
            record(*state, std::move(entry));
            co_return res;
        } catch (const api_error& e) {
            entry.outcome = e.code();
            entry.detail = refusal_detail(e.status(), e.what());
            record(*state, std::move(entry));
            throw;
        }
    };
    add_route(routes, method, std::move(pattern), access, std::move(audited), std::move(action));
}

void audit_refusals(router& routes, const std::shared_ptr<const service_state>& state)
{
    routes.on_refused([state](const request_context& ctx, const route& matched, const web::refusal& reason) {
        audit_entry entry = entry_for(ctx, matched.audit_action);
        entry.outcome = reason.code;
        entry.detail = refusal_detail(reason.status, reason.message);
        if (reason.status != http::status::unauthorized) {
            record(*state, std::move(entry));
            return;
        }
        // Anyone can send 401s: one row per address and minute, with a count.
        try {
            if (state->audit) state->audit->record_unauthenticated(std::move(entry), std::chrono::steady_clock::now());
        } catch (const std::exception& error) {
            log::error("writing the audit trail failed", {{"action", matched.audit_action}, {"error", error.what()}});
        }
    });
}

void add_audit_routes(router& routes, const std::shared_ptr<const service_state>& state)
{
    add_route(routes, http::verb::get, "/api/v1/audit", role::admin, [state](request_context& ctx) -> net::awaitable<response> {
        audit_filter filter;
        filter.actor = ctx.query("actor");
        // "approval.*": every action of that family; anything else is one action, exactly.
        if (auto action = ctx.query("action")) {
            if (action->ends_with('*')) filter.action_prefix = action->substr(0, action->size() - 1);
            else filter.action = std::move(action);
        }
        filter.outcome = ctx.query("outcome");
        filter.after = query_timestamp(ctx, "created_after", timestamp_rounding::down);
        filter.before = query_timestamp(ctx, "created_before", timestamp_rounding::up);
        const auto limit = static_cast<std::size_t>(query_integer(ctx, "limit", 100, 1, 1000));
        filter.before_id = query_cursor(ctx);
        // One more than the page: a cursor only when a next page has something in it.
        filter.limit = limit + 1;
        auto entries = state->audit->list(filter);
        const bool more = entries.size() > limit;
        if (more) entries.resize(limit);
        json::array items;
        for (const auto& entry : entries) items.emplace_back(to_json(entry));
        json::object body{{"entries", std::move(items)}};
        body["next_cursor"] = more ? json::value(std::to_string(entries.back().id)) : json::value(nullptr);
        co_return json_response(http::status::ok, body);
    });
}

}  // namespace raydeploy::api
