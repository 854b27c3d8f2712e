// Catalog loading: the shipped catalog, and every validation rule with its located message.
#include "raydeploy/catalog/catalog.hpp"
#include "raydeploy/util/errors.hpp"

#include "support/test_support.hpp"

#include <boost/test/unit_test.hpp>

using namespace std::chrono_literals;
using raydeploy::config_error;
using raydeploy::load_catalog;
using raydeploy::test::temp_dir;

namespace {

// A catalog directory with playbooks a.yml and b.yml, and CML configs jobs.yaml and cluster.yaml;
// `entries` is the text under "checkpoints:".
std::filesystem::path write_catalog(temp_dir& dir, const std::string& entries)
{
    dir.write_file("a.yml", "- hosts: all\n  tasks: []\n");
    dir.write_file("b.yml", "- hosts: all\n  tasks: []\n");
    dir.write_file("jobs.yaml", "jobs:\n  sync: {name: Sync, script: s.py, cpu: 1, memory: 1, timeout: 60}\n");
    dir.write_file("cluster.yaml", "ray_cluster: {num_workers: 1, head_cpu: 1, head_memory: 1, worker_cpu: 1, "
                                   "worker_memory: 1, worker_gpus: 0, head_script: h.py, worker_script: w.py}\n");
    return dir.write_file("catalog.yaml", "checkpoints:\n" + entries);
}

std::string error_for(const std::string& entries)
{
    temp_dir dir;
    const auto file = write_catalog(dir, entries);
    try {
        load_catalog(file);
    } catch (const config_error& e) {
        return e.what();
    }
    BOOST_FAIL("expected a config_error for:\n" + entries);
    return {};
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

const std::string valid_entry = "  - name: first\n"
                                "    playbook: a.yml\n"
                                "    description: First step\n"
                                "    timeout: 90\n";

}  // namespace

BOOST_AUTO_TEST_SUITE(catalog)

BOOST_AUTO_TEST_CASE(shipped_catalog_has_the_six_checkpoints_in_order)
{
    const auto catalog = load_catalog(std::filesystem::path{RAYDEPLOY_SOURCE_DIR} / "playbooks/checkpoints.yaml");
    const std::vector<std::string> expected = {"prerequisites-check", "docker-installation", "cleanup-existing",
                                               "ray-deployment", "monitoring-deployment", "final-validation"};
    BOOST_TEST_REQUIRE(catalog.checkpoints().size() == expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
        const auto& item = catalog.checkpoints()[i];
        BOOST_TEST_CONTEXT(expected[i])
        {
            BOOST_TEST(item.name == expected[i]);
            BOOST_TEST(item.order == static_cast<int>(i) + 1);
            BOOST_TEST(std::filesystem::is_regular_file(item.playbook));
            BOOST_TEST(!item.description.empty());
            BOOST_TEST(item.timeout.count() > 0);
            BOOST_TEST(item.approval_required == (item.name == "docker-installation" || item.name == "cleanup-existing"));
            BOOST_TEST(item.destructive == (item.name == "cleanup-existing"));
        }
    }
    BOOST_TEST(!catalog.find("cleanup-existing")->impact_summary.empty());
    BOOST_TEST(catalog.find("nope") == nullptr);
}

BOOST_AUTO_TEST_CASE(reads_every_field)
{
    temp_dir dir;
    const auto catalog = load_catalog(write_catalog(dir, valid_entry +
                                                             "  - name: wipe-2\n"
                                                             "    playbook: b.yml\n"
                                                             "    description: Wipes\n"
                                                             "    approval_required: true\n"
                                                             "    destructive: true\n"
                                                             "    impact_summary: [\"deletes x\", \"stops y\"]\n"
                                                             "    timeout: 1h30m\n"));
    BOOST_TEST_REQUIRE(catalog.checkpoints().size() == 2u);
    const auto& first = catalog.checkpoints()[0];
    BOOST_TEST(first.timeout == 90s);
    BOOST_TEST(first.approval_required == false);
    BOOST_TEST(first.impact_summary.empty());
    BOOST_TEST(first.playbook == dir.path() / "a.yml");
    const auto& second = catalog.checkpoints()[1];
    BOOST_TEST(second.order == 2);
    BOOST_TEST(second.destructive);
    BOOST_TEST(second.timeout == 90min);
    BOOST_TEST(second.impact_summary == (std::vector<std::string>{"deletes x", "stops y"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(names_must_be_valid_and_unique)
{
    BOOST_TEST(contains(error_for("  - {name: Bad_Name, playbook: a.yml, description: d, timeout: 1}\n"),
                        ":2:12: checkpoints[0].name: \"Bad_Name\" is not a valid name"));
    BOOST_TEST(contains(error_for("  - {name: -lead, playbook: a.yml, description: d, timeout: 1}\n"), "is not a valid name"));
    BOOST_TEST(contains(error_for(valid_entry + valid_entry), ":6:11: checkpoints[1].name: \"first\" is used by an earlier checkpoint"));
    BOOST_TEST(raydeploy::is_valid_checkpoint_name("ray-deployment"));
    BOOST_TEST(raydeploy::is_valid_checkpoint_name("0day"));
    BOOST_TEST(!raydeploy::is_valid_checkpoint_name(""));
    BOOST_TEST(!raydeploy::is_valid_checkpoint_name("a/b"));
    BOOST_TEST(!raydeploy::is_valid_checkpoint_name(std::string(65, 'a')));
}

BOOST_AUTO_TEST_CASE(playbooks_must_exist)
{
    const auto message = error_for("  - {name: x, playbook: missing.yml, description: d, timeout: 1}\n");
    BOOST_TEST(contains(message, ":2:25: checkpoints[0].playbook: playbook file '"));
    BOOST_TEST(contains(message, "missing.yml' does not exist"));
}

BOOST_AUTO_TEST_CASE(timeouts_must_parse)
{
    BOOST_TEST(contains(error_for("  - {name: x, playbook: a.yml, description: d, timeout: soon}\n"),
                        "checkpoints[0].timeout: expected a duration"));
    BOOST_TEST(contains(error_for("  - {name: x, playbook: a.yml, description: d, timeout: 0}\n"),
                        "checkpoints[0].timeout: must be at least one second"));
}

BOOST_AUTO_TEST_CASE(required_unknown_and_mistyped_keys)
{
    BOOST_TEST(contains(error_for("  - {name: x, playbook: a.yml, timeout: 1}\n"), "checkpoints[0].description: required key is missing"));
    BOOST_TEST(contains(error_for("  - {name: x, playbook: a.yml, description: d, timeout: 1, destructiv: true}\n"),
                        "checkpoints[0].destructiv: unknown key; did you mean 'destructive'?"));
    BOOST_TEST(contains(error_for("  - {name: x, playbook: a.yml, description: d, timeout: 1, approval_required: maybe}\n"),
                        "checkpoints[0].approval_required: expected true or false, got \"maybe\""));
    BOOST_TEST(contains(error_for("  - {name: x, playbook: a.yml, description: d, timeout: 1, impact_summary: text}\n"),
                        "checkpoints[0].impact_summary: expected a list of strings"));
}

BOOST_AUTO_TEST_CASE(destructive_checkpoints_require_approval)
{
    BOOST_TEST(contains(error_for("  - {name: wipe, playbook: a.yml, description: d, timeout: 1, destructive: true}\n"),
                        "\"wipe\" is destructive but has approval_required: false"));
}

BOOST_AUTO_TEST_CASE(empty_or_misshapen_catalogs)
{
    BOOST_TEST(contains(error_for(" []\n"), "checkpoints: expected a non-empty list"));
    temp_dir dir;
    for (const auto& [text, expected] : std::vector<std::pair<std::string, std::string>>{
             {"", "the catalog is empty"},
             {"steps: []\n", "unknown key"},
             {"- name: x\n", "expected a mapping"}}) {
        BOOST_TEST_CONTEXT(text)
        {
            try {
                load_catalog(dir.write_file("c.yaml", text));
                BOOST_FAIL("expected a config_error");
            } catch (const config_error& e) {
                BOOST_TEST(contains(e.what(), expected));
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(all_problems_in_one_report)
{
    const auto message = error_for("  - {name: BAD, playbook: nope.yml, description: d, timeout: x}\n");
    BOOST_TEST(contains(message, ".name:"));
    BOOST_TEST(contains(message, ".playbook:"));
    BOOST_TEST(contains(message, ".timeout:"));
}

BOOST_AUTO_TEST_CASE(shipped_catalog_declares_what_runs_may_set)
{
    const auto catalog = load_catalog(std::filesystem::path{RAYDEPLOY_SOURCE_DIR} / "playbooks/checkpoints.yaml");
    for (const auto& item : catalog.checkpoints()) {
        BOOST_TEST_CONTEXT(item.name)
        {
            // The deployment-wide {"ray_runtime": "native"} of docs/security.md reaches every step.
            const auto* runtime = item.find_var("ray_runtime");
            BOOST_TEST_REQUIRE(runtime != nullptr);
            BOOST_TEST(runtime->choices == (std::vector<boost::json::value>{boost::json::value("docker"), boost::json::value("native")}),
                       boost::test_tools::per_element());
            for (const auto& spec : item.vars) BOOST_TEST(!raydeploy::is_reserved_variable_name(spec.name), spec.name);
            BOOST_TEST(item.find_var("cleanup_protected_paths") == nullptr);
        }
    }
    const auto* password = catalog.find("monitoring-deployment")->find_var("monitoring_grafana_admin_password");
    BOOST_TEST_REQUIRE(password != nullptr);
    BOOST_TEST(password->secret);
    const auto* version = catalog.find("ray-deployment")->find_var("ray_version");
    BOOST_TEST_REQUIRE(version != nullptr);
    BOOST_TEST(raydeploy::full_match(*version->pattern, "2.60.0"));
    BOOST_TEST(!raydeploy::full_match(*version->pattern, "2.60.0 --index-url=http://evil"));
}

BOOST_AUTO_TEST_CASE(reads_variable_declarations)
{
    temp_dir dir;
    const auto catalog = load_catalog(write_catalog(dir, valid_entry +
                                                             "    vars:\n"
                                                             "      mode: {type: string, choices: [fast, \"no\"], description: How}\n"
                                                             "      version: {type: string, pattern: \"[0-9]+\", description: Which}\n"
                                                             "      listen_port: {type: integer, choices: [80, 443], description: Where}\n"
                                                             "      flag: {type: boolean, description: Whether}\n"
                                                             "      hosts_list: {type: list, description: Which hosts}\n"
                                                             "      table: {type: dict, description: Settings}\n"
                                                             "      password: {type: string, secret: true, description: Secret}\n"));
    const auto& vars = catalog.checkpoints()[0].vars;
    BOOST_TEST_REQUIRE(vars.size() == 7u);
    BOOST_TEST(vars[0].name == "mode");  // in catalog order
    BOOST_TEST(raydeploy::to_string(vars[0].type) == "string");
    BOOST_TEST(vars[0].choices == (std::vector<boost::json::value>{boost::json::value("fast"), boost::json::value("no")}),
               boost::test_tools::per_element());
    BOOST_TEST(vars[1].pattern.value_or("") == "[0-9]+");
    BOOST_TEST(vars[2].choices == (std::vector<boost::json::value>{boost::json::value(80), boost::json::value(443)}),
               boost::test_tools::per_element());
    BOOST_TEST(raydeploy::to_string(vars[3].type) == "boolean");
    BOOST_TEST(raydeploy::to_string(vars[4].type) == "list");
    BOOST_TEST(raydeploy::to_string(vars[5].type) == "dict");
    BOOST_TEST(vars[6].secret);
    BOOST_TEST(!vars[0].secret);
    BOOST_TEST(catalog.checkpoints()[0].find_var("nope") == nullptr);
}

BOOST_AUTO_TEST_CASE(bad_variable_declarations_are_located)
{
    const auto with_vars = [](const std::string& vars) { return valid_entry + "    vars:\n" + vars; };
    BOOST_TEST(contains(error_for(with_vars("      x: {type: string, description: d, default: 1}\n")),
                        ":7:41: checkpoints[0].vars.x.default: unknown key"));
    BOOST_TEST(contains(error_for(with_vars("      x: {type: float, description: d}\n")),
                        ":7:17: checkpoints[0].vars.x.type: unknown type \"float\""));
    BOOST_TEST(contains(error_for(with_vars("      x: {type: string}\n")), "checkpoints[0].vars.x.description: required key is missing"));
    BOOST_TEST(contains(error_for(with_vars("      x: {type: string, pattern: \"([a-z\", description: d}\n")),
                        ":7:34: checkpoints[0].vars.x.pattern: not a valid regular expression"));
    BOOST_TEST(contains(error_for(with_vars("      x: {type: integer, pattern: \"[0-9]+\", description: d}\n")),
                        "checkpoints[0].vars.x.pattern: a pattern applies to string variables only"));
    BOOST_TEST(contains(error_for(with_vars("      x: {type: integer, choices: [1, two], description: d}\n")),
                        "checkpoints[0].vars.x.choices[1]: expected a whole number"));
    BOOST_TEST(contains(error_for(with_vars("      x: {type: string, choices: [ab, \"1\"], pattern: \"[a-z]+\", description: d}\n")),
                        "checkpoints[0].vars.x.choices[1]: does not match the variable's own pattern"));
    BOOST_TEST(contains(error_for(with_vars("      x: {type: list, choices: [[1]], description: d}\n")),
                        "checkpoints[0].vars.x.choices: choices apply to string, integer and boolean variables only"));
    BOOST_TEST(contains(error_for(with_vars("      x: {type: string, secret: sure, description: d}\n")),
                        "checkpoints[0].vars.x.secret: expected true or false"));
    BOOST_TEST(contains(error_for(with_vars("      1x: {type: string, description: d}\n")), "checkpoints[0].vars.1x: variable names are"));
    BOOST_TEST(contains(error_for(valid_entry + "    vars: [a]\n"), "checkpoints[0].vars: expected a mapping"));
}

BOOST_AUTO_TEST_CASE(reserved_and_internal_names_cannot_be_declared)
{
    const auto with_var = [](const std::string& name) {
        return valid_entry + "    vars:\n      " + name + ": {type: string, description: d}\n";
    };
    for (const std::string name : {"ansible_python_interpreter", "ansible_connection", "ansible_ssh_common_args",
                                   "ansible_become", "raydeploy_run_dir", "hostvars", "playbook_dir", "omit"})
        BOOST_TEST_CONTEXT(name) { BOOST_TEST(contains(error_for(with_var(name)), ":7:7: checkpoints[0].vars." + name + ": cannot be declared")); }

    // What a role's vars/ file beside the playbook defines is internal: cleanup_protected_paths of
    // the shipped catalog, here a role of the test catalog's own.
    temp_dir dir;
    dir.write_file("roles/cleanup/vars/main.yml", "cleanup_protected_paths: [/, /etc]\n");
    const auto file = write_catalog(dir, with_var("cleanup_protected_paths"));
    try {
        load_catalog(file);
        BOOST_FAIL("cleanup_protected_paths was declared");
    } catch (const config_error& e) {
        BOOST_TEST(contains(e.what(), ":7:7: checkpoints[0].vars.cleanup_protected_paths: cannot be declared: it is internal"), e.what());
        BOOST_TEST(contains(e.what(), "roles/cleanup/vars/main.yml"), e.what());
    }
    BOOST_TEST(raydeploy::is_reserved_variable_name("ansible_become_password"));
    BOOST_TEST(!raydeploy::is_reserved_variable_name("ray_runtime"));
}

BOOST_AUTO_TEST_CASE(kind_defaults_to_ansible_and_names_every_builtin_kind)
{
    temp_dir dir;
    const auto catalog = load_catalog(write_catalog(dir, valid_entry +
                                                             "  - {name: played, kind: ansible, playbook: b.yml, description: d, timeout: 1}\n"
                                                             "  - {name: project, kind: cml-project, description: d, timeout: 1}\n"
                                                             "  - {name: jobs, kind: cml-jobs, jobs_config: jobs.yaml, description: d, timeout: 1}\n"
                                                             "  - {name: runs, kind: cml-job-runs, jobs_config: jobs.yaml, description: d, timeout: 1}\n"
                                                             "  - {name: ray, kind: cml-ray-cluster, cluster_config: cluster.yaml, description: d, timeout: 1,\n"
                                                             "     approval_required: true, destructive: true,\n"
                                                             "     vars: {num_workers: {type: integer, description: How many}}}\n"));
    using raydeploy::checkpoint_kind;
    const std::vector<checkpoint_kind> expected = {checkpoint_kind::ansible,     checkpoint_kind::ansible,
                                                   checkpoint_kind::cml_project, checkpoint_kind::cml_jobs,
                                                   checkpoint_kind::cml_job_runs, checkpoint_kind::cml_ray_cluster};
    BOOST_TEST_REQUIRE(catalog.checkpoints().size() == expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
        const auto& item = catalog.checkpoints()[i];
        BOOST_TEST_CONTEXT(item.name)
        {
            BOOST_TEST((item.kind == expected[i]));
            BOOST_TEST((raydeploy::parse_checkpoint_kind(raydeploy::to_string(item.kind)) == item.kind));
            // Only kind ansible has a playbook.
            BOOST_TEST(item.playbook.empty() == (item.kind != checkpoint_kind::ansible));
        }
    }
    BOOST_TEST(catalog.checkpoints()[1].playbook == dir.path() / "b.yml");
    BOOST_TEST(raydeploy::to_string(checkpoint_kind::cml_job_runs) == "cml-job-runs");
    BOOST_TEST(catalog.find("ray")->find_var("num_workers") != nullptr);
    BOOST_TEST(!raydeploy::parse_checkpoint_kind("CML-JOBS"));

    // The shipped catalog runs playbooks only.
    const auto shipped = load_catalog(std::filesystem::path{RAYDEPLOY_SOURCE_DIR} / "playbooks/checkpoints.yaml");
    for (const auto& item : shipped.checkpoints()) BOOST_TEST((item.kind == checkpoint_kind::ansible), item.name);
}

BOOST_AUTO_TEST_CASE(unknown_kinds_are_refused_naming_the_entry_and_the_kinds)
{
    const auto message = error_for(valid_entry + "  - {name: deploy, kind: shell, description: d, timeout: 1}\n");
    BOOST_TEST(contains(message, ":6:26: checkpoints[1].kind: checkpoint \"deploy\": \"shell\" is not a kind of checkpoint; "
                                 "the kinds are ansible, cml-project, cml-jobs, cml-job-runs, cml-ray-cluster"),
               message);
    // An unknown kind is the one problem of its entry: nothing about a playbook it may or may not need.
    BOOST_TEST(!contains(message, "checkpoints[1].playbook"), message);
    BOOST_TEST(contains(error_for("  - {name: x, kind: [cml-jobs], description: d, timeout: 1}\n"), "checkpoints[0].kind: expected"));
    BOOST_TEST(raydeploy::checkpoint_kind_list() == "ansible, cml-project, cml-jobs, cml-job-runs, cml-ray-cluster");
}

BOOST_AUTO_TEST_CASE(playbook_is_required_for_kind_ansible_only)
{
    BOOST_TEST(contains(error_for("  - {name: x, description: d, timeout: 1}\n"), "checkpoints[0].playbook: required key is missing"));
    BOOST_TEST(contains(error_for("  - {name: x, kind: ansible, description: d, timeout: 1}\n"),
                        "checkpoints[0].playbook: required key is missing"));
    const auto message = error_for("  - {name: jobs, kind: cml-jobs, playbook: a.yml, description: d, timeout: 1}\n");
    BOOST_TEST(contains(message, ":2:44: checkpoints[0].playbook: checkpoint \"jobs\" is of kind cml-jobs, which runs no "
                                 "playbook; remove `playbook`"),
               message);
    // The rules every kind shares still apply to the CML kinds.
    BOOST_TEST(contains(error_for("  - {name: wipe, kind: cml-ray-cluster, cluster_config: cluster.yaml, description: d, timeout: 1, destructive: true}\n"),
                        "\"wipe\" is destructive but has approval_required: false"));
    BOOST_TEST(contains(error_for("  - {name: jobs, kind: cml-jobs, jobs_config: jobs.yaml, description: d}\n"),
                        "checkpoints[0].timeout: required key is missing"));
}

BOOST_AUTO_TEST_CASE(shipped_cml_catalog_has_the_five_steps_with_their_configs)
{
    using raydeploy::checkpoint_kind;
    using raydeploy::ray_cluster_action;
    const auto catalog = load_catalog(std::filesystem::path{RAYDEPLOY_SOURCE_DIR} / "cml/checkpoints.yaml");
    struct expected_step {
        std::string name;
        checkpoint_kind kind;
        bool approval_required, destructive, in_deployment;
    };
    const std::vector<expected_step> expected = {
        {"setup-project", checkpoint_kind::cml_project, false, false, true},
        {"create-jobs", checkpoint_kind::cml_jobs, false, false, true},
        {"run-jobs", checkpoint_kind::cml_job_runs, false, false, true},
        {"launch-ray-cluster", checkpoint_kind::cml_ray_cluster, true, false, true},
        {"teardown-ray-cluster", checkpoint_kind::cml_ray_cluster, true, true, false},
    };
    BOOST_TEST_REQUIRE(catalog.checkpoints().size() == expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
        const auto& item = catalog.checkpoints()[i];
        BOOST_TEST_CONTEXT(expected[i].name)
        {
            BOOST_TEST(item.name == expected[i].name);
            BOOST_TEST((item.kind == expected[i].kind));
            BOOST_TEST(item.approval_required == expected[i].approval_required);
            BOOST_TEST(item.destructive == expected[i].destructive);
            BOOST_TEST(item.in_deployment == expected[i].in_deployment);
            BOOST_TEST(item.playbook.empty());
            BOOST_TEST(!item.impact_summary.empty());
        }
    }
    // create-jobs and run-jobs read the same file, once.
    const auto& create = *catalog.find("create-jobs");
    BOOST_TEST_REQUIRE(create.jobs != nullptr);
    BOOST_TEST(create.jobs == catalog.find("run-jobs")->jobs);
    BOOST_TEST(create.jobs->source == std::filesystem::path{RAYDEPLOY_SOURCE_DIR} / "cml/jobs_config.yaml");
    BOOST_TEST(create.jobs->jobs.size() == 2u);
    BOOST_TEST(catalog.find("setup-project")->jobs == nullptr);
    const auto& launch = *catalog.find("launch-ray-cluster");
    BOOST_TEST((launch.action == ray_cluster_action::launch));
    BOOST_TEST_REQUIRE(launch.cluster != nullptr);
    BOOST_TEST(launch.cluster->num_workers == 1u);
    const auto& teardown = *catalog.find("teardown-ray-cluster");
    BOOST_TEST((teardown.action == ray_cluster_action::teardown));
    BOOST_TEST(teardown.cluster == nullptr);
    BOOST_TEST(raydeploy::to_string(teardown.action) == "teardown");
    // force_rebuild is a declared variable of run-jobs, so runs and deployments can set it.
    const auto* force = catalog.find("run-jobs")->find_var("force_rebuild");
    BOOST_TEST_REQUIRE(force != nullptr);
    BOOST_TEST(raydeploy::to_string(force->type) == "boolean");
}

BOOST_AUTO_TEST_CASE(in_deployment_defaults_to_true_for_every_kind)
{
    temp_dir dir;
    const auto catalog = load_catalog(write_catalog(dir, valid_entry +
                                                             "  - {name: alone, playbook: b.yml, description: d, timeout: 1, in_deployment: false}\n"
                                                             "  - {name: project, kind: cml-project, description: d, timeout: 1, in_deployment: false}\n"));
    BOOST_TEST(catalog.find("first")->in_deployment);
    BOOST_TEST(!catalog.find("alone")->in_deployment);
    BOOST_TEST(!catalog.find("project")->in_deployment);
    BOOST_TEST(contains(error_for(valid_entry + "    in_deployment: sometimes\n"),
                        ":6:20: checkpoints[0].in_deployment: expected true or false, got \"sometimes\""));
}

BOOST_AUTO_TEST_CASE(config_files_are_required_where_read_and_refused_elsewhere)
{
    BOOST_TEST(contains(error_for("  - {name: jobs, kind: cml-jobs, description: d, timeout: 1}\n"),
                        "checkpoints[0].jobs_config: required key is missing"));
    BOOST_TEST(contains(error_for("  - {name: runs, kind: cml-job-runs, description: d, timeout: 1}\n"),
                        "checkpoints[0].jobs_config: required key is missing"));
    BOOST_TEST(contains(error_for("  - {name: ray, kind: cml-ray-cluster, description: d, timeout: 1}\n"),
                        "checkpoints[0].cluster_config: required key is missing"));
    BOOST_TEST(contains(error_for("  - {name: p, kind: cml-project, jobs_config: jobs.yaml, description: d, timeout: 1}\n"),
                        "checkpoints[0].jobs_config: checkpoint \"p\" is of kind cml-project, which reads no jobs_config"));
    BOOST_TEST(contains(error_for("  - {name: x, playbook: a.yml, cluster_config: cluster.yaml, description: d, timeout: 1}\n"),
                        "checkpoints[0].cluster_config: checkpoint \"x\" is of kind ansible, which reads no cluster_config"));
    BOOST_TEST(contains(error_for("  - {name: j, kind: cml-jobs, jobs_config: jobs.yaml, action: launch, description: d, timeout: 1}\n"),
                        "checkpoints[0].action: checkpoint \"j\" is of kind cml-jobs; only kind cml-ray-cluster has an action"));
    BOOST_TEST(contains(error_for("  - {name: r, kind: cml-ray-cluster, action: start, cluster_config: cluster.yaml, description: d, timeout: 1}\n"),
                        "checkpoints[0].action: \"start\" is not an action; expected launch or teardown"));
    BOOST_TEST(contains(error_for("  - {name: j, kind: cml-jobs, jobs_config: nope.yaml, description: d, timeout: 1}\n"),
                        "nope.yaml' does not exist; paths are relative to the catalog file"));
}

BOOST_AUTO_TEST_CASE(config_paths_cannot_leave_the_catalogs_directory)
{
    temp_dir outside;
    const auto elsewhere = outside.write_file("jobs.yaml", "jobs:\n  a: {name: A, script: a.py, cpu: 1, memory: 1, timeout: 60}\n");
    for (const std::string& path : {std::string{"../jobs.yaml"}, std::string{"sub/../../jobs.yaml"}, elsewhere.string()}) {
        BOOST_TEST_CONTEXT(path)
        {
            const auto message = error_for("  - {name: j, kind: cml-jobs, jobs_config: \"" + path + "\", description: d, timeout: 1}\n");
            BOOST_TEST(contains(message, "checkpoints[0].jobs_config: "), message);
            BOOST_TEST((contains(message, "leaves the catalog's directory") || contains(message, "relative to the catalog's directory")), message);
        }
    }
    // A symbolic link counts where it leads.
    temp_dir dir;
    std::filesystem::create_symlink(elsewhere, dir.path() / "linked.yaml");
    try {
        load_catalog(write_catalog(dir, "  - {name: j, kind: cml-jobs, jobs_config: linked.yaml, description: d, timeout: 1}\n"));
        BOOST_FAIL("a link out of the catalog's directory was followed");
    } catch (const config_error& e) {
        BOOST_TEST(contains(e.what(), "'linked.yaml' leaves the catalog's directory"), e.what());
    }
    // Below the catalog's directory is fine.
    temp_dir nested;
    nested.write_file("cml/jobs.yaml", "jobs:\n  a: {name: A, script: a.py, cpu: 1, memory: 1, timeout: 60}\n");
    const auto catalog = load_catalog(write_catalog(nested, "  - {name: j, kind: cml-jobs, jobs_config: ./cml/jobs.yaml, description: d, timeout: 1}\n"));
    BOOST_TEST(catalog.checkpoints()[0].jobs->source == nested.path() / "cml/jobs.yaml");
}

BOOST_AUTO_TEST_CASE(problems_of_a_config_file_name_the_catalog_key_and_the_file_once)
{
    temp_dir dir;
    const auto jobs = dir.write_file("bad-jobs.yaml", "jobs:\n"
                                                      "  sync: {name: Sync, script: s.py, cpu: 1, memory: 1, timeout: 60}\n"
                                                      "  setup: {name: Setup, script: e.py, cpu: 1, memory: 1, timeout: 60, parent_job_key: snyc}\n");
    try {
        load_catalog(write_catalog(dir, "  - {name: create, kind: cml-jobs, jobs_config: bad-jobs.yaml, description: d, timeout: 1}\n"
                                        "  - {name: run, kind: cml-job-runs, jobs_config: bad-jobs.yaml, description: d, timeout: 1}\n"));
        BOOST_FAIL("the missing parent was not refused");
    } catch (const config_error& e) {
        const std::string message = e.what();
        BOOST_TEST(contains(message, "catalog.yaml:2:49: checkpoints[0].jobs_config: " + jobs.string() + " has problems; fix them:\n" +
                                         jobs.string() + ":3:86: jobs.setup.parent_job_key"),
                   message);
        BOOST_TEST(contains(message, "jobs.setup.parent_job_key: \"snyc\" is not a job of this file; did you mean 'sync'?"), message);
        BOOST_TEST(contains(message, "checkpoints[1].jobs_config: " + jobs.string() + " has the problems listed above"), message);
        BOOST_TEST(message.find("parent_job_key: \"snyc\"") == message.rfind("parent_job_key: \"snyc\""), message);
    }
    const auto cluster_message = error_for("  - {name: ray, kind: cml-ray-cluster, cluster_config: jobs.yaml, description: d, timeout: 1}\n");
    BOOST_TEST(contains(cluster_message, "checkpoints[0].cluster_config: "), cluster_message);
    BOOST_TEST(contains(cluster_message, "jobs.yaml:1:1: jobs: unknown key"), cluster_message);
}

BOOST_AUTO_TEST_CASE(a_teardown_is_destructive_runs_on_its_own_and_reads_no_cluster_config)
{
    const std::string teardown = "  - {name: down, kind: cml-ray-cluster, action: teardown, description: d, timeout: 1";
    temp_dir dir;
    const auto catalog = load_catalog(write_catalog(dir, teardown + ", approval_required: true, destructive: true, in_deployment: false}\n"));
    BOOST_TEST((catalog.checkpoints()[0].action == raydeploy::ray_cluster_action::teardown));
    BOOST_TEST(contains(error_for(teardown + ", approval_required: true, in_deployment: false}\n"),
                        "checkpoints[0]: checkpoint \"down\" tears the Ray cluster down (action: teardown): set destructive: true"));
    BOOST_TEST(contains(error_for(teardown + ", approval_required: true, destructive: true}\n"),
                        "checkpoint \"down\" tears the Ray cluster down (action: teardown): set in_deployment: false"));
    BOOST_TEST(contains(error_for(teardown + ", approval_required: true, destructive: true, in_deployment: false, cluster_config: cluster.yaml}\n"),
                        "checkpoints[0].cluster_config: checkpoint \"down\" tears the cluster down"));
}

BOOST_AUTO_TEST_SUITE_END()
