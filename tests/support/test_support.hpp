// Helpers shared by the unit and integration tests: temporary directories, the real raydeploy
// binary as a child process, and a small blocking HTTP client over loopback. Every wait in here
// has a deadline, so a broken service fails a test instead of hanging it.
//
// Helpers report problems by throwing std::runtime_error whose message starts with the caller's
// file:line (a defaulted source_location argument); Boost.Test prints it as the failure.
#pragma once

#include "support/source_location.hpp"

#include <boost/beast/http.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace raydeploy::web {
class http_server;
}
namespace raydeploy::sqlite {
class database;
}

namespace raydeploy::test {

namespace fs = std::filesystem;
namespace http = boost::beast::http;
using namespace std::chrono_literals;

using env_map = std::map<std::string, std::string>;
using response = http::response<http::string_body>;

// Runs one request through `server`'s handle() (routing, checks, the handler) on a private
// io_context, without a socket; fails the test if it does not answer within 5 s.
response handle_in_process(web::http_server& server, const http::request<http::string_body>& req);

// The database at `file` (created when missing) with every schema migration applied, as the
// service opens its state.
std::unique_ptr<sqlite::database> open_migrated_database(const fs::path& file);

// The repository checkout and the binary under test (set by tests/CMakeLists.txt).
fs::path source_dir();
fs::path binary_path();

// The whole content of a file; throws when it cannot be read.
std::string read_file(const fs::path& file);

// A fresh directory under the system temp directory, removed with everything in it on destruction.
class temp_dir {
public:
    explicit temp_dir(std::string_view prefix = "raydeploy-test");
    ~temp_dir();
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;

    const fs::path& path() const { return path_; }

    // Writes `content` to path()/relative, creating parent directories; returns the absolute path.
    fs::path write_file(const fs::path& relative, std::string_view content) const;

private:
    fs::path path_;
};

// How service_process starts `raydeploy serve`. The defaults give a hermetic service: a free port
// on loopback, a private state directory, the repository's catalog and inventory. A default is
// also dropped when `args` already contains its flag, so a test can simply pass its own.
// Whatever the process writes to stderr (the log, in unit tests) while it lives, kept in `file`.
class stderr_capture {
public:
    explicit stderr_capture(fs::path file);
    stderr_capture(const stderr_capture&) = delete;
    stderr_capture& operator=(const stderr_capture&) = delete;
    ~stderr_capture();

    // Ends the capture and returns what was written.
    std::string text();

private:
    void restore();

    fs::path file_;
    int saved_ = -1;
};

// Times `what` occurs in `text`, not overlapping.
std::size_t occurrences(std::string_view text, std::string_view what);

struct service_options {
    std::vector<std::string> args = {};  // appended after `serve` and the defaults
    // Set in the child on top of the inherited environment. Inherited RAYDEPLOY_* variables are
    // always removed first, so the developer's shell cannot change what a test sees.
    env_map env = {};
    std::optional<std::string> listen = "127.0.0.1:0";  // nullopt: no --listen flag at all
    std::optional<fs::path> state_dir = {};              // nullopt: <private temp dir>/state
    std::optional<fs::path> catalog = source_dir() / "playbooks" / "checkpoints.yaml";
    std::optional<fs::path> inventory = source_dir() / "playbooks" / "inventory" / "local.yml";
    std::chrono::milliseconds ready_timeout = 15s;
};

// The real binary running `serve`. The constructor returns once the service printed its
// "listening on http://HOST:PORT" line, and throws (with the service's stderr) when it exits
// first or does not get there within ready_timeout. The destructor kills it if still running.
class service_process {
public:
    explicit service_process(service_options options = {},
                             source_location where = source_location::current());
    ~service_process();
    service_process(const service_process&) = delete;
    service_process& operator=(const service_process&) = delete;

    std::uint16_t port() const { return port_; }
    pid_t pid() const { return pid_; }
    // The private directory of this process: the stderr capture and the default state dir live here.
    const fs::path& work_dir() const { return work_.path(); }
    fs::path state_dir() const { return state_dir_; }

    void send_signal(int signal_number);

    // Waits up to `timeout` for the process to end. Returns its exit status, or 128 + N when
    // signal N killed it (the shell's convention), or nullopt when it is still running.
    std::optional<int> wait_exit(std::chrono::milliseconds timeout);
    bool running();

    std::string stderr_text() const;
    // Everything read from stdout so far; after wait_exit() returned, everything it ever wrote.
    std::string stdout_text();

    // Polls the stderr log until it contains `needle`; false when the deadline passes first.
    bool wait_for_stderr(std::string_view needle, std::chrono::milliseconds timeout) const;

private:
    void start(service_options options, source_location where);
    void read_stdout(std::chrono::milliseconds wait);  // reads what is available, waiting at most `wait`
    void kill_and_reap() noexcept;

    temp_dir work_{"raydeploy-service"};
    fs::path stderr_file_;
    fs::path state_dir_;
    pid_t pid_ = -1;
    int stdout_fd_ = -1;
    bool reaped_ = false;
    int exit_status_ = -1;
    std::string stdout_;
    std::uint16_t port_ = 0;
};

struct cli_result {
    int exit_code;  // 128 + N when signal N killed the process
    std::string out;
    std::string err;
};

// Runs the binary with `args` to completion (stdin from /dev/null) in `cwd` (default: a fresh
// temporary directory) with `env` added as for service_process. Throws, after killing it, when it
// runs longer than `timeout`.
cli_result run_cli(const std::vector<std::string>& args, const env_map& env = {},
                   const std::optional<fs::path>& cwd = std::nullopt, std::chrono::milliseconds timeout = 15s,
                   source_location where = source_location::current());

// The environment run_cli and service_process give their child: the inherited one minus
// RAYDEPLOY_* and CML_API_KEY, plus `extra`, as "NAME=value" strings (for tests that start the binary themselves).
std::vector<std::string> child_environment_for(const env_map& extra);

// Runs the CLI inside the test process (raydeploy::cli::run with captured streams): for commands
// that need no child process of their own.
cli_result run_cli_in_process(const std::vector<std::string>& args);

// "2026-11-21T23:33:11.316Z" (the service's timestamp format) as milliseconds since the epoch;
// -1 for any other value.
std::int64_t timestamp_ms(const boost::json::value& value);

// A client connection to 127.0.0.1:port. Every operation is bounded by its timeout; a timeout
// cancels the operation but leaves the socket open, so a test can go on using it.
class http_connection {
public:
    explicit http_connection(std::uint16_t port, std::chrono::milliseconds timeout = 5s,
                             source_location where = source_location::current());
    ~http_connection();
    http_connection(const http_connection&) = delete;
    http_connection& operator=(const http_connection&) = delete;

    void send(const http::request<http::string_body>& req,
              source_location where = source_location::current());
    void send_raw(std::string_view bytes, source_location where = source_location::current());
    response receive(source_location where = source_location::current());
    response exchange(const http::request<http::string_body>& req,
                      source_location where = source_location::current());

    // Half-closes: tells the server this client will send nothing more.
    void shutdown_send();

    // Reads until the server closes the connection (end of stream or reset). Returns what arrived
    // before that, or nullopt when the connection is still open after `within`.
    std::optional<std::string> wait_closed(std::chrono::milliseconds within);

private:
    struct impl;
    std::unique_ptr<impl> impl_;
    std::chrono::milliseconds timeout_;
};

// A request with the headers every client sends (Host, User-Agent), HTTP/1.1, keep-alive; a POST
// also gets Content-Type: application/json. `headers` are set last, so they can replace those
// (a test of the Host check sends another Host).
http::request<http::string_body> make_request(http::verb verb, std::string_view target, std::string body = {},
                                              const std::map<std::string, std::string>& headers = {});

// One request on a fresh connection.
response http_get(std::uint16_t port, std::string_view target,
                  source_location where = source_location::current());
response http_request(std::uint16_t port, http::verb verb, std::string_view target, std::string body = {},
                      const std::map<std::string, std::string>& headers = {},
                      source_location where = source_location::current());

// Sends `bytes` as they are, half-closes, and returns everything the server sent until it closed
// the connection or `timeout` passed. Errors while sending are tolerated (the server may reject
// early); the answer is what matters.
std::string raw_exchange(std::uint16_t port, std::string_view bytes, std::chrono::milliseconds timeout = 5s,
                         source_location where = source_location::current());

// Parses the first HTTP response in raw bytes; throws when there is none.
response parse_response(std::string_view raw, source_location where = source_location::current());

// Parses a JSON document; throws with the text when it is not valid JSON.
boost::json::value parse_json(std::string_view text, source_location where = source_location::current());

// JSON values as plain C++ values, so BOOST_TEST prints both sides of a failed comparison.
// A missing key or a wrong type gives a descriptive string (text) or throws (integer, object_at).
std::string text(const boost::json::value& value);
std::string text(const boost::json::object& object, std::string_view key);
std::int64_t integer(const boost::json::value& value);
std::int64_t integer(const boost::json::object& object, std::string_view key);
const boost::json::object& object_at(const boost::json::object& object, std::string_view key);


// The `error` code of a JSON error body `{"error": CODE, "message": TEXT}`. When the body has not
// exactly that shape (or the message is empty) it returns a description starting with '<' that
// quotes the body, so `BOOST_TEST(error_code_of(res) == "NOT_FOUND")` explains its failure.
std::string error_code_of(const response& res);

// ------------------------------------------------------------------------ executions and events

// The body of a JSON response as an object; throws (quoting the body) when it is not one.
boost::json::object json_object_of(const response& res, source_location where = source_location::current());

// The `error` code of a JSON error body that may carry detail fields beside `error` and
// `message` (such as `field` or `execution_id`). Like error_code_of, it returns a description
// starting with '<' when the body is not an object with a string `error` and a non-empty `message`.
std::string error_field_of(const response& res);

// Writes into `dir` a one-checkpoint catalog, `stubborn`, whose playbook runs
// `sleep SLEEP_SECONDS` on host1 while ignoring SIGTERM; returns the catalog's path. Tests pick
// distinct sleep lengths so their processes can be told apart when suites run in parallel.
std::filesystem::path write_stubborn_catalog(const temp_dir& dir, int sleep_seconds);

// Writes into `dir` a catalog of two checkpoints, a playbook step and a CML step:
// `playbook_checkpoint` plays the fixtures' succeed.yml, and `create-jobs` (kind cml-jobs) creates
// the one job of a jobs.yaml written beside it. Returns the catalog's path.
std::filesystem::path write_playbook_and_cml_jobs_catalog(const temp_dir& dir, std::string_view playbook_checkpoint);


// Options for a service that runs the Ansible fixtures: tests/fixtures/ansible/catalog.yaml and
// inventory.yml, and the project's .venv/bin/ansible-playbook. `env` is added to the child's
// environment (RAYDEPLOY_EXECUTIONS_KILL_GRACE=2s and the like).
service_options fixture_service_options(env_map env = {});

// The statuses an execution ends in.
bool is_final_status(std::string_view status);

// POSTs /api/v1/checkpoints/<checkpoint> with `body` (sent as application/json when not empty);
// requires 202 and returns the execution id.
std::string start_execution(std::uint16_t port, std::string_view checkpoint, std::string body = {},
                            source_location where = source_location::current());

// GET /api/v1/executions/<id>; requires 200.
boost::json::object get_execution(std::uint16_t port, std::string_view id,
                                  source_location where = source_location::current());

// Polls the execution until its status is one of `statuses` and returns it. Throws at the deadline
// with the last execution seen.
boost::json::object wait_for_execution(std::uint16_t port, std::string_view id,
                                       std::initializer_list<std::string_view> statuses,
                                       std::chrono::milliseconds timeout = 30s,
                                       source_location where = source_location::current());

// Every stored event of the execution, oldest first, paging through GET .../events.
std::vector<boost::json::object> execution_events(std::uint16_t port, std::string_view id,
                                                  source_location where = source_location::current());

// ---------------------------------------------------------------------------------------- processes

// A live process seen in /proc (zombies are left out: they run nothing).
struct process_info {
    pid_t pid;
    pid_t pgid;
    char state;
    std::string cmdline;  // the arguments joined by single spaces
};

// Live processes other than this one whose command line contains `needle`.
std::vector<process_info> processes_matching(std::string_view needle);
// Live processes in process group `pgid`.
std::vector<process_info> processes_in_group(pid_t pgid);
// Calls `probe` until it returns nothing or `timeout` passed; returns its last answer.
std::vector<process_info> wait_until_none(const std::function<std::vector<process_info>()>& probe,
                                          std::chrono::milliseconds timeout);
// One line per process, for failure messages.
std::string describe(const std::vector<process_info>& processes);

// The processes of one execution of the fixtures' slow.yml: the ansible-playbook processes (their
// command line names the run's extra vars file, runs/<id>/extra_vars.yml), its `sleep N` (tests
// pass sleep_seconds values of their own, so suites running in parallel never see each other's),
// and every process in the process groups seen while the run was alive.
class run_processes {
public:
    run_processes(std::string_view execution_id, int sleep_seconds);

    // Waits until the run's `sleep N` exists (the playbook reached its long task), noting the
    // process groups on the way; false at the deadline.
    bool wait_for_sleep(std::chrono::milliseconds timeout);
    // The run's live processes now.
    std::vector<process_info> now() const;
    const std::set<pid_t>& groups() const { return groups_; }

private:
    std::string vars_marker_;
    std::string sleep_cmdline_;
    std::set<pid_t> groups_;
};

// ------------------------------------------------------------------------------- streamed responses

// A response read as it arrives, for responses that stay open (GET .../log?follow=1). Every read
// is bounded by its own timeout.
class streamed_response {
public:
    streamed_response(std::uint16_t port, const http::request<http::string_body>& req,
                      source_location where = source_location::current());
    ~streamed_response();
    streamed_response(const streamed_response&) = delete;
    streamed_response& operator=(const streamed_response&) = delete;

    // Reads until the header is complete; throws at the deadline or when the server closes first.
    void read_header(std::chrono::milliseconds timeout, source_location where = source_location::current());
    // Reads until more body bytes arrived than `body().size()` before the call, the response is
    // complete, or `timeout` passed; returns whether new body bytes arrived.
    bool read_more(std::chrono::milliseconds timeout);
    // Reads until the response is complete; false when it is not complete at the deadline.
    bool read_to_end(std::chrono::milliseconds timeout);

    bool header_done() const;
    bool done() const;
    bool chunked() const;
    bool server_closed() const { return closed_; }
    const http::response<http::string_body>& get() const;
    const std::string& body() const { return get().body(); }

private:
    bool read_once(std::chrono::milliseconds wait);  // false at the deadline or end of stream
    int fd_ = -1;
    bool closed_ = false;
    std::string pending_;
    std::unique_ptr<http::response_parser<http::string_body>> parser_;
};

// --------------------------------------------------------------------------------------- WebSocket

// A WebSocket client of 127.0.0.1:port. Every operation has a deadline.
class ws_client {
public:
    // Connects and upgrades `target`. `receive_buffer` sets SO_RCVBUF before connecting (a
    // subscriber that reads slowly). Throws, with the server's answer, when the upgrade fails.
    ws_client(std::uint16_t port, std::string_view target, std::optional<int> receive_buffer = std::nullopt,
              std::chrono::milliseconds timeout = 5s, source_location where = source_location::current());
    // The same with extra handshake headers (Origin, Sec-WebSocket-Protocol, Authorization).
    ws_client(std::uint16_t port, std::string_view target, const std::map<std::string, std::string>& headers,
              std::chrono::milliseconds timeout = 5s, source_location where = source_location::current());
    ~ws_client();
    ws_client(const ws_client&) = delete;
    ws_client& operator=(const ws_client&) = delete;

    // The next message, or nullopt once the connection ended (closed by the peer or dropped; see
    // close_code() and end_error()). Throws when neither happens within `timeout` (the
    // connection is unusable afterwards).
    std::optional<std::string> read(std::chrono::milliseconds timeout,
                                    source_location where = source_location::current());
    // Sends one text message; returns the error text, empty on success.
    std::string write(std::string_view text, std::chrono::milliseconds timeout = 5s);

    // The server's answer to the handshake (101 and its headers).
    const response& handshake_response() const;

    bool ended() const;
    // After the end: the code of the peer's close frame (0 when there was none), its reason, and
    // the error that ended reading ("" for none).
    int close_code() const;
    std::string close_reason() const;
    std::string end_error() const;

private:
    void open(std::uint16_t port, std::string_view target, std::optional<int> receive_buffer,
              const std::map<std::string, std::string>& headers, std::chrono::milliseconds timeout,
              source_location where);
    struct impl;
    std::unique_ptr<impl> impl_;
};

// ----------------------------------------------------------------------------- bearer tokens and API

// The hex SHA-256 of `data`, computed with OpenSSL here (not with the code under test).
std::string sha256_hex_of(std::string_view data);

// A caller of a service with tokens: a fresh random token and the RAYDEPLOY_AUTH_TOKENS entry
// (NAME:ROLE:SHA256) that admits it.
struct test_identity {
    std::string name;
    std::string role;
    std::string token;
    std::string env_entry() const;
};
test_identity make_identity(std::string name, std::string role);
// The value of RAYDEPLOY_AUTH_TOKENS that admits all of `identities`.
std::string auth_tokens_env(const std::vector<test_identity>& identities);

// One request per call on a fresh connection to 127.0.0.1:port, with `Authorization: Bearer TOKEN`
// when a token is given (none: open mode). Bodies are sent as application/json.
class api_client {
public:
    explicit api_client(std::uint16_t port, std::optional<std::string> token = std::nullopt)
        : port_{port}, token_{std::move(token)}
    {
    }
    explicit api_client(std::uint16_t port, const test_identity& who) : port_{port}, token_{who.token} {}

    response get(std::string_view target, source_location where = source_location::current()) const;
    response post(std::string_view target, std::string body = {},
                  source_location where = source_location::current()) const;
    response del(std::string_view target, source_location where = source_location::current()) const;
    // GET that must answer 200 with a JSON object.
    boost::json::object get_object(std::string_view target,
                                   source_location where = source_location::current()) const;
    // Polls GET `target` (every 100 ms) until `done` holds for its object; throws at the deadline
    // with the last object seen.
    boost::json::object wait_until(std::string_view target, const std::function<bool(const boost::json::object&)>& done,
                                   std::chrono::milliseconds timeout = 30s,
                                   source_location where = source_location::current()) const;
    std::uint16_t port() const { return port_; }
    const std::optional<std::string>& token() const { return token_; }

private:
    response send(http::verb verb, std::string_view target, std::string body, source_location where) const;
    std::uint16_t port_;
    std::optional<std::string> token_;
};

// POST /api/v1/deployments with `body`; throws unless it answers 202. Returns the deployment's id.
std::string start_deployment(const api_client& client, std::string body,
                             source_location where = source_location::current());
// Polls the deployment until it finished (succeeded, failed or cancelled) and returns it; throws
// at the deadline.
boost::json::object wait_deployment_finished(const api_client& client, std::string_view id,
                                             std::chrono::milliseconds timeout = 90s);


// The stored events of the service that `query` selects (for example "types=approval.*"),
// replayed over GET /api/v1/events?since=0&QUERY with the client's token: reads until no message
// arrived for `quiet` (the replay is sent at once), at most `timeout` in all.
std::vector<boost::json::object> replay_events(const api_client& client, std::string_view query,
                                               std::chrono::milliseconds quiet = 500ms,
                                               std::chrono::milliseconds timeout = 10s,
                                               source_location where = source_location::current());

}  // namespace raydeploy::test
