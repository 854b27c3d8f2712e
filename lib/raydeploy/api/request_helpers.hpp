// Reading requests: JSON bodies, query parameters, and the 400/415/422 errors for bad ones.
#pragma once

#include "raydeploy/engine/engine_error.hpp"
#include "raydeploy/engine/execution.hpp"
#include "raydeploy/api/api_error.hpp"
#include "raydeploy/util/time.hpp"

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
// A true/false query parameter; false when absent, 400 INVALID_PARAMETER for anything else.
bool query_flag(const request_context& ctx, std::string_view name);
// The `cursor` of a paged list, as a previous page's `next_cursor` gave it (1 to 18 digits, no
// leading zero: the OpenAPI document's Cursor); nullopt when absent, 400 INVALID_PARAMETER otherwise.
std::optional<std::int64_t> query_cursor(const request_context& ctx);

// A time bound of a list (`created_after`, `created_before`): an RFC 3339 date-time, returned as
// the API prints timestamps (UTC, milliseconds; see normalize_rfc3339) so that it compares with
// stored ones as text. nullopt when absent, 400 INVALID_PARAMETER naming the form otherwise.
std::optional<std::string> query_timestamp(const request_context& ctx, std::string_view name, timestamp_rounding rounding);

// 422 VALIDATION_ERROR naming the field.
[[noreturn]] void invalid_field(std::string_view field, std::string_view message);
// 400 INVALID_PARAMETER naming the query parameter.
[[noreturn]] void invalid_parameter(std::string_view name, std::string_view message);

// Rejects members of `body` not in `allowed` (422 naming the first unknown one).
void reject_unknown_fields(const json::object& body, std::initializer_list<std::string_view> allowed);

// What a JSON null means for an optional member, as the OpenAPI document types it: `absent` for
// a nullable field ([string, "null"]), `refused` (422 naming the field) for any other.
enum class null_is { absent, refused };

// A JSON number that is a whole number, as JSON Schema's "integer" counts them (60 and 60.0);
// one beyond the int64 range comes back as INT64_MIN or INT64_MAX. nullopt for anything else.
std::optional<std::int64_t> whole_number(const json::value& value);

// Optional typed members of a body; 422 naming the field when present with the wrong type.
std::optional<std::string> string_field(const json::object& body, std::string_view name, null_is nulls);
std::optional<bool> bool_field(const json::object& body, std::string_view name, null_is nulls);
std::optional<std::int64_t> integer_field(const json::object& body, std::string_view name, std::int64_t min,
                                          std::int64_t max, null_is nulls);
// "extra_vars": an object. Which names and values a checkpoint accepts is the engine's
// check_extra_vars (engine/extra_vars.hpp).
json::object extra_vars_field(const json::object& body, null_is nulls);
// The run parameters of a body ("extra_vars", "limit", "check"), as a run request (`nulls`
// refused but for `limit`) and a pre-approval (every one nullable) give them.
execution_params execution_params_of(const json::object& body, null_is nulls);
// Whether the body names any run parameter (a null one does not count).
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
