// The fake Ray dashboard as a child process (see fake_ray_support.hpp).
#include "support/fake_ray_support.hpp"

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

[[noreturn]] void fail(const std::source_location& where, const std::string& message)
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

fake_ray::fake_ray(std::vector<std::string> args, std::source_location where)
{
    // The project's virtualenv interpreter, as ctest's fake_ray.dashboard test uses; the fake needs
    // only the standard library.
    args.insert(args.begin(), {(source_dir() / ".venv" / "bin" / "python").string(),
                               (source_dir() / "tests" / "fake_ray" / "fake_ray_dashboard.py").string()});
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
    const int error = ::posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), envp.data());
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
        fail(where, "the fake Ray dashboard " + why + "; its stderr:\n" + log);
    };
    // Its first line: {"ray_port": N, "control_port": M}.
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
        const auto ports = parse_json(line.substr(0, line.find('\n'))).as_object();
        ray_port_ = static_cast<std::uint16_t>(integer(ports, "ray_port"));
        control_port_ = static_cast<std::uint16_t>(integer(ports, "control_port"));
    } catch (const std::exception& e) {
        give_up("printed an unexpected first line '" + line + "' (" + e.what() + ")");
    }
}

fake_ray::~fake_ray()
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

std::string fake_ray::dashboard_url() const { return "http://127.0.0.1:" + std::to_string(ray_port_); }

response fake_ray::ray(http::verb verb, std::string_view target, std::string body, std::source_location where) const
{
    return http_request(ray_port_, verb, target, std::move(body), {}, where);
}

json::value fake_ray::control(http::verb verb, std::string_view target, std::string body,
                              std::source_location where) const
{
    const auto answer =
        http_request(control_port_, verb, target, body.empty() ? std::string{"{}"} : std::move(body), {}, where);
    if (answer.result_int() != 200)
        fail(where, "the fake's " + std::string{target} + " answered " + std::to_string(answer.result_int()) + ": " +
                        answer.body());
    return parse_json(answer.body(), where);
}

void fake_ray::set_fault(std::string_view mode, const std::vector<std::string>& paths, double delay_s,
                         std::source_location where) const
{
    json::array path_list;
    for (const auto& path : paths) path_list.emplace_back(path);
    const json::object body{{"mode", mode}, {"paths", std::move(path_list)}, {"delay_s", delay_s}};
    control(http::verb::post, "/fault", json::serialize(body), where);
}

json::object fake_ray::nodes(const json::object& body, std::source_location where) const
{
    return control(http::verb::post, "/nodes", json::serialize(body), where).as_object();
}

json::object fake_ray::state(std::source_location where) const
{
    return control(http::verb::get, "/state", {}, where).as_object();
}

std::int64_t fake_ray::request_count(std::string_view path, std::source_location where) const
{
    const auto counts = object_at(control(http::verb::get, "/requests", {}, where).as_object(), "counts");
    const auto* count = counts.if_contains(path);
    return count ? count->to_number<std::int64_t>() : 0;
}

json::object fake_ray::serve_details(std::source_location where) const
{
    const auto answer = ray(http::verb::get, "/api/serve/applications/", {}, where);
    if (answer.result_int() != 200)
        fail(where, "GET /api/serve/applications/ answered " + std::to_string(answer.result_int()));
    return parse_json(answer.body(), where).as_object();
}

json::value fake_ray::deployed_config(std::string_view name, std::source_location where) const
{
    const auto details = serve_details(where);
    const auto* apps = details.if_contains("applications");
    if (!apps || !apps->is_object()) return nullptr;
    const auto* app = apps->get_object().if_contains(name);
    if (!app || !app->is_object()) return nullptr;
    const auto* config = app->get_object().if_contains("deployed_app_config");
    return config ? *config : json::value(nullptr);
}

std::string fake_ray::stderr_text() const
{
    std::error_code ec;
    const auto file = work_.path() / "stderr.log";
    return fs::exists(file, ec) ? read_file(file) : std::string{};
}

service_watching_fake_ray::service_watching_fake_ray(std::vector<std::string> fake_args, env_map env)
    : ray{std::move(fake_args)},
      service{[&] {
          service_options options;
          options.env = {{"RAYDEPLOY_AUTH_TOKENS", auth_tokens_env({viewer_id, operator_id, admin_id})},
                         {"RAYDEPLOY_RAY_DASHBOARD_URL", ray.dashboard_url()},
                         {"RAYDEPLOY_RAY_POLL_INTERVAL", "200ms"},
                         {"RAYDEPLOY_RAY_REQUEST_TIMEOUT", "2s"}};
          options.env.merge(env);
          return options;
      }()},
      viewer{service.port(), viewer_id}, operator_{service.port(), operator_id}, admin{service.port(), admin_id}
{
    viewer.wait_until(
        "/api/v1/cluster/status",
        [](const json::object& status) { return text(object_at(status, "source"), "state") == "CONNECTED"; }, 15s);
}

json::object service_watching_fake_ray::wait_for_status(const api_client& client, const std::string& target,
                                                        std::string_view status, std::source_location where) const
{
    const auto deadline = steady::now() + 15s;
    std::string last;
    while (steady::now() < deadline) {
        const auto res = client.get(target, where);
        last = res.body();
        if (res.result_int() == 200) {
            auto found = json_object_of(res, where);
            if (text(found, "status") == status) return found;
        }
        std::this_thread::sleep_for(100ms);
    }
    fail(where, target + " did not show status " + std::string{status} + " within 15 s; last answer: " + last);
}

}  // namespace raydeploy::test
