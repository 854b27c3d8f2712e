// The CML config files (cml/cml_config.hpp): the shipped ones, the chain order, every refusal
// with its location, and the job definition fingerprint.
#include "raydeploy/cml/cml_config.hpp"
#include "raydeploy/util/errors.hpp"

#include "support/test_support.hpp"

#include <boost/test/unit_test.hpp>

using namespace std::chrono_literals;
using raydeploy::config_error;
using raydeploy::cml::job_spec;
using raydeploy::cml::jobs_config;
using raydeploy::cml::load_jobs_config;
using raydeploy::cml::load_ray_cluster_config;
using raydeploy::test::temp_dir;

namespace {

const std::filesystem::path shipped_dir = std::filesystem::path{RAYDEPLOY_SOURCE_DIR} / "cml";

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// The message load_jobs_config (or load_ray_cluster_config) throws for `text`.
template <class Load>
std::string error_of(Load load, const std::string& text)
{
    temp_dir dir;
    const auto file = dir.write_file("config.yaml", text);
    try {
        load(file);
    } catch (const config_error& e) {
        return e.what();
    }
    BOOST_FAIL("expected a config_error for:\n" + text);
    return {};
}

std::string jobs_error(const std::string& text) { return error_of(load_jobs_config, text); }
std::string cluster_error(const std::string& text) { return error_of(load_ray_cluster_config, text); }

std::vector<std::string> keys_in_order(const jobs_config& config)
{
    std::vector<std::string> keys;
    for (const auto& job : config.jobs) keys.push_back(job.key);
    return keys;
}

// A job of the given key and parent, every other field valid.
std::string job(const std::string& key, const std::string& parent = "null")
{
    return "  " + key + ": {name: \"Job " + key + "\", script: s/" + key + ".py, cpu: 1, memory: 2, timeout: 60, " +
           "parent_job_key: " + parent + "}\n";
}

const std::string cluster_keys = "  num_workers: 2\n  head_cpu: 2\n  head_memory: 8\n  worker_cpu: 4\n"
                                 "  worker_memory: 16\n  worker_gpus: 0\n  head_script: a/head.py\n"
                                 "  worker_script: a/worker.py\n";

}  // namespace

BOOST_AUTO_TEST_SUITE(cml_config)

BOOST_AUTO_TEST_CASE(the_shipped_jobs_load_in_chain_order_and_their_scripts_are_in_the_repository)
{
    const auto config = load_jobs_config(shipped_dir / "jobs_config.yaml");
    BOOST_TEST(config.source == (shipped_dir / "jobs_config.yaml").lexically_normal());
    BOOST_TEST(keys_in_order(config) == (std::vector<std::string>{"git_sync", "setup_environment"}),
               boost::test_tools::per_element());
    const job_spec& sync = config.jobs[0];
    BOOST_TEST(sync.name == "Git Repository Sync");
    BOOST_TEST(sync.cpu == 4.0);
    BOOST_TEST(sync.memory == 16.0);
    BOOST_TEST(sync.timeout == 300s);
    BOOST_TEST(!sync.parent_key);
    const job_spec* setup = config.find("setup_environment");
    BOOST_TEST_REQUIRE(setup != nullptr);
    BOOST_TEST(setup->timeout == 1800s);
    BOOST_TEST(setup->parent_key.value_or("") == "git_sync");
    BOOST_TEST(config.find("launch_ray_cluster") == nullptr);
    // The scripts are paths in the project CML clones, which is this repository.
    for (const auto& item : config.jobs)
        BOOST_TEST(std::filesystem::is_regular_file(std::filesystem::path{RAYDEPLOY_SOURCE_DIR} / item.script), item.script);
}

BOOST_AUTO_TEST_CASE(the_shipped_cluster_config_loads_and_its_scripts_are_in_the_repository)
{
    const auto config = load_ray_cluster_config(shipped_dir / "ray_cluster_config.yaml");
    BOOST_TEST(config.num_workers == 1u);
    BOOST_TEST(config.head_cpu == 4.0);
    BOOST_TEST(config.head_memory == 16.0);
    BOOST_TEST(config.worker_cpu == 8.0);
    BOOST_TEST(config.worker_memory == 32.0);
    BOOST_TEST(config.worker_gpus == 1u);
    for (const auto& script : {config.head_script, config.worker_script})
        BOOST_TEST(std::filesystem::is_regular_file(std::filesystem::path{RAYDEPLOY_SOURCE_DIR} / script), script);
    // The head writes its address (CDSW_IP_ADDRESS, the engine's IP in CML) to the cluster's file in
    // the project, and the worker reads it there.
    const auto worker = raydeploy::test::read_file(std::filesystem::path{RAYDEPLOY_SOURCE_DIR} / config.worker_script);
    BOOST_TEST(contains(worker, "RAYDEPLOY_RAY_CLUSTER"));
    BOOST_TEST(contains(worker, "head-address"));
    BOOST_TEST(contains(raydeploy::test::read_file(std::filesystem::path{RAYDEPLOY_SOURCE_DIR} / config.head_script),
                        "CDSW_IP_ADDRESS"));
}

BOOST_AUTO_TEST_CASE(parents_come_before_their_children_and_the_file_order_decides_the_rest)
{
    temp_dir dir;
    const auto config = load_jobs_config(dir.write_file(
        "jobs.yaml", "jobs:\n" + job("test", "build") + job("build", "fetch") + job("docs", "fetch") + job("fetch") +
                         job("lint") + "  extra:\n    name: Extra\n    script: x.py\n    cpu: 0.5\n    memory: 1.5\n"
                                       "    timeout: 30m\n"));
    BOOST_TEST(keys_in_order(config) ==
                   (std::vector<std::string>{"fetch", "build", "test", "docs", "lint", "extra"}),
               boost::test_tools::per_element());
    const job_spec* extra = config.find("extra");
    BOOST_TEST_REQUIRE(extra != nullptr);
    BOOST_TEST(extra->cpu == 0.5);
    BOOST_TEST(extra->memory == 1.5);
    BOOST_TEST(extra->timeout == 1800s);
    BOOST_TEST(!extra->parent_key);  // parent_job_key absent: no parent, as null
}

BOOST_AUTO_TEST_CASE(a_parent_that_is_not_a_job_is_refused_naming_the_key_and_the_closest_one)
{
    const auto message = jobs_error("jobs:\n" + job("git_sync") + job("setup", "git_snyc"));
    BOOST_TEST(contains(message, "config.yaml:3:"), message);
    BOOST_TEST(contains(message, "jobs.setup.parent_job_key: \"git_snyc\" is not a job of this file; did you mean "
                                 "'git_sync'? The jobs are: git_sync, setup"),
               message);
    BOOST_TEST(contains(jobs_error("jobs:\n" + job("a", "a")), "jobs.a.parent_job_key: a job cannot run after itself"));
}

BOOST_AUTO_TEST_CASE(a_loop_in_the_parent_chain_is_refused_naming_its_keys)
{
    const auto message = jobs_error("jobs:\n" + job("root") + job("a", "c") + job("b", "a") + job("c", "b") + job("d", "c"));
    BOOST_TEST(contains(message, "config.yaml:3:"), message);
    BOOST_TEST(contains(message, "jobs.a.parent_job_key: the parent chain loops: a -> c -> b -> a"), message);
    // One report: d, which waits on the loop, is no second problem.
    BOOST_TEST(!contains(message, "jobs.d"), message);
}

BOOST_AUTO_TEST_CASE(bad_types_and_ranges_are_named_by_field)
{
    const auto with = [](const std::string& fields) { return "jobs:\n  x: {" + fields + "}\n"; };
    const std::string valid = "name: X, script: x.py, cpu: 1, memory: 1, timeout: 60";
    for (const auto& [fields, expected] : std::vector<std::pair<std::string, std::string>>{
             {"name: X, script: x.py, cpu: four, memory: 1, timeout: 60", "jobs.x.cpu: expected a number above 0 and at most 256, got \"four\""},
             {"name: X, script: x.py, cpu: 0, memory: 1, timeout: 60", "jobs.x.cpu: expected a number above 0"},
             {"name: X, script: x.py, cpu: 1, memory: -2, timeout: 60", "jobs.x.memory: expected a number above 0 and at most 4096"},
             {"name: X, script: x.py, cpu: 1, memory: 1e3, timeout: 60", "jobs.x.memory: expected a number"},
             {"name: X, script: x.py, cpu: 1, memory: [1], timeout: 60", "jobs.x.memory: expected a number"},
             {"name: X, script: x.py, cpu: 1, memory: 1, timeout: soon", "jobs.x.timeout: expected a duration"},
             {"name: X, script: x.py, cpu: 1, memory: 1, timeout: 0", "jobs.x.timeout: must be whole seconds, from 1"},
             {"name: X, script: x.py, cpu: 1, memory: 1, timeout: 1500ms", "jobs.x.timeout: must be whole seconds"},
             {"name: X, script: /abs/x.py, cpu: 1, memory: 1, timeout: 60", "jobs.x.script: \"/abs/x.py\" must be relative to the project's root"},
             {"name: X, script: a/../../x.py, cpu: 1, memory: 1, timeout: 60", "jobs.x.script: \"a/../../x.py\" must stay inside the project"},
             {"name: X, script: \"\", cpu: 1, memory: 1, timeout: 60", "jobs.x.script: \"\" give the script's path"},
             {"name: \"\", script: x.py, cpu: 1, memory: 1, timeout: 60", "jobs.x.name: the job's name in CML: 1 to 200 characters"},
             {valid + ", parent_job_key: [a]", "jobs.x.parent_job_key: expected a string"},
             {valid + ", memroy: 1", "jobs.x.memroy: unknown key; did you mean 'memory'?"},
             {"name: X, cpu: 1, memory: 1, timeout: 60", "jobs.x.script: required key is missing"},
         }) {
        BOOST_TEST_CONTEXT(fields)
        {
            const auto message = jobs_error(with(fields));
            BOOST_TEST(contains(message, expected), message);
        }
    }
    BOOST_TEST(contains(jobs_error("jobs:\n  Git-Sync: {name: X, script: x.py, cpu: 1, memory: 1, timeout: 60}\n"),
                        "jobs.Git-Sync: \"Git-Sync\" is not a valid job key"));
    BOOST_TEST(contains(jobs_error("jobs:\n" + job("a") + "  b: {name: \"Job a\", script: b.py, cpu: 1, memory: 1, timeout: 60}\n"),
                        "jobs.b.name: \"Job a\" is also the name of job a"));
    BOOST_TEST(contains(jobs_error(""), "the file is empty; it needs a 'jobs' mapping"));
    BOOST_TEST(contains(jobs_error("jobs: {}\n"), "jobs: expected a non-empty mapping"));
    BOOST_TEST(contains(jobs_error("job:\n" + job("a")), "job: unknown key; did you mean 'jobs'?"));
    // Every problem of the file in one report.
    const auto all = jobs_error("jobs:\n  a: {name: A, script: /a.py, cpu: x, memory: 1, timeout: 60}\n"
                                "  b: {name: B, script: b.py, cpu: 1, memory: 0, timeout: 60}\n");
    BOOST_TEST(contains(all, "jobs.a.script"), all);
    BOOST_TEST(contains(all, "jobs.a.cpu"), all);
    BOOST_TEST(contains(all, "jobs.b.memory"), all);
}

BOOST_AUTO_TEST_CASE(cluster_config_values_are_checked_by_field)
{
    BOOST_TEST(load_ray_cluster_config(temp_dir{}.write_file("c.yaml", "ray_cluster:\n" + cluster_keys)).num_workers == 2u);
    const auto replaced = [](const std::string& key, const std::string& value) {
        std::string text = "ray_cluster:\n" + cluster_keys;
        const auto at = text.find("  " + key + ": ");
        const auto end = text.find('\n', at);
        return text.replace(at, end - at, "  " + key + ": " + value);
    };
    for (const auto& [text, expected] : std::vector<std::pair<std::string, std::string>>{
             {replaced("num_workers", "-1"), "ray_cluster.num_workers: expected a whole number between 0 and 256"},
             {replaced("num_workers", "1000"), "ray_cluster.num_workers: expected a whole number between 0 and 256, got 1000"},
             {replaced("worker_gpus", "1.5"), "ray_cluster.worker_gpus: expected a whole number between 0 and 16"},
             {replaced("head_cpu", "many"), "ray_cluster.head_cpu: expected a number above 0"},
             {replaced("worker_memory", "0"), "ray_cluster.worker_memory: expected a number above 0"},
             {replaced("worker_script", "../w.py"), "ray_cluster.worker_script: \"../w.py\" must stay inside the project"},
             {"ray_cluster:\n  num_workers: 1\n", "ray_cluster.head_cpu: required key is missing"},
             {"ray_cluster:\n" + cluster_keys + "  head_gpus: 1\n", "ray_cluster.head_gpus: unknown key"},
             {"cluster:\n" + cluster_keys, "cluster: unknown key"},
         }) {
        BOOST_TEST_CONTEXT(text)
        {
            const auto message = cluster_error(text);
            BOOST_TEST(contains(message, expected), message);
        }
    }
}

BOOST_AUTO_TEST_CASE(the_fingerprint_changes_exactly_when_the_job_in_cml_would)
{
    temp_dir dir;
    const auto load = [&](const std::string& text) { return load_jobs_config(dir.write_file("jobs.yaml", "jobs:\n" + text)); };
    const auto base = load(job("fetch") + job("build", "fetch"));
    const std::string runtime = "docker.repository.cloudera.com/cloudera/cdsw/ml-runtime-pbj-jupyterlab-python3.11-standard:2025.09.1-b5";
    const std::string fingerprint = base.fingerprint(*base.find("build"), runtime);
    // Stable across releases: a stored fingerprint must keep meaning the same definition. This is
    // the SHA-256 of {"name":"Job build","script":"s/build.py","cpu":"1","memory":"2",
    // "timeout_s":60,"parent":"Job fetch","runtime_identifier":RUNTIME}, computed outside raydeploy.
    BOOST_TEST(fingerprint == "094a99f0f06d52557ebe828810c76ecd92238c9d75b96579339836481f2b1fdc");
    BOOST_TEST(fingerprint.size() == 64u);
    BOOST_TEST(base.fingerprint(*base.find("build"), runtime) == fingerprint);

    // Renaming keys changes nothing in CML; a duration spelled otherwise is the same timeout.
    const auto renamed = load(job("first") + "  second: {name: \"Job build\", script: s/build.py, cpu: 1.0, memory: 2, "
                                             "timeout: 1m, parent_job_key: first}\n");
    BOOST_TEST(renamed.fingerprint(*renamed.find("second"), runtime) != fingerprint);  // the parent's name differs
    const auto same = load("  f: {name: \"Job fetch\", script: s/fetch.py, cpu: 1, memory: 2, timeout: 60}\n"
                           "  b: {name: \"Job build\", script: s/build.py, cpu: 1.0, memory: 2, timeout: 1m, parent_job_key: f}\n");
    BOOST_TEST(same.fingerprint(*same.find("b"), runtime) == fingerprint);

    // Every field that defines the job changes it.
    job_spec changed = *base.find("build");
    const auto differs = [&](const job_spec& other, std::string_view other_runtime) {
        return base.fingerprint(other, other_runtime) != fingerprint;
    };
    BOOST_TEST(differs(*base.find("build"), "another-runtime"));
    changed.name = "Job build 2";
    BOOST_TEST(differs(changed, runtime));
    changed = *base.find("build");
    changed.script = "s/other.py";
    BOOST_TEST(differs(changed, runtime));
    changed = *base.find("build");
    changed.cpu = 2;
    BOOST_TEST(differs(changed, runtime));
    changed = *base.find("build");
    changed.memory = 3;
    BOOST_TEST(differs(changed, runtime));
    changed = *base.find("build");
    changed.timeout = 61s;
    BOOST_TEST(differs(changed, runtime));
    changed = *base.find("build");
    changed.parent_key.reset();
    BOOST_TEST(differs(changed, runtime));
    changed = *base.find("build");
    changed.parent_key = "nowhere";
    BOOST_CHECK_THROW(base.fingerprint(changed, runtime), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
