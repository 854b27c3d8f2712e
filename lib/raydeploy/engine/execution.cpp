// Execution status names and the execution's JSON shape.
#include "raydeploy/engine/execution.hpp"

#include "raydeploy/util/named_enum.hpp"
#include "raydeploy/util/random_id.hpp"

#include <array>

namespace raydeploy {
namespace {

constexpr std::array<std::string_view, 8> status_names = {
    "queued", "awaiting_approval", "running", "succeeded", "failed", "cancelled", "timed_out", "interrupted"};

}  // namespace

std::string_view to_string(execution_status status) { return enum_name(status_names, status); }

std::optional<execution_status> parse_execution_status(std::string_view text)
{
    return enum_from_name<execution_status>(status_names, text);
}

bool is_final(execution_status status)
{
    return status != execution_status::queued && status != execution_status::awaiting_approval &&
           status != execution_status::running;
}

boost::json::object to_json(const execution_params& params)
{
    boost::json::object out{{"extra_vars", params.extra_vars}, {"check", params.check}};
    out["limit"] = params.limit ? boost::json::value(*params.limit) : boost::json::value(nullptr);
    return out;
}

execution_params params_from_json(const boost::json::object& stored)
{
    execution_params params;
    if (auto* vars = stored.if_contains("extra_vars"); vars && vars->is_object()) params.extra_vars = vars->get_object();
    if (auto* limit = stored.if_contains("limit"); limit && limit->is_string()) params.limit = std::string{limit->get_string()};
    if (auto* check = stored.if_contains("check"); check && check->is_bool()) params.check = check->get_bool();
    return params;
}

boost::json::object initial_progress()
{
    return {{"play", ""}, {"task", ""}, {"tasks_started", 0}, {"tasks_done", 0}};
}

boost::json::object to_json(const execution_record& record)
{
    boost::json::object out{
        {"execution_id", record.id},
        {"checkpoint", record.checkpoint},
        {"status", to_string(record.status)},
        {"params", to_json(record.params)},
        {"requested_by", json_or_null(record.requested_by)},
        {"deployment_id", json_or_null(record.deployment_id)},
        {"approval_id", json_or_null(record.approval_id)},
        {"created_at", record.created_at},
        {"started_at", json_or_null(record.started_at)},
        {"finished_at", json_or_null(record.finished_at)},
        {"rc", json_or_null(record.rc)},
        {"status_reason", json_or_null(record.status_reason)},
        {"progress", record.progress},
        {"host_summary", record.host_summary},
        {"error", json_or_null(record.error)},
        {"final_counter", json_or_null(record.final_counter)},
    };
    // Always the same shape, also for runs that published nothing (or never got to their recap).
    boost::json::object results{{"nodes", boost::json::object{}}, {"summary", nullptr}};
    if (auto* nodes = record.results.if_contains("nodes"); nodes && nodes->is_object()) results["nodes"] = *nodes;
    if (auto* summary = record.results.if_contains("summary")) results["summary"] = *summary;
    if (auto* warnings = record.results.if_contains("warnings"); warnings && warnings->is_array() && !warnings->get_array().empty())
        results["warnings"] = *warnings;
    out["results"] = std::move(results);
    out["has_report"] = record.has_report;
    return out;
}

std::string new_execution_id() { return random_id("ex-"); }

}  // namespace raydeploy
