// The service's own Prometheus metrics (GET /metrics), kept with prometheus-cpp's core library.
//
// One instance per process: Prometheus scrapes a process, and the parts that count (the HTTP
// server, the event log, the SQLite wrapper, the engine) would otherwise each need it passed
// down through constructors that tests build by the hundred. Counters only grow, so tests that
// run several services in one process compare differences, never absolute values.
//
// The hot paths (one HTTP request, one event) touch only counters and histograms they resolved
// once: prometheus-cpp's label lookup hashes a label map, which costs more than the request.
//
// @par Thread safety
// prometheus-cpp's metrics are thread-safe; the caches of resolved label sets here are not, and
// are used from the io_context's thread only.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace raydeploy::metrics {

// Seconds as a double, the unit Prometheus histograms use.
inline double seconds(std::chrono::steady_clock::duration elapsed)
{
    return std::chrono::duration<double>(elapsed).count();
}

// The metrics of one HTTP route (or of requests that matched none), resolved once per route.
class route_metrics {
public:
    route_metrics(prometheus::Family<prometheus::Counter>& requests,
                  prometheus::Family<prometheus::Histogram>& durations, std::string route, std::string method);
    void observe(unsigned status, double seconds);

private:
    prometheus::Family<prometheus::Counter>& requests_;
    std::string route_;
    std::string method_;
    prometheus::Histogram& duration_;
    std::map<unsigned, prometheus::Counter*> by_status_;
};

class service_metrics {
    // First: every metric below is registered in it as it is constructed.
    std::shared_ptr<prometheus::Registry> registry_;

public:
    static service_metrics& instance();

    // The exposition text (Prometheus text format 0.0.4) of every metric, after `refresh` has set
    // the gauges that are read off the service's state at scrape time.
    std::string expose();

    // HTTP: the metrics of `route` ("/api/v1/executions/{id}", or "unmatched") and `method`.
    route_metrics& route(std::string_view route, std::string_view method);
    prometheus::Gauge& http_connections;

    // Executions: one that ended, with its final status and how long it took from start to end.
    void execution_finished(const std::string& checkpoint, std::string_view status, double seconds);
    prometheus::Gauge& executions_queued;
    prometheus::Gauge& executions_running;

    // Events along their way: produced by runners, committed to SQLite, written to WebSocket
    // subscribers, and not sent to subscribers dropped because they stopped reading.
    prometheus::Counter& events_ingested;
    prometheus::Counter& events_stored;
    prometheus::Counter& events_delivered;
    prometheus::Counter& events_dropped;
    prometheus::Counter& slow_subscriber_closes;
    prometheus::Counter& store_catchups;
    prometheus::Gauge& subscribers;
    prometheus::Gauge& subscriber_queue_max;
    // Events appended and not yet stored: a batch being written, or a backlog the disk refuses.
    prometheus::Gauge& events_waiting;

    // Approvals: waiting now, and how long each one waited until it was decided or ended.
    prometheus::Gauge& approvals_pending;
    void approval_decided(std::string_view outcome, double seconds);

    prometheus::Histogram& sqlite_commit;
    prometheus::Histogram& sqlite_checkpoint;
    // Commits and checkpoints SQLite refused (a full or failing disk, a read-only file).
    prometheus::Counter& sqlite_commit_failures;
    prometheus::Counter& sqlite_checkpoint_failures;

    // Pollers (the Ray dashboard, the CML workspace).
    void poll(std::string_view source, bool ok, double seconds);
    void poller_up(std::string_view source, bool up);

    // The process: resident memory, CPU time, open descriptors, start time (read from /proc).
    void refresh_process();

    service_metrics(const service_metrics&) = delete;
    service_metrics& operator=(const service_metrics&) = delete;

private:
    service_metrics();

    prometheus::Family<prometheus::Counter>& http_requests_;
    prometheus::Family<prometheus::Histogram>& http_durations_;
    prometheus::Family<prometheus::Counter>& executions_total_;
    prometheus::Family<prometheus::Histogram>& execution_durations_;
    prometheus::Family<prometheus::Histogram>& approval_waits_;
    prometheus::Family<prometheus::Counter>& polls_;
    prometheus::Family<prometheus::Histogram>& poll_durations_;
    prometheus::Family<prometheus::Gauge>& pollers_up_;
    prometheus::Gauge& resident_memory_;
    prometheus::Counter& cpu_seconds_;
    double cpu_seconds_seen_ = 0;  // what /proc said last: the counter grows by the difference
    prometheus::Gauge& open_fds_;
    prometheus::Gauge& start_time_;
    std::map<std::string, std::unique_ptr<route_metrics>, std::less<>> routes_;
};

}  // namespace raydeploy::metrics
