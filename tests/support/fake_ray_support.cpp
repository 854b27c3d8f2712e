// The fake Ray dashboard as a child process (see fake_ray_support.hpp).
#include "support/fake_ray_support.hpp"

#include <boost/json.hpp>

#include <stdexcept>
#include <thread>

namespace raydeploy::test {
namespace {

namespace json = boost::json;
using steady = std::chrono::steady_clock;

[[noreturn]] void fail(const source_location& where, const std::string& message)
{
    throw std::runtime_error{fs::path{where.file_name()}.filename().string() + ":" + std::to_string(where.line()) +
                             ": " + message};
}

}  // namespace

fake_ray::fake_ray(std::vector<std::string> args, source_location where)
    : process_{"the fake Ray dashboard", "tests/fake_ray/fake_ray_dashboard.py", std::move(args), where},
      ray_port_{process_.port("ray_port", where)}, control_port_{process_.port("control_port", where)}
{
}

std::string fake_ray::dashboard_url() const { return "http://127.0.0.1:" + std::to_string(ray_port_); }

response fake_ray::ray(http::verb verb, std::string_view target, std::string body, source_location where) const
{
    return http_request(ray_port_, verb, target, std::move(body), {}, where);
}

json::value fake_ray::control(http::verb verb, std::string_view target, std::string body,
                              source_location where) const
{
    const auto answer =
        http_request(control_port_, verb, target, body.empty() ? std::string{"{}"} : std::move(body), {}, where);
    if (answer.result_int() != 200)
        fail(where, "the fake's " + std::string{target} + " answered " + std::to_string(answer.result_int()) + ": " +
                        answer.body());
    return parse_json(answer.body(), where);
}

void fake_ray::set_fault(std::string_view mode, const std::vector<std::string>& paths, double delay_s,
                         source_location where) const
{
    json::array path_list;
    for (const auto& path : paths) path_list.emplace_back(path);
    const json::object body{{"mode", mode}, {"paths", std::move(path_list)}, {"delay_s", delay_s}};
    control(http::verb::post, "/fault", json::serialize(body), where);
}

json::object fake_ray::nodes(const json::object& body, source_location where) const
{
    return control(http::verb::post, "/nodes", json::serialize(body), where).as_object();
}

json::object fake_ray::state(source_location where) const
{
    return control(http::verb::get, "/state", {}, where).as_object();
}

std::int64_t fake_ray::request_count(std::string_view path, source_location where) const
{
    const auto counts = object_at(control(http::verb::get, "/requests", {}, where).as_object(), "counts");
    const auto* count = counts.if_contains(path);
    return count ? count->to_number<std::int64_t>() : 0;
}

json::object fake_ray::serve_details(source_location where) const
{
    const auto answer = ray(http::verb::get, "/api/serve/applications/", {}, where);
    if (answer.result_int() != 200)
        fail(where, "GET /api/serve/applications/ answered " + std::to_string(answer.result_int()));
    return parse_json(answer.body(), where).as_object();
}

json::value fake_ray::deployed_config(std::string_view name, source_location where) const
{
    const auto details = serve_details(where);
    const auto* apps = details.if_contains("applications");
    if (!apps || !apps->is_object()) return nullptr;
    const auto* app = apps->get_object().if_contains(name);
    if (!app || !app->is_object()) return nullptr;
    const auto* config = app->get_object().if_contains("deployed_app_config");
    return config ? *config : json::value(nullptr);
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
                                                        std::string_view status, source_location where) const
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
