// The runners of the CML checkpoint kinds (runner.hpp): each drives CML's API v2 through
// cml_client instead of running a process. What each kind does:
//
//   cml-project   finds the project cml.project_name by exact name, creates it from cml.git_url
//                 when missing, and waits until CML says its creation_status is `success`.
//   cml-jobs      creates or updates (PATCH) every job of the checkpoint's jobs_config by name,
//                 parents before children, and touches no other job; a second run changes nothing.
//   cml-job-runs  runs the jobs in chain order and follows each run to its end, with an event per
//                 status change and a heartbeat per poll. A job whose latest run succeeded with the
//                 same job definition (its fingerprint travels in the run's environment) is skipped
//                 unless the run sets the variable force_rebuild; a job with a run in progress is
//                 followed, not started again. A run that did not succeed fails the step naming the
//                 job and CML's status.
//   cml-ray-cluster launch: starts the Ray head and workers of the checkpoint's cluster_config as
//                 CML applications (keeping those that run with the same spec, restarting only
//                 what changed), waits until they are RUNNING and, with cml.wait_for_ray, until Ray
//                 sees every node ALIVE; records the cluster so the Ray monitor watches it.
//                 teardown: stops and deletes the applications launch started (found by their
//                 tags, cml/ray_cluster.hpp), and nothing else; forgets the cluster.
//
// CML goes on with its work when raydeploy stops, so these runners survive restarts: at shutdown
// they detach, and after a restart (or a kill -9) the engine runs them again with resumed() set.
// cml-project and cml-jobs simply run again (they are idempotent); cml-job-runs finds the run it
// followed through its attachment and the runs this execution started through their environment
// (RAYDEPLOY_EXECUTION_ID), so no job runs twice. Cancel and timeout stop the CML run in progress.
//
// @par Thread safety
// As every runner: used from the io_context's thread.
#pragma once

#include "raydeploy/cml/ray_cluster.hpp"
#include "raydeploy/config/settings.hpp"
#include "raydeploy/engine/runner.hpp"

#include <memory>
#include <optional>
#include <string>

namespace raydeploy::watch {
class ray_monitor;
}

namespace raydeploy::cml {

// Whether the CML workspace answered the last call a runner made, for GET /health's
// `cai_available`: unknown until a CML step ran; false, with the reason, after a refused key (401,
// 403) or no usable answer; true after any answer CML gave as itself.
class cml_availability {
public:
    void answered() { available_ = true, reason_.clear(); }
    void unavailable(std::string reason) { available_ = false, reason_ = std::move(reason); }
    const std::optional<bool>& available() const { return available_; }
    const std::string& reason() const { return reason_; }

private:
    std::optional<bool> available_;
    std::string reason_;
};

// The environment variables every job run raydeploy starts carries, so a later look at CML can tell
// which execution started a run and which job definition it ran.
inline constexpr std::string_view execution_id_variable = "RAYDEPLOY_EXECUTION_ID";
inline constexpr std::string_view fingerprint_variable = "RAYDEPLOY_JOB_FINGERPRINT";

// What cml-ray-cluster needs of the rest of the service: where the launched cluster is recorded,
// and the Ray monitor that sees its nodes (set once the service built it; until then, and when it
// is gone, a launch that waits for Ray fails saying so).
struct ray_cluster_context {
    std::shared_ptr<ray_cluster_registry> registry;
    std::weak_ptr<watch::ray_monitor> monitor;
};

// The runners of the CML kinds, each talking to the CML `settings` describe. Without CML
// configured (cml.host) their runs fail saying which settings to set; without `cluster`,
// cml-ray-cluster's do.
void add_cml_runners(runner_registry& runners, net::any_io_executor executor,
                     std::shared_ptr<const cml_settings> settings, std::shared_ptr<cml_availability> availability,
                     std::shared_ptr<ray_cluster_context> cluster);

}  // namespace raydeploy::cml
