// Turning the API's expected failures into answers.
#include "raydeploy/api/api_error.hpp"

namespace raydeploy::api {

response api_error_response(const api_error& error)
{
    auto res = error_response(error.status(), error.code(), error.what(), error.details());
    if (error.status() == http::status::unauthorized) res.set(http::field::www_authenticate, "Bearer realm=\"raydeploy\"");
    return res;
}

handler answering_api_errors(handler handle)
{
    return [handle = std::move(handle)](request_context& ctx) -> net::awaitable<response> {
        try {
            co_return co_await handle(ctx);
        } catch (const api_error& e) {
            co_return api_error_response(e);
        }
    };
}

void add_route(router& routes, http::verb method, std::string pattern, std::optional<role> access, handler handle,
               std::string audit_action)
{
    routes.add(method, std::move(pattern), access, answering_api_errors(std::move(handle)), std::move(audit_action));
}

void add_websocket_route(router& routes, std::string pattern, role access, handler handle)
{
    routes.add_websocket(std::move(pattern), access, answering_api_errors(std::move(handle)));
}

}  // namespace raydeploy::api
