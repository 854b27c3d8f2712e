// The CML Ray cluster's naming, tagging and record (cml/ray_cluster.hpp), and the setting
// cml.application_url that says where its dashboard answers.
#include "raydeploy/cml/ray_cluster.hpp"
#include "raydeploy/config/settings.hpp"
#include "raydeploy/store/state_store.hpp"
#include "raydeploy/util/errors.hpp"

#include "support/test_support.hpp"

#include <boost/test/unit_test.hpp>

#include <limits>

using namespace raydeploy::cml;
using raydeploy::test::temp_dir;

namespace {

raydeploy::cml_settings workspace()
{
    raydeploy::cml_settings settings;
    settings.host = "https://ml-1234.cloudera.site";
    settings.runtime_identifier = "rt-1";
    return settings;
}

std::string setting_error(const std::string& yaml)
{
    temp_dir dir;
    try {
        raydeploy::load_settings(dir.write_file("raydeploy.yaml", yaml), {}, {});
    } catch (const raydeploy::config_error& e) {
        return e.what();
    }
    return {};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cml_config)

BOOST_AUTO_TEST_CASE(a_clusters_prefix_is_a_subdomain_part_made_from_the_project_name)
{
    BOOST_TEST(subdomain_prefix("Ray POC") == "ray-poc");
    BOOST_TEST(subdomain_prefix("  team__ray--2026  ") == "team-ray-2026");
    BOOST_TEST(subdomain_prefix("../../etc/passwd") == "etc-passwd");
    BOOST_TEST(subdomain_prefix("日本語") == "ray");
    BOOST_TEST(subdomain_prefix(std::string(100, 'a')).size() == 40u);
    // With the longest worker suffix the subdomain stays a DNS label CML accepts.
    const std::string longest = subdomain_prefix(std::string(100, 'a')) + "-ray-worker-abcdef";
    BOOST_TEST(is_valid_subdomain(longest));
}

BOOST_AUTO_TEST_CASE(the_dashboard_is_at_the_applications_url)
{
    auto settings = workspace();
    BOOST_TEST(application_url(settings, "ray-poc-ray-head") == "https://ray-poc-ray-head.ml-1234.cloudera.site");
    settings.application_url = "https://{subdomain}.apps.example.com/";
    BOOST_TEST(application_url(settings, "x") == "https://x.apps.example.com");
    settings.application_url = "http://127.0.0.1:8265";
    BOOST_TEST(application_url(settings, "x") == "http://127.0.0.1:8265");

    BOOST_TEST(setting_error("cml:\n  application_url: \"https://{subdomain}.apps.example.com\"\n").empty());
    const std::string plain = setting_error("cml:\n  application_url: \"http://{subdomain}.apps.example.com\"\n");
    BOOST_TEST(plain.find("cml.application_url") != std::string::npos, plain);
    BOOST_TEST(plain.find("unencrypted") != std::string::npos, plain);
    BOOST_TEST(!setting_error("cml:\n  application_url: \"ftp://x\"\n").empty());
    BOOST_TEST(!setting_error("cml:\n  application_url: \"https://user:pw@{subdomain}.example.com\"\n").empty());
}

BOOST_AUTO_TEST_CASE(applications_are_tagged_and_only_tagged_ones_belong_to_the_cluster)
{
    ray_cluster_config config;
    config.head_cpu = 4;
    config.head_memory = 16;
    config.head_script = "cml/scripts/ray_head.py";
    const auto head = head_application(workspace(), config, "ray-poc");
    BOOST_TEST(head.name == "ray-poc-ray-head");
    BOOST_TEST(head.subdomain == head.name);
    BOOST_TEST(!head.bypass_authentication);
    BOOST_TEST(head.runtime_identifier == "rt-1");
    BOOST_TEST(head.environment.at(std::string{node_name_variable}) == head.name);
    BOOST_TEST(head.environment.at("RAY_HEAD_PORT") == "6379");
    const auto worker = worker_application(workspace(), "ray-poc", "ray-poc-ray-worker-1", "w.py", 8, 32, 1);
    BOOST_TEST(worker.nvidia_gpu == 1);

    application app;
    app.environment = head.environment;
    BOOST_TEST(role_in_cluster(app, "ray-poc") == "head");
    BOOST_TEST(role_in_cluster(app, "other").empty());
    app.environment[std::string{role_variable}] = "admin";
    BOOST_TEST(role_in_cluster(app, "ray-poc").empty());
    app.environment.erase(std::string{cluster_variable});
    app.environment[std::string{role_variable}] = "worker";
    BOOST_TEST(role_in_cluster(app, "ray-poc").empty());
}

BOOST_AUTO_TEST_CASE(the_record_survives_a_restart_and_forgetting_it_is_told)
{
    temp_dir dir;
    ray_cluster cluster;
    cluster.project_id = "p-1";
    cluster.prefix = "ray-poc";
    cluster.dashboard_url = "https://ray-poc-ray-head.ml.example";
    cluster.worker_script = "cml/scripts/ray_worker.py";
    cluster.head_address = "10.0.0.5:6379";
    cluster.applications = {{"a-1", "ray-poc-ray-head", "head", 4, 16, 0}, {"a-2", "ray-poc-ray-worker-1", "worker", 8, 32, 1}};
    {
        raydeploy::state_store store{dir.path() / "state"};
        ray_cluster_registry registry{store.db()};
        BOOST_TEST(!registry.current());
        registry.record(cluster);
    }
    raydeploy::state_store store{dir.path() / "state"};
    ray_cluster_registry registry{store.db()};
    BOOST_TEST_REQUIRE(registry.current().has_value());
    BOOST_TEST(registry.current()->head_address.value() == "10.0.0.5:6379");
    BOOST_TEST(registry.current()->applications.size() == 2u);
    BOOST_TEST(registry.current()->find("a-2")->app_name == "ray-poc-ray-worker-1");
    BOOST_TEST(registry.current()->find_by_name("ray-poc-ray-head")->role == "head");
    BOOST_TEST(registry.current()->worker_script == "cml/scripts/ray_worker.py");

    int told = 0;
    bool last_present = true;
    registry.follow([&](const std::optional<ray_cluster>& now) { ++told, last_present = now.has_value(); });
    BOOST_TEST(told == 1);
    registry.forget();
    BOOST_TEST(told == 2);
    BOOST_TEST(!last_present);
    ray_cluster_registry reopened{store.db()};
    BOOST_TEST(!reopened.current());
}

BOOST_AUTO_TEST_CASE(a_record_with_a_gpu_count_that_is_no_count_is_not_read)
{
    ray_cluster cluster;
    cluster.project_id = "p-1";
    cluster.prefix = "ray-poc";
    cluster.dashboard_url = "https://ray-poc-ray-head.ml.example";
    cluster.applications = {{"a-1", "ray-poc-ray-head", "head", 4, 16, 2}};
    boost::json::value document = cluster.to_json();
    BOOST_TEST_REQUIRE(ray_cluster::from_json(document).has_value());
    BOOST_TEST(ray_cluster::from_json(document)->applications.at(0).gpus == 2);
    // Converting these to an integer was undefined behaviour (found by reading for UBSan).
    for (const double gpus : {1e300, -1.0, 2.5, std::numeric_limits<double>::infinity()}) {
        BOOST_TEST_CONTEXT("gpus " << gpus)
        {
            document.as_object()["applications"].as_array()[0].as_object()["gpus"] = gpus;
            BOOST_TEST(!ray_cluster::from_json(document).has_value());
        }
    }
}

BOOST_AUTO_TEST_CASE(a_launch_plans_to_restart_only_what_the_config_changed)
{
    ray_cluster_config config;
    config.num_workers = 2;
    config.head_cpu = 4;
    config.head_memory = 16;
    config.worker_cpu = 8;
    config.worker_memory = 32;
    config.worker_gpus = 1;
    const auto first = plan_launch(std::nullopt, config, "ray-poc");
    BOOST_TEST(first.creates.size() == 3u);
    BOOST_TEST(first.restarts.empty());

    ray_cluster recorded;
    recorded.prefix = "ray-poc";
    recorded.applications = {{"a-1", "ray-poc-ray-head", "head", 4, 16, 0},
                             {"a-2", "ray-poc-ray-worker-1", "worker", 8, 32, 1},
                             {"a-3", "ray-poc-ray-worker-2", "worker", 8, 16, 1}};
    const auto same_but_one = plan_launch(recorded, config, "ray-poc");
    BOOST_TEST(same_but_one.creates.empty());
    BOOST_TEST_REQUIRE(same_but_one.restarts.size() == 1u);
    BOOST_TEST(same_but_one.restarts[0].app_name == "ray-poc-ray-worker-2");
    BOOST_TEST((same_but_one.restarts[0].fields == std::vector<std::string>{"memory"}));

    config.num_workers = 3;
    config.worker_gpus = 0;
    const auto grown = plan_launch(recorded, config, "ray-poc");
    BOOST_TEST((grown.creates == std::vector<std::string>{"ray-poc-ray-worker-3"}));
    BOOST_TEST(grown.restarts.size() == 2u);
    // Another project's record plans nothing from it.
    BOOST_TEST(plan_launch(recorded, config, "other").creates.size() == 4u);
}

BOOST_AUTO_TEST_SUITE_END()
