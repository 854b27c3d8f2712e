// Kind -> runner: ansible-playbook for kind ansible, CML's API for the CML kinds.
#include "raydeploy/engine/builtin_runners.hpp"

namespace raydeploy {

runner_registry builtin_runners(net::any_io_executor executor, const ansible_settings& ansible,
                                std::chrono::milliseconds kill_grace, const cml_settings& cml,
                                std::shared_ptr<cml::cml_availability> cml_status,
                                std::shared_ptr<cml::ray_cluster_context> cml_cluster)
{
    runner_registry runners;
    runners.add(checkpoint_kind::ansible,
                [executor, settings = std::make_shared<const ansible_settings>(ansible), kill_grace] {
                    return std::make_unique<ansible_runner>(executor, settings, kill_grace);
                });
    if (!cml_status) cml_status = std::make_shared<cml::cml_availability>();
    cml::add_cml_runners(runners, executor, std::make_shared<const cml_settings>(cml), std::move(cml_status),
                         std::move(cml_cluster));
    return runners;
}

}  // namespace raydeploy
