// Test helpers: temp directories, the raydeploy binary as a child process, a bounded HTTP client.
#include "support/test_support.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/json/parse.hpp>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <poll.h>
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

[[noreturn]] void fail(const std::source_location& where, const std::string& message)
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
        if (name.starts_with("RAYDEPLOY_")) continue;
        merged[name] = std::string{text.substr(equals + 1)};
    }
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
            const fs::path& stderr_file, const std::source_location& where)
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

service_process::service_process(service_options options, std::source_location where)
{
    start(std::move(options), where);
}

void service_process::start(service_options options, std::source_location where)
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

    const std::string_view marker = "listening on http://";
    const auto deadline = steady::now() + options.ready_timeout;
    while (steady::now() < deadline) {
        read_stdout(50ms);
        const auto at = stdout_.find(marker);
        const auto end = at == std::string::npos ? std::string::npos : stdout_.find('\n', at);
        if (end != std::string::npos) {
            const std::string address = stdout_.substr(at + marker.size(), end - at - marker.size());
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
                   std::chrono::milliseconds timeout, std::source_location where)
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

http_connection::http_connection(std::uint16_t port, std::chrono::milliseconds timeout, std::source_location where)
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

void http_connection::send(const http::request<http::string_body>& req, std::source_location where)
{
    auto [ec, n] = impl_->run([&](auto handler) { http::async_write(impl_->socket, req, handler); }, timeout_);
    if (ec) fail(where, "sending the request failed: " + ec.message());
}

void http_connection::send_raw(std::string_view bytes, std::source_location where)
{
    auto [ec, n] = impl_->run([&](auto handler) { net::async_write(impl_->socket, net::buffer(bytes), handler); },
                              timeout_);
    if (ec) fail(where, "sending " + std::to_string(bytes.size()) + " bytes failed: " + ec.message());
}

response http_connection::receive(std::source_location where)
{
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    auto [ec, n] = impl_->run([&](auto handler) { http::async_read(impl_->socket, impl_->buffer, parser, handler); },
                              timeout_);
    if (ec) fail(where, "reading the response failed: " + ec.message());
    return parser.release();
}

response http_connection::exchange(const http::request<http::string_body>& req, std::source_location where)
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
    for (const auto& [name, value] : headers) req.set(name, value);
    if (!body.empty() || verb == http::verb::post || verb == http::verb::put) {
        req.body() = std::move(body);
        req.prepare_payload();
    }
    return req;
}

response http_get(std::uint16_t port, std::string_view target, std::source_location where)
{
    return http_request(port, http::verb::get, target, {}, {}, where);
}

response http_request(std::uint16_t port, http::verb verb, std::string_view target, std::string body,
                      const std::map<std::string, std::string>& headers, std::source_location where)
{
    http_connection connection{port, 5s, where};
    return connection.exchange(make_request(verb, target, std::move(body), headers), where);
}

std::string raw_exchange(std::uint16_t port, std::string_view bytes, std::chrono::milliseconds timeout,
                         std::source_location where)
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

response parse_response(std::string_view raw, std::source_location where)
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

json::value parse_json(std::string_view text, std::source_location where)
{
    beast::error_code ec;
    json::value value = json::parse(text, ec);
    if (ec) fail(where, "not valid JSON (" + ec.message() + "):\n" + prefix_lines(std::string{text}));
    return value;
}

std::string error_code_of(const response& res)
{
    const std::string body = res.body();
    beast::error_code ec;
    const json::value value = json::parse(body, ec);
    const auto malformed = [&](std::string_view why) { return "<" + std::string{why} + ": " + body + ">"; };
    if (ec) return malformed("not JSON");
    if (!value.is_object()) return malformed("not a JSON object");
    const auto& object = value.get_object();
    if (object.size() != 2) return malformed("expected exactly the keys error and message");
    const auto* code = object.if_contains("error");
    const auto* message = object.if_contains("message");
    if (!code || !code->is_string()) return malformed("no string 'error'");
    if (!message || !message->is_string() || message->get_string().empty()) return malformed("no 'message' text");
    return std::string{code->get_string()};
}

}  // namespace raydeploy::test
