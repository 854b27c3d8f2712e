// The run supervisor: `raydeploy __supervise GRACE_MS -- PROGRAM ARGS...`, started by the engine
// as the leader of each run's process group. It runs PROGRAM (ansible-playbook) as its child and
// mirrors its exit status. When it is told to stop (SIGTERM, SIGINT, SIGHUP), or when the service
// dies (its parent-death signal is SIGTERM), it stops the whole group: SIGTERM, then SIGKILL after
// GRACE_MS. This is what keeps Ansible's worker processes and their tasks from running on
// unattended after a crash of the service: the parent-death signal alone reaches only the leader.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace raydeploy {

inline constexpr std::string_view supervise_command = "__supervise";

// Runs the supervisor in this process; returns its exit status.
int run_supervisor(std::chrono::milliseconds grace, const std::vector<std::string>& command);

// The argv prefix that wraps a command in the supervisor: {"__supervise", GRACE_MS, "--"}.
std::vector<std::string> supervisor_arguments(std::chrono::milliseconds grace);

}  // namespace raydeploy
