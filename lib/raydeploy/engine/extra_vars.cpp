// Checking, writing and redacting a run's extra_vars and limit; see extra_vars.hpp.
#include "raydeploy/engine/extra_vars.hpp"

#include "raydeploy/engine/engine_error.hpp"

#include <boost/json/serialize.hpp>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <optional>

namespace raydeploy {
namespace {

namespace json = boost::json;

std::string field_of(std::string_view name) { return "extra_vars." + std::string{name}; }

bool has_template_marker(std::string_view text)
{
    for (std::size_t at = text.find('{'); at != std::string_view::npos && at + 1 < text.size();
         at = text.find('{', at + 1))
        if (text[at + 1] == '{' || text[at + 1] == '%' || text[at + 1] == '#') return true;
    return false;
}

// Whether a string anywhere in `value` (dict keys included) holds a template marker.
bool holds_template_marker(const json::value& value)
{
    if (value.is_string()) return has_template_marker(value.get_string());
    if (value.is_array()) {
        for (const auto& item : value.get_array())
            if (holds_template_marker(item)) return true;
    }
    if (value.is_object()) {
        for (const auto& member : value.get_object())
            if (has_template_marker(member.key()) || holds_template_marker(member.value())) return true;
    }
    return false;
}

bool has_type(const json::value& value, variable_type type)
{
    switch (type) {
    case variable_type::string: return value.is_string();
    case variable_type::integer: return value.is_int64() || value.is_uint64();
    case variable_type::boolean: return value.is_bool();
    case variable_type::list: return value.is_array();
    case variable_type::dict: return value.is_object();
    }
    return false;
}

std::string_view type_phrase(variable_type type)
{
    switch (type) {
    case variable_type::string: return "a string";
    case variable_type::integer: return "a whole number";
    case variable_type::boolean: return "true or false";
    case variable_type::list: return "a list";
    case variable_type::dict: return "an object";
    }
    return "a value";
}

// What is wrong with `value` for `spec`, or nothing. Never quotes the value (secrets).
std::optional<std::string> value_problem(const variable_spec& spec, const json::value& value)
{
    if (value.is_null())
        return "expected " + std::string{type_phrase(spec.type)} + "; leave the variable out to use its default";
    if (!has_type(value, spec.type)) return "expected " + std::string{type_phrase(spec.type)};
    if (holds_template_marker(value))
        return std::string{"a string in the value contains a template marker ('{{', '{%' or '{#'); values are passed "
                           "to the playbook as plain data and never templated, so these markers are refused"};
    if (!spec.choices.empty() && std::find(spec.choices.begin(), spec.choices.end(), value) == spec.choices.end()) {
        std::string allowed;
        for (const auto& choice : spec.choices)
            allowed += (allowed.empty() ? "" : ", ") +
                       (choice.is_string() ? std::string{choice.get_string()} : json::serialize(choice));
        return "expected one of " + allowed;
    }
    if (spec.pattern) {
        try {
            if (!full_match(*spec.pattern, std::string{value.get_string()}))
                return "does not match the pattern " + *spec.pattern + " (the whole value must match)";
        } catch (const std::exception&) {
            return "is too long or complex to check against the pattern " + *spec.pattern + "; send a shorter value";
        }
    }
    return std::nullopt;
}

[[noreturn]] void refuse_reserved(std::string_view name)
{
    throw engine_error::invalid_field(
        field_of(name), "is never settable through extra_vars: ansible_* are Ansible's own settings (connection, "
                        "become, interpreter), raydeploy_* are set by the service, and Ansible's magic variables "
                        "are its own; set host settings in the inventory");
}

std::string declared_names(const checkpoint& item)
{
    std::string names;
    for (const auto& spec : item.vars) names += (names.empty() ? "" : ", ") + spec.name;
    return names;
}

// ---------------------------------------------------------------------------------- the YAML file

void append_codepoint_escape(std::string& out, std::uint32_t codepoint)
{
    char buffer[16];
    if (codepoint <= 0xFFFF) std::snprintf(buffer, sizeof buffer, "\\u%04X", static_cast<unsigned>(codepoint));
    else std::snprintf(buffer, sizeof buffer, "\\U%08X", static_cast<unsigned>(codepoint));
    out += buffer;
}

// A YAML double-quoted scalar holding exactly `text` (valid UTF-8, as Boost.JSON guarantees):
// printable ASCII as it is, everything else as a \u or \U escape, so no YAML reader folds, drops
// or refuses a character.
void append_quoted(std::string& out, std::string_view text)
{
    out += '"';
    for (std::size_t i = 0; i < text.size();) {
        const auto byte = static_cast<unsigned char>(text[i]);
        if (byte == '"' || byte == '\\') {
            out += '\\';
            out += static_cast<char>(byte);
            ++i;
        } else if (byte >= 0x20 && byte < 0x7F) {
            out += static_cast<char>(byte);
            ++i;
        } else if (byte < 0x80) {
            append_codepoint_escape(out, byte);
            ++i;
        } else {
            const std::size_t length = byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : 2;
            std::uint32_t codepoint = byte & (length == 4 ? 0x07 : length == 3 ? 0x0F : 0x1F);
            for (std::size_t k = 1; k < length && i + k < text.size(); ++k)
                codepoint = (codepoint << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3F);
            append_codepoint_escape(out, codepoint);
            i += length;
        }
    }
    out += '"';
}

void append_unsafe(std::string& out, std::string_view text)
{
    out += "!unsafe ";
    append_quoted(out, text);
}

// `value` in YAML flow style, every string tagged !unsafe.
void append_value(std::string& out, const json::value& value)
{
    switch (value.kind()) {
    case json::kind::null: out += "null"; break;
    case json::kind::bool_: out += value.get_bool() ? "true" : "false"; break;
    case json::kind::int64: out += std::to_string(value.get_int64()); break;
    case json::kind::uint64: out += std::to_string(value.get_uint64()); break;
    case json::kind::double_: {
        // An explicit tag: YAML 1.1 readers take "1e+100" without a dot for a string.
        char buffer[32];
        const auto end = std::to_chars(buffer, buffer + sizeof buffer, value.get_double()).ptr;
        out += "!!float \"" + std::string(buffer, end) + "\"";
        break;
    }
    case json::kind::string: append_unsafe(out, value.get_string()); break;
    case json::kind::array: {
        out += '[';
        bool first = true;
        for (const auto& item : value.get_array()) {
            out += first ? "" : ", ";
            first = false;
            append_value(out, item);
        }
        out += ']';
        break;
    }
    case json::kind::object: {
        // Explicit keys ("? KEY : VALUE"): an implicit flow key may be at most 1024 characters.
        out += '{';
        bool first = true;
        for (const auto& member : value.get_object()) {
            out += first ? "? " : ", ? ";
            first = false;
            append_unsafe(out, member.key());
            out += " : ";
            append_value(out, member.value());
        }
        out += '}';
        break;
    }
    }
}

}  // namespace

void check_extra_vars(const checkpoint& item, const json::object& vars)
{
    for (const auto& member : vars) {
        const std::string_view name = member.key();
        if (is_reserved_variable_name(name)) refuse_reserved(name);
        const variable_spec* spec = item.find_var(name);
        if (!spec) {
            throw engine_error::invalid_field(
                field_of(name), "checkpoint '" + item.name + "' does not declare this variable; " +
                                    (item.vars.empty() ? std::string{"it accepts no extra_vars"}
                                                       : "it accepts " + declared_names(item)) +
                                    " (GET /api/v1/checkpoints/" + item.name + " describes them)");
        }
        if (auto problem = value_problem(*spec, member.value()))
            throw engine_error::invalid_field(field_of(name), *problem);
    }
}

void check_run_params(const checkpoint& item, const execution_params& params)
{
    // limit and check are ansible-playbook's options: a step that runs none cannot honour them,
    // and ignoring them would run for real what the caller asked to dry-run or to narrow.
    if (item.kind != checkpoint_kind::ansible) {
        const std::string why = "; checkpoint '" + item.name + "' is of kind " + std::string{to_string(item.kind)} +
                                ", which runs no playbook: leave it out";
        if (params.limit)
            throw engine_error::invalid_field("limit", "applies to kind ansible only (ansible-playbook's --limit)" + why);
        if (params.check)
            throw engine_error::invalid_field("check", "applies to kind ansible only (ansible-playbook's --check)" + why);
    }
    check_extra_vars(item, params.extra_vars);
    if (params.limit) check_limit(*params.limit);
}

void check_deployment_extra_vars(const std::vector<const checkpoint*>& steps, const json::object& vars)
{
    for (const auto& member : vars) {
        const std::string_view name = member.key();
        if (is_reserved_variable_name(name)) refuse_reserved(name);
        bool declared = false;
        for (const checkpoint* step : steps) {
            const variable_spec* spec = step->find_var(name);
            if (!spec) continue;
            declared = true;
            if (auto problem = value_problem(*spec, member.value()))
                throw engine_error::invalid_field(field_of(name), "for checkpoint '" + step->name + "': " + *problem);
        }
        if (!declared) {
            std::string names;
            for (const checkpoint* step : steps) names += (names.empty() ? "" : ", ") + step->name;
            throw engine_error::invalid_field(field_of(name),
                                              "no checkpoint of this deployment (" + names +
                                                  ") declares this variable; GET /api/v1/checkpoints lists the "
                                                  "variables each checkpoint accepts");
        }
    }
}

json::object declared_extra_vars(const checkpoint& item, const json::object& vars)
{
    json::object out;
    for (const auto& member : vars)
        if (item.find_var(member.key())) out.emplace(member.key(), member.value());
    return out;
}

void check_limit(std::string_view limit)
{
    constexpr std::string_view what =
        "expected an Ansible host pattern such as \"host1,host2\" or \"ray_workers:!worker3\": letters, digits and "
        ". _ - * ? [ ] : , ! & ~ only";
    if (limit.empty() || limit.size() > 1024)
        throw engine_error::invalid_field("limit", std::string{what} + ", 1 to 1024 characters");
    // A leading '-' would read as an option of ansible-playbook, '@' makes Ansible read a file.
    if (limit.front() == '-' || limit.front() == '@')
        throw engine_error::invalid_field("limit", std::string{what} + "; it cannot start with '-' or '@'");
    constexpr std::string_view allowed =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-*?[]:,!&~";
    if (limit.find_first_not_of(allowed) != std::string_view::npos)
        throw engine_error::invalid_field("limit", std::string{what});
}

std::string extra_vars_yaml(const json::object& vars, const json::object& service_vars)
{
    std::string out =
        "# Written by raydeploy. Every string below is tagged !unsafe: Ansible uses it as data and\n"
        "# never evaluates a template in it.\n";
    for (const auto& member : vars) {
        // The names are identifiers (they were checked against the catalog's declarations).
        out += member.key();
        out += ": ";
        append_value(out, member.value());
        out += '\n';
    }
    for (const auto& member : service_vars) {
        out += member.key();
        out += ": ";
        if (member.value().is_string()) append_quoted(out, member.value().get_string());
        else append_value(out, member.value());
        out += '\n';
    }
    return out;
}

json::object redact_extra_vars(const json::object& vars, const std::vector<const checkpoint*>& sources, bool reveal)
{
    const bool all_known = std::find(sources.begin(), sources.end(), nullptr) == sources.end();
    json::object out;
    for (const auto& member : vars) {
        bool shown = reveal && all_known;
        for (const checkpoint* source : sources) {
            if (!shown) break;
            if (const variable_spec* spec = source->find_var(member.key()); spec && spec->secret) shown = false;
        }
        out.emplace(member.key(), shown ? member.value() : json::value("***"));
    }
    return out;
}

}  // namespace raydeploy
