// `raydeploy cluster`, `apps`, `jobs` and `nodes`: the Ray cluster as the service sees it, and its
// Serve applications, jobs and (for a cluster launched on CML) worker nodes operated through the
// service (which audits every change). Text is aligned tables for people; --format json prints the
// service's own JSON for scripts.
#include "raydeploy/cli/cli.hpp"
#include "raydeploy/cli/client_commands.hpp"
#include "raydeploy/cli/commands.hpp"
#include "raydeploy/util/errors.hpp"
#include "raydeploy/util/net.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <fstream>
#include <iomanip>
#include <ostream>
#include <sstream>
#include <thread>

namespace raydeploy::cli {

namespace po = boost::program_options;
namespace json = boost::json;

namespace {

using row = std::vector<std::string>;

// Columns padded to their widest cell, two spaces apart; the last column is not padded.
void print_table(std::ostream& out, const row& header, const std::vector<row>& rows)
{
    std::vector<std::size_t> widths(header.size());
    for (std::size_t i = 0; i < header.size(); ++i) widths[i] = header[i].size();
    for (const auto& r : rows)
        for (std::size_t i = 0; i < r.size() && i < widths.size(); ++i) widths[i] = std::max(widths[i], r[i].size());
    auto print_row = [&](const row& r) {
        std::string line;
        for (std::size_t i = 0; i < r.size(); ++i) {
            line += r[i];
            if (i + 1 < r.size()) line += std::string(widths[i] - r[i].size() + 2, ' ');
        }
        out << line << "\n";
    };
    print_row(header);
    for (const auto& r : rows) print_row(r);
}

// A member as text: strings as they are, numbers and booleans in JSON, "-" for null or missing.
std::string cell(const json::object& object, std::string_view key)
{
    const auto* value = object.if_contains(key);
    if (!value || value->is_null()) return "-";
    if (value->is_string()) return value->get_string().empty() ? "-" : std::string{value->get_string()};
    return json::serialize(*value);
}

// A resource amount as people write it: 16, 2.5, 44.7 (JSON would print 2.5E0 for a double).
std::string amount(const json::value* value)
{
    if (!value || !value->is_number()) return "0";
    if (!value->is_double()) return json::serialize(*value);
    std::ostringstream text;
    text << std::setprecision(6) << value->get_double();
    return text.str();
}

std::string shortened(std::string text, std::size_t max)
{
    if (text.size() <= max) return text;
    return text.substr(0, max - 3) + "...";
}

std::vector<json::object> objects_in(const json::object& body, std::string_view key)
{
    std::vector<json::object> items;
    if (const auto* list = body.if_contains(key); list && list->is_array())
        for (const auto& item : list->get_array())
            if (item.is_object()) items.push_back(item.get_object());
    return items;
}

// The last line of a text view: how old the picture is, and why it may be stale.
void print_freshness(std::ostream& out, const json::object& body)
{
    const auto* source = body.if_contains("source");
    const json::object empty;
    const auto& src = source && source->is_object() ? source->get_object() : empty;
    out << "observed at " << cell(body, "observed_at") << " (Ray dashboard " << cell(src, "state") << ")\n";
    if (const auto error = cell(src, "last_error"); error != "-") out << "last error: " << error << "\n";
}

// A JSON option's text: inline, or the content of FILE for "@FILE".
std::string json_text(const std::string& value, const std::string& option)
{
    if (value.empty() || value.front() != '@') return value;
    const std::string file = value.substr(1);
    std::ifstream in{file};
    if (!in) throw config_error{option + " " + value + ": cannot be read; give a file holding JSON"};
    std::ostringstream content;
    content << in.rdbuf();
    return content.str();
}

// A JSON value option (inline or @FILE) that must be an object, or with `list` a list.
json::value json_option(const po::variables_map& vm, const std::string& name, bool list = false)
{
    const std::string option = "--" + name;
    boost::system::error_code ec;
    auto value = json::parse(json_text(vm[name].as<std::string>(), option), ec);
    if (ec || (list ? !value.is_array() : !value.is_object()))
        throw config_error{option + (list ? ": expected a JSON list (inline, or @FILE), such as '[{\"name\": \"Model\", "
                                            "\"num_replicas\": 2}]'"
                                          : ": expected a JSON object (inline, or @FILE), such as '{\"num_cpus\": 1}'")};
    return value;
}

// The in-process service polls Ray right after it starts; reading its snapshot before that poll
// ended would show an empty cluster. A service reached with --server has long polled.
void wait_for_first_poll(const service_connection& connection)
{
    if (!connection.in_process()) return;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{15};
    while (std::chrono::steady_clock::now() < deadline) {
        const auto status = connection.api().get_json("/api/v1/cluster/status").as_object();
        const auto* source = status.if_contains("source");
        if (source && source->is_object() && cell(source->get_object(), "state") != "UNKNOWN") return;
        std::this_thread::sleep_for(std::chrono::milliseconds{100});
    }
}

// The action and its argument: `raydeploy jobs show ID`.
struct action_args {
    std::string action;
    std::string target;
};

client_command_spec action_spec(std::string name, std::string synopsis, std::string description)
{
    client_command_spec spec{std::move(name), std::move(synopsis), std::move(description)};
    spec.hidden.add_options()("action", po::value<std::string>())("target", po::value<std::string>());
    spec.positional.add("action", 1).add("target", 1);
    add_format_option(spec);
    return spec;
}

std::optional<action_args> actions_of(const po::variables_map& vm, std::string_view command,
                                      std::initializer_list<std::string_view> actions, std::string_view fallback,
                                      std::initializer_list<std::string_view> with_target, std::ostream& err)
{
    action_args args{vm.count("action") ? vm["action"].as<std::string>() : std::string{fallback},
                     vm.count("target") ? vm["target"].as<std::string>() : std::string{}};
    std::string names;
    for (auto name : actions) names += (names.empty() ? "" : ", ") + std::string{name};
    if (args.action.empty() || std::find(actions.begin(), actions.end(), args.action) == actions.end()) {
        usage_error(err, command, "what to do? one of " + names + (args.action.empty() ? "" : ", not '" + args.action + "'"));
        return std::nullopt;
    }
    const bool wants_target = std::find(with_target.begin(), with_target.end(), args.action) != with_target.end();
    if (wants_target && args.target.empty()) {
        usage_error(err, command, std::string{command} + " " + args.action + " needs a name or id");
        return std::nullopt;
    }
    if (!wants_target && !args.target.empty()) {
        usage_error(err, command, std::string{command} + " " + args.action + " takes no argument ('" + args.target + "')");
        return std::nullopt;
    }
    return args;
}

// ----------------------------------------------------------------------------------------- cluster

void print_cluster_status(std::ostream& out, const json::object& status)
{
    const auto* health = status.if_contains("cluster_health");
    const json::object empty;
    const auto& h = health && health->is_object() ? health->get_object() : empty;
    const auto* ray = h.if_contains("ray_cluster");
    const auto* monitoring = h.if_contains("monitoring");
    out << "cluster:      " << cell(h, "overall_status") << " (ray "
        << (ray && ray->is_object() ? cell(ray->get_object(), "status") : "-") << ", monitoring "
        << (monitoring && monitoring->is_object() ? cell(monitoring->get_object(), "status") : "-") << ")\n";
    out << "nodes:        " << cell(status, "alive_nodes") << " alive of " << cell(status, "total_nodes") << "\n";
    out << "applications: " << cell(status, "total_applications") << "\n";
    if (const auto* resources = status.if_contains("resources"); resources && resources->is_object()) {
        const auto& r = resources->get_object();
        out << "CPUs:         " << cell(r, "available_cpus") << " of " << cell(r, "total_cpus") << " available ("
            << cell(r, "utilization_percent") << "% used)\n";
        out << "GPUs:         " << cell(r, "available_gpus") << " of " << cell(r, "total_gpus") << " available\n";
        out << "memory (GB):  " << cell(r, "available_memory") << " of " << cell(r, "total_memory") << " available\n";
    }
    out << "deployment:   " << cell(status, "deployment_status") << " (" << cell(status, "total_checkpoints")
        << " checkpoints)\n";
    print_freshness(out, status);
}

void print_nodes(std::ostream& out, const json::object& body)
{
    std::vector<row> rows;
    for (const auto& node : objects_in(body, "nodes")) {
        const auto* resources = node.if_contains("resources");
        const json::object empty;
        const auto& r = resources && resources->is_object() ? resources->get_object() : empty;
        rows.push_back({shortened(cell(node, "node_id"), 12), cell(node, "node_name"), cell(node, "node_ip"),
                        cell(node, "node_type"), cell(node, "state"), cell(r, "CPU"), cell(r, "GPU"), cell(r, "memory")});
    }
    if (rows.empty())
        out << "no nodes known\n";
    else
        print_table(out, {"NODE", "NAME", "IP", "TYPE", "STATE", "CPUS", "GPUS", "MEMORY_GB"}, rows);
    out << cell(body, "alive_nodes") << " alive of " << cell(body, "total_nodes") << "; ";
    print_freshness(out, body);
}

}  // namespace

int cluster_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err)
{
    auto spec = action_spec("cluster", "[status|info|nodes|capacity] [--format text|json]",
                            "The Ray cluster as the service last polled it: its health and resources (status,\n"
                            "the default), where it is (info), its nodes, or its capacity.");
    int code = 0;
    const auto vm = parse_client_command(spec, args, out, err, code);
    if (!vm) return code;
    const auto as_json = json_format(*vm, "cluster", err);
    if (!as_json) return exit_usage;
    const auto what = actions_of(*vm, "cluster", {"status", "info", "nodes", "capacity"}, "status", {}, err);
    if (!what) return exit_usage;
    const std::string target = what->action == "status" ? "/api/v1/cluster/status"
                               : what->action == "info" ? "/api/v1/cluster/info"
                                                        : "/api/v1/resources/" + what->action;
    return run_client_command(err, [&] {
        const auto connection = service_connection::open(*vm, err);
        wait_for_first_poll(connection);
        const auto body = connection.api().get_json(target);
        if (*as_json) {
            out << json::serialize(body) << "\n";
            return exit_ok;
        }
        const auto& object = body.as_object();
        if (what->action == "status") {
            print_cluster_status(out, object);
        } else if (what->action == "nodes") {
            print_nodes(out, object);
        } else if (what->action == "info") {
            for (const std::string_view key : {"cluster_name", "head_address", "dashboard_url", "ray_version",
                                               "serve_http_port", "management_api_url"})
                out << std::left << std::setw(20) << (std::string{key} + ":") << cell(object, key) << "\n";
            print_freshness(out, object);
        } else {
            print_table(out, {"RESOURCE", "AVAILABLE", "TOTAL"},
                        {{"CPUs", cell(object, "available_cpus"), cell(object, "total_cpus")},
                         {"GPUs", cell(object, "available_gpus"), cell(object, "total_gpus")},
                         {"memory (GB)", cell(object, "available_memory"), cell(object, "total_memory")}});
            out << "utilization: " << cell(object, "utilization_percent") << "% of the CPUs\n";
            print_freshness(out, object);
        }
        return exit_ok;
    });
}

// -------------------------------------------------------------------------------------------- apps

int apps_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err)
{
    auto spec = action_spec(
        "apps", "list | show NAME | deploy --name NAME --import-path MODULE:ATTR [...] | delete NAME [--format text|json]",
        "Ray Serve applications: list them, show one with its deployments, deploy (or\n"
        "redeploy) one, or delete one. Deploy and delete change only the named application:\n"
        "the service keeps every other one as Serve runs it. Both return once Serve accepted\n"
        "the change; 'raydeploy apps show NAME' follows the application to RUNNING.");
    spec.visible.add_options()("name", po::value<std::string>()->value_name("NAME"), "deploy: the application's name")(
        "import-path", po::value<std::string>()->value_name("MODULE:ATTR"), "deploy: where Serve finds the application")(
        "route-prefix", po::value<std::string>()->value_name("PATH"), "deploy: the HTTP path it serves (default /NAME)")(
        "num-replicas", po::value<int>()->value_name("N"), "deploy: replicas of each deployment")(
        "ray-actor-options", po::value<std::string>()->value_name("JSON"),
        "deploy: each replica's resources, e.g. '{\"num_cpus\": 1}' (or @FILE)")(
        "runtime-env", po::value<std::string>()->value_name("JSON"), "deploy: the runtime environment (or @FILE)")(
        "deployments", po::value<std::string>()->value_name("JSON"),
        "deploy: per-deployment settings, '[{\"name\": \"Model\", \"num_replicas\": 2}]' (or @FILE)")(
        "body", po::value<std::string>()->value_name("FILE"),
        "deploy: the whole request body from a JSON file; the flags above override its fields");
    int code = 0;
    const auto vm = parse_client_command(spec, args, out, err, code);
    if (!vm) return code;
    const auto as_json = json_format(*vm, "apps", err);
    if (!as_json) return exit_usage;
    const auto what = actions_of(*vm, "apps", {"list", "show", "deploy", "delete"}, "list", {"show", "delete"}, err);
    if (!what) return exit_usage;

    json::object request;
    if (what->action == "deploy") {
        if (vm->count("body")) {
            boost::system::error_code ec;
            auto body = json::parse(json_text("@" + (*vm)["body"].as<std::string>(), "--body"), ec);
            if (ec || !body.is_object()) throw config_error{"--body: the file must hold a JSON object (the request body)"};
            request = std::move(body.get_object());
        }
        if (vm->count("name")) request["name"] = (*vm)["name"].as<std::string>();
        if (vm->count("import-path")) request["import_path"] = (*vm)["import-path"].as<std::string>();
        if (vm->count("route-prefix")) request["route_prefix"] = (*vm)["route-prefix"].as<std::string>();
        if (vm->count("num-replicas")) request["num_replicas"] = (*vm)["num-replicas"].as<int>();
        if (vm->count("ray-actor-options")) request["ray_actor_options"] = json_option(*vm, "ray-actor-options");
        if (vm->count("runtime-env")) request["runtime_env"] = json_option(*vm, "runtime-env");
        if (vm->count("deployments")) request["deployments"] = json_option(*vm, "deployments", true);
        if (!request.contains("name") || !request.contains("import_path"))
            return usage_error(err, "apps", "apps deploy needs --name and --import-path (or a --body file with both)");
    }

    return run_client_command(err, [&] {
        const auto connection = service_connection::open(*vm, err);
        const api_client& api = connection.api();
        if (what->action == "deploy") {
            const auto answer = api.send_json(http::verb::post, "/api/v1/applications", request, 202);
            if (*as_json) {
                out << json::serialize(answer) << "\n";
            } else {
                const auto& object = answer.as_object();
                out << "deploying " << cell(object, "name") << " at " << cell(object, "route_prefix")
                    << "; follow it with 'raydeploy apps show " << cell(object, "name") << "'\n";
            }
            return exit_ok;
        }
        if (what->action == "delete") {
            const auto answer = api.request(http::verb::delete_, "/api/v1/applications/" + url_encode(what->target));
            if (answer.status != 202) throw_unexpected(answer, "deleting the application");
            if (*as_json)
                out << answer.body << "\n";
            else
                out << "deleting " << what->target << "; the other applications are untouched\n";
            return exit_ok;
        }
        wait_for_first_poll(connection);
        if (what->action == "show") {
            const auto body = api.get_json("/api/v1/applications/" + url_encode(what->target));
            if (*as_json) {
                out << json::serialize(body) << "\n";
                return exit_ok;
            }
            const auto& app = body.as_object();
            out << "application " << cell(app, "name") << ": " << cell(app, "status") << "\n";
            out << "  route prefix:  " << cell(app, "route_prefix") << "\n";
            out << "  replicas:      " << cell(app, "running_replicas") << " running of " << cell(app, "num_replicas") << "\n";
            out << "  last deployed: " << cell(app, "last_deployed_time") << "\n";
            if (const auto message = cell(app, "message"); message != "-") out << "  message:       " << message << "\n";
            std::vector<row> rows;
            for (const auto& deployment : objects_in(app, "deployments"))
                rows.push_back({cell(deployment, "name"), cell(deployment, "status"), cell(deployment, "running_replicas"),
                                cell(deployment, "target_num_replicas"), shortened(cell(deployment, "message"), 60)});
            if (!rows.empty()) print_table(out, {"DEPLOYMENT", "STATUS", "RUNNING", "TARGET", "MESSAGE"}, rows);
            print_freshness(out, app);
            return exit_ok;
        }
        const auto body = api.get_json("/api/v1/applications");
        if (*as_json) {
            out << json::serialize(body) << "\n";
            return exit_ok;
        }
        std::vector<row> rows;
        for (const auto& app : objects_in(body.as_object(), "applications"))
            rows.push_back({cell(app, "name"), cell(app, "status"), cell(app, "route_prefix"),
                            cell(app, "running_replicas") + "/" + cell(app, "num_replicas"), cell(app, "last_deployed_time"),
                            shortened(cell(app, "message"), 60)});
        if (rows.empty())
            out << "no Serve applications\n";
        else
            print_table(out, {"NAME", "STATUS", "ROUTE", "REPLICAS", "LAST_DEPLOYED", "MESSAGE"}, rows);
        print_freshness(out, body.as_object());
        return exit_ok;
    });
}

// -------------------------------------------------------------------------------------------- jobs

int jobs_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err)
{
    auto spec = action_spec("jobs",
                            "list [--status S,...] | show ID | submit --entrypoint CMD [...] | stop ID | logs ID "
                            "[--format text|json]",
                            "Ray jobs: list them, show one, submit one, stop one, or print its log.");
    spec.visible.add_options()("status", po::value<std::string>()->value_name("STATUSES"),
                               "list: only jobs in these statuses (PENDING, RUNNING, STOPPED, SUCCEEDED, FAILED; "
                               "comma-separated)")(
        "entrypoint", po::value<std::string>()->value_name("CMD"), "submit: the shell command the job runs")(
        "runtime-env", po::value<std::string>()->value_name("JSON"), "submit: the runtime environment (or @FILE)")(
        "metadata", po::value<std::vector<std::string>>()->value_name("KEY=VALUE")->composing(),
        "submit: a metadata entry (repeatable)")(
        "submission-id", po::value<std::string>()->value_name("ID"), "submit: the job's id (default: Ray picks one)");
    int code = 0;
    const auto vm = parse_client_command(spec, args, out, err, code);
    if (!vm) return code;
    const auto as_json = json_format(*vm, "jobs", err);
    if (!as_json) return exit_usage;
    const auto what =
        actions_of(*vm, "jobs", {"list", "show", "submit", "stop", "logs"}, "list", {"show", "stop", "logs"}, err);
    if (!what) return exit_usage;

    json::object submission;
    if (what->action == "submit") {
        if (!vm->count("entrypoint")) return usage_error(err, "jobs", "jobs submit needs --entrypoint CMD");
        submission["entrypoint"] = (*vm)["entrypoint"].as<std::string>();
        if (vm->count("runtime-env")) submission["runtime_env"] = json_option(*vm, "runtime-env");
        if (vm->count("submission-id")) submission["submission_id"] = (*vm)["submission-id"].as<std::string>();
        if (vm->count("metadata")) {
            json::object metadata;
            for (const auto& entry : (*vm)["metadata"].as<std::vector<std::string>>()) {
                const auto equals = entry.find('=');
                if (equals == std::string::npos || equals == 0)
                    return usage_error(err, "jobs", "--metadata takes KEY=VALUE, not '" + entry + "'");
                metadata[entry.substr(0, equals)] = entry.substr(equals + 1);
            }
            submission["metadata"] = std::move(metadata);
        }
    }

    return run_client_command(err, [&] {
        const auto connection = service_connection::open(*vm, err);
        const api_client& api = connection.api();
        const std::string job_path = "/api/v1/jobs/" + url_encode(what->target);
        if (what->action == "submit") {
            const auto answer = api.send_json(http::verb::post, "/api/v1/jobs", submission, 202);
            if (*as_json)
                out << json::serialize(answer) << "\n";
            else
                out << "submitted " << cell(answer.as_object(), "submission_id") << "; follow it with 'raydeploy jobs show "
                    << cell(answer.as_object(), "submission_id") << "'\n";
            return exit_ok;
        }
        if (what->action == "stop") {
            const auto answer = api.send_json(http::verb::post, job_path + "/stop", json::object{}, 200);
            if (*as_json) {
                out << json::serialize(answer) << "\n";
            } else {
                const auto* stopped = answer.as_object().if_contains("stopped");
                out << (stopped && stopped->is_bool() && stopped->get_bool()
                            ? "stopping " + what->target + "; it ends STOPPED shortly\n"
                            : what->target + " had already ended; nothing to stop\n");
            }
            return exit_ok;
        }
        if (what->action == "logs") {
            const auto answer = api.get_json(job_path + "/logs");
            if (*as_json) {
                out << json::serialize(answer) << "\n";
            } else if (const auto* logs = answer.as_object().if_contains("logs"); logs && logs->is_string()) {
                out << std::string_view{logs->get_string()};
            }
            return exit_ok;
        }
        wait_for_first_poll(connection);
        if (what->action == "show") {
            const auto body = api.get_json(job_path);
            if (*as_json) {
                out << json::serialize(body) << "\n";
                return exit_ok;
            }
            const auto& job = body.as_object();
            out << "job " << cell(job, "submission_id") << ": " << cell(job, "status") << "\n";
            for (const std::string_view key : {"entrypoint", "type", "job_id", "message", "error_type", "start_time",
                                               "end_time", "driver_exit_code", "metadata", "runtime_env"})
                if (const auto value = cell(job, key); value != "-")
                    out << "  " << std::left << std::setw(18) << (std::string{key} + ":") << value << "\n";
            print_freshness(out, job);
            return exit_ok;
        }
        std::string target = "/api/v1/jobs";
        if (vm->count("status")) target += "?status=" + url_encode((*vm)["status"].as<std::string>());
        const auto body = api.get_json(target);
        if (*as_json) {
            out << json::serialize(body) << "\n";
            return exit_ok;
        }
        std::vector<row> rows;
        for (const auto& job : objects_in(body.as_object(), "jobs")) {
            const auto id = cell(job, "submission_id");
            rows.push_back({id == "-" ? cell(job, "job_id") : id, cell(job, "status"), cell(job, "start_time"),
                            cell(job, "end_time"), shortened(cell(job, "entrypoint"), 60)});
        }
        if (rows.empty())
            out << "no jobs\n";
        else
            print_table(out, {"JOB", "STATUS", "STARTED", "ENDED", "ENTRYPOINT"}, rows);
        print_freshness(out, body.as_object());
        return exit_ok;
    });
}

// ------------------------------------------------------------------------------------------- nodes

namespace {

// "used/total" of one resource of a node in the nodes view; "-" when the node has none of it, "?"
// for the used part when Ray did not say (the view leaves it out rather than claim 0).
std::string usage_of(const json::object& node, std::string_view resource)
{
    const auto* totals = node.if_contains("resources");
    const auto* used = node.if_contains("resources_used");
    const json::value* total = totals && totals->is_object() ? totals->get_object().if_contains(resource) : nullptr;
    if (!total) return "-";
    const json::value* in_use = used && used->is_object() ? used->get_object().if_contains(resource) : nullptr;
    return (in_use ? amount(in_use) : std::string{"?"}) + "/" + amount(total);
}

void print_node_list(std::ostream& out, const json::object& body)
{
    std::vector<row> rows;
    for (const auto& node : objects_in(body, "nodes"))
        rows.push_back({cell(node, "node_name"), cell(node, "node_type"), cell(node, "node_ip"), cell(node, "state"),
                        usage_of(node, "CPU"), usage_of(node, "GPU"), cell(node, "cml_app_id")});
    if (rows.empty())
        out << "no nodes known\n";
    else
        print_table(out, {"NAME", "TYPE", "IP", "STATE", "CPU", "GPU", "CML_APP_ID"}, rows);
    out << cell(body, "alive_nodes") << " alive of " << cell(body, "total_nodes") << "; ";
    print_freshness(out, body);
}

}  // namespace

int nodes_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err)
{
    auto spec = action_spec("nodes", "list | add --cpu N --memory GB [--gpus N] | remove APP_ID [--force] [--format text|json]",
                            "The Ray cluster's nodes (list, the default: CPU and GPU columns are used/total), and\n"
                            "the workers of a cluster launch-ray-cluster started on CML: add one (a new CML\n"
                            "application that joins the cluster; cml.node_* events follow it until Ray lists it\n"
                            "ALIVE) or remove one by its CML application id (the CML_APP_ID column). add and\n"
                            "remove need the operator role, and launch-ray-cluster to have run.");
    spec.visible.add_options()("cpu", po::value<double>()->value_name("N"), "add: the worker's vCPUs, e.g. 8")(
        "memory", po::value<double>()->value_name("GB"), "add: the worker's memory in GB, e.g. 32")(
        "gpus", po::value<int>()->value_name("N"), "add: the worker's GPUs (default 0)")(
        "force", "remove: even while Ray work runs on the node (that work ends)");
    int code = 0;
    const auto vm = parse_client_command(spec, args, out, err, code);
    if (!vm) return code;
    const auto as_json = json_format(*vm, "nodes", err);
    if (!as_json) return exit_usage;
    const auto what = actions_of(*vm, "nodes", {"list", "add", "remove"}, "list", {"remove"}, err);
    if (!what) return exit_usage;

    json::object request;
    if (what->action == "add") {
        if (!vm->count("cpu") || !vm->count("memory"))
            return usage_error(err, "nodes", "nodes add needs --cpu N and --memory GB");
        request["cpu"] = (*vm)["cpu"].as<double>();
        request["memory"] = (*vm)["memory"].as<double>();
        request["node_type"] = "worker";
        if (vm->count("gpus")) request["gpus"] = (*vm)["gpus"].as<int>();
    }
    const bool force = vm->count("force") > 0;

    return run_client_command(err, [&] {
        const auto connection = service_connection::open(*vm, err);
        const api_client& api = connection.api();
        if (what->action == "add") {
            const auto answer = api.send_json(http::verb::post, "/api/v1/resources/nodes/add", request, 202);
            if (*as_json) {
                out << json::serialize(answer) << "\n";
            } else {
                const auto& added = answer.as_object();
                out << "adding " << cell(added, "app_name") << " (CML application " << cell(added, "app_id") << ", "
                    << amount(added.if_contains("cpu")) << " CPU, " << amount(added.if_contains("memory")) << " GB, "
                    << amount(added.if_contains("gpus")) << " GPU): " << cell(added, "app_status")
                    << "; 'raydeploy nodes list' shows it once Ray lists it\n";
            }
            return exit_ok;
        }
        if (what->action == "remove") {
            const std::string target =
                "/api/v1/resources/nodes/" + url_encode(what->target) + (force ? "?force=true" : "");
            const auto answer = api.request(http::verb::delete_, target);
            if (answer.status != 200) {
                try {
                    throw_unexpected(answer, "removing the node");
                } catch (const service_error& e) {
                    // The service names its query parameter; the command's flag is what to type here.
                    if (e.code() != "NODE_BUSY") throw;
                    throw service_error{e.status(), e.code(),
                                        std::string{e.what()} + " (here: raydeploy nodes remove " + what->target + " --force)",
                                        e.body()};
                }
            }
            if (*as_json) {
                out << answer.body << "\n";
            } else {
                const auto removed = answer.json();
                out << "removed " << cell(removed.as_object(), "app_name") << " (CML application " << what->target
                    << ")\n";
            }
            return exit_ok;
        }
        wait_for_first_poll(connection);
        const auto body = api.get_json("/api/v1/resources/nodes");
        if (*as_json) {
            out << json::serialize(body) << "\n";
            return exit_ok;
        }
        print_node_list(out, body.as_object());
        return exit_ok;
    });
}

}  // namespace raydeploy::cli
