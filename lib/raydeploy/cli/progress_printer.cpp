// Rendering of a followed run for terminals and CI logs (see progress_printer.hpp). No I/O
// besides the ostream it is given, and no clock besides the times it is fed.
#include "raydeploy/cli/progress_printer.hpp"

#include "raydeploy/util/duration.hpp"
#include "raydeploy/util/time.hpp"

#include <boost/json/object.hpp>

#include <algorithm>
#include <ostream>
#include <sstream>

namespace raydeploy::cli {

namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

bool is_final_step(std::string_view status)
{
    return status == "succeeded" || status == "failed" || status == "cancelled" || status == "timed_out" ||
           status == "interrupted" || status == "denied";
}

std::string string_at(const boost::json::object& object, std::string_view key)
{
    const auto* value = object.if_contains(key);
    return value && value->is_string() ? std::string{value->get_string()} : std::string{};
}

// The message of a failed or unreachable host result: Ansible puts it in res.msg.
std::string result_message(const boost::json::object& event_data)
{
    const auto* res = event_data.if_contains("res");
    if (!res || !res->is_object()) return {};
    std::string message = string_at(res->get_object(), "msg");
    if (const auto newline = message.find('\n'); newline != std::string::npos) message = message.substr(0, newline) + " ...";
    return message;
}

// A task name quoted for a log line.
std::string quoted(std::string_view text) { return "\"" + std::string{text} + "\""; }

// Cuts `text` to `width` columns counting UTF-8 code points, so a cut never splits a character.
std::string fit(std::string text, std::size_t width)
{
    if (width == 0) return text;
    std::size_t columns = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if ((static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) continue;
        if (++columns > width) return text.substr(0, i);
    }
    return text;
}

}  // namespace

std::string github_escape(std::string_view text)
{
    std::string out;
    for (const char c : text) {
        if (c == '%')
            out += "%25";
        else if (c == '\r')
            out += "%0D";
        else if (c == '\n')
            out += "%0A";
        else
            out += c;
    }
    return out;
}

std::string format_elapsed(milliseconds value)
{
    return format_duration(duration_cast<std::chrono::seconds>(std::max(value, milliseconds{0})));
}

progress_printer::progress_printer(std::ostream& out, progress_options options) : out_{out}, options_{options} {}

void progress_printer::plan(std::vector<std::string> checkpoints, wall_time now)
{
    plan_ = std::move(checkpoints);
    started_ = now;
    last_output_ = now;
}

std::string progress_printer::position(std::string_view checkpoint) const
{
    const auto it = std::find(plan_.begin(), plan_.end(), checkpoint);
    if (it == plan_.end()) return std::string{checkpoint};
    return "[" + std::to_string(it - plan_.begin() + 1) + "/" + std::to_string(plan_.size()) + "] " +
           std::string{checkpoint};
}

void progress_printer::step_status(std::string_view checkpoint, std::string_view status, wall_time now,
                                   std::string_view detail)
{
    auto& state = checkpoints_[std::string{checkpoint}];
    if (state.status == status) return;
    state.status = std::string{status};
    // Not reached yet, or resumed back to the start: nothing happened worth a line.
    if (status == "pending") return;
    // awaiting_approval() tells the whole story of a gate, with what to do about it.
    if (status == "awaiting_approval") return;

    if (gate_ && gate_->checkpoint == checkpoint) gate_.reset();
    if (status == "queued" || status == "running") {
        if (current_ != checkpoint) {
            current_ = std::string{checkpoint};
            task_.clear();
            hosts_started_.clear();
            hosts_done_.clear();
        }
        if (!state.started) state.started = now;
        open_group(current_);
        line(position(checkpoint) + ": " + std::string{status}, now);
        return;
    }

    std::string text = position(checkpoint) + ": " + (status == "denied" ? "approval denied" : std::string{status});
    if (state.started && is_final_step(status)) text += " after " + format_elapsed(duration_cast<milliseconds>(now - *state.started));
    if (!detail.empty() && status != "succeeded") text += ": " + std::string{detail};
    // Forget the checkpoint before the line: the status line drawn under it must not show it any more.
    if (current_ == checkpoint) {
        current_.clear();
        task_.clear();
        hosts_started_.clear();
        hosts_done_.clear();
    }
    line(text, now);
    if (is_final_step(status)) close_group();
    if (status != "succeeded" && is_final_step(status) && options_.github_actions && options_.style == progress_style::plain)
        error("checkpoint " + std::string{checkpoint} + " " + (status == "denied" ? "approval denied" : std::string{status}) +
                  (detail.empty() ? "" : ": " + std::string{detail}),
              now);
}

void progress_printer::event(const boost::json::object& event, wall_time now)
{
    const std::string type = string_at(event, "type");
    if (type.rfind("ansible.", 0) != 0) return;
    const auto* data_value = event.if_contains("event_data");
    if (!data_value || !data_value->is_object()) return;
    const auto& data = data_value->get_object();
    const std::string_view name = std::string_view{type}.substr(8);

    if (name == "playbook_on_task_start" || name == "playbook_on_handler_task_start") {
        const std::string task = string_at(data, "task");
        if (task.empty()) return;
        task_ = task;
        task_started_ = now;
        hosts_started_.clear();
        hosts_done_.clear();
        // On a terminal the status line shows the task; CI logs get one line per task.
        if (options_.style == progress_style::plain) line(position(current_) + ": task " + quoted(task), now);
        return;
    }
    const std::string host = string_at(data, "host");
    if (host.empty()) return;
    if (name == "runner_on_start") {
        hosts_started_.insert(host);
        return;
    }
    if (name != "runner_on_ok" && name != "runner_on_failed" && name != "runner_on_skipped" &&
        name != "runner_on_unreachable")
        return;
    hosts_done_.insert(host);
    const auto* ignored = data.if_contains("ignore_errors");
    const bool ignore_errors = ignored && ignored->is_bool() && ignored->get_bool();
    if (name == "runner_on_failed" && !ignore_errors) {
        const std::string message = result_message(data);
        line(position(current_) + ": " + host + " failed in " + quoted(string_at(data, "task")) +
                 (message.empty() ? "" : ": " + message),
             now);
    } else if (name == "runner_on_unreachable") {
        const std::string message = result_message(data);
        line(position(current_) + ": " + host + " unreachable" + (message.empty() ? "" : ": " + message), now);
    }
}

void progress_printer::awaiting_approval(const gate_info& gate, wall_time now)
{
    const bool same_gate = gate_ && gate_->checkpoint == gate.checkpoint;
    if (!same_gate) gate_since_ = now;
    gate_ = gate;
    if (gates_shown_.count(gate.checkpoint)) return;
    gates_shown_.insert(gate.checkpoint);
    close_group();
    line(position(gate.checkpoint) + ": waiting for an approval" + (gate.destructive ? " (destructive checkpoint)" : ""),
         now);
    for (const auto& impact : gate.impact_summary) line("  impact: " + impact, now);
    for (const auto& impact : gate.live_impact) line("  live impact: " + impact, now);
    if (!gate.approve_command.empty()) line("  approve it with: " + gate.approve_command, now);
    if (!gate.approve_url.empty()) line("  or in a browser: " + gate.approve_url, now);
}

void progress_printer::note(std::string_view text, wall_time now) { line(text, now); }

void progress_printer::error(std::string_view text, wall_time now)
{
    if (options_.github_actions && options_.style == progress_style::plain) {
        // Workflow commands must start the line: no timestamp in front.
        out_ << "::error::" << github_escape(text) << "\n" << std::flush;
        last_output_ = now;
        return;
    }
    line(text, now);
}

void progress_printer::tick(wall_time now)
{
    if (options_.style == progress_style::terminal) {
        draw_status_line(now);
        return;
    }
    if (now - last_output_ < options_.heartbeat) return;
    std::string activity = current_activity(now);
    line(activity.rfind("waiting", 0) == 0 ? "still " + activity : "still running: " + activity, now);
}

void progress_printer::pause() { clear_status_line(); }

void progress_printer::finish(wall_time now)
{
    (void)now;
    clear_status_line();
    close_group();
    out_ << std::flush;
}

std::string progress_printer::current_activity(wall_time now) const
{
    if (gate_)
        return "waiting for an approval of " + gate_->checkpoint + ", elapsed " +
               format_elapsed(duration_cast<milliseconds>(now - gate_since_));
    if (!current_.empty()) {
        if (!task_.empty())
            return current_ + ": task " + quoted(task_) + ", elapsed " +
                   format_elapsed(duration_cast<milliseconds>(now - task_started_));
        const auto it = checkpoints_.find(current_);
        const wall_time since = it != checkpoints_.end() && it->second.started ? *it->second.started : started_;
        return current_ + ", elapsed " + format_elapsed(duration_cast<milliseconds>(now - since));
    }
    return "waiting for the service to start the next step, elapsed " +
           format_elapsed(duration_cast<milliseconds>(now - started_));
}

void progress_printer::line(std::string_view text, wall_time now)
{
    last_output_ = now;
    if (options_.style == progress_style::terminal) {
        clear_status_line();
        out_ << text << "\n";
        draw_status_line(now);
        return;
    }
    // Each physical line gets its own timestamp, so a CI log can be grepped line by line.
    std::istringstream lines{std::string{text}};
    const std::string stamp = format_timestamp(now);
    for (std::string each; std::getline(lines, each);) out_ << stamp << " " << each << "\n";
    out_ << std::flush;
}

void progress_printer::clear_status_line()
{
    if (!status_line_shown_) return;
    out_ << "\r\033[K";
    status_line_shown_ = false;
}

void progress_printer::draw_status_line(wall_time now)
{
    std::string text;
    const std::string elapsed = format_elapsed(duration_cast<milliseconds>(now - started_));
    if (gate_) {
        text = position(gate_->checkpoint) + " | waiting for an approval | " + elapsed;
    } else if (!current_.empty()) {
        text = position(current_);
        if (!task_.empty()) text += " | task: " + task_;
        if (!hosts_started_.empty() || !hosts_done_.empty())
            text += " | hosts " + std::to_string(hosts_done_.size()) + "/" +
                    std::to_string(std::max(hosts_started_.size(), hosts_done_.size()));
        text += " | " + elapsed;
    } else {
        text = "waiting for the service | " + elapsed;
    }
    // A line wider than the terminal wraps, and "\r" would then rewrite only its last row.
    text = fit(std::move(text), options_.width > 0 ? options_.width - 1 : 0);
    if (status_line_shown_ && text == status_line_) return;  // redrawing the same text only flickers
    out_ << "\r\033[K" << text << std::flush;
    status_line_ = std::move(text);
    status_line_shown_ = true;
}

void progress_printer::open_group(const std::string& checkpoint)
{
    if (!options_.github_actions || options_.style != progress_style::plain || open_group_ == checkpoint) return;
    close_group();
    out_ << "::group::checkpoint " << github_escape(checkpoint) << "\n";
    open_group_ = checkpoint;
}

void progress_printer::close_group()
{
    if (open_group_.empty()) return;
    out_ << "::endgroup::\n";
    open_group_.clear();
}

}  // namespace raydeploy::cli
