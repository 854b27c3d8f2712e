// Building responses: JSON bodies, and the one error shape every 4xx/5xx uses:
// {"error": "CODE", "message": "what happened and what to do next", ...details}.
#pragma once

#include "raydeploy/util/net.hpp"

#include <chrono>
#include <string>

namespace raydeploy::web {

using request = http::request<http::string_body>;
using response = http::response<http::string_body>;

// An answer the transport gives instead of running a handler: the request came from a place it
// does not answer (Host, Origin), in a form it refuses (Content-Type), without a valid credential,
// or with too low a role. `details` are extra members of the error body ("header", "required_role").
struct refusal {
    http::status status = http::status::bad_request;
    std::string code;
    std::string message;
    json::object details;
};

response json_response(http::status status, const json::value& body);
// `serialized_object` (an object serialized earlier, "{...}") with the members of `more` added: for
// a large answer made once and served many times, where only a few members change per request.
response json_response(http::status status, std::string_view serialized_object, const json::object& more);
response error_response(http::status status, std::string_view code, std::string_view message,
                        const json::object& details = {});
response error_response(const refusal& reason);
response text_response(http::status status, std::string body, std::string_view content_type);
// 503 with `Retry-After`: a limit (connections, subscribers) is reached for now, not an error of
// the request; the client tries again after `retry_after`.
response busy_response(std::string_view code, std::string_view message,
                       std::chrono::seconds retry_after = std::chrono::seconds{5});

}  // namespace raydeploy::web
