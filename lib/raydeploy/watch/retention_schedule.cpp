// The retention timer.
#include "raydeploy/watch/retention_schedule.hpp"

#include "raydeploy/engine/retention.hpp"
#include "raydeploy/util/log.hpp"

namespace raydeploy::watch {

retention_schedule::retention_schedule(net::any_io_executor executor, std::shared_ptr<retention> rules)
    : rules_{std::move(rules)}, sleeper_{std::move(executor)}
{
}

net::awaitable<void> retention_schedule::run()
{
    while (!sleeper_.cancelled()) {
        try {
            co_await rules_->apply(std::chrono::system_clock::now(), [this] { return sleeper_.cancelled(); });
        } catch (const std::exception& e) {
            log::error("retention pass failed; the next one retries", {{"error", e.what()}});
        }
        const bool awake = co_await sleeper_.sleep(rules_->policy().interval);
        if (!awake) break;
    }
}

}  // namespace raydeploy::watch
