// The write side of the Ray integration: jobs and Serve applications through the dashboard's REST
// APIs (reference part B.6, B.7). I/O and error mapping only; the Serve config merge is pure
// (serve_config.cpp).
#include "raydeploy/ray/dashboard_client.hpp"

#include "raydeploy/http/client.hpp"
#include "raydeploy/util/log.hpp"
#include "raydeploy/util/json_input.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

#include <regex>

namespace raydeploy::ray {

namespace {

// Ray's error texts are tracebacks that can run to pages; one line of them is what a person needs.
constexpr std::size_t max_summary = 300;

std::string trim(std::string_view text)
{
    const auto first = text.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos) return {};
    const auto last = text.find_last_not_of(" \t\r\n");
    return std::string{text.substr(first, last - first + 1)};
}

std::string cut(std::string text)
{
    if (text.size() <= max_summary) return text;
    text.resize(max_summary - 3);
    return text + "...";
}

std::string token_hint()
{
    return "the dashboard wants a valid token; set RAYDEPLOY_RAY_TOKEN (or ray.auth_token_file) to the cluster's "
           "token and restart raydeploy";
}

// Maps an answer that is not 2xx to a ray_error. `what` is "POST /api/jobs/".
[[noreturn]] void throw_for(const web::client_response& answer, std::string_view what)
{
    const std::string status = "HTTP " + std::to_string(answer.status);
    const std::string summary = ray_error_summary(answer.body);
    const std::string said = summary.empty() ? std::string{} : ": " + summary;
    switch (answer.status) {
    case 401:
    case 403: throw ray_error{ray_error_kind::unavailable, std::string{what} + " answered " + status + ": " + token_hint()};
    case 404: throw ray_error{ray_error_kind::not_found, std::string{what} + " answered " + status + said};
    case 400: throw ray_error{ray_error_kind::rejected, "Ray refused " + std::string{what} + " (" + status + ")" + said};
    case 501:
        throw ray_error{ray_error_kind::serve_not_installed,
                        "Serve is not installed on the Ray cluster (" + std::string{what} + " answered " + status +
                            "); install ray[serve] on the head node (pip install \"ray[serve]\") and restart Ray"};
    case 503:
        throw ray_error{ray_error_kind::unavailable, std::string{what} + " answered " + status + said +
                                                         "; the cluster may be starting, or its GCS is down: check "
                                                         "'ray status' on the head node"};
    default: break;
    }
    if (summary.find("already exists") != std::string::npos)
        throw ray_error{ray_error_kind::conflict, summary};
    throw ray_error{ray_error_kind::failed, "Ray answered " + status + " to " + std::string{what} + said +
                                                "; the dashboard's log on the head node (dashboard.log) has the rest"};
}

std::string application_word(const std::vector<std::string>& names)
{
    std::string text;
    for (const auto& name : names) text += (text.empty() ? "" : ", ") + name;
    return text;
}

}  // namespace

std::string ray_error_summary(std::string_view text)
{
    static const std::regex exception_line{R"(^[A-Za-z_][A-Za-z0-9_.]*(Error|Exception|Exit|Interrupt|Warning)\b.*)"};
    std::vector<std::string> lines;
    for (std::size_t start = 0; start <= text.size();) {
        const auto end = std::min(text.find('\n', start), text.size());
        lines.push_back(trim(text.substr(start, end - start)));
        start = end + 1;
    }
    const bool traceback = text.find("Traceback (most recent call last)") != std::string_view::npos;
    if (traceback) {
        // The innermost exception is the last one printed; Ray wraps an agent's error in its own
        // ("RuntimeError: Request failed with status code 400: Traceback ..."), so look from the end.
        for (auto it = lines.rbegin(); it != lines.rend(); ++it)
            if (std::regex_match(*it, exception_line)) return cut(*it);
    }
    for (const auto& line : lines)
        if (!line.empty() && line.rfind("Traceback", 0) != 0) return cut(line);
    return {};
}

// ------------------------------------------------------------------------------------------------

// Held while one read-modify-write of the Serve config runs.
class dashboard_client::write_lock {
public:
    explicit write_lock(dashboard_client& owner) : owner_{&owner}, alive_{owner.alive_} {}
    write_lock(const write_lock&) = delete;
    write_lock& operator=(const write_lock&) = delete;
    ~write_lock()
    {
        if (*alive_) owner_->serve_writes_.try_receive([](boost::system::error_code) {});
    }

    static net::awaitable<std::unique_ptr<write_lock>> acquire(dashboard_client& owner)
    {
        auto [ec] = co_await owner.serve_writes_.async_send(boost::system::error_code{}, nothrow_awaitable);
        if (ec) throw ray_error{ray_error_kind::unavailable, "raydeploy is shutting down; the write was not made"};
        co_return std::make_unique<write_lock>(owner);
    }

private:
    dashboard_client* owner_;
    std::shared_ptr<bool> alive_;
};

json::object parse_dashboard_object(std::string_view body, std::string_view what)
{
    boost::system::error_code ec;
    json::value value = util::parse_outside_json(body, ec);
    if (ec == json::error::exponent_overflow)
        throw ray_error{ray_error_kind::failed,
                        std::string{what} + " answered JSON with a number too large for a double, which raydeploy "
                                            "cannot store or pass on: look at the answer with curl, and at the "
                                            "dashboard's log on the head node (dashboard.log)"};
    if (ec || !value.is_object())
        throw ray_error{ray_error_kind::failed, std::string{what} + " answered something other than a JSON object: is "
                                                                    "ray.dashboard_url the Ray dashboard (Ray 2.x)?"};
    return std::move(value.get_object());
}

web::client_options dashboard_client_options(const ray_settings& settings)
{
    web::client_options options;
    options.purpose = "the Ray dashboard";
    options.url_setting = "ray.dashboard_url";
    options.ca_setting = "ray.ca_file";
    options.request_timeout = settings.request_timeout;
    options.connect_timeout = settings.request_timeout;
    options.bearer_token = settings.auth_token;
    options.ca_file = settings.ca_file;
    options.tls_insecure = settings.tls_insecure;
    return options;
}

dashboard_client::dashboard_client(net::any_io_executor executor, const ray_settings& settings,
                                   std::function<void()> after_write)
    : executor_{executor}, settings_{settings}, after_write_{std::move(after_write)}, serve_writes_{executor, 1}
{
    web::client_options options = dashboard_client_options(settings_);
    // Someone is waiting for the answer: one quick retry of a GET or PUT, not the default's three.
    options.retry.max_attempts = 2;
    options.retry.max_delay = std::chrono::milliseconds{1000};
    options.retry.max_retry_after = std::chrono::milliseconds{1000};
    http_ = std::make_unique<web::http_client>(executor, options);
}

dashboard_client::~dashboard_client() { *alive_ = false; }

void dashboard_client::cancel()
{
    cancelled_ = true;
    http_->cancel();
    serve_writes_.cancel();
}

net::awaitable<web::client_response> dashboard_client::send(http::verb method, std::string_view path,
                                                            std::optional<std::string> json_body)
{
    boost::urls::url url = boost::urls::parse_absolute_uri(dashboard_url_).value();
    url.set_path(path);
    try {
        // Each answer is awaited into a named value first: GCC 12 miscompiles co_await inside a
        // co_return expression or an initializer list (temporaries destroyed twice).
        std::optional<web::request_body> body;
        if (json_body) body = web::request_body{"application/json", *json_body};
        auto answer = co_await http_->request(method, url, std::move(body));
        co_return answer;
    } catch (const web::client_error& e) {
        // The client's message names the request and what to check (ray.dashboard_url, ray.ca_file).
        throw ray_error{ray_error_kind::unavailable, e.what()};
    }
}

net::awaitable<std::string> dashboard_client::submit_job(const job_submission& job)
{
    json::object body{{"entrypoint", job.entrypoint}};
    if (job.runtime_env) body["runtime_env"] = *job.runtime_env;
    if (job.metadata) body["metadata"] = *job.metadata;
    if (job.submission_id) body["submission_id"] = *job.submission_id;
    const auto answer = co_await send(http::verb::post, "/api/jobs/", json::serialize(body));
    if (!answer.success()) throw_for(answer, "POST /api/jobs/");
    const auto document = parse_dashboard_object(answer.body, "POST /api/jobs/");
    const auto* id = document.if_contains("submission_id");
    if (!id || !id->is_string()) id = document.if_contains("job_id");
    if (!id || !id->is_string())
        throw ray_error{ray_error_kind::failed, "POST /api/jobs/ accepted the job but named no submission_id"};
    if (after_write_) after_write_();
    co_return std::string{id->get_string()};
}

net::awaitable<bool> dashboard_client::stop_job(std::string_view submission_id)
{
    const std::string path = "/api/jobs/" + std::string{submission_id} + "/stop";
    const auto answer = co_await send(http::verb::post, path, std::string{"{}"});
    if (!answer.success()) throw_for(answer, "POST " + path);
    const auto document = parse_dashboard_object(answer.body, "POST " + path);
    const auto* stopped = document.if_contains("stopped");
    if (after_write_) after_write_();
    co_return stopped && stopped->is_bool() && stopped->get_bool();
}

net::awaitable<std::string> dashboard_client::job_logs(std::string_view submission_id)
{
    const std::string path = "/api/jobs/" + std::string{submission_id} + "/logs";
    const auto answer = co_await send(http::verb::get, path);
    if (!answer.success()) throw_for(answer, "GET " + path);
    const auto document = parse_dashboard_object(answer.body, "GET " + path);
    const auto* logs = document.if_contains("logs");
    co_return logs && logs->is_string() ? std::string{logs->get_string()} : std::string{};
}

net::awaitable<json::object> dashboard_client::read_serve()
{
    const auto answer = co_await send(http::verb::get, "/api/serve/applications/");
    if (!answer.success()) throw_for(answer, "GET /api/serve/applications/");
    co_return parse_dashboard_object(answer.body, "GET /api/serve/applications/");
}

namespace {

serve_config config_of(const json::object& details, std::uint16_t port)
{
    try {
        return serve_config_from(details, port);
    } catch (const std::invalid_argument& e) {
        throw ray_error{ray_error_kind::failed, e.what()};
    }
}

void refuse_imperative(const serve_config& config)
{
    if (config.not_declarative.empty()) return;
    throw ray_error{ray_error_kind::conflict,
                    "Serve runs application(s) deployed from Python with serve.run() (" +
                        application_word(config.not_declarative) +
                        "); Serve's REST API can only write the whole config, which would delete them. Deploy those "
                        "with a config file (serve deploy) or through this API, or shut them down, then retry"};
}

}  // namespace

net::awaitable<void> dashboard_client::write_serve(const serve_config& read, const serve_config& changed)
{
    // The second read: anything another writer changed since the first one would be undone by
    // our PUT, so refuse instead.
    const auto again = config_of(co_await read_serve(), settings_.serve_http_port);
    if (!same_applications(read, again))
        throw ray_error{ray_error_kind::conflict,
                        "the Serve config changed while raydeploy was writing it (someone else deployed or deleted an "
                        "application); retry"};
    const auto answer = co_await send(http::verb::put, "/api/serve/applications/", json::serialize(put_body(changed)));
    if (!answer.success()) throw_for(answer, "PUT /api/serve/applications/");
    if (after_write_) after_write_();
}

net::awaitable<void> dashboard_client::deploy_application(const application_request& request)
{
    json::object deployed;
    {
        const auto lock = co_await write_lock::acquire(*this);
        const auto details = co_await read_serve();
        const auto current = config_of(details, settings_.serve_http_port);
        refuse_imperative(current);
        if (const auto owner = route_prefix_owner(current, request.route_prefix, request.name))
            throw ray_error{ray_error_kind::conflict, "route_prefix " + request.route_prefix +
                                                          " is served by application '" + *owner +
                                                          "'; choose another route_prefix"};
        const auto known = deployment_names(details, request.name);
        deployed = application_config(request, known);
        co_await write_serve(current, with_application(current, deployed));
        if (!needs_deployment_names(request, known)) co_return;
    }
    net::co_spawn(executor_, place_defaults_later(request, std::move(deployed)),
                  [name = request.name](std::exception_ptr failure) {
                      if (!failure) return;
                      try {
                          std::rethrow_exception(failure);
                      } catch (const std::exception& e) {
                          log::warn("num_replicas and ray_actor_options were not applied to the application's "
                                    "deployments; deploy it again with `deployments` naming them",
                                    {{"application", name}, {"error", e.what()}});
                      }
                  });
}

// Serve names an application's deployments only once it has imported and built it: wait for the
// names, then write the request's defaults into each, unless the application changed meanwhile.
net::awaitable<void> dashboard_client::place_defaults_later(application_request request, json::object deployed)
{
    const auto alive = alive_;
    net::steady_timer timer{executor_};
    const auto deadline = std::chrono::steady_clock::now() + settings_.request_timeout * 12;
    while (std::chrono::steady_clock::now() < deadline) {
        timer.expires_after(std::chrono::milliseconds{500});
        co_await timer.async_wait(net::use_awaitable);
        if (!*alive || cancelled_) co_return;
        const auto details = co_await read_serve();
        const auto seen = config_of(details, settings_.serve_http_port);
        const auto* now = find_application(seen, request.name);
        if (!now || *now != deployed) co_return;  // deleted or redeployed by someone: theirs wins
        const auto names = deployment_names(details, request.name);
        if (names.empty()) continue;

        const auto lock = co_await write_lock::acquire(*this);
        const auto current = config_of(co_await read_serve(), settings_.serve_http_port);
        const auto* still = find_application(current, request.name);
        if (!still || *still != deployed) co_return;
        co_await write_serve(current, with_application(current, application_config(request, names)));
        log::info("applied num_replicas and ray_actor_options to the application's deployments",
                  {{"application", request.name}, {"deployments", application_word(names)}});
        co_return;
    }
    throw ray_error{ray_error_kind::unavailable, "Serve did not list the application's deployments in time"};
}

net::awaitable<bool> dashboard_client::delete_application(std::string_view name)
{
    const auto lock = co_await write_lock::acquire(*this);
    const auto current = config_of(co_await read_serve(), settings_.serve_http_port);
    if (!find_application(current, name)) {
        if (std::find(current.not_declarative.begin(), current.not_declarative.end(), name) !=
            current.not_declarative.end())
            throw ray_error{ray_error_kind::conflict, "application '" + std::string{name} +
                                                          "' was deployed from Python with serve.run(); delete it with "
                                                          "serve.delete() there"};
        co_return false;
    }
    refuse_imperative(current);
    co_await write_serve(current, without_application(current, name));
    co_return true;
}

}  // namespace raydeploy::ray
