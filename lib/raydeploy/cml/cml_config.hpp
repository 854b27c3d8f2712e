// The configuration files of the CML checkpoints, read and checked when the catalog loads:
// jobs_config.yaml (the CML jobs raydeploy creates and runs, chained by parent_job_key) and
// ray_cluster_config.yaml (the Ray head and workers raydeploy launches as CML applications).
// Both keep the keys of the seed's files, so a file written for the seed reads here unchanged.
//
// Sans-I/O apart from reading the file: the runners get these values from the loaded catalog.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace raydeploy::cml {

// One job of jobs_config.yaml: what raydeploy creates in CML, and keeps equal to this, by name.
struct job_spec {
    std::string key;     // its key in the file ("git_sync"): how parent_job_key and events name it
    std::string name;    // its name in CML, unique in the file: how raydeploy finds the job again
    std::string script;  // relative to the project's root, as CML takes it
    double cpu = 0;      // vCPU
    double memory = 0;   // GB
    std::chrono::seconds timeout{0};  // CML ends a run that takes longer
    std::optional<std::string> parent_key;  // the job CML runs this one after; none for the first
};

struct jobs_config {
    std::filesystem::path source;  // absolute
    // In chain order: every job after its parent; jobs whose order the chain leaves open keep the
    // file's order. Never empty.
    std::vector<job_spec> jobs;

    // nullptr when no job has that key.
    const job_spec* find(std::string_view key) const;

    // The job definition fingerprint: a SHA-256 (64 hex digits) of what defines `job` in CML, that
    // is everything raydeploy sends when it creates the job: its name, script, cpu, memory,
    // timeout, the name of its parent job, and the ML Runtime (`runtime_identifier`, a setting).
    // Two definitions have the same fingerprint exactly when CML would get the same job, so a run
    // that succeeded under another fingerprint ran something else. The key is left out: renaming
    // a key changes nothing in CML. What a script does is not in it either: a change of the
    // script's content alone needs force_rebuild.
    std::string fingerprint(const job_spec& job, std::string_view runtime_identifier) const;
};

// Reads and checks a jobs_config.yaml. Throws config_error listing every problem as
// FILE:LINE:COLUMN: KEY: message: unknown or missing keys, wrong types, values out of range, a
// script that is absolute or climbs out of the project ("..") , two jobs with one CML name, a
// parent_job_key naming no job of the file (with the closest key), and a parent chain that loops
// (naming the keys of the loop).
jobs_config load_jobs_config(const std::filesystem::path& file);

// ray_cluster_config.yaml: the seed's `ray_cluster:` keys, and the scripts the head's and the
// workers' CML applications run.
struct ray_cluster_config {
    std::filesystem::path source;  // absolute
    unsigned num_workers = 0;
    double head_cpu = 0;     // vCPU
    double head_memory = 0;  // GB
    double worker_cpu = 0;
    double worker_memory = 0;
    unsigned worker_gpus = 0;  // NVIDIA GPUs of each worker
    // Relative to the project's root. The workers find the head through a file the head writes in
    // the project (cml/ray_cluster.hpp).
    std::string head_script;
    std::string worker_script;
};

// Reads and checks a ray_cluster_config.yaml; throws config_error as load_jobs_config does.
ray_cluster_config load_ray_cluster_config(const std::filesystem::path& file);

}  // namespace raydeploy::cml
