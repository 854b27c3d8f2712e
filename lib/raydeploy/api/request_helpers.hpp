// Reading requests: JSON bodies, query parameters, and the 400/415/422 errors for bad ones.
#pragma once

#include "raydeploy/engine/engine_error.hpp"
#include "raydeploy/engine/execution.hpp"
#include "raydeploy/api/api_error.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace raydeploy::api {

// The body as a JSON object; an empty body is an empty object. Throws api_error: 400
// INVALID_JSON for a syntax error, 422 when it is not an object. (The server answers 415 for a
// body that is not application/json before any handler runs.)
json::object json_body(const request_context& ctx);

// An integer query parameter within [min, max], or `fallback` when absent. 400 INVALID_PARAMETER otherwise.
std::int64_t query_integer(const request_context& ctx, std::string_view name, std::int64_t fallback, std::int64_t min,
                           std::int64_t max);

// 422 VALIDATION_ERROR naming the field.
[[noreturn]] void invalid_field(std::string_view field, std::string_view message);
// 400 INVALID_PARAMETER naming the query parameter.
[[noreturn]] void invalid_parameter(std::string_view name, std::string_view message);

// Rejects members of `body` not in `allowed` (422 naming the first unknown one).
void reject_unknown_fields(const json::object& body, std::initializer_list<std::string_view> allowed);

// Optional typed members of a body; 422 naming the field when present with the wrong type.
std::optional<std::string> string_field(const json::object& body, std::string_view name);
std::optional<bool> bool_field(const json::object& body, std::string_view name);
std::optional<std::int64_t> integer_field(const json::object& body, std::string_view name, std::int64_t min,
                                          std::int64_t max);
// "extra_vars": an object. Which names and values a checkpoint accepts is the engine's
// check_extra_vars (engine/extra_vars.hpp).
json::object extra_vars_field(const json::object& body);
// The run parameters of a body ("extra_vars", "limit", "check"), as a run request and a
// pre-approval give them.
execution_params execution_params_of(const json::object& body);
// Whether the body names any run parameter.
bool has_execution_params(const json::object& body);

// The one mapping from engine refusals (engine_error) to HTTP errors.
[[noreturn]] void throw_api_error(const engine_error& e);

// Runs `call`, turning an engine_error into the matching api_error.
template <class Call>
decltype(auto) engine_call(Call&& call)
{
    try {
        return std::forward<Call>(call)();
    } catch (const engine_error& e) {
        throw_api_error(e);
    }
}

}  // namespace raydeploy::api
