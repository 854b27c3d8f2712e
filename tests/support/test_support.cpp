// Test helpers: temp directories, the raydeploy binary as a child process, a bounded HTTP client.
#include "support/test_support.hpp"

#include "raydeploy/cli/cli.hpp"
#include "raydeploy/http/server.hpp"
#include "raydeploy/store/migrations.hpp"
#include "raydeploy/store/state_store.hpp"
#include <cstdio>
#include <ctime>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <openssl/evp.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <fstream>
#include <poll.h>
#include <random>
#include <spawn.h>
#include <sstream>
#include <stdexcept>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

extern char** environ;

namespace raydeploy::test {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace json = boost::json;
using tcp = net::ip::tcp;
using steady = std::chrono::steady_clock;

[[noreturn]] void fail(const source_location& where, const std::string& message)
{
    throw std::runtime_error{std::string{fs::path{where.file_name()}.filename().string()} + ":" +
                             std::to_string(where.line()) + ": " + message};
}

std::string errno_text(int error) { return std::strerror(error); }

// 128 + signal for a killed process, as a shell reports it; the status otherwise.
int decode_status(int status)
{
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

// The inherited environment minus RAYDEPLOY_*, plus `extra`, as "NAME=value" strings.
std::vector<std::string> child_environment(const env_map& extra)
{
    env_map merged;
    for (char** entry = environ; entry && *entry; ++entry) {
        const std::string_view text{*entry};
        const auto equals = text.find('=');
        if (equals == std::string_view::npos) continue;
        const std::string name{text.substr(0, equals)};
        // CML_API_KEY is read as cml.api_key too: a developer's real key must not reach a test.
        if (name.starts_with("RAYDEPLOY_") || name == "CML_API_KEY") continue;
        merged[name] = std::string{text.substr(equals + 1)};
    }
    // No Ray cluster runs where these tests run: a service polling the default dashboard would add
    // cluster.unreachable to the event log that event tests count. Tests of the Ray monitor point
    // it at the fake dashboard (RAYDEPLOY_RAY_DASHBOARD_URL), which turns it back on.
    if (!extra.contains("RAYDEPLOY_RAY_DASHBOARD_URL") && !extra.contains("RAYDEPLOY_RAY_ENABLED"))
        merged["RAYDEPLOY_RAY_ENABLED"] = "false";
    for (const auto& [name, value] : extra) merged[name] = value;
    std::vector<std::string> result;
    for (const auto& [name, value] : merged) result.push_back(name + "=" + value);
    return result;
}

std::vector<char*> c_strings(std::vector<std::string>& strings)
{
    std::vector<char*> pointers;
    for (auto& s : strings) pointers.push_back(s.data());
    pointers.push_back(nullptr);
    return pointers;
}

// Starts the binary with stdin from /dev/null, stdout onto `stdout_fd` and stderr into
// `stderr_file`. posix_spawn instead of fork: no code of ours runs in the child, so nothing in the
// test process (Boost.Test's signal handlers, open sockets' state) can interfere.
pid_t spawn(std::vector<std::string> args, const env_map& env, const fs::path& cwd, int stdout_fd,
            const fs::path& stderr_file, const source_location& where)
{
    args.insert(args.begin(), binary_path().string());
    auto environment = child_environment(env);
    auto argv = c_strings(args);
    auto envp = c_strings(environment);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, stdout_fd, STDOUT_FILENO);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, stderr_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str());
    pid_t pid = -1;
    const int error = ::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    if (error != 0) fail(where, "cannot start " + args.front() + ": " + errno_text(error));
    return pid;
}

// waitpid with a deadline; nullopt while the child still runs at the deadline.
std::optional<int> wait_for(pid_t pid, std::chrono::milliseconds timeout)
{
    const auto deadline = steady::now() + timeout;
    for (;;) {
        int status = 0;
        const pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid) return status;
        if (r < 0 && errno != EINTR) return std::nullopt;  // not our child: nothing to wait for
        if (steady::now() >= deadline) return std::nullopt;
        std::this_thread::sleep_for(10ms);
    }
}

std::string prefix_lines(const std::string& text)
{
    if (text.empty()) return "  (empty)\n";
    std::istringstream in{text};
    std::string out;
    for (std::string line; std::getline(in, line);) out += "  | " + line + "\n";
    return out;
}

bool has_flag(const std::vector<std::string>& args, std::string_view flag)
{
    for (const auto& arg : args)
        if (arg == flag || (arg.starts_with(flag) && arg.size() > flag.size() && arg[flag.size()] == '='))
            return true;
    return false;
}

}  // namespace

fs::path source_dir() { return fs::path{RAYDEPLOY_SOURCE_DIR}; }

std::vector<std::string> child_environment_for(const env_map& extra) { return child_environment(extra); }
fs::path binary_path() { return fs::path{RAYDEPLOY_BINARY}; }

std::string read_file(const fs::path& file)
{
    std::ifstream in{file, std::ios::binary};
    if (!in) throw std::runtime_error{"cannot read " + file.string()};
    std::ostringstream content;
    content << in.rdbuf();
    return content.str();
}

// ---------------------------------------------------------------------------------------- temp_dir

temp_dir::temp_dir(std::string_view prefix)
{
    // mkdtemp picks the name atomically, so suites running in parallel never share a directory.
    std::string pattern = (fs::temp_directory_path() / (std::string{prefix} + "-XXXXXX")).string();
    if (!::mkdtemp(pattern.data()))
        throw std::runtime_error{"cannot create a temporary directory " + pattern + ": " + errno_text(errno)};
    path_ = fs::canonical(pattern);
}

temp_dir::~temp_dir()
{
    std::error_code ignored;
    fs::remove_all(path_, ignored);
}

stderr_capture::stderr_capture(fs::path file) : file_{std::move(file)}
{
    std::fflush(stderr);
    const int sink = ::open(file_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (sink < 0) throw std::system_error{errno, std::generic_category(), "stderr_capture: open " + file_.string()};
    saved_ = ::dup(STDERR_FILENO);
    ::dup2(sink, STDERR_FILENO);
    ::close(sink);
}

stderr_capture::~stderr_capture() { restore(); }

std::string stderr_capture::text()
{
    restore();
    return read_file(file_);
}

void stderr_capture::restore()
{
    if (saved_ < 0) return;
    std::fflush(stderr);
    ::dup2(saved_, STDERR_FILENO);
    ::close(saved_);
    saved_ = -1;
}

std::size_t occurrences(std::string_view text, std::string_view what)
{
    std::size_t count = 0;
    for (auto at = text.find(what); at != std::string_view::npos; at = text.find(what, at + what.size())) ++count;
    return count;
}

fs::path temp_dir::write_file(const fs::path& relative, std::string_view content) const
{
    const fs::path file = path_ / relative;
    fs::create_directories(file.parent_path());
    std::ofstream out{file, std::ios::binary | std::ios::trunc};
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    out.close();
    if (!out) throw std::runtime_error{"cannot write " + file.string()};
    return file;
}

// --------------------------------------------------------------------------------- service_process

service_process::service_process(service_options options, source_location where)
{
    start(std::move(options), where);
}

void service_process::start(service_options options, source_location where)
{
    stderr_file_ = work_.path() / "stderr.log";
    state_dir_ = options.state_dir.value_or(work_.path() / "state");

    std::vector<std::string> args{"serve"};
    const auto add_default = [&](std::string_view flag, const std::optional<std::string>& value) {
        if (value && !has_flag(options.args, flag)) {
            args.emplace_back(flag);
            args.push_back(*value);
        }
    };
    add_default("--listen", options.listen);
    add_default("--state-dir", state_dir_.string());
    add_default("--catalog", options.catalog ? std::optional{options.catalog->string()} : std::nullopt);
    add_default("--inventory", options.inventory ? std::optional{options.inventory->string()} : std::nullopt);
    args.insert(args.end(), options.args.begin(), options.args.end());

    int fds[2];
    // O_CLOEXEC: a service started later must not inherit this pipe and keep it open.
    if (::pipe2(fds, O_CLOEXEC) != 0) fail(where, "pipe2: " + errno_text(errno));
    try {
        pid_ = spawn(args, options.env, work_.path(), fds[1], stderr_file_, where);
    } catch (...) {
        ::close(fds[0]);
        ::close(fds[1]);
        throw;
    }
    ::close(fds[1]);
    stdout_fd_ = fds[0];
    ::fcntl(stdout_fd_, F_SETFL, ::fcntl(stdout_fd_, F_GETFL) | O_NONBLOCK);

    std::string command = "raydeploy";
    for (const auto& arg : args) command += " " + arg;

    const auto give_up = [&](const std::string& why) {
        kill_and_reap();
        fail(where, why + "\n  command: " + command + "\n  stdout:\n" + prefix_lines(stdout_) + "  stderr:\n" +
                        prefix_lines(stderr_text()));
    };

    const std::string_view marker = "listening on ";
    const auto deadline = steady::now() + options.ready_timeout;
    while (steady::now() < deadline) {
        read_stdout(50ms);
        const auto at = stdout_.find(marker);
        const auto end = at == std::string::npos ? std::string::npos : stdout_.find('\n', at);
        if (end != std::string::npos) {
            std::string address = stdout_.substr(at + marker.size(), end - at - marker.size());
            for (const std::string_view scheme : {"http://", "https://"})  // https:// with TLS settings
                if (address.rfind(scheme, 0) == 0) address.erase(0, scheme.size());
            const auto colon = address.rfind(':');
            unsigned long port = 0;
            try {
                port = std::stoul(address.substr(colon + 1));
            } catch (const std::exception&) {
                port = 0;
            }
            if (colon == std::string::npos || port == 0 || port > 65535)
                give_up("the service printed an unusable address '" + address + "'");
            port_ = static_cast<std::uint16_t>(port);
            return;
        }
        if (auto status = wait_for(pid_, 0ms)) {
            reaped_ = true;
            exit_status_ = decode_status(*status);
            read_stdout(0ms);
            give_up("the service exited with status " + std::to_string(exit_status_) +
                    " before printing 'listening on'");
        }
    }
    give_up("the service did not print 'listening on' within " + std::to_string(options.ready_timeout.count()) +
            " ms");
}

service_process::~service_process()
{
    kill_and_reap();
    if (stdout_fd_ >= 0) ::close(stdout_fd_);
}

void service_process::kill_and_reap() noexcept
{
    if (pid_ <= 0 || reaped_) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    // SIGKILL cannot be ignored, so this wait ends promptly.
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
    exit_status_ = decode_status(status);
}

void service_process::send_signal(int signal_number)
{
    if (reaped_) throw std::runtime_error{"send_signal: the service has already exited"};
    if (::kill(pid_, signal_number) != 0) throw std::runtime_error{"kill: " + errno_text(errno)};
}

std::optional<int> service_process::wait_exit(std::chrono::milliseconds timeout)
{
    if (!reaped_) {
        const auto status = wait_for(pid_, timeout);
        if (!status) return std::nullopt;
        reaped_ = true;
        exit_status_ = decode_status(*status);
    }
    // The process is gone, so the pipe's writer is closed: reading ends at end of file.
    read_stdout(0ms);
    return exit_status_;
}

bool service_process::running()
{
    if (reaped_) return false;
    if (auto status = wait_for(pid_, 0ms)) {
        reaped_ = true;
        exit_status_ = decode_status(*status);
        return false;
    }
    return true;
}

void service_process::read_stdout(std::chrono::milliseconds wait)
{
    if (stdout_fd_ < 0) {
        std::this_thread::sleep_for(wait);  // stdout already ended; keep callers' polling loops slow
        return;
    }
    pollfd pfd{stdout_fd_, POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(wait.count())) <= 0) return;
    // Bounded: at most a few MiB per call, and the pipe is non-blocking.
    char chunk[4096];
    for (int i = 0; i < 1024; ++i) {
        const ssize_t n = ::read(stdout_fd_, chunk, sizeof chunk);
        if (n > 0) {
            stdout_.append(chunk, static_cast<std::size_t>(n));
            continue;
        }
        if (n == 0) {  // end of file: the service and everything it started closed stdout
            ::close(stdout_fd_);
            stdout_fd_ = -1;
        }
        break;
    }
}

std::string service_process::stdout_text()
{
    read_stdout(0ms);
    return stdout_;
}

std::string service_process::stderr_text() const
{
    std::error_code ec;
    if (!fs::exists(stderr_file_, ec)) return {};
    return read_file(stderr_file_);
}

bool service_process::wait_for_stderr(std::string_view needle, std::chrono::milliseconds timeout) const
{
    const auto deadline = steady::now() + timeout;
    for (;;) {
        if (stderr_text().find(needle) != std::string::npos) return true;
        if (steady::now() >= deadline) return false;
        std::this_thread::sleep_for(20ms);
    }
}

// ----------------------------------------------------------------------------------------- run_cli

cli_result run_cli(const std::vector<std::string>& args, const env_map& env, const std::optional<fs::path>& cwd,
                   std::chrono::milliseconds timeout, source_location where)
{
    // Files, not pipes: the output of a command that never ends is still there to report.
    temp_dir work{"raydeploy-cli"};
    const fs::path out_file = work.path() / "stdout.log";
    const fs::path err_file = work.path() / "stderr.log";
    const int out_fd = ::open(out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out_fd < 0) fail(where, "cannot create " + out_file.string() + ": " + errno_text(errno));
    pid_t pid = -1;
    try {
        pid = spawn(args, env, cwd.value_or(work.path()), out_fd, err_file, where);
    } catch (...) {
        ::close(out_fd);
        throw;
    }
    ::close(out_fd);

    auto status = wait_for(pid, timeout);
    if (!status) {
        ::kill(pid, SIGKILL);
        int ignored = 0;
        ::waitpid(pid, &ignored, 0);
        std::string command = "raydeploy";
        for (const auto& arg : args) command += " " + arg;
        fail(where, "'" + command + "' did not finish within " + std::to_string(timeout.count()) +
                        " ms (killed)\n  stdout:\n" + prefix_lines(read_file(out_file)) + "  stderr:\n" +
                        prefix_lines(read_file(err_file)));
    }
    return {decode_status(*status), read_file(out_file), read_file(err_file)};
}

// --------------------------------------------------------------------------------- http_connection

struct http_connection::impl {
    net::io_context io;
    tcp::socket socket{io};
    beast::flat_buffer buffer;

    // Runs one asynchronous operation to completion or until `timeout`, whichever comes first.
    // At the deadline the operation is cancelled (it then completes with operation_aborted, which
    // is reported as timed_out); the socket stays open.
    template <class Start>
    std::pair<beast::error_code, std::size_t> run(Start&& start, std::chrono::milliseconds timeout)
    {
        std::optional<std::pair<beast::error_code, std::size_t>> result;
        bool timed_out = false;
        net::steady_timer timer{io};
        timer.expires_after(timeout);
        timer.async_wait([&](beast::error_code ec) {
            if (ec || result) return;
            timed_out = true;
            beast::error_code ignored;
            socket.cancel(ignored);
        });
        start([&](beast::error_code ec, std::size_t n) {
            result.emplace(ec, n);
            timer.cancel();
        });
        io.restart();
        io.run();  // ends: the timer either fires (cancelling the operation) or is cancelled by it
        if (timed_out && result->first == net::error::operation_aborted) result->first = net::error::timed_out;
        return *result;
    }
};

http_connection::http_connection(std::uint16_t port, std::chrono::milliseconds timeout, source_location where)
    : impl_{std::make_unique<impl>()}, timeout_{timeout}
{
    const tcp::endpoint endpoint{net::ip::make_address_v4("127.0.0.1"), port};
    auto [ec, n] = impl_->run(
        [&](auto handler) {
            impl_->socket.async_connect(endpoint, [handler](beast::error_code e) mutable { handler(e, 0); });
        },
        timeout);
    if (ec) fail(where, "cannot connect to 127.0.0.1:" + std::to_string(port) + ": " + ec.message());
}

http_connection::~http_connection() = default;

void http_connection::send(const http::request<http::string_body>& req, source_location where)
{
    auto [ec, n] = impl_->run([&](auto handler) { http::async_write(impl_->socket, req, handler); }, timeout_);
    if (ec) fail(where, "sending the request failed: " + ec.message());
}

void http_connection::send_raw(std::string_view bytes, source_location where)
{
    auto [ec, n] = impl_->run([&](auto handler) { net::async_write(impl_->socket, net::buffer(bytes), handler); },
                              timeout_);
    if (ec) fail(where, "sending " + std::to_string(bytes.size()) + " bytes failed: " + ec.message());
}

response http_connection::receive(source_location where)
{
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    auto [ec, n] = impl_->run([&](auto handler) { http::async_read(impl_->socket, impl_->buffer, parser, handler); },
                              timeout_);
    if (ec) fail(where, "reading the response failed: " + ec.message());
    return parser.release();
}

response http_connection::exchange(const http::request<http::string_body>& req, source_location where)
{
    send(req, where);
    return receive(where);
}

void http_connection::shutdown_send()
{
    beast::error_code ignored;
    impl_->socket.shutdown(tcp::socket::shutdown_send, ignored);
}

std::optional<std::string> http_connection::wait_closed(std::chrono::milliseconds within)
{
    // Bytes a previous receive() buffered beyond its response count as received too.
    std::string received = beast::buffers_to_string(impl_->buffer.data());
    impl_->buffer.consume(impl_->buffer.size());
    const auto deadline = steady::now() + within;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
        if (left <= 0ms) return std::nullopt;
        char chunk[16 * 1024];
        auto [ec, n] = impl_->run([&](auto handler) { impl_->socket.async_read_some(net::buffer(chunk), handler); },
                                  left);
        received.append(chunk, n);
        if (ec == net::error::timed_out) return std::nullopt;
        if (ec) return received;  // end of stream, reset: the server closed the connection
    }
}

// ---------------------------------------------------------------------------------- one-shot calls

http::request<http::string_body> make_request(http::verb verb, std::string_view target, std::string body,
                                              const std::map<std::string, std::string>& headers)
{
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, "127.0.0.1");
    req.set(http::field::user_agent, "raydeploy-integration-tests");
    // As the CLI does: the service refuses a POST that does not say JSON, even an empty one.
    if (verb == http::verb::post) req.set(http::field::content_type, "application/json");
    for (const auto& [name, value] : headers) req.set(name, value);
    if (!body.empty() || verb == http::verb::post || verb == http::verb::put) {
        req.body() = std::move(body);
        req.prepare_payload();
    }
    return req;
}

response http_get(std::uint16_t port, std::string_view target, source_location where)
{
    return http_request(port, http::verb::get, target, {}, {}, where);
}

response http_request(std::uint16_t port, http::verb verb, std::string_view target, std::string body,
                      const std::map<std::string, std::string>& headers, source_location where)
{
    http_connection connection{port, 5s, where};
    return connection.exchange(make_request(verb, target, std::move(body), headers), where);
}

std::string raw_exchange(std::uint16_t port, std::string_view bytes, std::chrono::milliseconds timeout,
                         source_location where)
{
    http_connection connection{port, timeout, where};
    try {
        connection.send_raw(bytes, where);
    } catch (const std::runtime_error&) {
        // The server may answer and close before reading everything; its answer is still there.
    }
    connection.shutdown_send();
    return connection.wait_closed(timeout).value_or("");
}

response parse_response(std::string_view raw, source_location where)
{
    http::response_parser<http::string_body> parser;
    parser.eager(true);
    parser.body_limit(64 * 1024 * 1024);
    beast::error_code ec;
    std::size_t used = 0;
    // Bounded by the input: every round consumes bytes or stops.
    while (!parser.is_done() && used < raw.size()) {
        const std::size_t n = parser.put(net::buffer(raw.data() + used, raw.size() - used), ec);
        if (ec == http::error::need_more) break;
        if (ec) break;
        if (n == 0) break;
        used += n;
    }
    if (!parser.is_done()) {
        beast::error_code eof_ec;
        if (parser.is_header_done()) parser.put_eof(eof_ec);
        if (!parser.is_done())
            fail(where, "no complete HTTP response in " + std::to_string(raw.size()) + " bytes" +
                            (ec ? " (" + ec.message() + ")" : std::string{}) + ":\n" + prefix_lines(std::string{raw}));
    }
    return parser.release();
}

json::value parse_json(std::string_view text, source_location where)
{
    beast::error_code ec;
    json::value value = json::parse(text, ec);
    if (ec) fail(where, "not valid JSON (" + ec.message() + "):\n" + prefix_lines(std::string{text}));
    return value;
}

std::string text(const json::value& value)
{
    return value.is_string() ? std::string{value.get_string()} : "<not a string: " + json::serialize(value) + ">";
}

std::string text(const json::object& object, std::string_view key)
{
    const auto* value = object.if_contains(key);
    return value ? text(*value) : "<no " + std::string{key} + ">";
}

std::int64_t integer(const json::value& value)
{
    if (value.is_int64() || value.is_uint64()) return value.to_number<std::int64_t>();
    throw std::runtime_error{"not an integer: " + json::serialize(value)};
}

std::int64_t integer(const json::object& object, std::string_view key)
{
    const auto* value = object.if_contains(key);
    if (!value) throw std::runtime_error{"no '" + std::string{key} + "' in " + json::serialize(object)};
    return integer(*value);
}

const json::object& object_at(const json::object& object, std::string_view key)
{
    const auto* value = object.if_contains(key);
    if (!value || !value->is_object())
        throw std::runtime_error{"'" + std::string{key} + "' is not an object in " + json::serialize(object)};
    return value->get_object();
}

namespace {

// The error code of a JSON error body, or a '<…>' description quoting the body when it is not one.
std::string error_code_checked(const response& res, bool only_error_and_message)
{
    const std::string body = res.body();
    beast::error_code ec;
    const json::value value = json::parse(body, ec);
    const auto malformed = [&](std::string_view why) { return "<" + std::string{why} + ": " + body + ">"; };
    if (ec) return malformed("not JSON");
    if (!value.is_object()) return malformed("not a JSON object");
    const auto& object = value.get_object();
    if (only_error_and_message && object.size() != 2) return malformed("expected exactly the keys error and message");
    const auto* code = object.if_contains("error");
    const auto* message = object.if_contains("message");
    if (!code || !code->is_string()) return malformed("no string 'error'");
    if (!message || !message->is_string() || message->get_string().empty()) return malformed("no 'message' text");
    return std::string{code->get_string()};
}

}  // namespace

std::string error_code_of(const response& res) { return error_code_checked(res, true); }

// ------------------------------------------------------------------------ executions and events

json::object json_object_of(const response& res, source_location where)
{
    json::value value = parse_json(res.body(), where);
    if (!value.is_object()) fail(where, "expected a JSON object, got: " + res.body());
    return std::move(value.get_object());
}

std::string error_field_of(const response& res) { return error_code_checked(res, false); }

std::filesystem::path write_stubborn_catalog(const temp_dir& dir, int sleep_seconds)
{
    dir.write_file("stubborn.yml", "---\n"
                                   "- name: Ignore SIGTERM\n"
                                   "  hosts: host1\n"
                                   "  gather_facts: false\n"
                                   "  tasks:\n"
                                   "    - name: Sleep through SIGTERM\n"
                                   "      ansible.builtin.shell: \"trap '' TERM; sleep " +
                                       std::to_string(sleep_seconds) + "; true\"\n"
                                   "      changed_when: false\n");
    return dir.write_file("catalog.yaml", "checkpoints:\n  - name: stubborn\n    playbook: stubborn.yml\n"
                                          "    description: Ignores SIGTERM.\n    timeout: 5m\n");
}

fs::path write_playbook_and_cml_jobs_catalog(const temp_dir& dir, std::string_view playbook_checkpoint)
{
    dir.write_file("jobs.yaml", "jobs:\n  sync: {name: Sync, script: s.py, cpu: 1, memory: 1, timeout: 60}\n");
    const fs::path playbook = source_dir() / "tests" / "fixtures" / "ansible" / "succeed.yml";
    return dir.write_file("catalog.yaml", "checkpoints:\n"
                                          "  - name: " + std::string{playbook_checkpoint} + "\n"
                                          "    playbook: " + playbook.string() + "\n"
                                          "    description: Runs three harmless tasks.\n"
                                          "    timeout: 2m\n"
                                          "  - name: create-jobs\n"
                                          "    kind: cml-jobs\n"
                                          "    jobs_config: jobs.yaml\n"
                                          "    description: Creates the CML jobs.\n"
                                          "    timeout: 2m\n");
}

service_options fixture_service_options(env_map env)
{
    service_options options;
    const fs::path fixtures = source_dir() / "tests" / "fixtures" / "ansible";
    options.catalog = fixtures / "catalog.yaml";
    options.inventory = fixtures / "inventory.yml";
    // Explicit: the binary under test may live outside the checkout (a build directory elsewhere),
    // where the service would not find the project's virtualenv by itself.
    options.args = {"--ansible-playbook", (source_dir() / ".venv" / "bin" / "ansible-playbook").string()};
    options.env = std::move(env);
    return options;
}

bool is_final_status(std::string_view status)
{
    return status == "succeeded" || status == "failed" || status == "cancelled" || status == "timed_out" ||
           status == "interrupted";
}

std::string start_execution(std::uint16_t port, std::string_view checkpoint, std::string body, source_location where)
{
    std::map<std::string, std::string> headers;
    if (!body.empty()) headers["Content-Type"] = "application/json";
    const std::string target = "/api/v1/checkpoints/" + std::string{checkpoint};
    const auto res = http_request(port, http::verb::post, target, std::move(body), headers, where);
    if (res.result_int() != 202)
        fail(where, "POST " + target + " answered " + std::to_string(res.result_int()) + ": " + res.body());
    const json::object answer = json_object_of(res, where);
    const auto* id = answer.if_contains("execution_id");
    if (!id || !id->is_string() || id->get_string().empty()) fail(where, "no execution_id in " + res.body());
    return std::string{id->get_string()};
}

json::object get_execution(std::uint16_t port, std::string_view id, source_location where)
{
    const std::string target = "/api/v1/executions/" + std::string{id};
    const auto res = http_get(port, target, where);
    if (res.result_int() != 200)
        fail(where, "GET " + target + " answered " + std::to_string(res.result_int()) + ": " + res.body());
    return json_object_of(res, where);
}

json::object wait_for_execution(std::uint16_t port, std::string_view id, std::initializer_list<std::string_view> statuses,
                                std::chrono::milliseconds timeout, source_location where)
{
    const auto deadline = steady::now() + timeout;
    for (;;) {
        json::object execution = get_execution(port, id, where);
        const auto* status = execution.if_contains("status");
        if (status && status->is_string())
            for (const auto wanted : statuses)
                if (status->get_string() == wanted) return execution;
        if (steady::now() >= deadline) {
            std::string wanted_list;
            for (const auto wanted : statuses) wanted_list += (wanted_list.empty() ? "" : ", ") + std::string{wanted};
            fail(where, "execution " + std::string{id} + " did not reach " + wanted_list + " within " +
                            std::to_string(timeout.count()) + " ms; last seen: " + json::serialize(execution));
        }
        std::this_thread::sleep_for(50ms);
    }
}

std::string start_deployment(const api_client& client, std::string body, source_location where)
{
    const auto res = client.post("/api/v1/deployments", std::move(body), where);
    if (res.result_int() != 202) fail(where, "POST /api/v1/deployments answered " + std::to_string(res.result_int()) + ": " + res.body());
    const json::object answer = json_object_of(res);
    const auto* id = answer.if_contains("deployment_id");
    if (!id || !id->is_string()) fail(where, "POST /api/v1/deployments answered without a deployment_id: " + res.body());
    return std::string{id->get_string()};
}

json::object wait_deployment_finished(const api_client& client, std::string_view id, std::chrono::milliseconds timeout)
{
    return client.wait_until(
        "/api/v1/deployments/" + std::string{id},
        [](const json::object& d) {
            const auto* status = d.if_contains("status");
            return status && status->is_string() &&
                   (status->get_string() == "succeeded" || status->get_string() == "failed" ||
                    status->get_string() == "cancelled");
        },
        timeout);
}

std::vector<json::object> execution_events(std::uint16_t port, std::string_view id, source_location where)
{
    std::vector<json::object> events;
    std::int64_t since = 0;
    for (int page = 0; page < 1000; ++page) {
        const std::string target =
            "/api/v1/executions/" + std::string{id} + "/events?since_counter=" + std::to_string(since) + "&limit=500";
        const auto res = http_get(port, target, where);
        if (res.result_int() != 200)
            fail(where, "GET " + target + " answered " + std::to_string(res.result_int()) + ": " + res.body());
        const json::object body = json_object_of(res, where);
        const auto* items = body.if_contains("events");
        if (!items || !items->is_array()) fail(where, "no events array in " + res.body());
        if (items->get_array().empty()) return events;
        for (const auto& item : items->get_array()) {
            if (!item.is_object()) fail(where, "an event is not an object: " + json::serialize(item));
            const auto* counter = item.get_object().if_contains("counter");
            if (!counter || !counter->is_number()) fail(where, "an event has no counter: " + json::serialize(item));
            const auto value = counter->to_number<std::int64_t>();
            if (value <= since) fail(where, "GET " + target + " returned counter " + std::to_string(value));
            since = value;
            events.push_back(item.get_object());
        }
    }
    fail(where, "execution " + std::string{id} + " has more events than the test can page through");
}

// ---------------------------------------------------------------------------------------- processes

namespace {

// A /proc file read with plain read(2): a process that ends meanwhile makes read fail with ESRCH,
// which std::ifstream reports by throwing from underflow.
std::string read_proc_file(const std::string& file)
{
    std::string content;
    const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return content;
    char chunk[4096];
    for (;;) {
        const ssize_t n = ::read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        content.append(chunk, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return content;
}

std::vector<process_info> all_processes()
{
    std::vector<process_info> result;
    DIR* proc = ::opendir("/proc");
    if (!proc) return result;
    const pid_t self = ::getpid();
    while (dirent* entry = ::readdir(proc)) {
        char* end = nullptr;
        const long pid = std::strtol(entry->d_name, &end, 10);
        if (pid <= 0 || *end != '\0' || pid == self) continue;
        const std::string dir = "/proc/" + std::string{entry->d_name};
        const std::string stat = read_proc_file(dir + "/stat");
        if (stat.empty()) continue;  // gone meanwhile
        const auto close = stat.rfind(')');
        if (close == std::string::npos || close + 2 >= stat.size()) continue;
        std::istringstream fields{stat.substr(close + 2)};
        char state = '?';
        long ppid = 0, pgid = 0;
        if (!(fields >> state >> ppid >> pgid)) continue;
        if (state == 'Z' || state == 'X') continue;
        std::string cmdline = read_proc_file(dir + "/cmdline");
        while (!cmdline.empty() && cmdline.back() == '\0') cmdline.pop_back();
        for (char& c : cmdline)
            if (c == '\0') c = ' ';
        result.push_back({static_cast<pid_t>(pid), static_cast<pid_t>(pgid), state, std::move(cmdline)});
    }
    ::closedir(proc);
    return result;
}

}  // namespace

std::vector<process_info> processes_matching(std::string_view needle)
{
    std::vector<process_info> result;
    for (auto& process : all_processes())
        if (process.cmdline.find(needle) != std::string::npos) result.push_back(std::move(process));
    return result;
}

std::vector<process_info> processes_in_group(pid_t pgid)
{
    std::vector<process_info> result;
    for (auto& process : all_processes())
        if (process.pgid == pgid) result.push_back(std::move(process));
    return result;
}

std::vector<process_info> wait_until_none(const std::function<std::vector<process_info>()>& probe,
                                          std::chrono::milliseconds timeout)
{
    const auto deadline = steady::now() + timeout;
    for (;;) {
        auto found = probe();
        if (found.empty() || steady::now() >= deadline) return found;
        std::this_thread::sleep_for(50ms);
    }
}

std::string describe(const std::vector<process_info>& processes)
{
    if (processes.empty()) return "(no process)";
    std::string text;
    for (const auto& p : processes)
        text += "\n  pid " + std::to_string(p.pid) + " pgid " + std::to_string(p.pgid) + " state " + p.state + ": " +
                p.cmdline.substr(0, 300);
    return text;
}

run_processes::run_processes(std::string_view execution_id, int sleep_seconds)
    : vars_marker_{"runs/" + std::string{execution_id} + "/extra_vars.yml"},
      sleep_cmdline_{"sleep " + std::to_string(sleep_seconds)}
{
}

bool run_processes::wait_for_sleep(std::chrono::milliseconds timeout)
{
    const auto deadline = steady::now() + timeout;
    for (;;) {
        for (const auto& p : processes_matching(vars_marker_)) groups_.insert(p.pgid);
        for (const auto& p : processes_matching(sleep_cmdline_))
            if (p.cmdline == sleep_cmdline_) {
                groups_.insert(p.pgid);
                return true;
            }
        if (steady::now() >= deadline) return false;
        std::this_thread::sleep_for(50ms);
    }
}

std::vector<process_info> run_processes::now() const
{
    std::vector<process_info> found = processes_matching(vars_marker_);
    for (auto& p : processes_matching(sleep_cmdline_))
        if (p.cmdline == sleep_cmdline_) found.push_back(std::move(p));
    for (const pid_t group : groups_)
        for (auto& p : processes_in_group(group))
            if (std::none_of(found.begin(), found.end(), [&](const process_info& f) { return f.pid == p.pid; }))
                found.push_back(std::move(p));
    return found;
}

// ------------------------------------------------------------------------------- streamed responses

streamed_response::streamed_response(std::uint16_t port, const http::request<http::string_body>& req,
                                     source_location where)
    : parser_{std::make_unique<http::response_parser<http::string_body>>()}
{
    parser_->eager(true);
    parser_->body_limit(64 * 1024 * 1024);
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) fail(where, "socket: " + errno_text(errno));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    // Loopback: connect completes or fails at once.
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0)
        fail(where, "cannot connect to 127.0.0.1:" + std::to_string(port) + ": " + errno_text(errno));
    std::ostringstream out;
    out << req;
    const std::string bytes = out.str();
    timeval send_timeout{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);
    for (std::size_t sent = 0; sent < bytes.size();) {
        const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) fail(where, "sending the request failed: " + errno_text(errno));
        sent += static_cast<std::size_t>(n);
    }
}

streamed_response::~streamed_response()
{
    if (fd_ >= 0) ::close(fd_);
}

bool streamed_response::read_once(std::chrono::milliseconds wait)
{
    if (closed_) return false;
    pollfd pfd{fd_, POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(std::max<std::int64_t>(wait.count(), 0))) <= 0) return false;
    char chunk[16 * 1024];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) {
        closed_ = true;
        beast::error_code ec;
        if (parser_->is_header_done() && !parser_->is_done()) parser_->put_eof(ec);
        return false;
    }
    pending_.append(chunk, static_cast<std::size_t>(n));
    while (!pending_.empty() && !parser_->is_done()) {
        beast::error_code ec;
        const std::size_t used = parser_->put(net::buffer(pending_), ec);
        pending_.erase(0, used);
        if (ec == http::error::need_more) break;
        if (ec) throw std::runtime_error{"the streamed response is not valid HTTP: " + ec.message()};
        if (used == 0) break;
    }
    return true;
}

void streamed_response::read_header(std::chrono::milliseconds timeout, source_location where)
{
    const auto deadline = steady::now() + timeout;
    while (!parser_->is_header_done()) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
        if (left <= 0ms) fail(where, "no complete response header within " + std::to_string(timeout.count()) + " ms");
        if (!read_once(left) && closed_) fail(where, "the server closed the connection before the header was complete");
    }
}

bool streamed_response::read_more(std::chrono::milliseconds timeout)
{
    const auto before = parser_->get().body().size();
    const auto deadline = steady::now() + timeout;
    while (!parser_->is_done() && !closed_ && parser_->get().body().size() == before) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
        if (left <= 0ms) break;
        read_once(left);
    }
    return parser_->get().body().size() > before;
}

bool streamed_response::read_to_end(std::chrono::milliseconds timeout)
{
    const auto deadline = steady::now() + timeout;
    while (!parser_->is_done() && !closed_) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
        if (left <= 0ms) break;
        read_once(left);
    }
    return parser_->is_done();
}

bool streamed_response::header_done() const { return parser_->is_header_done(); }
bool streamed_response::done() const { return parser_->is_done(); }
bool streamed_response::chunked() const { return parser_->chunked(); }
const http::response<http::string_body>& streamed_response::get() const { return parser_->get(); }

// --------------------------------------------------------------------------------------- WebSocket

struct ws_client::impl {
    net::io_context io;
    beast::websocket::stream<beast::tcp_stream> ws{io};
    beast::flat_buffer buffer;
    bool ended = false;
    beast::error_code end_ec;
    beast::websocket::response_type answer;  // to the handshake

    // Runs one asynchronous operation to completion; the tcp_stream's expiry bounds it (at the
    // deadline the socket is closed and the operation completes with beast::error::timeout).
    template <class Start>
    beast::error_code run(Start&& start, std::chrono::milliseconds timeout)
    {
        beast::get_lowest_layer(ws).expires_after(timeout);
        std::optional<beast::error_code> result;
        start([&](beast::error_code ec, auto&&...) { result = ec; });
        io.restart();
        io.run();
        beast::get_lowest_layer(ws).expires_never();
        return result.value_or(net::error::operation_aborted);
    }
};

ws_client::ws_client(std::uint16_t port, std::string_view target, std::optional<int> receive_buffer,
                     std::chrono::milliseconds timeout, source_location where)
    : impl_{std::make_unique<impl>()}
{
    open(port, target, receive_buffer, {}, timeout, where);
}

ws_client::ws_client(std::uint16_t port, std::string_view target, const std::map<std::string, std::string>& headers,
                     std::chrono::milliseconds timeout, source_location where)
    : impl_{std::make_unique<impl>()}
{
    open(port, target, std::nullopt, headers, timeout, where);
}

const response& ws_client::handshake_response() const { return impl_->answer; }

void ws_client::open(std::uint16_t port, std::string_view target, std::optional<int> receive_buffer,
                     const std::map<std::string, std::string>& headers, std::chrono::milliseconds timeout,
                     source_location where)
{
    impl_->ws.set_option(beast::websocket::stream_base::decorator([headers](beast::websocket::request_type& req) {
        for (const auto& [name, value] : headers) req.set(name, value);
    }));
    auto& stream = beast::get_lowest_layer(impl_->ws);
    beast::error_code ec;
    stream.socket().open(tcp::v4(), ec);
    if (ec) fail(where, "socket: " + ec.message());
    // Before connecting, so the window the client announces is small from the start.
    if (receive_buffer) stream.socket().set_option(net::socket_base::receive_buffer_size(*receive_buffer), ec);
    const tcp::endpoint endpoint{net::ip::make_address_v4("127.0.0.1"), port};
    ec = impl_->run([&](auto handler) { stream.async_connect(endpoint, handler); }, timeout);
    if (ec) fail(where, "cannot connect to 127.0.0.1:" + std::to_string(port) + ": " + ec.message());
    auto& answer = impl_->answer;
    ec = impl_->run(
        [&](auto handler) {
            impl_->ws.async_handshake(answer, "127.0.0.1:" + std::to_string(port), target, handler);
        },
        timeout);
    if (ec)
        fail(where, "WebSocket upgrade of " + std::string{target} + " failed (" + ec.message() + "); the answer was " +
                        std::to_string(answer.result_int()) + ": " + answer.body());
}

ws_client::~ws_client()
{
    beast::error_code ignored;
    beast::get_lowest_layer(impl_->ws).socket().close(ignored);
}

std::optional<std::string> ws_client::read(std::chrono::milliseconds timeout, source_location where)
{
    if (impl_->ended) return std::nullopt;
    impl_->buffer.clear();
    const auto ec = impl_->run([&](auto handler) { impl_->ws.async_read(impl_->buffer, handler); }, timeout);
    if (ec == beast::error::timeout) {
        impl_->ended = true;
        impl_->end_ec = ec;
        fail(where, "no WebSocket message and no close within " + std::to_string(timeout.count()) + " ms");
    }
    if (ec) {
        impl_->ended = true;
        impl_->end_ec = ec;
        return std::nullopt;
    }
    return beast::buffers_to_string(impl_->buffer.data());
}

std::string ws_client::write(std::string_view text, std::chrono::milliseconds timeout)
{
    impl_->ws.text(true);
    const auto ec = impl_->run([&](auto handler) { impl_->ws.async_write(net::buffer(text), handler); }, timeout);
    return ec ? ec.message() : std::string{};
}

bool ws_client::ended() const { return impl_->ended; }
int ws_client::close_code() const { return impl_->ws.reason().code; }
std::string ws_client::close_reason() const { return std::string{impl_->ws.reason().reason.c_str()}; }
std::string ws_client::end_error() const { return impl_->end_ec ? impl_->end_ec.message() : std::string{}; }

// ----------------------------------------------------------------------------- bearer tokens and API

std::string sha256_hex_of(std::string_view data)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    if (EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr) != 1)
        throw std::runtime_error{"EVP_Digest(sha256) failed"};
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < size; ++i) {
        out += hex[digest[i] >> 4];
        out += hex[digest[i] & 0xf];
    }
    return out;
}

std::string test_identity::env_entry() const { return name + ":" + role + ":" + sha256_hex_of(token); }

test_identity make_identity(std::string name, std::string role)
{
    static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::random_device device;
    std::string token = "rdp_";
    for (int i = 0; i < 43; ++i) token += alphabet[device() % 64];
    return test_identity{std::move(name), std::move(role), std::move(token)};
}

std::string auth_tokens_env(const std::vector<test_identity>& identities)
{
    std::string value;
    for (const auto& who : identities) value += (value.empty() ? "" : ",") + who.env_entry();
    return value;
}

response api_client::send(http::verb verb, std::string_view target, std::string body, source_location where) const
{
    std::map<std::string, std::string> headers;
    if (token_) headers["Authorization"] = "Bearer " + *token_;
    if (!body.empty()) headers["Content-Type"] = "application/json";
    return http_request(port_, verb, target, std::move(body), headers, where);
}

response api_client::get(std::string_view target, source_location where) const
{
    return send(http::verb::get, target, {}, where);
}

response api_client::post(std::string_view target, std::string body, source_location where) const
{
    return send(http::verb::post, target, std::move(body), where);
}

response api_client::del(std::string_view target, source_location where) const
{
    return send(http::verb::delete_, target, {}, where);
}

json::object api_client::get_object(std::string_view target, source_location where) const
{
    const auto res = get(target, where);
    if (res.result_int() != 200)
        fail(where, "GET " + std::string{target} + " answered " + std::to_string(res.result_int()) + ": " + res.body());
    return json_object_of(res, where);
}

json::object api_client::wait_until(std::string_view target, const std::function<bool(const json::object&)>& done,
                                    std::chrono::milliseconds timeout, source_location where) const
{
    const auto deadline = steady::now() + timeout;
    for (;;) {
        json::object last = get_object(target, where);
        if (done(last)) return last;
        if (steady::now() >= deadline)
            fail(where, "GET " + std::string{target} + " did not reach the awaited state within " +
                            std::to_string(timeout.count()) + " ms; last answer: " + json::serialize(last));
        std::this_thread::sleep_for(100ms);
    }
}

std::vector<json::object> replay_events(const api_client& client, std::string_view query,
                                        std::chrono::milliseconds quiet, std::chrono::milliseconds timeout,
                                        source_location where)
{
    net::io_context io;
    beast::websocket::stream<beast::tcp_stream> ws{io};
    const auto deadline = steady::now() + timeout;
    const auto run = [&](auto&& start, std::chrono::milliseconds limit) {
        beast::get_lowest_layer(ws).expires_after(limit);
        std::optional<beast::error_code> result;
        start([&](beast::error_code ec, auto&&...) { result = ec; });
        io.restart();
        io.run();
        return result.value_or(net::error::operation_aborted);
    };
    const tcp::endpoint endpoint{net::ip::make_address_v4("127.0.0.1"), client.port()};
    auto ec = run([&](auto handler) { beast::get_lowest_layer(ws).async_connect(endpoint, handler); }, 5s);
    if (ec) fail(where, "cannot connect to 127.0.0.1:" + std::to_string(client.port()) + ": " + ec.message());
    if (client.token())
        ws.set_option(beast::websocket::stream_base::decorator([token = *client.token()](beast::websocket::request_type& req) {
            req.set(http::field::authorization, "Bearer " + token);
        }));
    const std::string target = "/api/v1/events?since=0" + (query.empty() ? std::string{} : "&" + std::string{query});
    beast::websocket::response_type answer;
    ec = run([&](auto handler) { ws.async_handshake(answer, "127.0.0.1", target, handler); }, 5s);
    if (ec)
        fail(where, "WebSocket upgrade of " + target + " failed (" + ec.message() + "); the answer was " +
                        std::to_string(answer.result_int()) + ": " + answer.body());
    std::vector<json::object> events;
    beast::flat_buffer buffer;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
        if (left <= 0ms) break;
        buffer.clear();
        ec = run([&](auto handler) { ws.async_read(buffer, handler); }, std::min(quiet, left));
        if (ec) break;  // quiet for `quiet` (a timeout), or the server closed
        const json::value parsed = parse_json(beast::buffers_to_string(buffer.data()), where);
        if (parsed.is_object()) events.push_back(parsed.as_object());
    }
    beast::error_code ignored;
    beast::get_lowest_layer(ws).socket().close(ignored);
    return events;
}

cli_result run_cli_in_process(const std::vector<std::string>& args)
{
    std::ostringstream out, err;
    const int code = raydeploy::cli::run(args, out, err);
    return {code, out.str(), err.str()};
}

std::int64_t timestamp_ms(const boost::json::value& value)
{
    if (!value.is_string()) return -1;
    std::tm tm{};
    int millis = 0;
    const std::string s{value.get_string()};
    if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                    &tm.tm_min, &tm.tm_sec, &millis) != 7)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return static_cast<std::int64_t>(::timegm(&tm)) * 1000 + millis;
}

std::unique_ptr<sqlite::database> open_migrated_database(const fs::path& file)
{
    auto opened = open_database(file);
    migrate(*opened, schema_migrations());
    return opened;
}

response handle_in_process(web::http_server& server, const http::request<http::string_body>& req)
{
    net::io_context io;
    std::optional<web::response> result;
    net::co_spawn(io, server.handle(req, {}), [&](std::exception_ptr error, web::http_server::outcome answer) {
        if (error) std::rethrow_exception(error);
        result = std::move(answer.res);
    });
    io.run_for(std::chrono::seconds{5});
    if (!result) throw std::runtime_error{"the server did not answer the request within 5 s"};
    // As a client would read it: the text, whether the answer owned it or shared it.
    response read{std::move(result->base())};
    read.body() = std::string{result->body().view()};
    return read;
}

}  // namespace raydeploy::test
