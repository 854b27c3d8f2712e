// The audit trail: who did what, when, from where, with what outcome. Rows are append-only (the
// schema's triggers refuse UPDATE and DELETE), so the trail cannot be edited through the service.
#pragma once

#include "raydeploy/store/sqlite.hpp"

#include <boost/json/object.hpp>

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

class audit_log {
public:
    explicit audit_log(sqlite::database& db) : db_{db} {}

    // Fills in `at` when empty; returns the row id.
    std::int64_t record(audit_entry entry);
    // Newest first; `before_id` pages back.
    std::vector<audit_entry> list(std::size_t limit, std::optional<std::int64_t> before_id);

private:
    sqlite::database& db_;
};

}  // namespace raydeploy
