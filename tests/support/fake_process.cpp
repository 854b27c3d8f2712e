// A fake server as a child process (see fake_process.hpp).
#include "support/fake_process.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdexcept>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace raydeploy::test {
namespace {

namespace json = boost::json;
using steady = std::chrono::steady_clock;

[[noreturn]] void fail(const source_location& where, const std::string& message)
{
    throw std::runtime_error{fs::path{where.file_name()}.filename().string() + ":" + std::to_string(where.line()) +
                             ": " + message};
}

bool reap(pid_t pid, std::chrono::milliseconds timeout)
{
    const auto deadline = steady::now() + timeout;
    for (;;) {
        int status = 0;
        const pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid || (r < 0 && errno != EINTR)) return true;
        if (steady::now() >= deadline) return false;
        std::this_thread::sleep_for(20ms);
    }
}

}  // namespace

fake_process::fake_process(std::string what, const fs::path& script, std::vector<std::string> args,
                           source_location where)
    : what_{std::move(what)}, work_{"raydeploy-fake"}
{
    const fs::path venv_python = source_dir() / ".venv" / "bin" / "python";
    std::error_code ec;
    const bool venv = fs::exists(venv_python, ec);
    args.insert(args.begin(), {venv ? venv_python.string() : std::string{"python3"}, (source_dir() / script).string()});
    const fs::path stderr_file = work_.path() / "stderr.log";
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) fail(where, std::string{"pipe2: "} + std::strerror(errno));

    auto environment = child_environment_for({{"PYTHONUNBUFFERED", "1"}});
    std::vector<char*> argv, envp;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    for (auto& entry : environment) envp.push_back(entry.data());
    envp.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, stderr_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    // posix_spawnp: "python3" is looked up in PATH; the virtualenv's is an absolute path.
    const int error = ::posix_spawnp(&pid_, argv[0], &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    stdout_fd_ = fds[0];
    if (error != 0) {
        pid_ = -1;
        fail(where, "cannot start " + args.front() + ": " + std::strerror(error) +
                        "; the project's virtualenv comes from scripts/bootstrap.sh");
    }

    const auto give_up = [&](const std::string& why) {
        const std::string log = stderr_text();
        ::kill(pid_, SIGKILL);
        reap(pid_, 5s);
        pid_ = -1;
        fail(where, what_ + " " + why + "; its stderr:\n" + log);
    };
    std::string line;
    const auto deadline = steady::now() + 15s;
    while (line.find('\n') == std::string::npos) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
        if (left <= 0ms) give_up("did not print its ports within 15 s");
        pollfd pfd{stdout_fd_, POLLIN, 0};
        if (::poll(&pfd, 1, static_cast<int>(std::min<std::chrono::milliseconds>(left, 100ms).count())) <= 0) continue;
        char chunk[512];
        const ssize_t n = ::read(stdout_fd_, chunk, sizeof chunk);
        if (n == 0) give_up("exited before printing its ports");
        if (n > 0) line.append(chunk, static_cast<std::size_t>(n));
    }
    try {
        ready_ = parse_json(line.substr(0, line.find('\n'))).as_object();
    } catch (const std::exception& e) {
        give_up("printed an unexpected first line '" + line + "' (" + e.what() + ")");
    }
}

fake_process::~fake_process()
{
    if (pid_ > 0) {
        ::kill(pid_, SIGTERM);
        if (!reap(pid_, 5s)) {
            ::kill(pid_, SIGKILL);
            reap(pid_, 5s);
        }
    }
    if (stdout_fd_ >= 0) ::close(stdout_fd_);
}

std::uint16_t fake_process::port(std::string_view key, source_location where) const
{
    const auto* value = ready_.if_contains(key);
    if (!value || !value->is_int64() || value->get_int64() <= 0 || value->get_int64() > 65535)
        fail(where, what_ + " printed no port '" + std::string{key} + "' in " + json::serialize(ready_));
    return static_cast<std::uint16_t>(value->get_int64());
}

std::string fake_process::stderr_text() const
{
    std::error_code ec;
    const auto file = work_.path() / "stderr.log";
    return fs::exists(file, ec) ? read_file(file) : std::string{};
}

}  // namespace raydeploy::test
