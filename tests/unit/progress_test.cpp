// Progress tracking from Ansible events (the events are shaped as the callback plugin emits them).
#include "raydeploy/engine/progress.hpp"

#include "raydeploy/engine/ansible_runner.hpp"

#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

namespace json = boost::json;
using raydeploy::execution_progress;
using raydeploy::extract_checkpoint_results;

namespace {

void feed(execution_progress& progress, const char* text) { progress.observe(json::parse(text).as_object()); }

json::object object_of(const char* text) { return json::parse(text).as_object(); }

bool mentions(const std::vector<std::string>& warnings, std::string_view needle)
{
    for (const auto& warning : warnings)
        if (warning.find(needle) != std::string::npos) return true;
    return false;
}

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

BOOST_AUTO_TEST_CASE(results_take_raydeploy_node_per_host_summary_and_report_and_nothing_else)
{
    const auto published = extract_checkpoint_results(object_of(R"({
        "ok": {"h1": 2, "h2": 2, "h3": 1},
        "artifact_data": {"raydeploy_summary": {"nodes": 2}, "other": 1,
                          "raydeploy_report": {"json": {"title": "T"}, "markdown": "# T\n"}},
        "artifact_data_per_host": {"h1": {"raydeploy_node": {"role": "head", "cpus": 4}, "other": 2},
                                   "h2": {"raydeploy_node": {"role": "worker"}},
                                   "h3": {"other": 3}}})"));
    BOOST_TEST(published.results == object_of(R"({"nodes": {"h1": {"role": "head", "cpus": 4}, "h2": {"role": "worker"}},
                                                  "summary": {"nodes": 2}})"));
    BOOST_TEST(published.report.json.value() == json::parse(R"({"title": "T"})"));
    BOOST_TEST(published.report.markdown.value() == "# T\n");
    BOOST_TEST(published.warnings.empty());
}

BOOST_AUTO_TEST_CASE(results_of_a_playbook_that_published_nothing_are_empty)
{
    for (const char* data : {R"({})", R"({"artifact_data": {}, "artifact_data_per_host": "odd"})",
                             R"({"artifact_data": {"raydeploy_report": null}})"}) {
        BOOST_TEST_CONTEXT(data)
        {
            const auto published = extract_checkpoint_results(object_of(data));
            BOOST_TEST(published.results == object_of(R"({"nodes": {}, "summary": null})"));
            BOOST_TEST(published.report.empty());
            BOOST_TEST(published.warnings.empty());
        }
    }
}

BOOST_AUTO_TEST_CASE(results_the_plugin_cut_are_named_in_warnings)
{
    const auto published = extract_checkpoint_results(object_of(R"({
        "artifact_data": {"_raydeploy_truncated": true, "size": 70000},
        "artifact_data_per_host": {"_raydeploy_truncated": true, "size": 90000}})"));
    BOOST_TEST(published.results.at("nodes").as_object().empty());
    BOOST_TEST(published.results.at("summary").is_null());
    BOOST_TEST(published.report.empty());
    BOOST_TEST_REQUIRE(published.warnings.size() == 2u);
    BOOST_TEST(mentions(published.warnings, "RAYDEPLOY_EVENT_RES_LIMIT"));
    BOOST_TEST(mentions(published.warnings, "70000 bytes"));
    BOOST_TEST(mentions(published.warnings, "raydeploy_node of every host"));
    BOOST_TEST(published.results.at("warnings").as_array().size() == 2u);
}

BOOST_AUTO_TEST_CASE(results_and_report_parts_over_the_limit_are_left_out)
{
    const std::string big(300, 'x');
    json::object data = object_of(R"({"artifact_data": {"raydeploy_summary": {"ok": true}},
                                      "artifact_data_per_host": {"h1": {"raydeploy_node": {}}}})");
    data["artifact_data"].as_object()["raydeploy_report"] = json::object{{"json", json::object{{"text", big}}}, {"markdown", "# ok"}};
    data["artifact_data_per_host"].as_object()["h1"].as_object()["raydeploy_node"].as_object()["blob"] = big;

    const auto published = extract_checkpoint_results(data, 200);
    BOOST_TEST(published.results.at("nodes").as_object().empty());
    BOOST_TEST(published.results.at("summary").is_null());
    BOOST_TEST(!published.report.json.has_value());
    BOOST_TEST(published.report.markdown.value() == "# ok");
    BOOST_TEST(published.warnings.size() == 2u);
    BOOST_TEST(mentions(published.warnings, "raydeploy_report.json is"));
    BOOST_TEST(mentions(published.warnings, "over the limit of 200 bytes"));
    BOOST_TEST(published.results.at("warnings").as_array().size() == 2u);

    // Within the limit everything is kept.
    const auto roomy = extract_checkpoint_results(data);
    BOOST_TEST(roomy.warnings.empty());
    BOOST_TEST(std::string{roomy.results.at("nodes").as_object().at("h1").as_object().at("blob").as_string()} == big);
}

BOOST_AUTO_TEST_CASE(report_of_the_wrong_shape_is_ignored_with_a_warning)
{
    const auto not_object = extract_checkpoint_results(object_of(R"({"artifact_data": {"raydeploy_report": "text"}})"));
    BOOST_TEST(not_object.report.empty());
    BOOST_TEST(mentions(not_object.warnings, "raydeploy_report is not an object"));
    const auto markdown_number = extract_checkpoint_results(
        object_of(R"({"artifact_data": {"raydeploy_report": {"json": [1, 2], "markdown": 3}}})"));
    BOOST_TEST(markdown_number.report.json.value() == json::parse("[1, 2]"));
    BOOST_TEST(!markdown_number.report.markdown.has_value());
    BOOST_TEST(mentions(markdown_number.warnings, "markdown is not a string"));
}

BOOST_AUTO_TEST_CASE(stats_event_sets_the_results)
{
    execution_progress progress;
    feed(progress, R"({"event":"playbook_on_task_start","event_data":{"task":"t"}})");
    BOOST_TEST(!progress.results().has_value());
    feed(progress, R"({"event":"playbook_on_stats","event_data":{"ok":{"h1":1},
        "artifact_data":{"raydeploy_summary":"fine"},"artifact_data_per_host":{"h1":{"raydeploy_node":{"a":1}}}}})");
    BOOST_TEST_REQUIRE(progress.results().has_value());
    BOOST_TEST(progress.results()->results == object_of(R"({"nodes": {"h1": {"a": 1}}, "summary": "fine"})"));
}

// The runner's reading of the event channel: each line into an arena of its own, which the next
// line replaces (what the progress keeps was copied out of it).
BOOST_AUTO_TEST_CASE(plugin_lines_are_events_or_refused_with_the_reason)
{
    raydeploy::plugin_line_parser lines;
    execution_progress progress;
    std::string error;

    json::object* started = lines.parse(R"({"event":"playbook_on_task_start","event_data":{"task":"first"}})", error);
    BOOST_TEST_REQUIRE(started != nullptr);
    progress.observe(*started);

    BOOST_TEST(lines.parse(R"({"event":"runner_on_ok",)", error) == nullptr);
    BOOST_TEST(!error.empty());
    error.clear();
    BOOST_TEST(lines.parse(R"(["event"])", error) == nullptr);
    BOOST_TEST(error.find("\"event\"") != std::string::npos, error);
    BOOST_TEST(lines.parse(R"({"task":"no event"})", error) == nullptr);

    // A line bigger than the arena's first block still parses, and the progress outlives it.
    const std::string big_task(200 * 1024, 'x');
    json::object* big = lines.parse(R"({"event":"playbook_on_task_start","event_data":{"task":")" + big_task + "\"}}",
                                    error);
    BOOST_TEST_REQUIRE(big != nullptr);
    progress.observe(*big);
    BOOST_TEST_REQUIRE(lines.parse(R"({"event":"playbook_on_stats","event_data":{}})", error) != nullptr);
    BOOST_TEST(progress.progress().at("task").as_string().size() == big_task.size());
    BOOST_TEST(progress.progress().at("tasks_started") == 2);
}

// Found by fuzz_plugin_events: a recap count that is no whole number threw out of observe(), which
// would have ended the reading of the run's event channel.
BOOST_AUTO_TEST_CASE(a_recap_count_that_is_no_whole_number_counts_as_zero)
{
    execution_progress progress;
    feed(progress, R"({"event":"playbook_on_stats","event_data":{"ok":{"h1":1.5,"h2":1e300,"h3":-3},"failures":{"h1":2}}})");
    BOOST_TEST(progress.host_summary().at("h1").at("ok") == 0);
    BOOST_TEST(progress.host_summary().at("h1").at("failures") == 2);
    BOOST_TEST(progress.host_summary().at("h2").at("ok") == 0);
    BOOST_TEST(progress.host_summary().at("h3").at("ok") == -3);
}

BOOST_AUTO_TEST_SUITE_END()
