// When retention runs: a pass at start, then every retention_policy::interval (daily). What a
// pass removes is engine/retention's business.
#pragma once

#include "raydeploy/watch/component.hpp"

#include <memory>

namespace raydeploy {
class retention;
}

namespace raydeploy::watch {

class retention_schedule final : public component {
public:
    // `rules` must have an enabled policy (the service logs "retention off" instead of adding
    // this component otherwise).
    retention_schedule(net::any_io_executor executor, std::shared_ptr<retention> rules);

    std::string_view name() const override { return "retention"; }
    net::awaitable<void> run() override;
    // A pass in progress ends after its current batch; then run() returns.
    void cancel() override { sleeper_.cancel(); }

private:
    std::shared_ptr<retention> rules_;
    sleeper sleeper_;
};

}  // namespace raydeploy::watch
