// Retention: removes old finished executions with their events, stored reports and run
// directories, in passes that watch/retention_schedule runs at start and then daily. Never touched: the audit trail, queued or running
// executions, the latest execution of each checkpoint (what `status` shows), and executions of a
// deployment that is still active (queued, running or awaiting approval).
//
// @par Thread safety
// Single-threaded: use from the io_context's thread.
#pragma once

#include "raydeploy/store/sqlite.hpp"
#include "raydeploy/util/net.hpp"

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace raydeploy {

struct retention_policy {
    std::size_t keep_days = 0;        // 0: age alone removes nothing
    std::size_t keep_executions = 0;  // 0: the count alone removes nothing
    std::chrono::hours interval{24};  // between passes
    // Executions selected per query, and events deleted per statement. The io_context runs other
    // work after each execution and each statement of events, so a pass over a large store
    // delays a request by one such step at most (docs/operations.md).
    std::size_t executions_per_batch = 500;
    std::size_t events_per_batch = 1000;

    bool enabled() const { return keep_days > 0 || keep_executions > 0; }
};

// What one pass removed.
struct retention_result {
    std::size_t executions = 0;
    std::size_t events = 0;
    std::optional<std::string> oldest;  // created_at of the oldest and newest execution removed
    std::optional<std::string> newest;
};

class retention {
public:
    // `is_active` tells whether an execution is queued or running in this service right now.
    retention(net::any_io_executor executor, sqlite::database& db, std::filesystem::path runs_dir,
              retention_policy policy, std::function<bool(std::string_view id)> is_active);

    const retention_policy& policy() const { return policy_; }

    // One pass, as of `now`, in batches with the io_context free in between; logs what it removed.
    // Ends early, between batches, once `stop_requested` says so (a shutdown).
    net::awaitable<retention_result> apply(std::chrono::system_clock::time_point now,
                                           std::function<bool()> stop_requested = {});

    // The executions the policy removes as of `now`, oldest first, at most `limit`.
    std::vector<std::string> due(std::chrono::system_clock::time_point now, std::size_t limit);

    // What a pass keeps, worked out once at its start: finding the newest execution of each
    // checkpoint and the keep_executions-th newest reads every execution, which per batch held
    // the io thread for a quarter of a second at 100,000 executions. Executions created during
    // the pass only make more removable, so the pass's view errs on the side of keeping.
    struct cutoffs {
        std::optional<std::string> created_before;  // keep_days: older ones go
        // keep_executions: ones before (created_at, rowid) of the keep_executions-th newest go;
        // none while there are no more than that.
        std::optional<std::pair<std::string, std::int64_t>> kept_from;
        std::string latest_ids;  // JSON array of the newest execution of each checkpoint
    };
    cutoffs cutoffs_at(std::chrono::system_clock::time_point now);
    std::vector<std::string> due(const cutoffs& keep, std::size_t limit);

private:
    net::any_io_executor executor_;
    sqlite::database& db_;
    std::filesystem::path runs_dir_;
    retention_policy policy_;
    std::function<bool(std::string_view)> is_active_;
};

}  // namespace raydeploy
