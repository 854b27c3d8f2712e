// Progress tracking from Ansible events.
#include "raydeploy/engine/progress.hpp"

namespace raydeploy {
namespace {

namespace json = boost::json;

std::string text_of(const json::object& object, std::string_view key)
{
    const json::value* value = object.if_contains(key);
    return value && value->is_string() ? std::string{value->get_string()} : std::string{};
}

bool flag_of(const json::object& object, std::string_view key)
{
    const json::value* value = object.if_contains(key);
    return value && value->is_bool() && value->get_bool();
}

const json::object& object_of(const json::object& object, std::string_view key)
{
    static const json::object empty;
    const json::value* value = object.if_contains(key);
    return value && value->is_object() ? value->get_object() : empty;
}

json::object empty_host_counts()
{
    return {{"ok", 0}, {"changed", 0}, {"failures", 0}, {"unreachable", 0}, {"skipped", 0}, {"rescued", 0}, {"ignored", 0}};
}

}  // namespace

void execution_progress::count(const std::string& host, const char* key)
{
    if (host.empty()) return;
    json::value& counts = host_summary_[host];
    if (!counts.is_object()) counts = empty_host_counts();
    json::value& slot = counts.get_object()[key];
    slot = slot.to_number<std::int64_t>() + 1;
}

void execution_progress::observe(const json::object& ansible_event)
{
    const std::string name = text_of(ansible_event, "event");
    const json::object& data = object_of(ansible_event, "event_data");
    const std::string host = text_of(data, "host");

    if (name == "playbook_on_play_start") {
        play_ = text_of(data, "play");
        if (play_.empty()) play_ = text_of(data, "name");
    } else if (name == "playbook_on_task_start" || name == "playbook_on_handler_task_start") {
        task_ = text_of(data, "task");
        if (task_.empty()) task_ = text_of(data, "name");
        ++tasks_started_;
    } else if (name == "runner_on_ok") {
        count(host, "ok");
        if (flag_of(data, "changed") || flag_of(object_of(data, "res"), "changed")) count(host, "changed");
    } else if (name == "runner_on_skipped") {
        count(host, "skipped");
    } else if (name == "runner_on_failed") {
        const bool ignored = flag_of(data, "ignore_errors");
        count(host, ignored ? "ignored" : "failures");
        if (!ignored && !first_error_) {
            std::string message = text_of(object_of(data, "res"), "msg");
            if (message.empty()) message = text_of(ansible_event, "stdout");
            first_error_ = json::object{{"task", text_of(data, "task")}, {"host", host}, {"message", message}};
        }
    } else if (name == "runner_on_unreachable") {
        count(host, "unreachable");
        if (!first_error_) {
            std::string message = text_of(object_of(data, "res"), "msg");
            first_error_ = json::object{{"task", text_of(data, "task")},
                                        {"host", host},
                                        {"message", "host unreachable: " + message}};
        }
    } else if (name == "playbook_on_stats") {
        finished_ = true;
        // Ansible's recap is authoritative (it knows about rescues and handlers we may not).
        json::object summary;
        const std::pair<const char*, const char*> keys[] = {{"ok", "ok"},           {"changed", "changed"},
                                                            {"failures", "failures"}, {"dark", "unreachable"},
                                                            {"skipped", "skipped"}, {"rescued", "rescued"},
                                                            {"ignored", "ignored"}};
        for (const auto& [source, target] : keys) {
            for (const auto& [host_name, value] : object_of(data, source)) {
                json::value& counts = summary[host_name];
                if (!counts.is_object()) counts = empty_host_counts();
                counts.get_object()[target] = value.is_number() ? value.to_number<std::int64_t>() : 0;
            }
        }
        for (const auto& [host_name, value] : object_of(data, "processed")) {
            (void)value;
            if (!summary.contains(host_name)) summary[host_name] = empty_host_counts();
        }
        host_summary_ = std::move(summary);
        artifacts_ = object_of(data, "artifact_data");
    }
}

json::object execution_progress::progress() const
{
    const long done = finished_ ? tasks_started_ : std::max(0L, tasks_started_ - 1);
    return {{"play", play_}, {"task", task_}, {"tasks_started", tasks_started_}, {"tasks_done", done}};
}

}  // namespace raydeploy
