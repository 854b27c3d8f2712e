// The audit trail: who did what, when, from where, with what outcome. Rows are append-only (the
// schema's triggers refuse UPDATE and DELETE), so the trail cannot be edited through the service.
#pragma once

#include "raydeploy/store/sqlite.hpp"

#include <boost/json/object.hpp>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace raydeploy {

struct audit_entry {
    std::int64_t id = 0;
    std::string at;
    std::string actor;
    std::string remote_addr;
    std::string action;  // "approval.grant", "deployment.start", ...
    std::string target;  // the checkpoint, execution or deployment acted on
    std::string outcome;  // "succeeded", or the refusal's error code ("FOUR_EYES", "FORBIDDEN"...)
    boost::json::object detail;
};

boost::json::object to_json(const audit_entry& entry);

// Which entries GET /api/v1/audit lists; every condition given must hold.
struct audit_filter {
    std::optional<std::string> actor;          // exactly this identity
    std::optional<std::string> action;         // exactly this action
    std::optional<std::string> action_prefix;  // actions starting with this ("approval.")
    std::optional<std::string> outcome;        // "succeeded" or an error code
    // Entries written strictly after / before these times (as format_timestamp prints them).
    std::optional<std::string> after;
    std::optional<std::string> before;
    std::size_t limit = 100;
    std::optional<std::int64_t> before_id;  // paging cursor: entries older than this one
};

class audit_log {
public:
    explicit audit_log(sqlite::database& db) : db_{db} {}

    // Fills in `at` when empty; returns the row id.
    std::int64_t record(audit_entry entry);

    // Records a request refused for want of valid credentials (401), at most one row per source
    // address per `window`: the first refusal writes its row at once, later ones in the window are
    // only counted. The count is written when the window has passed, as `detail.count` of the next
    // row from that address or of a summary row (flush_refusals); a row's count includes itself.
    // Without this, anyone who can reach the port could fill the disk with 401s.
    void record_unauthenticated(audit_entry entry, std::chrono::steady_clock::time_point now);
    // Writes the summary rows of windows that ended (all of them with `all`, at shutdown).
    void flush_refusals(std::chrono::steady_clock::time_point now, bool all = false);

    static constexpr std::chrono::seconds refusal_window{60};
    // Addresses tracked at once; refusals from further addresses share one entry ("*").
    static constexpr std::size_t max_refusal_sources = 4096;
    // Newest first.
    std::vector<audit_entry> list(const audit_filter& filter);

private:
    struct refusal_window_state {
        std::chrono::steady_clock::time_point opened;
        std::int64_t folded = 0;  // refusals counted since the last row, not written yet
        audit_entry last;         // the latest folded refusal, for the summary row
    };

    sqlite::database& db_;
    std::map<std::string, refusal_window_state, std::less<>> refusals_;
};

}  // namespace raydeploy
