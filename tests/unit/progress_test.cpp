// Progress tracking from Ansible events (the events are shaped as the callback plugin emits them).
#include "raydeploy/engine/progress.hpp"

#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

namespace json = boost::json;
using raydeploy::execution_progress;

namespace {

void feed(execution_progress& progress, const char* text) { progress.observe(json::parse(text).as_object()); }

}  // namespace

BOOST_AUTO_TEST_SUITE(progress)

BOOST_AUTO_TEST_CASE(tracks_play_task_and_tasks_done)
{
    execution_progress progress;
    feed(progress, R"({"event":"playbook_on_start","event_data":{"playbook":"p.yml"}})");
    feed(progress, R"({"event":"playbook_on_play_start","event_data":{"play":"Deploy"}})");
    feed(progress, R"({"event":"playbook_on_task_start","event_data":{"task":"first"}})");
    BOOST_TEST(progress.progress().at("task") == "first");
    BOOST_TEST(progress.progress().at("tasks_done") == 0);
    feed(progress, R"({"event":"runner_on_ok","event_data":{"host":"h1","task":"first","res":{"changed":true}}})");
    feed(progress, R"({"event":"playbook_on_task_start","event_data":{"task":"second"}})");
    const auto state = progress.progress();
    BOOST_TEST(state.at("play") == "Deploy");
    BOOST_TEST(state.at("task") == "second");
    BOOST_TEST(state.at("tasks_started") == 2);
    BOOST_TEST(state.at("tasks_done") == 1);
    // Live counts before the recap.
    BOOST_TEST(progress.host_summary().at("h1").at("ok") == 1);
    BOOST_TEST(progress.host_summary().at("h1").at("changed") == 1);
    BOOST_TEST(!progress.finished());
}

BOOST_AUTO_TEST_CASE(first_unignored_failure_is_the_error)
{
    execution_progress progress;
    feed(progress, R"({"event":"runner_on_failed","event_data":{"host":"h1","task":"tolerated","ignore_errors":true,"res":{"msg":"ignored"}}})");
    BOOST_TEST(!progress.first_error().has_value());
    feed(progress, R"({"event":"runner_on_failed","event_data":{"host":"h2","task":"Break","res":{"msg":"boom"}}})");
    feed(progress, R"({"event":"runner_on_failed","event_data":{"host":"h3","task":"Later","res":{"msg":"second"}}})");
    const auto& error = progress.first_error().value();
    BOOST_TEST(error.at("task") == "Break");
    BOOST_TEST(error.at("host") == "h2");
    BOOST_TEST(error.at("message") == "boom");
    BOOST_TEST(progress.host_summary().at("h1").at("ignored") == 1);
    BOOST_TEST(progress.host_summary().at("h2").at("failures") == 1);
}

BOOST_AUTO_TEST_CASE(unreachable_host_is_an_error_when_nothing_failed_before)
{
    execution_progress progress;
    feed(progress, R"({"event":"runner_on_unreachable","event_data":{"host":"ghost","task":"Ping","res":{"msg":"Connection refused"}}})");
    BOOST_TEST(progress.first_error()->at("host") == "ghost");
    BOOST_TEST(std::string{progress.first_error()->at("message").as_string()}.find("unreachable: Connection refused") !=
               std::string::npos);
    BOOST_TEST(progress.host_summary().at("ghost").at("unreachable") == 1);
}

BOOST_AUTO_TEST_CASE(recap_replaces_live_counts)
{
    execution_progress progress;
    feed(progress, R"({"event":"playbook_on_task_start","event_data":{"task":"t"}})");
    feed(progress, R"({"event":"runner_on_ok","event_data":{"host":"h1"}})");
    feed(progress, R"({"event":"playbook_on_stats","event_data":{
        "ok":{"h1":3,"h2":2},"changed":{"h1":1},"failures":{"h2":1},"dark":{"h3":1},
        "skipped":{},"rescued":{"h2":1},"ignored":{},"processed":{"h1":1,"h2":1,"h3":1,"h4":1},
        "artifact_data":{"nodes":3}}})");
    BOOST_TEST(progress.finished());
    const auto& summary = progress.host_summary();
    BOOST_TEST(summary.size() == 4u);
    BOOST_TEST(summary.at("h1").at("ok") == 3);
    BOOST_TEST(summary.at("h1").at("changed") == 1);
    BOOST_TEST(summary.at("h2").at("failures") == 1);
    BOOST_TEST(summary.at("h2").at("rescued") == 1);
    BOOST_TEST(summary.at("h3").at("unreachable") == 1);
    BOOST_TEST(summary.at("h4").at("ok") == 0);  // processed, nothing counted
    BOOST_TEST(progress.artifacts().at("nodes") == 3);
    BOOST_TEST(progress.progress().at("tasks_done") == 1);
}

BOOST_AUTO_TEST_CASE(tolerates_missing_and_mistyped_fields)
{
    execution_progress progress;
    feed(progress, R"({"event":"runner_on_ok"})");
    feed(progress, R"({"event":"runner_on_failed","event_data":"not an object"})");
    feed(progress, R"({"event":"playbook_on_stats","event_data":{"ok":{"h":"x"}}})");
    BOOST_TEST(progress.host_summary().at("h").at("ok") == 0);
}

BOOST_AUTO_TEST_SUITE_END()
