// What unit tests of the execution engine stand on: a private database with every migration, an
// io_context the test runs by hand, and the event bus and log over them. A fixture derives from
// it and adds the engine it needs (catalog, runners, settings).
#pragma once

#include "raydeploy/events/event_bus.hpp"
#include "raydeploy/events/event_log.hpp"
#include "raydeploy/store/state_store.hpp"

#include "support/test_support.hpp"

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <functional>
#include <memory>

namespace raydeploy::test {

struct engine_ground {
    temp_dir dir;
    std::unique_ptr<sqlite::database> db = open_migrated_database(dir.path() / "state.db");
    net::io_context io;
    event_bus bus{io.get_executor(), 1024 * 1024};
    event_log events{io.get_executor(), *db, bus};

    // Runs the io_context until `done` holds; false when `timeout` passed first.
    bool run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout = 10s)
    {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (!done() && std::chrono::steady_clock::now() < deadline) {
            io.restart();
            io.run_for(std::chrono::milliseconds{10});
        }
        return done();
    }
};

}  // namespace raydeploy::test
