// Follows an execution's Ansible events and keeps what the API reports about it: the current
// play and task, how many tasks are done, the per-host summary and the first failure.
// Sans-I/O: fed one event object at a time, unit-tested without Ansible.
#pragma once

#include "raydeploy/engine/execution.hpp"

#include <boost/json/object.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace raydeploy {

// What a checkpoint published with ansible.builtin.set_stats, as the playbook_on_stats event
// carries it (artifact_data: the run-wide stats, artifact_data_per_host: host -> stats):
// - `results`: {"nodes": {host: that host's raydeploy_node}, "summary": raydeploy_summary or
//   null}, plus "warnings": [...] when something had to be left out. Other keys are ignored.
// - `report`: raydeploy_report's "json" and "markdown" (final-validation).
// - `warnings`: why something was left out, for the service log (also in results.warnings).
struct checkpoint_results {
    boost::json::object results;
    execution_report report;
    std::vector<std::string> warnings;
};

// Each of results, the report's JSON and its Markdown is kept only up to this many bytes
// (serialized); a larger one is left out with a warning.
inline constexpr std::size_t max_results_bytes = 1024 * 1024;

// `event_data` is the playbook_on_stats event's event_data. Sans-I/O; never throws for odd input.
checkpoint_results extract_checkpoint_results(const boost::json::object& event_data,
                                              std::size_t limit = max_results_bytes);

class execution_progress {
public:
    // `ansible_event` is one object from the callback plugin (event, event_data, stdout, ...).
    void observe(const boost::json::object& ansible_event);

    // {"play", "task", "tasks_started", "tasks_done"}
    boost::json::object progress() const;
    // host -> {"ok", "changed", "failures", "unreachable", "skipped", "rescued", "ignored"}; live
    // counts while running, replaced by Ansible's own recap at the end.
    const boost::json::object& host_summary() const { return host_summary_; }
    // {"task", "host", "message"} of the first failure that was not ignored.
    const std::optional<boost::json::object>& first_error() const { return first_error_; }
    // The set_stats data of the run (playbook_on_stats artifact_data), if any.
    const boost::json::object& artifacts() const { return artifacts_; }
    // What the checkpoint published (set once playbook_on_stats arrived).
    const std::optional<checkpoint_results>& results() const { return results_; }
    bool finished() const { return finished_; }

private:
    void count(const std::string& host, const char* key);

    std::string play_;
    std::string task_;
    long tasks_started_ = 0;
    bool finished_ = false;
    boost::json::object host_summary_;
    std::optional<boost::json::object> first_error_;
    boost::json::object artifacts_;
    std::optional<checkpoint_results> results_;
};

}  // namespace raydeploy
