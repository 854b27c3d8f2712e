// Deployment routes: start, list, show, cancel, resume.
#include "raydeploy/api/dto.hpp"
#include "raydeploy/api/request_bodies.hpp"
#include "raydeploy/api/routes.hpp"
#include "raydeploy/engine/deployments.hpp"

namespace raydeploy::api {
namespace {

response accepted(const service_state& state, const request_context& ctx, const deployment_record& record)
{
    auto res = json_response(http::status::accepted, deployment_json(record, state.catalog, ctx.caller));
    res.set(http::field::location, "/api/v1/deployments/" + record.id);
    return res;
}

}  // namespace

deployment_request deployment_from(const json::object& body)
{
    reject_unknown_fields(body, {"checkpoints", "start_from", "auto_approve", "extra_vars", "check"});
    deployment_request request;
    if (const auto* names = body.if_contains("checkpoints"); names && !names->is_null()) {
        if (!names->is_array()) invalid_field("checkpoints", "expected an array of checkpoint names");
        request.checkpoints.emplace();
        for (std::size_t i = 0; i < names->get_array().size(); ++i) {
            const auto& name = names->get_array()[i];
            if (!name.is_string()) invalid_field("checkpoints[" + std::to_string(i) + "]", "expected a checkpoint name");
            request.checkpoints->emplace_back(name.get_string());
        }
    }
    request.start_from = string_field(body, "start_from", null_is::absent);
    request.auto_approve = bool_field(body, "auto_approve", null_is::absent).value_or(false);
    request.extra_vars = extra_vars_field(body, null_is::absent);
    // Not nullable, as a single run's `check`: a null is a client's mistake, not "no".
    request.check = bool_field(body, "check", null_is::refused).value_or(false);
    return request;
}

void add_deployment_routes(router& routes, const std::shared_ptr<const service_state>& state)
{
    add_audited(routes, state, http::verb::post, "/api/v1/deployments", role::operator_, "deployment.start", [state](request_context& ctx) -> net::awaitable<response> {
                   deployment_request request = deployment_from(json_body(ctx));
                   const deployment_record record =
                       engine_call([&] { return state->deployments->start(std::move(request), ctx.caller); });
                   co_return accepted(*state, ctx, record);
               });

    add_route(routes, http::verb::get, "/api/v1/deployments", role::viewer, [state](request_context& ctx) -> net::awaitable<response> {
        deployment_filter filter;
        if (auto status = ctx.query("status")) {
            filter.status = parse_deployment_status(*status);
            if (!filter.status)
                invalid_parameter("status",
                                  "expected one of queued, running, awaiting_approval, succeeded, failed, cancelled");
        }
        filter.checkpoint = ctx.query("checkpoint");
        filter.created_after = query_timestamp(ctx, "created_after", timestamp_rounding::down);
        filter.created_before = query_timestamp(ctx, "created_before", timestamp_rounding::up);
        const auto limit = static_cast<std::size_t>(query_integer(ctx, "limit", 50, 1, 500));
        filter.before_rowid = query_cursor(ctx);
        // One more than the page: a cursor only when a next page has something in it.
        filter.limit = limit + 1;
        auto records = state->deployments->list(filter);
        const bool more = records.size() > limit;
        if (more) records.resize(limit);
        json::array items;
        for (const auto& record : records) items.emplace_back(deployment_json(record, state->catalog, ctx.caller));
        json::object body{{"deployments", std::move(items)}};
        body["next_cursor"] = more ? json::value(std::to_string(records.back().rowid)) : json::value(nullptr);
        co_return json_response(http::status::ok, body);
    });

    add_route(routes, http::verb::get, "/api/v1/deployments/{id}", role::viewer, [state](request_context& ctx) -> net::awaitable<response> {
        const auto record = state->deployments->get(ctx.path_param("id"));
        if (!record)
            throw api_error{http::status::not_found, "DEPLOYMENT_NOT_FOUND",
                            "no deployment '" + ctx.path_param("id") + "'; GET /api/v1/deployments lists them"};
        co_return json_response(http::status::ok, deployment_json(*record, state->catalog, ctx.caller));
    });

    add_audited(routes, state, http::verb::post, "/api/v1/deployments/{id}/cancel", role::operator_, "deployment.cancel", [state](request_context& ctx) -> net::awaitable<response> {
                   const auto record = engine_call([&] { return state->deployments->cancel(ctx.path_param("id")); });
                   co_return accepted(*state, ctx, record);
               });

    add_audited(routes, state, http::verb::post, "/api/v1/deployments/{id}/resume", role::operator_, "deployment.resume", [state](request_context& ctx) -> net::awaitable<response> {
                   const auto record = engine_call([&] { return state->deployments->resume(ctx.path_param("id"), ctx.caller); });
                   co_return accepted(*state, ctx, record);
               });
}

}  // namespace raydeploy::api
