// The approval-expiry timer.
#include "raydeploy/watch/approval_expiry.hpp"

#include "raydeploy/engine/approvals.hpp"
#include "raydeploy/util/log.hpp"

namespace raydeploy::watch {

approval_expiry::approval_expiry(net::any_io_executor executor, approval_manager& approvals,
                                 std::chrono::steady_clock::duration interval)
    : approvals_{approvals}, interval_{interval}, sleeper_{std::move(executor)}
{
}

net::awaitable<void> approval_expiry::run()
{
    for (;;) {
        // Not in the loop's condition: GCC 12 miscompiles a co_await there.
        const bool awake = co_await sleeper_.sleep(interval_);
        if (!awake) break;
        // A failing pass (a busy database) is retried on the next tick.
        try {
            approvals_.expire_due();
        } catch (const std::exception& e) {
            log::error("expiring approvals failed", {{"error", e.what()}});
        }
    }
}

}  // namespace raydeploy::watch
