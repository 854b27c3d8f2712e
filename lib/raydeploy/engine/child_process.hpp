// One child process run the way raydeploy runs playbooks: an argv (never a shell), its own
// process group, a parent-death signal, stdout and stderr drained concurrently, an extra
// "event channel" pipe on fd 3, a timeout, and a stop that escalates SIGTERM -> SIGKILL on the
// whole group.
//
// @par Thread safety
// Single-threaded: use from the io_context's thread.
#pragma once

#include "raydeploy/engine/stop_cause.hpp"
#include "raydeploy/util/net.hpp"

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace raydeploy {

struct child_spec {
    std::filesystem::path executable;
    std::vector<std::string> args;         // without the executable
    std::vector<std::string> environment;  // complete environment, "KEY=value"
    std::filesystem::path working_dir;
    std::chrono::milliseconds timeout{0};  // 0: none
    std::chrono::milliseconds kill_grace{std::chrono::seconds{10}};
    // Longest event channel line accepted; longer ones are dropped (with a warning) rather than
    // buffered. The callback plugin's own caps (res_limit, output_limit) keep its lines far below.
    std::size_t max_event_line = 4 * 1024 * 1024;
};

// The child's file descriptor that carries the event channel.
inline constexpr int event_channel_fd = 3;

struct child_callbacks {
    std::function<void(std::string_view text)> on_output;     // stdout and stderr, as they arrive
    std::function<void(std::string_view line)> on_event_line;  // one line of the event channel, without '\n'
    // While it returns true the event channel is not read, so the child blocks on its writes
    // (asked again every 100 ms). Ignored once a stop was asked or the child exited, so that
    // neither waits on it and the lines already written still arrive.
    std::function<bool()> hold_events;
};

struct child_result {
    int exit_code = -1;           // the child's exit status, or 128 + signal when a signal ended it
    std::optional<int> signal;    // the signal that ended it, if any
    stop_cause stopped_by = stop_cause::none;
};

class child_process {
public:
    // Starts the child. Throws runtime_failure when it cannot be started (the message names the
    // executable and the reason).
    child_process(net::any_io_executor executor, const child_spec& spec, child_callbacks callbacks);
    ~child_process();
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;

    int pid() const { return pid_; }
    // The leader's start time in clock ticks since boot (/proc/PID/stat field 22): with the pid
    // and the boot id it identifies the process group across restarts of the service.
    std::int64_t start_time() const { return start_time_; }

    // Runs until the child has exited and its output is drained. Call once.
    net::awaitable<child_result> wait();

    // SIGTERM to the group now, SIGKILL after the grace period. Idempotent.
    void stop(stop_cause cause);

    // Implementation detail, shared with the coroutines draining the pipes.
    struct state;

private:
    std::shared_ptr<state> state_;
    int pid_ = -1;
    std::int64_t start_time_ = 0;
};

// Process identity helpers shared with start-up recovery.
std::string current_boot_id();
std::optional<std::int64_t> process_start_time(int pid);
// Pids of live processes in process group `pgid` that started at or after `min_start_time`.
std::vector<int> process_group_members(int pgid, std::int64_t min_start_time);

}  // namespace raydeploy
