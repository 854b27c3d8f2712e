// The API's expected failures and how they reach the client. A handler throws api_error; every
// handler the api layer registers is wrapped by answering_api_errors, which turns it into the one
// error shape of the API: {"error": "CODE", "message": "...", ...details}. The transport (http/)
// knows nothing of api_error: anything else a handler throws is its 500 INTERNAL_ERROR.
#pragma once

#include "raydeploy/http/response.hpp"
#include "raydeploy/http/router.hpp"
#include "raydeploy/http/stream.hpp"

#include <stdexcept>
#include <string>

namespace raydeploy::api {

// The api layer is written against the transport's types; these are its names here.
using web::busy_response;
using web::connection_handler;
using web::error_response;
using web::handler;
using web::http_stream;
using web::json_response;
using web::request;
using web::request_context;
using web::response;
using web::route;
using web::router;
using web::text_response;

// Thrown by handlers for an expected failure; the handler's wrapper turns it into an error response.
class api_error : public std::runtime_error {
public:
    // `details` are extra members of the error body (for example "field" for a validation error).
    api_error(http::status status, std::string code, const std::string& message, json::object details = {})
        : std::runtime_error{message}, status_{status}, code_{std::move(code)}, details_{std::move(details)}
    {
    }
    http::status status() const { return status_; }
    const std::string& code() const { return code_; }
    const json::object& details() const { return details_; }

private:
    http::status status_;
    std::string code_;
    json::object details_;
};

// The error response for `error`; a 401 also names the scheme to use (WWW-Authenticate, RFC 6750).
response api_error_response(const api_error& error);

// `handle`, answering an api_error it throws with api_error_response; other exceptions pass on
// to the server (500).
handler answering_api_errors(handler handle);

// Registers a route (router::add) or a WebSocket route (router::add_websocket) whose handler is
// wrapped by answering_api_errors: how the api layer adds every route.
void add_route(router& routes, http::verb method, std::string pattern, std::optional<role> access, handler handle,
               std::string audit_action = {});
void add_websocket_route(router& routes, std::string pattern, role access, handler handle);

}  // namespace raydeploy::api
