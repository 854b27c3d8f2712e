// Operating the Ray cluster through its dashboard: submitting and stopping jobs, reading their
// logs, deploying and deleting Serve applications. (Watching it is watch/ray_monitor's business;
// this is the write side the jobs and applications routes call.)
//
// Every call is one or a few requests to ray.dashboard_url with ray.request_timeout, the bearer
// token ray.auth_token, ray.ca_file and ray.tls_insecure. POSTs are sent once (a retried submit
// could start a job twice); GETs and the Serve PUT are retried by the HTTP client on connection
// failures and 502/503/504.
//
// Serve writes are read-modify-writes of the whole declarative config (ray/serve_config.hpp):
// GET, change the one application, GET again and compare, PUT. raydeploy's own writes run one at
// a time (a FIFO lock), so two requests to this service never undo each other; a change made by
// someone else between the two GETs fails the write with ray_error_kind::conflict.
//
// Ray's errors are text/plain, often a Python traceback; they become a ray_error whose message is
// the HTTP status and the exception line of that text (ray_error_summary), never the traceback.
//
// @par Thread safety
// Single-threaded: construct and call it on the service's io_context thread (the client and the
// write lock assume no concurrent handlers).
#pragma once

#include "raydeploy/config/settings.hpp"
#include "raydeploy/http/client.hpp"
#include "raydeploy/ray/serve_config.hpp"
#include "raydeploy/util/net.hpp"

#include <boost/asio/experimental/channel.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace raydeploy::web {
class http_client;
struct client_response;
}  // namespace raydeploy::web

namespace raydeploy::ray {

enum class ray_error_kind {
    unavailable,          // no answer (refused, timed out, TLS), or Ray refused raydeploy's token
    not_found,            // the job or application does not exist
    conflict,             // the Serve config changed under the write; a duplicate submission id; a route prefix taken
    rejected,             // Ray refused the request as invalid (400)
    failed,               // Ray answered 5xx (or something unexpected)
    serve_not_installed,  // 501 from the Serve API
};

class ray_error : public std::runtime_error {
public:
    ray_error(ray_error_kind kind, const std::string& message) : std::runtime_error{message}, kind_{kind} {}
    ray_error_kind kind() const noexcept { return kind_; }

private:
    ray_error_kind kind_;
};

// The line of Ray's error text worth showing: for a Python traceback the last exception line
// ("ValueError: Job with submission_id x already exists. ..."), else the first non-empty line;
// trimmed and cut to 300 characters. "" for an empty text.
std::string ray_error_summary(std::string_view text);

// The JSON object a dashboard call (`what`, e.g. "POST /api/jobs/") answered with 2xx. Throws
// ray_error (failed) when the body is not a JSON object, or holds a number too large for a
// double (util/json_input.hpp), saying which.
json::object parse_dashboard_object(std::string_view body, std::string_view what);

struct job_submission {
    std::string entrypoint;
    std::optional<json::object> runtime_env;
    std::optional<json::object> metadata;  // string -> string
    std::optional<std::string> submission_id;
};

// The client options every caller of the Ray dashboard shares (URL and CA settings named in errors,
// timeouts, token, TLS); callers set only their own retries and limits.
web::client_options dashboard_client_options(const ray_settings& settings);

class dashboard_client {
public:
    // Throws config_error when ray.ca_file cannot be loaded. `after_write` is called after every
    // change Ray accepted (the service asks its monitor to poll at once, so events follow).
    dashboard_client(net::any_io_executor executor, const ray_settings& settings,
                     std::function<void()> after_write = {});
    ~dashboard_client();
    dashboard_client(const dashboard_client&) = delete;
    dashboard_client& operator=(const dashboard_client&) = delete;

    // POST /api/jobs/; returns the submission id (Ray's own when none was given).
    net::awaitable<std::string> submit_job(const job_submission& job);
    // POST /api/jobs/{id}/stop: true when a stop signal was sent, false when the job had ended.
    net::awaitable<bool> stop_job(std::string_view submission_id);
    // GET /api/jobs/{id}/logs: the driver's whole log ("" before it started).
    net::awaitable<std::string> job_logs(std::string_view submission_id);

    // Deploys (or redeploys) one application, keeping every other one as Serve runs it. Throws
    // conflict when the route prefix belongs to another application, when Serve runs an
    // application deployed from Python (serve.run) that a declarative PUT would delete, or when
    // the config changed between read and write. When the request's num_replicas or
    // ray_actor_options cannot be placed yet (a new application without `deployments`: Serve
    // names its deployments only once it built it), a follow-up write applies them to every
    // deployment as soon as Serve lists them (within ray.request_timeout * 12; logged when it
    // gives up), unless someone changed the application meanwhile.
    net::awaitable<void> deploy_application(const application_request& request);
    // Removes one application, keeping the others. False when Serve has no application `name`.
    // Removing the last one PUTs an empty list: Serve (and its HTTP proxy) keeps running, where
    // DELETE /api/serve/applications/ would shut it down.
    net::awaitable<bool> delete_application(std::string_view name);

    // Aborts what is in flight; later calls fail with unavailable. Idempotent.
    void cancel();

    // Sends later requests to `dashboard_url` (the Ray cluster raydeploy launched on CML), or to
    // ray.dashboard_url again (nullopt).
    void set_dashboard_url(std::optional<std::string> dashboard_url)
    {
        dashboard_url_ = dashboard_url.value_or(settings_.dashboard_url);
    }

private:
    class write_lock;
    net::awaitable<web::client_response> send(http::verb method, std::string_view path,
                                              std::optional<std::string> json_body = std::nullopt);
    net::awaitable<json::object> read_serve();
    net::awaitable<void> write_serve(const serve_config& read, const serve_config& changed);
    net::awaitable<void> place_defaults_later(application_request request, json::object deployed);

    net::any_io_executor executor_;
    ray_settings settings_;
    std::string dashboard_url_ = settings_.dashboard_url;
    std::function<void()> after_write_;
    std::unique_ptr<web::http_client> http_;
    // Capacity 1: holding the lock is having sent into it; waiters queue in order.
    net::experimental::channel<void(boost::system::error_code)> serve_writes_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
    bool cancelled_ = false;
};

}  // namespace raydeploy::ray
