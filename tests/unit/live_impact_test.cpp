// The live impact an approval of a destructive checkpoint shows, built from canned snapshots: what
// runs is listed, what ended is not, and a source that is not CONNECTED never reads as "nothing runs".
#include "raydeploy/watch/live_impact.hpp"

#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>

#include <string>

using namespace raydeploy::watch;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

const auto observed = std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));

std::string jobs_body(const std::vector<std::pair<std::string, std::string>>& id_and_status)
{
    json::array rows;
    for (const auto& [id, status] : id_and_status)
        rows.push_back(json::object{{"type", "SUBMISSION"}, {"job_id", status == "PENDING" ? json::value(nullptr) : json::value("02000000")},
                                    {"submission_id", id}, {"status", status},
                                    {"entrypoint", "python " + id + ".py"}});
    return json::serialize(rows);
}

std::string serve_body(const std::vector<std::pair<std::string, std::string>>& name_and_status)
{
    json::object apps;
    for (const auto& [name, status] : name_and_status)
        apps[name] = json::object{{"name", name}, {"status", status}, {"route_prefix", "/" + name},
                                  {"message", ""}, {"deployments", json::object{}}};
    return json::serialize(json::object{{"controller_info", json::object{{"actor_id", "c"}}}, {"applications", apps}});
}

ray_snapshot snapshot_of(const std::string& jobs, const std::string& serve)
{
    return assemble_snapshot(observed, parse_version(R"({"ray_version":"2.60.0"})"),
                             parse_cluster_status(R"({"result":true,"msg":"","data":{"clusterStatus":null}})"),
                             parse_nodes(R"({"result":true,"msg":"","data":{"result":{"total":0,"result":[]}}})"),
                             parse_jobs(jobs), parse_serve_applications(serve));
}

source_health connected()
{
    source_health health("cluster");
    health.record(poll_outcome::ok, observed);
    return health;
}

std::string text(const json::object& impact, std::string_view key) { return std::string{impact.at(key).as_string()}; }

}  // namespace

BOOST_AUTO_TEST_SUITE(live_impact_suite)

BOOST_AUTO_TEST_CASE(running_and_pending_jobs_are_listed_and_finished_ones_are_not)
{
    const auto snapshot = snapshot_of(
        jobs_body({{"raysubmit_a", "RUNNING"}, {"raysubmit_b", "SUCCEEDED"}, {"raysubmit_c", "PENDING"},
                   {"raysubmit_d", "FAILED"}, {"raysubmit_e", "STOPPED"}}),
        serve_body({}));
    const auto impact = live_impact(snapshot, connected());
    BOOST_TEST(impact.at("fresh").as_bool());
    BOOST_TEST(text(impact, "source_state") == "CONNECTED");
    BOOST_TEST(text(impact, "observed_at") == "2027-01-15T08:00:00.000Z");
    const auto& jobs = impact.at("jobs").as_array();
    BOOST_TEST_REQUIRE(jobs.size() == 2u);
    BOOST_TEST(jobs[0].at("submission_id").as_string() == "raysubmit_a");
    BOOST_TEST(jobs[0].at("job_id").as_string() == "02000000");
    BOOST_TEST(jobs[0].at("entrypoint").as_string() == "python raysubmit_a.py");
    BOOST_TEST(jobs[0].at("status").as_string() == "RUNNING");
    BOOST_TEST(jobs[1].at("submission_id").as_string() == "raysubmit_c");
    BOOST_TEST(jobs[1].at("job_id").is_null());
    BOOST_TEST(impact.at("applications").as_array().empty());
    BOOST_TEST(impact.at("jobs_total").as_int64() == 2);
    BOOST_TEST(text(impact, "summary") == "2 Ray jobs (1 running, 1 pending) will end");
    BOOST_TEST(!impact.contains("note"));
}

BOOST_AUTO_TEST_CASE(serve_applications_are_listed_unless_being_deleted)
{
    const auto snapshot = snapshot_of(jobs_body({{"raysubmit_a", "RUNNING"}, {"raysubmit_b", "RUNNING"}}),
                                      serve_body({{"llm", "RUNNING"}, {"old", "DELETING"}, {"broken", "DEPLOY_FAILED"}}));
    const auto impact = live_impact(snapshot, connected());
    const auto& apps = impact.at("applications").as_array();
    BOOST_TEST_REQUIRE(apps.size() == 2u);
    BOOST_TEST(apps[0].at("name").as_string() == "broken");
    BOOST_TEST(apps[0].at("status").as_string() == "DEPLOY_FAILED");
    BOOST_TEST(apps[1].at("name").as_string() == "llm");
    BOOST_TEST(apps[1].at("route_prefix").as_string() == "/llm");
    BOOST_TEST(text(impact, "summary") == "2 running Ray jobs and 2 Serve applications will end");
}

BOOST_AUTO_TEST_CASE(a_single_application_is_named_in_the_singular)
{
    const auto impact = live_impact(snapshot_of(jobs_body({}), serve_body({{"llm", "DEPLOYING"}})), connected());
    BOOST_TEST(text(impact, "summary") == "1 Serve application will end");
}

BOOST_AUTO_TEST_CASE(a_fresh_snapshot_with_nothing_running_says_so_with_its_time)
{
    const auto snapshot = snapshot_of(jobs_body({{"raysubmit_b", "SUCCEEDED"}}), serve_body({}));
    const auto impact = live_impact(snapshot, connected());
    BOOST_TEST(impact.at("fresh").as_bool());
    BOOST_TEST(impact.at("jobs").as_array().empty());
    BOOST_TEST(impact.at("applications").as_array().empty());
    BOOST_TEST(text(impact, "summary") == "no Ray job or Serve application is running as of 2027-01-15T08:00:00.000Z");
}

BOOST_AUTO_TEST_CASE(an_unreachable_dashboard_makes_the_state_unknown_and_lists_nothing)
{
    const auto snapshot = snapshot_of(jobs_body({{"raysubmit_a", "RUNNING"}}), serve_body({{"llm", "RUNNING"}}));
    source_health health = connected();
    health.record(poll_outcome::none, observed + 30s, "GET /api/jobs/: connection refused");
    const auto impact = live_impact(snapshot, health);
    BOOST_TEST(!impact.at("fresh").as_bool());
    BOOST_TEST(text(impact, "source_state") == "UNREACHABLE");
    BOOST_TEST(impact.at("jobs").as_array().empty());
    BOOST_TEST(impact.at("applications").as_array().empty());
    BOOST_TEST(text(impact, "note") ==
               "the cluster's state is unknown: raydeploy could not read the Ray dashboard since "
               "2027-01-15T08:00:00.000Z; check what runs before approving");
    BOOST_TEST(text(impact, "summary") == "the cluster's state is unknown; when last read (2027-01-15T08:00:00.000Z) "
                                          "Ray listed 1 running Ray job and 1 Serve application");
}

BOOST_AUTO_TEST_CASE(a_dashboard_never_read_is_unknown_not_empty)
{
    const auto impact = live_impact(std::nullopt, source_health("cluster"));
    BOOST_TEST(!impact.at("fresh").as_bool());
    BOOST_TEST(text(impact, "source_state") == "UNKNOWN");
    BOOST_TEST(impact.at("observed_at").is_null());
    BOOST_TEST(text(impact, "summary") == "the cluster's state is unknown");
    BOOST_TEST(text(impact, "note").find("has not read the Ray dashboard yet") != std::string::npos, text(impact, "note"));
}

BOOST_AUTO_TEST_CASE(a_degraded_dashboard_is_not_fresh)
{
    const auto snapshot = snapshot_of(jobs_body({{"raysubmit_a", "RUNNING"}}), "garbage");
    source_health health("cluster");
    health.record(poll_outcome::partial, observed, "GET /api/serve/applications/ answered invalid JSON");
    const auto impact = live_impact(snapshot, health);
    BOOST_TEST(!impact.at("fresh").as_bool());
    BOOST_TEST(text(impact, "source_state") == "DEGRADED");
    BOOST_TEST(impact.at("jobs").as_array().empty());
    BOOST_TEST(text(impact, "note").find("only in part (GET /api/serve/applications/ answered invalid JSON)") !=
                   std::string::npos,
               text(impact, "note"));
}

BOOST_AUTO_TEST_CASE(a_disabled_monitor_says_raydeploy_does_not_watch_ray)
{
    const auto snapshot = snapshot_of(jobs_body({{"raysubmit_a", "RUNNING"}}), serve_body({}));
    const auto impact = live_impact(snapshot, connected(), false);
    BOOST_TEST(!impact.at("fresh").as_bool());
    BOOST_TEST(text(impact, "source_state") == "DISABLED");
    BOOST_TEST(impact.at("jobs").as_array().empty());
    BOOST_TEST(text(impact, "summary") == "the cluster's state is unknown");
    BOOST_TEST(text(impact, "note") == "the cluster's state is unknown: raydeploy does not watch the Ray dashboard "
                                       "(ray.enabled is false); check what runs before approving");
}

BOOST_AUTO_TEST_CASE(long_lists_are_capped_and_the_totals_count_everything)
{
    std::vector<std::pair<std::string, std::string>> many;
    for (std::size_t i = 0; i < max_listed_work + 5; ++i) many.emplace_back("raysubmit_" + std::to_string(1000 + i), "RUNNING");
    const auto impact = live_impact(snapshot_of(jobs_body(many), serve_body({})), connected());
    BOOST_TEST(impact.at("jobs").as_array().size() == max_listed_work);
    BOOST_TEST(impact.at("jobs_total").as_int64() == static_cast<std::int64_t>(max_listed_work + 5));
    BOOST_TEST(text(impact, "summary") == "105 running Ray jobs will end");
}

BOOST_AUTO_TEST_SUITE_END()
