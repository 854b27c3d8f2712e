// Turning the API's expected failures into answers.
#include "raydeploy/api/api_error.hpp"

#include "raydeploy/store/sqlite.hpp"
#include "raydeploy/util/log.hpp"

#include <sqlite3.h>

#include <chrono>
#include <optional>

namespace raydeploy::api {

namespace {

// What to tell the client when SQLite cannot write the state database: a condition of the host
// that passes (space freed, permissions fixed, another writer done), so 503 with Retry-After, and
// a message that says which. Other SQLite errors are the service's own: 500.
std::optional<std::string> storage_unavailable_reason(const sqlite::error& error)
{
    switch (error.code() & 0xff) {  // the primary code of an extended one
    case SQLITE_FULL: return "the disk under the state directory is full: free space there, then try again";
    case SQLITE_IOERR:
        return "the disk under the state directory failed a read or write: check it (the service log has "
               "SQLite's error), then try again";
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
        return "the state database cannot be written: check the permissions of the state directory and its "
               "files, then try again";
    case SQLITE_BUSY: return "another process holds the state database's write lock: try again shortly";
    default: return std::nullopt;
    }
}

}  // namespace

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
        } catch (const sqlite::error& e) {
            const auto reason = storage_unavailable_reason(e);
            if (!reason) throw;
            // Rolled back: nothing of the request was kept.
            const auto path = ctx.target.encoded_path();
            log::error("a request could not write the state database",
                       {{"method", ctx.req.method_string()},
                        {"path", std::string{path.data(), path.size()}},
                        {"error", e.what()}});
            co_return busy_response("STORAGE_UNAVAILABLE", *reason, std::chrono::seconds{10});
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
