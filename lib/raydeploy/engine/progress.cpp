// Progress tracking from Ansible events.
#include "raydeploy/engine/progress.hpp"

#include <boost/json/serialize.hpp>

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

std::string size_text(std::size_t bytes)
{
    constexpr std::size_t kib = 1024;
    if (bytes >= kib * kib && bytes % (kib * kib) == 0) return std::to_string(bytes / (kib * kib)) + " MiB";
    if (bytes >= kib && bytes % kib == 0) return std::to_string(bytes / kib) + " KiB";
    return std::to_string(bytes) + " bytes";
}

// A number from the child's lines as a count: 0 unless it is a whole number an int64 holds (the
// lines are not trusted, and Boost.JSON's throwing conversion would end the reading of them).
std::int64_t count_of(const json::value& value)
{
    boost::system::error_code ec;
    const auto count = value.to_number<std::int64_t>(ec);
    return ec ? 0 : count;
}

// The callback plugin replaces set_stats data larger than its res_limit with this stand-in.
std::optional<std::int64_t> truncated_size(const json::object& data)
{
    if (!flag_of(data, "_raydeploy_truncated")) return std::nullopt;
    const json::value* size = data.if_contains("size");
    return size && size->is_number() ? count_of(*size) : -1;
}

std::string plugin_truncated_warning(std::string_view what, std::int64_t size, std::string_view lost)
{
    std::string out{what};
    out += " set_stats data was ";
    out += size >= 0 ? size_text(static_cast<std::size_t>(size)) : std::string{"too large"};
    out += ", over the callback plugin's limit (RAYDEPLOY_EVENT_RES_LIMIT, 64 KiB by default): ";
    out += lost;
    out += " not received; publish less, or raise the limit";
    return out;
}

}  // namespace

checkpoint_results extract_checkpoint_results(const json::object& event_data, std::size_t limit)
{
    checkpoint_results out;
    const json::object& run = object_of(event_data, "artifact_data");
    const json::object& per_host = object_of(event_data, "artifact_data_per_host");

    json::object nodes;
    if (auto size = truncated_size(per_host)) {
        out.warnings.push_back(plugin_truncated_warning("the per-host", *size, "raydeploy_node of every host was"));
    } else {
        for (const auto& [host, stats] : per_host) {
            if (!stats.is_object()) continue;
            if (const json::value* node = stats.get_object().if_contains("raydeploy_node")) nodes[host] = *node;
        }
    }
    json::value summary = nullptr;
    if (auto size = truncated_size(run)) {
        out.warnings.push_back(plugin_truncated_warning("the run-wide", *size, "raydeploy_summary and raydeploy_report were"));
    } else {
        if (const json::value* value = run.if_contains("raydeploy_summary")) summary = *value;
        if (const json::value* report = run.if_contains("raydeploy_report"); report && !report->is_null()) {
            if (!report->is_object()) {
                out.warnings.push_back("raydeploy_report is not an object with \"json\" and \"markdown\"; it was ignored");
            } else {
                const json::object& parts = report->get_object();
                if (const json::value* document = parts.if_contains("json"); document && !document->is_null()) {
                    const std::size_t size = json::serialize(*document).size();
                    if (size > limit)
                        out.warnings.push_back("raydeploy_report.json is " + size_text(size) + ", over the limit of " +
                                               size_text(limit) + "; it was not stored");
                    else
                        out.report.json = *document;
                }
                if (const json::value* markdown = parts.if_contains("markdown"); markdown && !markdown->is_null()) {
                    if (!markdown->is_string())
                        out.warnings.push_back("raydeploy_report.markdown is not a string; it was ignored");
                    else if (markdown->get_string().size() > limit)
                        out.warnings.push_back("raydeploy_report.markdown is " + size_text(markdown->get_string().size()) +
                                               ", over the limit of " + size_text(limit) + "; it was not stored");
                    else
                        out.report.markdown = std::string{markdown->get_string()};
                }
            }
        }
    }

    out.results = json::object{{"nodes", std::move(nodes)}, {"summary", std::move(summary)}};
    if (const std::size_t size = json::serialize(out.results).size(); size > limit) {
        out.warnings.push_back("the results (raydeploy_node of every host and raydeploy_summary) are " + size_text(size) +
                               ", over the limit of " + size_text(limit) + "; they were not stored, publish less");
        out.results = json::object{{"nodes", json::object{}}, {"summary", nullptr}};
    }
    if (!out.warnings.empty()) {
        json::array warnings;
        for (const auto& warning : out.warnings) warnings.emplace_back(warning);
        out.results["warnings"] = std::move(warnings);
    }
    return out;
}

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
                counts.get_object()[target] = count_of(value);
            }
        }
        for (const auto& [host_name, value] : object_of(data, "processed")) {
            (void)value;
            if (!summary.contains(host_name)) summary[host_name] = empty_host_counts();
        }
        host_summary_ = std::move(summary);
        artifacts_ = object_of(data, "artifact_data");
        results_ = extract_checkpoint_results(data);
    }
}

json::object execution_progress::progress() const
{
    const long done = finished_ ? tasks_started_ : std::max(0L, tasks_started_ - 1);
    return {{"play", play_}, {"task", task_}, {"tasks_started", tasks_started_}, {"tasks_done", done}};
}

}  // namespace raydeploy
