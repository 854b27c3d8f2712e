// Building responses: JSON bodies, and the one error shape every 4xx/5xx uses:
// {"error": "CODE", "message": "what happened and what to do next"}.
#pragma once

#include "raydeploy/util/net.hpp"

#include <chrono>
#include <stdexcept>
#include <string>

namespace raydeploy::api {

using request = http::request<http::string_body>;
using response = http::response<http::string_body>;

// Thrown by handlers for an expected failure; the session turns it into an error response.
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

response json_response(http::status status, const json::value& body);
response error_response(http::status status, std::string_view code, std::string_view message,
                        const json::object& details = {});
response text_response(http::status status, std::string body, std::string_view content_type);
// 503 with `Retry-After`: a limit (connections, subscribers) is reached for now, not an error of
// the request; the client tries again after `retry_after`.
response busy_response(std::string_view code, std::string_view message,
                       std::chrono::seconds retry_after = std::chrono::seconds{5});

}  // namespace raydeploy::api
