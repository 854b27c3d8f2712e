// What a teardown would end, read from the Ray monitor's last snapshot.
#include "raydeploy/watch/live_impact.hpp"

#include "raydeploy/util/time.hpp"
#include "raydeploy/watch/ray_monitor.hpp"

#include <string>

namespace raydeploy::watch {
namespace {

bool job_runs(const ray_job& job) { return job.status == "PENDING" || job.status == "RUNNING"; }

// A Serve application that is being deleted ends by itself; every other one ends with Ray.
bool application_runs(const serve_application& app) { return app.status != "DELETING" && app.status != "DELETED"; }

std::string counted(std::size_t count, std::string_view one, std::string_view many)
{
    return std::to_string(count) + " " + std::string{count == 1 ? one : many};
}

struct running_work {
    std::vector<const ray_job*> jobs;
    std::vector<const serve_application*> applications;
    std::size_t pending_jobs = 0;

    bool empty() const { return jobs.empty() && applications.empty(); }

    // "2 running Ray jobs and 1 Serve application"; pending jobs end as surely as running ones.
    std::string describe() const
    {
        std::string jobs_text;
        if (!jobs.empty())
            jobs_text = pending_jobs == 0 ? counted(jobs.size(), "running Ray job", "running Ray jobs")
                        : pending_jobs == jobs.size()
                            ? counted(jobs.size(), "pending Ray job", "pending Ray jobs")
                            : counted(jobs.size(), "Ray job", "Ray jobs") + " (" +
                                  std::to_string(jobs.size() - pending_jobs) + " running, " +
                                  std::to_string(pending_jobs) + " pending)";
        const std::string apps_text =
            applications.empty() ? std::string{} : counted(applications.size(), "Serve application", "Serve applications");
        if (jobs_text.empty()) return apps_text;
        if (apps_text.empty()) return jobs_text;
        return jobs_text + " and " + apps_text;
    }
};

running_work work_of(const ray_snapshot& snapshot)
{
    running_work work;
    if (snapshot.jobs)
        for (const auto& job : *snapshot.jobs)
            if (job_runs(job)) {
                work.jobs.push_back(&job);
                if (job.status == "PENDING") ++work.pending_jobs;
            }
    if (snapshot.serve)
        for (const auto& app : snapshot.serve->applications)
            if (application_runs(app)) work.applications.push_back(&app);
    return work;
}

boost::json::value text_or_null(const std::optional<std::string>& text)
{
    return text ? boost::json::value(*text) : boost::json::value(nullptr);
}

std::string unknown_note(const source_health& health, bool enabled)
{
    std::string why;
    if (!enabled)
        why = "raydeploy does not watch the Ray dashboard (ray.enabled is false)";
    else if (health.state() == source_state::unknown)
        why = "raydeploy has not read the Ray dashboard yet";
    else if (health.last_success_at())
        why = "raydeploy could not read the Ray dashboard since " + format_timestamp(*health.last_success_at());
    else
        why = "raydeploy could not read the Ray dashboard since the service started";
    // A DEGRADED source answered in part: what it read may be stale, so it does not count as known.
    if (enabled && health.state() == source_state::degraded)
        why = "raydeploy read the Ray dashboard only in part (" + health.last_error().value_or("some endpoints failed") +
              ")";
    return "the cluster's state is unknown: " + why + "; check what runs before approving";
}

}  // namespace

boost::json::object live_impact(const std::optional<ray_snapshot>& snapshot, const source_health& health, bool enabled)
{
    const bool fresh = enabled && health.connected() && snapshot.has_value();
    boost::json::object impact;
    impact["observed_at"] = snapshot ? boost::json::value(format_timestamp(snapshot->observed_at)) : nullptr;
    impact["source_state"] = enabled ? std::string{to_string(health.state())} : std::string{"DISABLED"};
    impact["fresh"] = fresh;
    boost::json::array jobs;
    boost::json::array applications;
    const running_work work = snapshot ? work_of(*snapshot) : running_work{};
    if (fresh) {
        for (const ray_job* job : work.jobs) {
            if (jobs.size() == max_listed_work) break;
            jobs.push_back(boost::json::object{{"submission_id", text_or_null(job->submission_id)},
                                               {"job_id", text_or_null(job->job_id)},
                                               {"entrypoint", job->entrypoint},
                                               {"status", job->status}});
        }
        for (const serve_application* app : work.applications) {
            if (applications.size() == max_listed_work) break;
            applications.push_back(boost::json::object{
                {"name", app->name}, {"status", app->status}, {"route_prefix", text_or_null(app->route_prefix)}});
        }
    }
    impact["jobs_total"] = static_cast<std::int64_t>(fresh ? work.jobs.size() : 0);
    impact["applications_total"] = static_cast<std::int64_t>(fresh ? work.applications.size() : 0);
    impact["jobs"] = std::move(jobs);
    impact["applications"] = std::move(applications);
    if (fresh) {
        impact["summary"] = work.empty() ? "no Ray job or Serve application is running as of " +
                                               format_timestamp(snapshot->observed_at)
                                         : work.describe() + " will end";
    } else {
        std::string summary = "the cluster's state is unknown";
        if (snapshot && enabled)
            summary += work.empty() ? "; when last read (" + format_timestamp(snapshot->observed_at) +
                                          ") no Ray job or Serve application was running"
                                    : "; when last read (" + format_timestamp(snapshot->observed_at) + ") Ray listed " +
                                          work.describe();
        impact["summary"] = summary;
        impact["note"] = unknown_note(health, enabled);
    }
    return impact;
}

boost::json::object live_impact(const ray_monitor& monitor)
{
    return live_impact(monitor.snapshot(), monitor.health(), monitor.enabled());
}

}  // namespace raydeploy::watch
