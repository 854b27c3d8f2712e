// How `raydeploy run`, `deploy` and `resume` show a run while they follow it. Sans-I/O: the
// commands feed it what they learn from the service (step statuses, Ansible events, gates) with
// the time they learned it, and it writes to an ostream; unit tests drive it with a fake clock.
//
// Two styles:
// - terminal: one status line rewritten in place ("[2/6] docker-installation | task: Install
//   packages | hosts 2/3 | 1m05s"), with lasting lines above it for step changes and failures;
// - plain (CI logs): one line per task start and per step change, each prefixed with an RFC 3339
//   UTC timestamp, and a "still running" heartbeat after `heartbeat` of silence. With GitHub
//   Actions, each checkpoint's lines sit in a `::group::` and failures become `::error::` lines.
//
// @par Thread safety
// Unsafe; one follower owns it.
#pragma once

#include <boost/json/fwd.hpp>

#include <chrono>
#include <cstddef>
#include <iosfwd>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace raydeploy::cli {

enum class progress_style { terminal, plain };

struct progress_options {
    progress_style style = progress_style::plain;
    bool github_actions = false;  // plain style only: ::group:: / ::endgroup:: / ::error:: lines
    std::chrono::milliseconds heartbeat{std::chrono::seconds{30}};
    std::size_t width = 0;  // terminal style: columns the status line may use (0: no limit)
};

using wall_time = std::chrono::system_clock::time_point;

// What a gate needs for someone to decide it.
struct gate_info {
    std::string checkpoint;
    bool destructive = false;
    std::vector<std::string> impact_summary;
    std::string approve_command;  // a command that grants it (curl ...); may be empty
    std::string approval_id;      // the request waiting; empty when unknown
    // What running it would end on the Ray cluster, as lines to show (read_live_impact); empty
    // when the service showed none.
    std::vector<std::string> live_impact;
    bool running_work = false;  // a grant must acknowledge running work (acknowledge_running_work)
    std::string approve_url;    // the WebUI's approval dialog for it; may be empty
};

class progress_printer {
public:
    progress_printer(std::ostream& out, progress_options options);

    // The checkpoints the run goes through, in order: "n of m" counts in this list.
    void plan(std::vector<std::string> checkpoints, wall_time now);

    // A checkpoint's step status as the service reports it: pending, awaiting_approval, denied,
    // queued, running, succeeded, failed, cancelled, timed_out, interrupted. Repeats are ignored.
    // `detail` explains a final status that is not success ("task X on host2: message").
    void step_status(std::string_view checkpoint, std::string_view status, wall_time now, std::string_view detail = {});

    // One event of the current checkpoint's execution, as GET /executions/{id}/events returns it.
    // Task starts and host results are shown; everything else is ignored.
    void event(const boost::json::object& event, wall_time now);

    // The run waits at a gate: says what is needed and, once per gate, how to grant it.
    void awaiting_approval(const gate_info& gate, wall_time now);

    // A line of its own (an outcome, a hint), timestamped in the plain style.
    void note(std::string_view line, wall_time now);
    // An error line: `::error::` with GitHub Actions.
    void error(std::string_view line, wall_time now);

    // Call often (every poll): redraws the status line or writes a heartbeat when due.
    void tick(wall_time now);

    // Clears the terminal's status line so that something else (a prompt) can write; the next
    // tick() draws it again.
    void pause();

    // Ends the output: clears the status line, closes an open group.
    void finish(wall_time now);

private:
    struct checkpoint_state {
        std::string status;
        std::optional<wall_time> started;
    };

    void line(std::string_view text, wall_time now);
    void clear_status_line();
    void draw_status_line(wall_time now);
    void open_group(const std::string& checkpoint);
    void close_group();
    std::string position(std::string_view checkpoint) const;  // "[2/6] name"
    std::string current_activity(wall_time now) const;

    std::ostream& out_;
    progress_options options_;
    std::vector<std::string> plan_;
    std::map<std::string, checkpoint_state, std::less<>> checkpoints_;
    wall_time started_{};
    wall_time last_output_{};
    std::string current_;  // checkpoint now running, "" between checkpoints
    std::string task_;
    wall_time task_started_{};
    std::set<std::string> hosts_started_;  // hosts the current task started on
    std::set<std::string> hosts_done_;     // hosts that reported a result for the current task
    std::optional<gate_info> gate_;        // the gate being waited at
    wall_time gate_since_{};
    std::set<std::string> gates_shown_;    // checkpoints whose approve command was printed
    std::string open_group_;
    bool status_line_shown_ = false;
    std::string status_line_;  // what the terminal shows now
};

// Escapes text for a GitHub Actions workflow command (%, CR, LF).
std::string github_escape(std::string_view text);

// "1m30s" with whole seconds, for elapsed times.
std::string format_elapsed(std::chrono::milliseconds value);

}  // namespace raydeploy::cli
