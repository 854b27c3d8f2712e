// Starting and talking to the fake Ray dashboard (see fake_ray_support.hpp).
#include "support/fake_ray_support.hpp"

#include <boost/json.hpp>

#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdexcept>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace raydeploy::test {

namespace {

std::string at(const std::source_location& where)
{
    return std::string{where.file_name()} + ":" + std::to_string(where.line()) + ": ";
}

}  // namespace

fake_ray::fake_ray(std::vector<std::string> args, std::source_location where)
{
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw std::runtime_error{at(where) + "pipe2 failed"};
    std::vector<std::string> command{(source_dir() / ".venv" / "bin" / "python").string(),
                                     (source_dir() / "tests" / "fake_ray" / "fake_ray_dashboard.py").string(), "--port",
                                     "0"};
    command.insert(command.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& arg : command) argv.push_back(arg.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
    const int error = ::posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(pipe_fds[1]);
    if (error != 0) {
        ::close(pipe_fds[0]);
        throw std::runtime_error{at(where) + "cannot start the fake Ray dashboard: " + std::strerror(error)};
    }
    // Its first line: {"ray_port": N, "control_port": M}.
    std::string line;
    const auto deadline = std::chrono::steady_clock::now() + 15s;
    while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
        pollfd ready{pipe_fds[0], POLLIN, 0};
        if (::poll(&ready, 1, 200) <= 0) continue;
        char buffer[256];
        const auto got = ::read(pipe_fds[0], buffer, sizeof buffer);
        if (got <= 0) break;
        line.append(buffer, static_cast<std::size_t>(got));
    }
    ::close(pipe_fds[0]);
    if (line.find('\n') == std::string::npos) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
        pid_ = -1;
        throw std::runtime_error{at(where) + "the fake Ray dashboard did not print its ports within 15 s"};
    }
    const boost::json::object ports = parse_json(line.substr(0, line.find('\n')), where).as_object();
    ray_port_ = static_cast<std::uint16_t>(integer(ports, "ray_port"));
    control_port_ = static_cast<std::uint16_t>(integer(ports, "control_port"));
}

fake_ray::~fake_ray()
{
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    // It exits within a fraction of a second; SIGKILL if it does not within 10 s.
    for (int waited = 0; waited < 1000; ++waited) {
        if (::waitpid(pid_, nullptr, WNOHANG) == pid_) return;
        ::usleep(10'000);
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
}

std::string fake_ray::url() const { return "http://127.0.0.1:" + std::to_string(ray_port_); }

response fake_ray::ray(http::verb verb, std::string_view target, std::string body, std::source_location where) const
{
    return http_request(ray_port_, verb, target, std::move(body), {}, where);
}

boost::json::value fake_ray::control(http::verb verb, std::string_view target, std::string body,
                                     std::source_location where) const
{
    const auto res = http_request(control_port_, verb, target, body.empty() ? std::string{"{}"} : std::move(body), {}, where);
    if (res.result_int() != 200)
        throw std::runtime_error{at(where) + "fake Ray control " + std::string{target} + " answered " +
                                 std::to_string(res.result_int()) + ": " + res.body()};
    return parse_json(res.body(), where);
}

boost::json::object fake_ray::serve_details(std::source_location where) const
{
    const auto res = ray(http::verb::get, "/api/serve/applications/", {}, where);
    if (res.result_int() != 200)
        throw std::runtime_error{at(where) + "GET /api/serve/applications/ answered " + std::to_string(res.result_int())};
    return parse_json(res.body(), where).as_object();
}

boost::json::value fake_ray::deployed_config(std::string_view name, std::source_location where) const
{
    const auto details = serve_details(where);
    const auto* apps = details.if_contains("applications");
    if (!apps || !apps->is_object()) return nullptr;
    const auto* app = apps->get_object().if_contains(name);
    if (!app || !app->is_object()) return nullptr;
    const auto* config = app->get_object().if_contains("deployed_app_config");
    return config ? *config : boost::json::value(nullptr);
}

}  // namespace raydeploy::test
