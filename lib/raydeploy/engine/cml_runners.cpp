// The CML runners (see cml_runners.hpp). Every step is an event (`cml.<what>`) and a line of the
// run's log, so a follower of the WebSocket feed and a reader of the log see the same story.
#include "raydeploy/engine/cml_runners.hpp"

#include "raydeploy/cml/cml_client.hpp"
#include "raydeploy/cml/cml_config.hpp"
#include "raydeploy/watch/ray_monitor.hpp"

#include <boost/json/serialize.hpp>

#include <map>
#include <optional>
#include <set>
#include <string>

namespace raydeploy::cml {

namespace json = boost::json;

namespace {

runner_outcome failure(std::string reason)
{
    runner_outcome outcome;
    outcome.status = execution_status::failed;
    outcome.reason = std::move(reason);
    return outcome;
}

runner_outcome success()
{
    runner_outcome outcome;
    outcome.status = execution_status::succeeded;
    outcome.rc = 0;
    return outcome;
}

// What the CML runners share: the client, the wait between two looks at CML, and how a stop ends
// the run.
class cml_runner : public checkpoint_runner {
public:
    cml_runner(net::any_io_executor executor, std::shared_ptr<const cml_settings> settings,
               std::shared_ptr<cml_availability> availability)
        : executor_{std::move(executor)}, settings_{std::move(settings)}, availability_{std::move(availability)},
          timer_{executor_}
    {
    }

    bool survives_restart() const override { return true; }

    void stop(stop_cause cause) override
    {
        if (stopped_ != stop_cause::none) return;
        stopped_ = cause;
        timer_.cancel();
        // Ends the request in flight at once. Stopping CML's own work (wind_down) uses a new client.
        if (client_) client_->cancel();
    }

    net::awaitable<runner_outcome> run(run_context& context) final
    {
        if (!settings_->configured())
            co_return failure("CML is not configured: set cml.host (RAYDEPLOY_CML_HOST) to the workspace's URL and the "
                              "API key in RAYDEPLOY_CML_API_KEY or cml.api_key_file, then run '" +
                              context.item().name + "' again");
        std::string setup_error;
        try {
            client_ = std::make_unique<cml_client>(executor_, *settings_);
        } catch (const std::exception& e) {
            setup_error = e.what();
        }
        if (!setup_error.empty()) co_return failure(setup_error);

        runner_outcome outcome;
        std::string error;
        try {
            outcome = co_await steps(context);
            availability_->answered();
        } catch (const cml_error& e) {
            error = e.what();
            if (e.kind() == cml_error_kind::unauthorized || e.kind() == cml_error_kind::unavailable)
                availability_->unavailable(error);
            else if (e.kind() != cml_error_kind::cancelled)
                availability_->answered();
        } catch (const cml_parse_error& e) {
            error = std::string{"CML answered something that is not API v2's: "} + e.what() +
                    "; check that cml.host is the workspace's URL";
        }
        if (stopped_ == stop_cause::none && !error.empty()) co_return failure(error);
        if (stopped_ == stop_cause::detach) {
            outcome.detached = true;
            co_return outcome;
        }
        if (stopped_ == stop_cause::cancel || stopped_ == stop_cause::timeout) {
            co_await wind_down(context);
            outcome = runner_outcome{};
            outcome.status = stopped_ == stop_cause::cancel ? execution_status::cancelled : execution_status::timed_out;
            outcome.reason = stopped_ == stop_cause::cancel
                                 ? "cancelled on request" + stop_note_
                                 : "the checkpoint's timeout passed" + stop_note_ + "; raise its timeout or run it again";
        }
        co_return outcome;
    }

protected:
    // The kind's work; throws cml_error for what CML refused. Returns early (any outcome) once
    // stopped() is true.
    virtual net::awaitable<runner_outcome> steps(run_context& context) = 0;
    // After a cancel or a timeout: stops what the run started in CML. stop_note_ says what it did.
    virtual net::awaitable<void> wind_down(run_context&) { co_return; }

    cml_client& client() { return *client_; }
    const cml_settings& settings() const { return *settings_; }
    bool stopped() const { return stopped_ != stop_cause::none; }

    // A client for winding down: the run's own was cancelled by stop().
    std::unique_ptr<cml_client> fresh_client() { return std::make_unique<cml_client>(executor_, *settings_); }

    // Waits cml.poll_interval; false when the run was stopped meanwhile.
    net::awaitable<bool> pause()
    {
        timer_.expires_after(settings_->poll_interval);
        auto [ec] = co_await timer_.async_wait(nothrow_awaitable);
        (void)ec;
        co_return !stopped();
    }

    // An event of the run and the same as a line of its log.
    static void say(run_context& context, std::string type, json::object fields, const std::string& line)
    {
        context.write_output(line + "\n");
        context.emit(std::move(type), std::move(fields));
    }

    // The project cml.project_name, which setup-project creates.
    net::awaitable<project> require_project(run_context& context)
    {
        if (settings_->project_name.empty())
            throw cml_error{cml_error_kind::rejected,
                            "cml.project_name is not set: set it (RAYDEPLOY_CML_PROJECT_NAME) to the CML project's name"};
        std::optional<project> found = co_await client().find_project(settings_->project_name);
        if (!found)
            throw cml_error{cml_error_kind::not_found, "CML has no project named '" + settings_->project_name +
                                                           "'; run setup-project first"};
        say(context, "cml.project_found", {{"project_id", found->id}, {"project_name", found->name}},
            "project '" + found->name + "' is " + found->id);
        co_return *found;
    }

    std::string stop_note_;

private:
    net::any_io_executor executor_;
    std::shared_ptr<const cml_settings> settings_;
    std::shared_ptr<cml_availability> availability_;
    net::steady_timer timer_;
    std::unique_ptr<cml_client> client_;
    stop_cause stopped_ = stop_cause::none;
};

// ------------------------------------------------------------------------------- cml-project

class project_runner final : public cml_runner {
public:
    using cml_runner::cml_runner;

private:
    net::awaitable<runner_outcome> steps(run_context& context) override
    {
        const auto& name = settings().project_name;
        if (name.empty())
            co_return failure("cml.project_name is not set: set it (RAYDEPLOY_CML_PROJECT_NAME) to the name the "
                              "project has, or is to have, in CML");
        context.set_progress({{"play", context.item().name}, {"task", "find project " + name},
                              {"tasks_started", 1}, {"tasks_done", 0}},
                             {});
        std::optional<project> found = co_await client().find_project(name);
        project current;
        if (found) {
            current = *found;
            say(context, "cml.project_found",
                {{"project_id", current.id}, {"project_name", name}, {"creation_status", current.creation_status}},
                "project '" + name + "' exists: " + current.id + " (" + current.creation_status + ")");
        } else {
            if (settings().git_url.empty())
                co_return failure("CML has no project named '" + name + "' and cml.git_url is not set: set it "
                                  "(RAYDEPLOY_CML_GIT_URL) to the repository to create the project from");
            project_request request;
            request.name = name;
            request.git_url = settings().git_url;
            current = co_await client().create_project(request);
            say(context, "cml.project_created",
                {{"project_id", current.id}, {"project_name", name}, {"creation_status", current.creation_status}},
                "created project '" + name + "' from " + settings().git_url + ": " + current.id);
        }
        std::string seen = current.creation_status;
        while (!current.ready()) {
            if (current.failed())
                co_return failure("CML could not create project '" + name + "': " + current.creation_status +
                                  "; fix the cause in CML (the git URL and its access), delete the failed project, "
                                  "and run setup-project again");
            const bool go_on = co_await pause();
            if (!go_on) co_return runner_outcome{};
            current = co_await client().get_project(current.id);
            if (current.creation_status != seen) {
                say(context, "cml.project_status",
                    {{"project_id", current.id}, {"old_status", seen}, {"new_status", current.creation_status}},
                    "project " + current.id + ": " + seen + " -> " + current.creation_status);
                seen = current.creation_status;
            } else {
                context.emit("cml.heartbeat", {{"project_id", current.id}, {"creation_status", seen}});
            }
        }
        context.set_progress({{"play", context.item().name}, {"task", "project " + name + " ready"},
                              {"tasks_started", 1}, {"tasks_done", 1}},
                             {});
        context.set_results({{"summary", {{"project_id", current.id}, {"project_name", name}}}}, {});
        co_return success();
    }
};

// ------------------------------------------------------------------------------- cml-jobs

// The CML job request for one job of jobs_config; `parent_id` is its parent's CML id.
job_request request_for(const job_spec& spec, const std::string& parent_id, const cml_settings& settings)
{
    job_request request;
    request.name = spec.name;
    request.script = spec.script;
    request.cpu = spec.cpu;
    request.memory = spec.memory;
    request.timeout = spec.timeout.count();
    request.kill_on_timeout = spec.timeout.count() > 0;
    request.parent_id = parent_id;
    request.runtime_identifier = settings.runtime_identifier;
    return request;
}

class jobs_runner final : public cml_runner {
public:
    using cml_runner::cml_runner;

private:
    net::awaitable<runner_outcome> steps(run_context& context) override
    {
        const auto& config = *context.item().jobs;
        const project in = co_await require_project(context);
        std::vector<job> listed = co_await client().list_jobs(in.id);
        std::map<std::string, job, std::less<>> by_name;
        for (auto& item : listed) by_name.emplace(item.name, std::move(item));

        std::map<std::string, std::string, std::less<>> id_of_key;  // jobs_config key -> CML job id
        json::object per_job;
        int created = 0;
        int updated = 0;
        int done = 0;
        for (const auto& spec : config.jobs) {
            if (stopped()) co_return runner_outcome{};
            const std::string parent_id = spec.parent_key ? id_of_key.at(*spec.parent_key) : std::string{};
            const job_request request = request_for(spec, parent_id, settings());
            const auto existing = by_name.find(spec.name);
            std::string outcome;
            if (existing == by_name.end()) {
                job made = co_await client().create_job(in.id, request);
                id_of_key[spec.key] = made.id;
                ++created;
                outcome = "created";
                say(context, "cml.job_created", {{"job_key", spec.key}, {"job_id", made.id}, {"name", spec.name}},
                    "job " + spec.key + " ('" + spec.name + "'): created " + made.id);
            } else {
                id_of_key[spec.key] = existing->second.id;
                const auto differences = job_differences(existing->second, request);
                if (differences.empty()) {
                    outcome = "unchanged";
                    say(context, "cml.job_unchanged",
                        {{"job_key", spec.key}, {"job_id", existing->second.id}, {"name", spec.name}},
                        "job " + spec.key + " ('" + spec.name + "'): up to date");
                } else {
                    job patched = co_await client().patch_job(in.id, existing->second.id, request);
                    ++updated;
                    outcome = "updated";
                    json::array fields;
                    std::string listed_fields;
                    for (const auto& field : differences) {
                        fields.push_back(json::string(field));
                        listed_fields += (listed_fields.empty() ? "" : ", ") + field;
                    }
                    say(context, "cml.job_updated",
                        {{"job_key", spec.key}, {"job_id", patched.id}, {"name", spec.name}, {"fields", std::move(fields)}},
                        "job " + spec.key + " ('" + spec.name + "'): updated " + listed_fields);
                }
            }
            per_job[spec.key] = {{"job_id", id_of_key[spec.key]}, {"outcome", outcome}};
            ++done;
            context.set_progress({{"play", context.item().name}, {"task", "job " + spec.key},
                                  {"tasks_started", done}, {"tasks_done", done}},
                                 {});
        }
        const bool changed = created + updated > 0;
        const std::string summary = changed ? std::to_string(created) + " job(s) created, " + std::to_string(updated) +
                                                  " updated, " + std::to_string(done - created - updated) + " unchanged"
                                            : "all " + std::to_string(done) + " jobs are up to date in CML: nothing changed";
        say(context, "cml.jobs_summary",
            {{"created", created}, {"updated", updated}, {"unchanged", done - created - updated}, {"changed", changed}},
            summary);
        context.set_results({{"summary", {{"project_id", in.id}, {"changed", changed}, {"jobs", std::move(per_job)}}}},
                            {});
        co_return success();
    }
};

// ------------------------------------------------------------------------------- cml-job-runs

std::string text_of(const environment_map& environment, std::string_view name)
{
    const auto found = environment.find(std::string{name});
    return found == environment.end() ? std::string{} : found->second;
}

bool force_rebuild(const execution_record& record)
{
    const auto* value = record.params.extra_vars.if_contains("force_rebuild");
    return value && value->is_bool() && value->get_bool();
}

class job_runs_runner final : public cml_runner {
public:
    using cml_runner::cml_runner;

    // How many looks (cml.poll_interval apart) CML gets to start a dependent job after its parent.
    static constexpr int dependent_start_looks = 3;

private:
    net::awaitable<runner_outcome> steps(run_context& context) override
    {
        const auto& config = *context.item().jobs;
        const execution_record& record = context.record();
        const bool force = force_rebuild(record);
        const project in = co_await require_project(context);
        project_id_ = in.id;
        std::vector<job> listed = co_await client().list_jobs(in.id);
        std::map<std::string, job, std::less<>> by_name;
        for (auto& item : listed) by_name.emplace(item.name, std::move(item));
        for (const auto& spec : config.jobs)
            if (!by_name.count(spec.name))
                co_return failure("job " + spec.key + " ('" + spec.name + "') does not exist in project '" + in.name +
                                  "'; run create-jobs first");

        // After a restart: the run this execution followed must still be in CML.
        if (context.resumed() && record.attachment.contains("run_id")) {
            const std::string job_id{record.attachment.at("job_id").as_string()};
            const std::string run_id{record.attachment.at("run_id").as_string()};
            std::string gone;
            try {
                job_run attached = co_await client().get_run(in.id, job_id, run_id);
                (void)attached;
            } catch (const cml_error& e) {
                if (e.kind() != cml_error_kind::not_found) throw;
                gone = e.what();
            }
            if (!gone.empty())
                co_return failure("the CML run " + run_id + " of job " + text_of_attachment(record, "job_key") +
                                  " that this execution followed is gone from CML (" + gone +
                                  "); run run-jobs again");
        }

        json::object host_summary;
        int done = 0;
        std::set<std::string, std::less<>> ran_now;              // jobs whose run this execution saw succeed
        std::map<std::string, std::string, std::less<>> baseline;  // child key -> its latest run before its parent ran
        for (const auto& spec : config.jobs) {
            if (stopped()) co_return runner_outcome{};
            const job& target = by_name.at(spec.name);
            const std::string fingerprint = config.fingerprint(spec, settings().runtime_identifier);
            context.set_progress({{"play", context.item().name}, {"task", "job " + spec.key},
                                  {"tasks_started", done + 1}, {"tasks_done", done}},
                                 host_summary);

            std::vector<job_run> recent = co_await client().list_runs(in.id, target.id, 5);
            // CML starts a dependent job by itself once its parent succeeded. When this execution
            // just ran the parent, that run is CML's to start: give it a few looks, and start the
            // job here only when CML did not.
            const auto known = baseline.find(spec.key);
            const bool after_parent = spec.parent_key && ran_now.count(*spec.parent_key) && known != baseline.end();
            const auto started_by_cml = [&] { return after_parent && !recent.empty() && recent.front().id != known->second; };
            for (int look = 0; after_parent && look < dependent_start_looks && !started_by_cml(); ++look) {
                const bool go_on = co_await pause();
                if (!go_on) co_return runner_outcome{};
                recent = co_await client().list_runs(in.id, target.id, 5);
            }
            std::optional<job_run> latest;
            if (!recent.empty()) latest = recent.front();
            job_run current;
            if (started_by_cml()) {
                current = *latest;
                say(context, "cml.job_run_followed",
                    {{"job_key", spec.key}, {"job_id", target.id}, {"run_id", current.id}, {"status", current.status_text}},
                    "job " + spec.key + ": CML started run " + current.id + " after its parent; following it");
            } else if (latest && !latest->terminal()) {
                current = *latest;
                say(context, "cml.job_run_followed",
                    {{"job_key", spec.key}, {"job_id", target.id}, {"run_id", current.id}, {"status", current.status_text}},
                    "job " + spec.key + ": run " + current.id + " is already in progress (" + current.status_text +
                        "); following it");
            } else if (!after_parent && latest && latest->status == run_status::succeeded &&
                       (text_of(latest->environment, execution_id_variable) == record.id ||
                        (!force && text_of(latest->environment, fingerprint_variable) == fingerprint))) {
                const bool ours = text_of(latest->environment, execution_id_variable) == record.id;
                const std::string why = ours ? "this execution already ran it (before a restart)"
                                             : "its latest run " + latest->id +
                                                   " succeeded with the same job definition; set force_rebuild to run it again";
                say(context, "cml.job_run_skipped",
                    {{"job_key", spec.key}, {"job_id", target.id}, {"run_id", latest->id}, {"reason", why}},
                    "job " + spec.key + ": skipped: " + why);
                host_summary[spec.key] = {{"skipped", 1}};
                ++done;
                continue;
            } else {
                run_request request;
                request.environment[std::string{execution_id_variable}] = record.id;
                request.environment[std::string{fingerprint_variable}] = fingerprint;
                current = co_await client().start_run(in.id, target.id, request);
                say(context, "cml.job_run_started",
                    {{"job_key", spec.key}, {"job_id", target.id}, {"run_id", current.id}, {"status", current.status_text}},
                    "job " + spec.key + ": started run " + current.id + (force ? " (force_rebuild)" : "") +
                        (after_parent ? " (CML did not start it after its parent)" : ""));
            }
            // The children's latest runs now, to tell a run CML starts for them once this one
            // succeeded from the runs they had.
            for (const auto& child : config.jobs) {
                if (child.parent_key != spec.key) continue;
                std::vector<job_run> before = co_await client().list_runs(in.id, by_name.at(child.name).id, 1);
                baseline[child.key] = before.empty() ? std::string{} : before.front().id;
            }
            active_job_id_ = target.id;
            active_run_id_ = current.id;
            context.set_attachment({{"job_key", spec.key}, {"job_id", target.id}, {"run_id", current.id}});

            std::string seen = current.status_text;
            int polls = 0;
            while (!current.terminal()) {
                const bool go_on = co_await pause();
                if (!go_on) co_return runner_outcome{};
                current = co_await client().get_run(in.id, target.id, current.id);
                ++polls;
                if (current.status_text != seen) {
                    say(context, "cml.job_run_status",
                        {{"job_key", spec.key}, {"job_id", target.id}, {"run_id", current.id},
                         {"old_status", seen}, {"new_status", current.status_text}},
                        "job " + spec.key + ": run " + current.id + " " + seen + " -> " + current.status_text);
                    seen = current.status_text;
                } else {
                    context.emit("cml.heartbeat", {{"job_key", spec.key}, {"run_id", current.id},
                                                   {"status", current.status_text}, {"polls", polls}});
                }
            }
            active_run_id_.clear();
            if (current.status != run_status::succeeded) {
                host_summary[spec.key] = {{"failures", 1}};
                context.set_progress({{"play", context.item().name}, {"task", "job " + spec.key},
                                      {"tasks_started", done + 1}, {"tasks_done", done}},
                                     host_summary);
                auto outcome = failure("job " + spec.key + " ('" + spec.name + "') run " + current.id + " ended " +
                                       current.status_text + " in CML; read its log in CML, fix the cause, then resume "
                                       "the deployment (or run run-jobs again)");
                outcome.error = json::object{{"task", "job " + spec.key}, {"host", spec.key},
                                             {"message", "run " + current.id + " ended " + current.status_text}};
                co_return outcome;
            }
            host_summary[spec.key] = {{"ok", 1}};
            ran_now.insert(spec.key);
            ++done;
        }
        context.set_progress({{"play", context.item().name}, {"task", "all jobs succeeded"},
                              {"tasks_started", done}, {"tasks_done", done}},
                             host_summary);
        co_return success();
    }

    net::awaitable<void> wind_down(run_context& context) override
    {
        if (active_run_id_.empty()) co_return;
        std::string problem;
        try {
            auto stopper = fresh_client();
            job_run ended = co_await stopper->stop_run(project_id_, active_job_id_, active_run_id_);
            (void)ended;
            stop_note_ = "; CML run " + active_run_id_ + " was stopped";
        } catch (const std::exception& e) {
            problem = e.what();
        }
        if (!problem.empty()) stop_note_ = "; stopping CML run " + active_run_id_ + " failed (" + problem + "): stop it in CML";
        context.write_output("run " + active_run_id_ + ": " + stop_note_.substr(2) + "\n");
    }

    static std::string text_of_attachment(const execution_record& record, std::string_view key)
    {
        const auto* value = record.attachment.if_contains(key);
        return value && value->is_string() ? std::string{value->get_string()} : std::string{"?"};
    }

    std::string project_id_;
    std::string active_job_id_;
    std::string active_run_id_;
};

// ------------------------------------------------------------------------------- cml-ray-cluster

bool application_down(const application& app)
{
    return app.status == application_status::stopped || app.status == application_status::failed ||
           app.status == application_status::stopping;
}

std::string joined(const std::vector<std::string>& items)
{
    std::string out;
    for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
    return out;
}

class ray_cluster_runner final : public cml_runner {
public:
    ray_cluster_runner(net::any_io_executor executor, std::shared_ptr<const cml_settings> settings,
                       std::shared_ptr<cml_availability> availability, std::shared_ptr<ray_cluster_context> cluster)
        : cml_runner{std::move(executor), std::move(settings), std::move(availability)}, cluster_{std::move(cluster)}
    {
    }

private:
    net::awaitable<runner_outcome> steps(run_context& context) override
    {
        if (!cluster_ || !cluster_->registry)
            co_return failure("this raydeploy cannot record a Ray cluster (no registry); run it as `raydeploy serve`");
        const project in = co_await require_project(context);
        project_id_ = in.id;
        prefix_ = subdomain_prefix(settings().project_name);
        std::vector<application> listed = co_await client().list_applications(in.id);
        std::vector<application> ours;
        for (auto& app : listed)
            if (!role_in_cluster(app, prefix_).empty()) ours.push_back(std::move(app));
        if (context.item().action == ray_cluster_action::teardown) {
            auto outcome = co_await teardown(context, std::move(ours));
            co_return outcome;
        }
        auto outcome = co_await launch(context, std::move(ours));
        co_return outcome;
    }

    net::awaitable<void> wind_down(run_context& context) override
    {
        stop_note_ = context.item().action == ray_cluster_action::launch
                         ? "; the applications already started keep running: run teardown-ray-cluster to remove them, "
                           "or launch-ray-cluster again to finish"
                         : "; some applications may remain: run teardown-ray-cluster again";
        co_return;
    }

    // Creates, updates or restarts the application `spec` describes; `existing` is the one CML
    // has with its subdomain, if any. Returns it as CML answered.
    net::awaitable<application> apply(run_context& context, const application_spec& spec, const application* existing)
    {
        if (!existing) {
            application made = co_await client().create_application(project_id_, spec);
            say(context, "cml.application_created",
                {{"app_id", made.id}, {"app_name", spec.name}, {"status", made.status_text}},
                "application " + spec.name + ": created " + made.id + " (" + made.status_text + ")");
            co_return made;
        }
        const auto differences = application_differences(*existing, spec);
        if (!differences.empty()) {
            application patched = co_await client().patch_application(project_id_, existing->id, spec);
            (void)patched;
            application restarted = co_await client().restart_application(project_id_, existing->id);
            json::array fields;
            for (const auto& field : differences) fields.push_back(json::string(field));
            say(context, "cml.application_updated",
                {{"app_id", existing->id}, {"app_name", spec.name}, {"fields", std::move(fields)},
                 {"status", restarted.status_text}},
                "application " + spec.name + ": " + joined(differences) + " changed; updated and restarted");
            co_return restarted;
        }
        if (application_down(*existing)) {
            application restarted = co_await client().restart_application(project_id_, existing->id);
            say(context, "cml.application_restarted",
                {{"app_id", existing->id}, {"app_name", spec.name}, {"old_status", existing->status_text},
                 {"status", restarted.status_text}},
                "application " + spec.name + ": was " + existing->status_text + "; restarted");
            co_return restarted;
        }
        say(context, "cml.application_unchanged",
            {{"app_id", existing->id}, {"app_name", spec.name}, {"status", existing->status_text}},
            "application " + spec.name + ": runs with the same spec; kept (" + existing->status_text + ")");
        co_return *existing;
    }

    // Follows `apps` until every one is RUNNING; a failure names the application. Empty reason: done.
    net::awaitable<std::string> wait_running(run_context& context, std::vector<application>& apps)
    {
        int polls = 0;
        for (;;) {
            std::vector<std::string> waiting;
            for (const auto& app : apps) {
                if (app.status == application_status::failed || app.status == application_status::stopped)
                    co_return "application " + app.name + " (" + app.id + ") is " + app.status_text +
                        " in CML; read its log in CML (Applications > " + app.name +
                        "), fix the cause, then run launch-ray-cluster again";
                if (app.status != application_status::running) waiting.push_back(app.name);
            }
            if (waiting.empty()) co_return std::string{};
            const bool go_on = co_await pause();
            if (!go_on) co_return std::string{};
            ++polls;
            for (auto& app : apps) {
                if (app.status == application_status::running) continue;
                application now = co_await client().get_application(project_id_, app.id);
                if (now.status_text != app.status_text)
                    say(context, "cml.application_status",
                        {{"app_id", app.id}, {"app_name", app.name}, {"old_status", app.status_text},
                         {"new_status", now.status_text}},
                        "application " + app.name + ": " + app.status_text + " -> " + now.status_text);
                app = std::move(now);
            }
            context.emit("cml.heartbeat", {{"waiting_for", "applications"}, {"applications", json::value_from(waiting)},
                                           {"polls", polls}});
        }
    }

    // Waits until Ray, through the monitor, lists every node of `names` ALIVE; sets head_address.
    // Empty reason: done (or stopped).
    net::awaitable<std::string> wait_for_ray(run_context& context, const std::vector<std::string>& names,
                                             std::optional<std::string>& head_address)
    {
        int polls = 0;
        for (;;) {
            const auto monitor = cluster_->monitor.lock();
            if (!monitor || !monitor->enabled())
                co_return std::string{"cml.wait_for_ray is true but nothing watches Ray (ray.enabled is false): set "
                                      "ray.enabled true, or cml.wait_for_ray false where RUNNING applications suffice"};
            std::vector<std::string> missing = names;
            std::size_t alive = 0;
            if (const auto& snapshot = monitor->snapshot(); snapshot && snapshot->nodes) {
                for (const auto& node : *snapshot->nodes) {
                    if (!node.alive()) continue;
                    ++alive;
                    if (node.is_head && !node.ip.empty()) head_address = node.ip + ":" + std::to_string(gcs_port);
                    std::erase(missing, node.name);
                }
            }
            if (missing.empty() && head_address) co_return std::string{};
            monitor->poll_now();
            const bool go_on = co_await pause();
            if (!go_on) co_return std::string{};
            ++polls;
            context.emit("cml.heartbeat", {{"waiting_for", "ray"}, {"dashboard", monitor->dashboard_url()},
                                           {"alive_nodes", alive}, {"missing", json::value_from(missing)},
                                           {"ray_source", monitor->source_state_name()}, {"polls", polls}});
        }
    }

    void record(run_context& context, const std::vector<application>& apps, const std::string& worker_script,
                std::optional<std::string> head_address)
    {
        ray_cluster cluster;
        cluster.project_id = project_id_;
        cluster.prefix = prefix_;
        cluster.dashboard_url = application_url(settings(), prefix_ + "-ray-head");
        cluster.worker_script = worker_script;
        cluster.head_address = std::move(head_address);
        cluster.execution_id = context.record().id;
        for (const auto& app : apps)
            cluster.applications.push_back({app.id, app.name, role_in_cluster(app, prefix_), app.cpu, app.memory,
                                            app.nvidia_gpu});
        std::stable_sort(cluster.applications.begin(), cluster.applications.end(),
                         [](const cluster_application& a, const cluster_application& b) {
                             return std::forward_as_tuple(a.role != "head", a.app_name) <
                                    std::forward_as_tuple(b.role != "head", b.app_name);
                         });
        cluster_->registry->record(std::move(cluster));
    }

    net::awaitable<runner_outcome> launch(run_context& context, std::vector<application> ours)
    {
        const ray_cluster_config& config = *context.item().cluster;
        const auto progress = [&](std::string task, int done) {
            context.set_progress({{"play", context.item().name}, {"task", std::move(task)},
                                  {"tasks_started", done + 1}, {"tasks_done", done}},
                                 {});
        };
        const int steps_total = settings().wait_for_ray ? 5 : 3;
        std::map<std::string, const application*, std::less<>> by_name;
        for (const auto& app : ours) by_name[app.subdomain] = &app;
        const auto existing = [&](const std::string& name) -> const application* {
            const auto found = by_name.find(name);
            return found == by_name.end() ? nullptr : found->second;
        };

        progress("head", 0);
        const application_spec head_spec = head_application(settings(), config, prefix_);
        application head = co_await apply(context, head_spec, existing(head_spec.name));
        if (stopped()) co_return runner_outcome{};
        std::vector<application> heads{head};
        const std::string head_failure = co_await wait_running(context, heads);
        if (!head_failure.empty()) co_return failure(head_failure);
        if (stopped()) co_return runner_outcome{};
        head = heads.front();

        // The monitor watches the new head from here on, so Ray's view builds up while workers start.
        std::vector<application> running{head};
        for (const auto& app : ours)
            if (app.subdomain != head.subdomain) running.push_back(app);
        record(context, running, config.worker_script, std::nullopt);
        const std::string dashboard = application_url(settings(), head.subdomain);
        say(context, "cml.ray_head_running", {{"app_id", head.id}, {"app_name", head.name}, {"dashboard_url", dashboard}},
            "head " + head.name + " runs; its Ray dashboard is " + dashboard);

        std::optional<std::string> head_address;
        std::vector<std::string> node_names{head.name};
        if (settings().wait_for_ray) {
            progress("Ray head ALIVE", 1);
            const std::string ray_failure = co_await wait_for_ray(context, node_names, head_address);
            if (!ray_failure.empty()) co_return failure(ray_failure);
            if (stopped()) co_return runner_outcome{};
        }

        progress("workers", settings().wait_for_ray ? 2 : 1);
        std::vector<application> workers;
        for (unsigned index = 1; index <= config.num_workers; ++index) {
            if (stopped()) co_return runner_outcome{};
            const application_spec spec =
                worker_application(settings(), prefix_, prefix_ + "-ray-worker-" + std::to_string(index),
                                   config.worker_script, config.worker_cpu, config.worker_memory, config.worker_gpus);
            application worker = co_await apply(context, spec, existing(spec.name));
            workers.push_back(std::move(worker));
            node_names.push_back(spec.name);
        }
        progress("workers RUNNING", settings().wait_for_ray ? 3 : 2);
        const std::string worker_failure = co_await wait_running(context, workers);
        if (!worker_failure.empty()) co_return failure(worker_failure);
        if (stopped()) co_return runner_outcome{};

        // Workers the nodes API added, and numbered ones beyond num_workers, are part of the
        // cluster too; launch neither starts nor removes them.
        std::vector<application> all{head};
        json::array extra;
        for (const auto& app : ours) {
            const bool launched_now = app.subdomain == head.subdomain ||
                                      std::any_of(workers.begin(), workers.end(),
                                                  [&](const application& w) { return w.id == app.id; });
            if (launched_now) continue;
            all.push_back(app);
            extra.push_back(json::string(app.name));
        }
        all.insert(all.end(), workers.begin(), workers.end());
        if (!extra.empty())
            say(context, "cml.applications_kept", {{"applications", extra}},
                "kept " + std::to_string(extra.size()) + " other worker application(s) of this cluster (added with "
                "`raydeploy nodes add` or beyond num_workers); remove them with `raydeploy nodes remove APP_ID`");

        if (settings().wait_for_ray) {
            progress("Ray nodes ALIVE", 4);
            const std::string ray_failure = co_await wait_for_ray(context, node_names, head_address);
            if (!ray_failure.empty()) co_return failure(ray_failure);
            if (stopped()) co_return runner_outcome{};
        }
        record(context, all, config.worker_script, head_address);
        const std::string address_text = head_address.value_or("not known (cml.wait_for_ray is false)");
        say(context, "cml.ray_cluster_ready",
            {{"head_app_id", head.id}, {"dashboard_url", dashboard},
             {"head_address", head_address ? json::value(*head_address) : nullptr},
             {"workers", static_cast<std::int64_t>(workers.size())}, {"waited_for_ray", settings().wait_for_ray}},
            "Ray cluster ready: head " + head.name + ", " + std::to_string(workers.size()) + " worker(s); head address " +
                address_text + "; dashboard " + dashboard);
        context.set_progress({{"play", context.item().name}, {"task", "cluster ready"},
                              {"tasks_started", steps_total}, {"tasks_done", steps_total}},
                             {});
        json::array apps_json;
        for (const auto& app : all)
            apps_json.push_back(json::object{{"app_id", app.id}, {"app_name", app.name},
                                             {"role", role_in_cluster(app, prefix_)}, {"status", app.status_text}});
        context.set_results({{"summary",
                              {{"project_id", project_id_},
                               {"dashboard_url", dashboard},
                               {"head_address", head_address ? json::value(*head_address) : nullptr},
                               {"applications", std::move(apps_json)}}}},
                            {});
        co_return success();
    }

    net::awaitable<runner_outcome> teardown(run_context& context, std::vector<application> ours)
    {
        // Workers first: a head that goes first leaves them failing to reach it.
        std::stable_sort(ours.begin(), ours.end(), [this](const application& a, const application& b) {
            return (role_in_cluster(a, prefix_) == "head") < (role_in_cluster(b, prefix_) == "head");
        });
        const int total = static_cast<int>(ours.size());
        int done = 0;
        json::array removed;
        for (const auto& app : ours) {
            if (stopped()) co_return runner_outcome{};
            context.set_progress({{"play", context.item().name}, {"task", "remove " + app.name},
                                  {"tasks_started", done + 1}, {"tasks_done", done}},
                                 {});
            if (!application_down(app)) {  // a stopping one is on its way already
                application stopping = co_await client().stop_application(project_id_, app.id);
                say(context, "cml.application_stopped",
                    {{"app_id", app.id}, {"app_name", app.name}, {"status", stopping.status_text}},
                    "application " + app.name + ": stopped (" + stopping.status_text + ")");
            }
            const bool existed = co_await client().delete_application(project_id_, app.id);
            say(context, "cml.application_deleted", {{"app_id", app.id}, {"app_name", app.name}, {"existed", existed}},
                "application " + app.name + ": deleted" + (existed ? "" : " (it was already gone)"));
            removed.push_back(json::object{{"app_id", app.id}, {"app_name", app.name}});
            ++done;
        }
        cluster_->registry->forget();
        const std::string summary = ours.empty() ? "no application of the Ray cluster " + prefix_ + " exists in CML: nothing to remove"
                                                 : "removed " + std::to_string(total) + " application(s) of the Ray cluster " + prefix_;
        say(context, "cml.ray_cluster_removed", {{"applications", removed}, {"prefix", prefix_}}, summary);
        context.set_progress({{"play", context.item().name}, {"task", "cluster removed"},
                              {"tasks_started", total}, {"tasks_done", total}},
                             {});
        context.set_results({{"summary", {{"project_id", project_id_}, {"removed", std::move(removed)}}}}, {});
        co_return success();
    }

    std::shared_ptr<ray_cluster_context> cluster_;
    std::string project_id_;
    std::string prefix_;
};

}  // namespace

void add_cml_runners(runner_registry& runners, net::any_io_executor executor, std::shared_ptr<const cml_settings> settings,
                     std::shared_ptr<cml_availability> availability, std::shared_ptr<ray_cluster_context> cluster)
{
    runners.add(checkpoint_kind::cml_project, [executor, settings, availability] {
        return std::make_unique<project_runner>(executor, settings, availability);
    });
    runners.add(checkpoint_kind::cml_jobs, [executor, settings, availability] {
        return std::make_unique<jobs_runner>(executor, settings, availability);
    });
    runners.add(checkpoint_kind::cml_job_runs, [executor, settings, availability] {
        return std::make_unique<job_runs_runner>(executor, settings, availability);
    });
    runners.add(checkpoint_kind::cml_ray_cluster, [executor, settings, availability, cluster] {
        return std::make_unique<ray_cluster_runner>(executor, settings, availability, cluster);
    });
}

}  // namespace raydeploy::cml
