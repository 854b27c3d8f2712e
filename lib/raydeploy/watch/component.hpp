// Background components: every loop the service runs besides answering requests.
//
// How to add one (the pattern every loop here follows):
//   - A background loop is a `component`: a name for the log, run() that loops until cancel(),
//     and cancel(), which may be called before, during or after run(), any number of times.
//     Between passes it waits on a `sleeper`, so that cancel() ends the wait at once. Write
//     `const bool awake = co_await sleeper_.sleep(interval); if (!awake) break;` inside the loop,
//     never `while (co_await ...)`: GCC 12 miscompiles a co_await in a loop's condition (SIGILL).
//   - app/service owns the components (service.cpp, `parts::components`): it starts them all with
//     start_components() when the service runs and stops them with cancel_components() at
//     shutdown, the last added first. Add yours in the service's constructor with
//     `p.components.push_back(std::make_shared<my_component>(executor, ...))`, or from outside
//     with service::add_component() before service::run().
//   - A poller of an outside system comes in two files, so that what it understands is tested
//     without sockets or timers:
//       watch/<source>_snapshot.{hpp,cpp}  sans-I/O: parses the answers, diffs them against the
//                                          last snapshot, produces the events. Unit-tested on
//                                          canned JSON (tests/unit/).
//       watch/<source>_monitor.{hpp,cpp}   the fetch loop, a component: fetches with the HTTP
//                                          client (http/client.hpp), hands the answers to the
//                                          snapshot step, publishes its events, sleeps, backs off.
//     The Ray dashboard's poller is watch/ray_snapshot.* and watch/ray_monitor.*.
//   - Timers over the engine are components too (approval_expiry, retention_schedule,
//     refusal_flush): the component owns the schedule, the rules stay in engine/ and store/.
//
// @par Thread safety
// Single-threaded: components, sleepers and these functions are used from the io_context's
// thread (the service posts its shutdown there).
#pragma once

#include "raydeploy/util/net.hpp"

#include <chrono>
#include <memory>
#include <string_view>
#include <vector>

namespace raydeploy::watch {

class component {
public:
    virtual ~component() = default;

    // A short stable name for the log ("approval_expiry", "ray_monitor").
    virtual std::string_view name() const = 0;
    // Loops until cancel(); returns at once when cancelled before it started. An exception it
    // lets out ends only this component (the service logs it with the name).
    virtual net::awaitable<void> run() = 0;
    // Ends run() promptly; a pass in progress finishes first. Idempotent.
    virtual void cancel() = 0;
};

// The wait between a component's passes: cancel() ends it for good, wake() ends one wait early.
class sleeper {
public:
    explicit sleeper(net::any_io_executor executor) : timer_{std::move(executor)} {}

    // Waits `duration`, or less after wake(). False once cancelled (before or during the wait):
    // the component's loop then ends.
    net::awaitable<bool> sleep(std::chrono::steady_clock::duration duration);
    // Ends the wait in progress, or makes the next sleep() return at once (a "poll now").
    void wake();
    void cancel();
    bool cancelled() const { return cancelled_; }

private:
    net::steady_timer timer_;
    bool cancelled_ = false;
    bool woken_ = false;
};

using component_list = std::vector<std::shared_ptr<component>>;

// Starts each component's run() on `executor`, in order. A component whose run() throws is
// logged with its name ("background component failed"); the others go on.
void start_components(const net::any_io_executor& executor, const component_list& components);
// Cancels every component, the last in the list first: a component added later may use one
// added before it, never the other way round.
void cancel_components(const component_list& components);

}  // namespace raydeploy::watch
