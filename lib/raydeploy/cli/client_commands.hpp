// What the client commands (run, deploy, resume, cancel, approve, deny, status, executions, logs)
// share: their connection options, reaching the service (or starting one in this process), the
// console they run in, the approval prompt, and the mapping of outcomes to exit codes.
#pragma once

#include "raydeploy/cli/api_client.hpp"
#include "raydeploy/cli/progress_printer.hpp"

#include <boost/json/object.hpp>
#include <boost/program_options.hpp>

#include <chrono>
#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace raydeploy::cli {

// The exit codes of the client commands, as their --help prints them.
extern const std::string_view client_exit_codes_help;

// A client command's options: `visible` are printed by --help, `hidden` are accepted but not
// advertised (test knobs), `positional` names the options that take the bare arguments.
struct client_command_spec {
    client_command_spec(std::string command, std::string usage, std::string text)
        : name{std::move(command)}, synopsis{std::move(usage)}, description{std::move(text)}
    {
    }

    std::string name;
    std::string synopsis;
    std::string description;
    boost::program_options::options_description visible{"Options"};
    boost::program_options::options_description hidden{"Hidden"};
    boost::program_options::positional_options_description positional;
};

// Adds --server, --token-file and, for the in-process mode, --config, --state-dir, --catalog,
// --inventory and --ansible-playbook, plus --help; then parses `args`. Returns nullopt after
// printing help (`exit_code` 0) or a usage error (`exit_code` 2).
std::optional<boost::program_options::variables_map> parse_client_command(client_command_spec& spec,
                                                                          const std::vector<std::string>& args,
                                                                          std::ostream& out, std::ostream& err,
                                                                          int& exit_code);

// --format text|json (default text), for commands that print what the service answers.
void add_format_option(client_command_spec& spec);
// Whether --format asks for json; nullopt (after printing the usage error) unless it is text or json.
std::optional<bool> json_format(const boost::program_options::variables_map& vm, std::string_view command,
                                std::ostream& err);

// `raydeploy status --checkpoint NAME` as text: the execution, its per-host counts and what it
// published, hosts by name (host2 before host10) whatever order the service lists them in, then
// `report_hint` when it has a report.
void print_execution_status(std::ostream& out, const boost::json::object& execution, const std::string& report_hint);

// Prints "COMMAND: MESSAGE" as a usage error and returns exit_usage.
int usage_error(std::ostream& err, std::string_view command, std::string_view message);

// The service a command talks to: the one named by --server / RAYDEPLOY_SERVER, else the
// `raydeploy serve` that published its URL in the state directory (store/state_store.hpp), else a
// service started in this process on the state directory (it stops when this object goes).
class service_connection {
public:
    // Throws config_error for a bad URL or token file, runtime_failure when the in-process
    // service cannot start (another service holds the state directory: the message says how
    // to reach it instead).
    static service_connection open(const boost::program_options::variables_map& vm, std::ostream& err);

    const api_client& api() const { return *client_; }
    bool in_process() const { return static_cast<bool>(local_); }
    // How to pass the same server to another raydeploy command ("--server URL"), for hints.
    std::string server_flag() const;

private:
    std::shared_ptr<void> local_;  // the in-process service, kept alive as long as the connection
    std::optional<api_client> client_;
};

// The bearer token: the first line of --token-file, else RAYDEPLOY_TOKEN. nullopt when neither.
// Throws config_error when the file cannot be read or holds no token.
std::optional<std::string> token_from(const boost::program_options::variables_map& vm,
                                      const std::map<std::string, std::string>& environment);

// The console a command runs in. Terminal rendering and prompts only happen when the command
// writes to the process's real stdout and that is a terminal (never inside tests' streams).
struct console {
    console(std::istream& input, std::ostream& output, std::ostream& errors) : in{input}, out{output}, err{errors} {}

    std::istream& in;
    std::ostream& out;
    std::ostream& err;
    bool terminal_output = false;  // stdout is a terminal: live status line
    bool interactive = false;      // stdin too: prompts at gates
    std::size_t width = 0;
    bool github_actions = false;   // GITHUB_ACTIONS=true
    std::string user;              // $USER, the default `approved_by` in open mode
};
console detect_console(std::ostream& out, std::ostream& err);
// $USER, else $LOGNAME, else the account's name; "" when none is known.
std::string login_name();

progress_options progress_options_for(const console& where, std::chrono::milliseconds heartbeat);

// Runs a client command's body and maps the typed client errors to exit codes and one error
// line each: service unreachable or authentication failed -> 5, other unexpected answers -> 2
// for requests the user has to change (400, 404, 422, ...), else 1.
int run_client_command(std::ostream& err, const std::function<int()>& body);

// The exit code for an HTTP status the command did not expect.
int exit_code_for_http_status(unsigned status);

// The exit code for a final execution or deployment status: succeeded 0; failed, timed_out,
// interrupted 1; cancelled 4; denied (an approval was refused) 3.
int exit_code_for_status(std::string_view final_status);

// --extra-vars: a JSON object, or @FILE holding one. Throws config_error otherwise.
boost::json::object parse_extra_vars(std::string_view text);

// A duration option ("90s", "1h", "600"); throws config_error naming the option.
std::chrono::milliseconds duration_option(const boost::program_options::variables_map& vm, const std::string& name,
                                          std::chrono::milliseconds fallback);

// --------------------------------------------------------------------------------------- gates

// What the operator decided at the prompt.
struct gate_answer {
    enum class kind { approve, deny, wait } decision = kind::wait;
    std::string reason;
};

// Reads an approval's live_impact (approval_info.live_impact, a record's or a deployment's
// awaiting.live_impact) into `gate`: the lines to show and whether running work must be
// acknowledged. Nothing for an absent or null value.
void read_live_impact(const boost::json::value* live_impact, gate_info& gate);

// The lines that show a live_impact object: its summary (with its time), each job and Serve
// application it lists, and its note when the cluster's state is unknown.
std::vector<std::string> live_impact_lines(const boost::json::object& live_impact);

// Asks at a terminal: shows the impact summary and the live impact (the running work that
// would end); a destructive checkpoint must be confirmed by
// typing its name, another one with "y". Then asks for the reason. Declining offers to deny
// the request instead; declining that too (or end of input) leaves it waiting.
gate_answer prompt_for_gate(std::istream& in, std::ostream& out, const gate_info& gate);

// POST /api/v1/approvals/{checkpoint}, deciding the request `approval_id` (empty: the only
// pending one, or a pre-approval of the plain run). `approved_by` is sent when given (open mode
// needs it: with a token, the service takes the name from the token). Returns the grant record.
boost::json::object grant_approval(const api_client& api, std::string_view checkpoint, std::string_view approval_id,
                                   std::string_view reason, bool acknowledge_risks, bool acknowledge_running_work,
                                   std::optional<std::chrono::seconds> ttl,
                                   const std::optional<std::string>& approved_by);

// POST /api/v1/approvals/{checkpoint}/deny of the request `approval_id` (empty: the only pending
// one); returns the denied record.
boost::json::object deny_approval(const api_client& api, std::string_view checkpoint, std::string_view approval_id,
                                  std::string_view reason);

// The curl command that grants the request `approval_id` of `checkpoint` on `server`, as printed
// to CI logs. The token is never printed: the command reads it from $RAYDEPLOY_TOKEN.
// `running_work`: the request showed running work, so the body acknowledges it.
std::string approve_curl_command(const server_url& server, std::string_view checkpoint, std::string_view approval_id,
                                 bool destructive, bool with_token, bool running_work);
// The WebUI's page for the checkpoint's pending approval (`/#/approvals/<checkpoint>`).
std::string approval_page_url(const server_url& server, std::string_view checkpoint);

// ------------------------------------------------------------------------------- JSON helpers

std::string json_string(const boost::json::object& object, std::string_view key);
// "task X on HOST: message" from an execution's `error` object, or "" for none.
std::string describe_execution_error(const boost::json::value& error);

}  // namespace raydeploy::cli
