// The one place that says which runner runs each kind of checkpoint. Adding a kind is adding its
// runner here; a kind without one fails its runs saying so (no_runner_reason in runner.hpp).
#pragma once

#include "raydeploy/config/settings.hpp"
#include "raydeploy/engine/ansible_runner.hpp"
#include "raydeploy/engine/cml_runners.hpp"
#include "raydeploy/engine/runner.hpp"

#include <chrono>

namespace raydeploy {

// `kill_grace`: how long a stopped run's processes get between SIGTERM and SIGKILL. `cml`: the
// workspace the CML kinds drive (their runs fail saying what to set while it is not configured),
// and where they say whether it answered (none: nobody asks). `cml_cluster`: where cml-ray-cluster
// records the cluster it launched (none: its runs fail saying so).
runner_registry builtin_runners(net::any_io_executor executor, const ansible_settings& ansible,
                                std::chrono::milliseconds kill_grace, const cml_settings& cml,
                                std::shared_ptr<cml::cml_availability> cml_status = nullptr,
                                std::shared_ptr<cml::ray_cluster_context> cml_cluster = nullptr);

}  // namespace raydeploy
