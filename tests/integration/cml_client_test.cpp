// The CML API v2 client against the project's fake CML (tests/fake_cml): pages, project creation,
// jobs and runs, applications, and what it does when CML is busy, refuses the key, answers
// garbage or loses an answer.
#include "raydeploy/cml/cml_client.hpp"
#include "raydeploy/util/errors.hpp"

#include "support/fake_cml_support.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <future>
#include <thread>

namespace cml = raydeploy::cml;
namespace json = boost::json;
namespace net = boost::asio;
using raydeploy::test::fake_cml;
using namespace std::chrono_literals;

BOOST_TEST_DONT_PRINT_LOG_VALUE(raydeploy::cml::cml_error_kind)
BOOST_TEST_DONT_PRINT_LOG_VALUE(raydeploy::cml::run_status)
BOOST_TEST_DONT_PRINT_LOG_VALUE(raydeploy::cml::application_status)

namespace {

constexpr auto runtime = "docker.repository.cloudera.com/cloudera/cdsw/ml-runtime-pbj-workbench-python3.10-standard:2025.01.1-b1";

bool contains(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }

raydeploy::cml_settings settings_for(const fake_cml& fake, std::chrono::milliseconds request_timeout = 2s)
{
    raydeploy::cml_settings settings;
    settings.host = fake.cml_url();
    settings.api_key = fake.api_key();
    settings.request_timeout = request_timeout;
    return settings;
}

// Quick retries with a fixed jitter: 4 attempts, waits of 10, 20, 40 ms.
cml::cml_client_options quick_retries()
{
    cml::cml_client_options options;
    options.retry.max_attempts = 4;
    options.retry.base_delay = 20ms;
    options.retry.max_delay = 100ms;
    options.retry.max_retry_after = 100ms;
    options.retry.jitter = [] { return 0.5; };
    return options;
}

// A client on a private io_context, each call run to its end within a deadline.
class client_harness {
public:
    explicit client_harness(const fake_cml& fake, cml::cml_client_options options = quick_retries(),
                            std::chrono::milliseconds request_timeout = 2s)
        : client{io.get_executor(), settings_for(fake, request_timeout), std::move(options)}
    {
    }

    template <class T>
    T run(net::awaitable<T> call, std::chrono::milliseconds limit = 20s)
    {
        io.restart();
        auto result = net::co_spawn(io, std::move(call), net::use_future);
        const auto deadline = std::chrono::steady_clock::now() + limit;
        while (result.wait_for(0s) != std::future_status::ready && std::chrono::steady_clock::now() < deadline)
            io.run_one_for(50ms);
        if (result.wait_for(0s) != std::future_status::ready)
            throw std::runtime_error{"the CML call did not finish within " + std::to_string(limit.count()) + " ms"};
        return result.get();
    }

    // The cml_error `call` ends with.
    template <class T>
    cml::cml_error failure(net::awaitable<T> call)
    {
        try {
            run(std::move(call));
        } catch (const cml::cml_error& e) {
            return e;
        }
        throw std::runtime_error{"expected a cml_error"};
    }

    // Polls `read` every 50 ms until `done` holds for its answer; throws after 15 s.
    template <class T, class Read, class Done>
    T wait_until(Read read, Done done)
    {
        const auto deadline = std::chrono::steady_clock::now() + 15s;
        for (;;) {
            T value = run(read());
            if (done(value)) return value;
            if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error{"not reached within 15 s"};
            std::this_thread::sleep_for(50ms);
        }
    }

    net::io_context io;
    cml::cml_client client;
};

cml::job_request job_named(const std::string& name, const std::string& parent_id = {})
{
    cml::job_request spec;
    spec.name = name;
    spec.script = "cml/jobs/" + name + ".py";
    spec.cpu = 1;
    spec.memory = 2;
    spec.timeout = 600;
    spec.parent_id = parent_id;
    spec.runtime_identifier = runtime;
    spec.environment = {{"JOB", name}};
    return spec;
}

std::string ready_project(const fake_cml& fake, const std::string& name = "ray-cluster")
{
    return std::string{fake.add_project({{"name", name}}).at("id").as_string()};
}

// The statuses the fake recorded for the calls `query` selects, in order (0 for a lost answer).
std::vector<std::int64_t> statuses(const fake_cml& fake, std::string_view query)
{
    std::vector<std::int64_t> out;
    for (const auto& call : fake.calls(query)) {
        const auto& status = call.as_object().at("status");
        out.push_back(status.is_int64() ? status.as_int64() : 0);
    }
    return out;
}

// A project from git on its default branch, private, with no description.
cml::project_request git_project(std::string name, std::string git_url)
{
    cml::project_request request;
    request.name = std::move(name);
    request.git_url = std::move(git_url);
    return request;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cml_client)

BOOST_AUTO_TEST_CASE(a_project_is_found_by_its_exact_name_across_small_pages)
{
    fake_cml fake{{"--max-page-size", "2"}};
    for (const char* name : {"ray-cluster-old", "my-ray-cluster", "Ray-Cluster", "ray-cluster", "ray-cluster-2"})
        fake.add_project({{"name", name}});
    fake.add_project({{"name", "ray-cluster"}, {"owner", "bob"}, {"visibility", "public"}});
    const std::string wanted = [&] {
        const auto state = fake.state();
        for (const auto& p : state.at("projects").as_array())
            if (p.at("name") == "ray-cluster" && p.at("owner").at("username") == "alice")
                return std::string{p.at("id").as_string()};
        throw std::runtime_error{"no project"};
    }();
    client_harness h{fake};

    const auto found = h.run(h.client.find_project("ray-cluster"));
    BOOST_TEST_REQUIRE(found.has_value());
    BOOST_TEST(found->id == wanted);
    BOOST_TEST(found->name == "ray-cluster");
    BOOST_TEST(found->owner == "alice");

    // The substring filter matched four projects (Ray-Cluster is another case): two pages of two.
    const auto listed = fake.calls("method=GET&path=%5E/api/v2/projects%24");
    BOOST_TEST_REQUIRE(listed.size() == 2U);
    const auto& first = listed[0].as_object().at("query").as_object();
    const auto& second = listed[1].as_object().at("query").as_object();
    BOOST_TEST(json::parse(first.at("search_filter").as_string()) == json::parse(R"({"name": "ray-cluster"})"));
    BOOST_TEST(!first.contains("page_token"));
    BOOST_TEST(second.contains("page_token"));
    BOOST_TEST(second.at("page_size") == first.at("page_size"));  // the same size with every token

    BOOST_TEST(!h.run(h.client.find_project("ray")).has_value());
    BOOST_TEST(!h.run(h.client.find_project("absent")).has_value());
    BOOST_TEST(h.run(h.client.list_projects()).size() == 5U);

    // A list whose page token comes back again would never end: refused, not acted on in part.
    fake.add_fault({{"kind", "repeat_token"}, {"count", nullptr}, {"path", "^/api/v2/projects$"}});
    const auto looped = h.failure(h.client.find_project("ray-cluster"));
    BOOST_TEST(looped.kind() == cml::cml_error_kind::bad_answer);
    BOOST_TEST(contains(looped.what(), "gave a page token it had given before"), looped.what());
}

BOOST_AUTO_TEST_CASE(a_project_is_created_from_git_and_becomes_ready)
{
    fake_cml fake{{"--project-create-s", "0.3"}};
    client_harness h{fake};
    const auto project = git_project("ray-cluster", "https://github.com/example/ray-on-cml.git");
    const auto created = h.run(h.client.create_project(project));
    BOOST_TEST(created.creation_status == "creating");
    BOOST_TEST(!created.ready());
    const auto ready = h.wait_until<cml::project>([&] { return h.client.get_project(created.id); },
                                                  [](const cml::project& p) { return p.ready() || p.failed(); });
    BOOST_TEST(ready.ready());
    const auto posted = fake.calls("method=POST");
    BOOST_TEST_REQUIRE(posted.size() == 1U);
    const auto& body = posted[0].as_object().at("body").as_object();
    BOOST_TEST(body.at("template") == "git");
    BOOST_TEST(body.at("git_url") == "https://github.com/example/ray-on-cml.git");
    BOOST_TEST(h.run(h.client.find_project("ray-cluster")).value().id == created.id);

    fake.set_project_outcome({{"outcome", "fail"}, {"creation_status", "failure: git clone failed: not found"}});
    const auto doomed = h.run(h.client.create_project(git_project("other", "https://github.com/example/missing.git")));
    const auto failed = h.wait_until<cml::project>([&] { return h.client.get_project(doomed.id); },
                                                   [](const cml::project& p) { return p.ready() || p.failed(); });
    BOOST_TEST(failed.failed());
    BOOST_TEST(failed.creation_status == "failure: git clone failed: not found");

    // A second project of that name is CML's to refuse; its message comes through.
    const auto twice = h.failure(h.client.create_project(project));
    BOOST_TEST(twice.kind() == cml::cml_error_kind::rejected);
    BOOST_TEST(twice.http_status() == 409U);
    BOOST_TEST(contains(twice.what(), "already exists"), twice.what());
    BOOST_TEST(contains(twice.cml_message(), "already exists"));
}

BOOST_AUTO_TEST_CASE(jobs_are_created_listed_and_patched)
{
    fake_cml fake{{"--max-page-size", "2"}};
    const std::string project = ready_project(fake);
    client_harness h{fake};

    const auto sync = h.run(h.client.create_job(project, job_named("git_sync")));
    const auto setup = h.run(h.client.create_job(project, job_named("setup_environment", sync.id)));
    const auto launch = h.run(h.client.create_job(project, job_named("launch_ray_cluster", setup.id)));
    BOOST_TEST(setup.parent_id == sync.id);
    BOOST_TEST(setup.type == "dependent");
    BOOST_TEST(sync.timeout == 600);  // sent as a number, answered as an int64 string
    BOOST_TEST(sync.environment.at("JOB") == "git_sync");

    const auto jobs = h.run(h.client.list_jobs(project));  // two pages of two
    BOOST_TEST_REQUIRE(jobs.size() == 3U);
    BOOST_TEST(jobs[2].id == launch.id);
    for (const auto& job : jobs) {
        const auto spec = job_named(job.name, job.parent_id);
        BOOST_TEST(cml::job_differences(job, spec).empty(), job.name);
    }

    auto changed = job_named("setup_environment");  // no parent any more, more memory
    changed.memory = 8;
    BOOST_TEST((cml::job_differences(jobs[1], changed) == std::vector<std::string>{"memory", "parent_id"}));
    const auto patched = h.run(h.client.patch_job(project, setup.id, changed));
    BOOST_TEST(patched.memory == 8.0);
    BOOST_TEST(patched.parent_id.empty());
    BOOST_TEST(patched.type == "manual");
    BOOST_TEST(cml::job_differences(patched, changed).empty());
    const auto sent = fake.calls("method=PATCH").at(0).as_object().at("body").as_object();
    BOOST_TEST(sent.at("timeout") == "600");  // a Job in a PATCH: int64 as a string
    BOOST_TEST(sent.at("environment").is_string());

    // CML's refusal is not retried, and its message is the error's.
    auto nameless = job_named("");
    nameless.script.clear();
    const auto refused = h.failure(h.client.create_job(project, nameless));
    BOOST_TEST(refused.kind() == cml::cml_error_kind::rejected);
    BOOST_TEST(refused.http_status() == 400U);
    BOOST_TEST(refused.code() == 3);
    BOOST_TEST(!refused.cml_message().empty());
    BOOST_TEST(contains(refused.what(), refused.cml_message()), refused.what());
    BOOST_TEST((statuses(fake, "method=POST&path=/jobs$").back() == 400));
    BOOST_TEST(fake.calls("method=POST&path=/jobs$").size() == 4U);

    const auto missing = h.failure(h.client.get_project("nope-nope-nope-nope"));
    BOOST_TEST(missing.kind() == cml::cml_error_kind::not_found);
    BOOST_TEST(missing.code() == 5);
}

BOOST_AUTO_TEST_CASE(a_run_is_followed_to_its_end_and_stopped)
{
    fake_cml fake{{"--run-scheduling-s", "0.1", "--run-starting-s", "0.1", "--run-running-s", "0.3"}};
    const std::string project = ready_project(fake);
    client_harness h{fake};
    const auto job = h.run(h.client.create_job(project, job_named("train")));

    const auto started = h.run(h.client.start_run(project, job.id, {std::string{"--epochs 1"}, {{"MODE", "smoke"}}}));
    BOOST_TEST(started.status == cml::run_status::scheduling);
    BOOST_TEST(started.job_id == job.id);
    BOOST_TEST(started.environment.at("MODE") == "smoke");
    std::vector<cml::run_status> seen;
    const auto done = h.wait_until<cml::job_run>([&] { return h.client.get_run(project, job.id, started.id); },
                                                 [&](const cml::job_run& run) {
                                                     if (seen.empty() || seen.back() != run.status)
                                                         seen.push_back(run.status);
                                                     return run.terminal();
                                                 });
    BOOST_TEST(done.status == cml::run_status::succeeded);
    BOOST_TEST(done.status_text == "ENGINE_SUCCEEDED");
    BOOST_TEST(!done.finished_at.empty());
    BOOST_TEST(seen.back() == cml::run_status::succeeded);

    fake.set_job_outcome({{"job_id", job.id}, {"outcome", "hang"}});
    const auto hanging = h.run(h.client.start_run(project, job.id));
    const auto runs = h.run(h.client.list_runs(project, job.id, 10));
    BOOST_TEST_REQUIRE(runs.size() == 2U);
    BOOST_TEST(runs[0].id == hanging.id);  // newest first
    BOOST_TEST(runs[1].id == started.id);
    BOOST_TEST(h.run(h.client.list_runs(project, job.id, 1)).size() == 1U);
    BOOST_TEST(fake.calls("path=/runs$").back().as_object().at("query").at("sort") == "-created_at");

    const auto stopping = h.run(h.client.stop_run(project, job.id, hanging.id));
    BOOST_TEST((stopping.status == cml::run_status::stopping || stopping.status == cml::run_status::stopped));
    const auto stopped = h.wait_until<cml::job_run>([&] { return h.client.get_run(project, job.id, hanging.id); },
                                                    [](const cml::job_run& run) { return run.terminal(); });
    BOOST_TEST(stopped.status == cml::run_status::stopped);
    // The verb is sent as ":stop", not percent-encoded.
    BOOST_TEST(fake.calls("method=POST&path=:stop$").size() == 1U);

    fake.set_job_outcome({{"job_id", job.id}, {"outcome", "fail"}});
    const auto failing = h.run(h.client.start_run(project, job.id));
    const auto failed = h.wait_until<cml::job_run>([&] { return h.client.get_run(project, job.id, failing.id); },
                                                   [](const cml::job_run& run) { return run.terminal(); });
    BOOST_TEST(failed.status == cml::run_status::failed);
}

BOOST_AUTO_TEST_CASE(applications_start_stop_restart_and_go)
{
    fake_cml fake{{"--app-start-s", "0.2", "--app-stop-s", "0.1"}};
    const std::string project = ready_project(fake);
    client_harness h{fake};
    cml::application_spec spec;
    spec.name = "ray-head";
    spec.subdomain = "ray-head";
    spec.script = "cml/apps/ray_head.py";
    spec.cpu = 2;
    spec.memory = 8;
    spec.runtime_identifier = runtime;
    spec.environment = {{"RAY_ROLE", "head"}};

    const auto created = h.run(h.client.create_application(project, spec));
    BOOST_TEST(created.status == cml::application_status::starting);
    const auto running = h.wait_until<cml::application>(
        [&] { return h.client.get_application(project, created.id); },
        [](const cml::application& app) { return app.status != cml::application_status::starting; });
    BOOST_TEST(running.status == cml::application_status::running);
    BOOST_TEST(cml::application_differences(running, spec).empty());
    BOOST_TEST(h.run(h.client.list_applications(project)).size() == 1U);

    spec.memory = 16;
    const auto patched = h.run(h.client.patch_application(project, created.id, spec));
    BOOST_TEST(patched.memory == 16.0);
    const auto stopping = h.run(h.client.stop_application(project, created.id));
    BOOST_TEST((stopping.status == cml::application_status::stopping || stopping.status == cml::application_status::stopped));
    const auto stopped = h.wait_until<cml::application>(
        [&] { return h.client.get_application(project, created.id); },
        [](const cml::application& app) { return app.status == cml::application_status::stopped; });
    BOOST_TEST(!stopped.stopped_at.empty());
    BOOST_TEST(h.run(h.client.restart_application(project, created.id)).status == cml::application_status::starting);
    BOOST_TEST(fake.calls("method=POST&path=:restart$").size() == 1U);

    BOOST_TEST(h.run(h.client.delete_application(project, created.id)));
    BOOST_TEST(!h.run(h.client.delete_application(project, created.id)));  // already gone
    BOOST_TEST(h.run(h.client.list_applications(project)).empty());
}

BOOST_AUTO_TEST_CASE(busy_answers_are_retried_until_cml_answers)
{
    fake_cml fake;
    const std::string project = ready_project(fake);
    client_harness h{fake};

    fake.add_fault({{"status", 429}, {"count", 2}, {"retry_after", "1"}, {"path", "^/api/v2/projects$"}});
    BOOST_TEST(h.run(h.client.find_project("ray-cluster")).has_value());
    BOOST_TEST((statuses(fake, "path=%5E/api/v2/projects%24") == std::vector<std::int64_t>{429, 429, 200}));

    // 503 on a POST that creates: CML turned it away, so sending it again cannot make a second job.
    fake.add_fault({{"status", 503}, {"count", 2}, {"path", "/jobs$"}, {"method", "POST"}});
    const auto job = h.run(h.client.create_job(project, job_named("git_sync")));
    BOOST_TEST((statuses(fake, "method=POST&path=/jobs$") == std::vector<std::int64_t>{503, 503, 200}));
    BOOST_TEST(fake.state().at("jobs").as_array().size() == 1U);

    // Busy beyond the attempts: unavailable, with CML's words and how often it was tried.
    fake.add_fault({{"status", 503}, {"count", nullptr}, {"path", "/runs$"}, {"message", "the scheduler is overloaded"}});
    const auto busy = h.failure(h.client.start_run(project, job.id));
    BOOST_TEST(busy.kind() == cml::cml_error_kind::unavailable);
    BOOST_TEST(busy.http_status() == 503U);
    BOOST_TEST(contains(busy.what(), "the scheduler is overloaded"), busy.what());
    BOOST_TEST(contains(busy.what(), "4 attempts"), busy.what());
    BOOST_TEST(fake.calls("method=POST&path=/runs$").size() == 4U);
    fake.clear_faults();

    // An HTML 502 from a proxy and a dropped connection are retried the same way.
    fake.add_fault({{"status", 502}, {"body", "html"}, {"path", "^/api/v2/projects/"}, {"method", "GET"}});
    fake.add_fault({{"kind", "drop"}, {"path", "^/api/v2/projects/"}, {"method", "GET"}});
    BOOST_TEST(h.run(h.client.get_project(project)).id == project);
}

BOOST_AUTO_TEST_CASE(a_lost_answer_never_creates_twice)
{
    fake_cml fake;
    const std::string project = ready_project(fake);
    // The look for what a lost request created waits one request_timeout.
    client_harness h{fake, quick_retries(), 500ms};

    // The job is created, the answer lost: the client finds it instead of creating another.
    fake.add_fault({{"kind", "lost_answer"}, {"path", "/jobs$"}, {"method", "POST"}});
    const auto job = h.run(h.client.create_job(project, job_named("git_sync")));
    BOOST_TEST(fake.state().at("jobs").as_array().size() == 1U);
    BOOST_TEST(fake.calls("method=POST&path=/jobs$").size() == 1U);
    BOOST_TEST(job.name == "git_sync");

    // 502 may come after CML acted; here it did not, so after looking the client sends it again.
    fake.add_fault({{"status", 502}, {"path", "/jobs$"}, {"method", "POST"}});
    const auto second = h.run(h.client.create_job(project, job_named("setup_environment", job.id)));
    BOOST_TEST(second.parent_id == job.id);
    BOOST_TEST(fake.state().at("jobs").as_array().size() == 2U);

    // A run that ended before the client looked would not be recognised as the lost request's.
    fake.set_job_outcome({{"job_id", job.id}, {"outcome", "hang"}});
    fake.add_fault({{"kind", "lost_answer"}, {"path", "/runs$"}, {"method", "POST"}});
    const auto run = h.run(h.client.start_run(project, job.id));
    BOOST_TEST(fake.state().at("runs").as_array().size() == 1U);
    BOOST_TEST(run.job_id == job.id);

    cml::application_spec app;
    app.name = "ray-head";
    app.subdomain = "ray-head";
    app.script = "cml/apps/ray_head.py";
    app.runtime_identifier = runtime;
    fake.add_fault({{"kind", "lost_answer"}, {"path", "/applications$"}, {"method", "POST"}});
    BOOST_TEST(h.run(h.client.create_application(project, app)).subdomain == "ray-head");
    BOOST_TEST(fake.state().at("applications").as_array().size() == 1U);

    fake.add_fault({{"kind", "lost_answer"}, {"path", "^/api/v2/projects$"}, {"method", "POST"}});
    const auto created =
        h.run(h.client.create_project(git_project("second-project", "https://github.com/example/x.git")));
    BOOST_TEST(created.name == "second-project");
    BOOST_TEST(fake.state().at("projects").as_array().size() == 2U);
}

BOOST_AUTO_TEST_CASE(a_refused_key_names_the_setting_and_never_the_key)
{
    fake_cml fake;
    const std::string project = ready_project(fake);
    client_harness h{fake};
    fake.set_key_valid(false);
    const auto refused = h.failure(h.client.find_project("ray-cluster"));
    BOOST_TEST(refused.kind() == cml::cml_error_kind::unauthorized);
    BOOST_TEST(refused.http_status() == 401U);
    const std::string message = refused.what();
    BOOST_TEST(contains(message, "RAYDEPLOY_CML_API_KEY"), message);
    BOOST_TEST(contains(message, "cml.api_key_file"), message);
    BOOST_TEST(contains(message, "invalid API key"), message);  // CML's own words
    BOOST_TEST(!contains(message, fake.api_key()), message);
    BOOST_TEST(fake.calls().size() == 1U);  // a 4xx is never retried

    fake.set_key_valid(true);
    fake.add_fault({{"status", 403}, {"message", "user lacks write access to project " + fake.api_key()}});
    const auto denied = h.failure(h.client.create_job(project, job_named("git_sync")));
    BOOST_TEST(denied.kind() == cml::cml_error_kind::unauthorized);
    BOOST_TEST(contains(denied.what(), "RAYDEPLOY_CML_API_KEY"), denied.what());
    // Even CML repeating the key does not put it in an error.
    BOOST_TEST(!contains(denied.what(), fake.api_key()), denied.what());
    BOOST_TEST(!contains(denied.cml_message(), fake.api_key()), denied.cml_message());
    BOOST_TEST(contains(denied.what(), "user lacks write access to project [the API key]"), denied.what());
}

BOOST_AUTO_TEST_CASE(garbage_is_a_clear_error)
{
    fake_cml fake;
    const std::string project = ready_project(fake);
    client_harness h{fake};
    fake.add_fault({{"kind", "garbage"}, {"path", "^/api/v2/projects$"}});
    const auto garbled = h.failure(h.client.list_projects());
    BOOST_TEST(garbled.kind() == cml::cml_error_kind::bad_answer);
    BOOST_TEST(contains(garbled.what(), "GET /api/v2/projects answered something that is not a CML API v2 answer"),
               garbled.what());
    BOOST_TEST(contains(garbled.what(), "not JSON"), garbled.what());
    BOOST_TEST(contains(garbled.what(), "cml.host (" + fake.cml_url() + ")"), garbled.what());
    BOOST_TEST(fake.calls().size() == 1U);

    // A 4xx page that is not CML's envelope still says what came back.
    fake.add_fault({{"status", 404}, {"body", "html"}});
    const auto html = h.failure(h.client.get_project(project));
    BOOST_TEST(html.kind() == cml::cml_error_kind::not_found);
    BOOST_TEST(contains(html.what(), "not CML's error envelope (text/html)"), html.what());
}

BOOST_AUTO_TEST_CASE(timeouts_are_retried_and_cancel_ends_a_call)
{
    fake_cml fake;
    const std::string project = ready_project(fake);
    client_harness h{fake, quick_retries(), 300ms};
    fake.add_fault({{"kind", "delay"}, {"delay_s", 1.0}, {"path", "^/api/v2/projects/"}});
    BOOST_TEST(h.run(h.client.get_project(project)).id == project);
    BOOST_TEST(fake.calls("path=%5E/api/v2/projects/").size() == 2U);

    fake.add_fault({{"kind", "delay"}, {"delay_s", 30.0}, {"count", nullptr}});
    net::steady_timer later{h.io, 200ms};
    later.async_wait([&](boost::system::error_code) { h.client.cancel(); });
    const auto started = std::chrono::steady_clock::now();
    const auto cancelled = h.failure(h.client.list_jobs(project));
    BOOST_TEST(cancelled.kind() == cml::cml_error_kind::cancelled);
    BOOST_TEST((std::chrono::steady_clock::now() - started < 5s));
    BOOST_TEST(h.failure(h.client.get_project(project)).kind() == cml::cml_error_kind::cancelled);
}

BOOST_AUTO_TEST_CASE(a_client_needs_a_host_and_a_key)
{
    net::io_context io;
    raydeploy::cml_settings settings;
    BOOST_CHECK_THROW(cml::cml_client(io.get_executor(), settings), raydeploy::config_error);
    settings.host = "http://127.0.0.1:9";
    try {
        cml::cml_client client{io.get_executor(), settings};
        BOOST_FAIL("a client without a key must be refused");
    } catch (const raydeploy::config_error& e) {
        BOOST_TEST(contains(e.what(), "RAYDEPLOY_CML_API_KEY"), e.what());
    }
}

BOOST_AUTO_TEST_SUITE_END()
