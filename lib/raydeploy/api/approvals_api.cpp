// Approval routes: the seeds' approval check and grant, plus listing, deny and revoke.
#include "raydeploy/api/request_bodies.hpp"
#include "raydeploy/api/routes.hpp"
#include "raydeploy/engine/approvals.hpp"
#include "raydeploy/engine/extra_vars.hpp"

namespace raydeploy::api {
namespace {

// Records as `caller` may see them: extra_vars values for operators and above, never secrets.
json::object shown(const service_state& state, const request_context& ctx, const approval_record& record)
{
    return state.approvals->shown(record, ctx.caller.level >= role::operator_);
}

json::array shown(const service_state& state, const request_context& ctx, const std::vector<approval_record>& records)
{
    json::array items;
    for (const auto& record : records) items.emplace_back(shown(state, ctx, record));
    return items;
}

json::value optional_record(const service_state& state, const request_context& ctx,
                            const std::optional<approval_record>& record)
{
    return record ? json::value(shown(state, ctx, *record)) : json::value(nullptr);
}

std::optional<std::string> approval_id_field(const json::object& body)
{
    auto id = string_field(body, "approval_id", null_is::absent);
    if (id && id->empty()) invalid_field("approval_id", "expected an approval id such as \"ap-…\", or leave the field out");
    return id;
}

}  // namespace

grant_input grant_from(const json::object& body)
{
    reject_unknown_fields(body, {"reason", "acknowledge_risks", "acknowledge_running_work", "ttl_s", "approved_by",
                                 "approval_id", "extra_vars", "limit", "check"});
    grant_input input;
    input.reason = string_field(body, "reason", null_is::absent).value_or("");
    input.acknowledge_risks = bool_field(body, "acknowledge_risks", null_is::absent).value_or(false);
    input.acknowledge_running_work = bool_field(body, "acknowledge_running_work", null_is::absent).value_or(false);
    if (const auto* ttl = body.if_contains("ttl_s"); ttl && !ttl->is_null()) {
        // Any whole number of seconds (1800 or 1800.0); the engine holds it to approvals.max_ttl
        // and names that limit.
        const auto seconds = whole_number(*ttl);
        if (!seconds) invalid_field("ttl_s", "expected a whole number of seconds");
        input.ttl = std::chrono::seconds{*seconds};
    }
    input.approved_by = string_field(body, "approved_by", null_is::absent);
    input.approval_id = approval_id_field(body);
    if (has_execution_params(body)) input.params = execution_params_of(body, null_is::absent);
    return input;
}

denial_request denial_from(const json::object& body)
{
    reject_unknown_fields(body, {"reason", "approval_id"});
    denial_request request;
    request.reason = string_field(body, "reason", null_is::refused).value_or("");
    request.approval_id = approval_id_field(body);
    return request;
}

void add_approval_routes(router& routes, const std::shared_ptr<const service_state>& state)
{
    add_route(routes, http::verb::get, "/api/v1/approvals", role::viewer, [state](request_context& ctx) -> net::awaitable<response> {
        co_return json_response(http::status::ok,
                                json::object{{"pending", shown(*state, ctx, state->approvals->all_pending())},
                                             {"grants", shown(*state, ctx, state->approvals->all_live_grants())}});
    });

    add_route(routes, http::verb::get, "/api/v1/approvals/{checkpoint}", role::viewer,
               [state](request_context& ctx) -> net::awaitable<response> {
                   const std::string& name = ctx.path_param("checkpoint");
                   const checkpoint& item =
                       engine_call([&]() -> const checkpoint& { return find_checkpoint(state->catalog, name); });
                   json::object body{{"checkpoint", name}};
                   // The live impact of running it now; each request shows the one it was made with.
                   for (auto& [key, value] : approval_info(item, state->approvals->live_impact_of(item))) body[key] = value;
                   // `pending` and `grant` are the oldest of each (the seeds' shape); the lists have them all.
                   const auto pending = state->approvals->pending_requests(name);
                   const auto grants = state->approvals->live_grants(name);
                   body["pending"] = pending.empty() ? json::value(nullptr) : json::value(shown(*state, ctx, pending.front()));
                   body["grant"] = grants.empty() ? json::value(nullptr) : json::value(shown(*state, ctx, grants.front()));
                   body["pending_requests"] = shown(*state, ctx, pending);
                   body["grants"] = shown(*state, ctx, grants);
                   body["last_decision"] = optional_record(*state, ctx, state->approvals->last_decision(name));
                   co_return json_response(http::status::ok, body);
               });

    add_audited(routes, state, http::verb::post, "/api/v1/approvals/{checkpoint}", role::approver, "approval.grant", [state](request_context& ctx) -> net::awaitable<response> {
                   grant_input input = grant_from(json_body(ctx));
                   const approval_record record = engine_call([&] {
                       // A pre-approval names a run: it must be one the checkpoint accepts.
                       if (input.params)
                           check_run_params(find_checkpoint(state->catalog, ctx.path_param("checkpoint")), *input.params);
                       return state->approvals->grant(ctx.path_param("checkpoint"), ctx.caller, std::move(input));
                   });
                   co_return json_response(http::status::created, shown(*state, ctx, record));
               });

    add_audited(routes, state, http::verb::delete_, "/api/v1/approvals/{checkpoint}", role::approver, "approval.revoke", [state](request_context& ctx) -> net::awaitable<response> {
                   const approval_record record =
                       engine_call([&] { return state->approvals->revoke(ctx.path_param("checkpoint"), ctx.caller, ctx.query("approval_id")); });
                   co_return json_response(http::status::ok, shown(*state, ctx, record));
               });

    add_audited(routes, state, http::verb::post, "/api/v1/approvals/{checkpoint}/deny", role::approver, "approval.deny", [state](request_context& ctx) -> net::awaitable<response> {
                   const denial_request request = denial_from(json_body(ctx));
                   const approval_record record = engine_call([&] {
                       return state->approvals->deny(ctx.path_param("checkpoint"), ctx.caller, request.reason,
                                                     request.approval_id);
                   });
                   co_return json_response(http::status::ok, shown(*state, ctx, record));
               });
}

}  // namespace raydeploy::api
