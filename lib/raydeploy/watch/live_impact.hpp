// The live impact of tearing Ray down: the work the Ray monitor last saw running, in the form an
// approval request of a destructive checkpoint carries as approval_info.live_impact, so the approver
// sees which jobs and Serve applications end before granting. The engine knows nothing of Ray: the
// service hands approval_manager a provider built on live_impact(const ray_monitor&).
//
//   {observed_at (RFC 3339 or null), source_state ("CONNECTED", "DEGRADED", "UNREACHABLE",
//    "UNKNOWN", "DISABLED"), fresh (the source is CONNECTED),
//    jobs: [{submission_id, job_id, entrypoint, status}]      PENDING or RUNNING, by key
//    applications: [{name, status, route_prefix}]             any status but DELETING/DELETED, by name
//    jobs_total, applications_total,                          the lists hold at most max_listed each
//    summary: one sentence ("2 running Ray jobs and 1 Serve application will end"),
//    note (only when not fresh): the cluster's state is unknown, check what runs before approving}
//
// A snapshot that is not fresh never lists work: what it last saw may have ended or been joined by
// more, and an empty list must not read as "nothing runs"; the summary says what was last seen.
//
// @par Thread safety
// Pure functions of their arguments.
#pragma once

#include "raydeploy/watch/ray_snapshot.hpp"
#include "raydeploy/watch/source_health.hpp"

#include <boost/json/object.hpp>

#include <optional>

namespace raydeploy::watch {

class ray_monitor;

// Each list of a live impact shows at most this many items (the totals count them all), so an
// approval record stays small on a cluster running thousands of jobs.
inline constexpr std::size_t max_listed_work = 100;

// The live impact as of `snapshot` and `health`; `enabled` false gives the DISABLED answer.
boost::json::object live_impact(const std::optional<ray_snapshot>& snapshot, const source_health& health,
                                bool enabled = true);
boost::json::object live_impact(const ray_monitor& monitor);

}  // namespace raydeploy::watch
