// Kind -> runner: ansible-playbook for kind ansible, CML's API for cml-project, cml-jobs and
// cml-job-runs. cml-ray-cluster has no runner yet: its runs fail saying so.
#include "raydeploy/engine/builtin_runners.hpp"

#include "raydeploy/engine/cml_runners.hpp"

namespace raydeploy {

runner_registry builtin_runners(net::any_io_executor executor, const ansible_settings& ansible,
                                std::chrono::milliseconds kill_grace, const cml_settings& cml)
{
    runner_registry runners;
    runners.add(checkpoint_kind::ansible,
                [executor, settings = std::make_shared<const ansible_settings>(ansible), kill_grace] {
                    return std::make_unique<ansible_runner>(executor, settings, kill_grace);
                });
    cml::add_cml_runners(runners, executor, std::make_shared<const cml_settings>(cml));
    return runners;
}

}  // namespace raydeploy
