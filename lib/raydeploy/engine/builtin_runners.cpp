// Kind -> runner. The CML kinds (cml-project, cml-jobs, cml-job-runs, cml-ray-cluster) are
// accepted by the catalog but have no runner yet: their runs fail saying so.
#include "raydeploy/engine/builtin_runners.hpp"

namespace raydeploy {

runner_registry builtin_runners(net::any_io_executor executor, const ansible_settings& ansible,
                                std::chrono::milliseconds kill_grace)
{
    runner_registry runners;
    runners.add(checkpoint_kind::ansible,
                [executor, settings = std::make_shared<const ansible_settings>(ansible), kill_grace] {
                    return std::make_unique<ansible_runner>(executor, settings, kill_grace);
                });
    return runners;
}

}  // namespace raydeploy
