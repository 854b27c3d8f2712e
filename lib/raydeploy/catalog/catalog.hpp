// The checkpoint catalog: which checkpoints exist, in which order, what each runs (its kind: a
// playbook, or a built-in Cloudera ML step) and what approval policy guards it. Loaded from YAML
// and validated in full before use.
#pragma once

#include "raydeploy/cml/cml_config.hpp"

#include <boost/json/value.hpp>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace raydeploy {

// The JSON types a declared variable's value may have.
enum class variable_type { string, integer, boolean, list, dict };
std::string_view to_string(variable_type type);

// One variable a run of the checkpoint may set in its extra_vars (the `vars:` of a catalog entry).
struct variable_spec {
    std::string name;
    variable_type type = variable_type::string;
    std::string description;
    std::vector<boost::json::value> choices;  // empty: any value of the type
    // Strings only: the whole value must match this ECMAScript regular expression.
    std::optional<std::string> pattern;
    // Its value is shown as "***" to everyone (passwords, tokens).
    bool secret = false;
};

// What runs a checkpoint: ansible-playbook with the entry's `playbook`, or one of the steps built
// into raydeploy that drive Cloudera Machine Learning (CML) through its REST API. The engine maps
// each kind to its runner (engine/builtin_runners.cpp).
enum class checkpoint_kind { ansible, cml_project, cml_jobs, cml_job_runs, cml_ray_cluster };
// The catalog's and the API's spelling: "ansible", "cml-project", "cml-jobs", "cml-job-runs",
// "cml-ray-cluster".
std::string_view to_string(checkpoint_kind kind);
std::optional<checkpoint_kind> parse_checkpoint_kind(std::string_view text);
// Every kind's name in declaration order, joined by ", " (for messages that list them).
std::string checkpoint_kind_list();

// What a checkpoint of kind cml-ray-cluster does (its `action`): launch (the default) starts the
// Ray head and workers of its cluster_config; teardown stops and deletes what launch started.
enum class ray_cluster_action { launch, teardown };
std::string_view to_string(ray_cluster_action action);

struct checkpoint {
    std::string name;
    int order = 0;  // 1-based position in the catalog
    checkpoint_kind kind = checkpoint_kind::ansible;
    // Absolute, resolved from the catalog file's directory; empty for every kind but ansible.
    std::filesystem::path playbook;
    std::string description;
    bool approval_required = false;
    bool destructive = false;
    std::vector<std::string> impact_summary;
    std::chrono::seconds timeout{0};
    std::vector<variable_spec> vars;  // in catalog order; empty: a run sets no variables
    // false: deployments leave it out, and naming it in one is refused; it runs on its own only
    // (`raydeploy run NAME`), as a teardown does.
    bool in_deployment = true;
    // Kinds cml-jobs and cml-job-runs: the jobs of the entry's `jobs_config`, read and checked with
    // the catalog (entries naming the same file share it). nullptr for the other kinds.
    std::shared_ptr<const cml::jobs_config> jobs;
    // Kind cml-ray-cluster only.
    ray_cluster_action action = ray_cluster_action::launch;
    // Kind cml-ray-cluster with action launch: the entry's `cluster_config`. nullptr otherwise.
    std::shared_ptr<const cml::ray_cluster_config> cluster;

    // nullptr when the checkpoint does not declare `name`.
    const variable_spec* find_var(std::string_view name) const;
};

class checkpoint_catalog {
public:
    checkpoint_catalog(std::filesystem::path source, std::vector<checkpoint> checkpoints);

    const std::filesystem::path& source() const { return source_; }
    const std::vector<checkpoint>& checkpoints() const { return checkpoints_; }
    // nullptr when no checkpoint has that name.
    const checkpoint* find(std::string_view name) const;

private:
    std::filesystem::path source_;
    std::vector<checkpoint> checkpoints_;
};

// True for names matching ^[a-z0-9][a-z0-9-]*$ (and at most 64 characters).
bool is_valid_checkpoint_name(std::string_view name);

// Names no catalog may declare, whatever the playbooks say: Ansible's own settings (ansible_*,
// which include the connection, become and interpreter), the service's (raydeploy_*), and
// Ansible's magic variables (hostvars, groups, playbook_dir, omit...).
bool is_reserved_variable_name(std::string_view name);

// Whether `value` matches `pattern` as a whole (ECMAScript syntax, '.' not matching a newline).
// Throws std::runtime_error when the pattern is invalid or too costly to match against the value.
bool full_match(const std::string& pattern, const std::string& value);

// Reads and validates a catalog file. Throws config_error listing every problem with its
// FILE:LINE:COLUMN: unknown or missing keys, wrong types, bad or duplicate names, unknown kinds, a
// missing playbook (kind ansible) or one given to another kind, playbooks that do not exist,
// unparsable timeouts, a destructive checkpoint that does not require approval, a missing or
// misplaced jobs_config, cluster_config or action, a config path that leaves the catalog's
// directory, every problem of the config files it names (each located in its own file; see
// cml/cml_config.hpp), a teardown that is not destructive or is in deployments,
// `vars` with unknown keys, bad types, choices or patterns, and declared names that are reserved
// or internal (defined in a `vars/` file of a role beside the playbook: those are derived values
// and safety lists, such as cleanup_protected_paths, that extra vars would override).
checkpoint_catalog load_catalog(const std::filesystem::path& file);

}  // namespace raydeploy
