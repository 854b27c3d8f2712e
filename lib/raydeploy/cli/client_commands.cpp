// Shared plumbing of the client commands: options, reaching the service, the console, the
// approval prompt and exit codes (see client_commands.hpp).
#include "raydeploy/cli/client_commands.hpp"

#include "raydeploy/auth/tokens.hpp"
#include "raydeploy/cli/cli.hpp"
#include "raydeploy/cli/commands.hpp"
#include "raydeploy/cli/local_service.hpp"
#include "raydeploy/util/net.hpp"
#include "raydeploy/config/settings.hpp"
#include "raydeploy/store/state_store.hpp"
#include "raydeploy/util/duration.hpp"
#include "raydeploy/util/errors.hpp"


#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <pwd.h>
#include <sys/ioctl.h>
#include <unistd.h>

namespace raydeploy::cli {

namespace po = boost::program_options;

const std::string_view client_exit_codes_help =
    "Exit codes:\n"
    "  0  succeeded\n"
    "  1  a checkpoint failed (or the service refused the request in its current state)\n"
    "  2  usage or configuration error (including an unknown checkpoint or execution)\n"
    "  3  approval denied or expired, or --approval-timeout reached\n"
    "  4  cancelled\n"
    "  5  service unreachable or authentication failed\n";

namespace {

std::string trim(std::string text)
{
    const auto first = text.find_first_not_of(" \t\r\n");
    if (first == std::string::npos) return {};
    const auto last = text.find_last_not_of(" \t\r\n");
    return text.substr(first, last - first + 1);
}

po::options_description service_options()
{
    po::options_description options{
        "Service (with --server or RAYDEPLOY_SERVER; without, the engine runs in this process on the state "
        "directory, configured by the settings below)"};
    options.add_options()("server", po::value<std::string>()->value_name("URL"),
                          "the raydeploy service, http://HOST:PORT or https://HOST:PORT (also RAYDEPLOY_SERVER)")(
        "token-file", po::value<std::string>()->value_name("FILE"),
        "file whose first line is the bearer token (default: RAYDEPLOY_TOKEN)")(
        "ca-file", po::value<std::string>()->value_name("FILE"),
        "PEM CA certificate(s) that an https:// server's certificate must chain to (also RAYDEPLOY_CA_FILE; "
        "default: the system's trusted CAs)");
    const auto settings = settings_options({"state_dir", "catalog", "inventory", "ansible_playbook"});
    for (const auto& option : settings.options()) options.add(option);
    return options;
}

std::optional<std::string> line_from(std::istream& in)
{
    std::string line;
    if (!std::getline(in, line)) return std::nullopt;
    return trim(line);
}

// Asks until the operator gives a non-empty reason; nullopt at end of input or after three empty answers.
std::optional<std::string> ask_reason(std::istream& in, std::ostream& out, std::string_view question)
{
    for (int attempt = 0; attempt < 3; ++attempt) {
        out << question << std::flush;
        const auto answer = line_from(in);
        if (!answer) return std::nullopt;
        if (!answer->empty()) return answer;
        out << "A reason is required: it is recorded with the decision.\n";
    }
    return std::nullopt;
}

}  // namespace

std::optional<po::variables_map> parse_client_command(client_command_spec& spec, const std::vector<std::string>& args,
                                                      std::ostream& out, std::ostream& err, int& exit_code)
{
    spec.visible.add_options()("help,h", "show this help");
    po::options_description shown;
    shown.add(spec.visible).add(service_options());
    po::options_description all;
    all.add(shown).add(spec.hidden);

    po::variables_map vm;
    try {
        po::store(po::command_line_parser(args).options(all).positional(spec.positional).run(), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        exit_code = usage_error(err, spec.name, e.what());
        return std::nullopt;
    }
    if (vm.count("help")) {
        print_command_help(out, spec.name, spec.synopsis, spec.description, shown);
        out << "\n" << client_exit_codes_help;
        exit_code = exit_ok;
        return std::nullopt;
    }
    return vm;
}

void add_format_option(client_command_spec& spec)
{
    spec.visible.add_options()("format", po::value<std::string>()->default_value("text")->value_name("FORMAT"),
                               "text (for people) or json (the service's JSON, for scripts)");
}

std::optional<bool> json_format(const po::variables_map& vm, std::string_view command, std::ostream& err)
{
    const std::string format = vm["format"].as<std::string>();
    if (format == "json") return true;
    if (format == "text") return false;
    usage_error(err, command, "--format must be text or json, not '" + format + "'");
    return std::nullopt;
}

int usage_error(std::ostream& err, std::string_view command, std::string_view message)
{
    print_error(err, std::string{command} + ": " + std::string{message} + "; run 'raydeploy " + std::string{command} +
                         " --help' for the options");
    return exit_usage;
}

std::optional<std::string> token_from(const po::variables_map& vm, const std::map<std::string, std::string>& environment)
{
    if (vm.count("token-file")) {
        const std::string file = vm["token-file"].as<std::string>();
        std::ifstream in{file};
        if (!in) throw config_error{"--token-file " + file + ": cannot be read; give the file that holds the token"};
        std::string token;
        std::getline(in, token);
        token = trim(token);
        if (token.empty())
            throw config_error{"--token-file " + file + ": the first line is empty; it must hold the token "
                                                        "('raydeploy token create' makes one)"};
        return token;
    }
    if (auto it = environment.find("RAYDEPLOY_TOKEN"); it != environment.end() && !trim(it->second).empty())
        return trim(it->second);
    return std::nullopt;
}

service_connection service_connection::open(const po::variables_map& vm, std::ostream& err)
{
    const auto environment = current_environment();
    std::optional<std::string> server;
    if (vm.count("server"))
        server = vm["server"].as<std::string>();
    else if (auto it = environment.find("RAYDEPLOY_SERVER"); it != environment.end() && !it->second.empty())
        server = it->second;
    auto token = token_from(vm, environment);

    client_tls tls;
    if (vm.count("ca-file")) {
        tls.ca_file = vm["ca-file"].as<std::string>();
    } else if (auto it = environment.find("RAYDEPLOY_CA_FILE"); it != environment.end() && !it->second.empty()) {
        tls.ca_file = it->second;
        tls.ca_source = "RAYDEPLOY_CA_FILE";
    }

    service_connection connection;
    if (server) {
        connection.client_.emplace(parse_server_url(*server), std::move(token), client_timeouts{}, tls);
        return connection;
    }
    const settings config = settings_from(vm);
    // A `raydeploy serve` on the same state directory published where it listens: talk to it as
    // with --server (its tokens, if it has any, come from RAYDEPLOY_TOKEN or --token-file).
    if (auto running = find_published_endpoint(config.state_dir)) {
        err << "raydeploy: talking to the service on " << config.state_dir.string() << " at " << running->url
            << " (pid " << running->pid << ")\n";
        connection.client_.emplace(parse_server_url(running->url), std::move(token), client_timeouts{}, tls);
        return connection;
    }
    // The in-process service records everything under the person running the command: the name
    // `approve --as` gives, else the login name.
    std::string person = vm.count("as") ? vm["as"].as<std::string>() : login_name();
    if (auto problem = token_name_problem(person)) {
        if (vm.count("as")) throw config_error{"--as: " + *problem};
        person = "local";
    }
    err << "raydeploy: no --server or RAYDEPLOY_SERVER given: running the engine in-process on "
        << config.state_dir.string() << "\n";
    std::shared_ptr<local_service> local;
    try {
        local = std::make_shared<local_service>(config, person);
    } catch (const runtime_failure& e) {
        // A `raydeploy serve` would have been found above: the holder is another command running
        // the engine in-process (or a raydeploy older than the endpoint file).
        throw runtime_failure{std::string{e.what()} +
                              "\nit published no address (another command running the engine in-process "
                              "publishes none); to use a service that runs there, pass --server http://HOST:PORT "
                              "(or set RAYDEPLOY_SERVER)"};
    }
    // Its own token, not RAYDEPLOY_TOKEN: that one is for services elsewhere.
    connection.client_.emplace(parse_server_url(local->url()), local->token());
    connection.local_ = std::move(local);
    return connection;
}

std::string service_connection::server_flag() const { return "--server " + client_->server().text(); }

console detect_console(std::ostream& out, std::ostream& err)
{
    console where{std::cin, out, err};
    const char* term = std::getenv("TERM");
    const bool dumb = term && std::string_view{term} == "dumb";
    where.terminal_output = &out == &std::cout && ::isatty(STDOUT_FILENO) == 1 && !dumb;
    where.interactive = where.terminal_output && ::isatty(STDIN_FILENO) == 1;
    if (where.terminal_output) {
        winsize size{};
        if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0) where.width = size.ws_col;
    }
    const char* github = std::getenv("GITHUB_ACTIONS");
    where.github_actions = github && std::string_view{github} == "true";
    where.user = login_name();
    return where;
}

std::string login_name()
{
    for (const char* name : {"USER", "LOGNAME"})
        if (const char* value = std::getenv(name); value && *value) return value;
    // Containers and CI runners often leave USER unset; the account name is the next best name.
    if (const passwd* account = ::getpwuid(::geteuid()); account && account->pw_name) return account->pw_name;
    return {};
}

progress_options progress_options_for(const console& where, std::chrono::milliseconds heartbeat)
{
    progress_options options;
    options.style = where.terminal_output ? progress_style::terminal : progress_style::plain;
    options.github_actions = where.github_actions;
    options.heartbeat = heartbeat;
    options.width = where.width;
    return options;
}

int exit_code_for_http_status(unsigned status)
{
    switch (status) {
    case 400:
    case 404:
    case 405:
    case 413:
    case 415:
    case 422:
        return exit_usage;
    default:
        return exit_checkpoint_failed;
    }
}

int exit_code_for_status(std::string_view final_status)
{
    if (final_status == "succeeded") return exit_ok;
    if (final_status == "cancelled") return exit_cancelled;
    if (final_status == "denied") return exit_approval;
    return exit_checkpoint_failed;
}

int run_client_command(std::ostream& err, const std::function<int()>& body)
{
    try {
        return body();
    } catch (const service_unreachable& e) {
        print_error(err, e.what());
        return exit_unreachable;
    } catch (const authentication_error& e) {
        print_error(err, e.what());
        return exit_unreachable;
    } catch (const service_error& e) {
        print_error(err, e.what());
        return exit_code_for_http_status(e.status());
    }
}

boost::json::object parse_extra_vars(std::string_view text)
{
    std::string document{text};
    std::string source = "--extra-vars";
    if (!text.empty() && text.front() == '@') {
        const std::string file{text.substr(1)};
        std::ifstream in{file};
        if (!in) throw config_error{"--extra-vars @" + file + ": cannot be read; give a file holding a JSON object"};
        std::ostringstream content;
        content << in.rdbuf();
        document = content.str();
        source += " @" + file;
    }
    boost::system::error_code ec;
    const auto value = boost::json::parse(document, ec);
    if (ec)
        throw config_error{source + ": not valid JSON (" + ec.message() +
                           "); expected an object such as '{\"min_memory_gb\": 8}'"};
    if (!value.is_object())
        throw config_error{source + ": expected a JSON object of variable names to values, such as '{\"min_memory_gb\": 8}'"};
    return value.get_object();
}

std::chrono::milliseconds duration_option(const po::variables_map& vm, const std::string& name,
                                          std::chrono::milliseconds fallback)
{
    if (!vm.count(name)) return fallback;
    const std::string text = vm[name].as<std::string>();
    const auto value = parse_duration(text);
    if (!value)
        throw config_error{"--" + name + " '" + text + "': expected a duration such as 90s, 30m, 1h30m or a number of seconds"};
    return *value;
}

std::vector<std::string> live_impact_lines(const boost::json::object& live_impact)
{
    std::vector<std::string> lines;
    const auto* fresh_value = live_impact.if_contains("fresh");
    const bool fresh = fresh_value && fresh_value->is_bool() && fresh_value->get_bool();
    const std::string observed = json_string(live_impact, "observed_at");
    const std::string summary = json_string(live_impact, "summary");
    if (!summary.empty())
        lines.push_back(fresh && !observed.empty() && summary.find(observed) == std::string::npos
                            ? summary + " (as of " + observed + ")"
                            : summary);
    const auto listed = [&](std::string_view key) {
        const auto* items = live_impact.if_contains(key);
        return items && items->is_array() ? &items->get_array() : nullptr;
    };
    const auto total = [&](std::string_view key, std::size_t shown) {
        const auto* value = live_impact.if_contains(key);
        return value && value->is_int64() && value->get_int64() > static_cast<std::int64_t>(shown)
                   ? static_cast<std::size_t>(value->get_int64())
                   : shown;
    };
    if (const auto* jobs = listed("jobs")) {
        for (const auto& item : *jobs) {
            if (!item.is_object()) continue;
            const auto& job = item.get_object();
            std::string id = json_string(job, "submission_id");
            if (id.empty()) id = json_string(job, "job_id");
            lines.push_back("  job " + id + " (" + json_string(job, "status") + "): " + json_string(job, "entrypoint"));
        }
        if (const auto all = total("jobs_total", jobs->size()); all > jobs->size())
            lines.push_back("  and " + std::to_string(all - jobs->size()) + " more jobs");
    }
    if (const auto* apps = listed("applications")) {
        for (const auto& item : *apps) {
            if (!item.is_object()) continue;
            const auto& app = item.get_object();
            const std::string route = json_string(app, "route_prefix");
            lines.push_back("  Serve application " + json_string(app, "name") + " (" + json_string(app, "status") +
                            (route.empty() ? "" : ", " + route) + ")");
        }
        if (const auto all = total("applications_total", apps->size()); all > apps->size())
            lines.push_back("  and " + std::to_string(all - apps->size()) + " more Serve applications");
    }
    if (const std::string note = json_string(live_impact, "note"); !note.empty()) lines.push_back(note);
    return lines;
}

void read_live_impact(const boost::json::value* live_impact, gate_info& gate)
{
    if (!live_impact || !live_impact->is_object()) return;
    const auto& object = live_impact->get_object();
    gate.live_impact = live_impact_lines(object);
    const auto* fresh = object.if_contains("fresh");
    const auto lists = [&](std::string_view key) {
        const auto* items = object.if_contains(key);
        return items && items->is_array() && !items->get_array().empty();
    };
    gate.running_work = fresh && fresh->is_bool() && fresh->get_bool() && (lists("jobs") || lists("applications"));
}

gate_answer prompt_for_gate(std::istream& in, std::ostream& out, const gate_info& gate)
{
    out << "\nCheckpoint '" << gate.checkpoint << "' needs an approval before it runs"
        << (gate.destructive ? "; it is DESTRUCTIVE" : "") << ".\n";
    if (!gate.impact_summary.empty()) {
        out << "Impact:\n";
        for (const auto& line : gate.impact_summary) out << "  - " << line << "\n";
    }
    if (!gate.live_impact.empty()) {
        out << (gate.running_work ? "Running on the Ray cluster now, and ended by this checkpoint:\n" : "Live impact:\n");
        for (const auto& line : gate.live_impact) out << "  " << line << "\n";
    }
    // A destructive step must not be one stray "y" away: the operator types its name.
    if (gate.destructive && gate.running_work)
        out << "Type the checkpoint's name (" << gate.checkpoint
            << ") to approve it and end the running work listed above, or press Enter to decline: ";
    else if (gate.destructive)
        out << "Type the checkpoint's name (" << gate.checkpoint << ") to approve it, or press Enter to decline: ";
    else
        out << "Approve it? [y/N] ";
    out << std::flush;
    const auto answer = line_from(in);
    if (!answer) return {};
    const bool approved = gate.destructive ? *answer == gate.checkpoint : (*answer == "y" || *answer == "yes");
    if (approved) {
        auto reason = ask_reason(in, out, "Reason (recorded with the approval): ");
        if (!reason) {
            out << "No reason given: the checkpoint is left waiting for an approval.\n";
            return {};
        }
        return {gate_answer::kind::approve, std::move(*reason)};
    }
    out << "Not approved. Deny the request instead (what waits for it then fails)? [y/N] " << std::flush;
    const auto deny = line_from(in);
    if (!deny || (*deny != "y" && *deny != "yes")) return {};
    auto reason = ask_reason(in, out, "Reason for denying (recorded with the decision): ");
    if (!reason) {
        out << "No reason given: the checkpoint is left waiting for a decision.\n";
        return {};
    }
    return {gate_answer::kind::deny, std::move(*reason)};
}

boost::json::object grant_approval(const api_client& api, std::string_view checkpoint, std::string_view approval_id,
                                   std::string_view reason, bool acknowledge_risks, bool acknowledge_running_work,
                                   std::optional<std::chrono::seconds> ttl,
                                   const std::optional<std::string>& approved_by)
{
    boost::json::object body{{"reason", reason}, {"acknowledge_risks", acknowledge_risks}};
    if (acknowledge_running_work) body["acknowledge_running_work"] = true;
    if (!approval_id.empty()) body["approval_id"] = approval_id;
    if (ttl) body["ttl_s"] = ttl->count();
    if (approved_by) body["approved_by"] = *approved_by;
    return api.send_json(http::verb::post, "/api/v1/approvals/" + std::string{checkpoint}, body, 201).as_object();
}

boost::json::object deny_approval(const api_client& api, std::string_view checkpoint, std::string_view approval_id,
                                  std::string_view reason)
{
    boost::json::object body{{"reason", reason}};
    if (!approval_id.empty()) body["approval_id"] = approval_id;
    return api.send_json(http::verb::post, "/api/v1/approvals/" + std::string{checkpoint} + "/deny", body, 200).as_object();
}

std::string approve_curl_command(const server_url& server, std::string_view checkpoint, std::string_view approval_id,
                                 bool destructive, bool with_token, bool running_work)
{
    std::string body = "{";
    // Ids are "ap-" and hex digits: nothing in them needs quoting in the shell.
    if (!approval_id.empty()) body += "\"approval_id\":\"" + std::string{approval_id} + "\",";
    body += "\"reason\":\"WHY\"";
    if (destructive) body += ",\"acknowledge_risks\":true";
    if (running_work) body += ",\"acknowledge_running_work\":true";
    // Without tokens the service is in open mode and needs a name for the record.
    if (!with_token) body += ",\"approved_by\":\"YOUR NAME\"";
    body += "}";
    std::string command = "curl -sS -X POST '" + server.text() + "/api/v1/approvals/" + std::string{checkpoint} +
                          "' -H 'Content-Type: application/json'";
    if (with_token) command += " -H \"Authorization: Bearer $RAYDEPLOY_TOKEN\"";
    command += " -d '" + body + "'";
    return command;
}

std::string approval_page_url(const server_url& server, std::string_view checkpoint)
{
    return server.text() + "/#/approvals/" + std::string{checkpoint};
}

std::string json_string(const boost::json::object& object, std::string_view key)
{
    const auto* value = object.if_contains(key);
    return value && value->is_string() ? std::string{value->get_string()} : std::string{};
}

std::string describe_execution_error(const boost::json::value& error)
{
    if (!error.is_object()) return {};
    const auto& object = error.get_object();
    const std::string task = json_string(object, "task");
    const std::string host = json_string(object, "host");
    const std::string message = json_string(object, "message");
    std::string text;
    if (!task.empty()) text = "task \"" + task + "\"";
    if (!host.empty()) text += (text.empty() ? "host " : " on ") + host;
    if (!message.empty()) text += (text.empty() ? "" : ": ") + message;
    return text;
}

}  // namespace raydeploy::cli
