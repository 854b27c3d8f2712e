// Background components: a component's run/cancel lifecycle, the sleeper it waits on, and how
// the service starts them and cancels them in reverse order.
#include "raydeploy/watch/component.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

using namespace raydeploy;
using namespace std::chrono_literals;

namespace {

// Counts its passes, one per millisecond, and notes in `journal` when it is cancelled and when
// its run() ends.
class ticker final : public watch::component {
public:
    ticker(net::any_io_executor executor, std::string name, std::vector<std::string>& journal)
        : name_{std::move(name)}, journal_{journal}, sleeper_{std::move(executor)}
    {
    }

    std::string_view name() const override { return name_; }
    net::awaitable<void> run() override
    {
        ++runs;
        for (;;) {
            const bool awake = co_await sleeper_.sleep(1ms);
            if (!awake) break;
            ++passes;
        }
        journal_.push_back(name_ + " ended");
    }
    void cancel() override
    {
        ++cancels;
        journal_.push_back(name_ + " cancelled");
        sleeper_.cancel();
    }

    int runs = 0;
    int passes = 0;
    int cancels = 0;

private:
    std::string name_;
    std::vector<std::string>& journal_;
    watch::sleeper sleeper_;
};

// Fails at once: the others must go on.
class broken final : public watch::component {
public:
    std::string_view name() const override { return "broken"; }
    net::awaitable<void> run() override
    {
        throw std::runtime_error{"cannot start"};
        co_return;
    }
    void cancel() override {}
};

// Runs `io` until `done` holds, for at most `deadline`; true when it held.
template <class Condition>
bool run_until(net::io_context& io, Condition done, std::chrono::milliseconds deadline = 5s)
{
    const auto until = std::chrono::steady_clock::now() + deadline;
    while (!done() && std::chrono::steady_clock::now() < until) {
        if (io.stopped()) io.restart();
        io.run_for(5ms);
    }
    return done();
}

bool finished(net::io_context& io, const std::vector<std::string>& journal, const std::string& name)
{
    return run_until(io, [&] { return std::find(journal.begin(), journal.end(), name + " ended") != journal.end(); });
}

}  // namespace

BOOST_AUTO_TEST_SUITE(components)

BOOST_AUTO_TEST_CASE(a_component_runs_until_cancelled_and_cancel_is_idempotent)
{
    net::io_context io;
    std::vector<std::string> journal;
    auto part = std::make_shared<ticker>(io.get_executor(), "ticker", journal);
    watch::start_components(io.get_executor(), {part});

    BOOST_TEST_REQUIRE(run_until(io, [&] { return part->passes >= 3; }));
    BOOST_TEST(journal.empty());  // still running

    part->cancel();
    part->cancel();  // during the wait that ends the loop: nothing more happens
    BOOST_TEST_REQUIRE(finished(io, journal, "ticker"));
    const int passes = part->passes;
    part->cancel();  // after run() returned
    io.restart();
    io.run_for(20ms);
    BOOST_TEST(part->passes == passes);
    BOOST_TEST(part->runs == 1);
    BOOST_TEST(part->cancels == 3);
    BOOST_TEST(journal.back() == "ticker cancelled");
}

BOOST_AUTO_TEST_CASE(a_component_cancelled_before_it_runs_returns_at_once)
{
    net::io_context io;
    std::vector<std::string> journal;
    auto part = std::make_shared<ticker>(io.get_executor(), "early", journal);
    part->cancel();
    watch::start_components(io.get_executor(), {part});
    BOOST_TEST_REQUIRE(finished(io, journal, "early"));
    BOOST_TEST(part->runs == 1);
    BOOST_TEST(part->passes == 0);
}

BOOST_AUTO_TEST_CASE(components_are_cancelled_last_first_and_a_failing_one_leaves_the_others_running)
{
    net::io_context io;
    std::vector<std::string> journal;
    auto first = std::make_shared<ticker>(io.get_executor(), "first", journal);
    auto second = std::make_shared<ticker>(io.get_executor(), "second", journal);
    auto third = std::make_shared<ticker>(io.get_executor(), "third", journal);
    const watch::component_list parts{first, std::make_shared<broken>(), second, third};
    watch::start_components(io.get_executor(), parts);
    BOOST_TEST_REQUIRE(run_until(io, [&] { return first->passes > 0 && second->passes > 0 && third->passes > 0; }));

    watch::cancel_components(parts);
    BOOST_TEST_REQUIRE(journal.size() == 3u);
    BOOST_TEST(journal[0] == "third cancelled");
    BOOST_TEST(journal[1] == "second cancelled");
    BOOST_TEST(journal[2] == "first cancelled");
    BOOST_TEST_REQUIRE(run_until(io, [&] { return journal.size() == 6u; }));
    watch::cancel_components(parts);  // a second shutdown is harmless
    BOOST_TEST(first->cancels == 2);
    BOOST_TEST(third->runs == 1);
}

BOOST_AUTO_TEST_CASE(wake_ends_one_wait_early_and_cancel_ends_them_for_good)
{
    net::io_context io;
    watch::sleeper sleeper{io.get_executor()};
    std::vector<bool> results;
    const auto started = std::chrono::steady_clock::now();
    net::co_spawn(io, [&]() -> net::awaitable<void> {
        bool awake = co_await sleeper.sleep(1h);  // woken below
        results.push_back(awake);
        sleeper.wake();  // no wait in progress: the next one returns at once
        awake = co_await sleeper.sleep(1h);
        results.push_back(awake);
        awake = co_await sleeper.sleep(1h);  // cancelled below
        results.push_back(awake);
        awake = co_await sleeper.sleep(1ms);  // after cancel: never waits
        results.push_back(awake);
    }, net::detached);
    io.run_for(50ms);
    BOOST_TEST_REQUIRE(results.empty());  // the first sleep waits
    sleeper.wake();
    BOOST_TEST_REQUIRE(run_until(io, [&] { return results.size() == 2u; }));
    io.run_for(20ms);
    BOOST_TEST(results.size() == 2u);  // the third sleep waits
    sleeper.cancel();
    BOOST_TEST_REQUIRE(run_until(io, [&] { return results.size() == 4u; }));
    BOOST_TEST((results == std::vector<bool>{true, true, false, false}));
    BOOST_TEST((std::chrono::steady_clock::now() - started < 10s));
}

BOOST_AUTO_TEST_SUITE_END()
