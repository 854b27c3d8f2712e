// Ray jobs: list and read them from the monitor's snapshot; submit, stop and read logs through the
// dashboard. Viewers see each job's entrypoint but not the values of runtime_env.env_vars, which
// often hold credentials; the audit trail records the submission id, never the body.
#include "raydeploy/api/ray_helpers.hpp"
#include "raydeploy/api/ray_requests.hpp"
#include "raydeploy/api/request_helpers.hpp"
#include "raydeploy/api/routes.hpp"
#include "raydeploy/watch/ray_monitor.hpp"

#include <algorithm>

namespace raydeploy::api {
namespace {

// Operators and above submitted or may submit the jobs; below that, env var values stay hidden.
bool redacted_for(const identity& caller) { return caller.level < role::operator_; }

const watch::ray_job* find_job(const watch::ray_monitor& monitor, std::string_view id)
{
    const auto& snapshot = monitor.snapshot();
    if (!snapshot || !snapshot->jobs) return nullptr;
    for (const auto& job : *snapshot->jobs)
        if ((job.submission_id && *job.submission_id == id) || (job.job_id && *job.job_id == id)) return &job;
    return nullptr;
}

[[noreturn]] void job_not_found(const watch::ray_monitor& monitor, std::string_view id)
{
    const auto when = observed_at(monitor);
    throw api_error{http::status::not_found, "JOB_NOT_FOUND",
                    "no Ray job '" + std::string{id} + "' in the cluster as observed " +
                        (when.is_string() ? "at " + std::string{when.get_string()} : std::string{"so far (not polled yet)"}) +
                        "; GET /api/v1/jobs lists them (a job submitted just now appears within one poll interval)",
                    json::object{{"submission_id", id}}};
}

const std::string& checked_id(const request_context& ctx)
{
    const std::string& id = ctx.path_param("id");
    if (!valid_job_id(id))
        throw api_error{http::status::not_found, "JOB_NOT_FOUND",
                        "'" + id + "' is not a Ray job id (letters, digits, '_' and '-'); GET /api/v1/jobs lists them",
                        json::object{{"submission_id", id}}};
    return id;
}

}  // namespace

void add_job_routes(router& routes, const std::shared_ptr<const service_state>& state)
{
    add_route(routes, http::verb::get, "/api/v1/jobs", role::viewer, [state](request_context& ctx) -> net::awaitable<response> {
        const auto& monitor = monitor_of(*state);
        const auto wanted = ctx.query("status") ? job_status_filter(*ctx.query("status")) : std::vector<std::string>{};
        const bool redact = redacted_for(ctx.caller);
        json::array jobs;
        const auto& snapshot = monitor.snapshot();
        if (snapshot && snapshot->jobs)
            for (const auto& job : *snapshot->jobs)
                if (wanted.empty() || std::find(wanted.begin(), wanted.end(), job.status) != wanted.end())
                    jobs.push_back(watch::job_view(job, redact));
        json::object body{{"total_jobs", jobs.size()}};
        body["jobs"] = std::move(jobs);
        stamp(body, monitor);
        co_return json_response(http::status::ok, body);
    });

    add_route(routes, http::verb::get, "/api/v1/jobs/{id}", role::viewer, [state](request_context& ctx) -> net::awaitable<response> {
        const auto& monitor = monitor_of(*state);
        const std::string& id = ctx.path_param("id");
        const auto* job = find_job(monitor, id);
        if (!job) job_not_found(monitor, id);
        json::object body = watch::job_view(*job, redacted_for(ctx.caller));
        stamp(body, monitor);
        co_return json_response(http::status::ok, body);
    });

    add_audited(routes, state, http::verb::post, "/api/v1/jobs", role::operator_, "job.submit",
                [state](request_context& ctx) -> net::awaitable<response> {
                    const auto job = job_submission_from(json_body(ctx));
                    auto& dashboard = dashboard_of(*state);
                    std::string id;
                    try {
                        id = co_await dashboard.submit_job(job);
                    } catch (const ray::ray_error& e) {
                        throw_ray_error(e, *state, "JOB_NOT_FOUND");
                    }
                    response res = json_response(
                        http::status::accepted,
                        json::object{{"submission_id", id}, {"status", "PENDING"}, {"job", "/api/v1/jobs/" + id}});
                    res.set(http::field::location, "/api/v1/jobs/" + id);
                    co_return res;
                });

    add_audited(routes, state, http::verb::post, "/api/v1/jobs/{id}/stop", role::operator_, "job.stop",
                [state](request_context& ctx) -> net::awaitable<response> {
                    const std::string& id = checked_id(ctx);
                    auto& dashboard = dashboard_of(*state);
                    bool stopped = false;
                    try {
                        stopped = co_await dashboard.stop_job(id);
                    } catch (const ray::ray_error& e) {
                        if (e.kind() == ray::ray_error_kind::rejected)
                            // Ray's 400 here: a DRIVER job (a script that called ray.init), not a submission.
                            throw api_error{http::status::conflict, "JOB_NOT_STOPPABLE",
                                            "Ray stops only jobs submitted through its Jobs API; job '" + id +
                                                "' is a driver script: stop it where it runs"};
                        throw_ray_error(e, *state, "JOB_NOT_FOUND");
                    }
                    co_return json_response(http::status::ok, json::object{{"submission_id", id}, {"stopped", stopped}});
                });

    add_route(routes, http::verb::get, "/api/v1/jobs/{id}/logs", role::viewer, [state](request_context& ctx) -> net::awaitable<response> {
        const std::string& id = checked_id(ctx);
        auto& dashboard = dashboard_of(*state);
        std::string logs;
        try {
            logs = co_await dashboard.job_logs(id);
        } catch (const ray::ray_error& e) {
            if (e.kind() == ray::ray_error_kind::rejected)
                throw api_error{http::status::conflict, "JOB_LOGS_UNAVAILABLE",
                                "Ray keeps logs only of jobs submitted through its Jobs API; job '" + id +
                                    "' is a driver script: read its output where it runs"};
            throw_ray_error(e, *state, "JOB_NOT_FOUND");
        }
        co_return json_response(http::status::ok, json::object{{"submission_id", id}, {"logs", logs}});
    });
}

}  // namespace raydeploy::api
