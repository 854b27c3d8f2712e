// Execution status names and the execution's JSON shape.
#include "raydeploy/engine/execution.hpp"

#include "raydeploy/util/random_id.hpp"

#include <array>

namespace raydeploy {
namespace {

constexpr std::array<std::string_view, 8> status_names = {
    "queued", "awaiting_approval", "running", "succeeded", "failed", "cancelled", "timed_out", "interrupted"};

}  // namespace

std::string_view to_string(execution_status status) { return status_names[static_cast<std::size_t>(status)]; }

std::optional<execution_status> parse_execution_status(std::string_view text)
{
    for (std::size_t i = 0; i < status_names.size(); ++i)
        if (status_names[i] == text) return static_cast<execution_status>(i);
    return std::nullopt;
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

boost::json::object to_json(const execution_record& record)
{
    const auto optional_text = [](const std::optional<std::string>& value) {
        return value ? boost::json::value(*value) : boost::json::value(nullptr);
    };
    boost::json::object out{
        {"execution_id", record.id},
        {"checkpoint", record.checkpoint},
        {"status", to_string(record.status)},
        {"params", to_json(record.params)},
        {"requested_by", optional_text(record.requested_by)},
        {"deployment_id", optional_text(record.deployment_id)},
        {"approval_id", optional_text(record.approval_id)},
        {"created_at", record.created_at},
        {"started_at", optional_text(record.started_at)},
        {"finished_at", optional_text(record.finished_at)},
        {"rc", record.rc ? boost::json::value(*record.rc) : boost::json::value(nullptr)},
        {"status_reason", optional_text(record.status_reason)},
        {"progress", record.progress},
        {"host_summary", record.host_summary},
        {"error", record.error ? boost::json::value(*record.error) : boost::json::value(nullptr)},
        {"final_counter", record.final_counter ? boost::json::value(*record.final_counter) : boost::json::value(nullptr)},
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
