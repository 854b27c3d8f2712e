// Expires approval grants whose TTL passed: approval_manager::expire_due() every second, so an
// expired grant is marked (and its `approval.expired` event published) within a second.
#pragma once

#include "raydeploy/watch/component.hpp"

#include <chrono>

namespace raydeploy {
class approval_manager;
}

namespace raydeploy::watch {

class approval_expiry final : public component {
public:
    // `approvals` must outlive the component. The service expires what is already due before it
    // serves; this loop takes over from then on.
    approval_expiry(net::any_io_executor executor, approval_manager& approvals,
                    std::chrono::steady_clock::duration interval = std::chrono::seconds{1});

    std::string_view name() const override { return "approval_expiry"; }
    net::awaitable<void> run() override;
    void cancel() override { sleeper_.cancel(); }

private:
    approval_manager& approvals_;
    std::chrono::steady_clock::duration interval_;
    sleeper sleeper_;
};

}  // namespace raydeploy::watch
