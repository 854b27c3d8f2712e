// An execution: one run of one checkpoint, its lifecycle and what the API shows of it.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace raydeploy {

enum class execution_status { queued, awaiting_approval, running, succeeded, failed, cancelled, timed_out, interrupted };

std::string_view to_string(execution_status status);
std::optional<execution_status> parse_execution_status(std::string_view text);
// Succeeded, failed, cancelled, timed_out and interrupted are final: nothing changes afterwards.
bool is_final(execution_status status);

// What the caller asked for when starting the run.
struct execution_params {
    boost::json::object extra_vars;
    std::optional<std::string> limit;
    bool check = false;
};

boost::json::object to_json(const execution_params& params);
execution_params params_from_json(const boost::json::object& stored);

struct execution_record {
    std::int64_t rowid = 0;  // insertion order, used as the paging cursor
    std::string id;
    std::string checkpoint;
    execution_status status = execution_status::queued;
    execution_params params;
    std::optional<std::string> requested_by;   // the caller's identity
    std::optional<std::string> deployment_id;  // set when a deployment started it
    std::optional<std::string> approval_id;    // the grant it consumed, for a gated checkpoint
    std::string created_at;
    std::optional<std::string> started_at;
    std::optional<std::string> finished_at;
    std::optional<int> rc;
    std::optional<std::string> status_reason;
    boost::json::object progress;      // {"play", "task", "tasks_started", "tasks_done"}
    boost::json::object host_summary;  // host -> {"ok", "changed", "failures", "unreachable", ...}
    std::optional<boost::json::object> error;  // {"task", "host", "message"} for a failure
    std::optional<std::int64_t> final_counter;
    // What the checkpoint published with set_stats (see checkpoint_results in progress.hpp):
    // {"nodes": {host: raydeploy_node}, "summary": raydeploy_summary, "warnings": [...]}; `{}`
    // until the playbook's recap arrives.
    boost::json::object results;
    // Whether a report (raydeploy_report) is stored; its body is read with execution_store::report.
    bool has_report = false;
    // The process group of a running ansible-playbook and what identifies it across restarts.
    std::optional<int> pgid;
    std::optional<std::string> boot_id;
    std::optional<std::int64_t> process_start;
    // What a runner whose work survives the service recorded to find it again (run_context::
    // set_attachment); `{}` for other kinds.
    boost::json::object attachment;
};

// The report a checkpoint published (final-validation): its JSON document and its Markdown
// rendering, each optional.
struct execution_report {
    std::optional<boost::json::value> json;
    std::optional<std::string> markdown;
    bool empty() const { return !json && !markdown; }
};

// The progress of a run that has not reported any: {"play": "", "task": "", "tasks_started": 0,
// "tasks_done": 0}.
boost::json::object initial_progress();

// The API's view of an execution (process details stay internal).
boost::json::object to_json(const execution_record& record);

// "ex-" followed by 20 random hex digits.
std::string new_execution_id();

}  // namespace raydeploy
