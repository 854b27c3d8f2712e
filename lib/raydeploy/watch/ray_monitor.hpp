// The Ray monitor: the fetch loop of the Ray poller (the sans-I/O half is watch/ray_snapshot.hpp).
//
// Every ray.poll_interval it reads the dashboard's five endpoints one after the other (version, cluster status,
// nodes, jobs, Serve applications) and probes the monitoring endpoints, turns the answers into a
// snapshot, publishes what changed as cluster.* events in the event log, and keeps the snapshot in
// memory for the REST handlers, which never wait on a poll. The snapshot is also stored
// (watch_snapshots), so that after a restart the first poll diffs against what the service last
// saw: a node that died while it was down is still reported.
//
// A dashboard that fails is polled less often (source_health::next_delay: exponential backoff from
// the interval, capped at 60 s, with jitter); poll_now() (a checkpoint or deployment ended) polls at
// once whatever the backoff.
//
// Turning the answers into a snapshot (parse, diff, and the views and stored form that grow with
// the cluster) runs on the monitor's own worker thread while the poll waits: at 10,000 nodes that is
// tens of milliseconds, which on the service's thread would hold up every request. The worker reads
// the current snapshot and never writes it; the new one is swapped in on the service's thread.
//
// @par Thread safety
// Construct, read and call it on the service's io_context thread; only the worker step runs
// elsewhere, on data nothing else writes while it runs.
#pragma once

#include "raydeploy/config/settings.hpp"
#include "raydeploy/watch/component.hpp"
#include "raydeploy/watch/ray_snapshot.hpp"
#include "raydeploy/watch/source_health.hpp"

#include <boost/json/object.hpp>

#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace raydeploy {
class event_log;
class event_bus;
class event_subscription;
namespace sqlite {
class database;
}
namespace web {
class http_client;
}
}  // namespace raydeploy

namespace raydeploy::watch {

// One monitoring endpoint (Prometheus, node exporter, Grafana) as last probed.
struct monitoring_probe {
    std::string name;  // "prometheus", "node_exporter", "grafana"
    std::string url;   // what is probed, e.g. http://127.0.0.1:9090/-/healthy
    std::optional<bool> up;  // nullopt until probed
    std::string error;       // why it is not up
};

class ray_monitor : public component {
public:
    // Throws config_error when ray.ca_file cannot be loaded. With ray.enabled false, run() returns
    // at once and the views say the source is disabled.
    ray_monitor(net::any_io_executor executor, const ray_settings& ray, const monitoring_settings& monitoring,
                event_log& events, event_bus& bus, sqlite::database& db);
    ~ray_monitor() override;

    std::string_view name() const override { return "ray_monitor"; }
    net::awaitable<void> run() override;
    void cancel() override;

    // Polls as soon as the poll in progress (if any) is done, ignoring any backoff.
    void poll_now();

    // Watches the Ray cluster raydeploy launched on CML: its dashboard (nullopt: ray.dashboard_url
    // again) and which node is which application. A new dashboard drops the snapshot of the old
    // one (it describes another cluster) and polls at once.
    void watch_cml_cluster(std::optional<std::string> dashboard_url, node_applications applications);
    // The dashboard polled now: ray.dashboard_url, or the CML cluster's.
    const std::string& dashboard_url() const { return dashboard_url_; }

    bool enabled() const { return settings_.enabled; }
    const ray_settings& settings() const { return settings_; }
    // The last known state: each part as last answered (parts that failed in the latest poll keep
    // their earlier value and are listed in `stale`); nullopt until Ray answered once (or a stored
    // snapshot was loaded).
    const std::optional<ray_snapshot>& snapshot() const { return snapshot_; }
    // nodes_view(snapshot()) serialized, made once per snapshot (a 10,000-node view is 4 MB); the
    // view of no nodes until there is one.
    const std::string& nodes_view_json() const { return nodes_view_json_; }
    const source_health& health() const { return health_; }
    // When the latest poll finished (successful or not); nullopt before the first.
    const std::optional<std::chrono::system_clock::time_point>& last_poll_at() const { return last_poll_at_; }
    // "DISABLED" when ray.enabled is false, else the health's state name.
    std::string source_state_name() const;
    // {state, last_success_at, last_error, consecutive_failures, errors: [{part, message}]}.
    boost::json::object source_json() const;

    const std::vector<monitoring_probe>& monitoring() const { return probes_; }
    // Changes whenever anything above may have (each poll, a new dashboard, a stored snapshot
    // loaded): answers built from the monitor stay valid while it does not.
    std::uint64_t generation() const { return generation_; }
    // HEALTHY (every configured endpoint up), DEGRADED (some), UNHEALTHY (none), UNKNOWN (none
    // configured or not probed yet).
    std::string monitoring_status() const;

private:
    net::awaitable<void> poll_once();
    net::awaitable<void> probe_monitoring();
    void follow_engine_events();
    void load_stored_snapshot();
    void store_snapshot(const std::string& serialized);
    void publish(std::string type, boost::json::object data);

    net::any_io_executor executor_;
    ray_settings settings_;
    event_log& events_;
    event_bus& bus_;
    sqlite::database& db_;
    std::unique_ptr<web::http_client> dashboard_;
    std::unique_ptr<web::http_client> probes_client_;
    sleeper sleeper_;
    source_health health_{"cluster"};
    std::optional<ray_snapshot> snapshot_;  // what the views show and the next diff compares with
    // Whether snapshot_ holds an earlier observation to diff against (from this life or stored).
    bool have_previous_ = false;
    std::optional<std::chrono::system_clock::time_point> last_poll_at_;
    std::optional<std::chrono::steady_clock::time_point> last_stored_;
    std::vector<monitoring_probe> probes_;
    std::shared_ptr<event_subscription> engine_events_;  // execution.done, deployment.status
    std::minstd_rand random_;
    std::string nodes_view_json_;  // of snapshot_, or of no snapshot
    std::string dashboard_url_;
    // Read by the worker step: replaced, never changed in place.
    std::shared_ptr<const node_applications> applications_ = std::make_shared<node_applications>();
    bool cancelled_ = false;
    std::uint64_t generation_ = 0;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
    // One thread, only while enabled. Last, so that it is joined before anything the step reads is
    // destroyed.
    std::unique_ptr<net::thread_pool> worker_;
};

}  // namespace raydeploy::watch
