// Suite runners: the seam between the execution engine and what a checkpoint runs. A scripted
// runner registered for a CML kind goes through the engine's shared lifecycle (events with
// contiguous counters ending in execution.done, log, progress, results, report, cancel, timeout,
// shutdown); a kind without a runner fails its run saying so. Deployments over the same engine
// keep their state through a failing disk, and a grant whose consumption the store refuses starts
// no run.
#include "raydeploy/engine/approvals.hpp"
#include "raydeploy/engine/builtin_runners.hpp"
#include "raydeploy/engine/deployments.hpp"
#include "raydeploy/engine/engine_error.hpp"
#include "raydeploy/engine/execution_manager.hpp"
#include "raydeploy/engine/execution_store.hpp"
#include "raydeploy/events/stored_events.hpp"

#include "support/engine_ground.hpp"
#include "support/faulty_vfs.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>

#include <sqlite3.h>

#include <fstream>
#include <iterator>

using namespace raydeploy;
using namespace std::chrono_literals;
using test::temp_dir;
namespace json = boost::json;

namespace {

// What the scripted runner saw of its run.
struct runner_log {
    int runs = 0;
    std::vector<stop_cause> stops;
    std::string execution_id;
    std::string checkpoint;
    bool run_dir_exists = false;
    bool resumed = false;           // the last run was a resumed one
    json::object attachment_seen;   // what a resumed run found in its record
    bool go = false;                // what script::flood and script::results_when_told wait for
    std::optional<bool> backlogged_after_flood;
};

// Publishes one of everything a runner can publish, then either ends as `script` says or waits
// until it is stopped.
class scripted_runner final : public checkpoint_runner {
public:
    // flood: once runner_log::go is set, relays max_waiting_events events as fast as a producer
    // could, notes whether the context then says the events are backlogged, waits until it no
    // longer does and succeeds. results_when_told: once go is set, sets other results and a
    // report, and succeeds.
    enum class script { succeed, wait_for_stop, flood, results_when_told };

    scripted_runner(net::any_io_executor executor, runner_log& log, script what, bool survives)
        : timer_{std::move(executor)}, log_{log}, script_{what}, survives_{survives}
    {
    }

    bool survives_restart() const override { return survives_; }

    net::awaitable<runner_outcome> run(run_context& context) override
    {
        ++log_.runs;
        log_.resumed = context.resumed();
        if (context.resumed()) {
            // Follows what the previous life left: nothing is published twice.
            log_.attachment_seen = context.record().attachment;
            context.emit("test.followed", {{"job_run", context.record().attachment.at("job_run")}});
            co_return runner_outcome{execution_status::succeeded, 0, {}, std::nullopt};
        }
        if (survives_) context.set_attachment({{"job_run", "run-1"}});
        log_.execution_id = context.record().id;
        log_.checkpoint = context.item().name;
        log_.run_dir_exists = std::filesystem::is_directory(context.run_dir());
        context.emit("test.step", {{"step", "first"}});
        // As the Ansible runner relays a line: its text, and what was parsed from it.
        const std::string tool_line = R"({"from": "the tool", "counter": 99, "n": 1.50})";
        context.relay("test.tool_event", "2030-01-02T03:04:05.000Z", json::parse(tool_line).as_object(), tool_line);
        context.write_output("hello from the runner\n");
        context.set_progress({{"play", "p"}, {"task", "t"}, {"tasks_started", 1}, {"tasks_done", 1}},
                             {{"node-1", {{"ok", 1}}}});
        execution_report report;
        report.markdown = "# Report\n";
        context.set_results({{"nodes", {{"node-1", {{"cpus", 2}}}}}, {"summary", {{"ok", true}}}}, report);

        runner_outcome outcome;
        if (script_ == script::flood) {
            while (!log_.go) co_await pause(10ms);
            for (std::size_t i = 0; i < execution_manager::max_waiting_events; ++i)
                context.relay("test.flood", "", {{"i", i}}, {});
            log_.backlogged_after_flood = context.events_backlogged();
            while (context.events_backlogged()) co_await pause(10ms);
        }
        if (script_ == script::results_when_told) {
            while (!log_.go) co_await pause(10ms);
            execution_report late;
            late.markdown = "# Late report\n";
            context.set_results({{"summary", {{"late", true}}}}, late);
        }
        if (script_ != script::wait_for_stop) {
            outcome.status = execution_status::succeeded;
            outcome.rc = 0;
            co_return outcome;
        }
        timer_.expires_after(1h);
        auto [ec] = co_await timer_.async_wait(nothrow_awaitable);
        (void)ec;
        outcome.detached = stopped_by_ == stop_cause::detach;
        outcome.status = stopped_by_ == stop_cause::timeout ? execution_status::timed_out : execution_status::cancelled;
        outcome.reason = stopped_by_ == stop_cause::timeout ? "the scripted runner timed out" : "the scripted runner was cancelled";
        co_return outcome;
    }

    net::awaitable<void> pause(std::chrono::milliseconds duration)
    {
        timer_.expires_after(duration);
        auto [ec] = co_await timer_.async_wait(nothrow_awaitable);
        (void)ec;
    }

    void stop(stop_cause cause) override
    {
        log_.stops.push_back(cause);
        if (stopped_by_ == stop_cause::none) stopped_by_ = cause;
        timer_.cancel();
    }

private:
    net::steady_timer timer_;
    runner_log& log_;
    script script_;
    bool survives_;
    stop_cause stopped_by_ = stop_cause::none;
};

checkpoint make_checkpoint(std::string name, checkpoint_kind kind, std::chrono::seconds timeout,
                           bool approval_required = false)
{
    checkpoint item;
    item.approval_required = approval_required;
    item.name = std::move(name);
    item.kind = kind;
    item.description = "d";
    item.timeout = timeout;
    return item;
}

// An engine over a private database, with the scripted runner as the runner of kind cml-jobs and
// no runner for cml-project.
struct engine_fixture : test::engine_ground {
    checkpoint_catalog catalog{dir.path() / "catalog.yaml",
                               {make_checkpoint("jobs", checkpoint_kind::cml_jobs, 60s),
                                make_checkpoint("jobs-short", checkpoint_kind::cml_jobs, 1s),
                                make_checkpoint("project", checkpoint_kind::cml_project, 60s),
                                make_checkpoint("jobs-gated", checkpoint_kind::cml_jobs, 60s, true)}};
    runner_log seen;
    scripted_runner::script script = scripted_runner::script::succeed;
    bool survives = false;  // whether the runner's work survives the service
    std::vector<execution_record> finished;
    std::unique_ptr<execution_manager> engine = make_engine();

    // An engine over the fixture's database; a second one plays the service's next life.
    std::unique_ptr<execution_manager> make_engine()
    {
        engine_settings settings;
        settings.runs_dir = dir.path() / "runs";
        runner_registry runners;
        runners.add(checkpoint_kind::cml_jobs, [this] {
            return std::make_unique<scripted_runner>(io.get_executor(), seen, script, survives);
        });
        auto made = std::make_unique<execution_manager>(io.get_executor(), catalog, *db, events, settings, std::move(runners));
        made->on_finished([this](const execution_record& record) { finished.push_back(record); });
        return made;
    }

    execution_record run_to_end(const std::string& checkpoint)
    {
        const std::string id = engine->start(checkpoint, {}).id;
        BOOST_TEST_REQUIRE(run_until([&] { return !engine->is_active(id); }), "the execution did not end within 10 s");
        return *engine->get(id);
    }

    // The status in the row of `table` (executions, deployments), which may differ from memory's.
    std::string stored_status(const std::string& table, const std::string& id)
    {
        auto query = db->prepare("SELECT status FROM " + table + " WHERE id = ?");
        query.bind(1, id);
        return query.step() ? query.column_text(0) : "<no row>";
    }

    std::vector<json::object> stored_events(const std::string& id)
    {
        std::vector<json::object> out;
        for (const auto& item : raydeploy::stored_events{*db}.read_execution(id, 0, 1000).events) out.push_back(json::parse(item->text).as_object());
        return out;
    }
};

// The engine over a disk that a test can fail (the VFS first: the database opens through it).
struct failing_disk_fixture : test::faulty_vfs, engine_fixture {
    // Starts checkpoint jobs with `what` and returns once its first four events are stored.
    std::string start_jobs(scripted_runner::script what)
    {
        script = what;
        const std::string id = engine->start("jobs", {}).id;
        BOOST_TEST_REQUIRE(run_until([&] { return seen.runs == 1; }));
        BOOST_TEST_REQUIRE(run_until([&] { return stored_events(id).size() == 4u; }));
        return id;
    }
};

std::string text_of(const json::object& object, std::string_view key)
{
    const auto* value = object.if_contains(key);
    return value && value->is_string() ? std::string{value->get_string()} : std::string{};
}

// Deployments over the failing-disk engine.
struct deployment_fixture : failing_disk_fixture {
    approval_manager approvals{catalog, *db, events, approval_policy{}};
    deployment_manager deployments{io.get_executor(), catalog, *db, events, *engine, approvals,
                                   "http://127.0.0.1:1", true};
    identity caller{"local", role::admin, true, "local"};

    std::vector<execution_record> gated_runs()
    {
        execution_filter filter;
        filter.checkpoint = "jobs-gated";
        return engine->list(filter);
    }

    // Starts a deployment of jobs-gated; returns its id once it waits with one pending request.
    std::string start_at_gate()
    {
        deployment_request request;
        request.checkpoints = std::vector<std::string>{"jobs-gated"};
        const std::string id = deployments.start(request, caller).id;
        BOOST_TEST_REQUIRE(run_until([&] { return stored_status("deployments", id) == "awaiting_approval"; }));
        BOOST_TEST_REQUIRE(approvals.pending_requests("jobs-gated").size() == 1u);
        return id;
    }

    // While on, the store takes a run's row and then refuses its grant's update, as a disk that
    // fills between the two writes, or another process holding the write lock, would.
    void refuse_consumption(bool on)
    {
        db->exec(on ? "CREATE TRIGGER refuse_consumption BEFORE UPDATE OF state ON approvals WHEN NEW.state = "
                      "'consumed' BEGIN SELECT RAISE(ABORT, 'the disk refused the write'); END"
                    : "DROP TRIGGER refuse_consumption");
    }

    std::vector<std::string> announced_statuses(const std::string& id)
    {
        std::vector<std::string> out;
        auto query = db->prepare("SELECT payload FROM events WHERE type = 'deployment.status' ORDER BY seq");
        while (query.step()) {
            const json::object payload = json::parse(query.column_text(0)).as_object();
            if (text_of(payload, "deployment_id") == id) out.push_back(text_of(payload, "status"));
        }
        return out;
    }
};

// The events are numbered 1..N, of the types `types` in order, and the last one says N.
void check_events(const std::vector<json::object>& stored, const std::vector<std::string>& types)
{
    BOOST_TEST_REQUIRE(stored.size() == types.size());
    for (std::size_t i = 0; i < stored.size(); ++i) {
        BOOST_TEST_CONTEXT("event #" << i + 1 << ": " << json::serialize(stored[i]))
        {
            BOOST_TEST(stored[i].at("counter").to_number<std::int64_t>() == static_cast<std::int64_t>(i + 1));
            BOOST_TEST(text_of(stored[i], "type") == types[i]);
        }
    }
    BOOST_TEST(stored.back().at("final_counter").to_number<std::int64_t>() == static_cast<std::int64_t>(stored.size()));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(runners)

BOOST_AUTO_TEST_CASE(a_registered_runner_runs_its_kind_through_the_shared_lifecycle)
{
    engine_fixture f;
    const execution_record record = f.run_to_end("jobs");

    BOOST_TEST(f.seen.runs == 1);
    BOOST_TEST(f.seen.execution_id == record.id);
    BOOST_TEST(f.seen.checkpoint == "jobs");
    BOOST_TEST(f.seen.run_dir_exists);
    BOOST_TEST(f.seen.stops.empty());

    BOOST_TEST(to_string(record.status) == "succeeded");
    BOOST_TEST(record.rc.value_or(-1) == 0);
    BOOST_TEST(!record.error);
    BOOST_TEST(!record.status_reason);
    BOOST_TEST(json::serialize(record.progress) == R"({"play":"p","task":"t","tasks_started":1,"tasks_done":1})");
    BOOST_TEST(json::serialize(record.host_summary) == R"({"node-1":{"ok":1}})");
    BOOST_TEST(json::serialize(record.results) == R"({"nodes":{"node-1":{"cpus":2}},"summary":{"ok":true}})");
    BOOST_TEST(record.has_report);
    BOOST_TEST(f.engine->report(record.id)->markdown.value_or("") == "# Report\n");
    BOOST_TEST_REQUIRE(f.finished.size() == 1u);
    BOOST_TEST(f.finished[0].id == record.id);

    std::ifstream log{f.engine->log_file(record.id)};
    const std::string output{std::istreambuf_iterator<char>{log}, {}};
    BOOST_TEST(output == "hello from the runner\n");

    const auto stored = f.stored_events(record.id);
    check_events(stored, {"execution.status", "execution.status", "test.step", "test.tool_event", "execution.done"});
    // The service's own events name the checkpoint; a relayed event keeps its fields and timestamp.
    BOOST_TEST(text_of(stored[2], "checkpoint") == "jobs");
    BOOST_TEST(text_of(stored[2], "step") == "first");
    BOOST_TEST(!stored[3].contains("checkpoint"));
    BOOST_TEST(text_of(stored[3], "from") == "the tool");
    BOOST_TEST(stored[3].at("n").as_double() == 1.5);
    BOOST_TEST(text_of(stored[3], "created") == "2030-01-02T03:04:05.000Z");
    // The run numbers its events: the tool's own counter is not kept.
    BOOST_TEST(stored[3].at("counter").as_int64() == 4);
    BOOST_TEST(text_of(stored[4], "status") == "succeeded");
}

BOOST_AUTO_TEST_CASE(a_kind_without_a_runner_fails_its_run_saying_so)
{
    engine_fixture f;
    const execution_record record = f.run_to_end("project");

    BOOST_TEST(f.seen.runs == 0);
    BOOST_TEST(to_string(record.status) == "failed");
    BOOST_TEST(!record.rc);
    const std::string reason = record.status_reason.value_or("");
    BOOST_TEST(reason.find("checkpoint 'project' is of kind cml-project, which this raydeploy cannot run yet "
                           "(it runs checkpoints of kind cml-jobs); nothing was run") == 0u,
               reason);
    BOOST_TEST_REQUIRE(record.error.has_value());
    BOOST_TEST(text_of(*record.error, "message") == reason);
    BOOST_TEST(json::serialize(record.progress) == R"({"play":"","task":"","tasks_started":0,"tasks_done":0})");

    const auto stored = f.stored_events(record.id);
    check_events(stored, {"execution.status", "execution.status", "execution.done"});
    BOOST_TEST(text_of(stored[2], "status") == "failed");

    // The built-in registry runs every kind; CML's survive restarts.
    net::io_context io;
    const runner_registry builtin = builtin_runners(io.get_executor(), ansible_settings{}, 1s, cml_settings{});
    BOOST_TEST((builtin.kinds() == std::vector<checkpoint_kind>{checkpoint_kind::ansible, checkpoint_kind::cml_project,
                                                                checkpoint_kind::cml_jobs, checkpoint_kind::cml_job_runs,
                                                                checkpoint_kind::cml_ray_cluster}));
    BOOST_TEST(!builtin.make(checkpoint_kind::ansible)->survives_restart());
    for (const auto kind : {checkpoint_kind::cml_project, checkpoint_kind::cml_jobs, checkpoint_kind::cml_job_runs,
                            checkpoint_kind::cml_ray_cluster})
        BOOST_TEST(builtin.make(kind)->survives_restart(), to_string(kind));
}

BOOST_AUTO_TEST_CASE(cancel_reaches_the_runner_and_the_run_ends_cancelled)
{
    engine_fixture f;
    f.script = scripted_runner::script::wait_for_stop;
    const std::string id = f.engine->start("jobs", {}).id;
    BOOST_TEST_REQUIRE(f.run_until([&] { return f.seen.runs == 1; }));
    f.engine->cancel(id);
    BOOST_TEST_REQUIRE(f.run_until([&] { return !f.engine->is_active(id); }));

    BOOST_TEST_REQUIRE(f.seen.stops.size() == 1u);
    BOOST_TEST((f.seen.stops[0] == stop_cause::cancel));
    const auto record = *f.engine->get(id);
    BOOST_TEST(to_string(record.status) == "cancelled");
    BOOST_TEST(record.status_reason.value_or("") == "the scripted runner was cancelled");
    check_events(f.stored_events(id), {"execution.status", "execution.status", "test.step", "test.tool_event",
                                       "execution.cancelling", "execution.done"});
}

BOOST_AUTO_TEST_CASE(a_run_that_ends_while_the_disk_is_full_keeps_its_end_and_the_engine_goes_on)
{
    failing_disk_fixture f;
    const std::string id = f.start_jobs(scripted_runner::script::wait_for_stop);

    f.fail_writes(test::faulty_vfs::file_kind::wal, SQLITE_FULL);
    f.engine->cancel(id);
    // The run ends in memory; its last events and its final row wait for the disk.
    BOOST_TEST_REQUIRE(f.run_until([&] { return !f.engine->is_active(id); }));
    BOOST_TEST_REQUIRE(f.finished.size() == 1u);
    BOOST_TEST(to_string(f.finished[0].status) == "cancelled");
    BOOST_TEST(f.stored_events(id).size() == 4u);
    BOOST_TEST(to_string(f.engine->get(id)->status) == "cancelled");
    BOOST_TEST(f.stored_status("executions", id) == "running");

    f.heal();
    BOOST_TEST_REQUIRE(f.run_until([&] { return f.stored_status("executions", id) == "cancelled"; }, 5s));
    check_events(f.stored_events(id), {"execution.status", "execution.status", "test.step", "test.tool_event",
                                       "execution.cancelling", "execution.done"});
    BOOST_TEST(f.engine->get(id)->final_counter.value_or(0) == 6);
    // And the next run goes through as any other.
    f.script = scripted_runner::script::succeed;
    BOOST_TEST(to_string(f.run_to_end("jobs").status) == "succeeded");
}

BOOST_AUTO_TEST_CASE(results_set_while_the_disk_is_full_are_kept_and_the_run_still_succeeds)
{
    failing_disk_fixture f;
    const std::string id = f.start_jobs(scripted_runner::script::results_when_told);

    f.fail_writes(test::faulty_vfs::file_kind::wal, SQLITE_FULL);
    f.seen.go = true;
    BOOST_TEST_REQUIRE(f.run_until([&] { return !f.engine->is_active(id); }));
    BOOST_TEST(to_string(f.engine->get(id)->status) == "succeeded");
    BOOST_TEST(f.stored_status("executions", id) == "running");

    f.heal();
    BOOST_TEST_REQUIRE(f.run_until([&] { return f.stored_status("executions", id) == "succeeded"; }, 5s));
    const auto stored = execution_store{*f.db}.get(id);
    BOOST_TEST_REQUIRE(stored.has_value());
    BOOST_TEST(json::serialize(stored->results) == R"({"summary":{"late":true}})");
    const auto report = execution_store{*f.db}.report(id);
    BOOST_TEST_REQUIRE(report.has_value());
    BOOST_TEST(report->markdown.value_or("") == "# Late report\n");
}

BOOST_AUTO_TEST_CASE(a_run_whose_events_pile_up_behind_a_full_disk_is_told_to_stop_reading_until_they_are_stored)
{
    failing_disk_fixture f;
    const std::string id = f.start_jobs(scripted_runner::script::flood);

    test::stderr_capture log_lines{f.dir.path() / "stderr.txt"};
    f.fail_writes(test::faulty_vfs::file_kind::wal, SQLITE_FULL);
    f.seen.go = true;
    BOOST_TEST_REQUIRE(f.run_until([&] { return f.seen.backlogged_after_flood.has_value(); }));
    BOOST_TEST(*f.seen.backlogged_after_flood);
    BOOST_TEST(f.engine->is_active(id));  // the runner waits, as a child blocked on its pipe does

    f.heal();
    BOOST_TEST_REQUIRE(f.run_until([&] { return !f.engine->is_active(id); }, 10s));
    // The backlog was retried on the one-second timer, not once per event that joined it.
    const std::string logged = log_lines.text();
    const std::string_view marker = "storing events works again failed_attempts=";
    const auto healed = logged.find(marker);
    BOOST_TEST_REQUIRE(healed != std::string::npos, logged);
    BOOST_TEST(std::stoi(logged.substr(healed + marker.size())) <= 20);
    BOOST_TEST(to_string(f.engine->get(id)->status) == "succeeded");
    BOOST_TEST_REQUIRE(f.run_until([&] { return f.stored_status("executions", id) == "succeeded"; }, 5s));
    // 4 before the flood, the flood, execution.done: every one stored, once, in order.
    const auto stored = raydeploy::stored_events{*f.db}.read_execution(id, 0, 20000).events;
    const std::size_t expected = 4 + execution_manager::max_waiting_events + 1;
    BOOST_TEST_REQUIRE(stored.size() == expected);
    for (std::size_t i = 0; i < stored.size(); ++i)
        if (json::parse(stored[i]->text).at("counter").to_number<std::size_t>() != i + 1) {
            BOOST_TEST(false, "event " << i + 1 << " has counter " << json::parse(stored[i]->text).at("counter"));
            break;
        }
}

BOOST_AUTO_TEST_CASE(a_deployment_that_ends_while_the_disk_is_full_keeps_its_state_and_the_service_goes_on)
{
    deployment_fixture f;
    f.script = scripted_runner::script::wait_for_stop;
    deployment_request request;
    request.checkpoints = std::vector<std::string>{"jobs"};
    const std::string id = f.deployments.start(request, f.caller).id;
    BOOST_TEST_REQUIRE(
        f.run_until([&] { return f.seen.runs == 1 && f.stored_status("deployments", id) == "running"; }));

    // The step's execution and the deployment end while nothing can be written: both in memory,
    // and run_until would throw had an error escaped a handler.
    f.fail_writes(test::faulty_vfs::file_kind::wal, SQLITE_FULL);
    f.deployments.cancel(id);
    BOOST_TEST_REQUIRE(f.run_until([&] { return to_string(f.deployments.get(id)->status) == "cancelled"; }));
    BOOST_TEST(f.deployments.get(id)->steps.at(0).status == "cancelled");
    BOOST_TEST(to_string(f.deployments.newest()->status) == "cancelled");
    BOOST_TEST(f.stored_status("deployments", id) == "running");
    // A request's change is refused whole (the service answers 503) and leaves the state as it was.
    BOOST_CHECK_THROW(f.deployments.resume(id, f.caller), sqlite::error);
    BOOST_TEST(to_string(f.deployments.get(id)->status) == "cancelled");

    f.heal();
    BOOST_TEST_REQUIRE(f.run_until([&] { return f.stored_status("deployments", id) == "cancelled"; }, 5s));
    const auto announced = f.announced_statuses(id);
    BOOST_TEST_REQUIRE(!announced.empty());
    BOOST_TEST(announced.back() == "cancelled");
    BOOST_TEST(std::count(announced.begin(), announced.end(), "cancelled") == 1);

    // And the next deployment goes through as any other.
    f.script = scripted_runner::script::succeed;
    const std::string next = f.deployments.start(request, f.caller).id;
    BOOST_TEST(f.run_until([&] { return f.stored_status("deployments", next) == "succeeded"; }));
}

BOOST_AUTO_TEST_CASE(a_deployment_cancelled_at_a_gate_while_the_disk_is_full_leaves_its_request_to_expire)
{
    deployment_fixture f;
    const std::string id = f.start_at_gate();

    // Withdrawing the request cannot be written: the deployment ends all the same, and run_until
    // would throw had the failure escaped a handler.
    f.fail_writes(test::faulty_vfs::file_kind::wal, SQLITE_FULL);
    f.deployments.cancel(id);
    BOOST_TEST_REQUIRE(f.run_until([&] { return to_string(f.deployments.get(id)->status) == "cancelled"; }));

    f.heal();
    BOOST_TEST_REQUIRE(f.run_until([&] { return f.stored_status("deployments", id) == "cancelled"; }, 5s));
    BOOST_TEST(f.approvals.pending_requests("jobs-gated").size() == 1u);  // until it expires
    BOOST_TEST(f.seen.runs == 0);
}

BOOST_AUTO_TEST_CASE(a_grant_whose_consumption_the_store_refuses_starts_no_run_and_then_exactly_one)
{
    deployment_fixture f;
    BOOST_TEST_REQUIRE(f.engine->latest("jobs-gated") == nullptr);  // loads the in-memory view
    f.refuse_consumption(true);
    BOOST_CHECK_THROW(start_checkpoint(*f.engine, f.approvals, f.catalog, "jobs-gated", {}, f.caller, true),
                      sqlite::error);
    f.run_until([] { return false; }, 200ms);  // a run that had started would run now
    BOOST_TEST(f.seen.runs == 0);
    BOOST_TEST(f.gated_runs().empty());
    BOOST_TEST(f.engine->latest("jobs-gated") == nullptr);  // no phantom in the in-memory view
    BOOST_TEST_REQUIRE(f.approvals.live_grants("jobs-gated").size() == 1u);

    // The grant is still there, and it starts one run.
    f.refuse_consumption(false);
    const std::string id =
        start_checkpoint(*f.engine, f.approvals, f.catalog, "jobs-gated", {}, f.caller, false).id;
    BOOST_TEST_REQUIRE(f.run_until([&] { return !f.engine->is_active(id); }));
    BOOST_TEST(f.seen.runs == 1);
    BOOST_TEST(f.approvals.live_grants("jobs-gated").empty());
    try {
        start_checkpoint(*f.engine, f.approvals, f.catalog, "jobs-gated", {}, f.caller, false);
        BOOST_FAIL("a consumed grant started a second run");
    } catch (const engine_error& e) {
        BOOST_TEST(e.code() == "APPROVAL_REQUIRED");
    }
    BOOST_TEST(f.gated_runs().size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_grant_that_another_writer_used_up_meanwhile_starts_no_run)
{
    deployment_fixture f;
    grant_input input;
    input.reason = "maintenance window";
    input.approved_by = f.caller.name;
    const approval_record grant = f.approvals.grant("jobs-gated", f.caller, input);
    // Between finding the grant and starting the run, another process revokes it.
    auto revoke = f.db->prepare("UPDATE approvals SET state = 'revoked' WHERE id = ?");
    revoke.bind(1, grant.id);
    revoke.step();

    try {
        f.approvals.start_granted(*f.engine, "jobs-gated", {}, execution_origin{f.caller.name, std::nullopt, grant.id},
                                  f.caller.name);
        BOOST_FAIL("a revoked grant started a run");
    } catch (const engine_error& e) {
        BOOST_TEST(e.code() == "APPROVAL_REQUIRED");
    }
    f.run_until([] { return false; }, 200ms);
    BOOST_TEST(f.seen.runs == 0);
    BOOST_TEST(f.gated_runs().empty());
    BOOST_TEST(to_string(f.approvals.get(grant.id)->state) == "revoked");
}

BOOST_AUTO_TEST_CASE(a_deployment_step_whose_grant_cannot_be_consumed_starts_nothing_and_its_resume_runs_once)
{
    deployment_fixture f;
    const std::string id = f.start_at_gate();
    f.refuse_consumption(true);
    grant_input input;
    input.reason = "go";
    input.approved_by = f.caller.name;
    input.approval_id = f.approvals.pending_requests("jobs-gated").front().id;
    f.approvals.grant("jobs-gated", f.caller, input);
    BOOST_TEST_REQUIRE(f.run_until([&] { return f.stored_status("deployments", id) == "failed"; }));
    f.run_until([] { return false; }, 200ms);
    BOOST_TEST(f.seen.runs == 0);
    BOOST_TEST(f.gated_runs().empty());

    // A deployment that failed releases its grants: the resume asks anew, and its grant runs once.
    f.refuse_consumption(false);
    f.deployments.resume(id, f.caller);
    BOOST_TEST_REQUIRE(f.run_until([&] { return f.approvals.pending_requests("jobs-gated").size() == 1u; }));
    input.approval_id = f.approvals.pending_requests("jobs-gated").front().id;
    f.approvals.grant("jobs-gated", f.caller, input);
    BOOST_TEST_REQUIRE(f.run_until([&] { return f.stored_status("deployments", id) == "succeeded"; }));
    BOOST_TEST(f.seen.runs == 1);
    BOOST_TEST(f.gated_runs().size() == 1u);
    BOOST_TEST(f.approvals.live_grants("jobs-gated").empty());
}

BOOST_AUTO_TEST_CASE(the_engine_stops_a_runner_at_the_checkpoints_timeout)
{
    engine_fixture f;
    f.script = scripted_runner::script::wait_for_stop;
    const auto started = std::chrono::steady_clock::now();
    const execution_record record = f.run_to_end("jobs-short");
    const auto elapsed = std::chrono::steady_clock::now() - started;

    BOOST_TEST_REQUIRE(f.seen.stops.size() == 1u);
    BOOST_TEST((f.seen.stops[0] == stop_cause::timeout));
    BOOST_TEST((elapsed >= 1s));
    BOOST_TEST(to_string(record.status) == "timed_out");
    BOOST_TEST(record.status_reason.value_or("") == "the scripted runner timed out");
    check_events(f.stored_events(record.id),
                 {"execution.status", "execution.status", "test.step", "test.tool_event", "execution.done"});
}

BOOST_AUTO_TEST_CASE(shutdown_stops_the_runner_and_the_run_ends_interrupted)
{
    engine_fixture f;
    f.script = scripted_runner::script::wait_for_stop;
    const std::string id = f.engine->start("jobs", {}).id;
    BOOST_TEST_REQUIRE(f.run_until([&] { return f.seen.runs == 1; }));
    f.engine->shutdown();
    BOOST_TEST_REQUIRE(f.run_until([&] { return !f.engine->is_active(id); }));

    BOOST_TEST_REQUIRE(f.seen.stops.size() == 1u);
    BOOST_TEST((f.seen.stops[0] == stop_cause::cancel));
    const auto record = *f.engine->get(id);
    BOOST_TEST(to_string(record.status) == "interrupted");
    BOOST_TEST(record.status_reason.value_or("").find("the service was shut down while this execution ran") == 0u);
    BOOST_TEST(text_of(*record.error, "message") == record.status_reason.value_or(""));
}

BOOST_AUTO_TEST_CASE(work_that_survives_the_service_is_detached_and_followed_again_after_a_restart)
{
    engine_fixture f;
    f.survives = true;
    f.script = scripted_runner::script::wait_for_stop;
    const std::string id = f.engine->start("jobs", {}).id;
    BOOST_TEST_REQUIRE(f.run_until([&] { return f.seen.runs == 1; }));
    f.engine->shutdown();
    BOOST_TEST_REQUIRE(f.run_until([&] { return !f.engine->is_active(id); }));

    // Detached, not stopped: the row stays running with what finds the work again.
    BOOST_TEST_REQUIRE(f.seen.stops.size() == 1u);
    BOOST_TEST((f.seen.stops[0] == stop_cause::detach));
    const auto left = *f.engine->get(id);
    BOOST_TEST(to_string(left.status) == "running");
    BOOST_TEST(json::serialize(left.attachment) == R"({"job_run":"run-1"})");
    BOOST_TEST(f.finished.empty());

    // The next life (the same holds after a kill -9: the row is just as it was left).
    f.engine.reset();
    f.script = scripted_runner::script::succeed;
    f.engine = f.make_engine();
    f.engine->recover();
    BOOST_TEST(f.engine->is_active(id));
    BOOST_TEST_REQUIRE(f.run_until([&] { return !f.engine->is_active(id); }));

    BOOST_TEST(f.seen.runs == 2);
    BOOST_TEST(f.seen.resumed);
    BOOST_TEST(json::serialize(f.seen.attachment_seen) == R"({"job_run":"run-1"})");
    const auto record = *f.engine->get(id);
    BOOST_TEST(to_string(record.status) == "succeeded");
    BOOST_TEST(record.started_at.value_or("") == left.started_at.value_or("?"));
    const auto stored = f.stored_events(id);
    check_events(stored, {"execution.status", "execution.status", "test.step", "test.tool_event",
                          "execution.reattached", "test.followed", "execution.done"});
    BOOST_TEST(text_of(stored[4], "reason").find("the service restarted") == 0u);
    BOOST_TEST_REQUIRE(f.finished.size() == 1u);
    BOOST_TEST(f.finished[0].id == id);
}

BOOST_AUTO_TEST_SUITE_END()
