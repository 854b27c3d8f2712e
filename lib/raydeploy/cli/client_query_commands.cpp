// `raydeploy status`, `executions` and `logs`: read what the service knows, as text for people
// or as the service's own JSON for scripts (--format json).
#include "raydeploy/cli/cli.hpp"
#include "raydeploy/cli/client_commands.hpp"
#include "raydeploy/cli/commands.hpp"
#include "raydeploy/util/net.hpp"

#include <boost/json/serialize.hpp>

#include <algorithm>
#include <iomanip>
#include <ostream>

namespace raydeploy::cli {

namespace po = boost::program_options;
namespace json = boost::json;

namespace {

std::string text_or(const json::object& object, std::string_view key, std::string_view fallback = "-")
{
    const std::string value = json_string(object, key);
    return value.empty() ? std::string{fallback} : value;
}

std::string list_text(const json::value* value)
{
    std::string out;
    if (!value || !value->is_array()) return out;
    for (const auto& item : value->get_array())
        if (item.is_string()) out += (out.empty() ? "" : ", ") + std::string{item.get_string()};
    return out;
}

std::string integer_text(const json::object& object, std::string_view key)
{
    const auto* value = object.if_contains(key);
    if (value && value->is_int64()) return std::to_string(value->get_int64());
    if (value && value->is_uint64()) return std::to_string(value->get_uint64());
    return "?";
}

// Host names in the order people sort them: digit runs by their value, so host2 comes before host10.
bool host_before(std::string_view a, std::string_view b)
{
    const auto digit = [](char c) { return c >= '0' && c <= '9'; };
    std::size_t i = 0, j = 0;
    while (i < a.size() && j < b.size()) {
        if (digit(a[i]) && digit(b[j])) {
            const std::size_t a_start = i, b_start = j;
            while (i < a.size() && digit(a[i])) ++i;
            while (j < b.size() && digit(b[j])) ++j;
            auto a_run = a.substr(a_start, i - a_start), b_run = b.substr(b_start, j - b_start);
            while (a_run.size() > 1 && a_run.front() == '0') a_run.remove_prefix(1);
            while (b_run.size() > 1 && b_run.front() == '0') b_run.remove_prefix(1);
            if (a_run.size() != b_run.size()) return a_run.size() < b_run.size();
            if (a_run != b_run) return a_run < b_run;
            continue;
        }
        if (a[i] != b[j]) return a[i] < b[j];
        ++i;
        ++j;
    }
    if (a.size() - i != b.size() - j) return a.size() - i < b.size() - j;
    return a < b;  // same up to leading zeros: any fixed order will do
}

// The members of a per-host object by host name: the service lists them in the order the hosts
// first reported, which differs from run to run.
std::vector<const json::key_value_pair*> by_host(const json::object& hosts)
{
    std::vector<const json::key_value_pair*> members;
    for (const auto& member : hosts) members.push_back(&member);
    std::sort(members.begin(), members.end(),
              [](const auto* a, const auto* b) { return host_before(a->key(), b->key()); });
    return members;
}

void print_execution(std::ostream& out, const json::object& execution)
{
    out << "execution " << json_string(execution, "execution_id") << " of " << json_string(execution, "checkpoint")
        << ": " << json_string(execution, "status") << "\n";
    out << "  created:  " << text_or(execution, "created_at") << "\n";
    out << "  started:  " << text_or(execution, "started_at") << "\n";
    out << "  finished: " << text_or(execution, "finished_at") << "\n";
    if (const auto deployment = json_string(execution, "deployment_id"); !deployment.empty())
        out << "  deployment: " << deployment << "\n";
    if (const auto* progress = execution.if_contains("progress"); progress && progress->is_object()) {
        const auto& object = progress->get_object();
        if (!json_string(object, "task").empty())
            out << "  task:     " << json_string(object, "task") << " (" << integer_text(object, "tasks_done") << " of "
                << integer_text(object, "tasks_started") << " started tasks done)\n";
    }
    if (const auto* error = execution.if_contains("error"); error && !error->is_null())
        out << "  error:    " << describe_execution_error(*error) << "\n";
    else if (const auto reason = json_string(execution, "status_reason"); !reason.empty())
        out << "  reason:   " << reason << "\n";
    if (const auto* hosts = execution.if_contains("host_summary"); hosts && hosts->is_object() && !hosts->get_object().empty()) {
        out << "  hosts:\n";
        for (const auto* member : by_host(hosts->get_object())) {
            const std::string_view host = member->key();
            const json::value& counts = member->value();
            if (!counts.is_object()) continue;
            const auto& c = counts.get_object();
            out << "    " << std::left << std::setw(20) << std::string{host} << " ok=" << integer_text(c, "ok")
                << " changed=" << integer_text(c, "changed") << " failures=" << integer_text(c, "failures")
                << " unreachable=" << integer_text(c, "unreachable") << " skipped=" << integer_text(c, "skipped") << "\n";
        }
    }
}

// A published value for one line: strings as they are, anything else as compact JSON.
std::string value_text(const json::value& value)
{
    return value.is_string() ? std::string{value.get_string()} : json::serialize(value);
}

// "key=value key=value" for an object, compact JSON for anything else.
std::string facts_text(const json::value& value)
{
    if (!value.is_object()) return value_text(value);
    std::string out;
    for (const auto& [key, item] : value.get_object()) {
        if (!out.empty()) out += ' ';
        out += std::string{key} + "=" + value_text(item);
    }
    return out.empty() ? "-" : out;
}

// What the checkpoint published (results per node, summary), and where its report is.
void print_results(std::ostream& out, const json::object& execution, const std::string& report_hint)
{
    const auto* results = execution.if_contains("results");
    if (!results || !results->is_object()) return;
    const auto& object = results->get_object();
    const auto* nodes = object.if_contains("nodes");
    if (nodes && nodes->is_object() && !nodes->get_object().empty()) {
        out << "  results:\n";
        for (const auto* member : by_host(nodes->get_object()))
            out << "    " << std::left << std::setw(20) << std::string{member->key()} << " " << facts_text(member->value())
                << "\n";
    }
    if (const auto* summary = object.if_contains("summary"); summary && !summary->is_null())
        out << "  summary:  " << facts_text(*summary) << "\n";
    if (const auto* warnings = object.if_contains("warnings"); warnings && warnings->is_array())
        for (const auto& warning : warnings->get_array())
            if (warning.is_string()) out << "  warning:  " << std::string{warning.get_string()} << "\n";
    const auto* has_report = execution.if_contains("has_report");
    if (has_report && has_report->is_bool() && has_report->get_bool()) out << "  report:   " << report_hint << "\n";
}

// ", for RUN" naming what an approval record approves: its scope and non-default parameters.
std::string run_parameters(const json::object& record)
{
    std::string scope = json_string(record, "scope");
    std::string text = scope == "deployment" ? ", for deployment " + json_string(record, "deployment_id")
                       : scope == "anyone"   ? ", for anyone"
                                             : "";
    const auto* params = record.if_contains("params");
    if (!params || !params->is_object()) return text;
    const auto& run = params->get_object();
    if (const auto* limit = run.if_contains("limit"); limit && limit->is_string())
        text += ", limit " + std::string{limit->get_string()};
    if (const auto* check = run.if_contains("check"); check && check->is_bool() && check->get_bool()) text += ", check mode";
    if (const auto* vars = run.if_contains("extra_vars"); vars && vars->is_object() && !vars->get_object().empty()) {
        text += ", extra_vars";
        for (const auto& member : vars->get_object()) text += " " + std::string{member.key()};
    }
    return text;
}

void print_approval_check(std::ostream& out, const json::object& check)
{
    const auto* required = check.if_contains("approval_required");
    const auto* destructive = check.if_contains("destructive_operation");
    const bool is_required = required && required->is_bool() && required->get_bool();
    const bool is_destructive = destructive && destructive->is_bool() && destructive->get_bool();
    out << json_string(check, "checkpoint") << ": "
        << (is_required ? "approval required" : "no approval needed") << (is_destructive ? " (destructive)" : "") << "\n";
    if (const auto* impact = check.if_contains("impact_summary"); impact && impact->is_array())
        for (const auto& line : impact->get_array())
            if (line.is_string()) out << "  impact: " << std::string{line.get_string()} << "\n";
    // Running it now would end this; each request below shows what it was asked with.
    if (const auto* live = check.if_contains("live_impact"); live && live->is_object())
        for (const auto& line : live_impact_lines(live->get_object())) out << "  live impact now: " << line << "\n";
    // Every request and grant, each with the run it approves: an approval is bound to it.
    const auto records = [&](std::string_view key) {
        std::vector<json::object> out;
        if (const auto* items = check.if_contains(key); items && items->is_array())
            for (const auto& item : items->get_array())
                if (item.is_object()) out.push_back(item.get_object());
        return out;
    };
    const auto pending = records("pending_requests");
    for (const auto& record : pending) {
        out << "  pending request: " << json_string(record, "id") << " by " << text_or(record, "requested_by") << " at "
            << text_or(record, "requested_at") << run_parameters(record) << "\n";
        if (const auto* live = record.if_contains("live_impact"); live && live->is_object())
            for (const auto& line : live_impact_lines(live->get_object()))
                out << "    live impact shown: " << line << "\n";
    }
    if (pending.empty()) out << "  pending request: none\n";
    const auto grants = records("grants");
    for (const auto& record : grants) {
        out << "  grant: " << json_string(record, "id") << " by " << text_or(record, "approved_by") << ", usable until "
            << text_or(record, "expires_at") << " (reason: " << text_or(record, "reason") << ")" << run_parameters(record)
            << "\n";
        if (const auto* live = record.if_contains("live_impact"); live && live->is_object()) {
            const auto* acknowledged = record.if_contains("acknowledge_running_work");
            const bool running_acknowledged = acknowledged && acknowledged->is_bool() && acknowledged->get_bool();
            for (const auto& line : live_impact_lines(live->get_object()))
                out << (running_acknowledged ? "    running work acknowledged: " : "    live impact shown: ") << line << "\n";
        }
    }
    if (grants.empty()) out << "  grant: none\n";
}

}  // namespace

void print_execution_status(std::ostream& out, const json::object& execution, const std::string& report_hint)
{
    print_execution(out, execution);
    print_results(out, execution, report_hint);
}

int status_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err)
{
    client_command_spec spec{"status", "[--checkpoint NAME | --health-only | --approval-check NAME] [--format text|json]",
                             "Shows the deployment status of the cluster (default), the latest execution of\n"
                             "a checkpoint, the service's health, or whether a checkpoint needs an approval\n"
                             "and has one."};
    spec.visible.add_options()("checkpoint", po::value<std::string>()->value_name("NAME"),
                               "the latest execution of this checkpoint, with its details and results")(
        "health-only", "only whether the service answers, and the cluster's health")(
        "approval-check", po::value<std::string>()->value_name("NAME"),
        "the checkpoint's approval policy, pending request and current grant");
    add_format_option(spec);
    int code = 0;
    const auto vm = parse_client_command(spec, args, out, err, code);
    if (!vm) return code;
    const auto as_json = json_format(*vm, "status", err);
    if (!as_json) return exit_usage;
    const int modes = static_cast<int>(vm->count("checkpoint") + vm->count("health-only") + vm->count("approval-check"));
    if (modes > 1)
        return usage_error(err, "status", "--checkpoint, --health-only and --approval-check exclude each other; pick one");

    return run_client_command(err, [&] {
        const auto connection = service_connection::open(*vm, err);
        const api_client& api = connection.api();
        if (vm->count("health-only")) {
            const auto health = api.get_json("/health").as_object();
            const auto cluster = api.get_json("/api/v1/cluster/status").as_object();
            const auto* cluster_health = cluster.if_contains("cluster_health");
            const json::value health_value = cluster_health ? *cluster_health : json::value(nullptr);
            if (*as_json) {
                out << json::serialize(json::object{{"service", health}, {"cluster_health", health_value}}) << "\n";
            } else {
                out << "service: " << json_string(health, "status") << " (version " << json_string(health, "version")
                    << ", up " << integer_text(health, "uptime_s") << "s)\n";
                out << "cluster health: "
                    << (health_value.is_object() ? text_or(health_value.get_object(), "overall_status", "UNKNOWN")
                                                 : std::string{"UNKNOWN"})
                    << "\n";
            }
            return exit_ok;
        }
        if (vm->count("approval-check")) {
            const std::string name = (*vm)["approval-check"].as<std::string>();
            const auto check = api.get_json("/api/v1/approvals/" + name);
            if (*as_json)
                out << json::serialize(check) << "\n";
            else
                print_approval_check(out, check.as_object());
            return exit_ok;
        }
        if (vm->count("checkpoint")) {
            const std::string name = (*vm)["checkpoint"].as<std::string>();
            // An unknown name answers 404 here instead of an empty list below.
            api.get_json("/api/v1/checkpoints/" + name);
            const auto list = api.get_json("/api/v1/executions?checkpoint=" + url_encode(name) + "&limit=1").as_object();
            const auto* items = list.if_contains("executions");
            if (!items || !items->is_array() || items->get_array().empty()) {
                if (*as_json)
                    out << "null\n";
                else
                    out << name << ": never run\n";
                return exit_ok;
            }
            const std::string id = json_string(items->get_array().front().as_object(), "execution_id");
            const auto execution = api.get_json("/api/v1/executions/" + id);
            if (*as_json) {
                out << json::serialize(execution) << "\n";
            } else {
                const std::string report = "/api/v1/executions/" + id + "/report";
                std::string hint = "GET " + report + " (JSON; ?format=markdown for Markdown)";
                if (!connection.in_process()) {
                    hint += "\n            curl -s '" + api.server().text() + report + "?format=markdown'";
                    if (api.has_token()) hint += " -H \"Authorization: Bearer $RAYDEPLOY_TOKEN\"";
                }
                print_execution_status(out, execution.as_object(), hint);
            }
            return exit_ok;
        }
        const auto cluster = api.get_json("/api/v1/cluster/status");
        if (*as_json) {
            out << json::serialize(cluster) << "\n";
            return exit_ok;
        }
        const auto& object = cluster.as_object();
        const auto* completed = object.if_contains("completed_checkpoints");
        const std::size_t done = completed && completed->is_array() ? completed->get_array().size() : 0;
        out << "deployment: " << json_string(object, "deployment_status");
        if (const auto id = json_string(object, "deployment_id"); !id.empty()) out << " (" << id << ")";
        out << "\ncheckpoints completed: " << done << " of " << integer_text(object, "total_checkpoints");
        if (done) out << " (" << list_text(completed) << ")";
        const auto* health = object.if_contains("cluster_health");
        out << "\ncluster health: "
            << (health && health->is_object() ? text_or(health->get_object(), "overall_status", "UNKNOWN")
                                              : std::string{"UNKNOWN"})
            << "\n";
        return exit_ok;
    });
}

int executions_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err)
{
    client_command_spec spec{"executions", "[--checkpoint NAME] [--status STATUS] [--limit N] [--format text|json]",
                             "Lists executions, newest first."};
    spec.visible.add_options()("checkpoint", po::value<std::string>()->value_name("NAME"), "only this checkpoint's")(
        "status", po::value<std::string>()->value_name("STATUS"),
        "only those in this status (queued, running, succeeded, failed, cancelled, timed_out, interrupted)")(
        "limit", po::value<int>()->default_value(20)->value_name("N"), "at most N (1 to 500)");
    add_format_option(spec);
    int code = 0;
    const auto vm = parse_client_command(spec, args, out, err, code);
    if (!vm) return code;
    const auto as_json = json_format(*vm, "executions", err);
    if (!as_json) return exit_usage;
    const int limit = (*vm)["limit"].as<int>();
    if (limit < 1 || limit > 500) return usage_error(err, "executions", "--limit must be from 1 to 500");

    std::string target = "/api/v1/executions?limit=" + std::to_string(limit);
    if (vm->count("checkpoint")) target += "&checkpoint=" + url_encode((*vm)["checkpoint"].as<std::string>());
    if (vm->count("status")) target += "&status=" + url_encode((*vm)["status"].as<std::string>());

    return run_client_command(err, [&] {
        const auto connection = service_connection::open(*vm, err);
        const auto list = connection.api().get_json(target);
        if (*as_json) {
            out << json::serialize(list) << "\n";
            return exit_ok;
        }
        const auto* items = list.as_object().if_contains("executions");
        std::vector<json::object> rows;
        if (items && items->is_array())
            for (const auto& item : items->get_array())
                if (item.is_object()) rows.push_back(item.get_object());
        if (rows.empty()) {
            out << "no executions\n";
            return exit_ok;
        }
        std::size_t checkpoint_width = 10;
        for (const auto& row : rows) checkpoint_width = std::max(checkpoint_width, json_string(row, "checkpoint").size());
        const int name_column = static_cast<int>(checkpoint_width) + 2;
        out << std::left << std::setw(25) << "EXECUTION" << std::setw(name_column) << "CHECKPOINT" << std::setw(13)
            << "STATUS" << std::setw(26) << "CREATED" << std::setw(26) << "FINISHED"
            << "DEPLOYMENT\n";
        for (const auto& row : rows)
            out << std::setw(25) << json_string(row, "execution_id") << std::setw(name_column)
                << json_string(row, "checkpoint") << std::setw(13) << json_string(row, "status") << std::setw(26)
                << text_or(row, "created_at") << std::setw(26) << text_or(row, "finished_at")
                << text_or(row, "deployment_id") << "\n";
        const auto* next = list.as_object().if_contains("next_cursor");
        if (next && next->is_string()) out << "(the newest " << rows.size() << "; --limit shows more)\n";
        return exit_ok;
    });
}

int logs_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err)
{
    client_command_spec spec{"logs", "EXECUTION_ID [--follow]",
                             "Prints an execution's Ansible output; with --follow, keeps printing it as it\n"
                             "is written until the execution ends."};
    spec.visible.add_options()("follow,f", "keep printing until the execution ends");
    spec.hidden.add_options()("execution", po::value<std::string>());
    spec.positional.add("execution", 1);
    int code = 0;
    const auto vm = parse_client_command(spec, args, out, err, code);
    if (!vm) return code;
    if (!vm->count("execution")) return usage_error(err, "logs", "which execution? usage: raydeploy logs EXECUTION_ID");
    const std::string id = (*vm)["execution"].as<std::string>();

    return run_client_command(err, [&] {
        const auto connection = service_connection::open(*vm, err);
        const std::string target = "/api/v1/executions/" + url_encode(id) + "/log";
        // Streamed either way: a log can be larger than anything worth holding in memory.
        connection.api().stream(vm->count("follow") ? target + "?follow=1" : target,
                                [&](std::string_view data) { out << data << std::flush; });
        return exit_ok;
    });
}

}  // namespace raydeploy::cli
