// Follows an execution's Ansible events and keeps what the API reports about it: the current
// play and task, how many tasks are done, the per-host summary and the first failure.
// Sans-I/O: fed one event object at a time, unit-tested without Ansible.
#pragma once

#include <boost/json/object.hpp>

#include <optional>
#include <string>

namespace raydeploy {

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
};

}  // namespace raydeploy
