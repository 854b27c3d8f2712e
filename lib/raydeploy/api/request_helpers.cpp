// Request parsing helpers shared by the handlers.
#include "raydeploy/api/request_helpers.hpp"
#include "raydeploy/api/request_bodies.hpp"
#include "raydeploy/util/json_input.hpp"

#include <boost/json/parse.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>

namespace raydeploy::api {

void invalid_field(std::string_view field, std::string_view message)
{
    throw api_error{http::status::unprocessable_entity, "VALIDATION_ERROR",
                    std::string{field} + ": " + std::string{message}, json::object{{"field", field}}};
}

void invalid_parameter(std::string_view name, std::string_view message)
{
    throw api_error{http::status::bad_request, "INVALID_PARAMETER", std::string{name} + ": " + std::string{message},
                    json::object{{"parameter", name}}};
}

json::object parse_json_body(std::string_view body)
{
    // The server already refused any body that is not application/json (content_type_refusal).
    if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return {};
    json::parse_options options;
    options.max_depth = 32;
    boost::system::error_code ec;
    json::value parsed = util::parse_outside_json(body, ec, {}, options);
    if (ec == json::error::exponent_overflow)
        throw api_error{http::status::bad_request, "INVALID_JSON",
                        "the body has a number too large to represent (such as 1e400); send a smaller number, or "
                        "the value as a string"};
    if (ec)
        throw api_error{http::status::bad_request, "INVALID_JSON",
                        "the body is not valid JSON (" + ec.message() + "); send a JSON object"};
    if (!parsed.is_object()) invalid_field("body", "expected a JSON object");
    return std::move(parsed.get_object());
}

json::object json_body(const request_context& ctx) { return parse_json_body(ctx.req.body()); }

void check_ticket_request(const json::object& body)
{
    if (!body.empty()) invalid_field(body.begin()->key(), "this request takes no fields; send {} or no body");
}

std::int64_t query_integer(const request_context& ctx, std::string_view name, std::int64_t fallback, std::int64_t min,
                           std::int64_t max)
{
    const auto text = ctx.query(name);
    if (!text) return fallback;
    std::int64_t value = 0;
    const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
    if (ec != std::errc{} || end != text->data() + text->size() || value < min || value > max)
        invalid_parameter(name, "expected an integer between " + std::to_string(min) + " and " + std::to_string(max) +
                                    ", got '" + *text + "'");
    return value;
}

bool query_flag(const request_context& ctx, std::string_view name)
{
    const auto text = ctx.query(name);
    if (!text || *text == "false") return false;
    if (*text == "true") return true;
    invalid_parameter(name, "expected true or false, got '" + *text + "'");
}

std::optional<std::int64_t> query_cursor(const request_context& ctx)
{
    const auto text = ctx.query("cursor");
    if (!text) return std::nullopt;
    const bool well_formed = !text->empty() && text->size() <= 18 && text->front() != '0' &&
                             std::all_of(text->begin(), text->end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!well_formed)
        invalid_parameter("cursor", "'" + *text + "' is not a cursor of this list; pass the next_cursor of the "
                                    "previous page unchanged, or leave cursor out for the first page");
    return std::stoll(*text);
}

std::optional<std::string> query_timestamp(const request_context& ctx, std::string_view name, timestamp_rounding rounding)
{
    const auto text = ctx.query(name);
    if (!text) return std::nullopt;
    auto normalized = normalize_rfc3339(*text, rounding);
    if (!normalized)
        invalid_parameter(name, "expected an RFC 3339 date-time such as 2026-03-01T12:00:00.000Z (UTC, as the API "
                                "prints times; an offset like +01:00 is converted to UTC), got '" + *text + "'");
    return normalized;
}

void reject_unknown_fields(const json::object& body, std::initializer_list<std::string_view> allowed)
{
    for (const auto& member : body) {
        if (std::find(allowed.begin(), allowed.end(), member.key()) != allowed.end()) continue;
        std::string known;
        for (auto name : allowed) known += (known.empty() ? "" : ", ") + std::string{name};
        invalid_field(member.key(), "unknown field; the accepted fields are " + known);
    }
}

namespace {

// The member `name` of `body`, or nullptr when it is absent or a null that counts as absent.
const json::value* present(const json::object& body, std::string_view name, null_is nulls, std::string_view expected)
{
    const auto* value = body.if_contains(name);
    if (!value || !value->is_null()) return value;
    if (nulls == null_is::absent) return nullptr;
    invalid_field(name, "expected " + std::string{expected} + ", not null");
}

}  // namespace

std::optional<std::int64_t> whole_number(const json::value& value)
{
    if (value.is_int64()) return value.get_int64();
    if (value.is_uint64())
        return value.get_uint64() > static_cast<std::uint64_t>(INT64_MAX) ? INT64_MAX
                                                                           : static_cast<std::int64_t>(value.get_uint64());
    if (!value.is_double()) return std::nullopt;
    const double number = value.get_double();
    if (!std::isfinite(number) || std::trunc(number) != number) return std::nullopt;
    // 2^63 is exactly representable; every double below it and at or above -2^63 fits.
    if (number >= 9223372036854775808.0) return INT64_MAX;
    if (number < -9223372036854775808.0) return INT64_MIN;
    return static_cast<std::int64_t>(number);
}

std::optional<std::string> string_field(const json::object& body, std::string_view name, null_is nulls)
{
    const auto* value = present(body, name, nulls, "a string");
    if (!value) return std::nullopt;
    if (!value->is_string()) invalid_field(name, "expected a string");
    return std::string{value->get_string()};
}

std::optional<bool> bool_field(const json::object& body, std::string_view name, null_is nulls)
{
    const auto* value = present(body, name, nulls, "true or false");
    if (!value) return std::nullopt;
    if (!value->is_bool()) invalid_field(name, "expected true or false");
    return value->get_bool();
}

std::optional<std::int64_t> integer_field(const json::object& body, std::string_view name, std::int64_t min,
                                          std::int64_t max, null_is nulls)
{
    const auto* value = present(body, name, nulls, "an integer");
    if (!value) return std::nullopt;
    const auto number = whole_number(*value);
    if (!number || *number < min || *number > max)
        invalid_field(name, "expected an integer between " + std::to_string(min) + " and " + std::to_string(max));
    return number;
}

json::object extra_vars_field(const json::object& body, null_is nulls)
{
    const auto* vars = present(body, "extra_vars", nulls, "an object of variable names to values");
    if (!vars) return {};
    if (!vars->is_object()) invalid_field("extra_vars", "expected an object of variable names to values");
    return vars->get_object();
}

execution_params execution_params_of(const json::object& body, null_is nulls)
{
    execution_params params;
    params.extra_vars = extra_vars_field(body, nulls);
    // What the checkpoint accepts (declared variables, host patterns) is the engine's
    // check_run_params. `limit` is nullable everywhere: null is every host.
    params.limit = string_field(body, "limit", null_is::absent);
    params.check = bool_field(body, "check", nulls).value_or(false);
    return params;
}

bool has_execution_params(const json::object& body)
{
    for (std::string_view name : {"extra_vars", "limit", "check"})
        if (const auto* value = body.if_contains(name); value && !value->is_null()) return true;
    return false;
}

void throw_api_error(const engine_error& e)
{
    using kind = engine_error::kind;
    http::status status = http::status::internal_server_error;
    switch (e.which()) {
    case kind::not_found: status = http::status::not_found; break;
    case kind::conflict: status = http::status::conflict; break;
    case kind::forbidden: status = http::status::forbidden; break;
    case kind::invalid: status = http::status::unprocessable_entity; break;
    }
    throw api_error{status, e.code(), e.what(), e.details()};
}

}  // namespace raydeploy::api
