// Running and stopping the service's background components.
#include "raydeploy/watch/component.hpp"

#include "raydeploy/util/log.hpp"

#include <string>

namespace raydeploy::watch {
namespace {

// The frame keeps the component alive for as long as its run() may touch it.
net::awaitable<void> run_component(std::shared_ptr<component> part) { co_await part->run(); }

}  // namespace

net::awaitable<bool> sleeper::sleep(std::chrono::steady_clock::duration duration)
{
    if (cancelled_) co_return false;
    if (woken_) {
        woken_ = false;
        co_return true;
    }
    timer_.expires_after(duration);
    co_await timer_.async_wait(nothrow_awaitable);
    woken_ = false;
    co_return !cancelled_;
}

void sleeper::wake()
{
    woken_ = true;
    timer_.cancel();
}

void sleeper::cancel()
{
    cancelled_ = true;
    timer_.cancel();
}

void start_components(const net::any_io_executor& executor, const component_list& components)
{
    for (const auto& part : components) {
        net::co_spawn(executor, run_component(part), [name = std::string{part->name()}](std::exception_ptr error) {
            if (!error) return;
            try {
                std::rethrow_exception(error);
            } catch (const std::exception& e) {
                log::error("background component failed", {{"component", name}, {"error", e.what()}});
            }
        });
    }
}

void cancel_components(const component_list& components)
{
    for (auto part = components.rbegin(); part != components.rend(); ++part) (*part)->cancel();
}

}  // namespace raydeploy::watch
