// The refusal-count flush timer.
#include "raydeploy/watch/refusal_flush.hpp"

#include "raydeploy/store/audit_log.hpp"
#include "raydeploy/util/log.hpp"

namespace raydeploy::watch {

refusal_flush::refusal_flush(net::any_io_executor executor, audit_log& audit)
    : audit_{audit}, sleeper_{std::move(executor)}
{
}

net::awaitable<void> refusal_flush::run()
{
    for (;;) {
        // Not in the loop's condition: GCC 12 miscompiles a co_await there.
        const bool awake = co_await sleeper_.sleep(audit_log::refusal_window);
        if (!awake) break;
        try {
            audit_.flush_refusals(std::chrono::steady_clock::now());
        } catch (const std::exception& e) {
            log::error("writing the audit trail failed", {{"action", "refusal counts"}, {"error", e.what()}});
        }
    }
}

}  // namespace raydeploy::watch
