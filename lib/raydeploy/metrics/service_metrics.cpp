// The service's Prometheus metrics: families, buckets, and what /proc says about the process.
#include "raydeploy/metrics/service_metrics.hpp"

#include "raydeploy/util/version.hpp"

#include <prometheus/text_serializer.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace raydeploy::metrics {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;
using buckets = prometheus::Histogram::BucketBoundaries;

// A GET answered from memory takes tens of microseconds; a report or a long list, milliseconds.
const buckets http_buckets{0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5};
// Checkpoints run from seconds (a check) to hours (a large cluster's installation).
const buckets execution_buckets{1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400};
// People answer approvals within minutes to a day (the longest ttl_s).
const buckets approval_buckets{10, 30, 60, 300, 900, 1800, 3600, 7200, 14400, 43200, 86400};
// One commit of a batch of events, with synchronous=NORMAL in WAL mode: well under a millisecond
// unless the disk stalls.
const buckets commit_buckets{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1};
// A WAL checkpoint copies up to about 16 MB (1,000 pages) back into the database file: milliseconds.
const buckets checkpoint_buckets{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
// A poll is a few HTTP requests; the request timeout is 5 s by default.
const buckets poll_buckets{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

constexpr const char* active_help = "Executions queued or running now";
constexpr const char* sqlite_failures_help =
    "SQLite commits and WAL checkpoints that failed (a full or failing disk), by operation";

template <typename Builder>
auto& family(Builder builder, const char* name, const char* help, prometheus::Registry& registry)
{
    return builder.Name(name).Help(help).Register(registry);
}

}  // namespace

route_metrics::route_metrics(prometheus::Family<prometheus::Counter>& requests,
                             prometheus::Family<prometheus::Histogram>& durations, std::string route,
                             std::string method)
    : requests_{requests},
      route_{std::move(route)},
      method_{std::move(method)},
      duration_{durations.Add({{"route", route_}, {"method", method_}}, http_buckets)}
{
}

void route_metrics::observe(unsigned status, double seconds)
{
    auto& counter = by_status_[status];
    if (!counter) counter = &requests_.Add({{"route", route_}, {"method", method_}, {"status", std::to_string(status)}});
    counter->Increment();
    duration_.Observe(seconds);
}

service_metrics& service_metrics::instance()
{
    static service_metrics metrics;
    return metrics;
}

service_metrics::service_metrics()
    : registry_{std::make_shared<prometheus::Registry>()},
      http_connections{family(BuildGauge(), "raydeploy_http_connections",
                              "Open HTTP connections, WebSocket subscribers and followed logs included", *registry_)
                           .Add({})},
      executions_queued{family(BuildGauge(), "raydeploy_executions_active", active_help, *registry_)
                            .Add({{"state", "queued"}})},
      // The registry merges a family registered again under the same name.
      executions_running{family(BuildGauge(), "raydeploy_executions_active", active_help, *registry_)
                             .Add({{"state", "running"}})},
      events_ingested{family(BuildCounter(), "raydeploy_events_ingested_total",
                             "Events the runners produced (callback-plugin lines parsed, engine steps)", *registry_)
                          .Add({})},
      events_stored{family(BuildCounter(), "raydeploy_events_stored_total", "Events committed to SQLite", *registry_)
                        .Add({})},
      events_delivered{family(BuildCounter(), "raydeploy_events_delivered_total",
                              "Events written to WebSocket subscribers", *registry_)
                           .Add({})},
      events_dropped{family(BuildCounter(), "raydeploy_events_dropped_total",
                            "Events not sent to subscribers that were dropped because they stopped reading (they "
                            "can resume with since=<seq> and lose nothing stored)",
                            *registry_)
                         .Add({})},
      slow_subscriber_closes{family(BuildCounter(), "raydeploy_event_slow_subscriber_closes_total",
                                    "Subscribers dropped because they stopped reading", *registry_)
                                 .Add({})},
      store_catchups{family(BuildCounter(), "raydeploy_event_store_catchups_total",
                            "Times a subscriber was behind the in-memory window of recent events and read from the "
                            "store",
                            *registry_)
                         .Add({})},
      subscribers{family(BuildGauge(), "raydeploy_event_subscribers", "Live event subscribers", *registry_).Add({})},
      subscriber_queue_max{family(BuildGauge(), "raydeploy_event_subscriber_queue_max",
                                  "Events published that the furthest-behind subscriber has not taken yet", *registry_)
                               .Add({})},
      events_waiting{family(BuildGauge(), "raydeploy_events_waiting",
                            "Events appended and not yet stored (a batch being written, or a backlog the disk refuses)",
                            *registry_)
                         .Add({})},
      approvals_pending{family(BuildGauge(), "raydeploy_approvals_pending", "Approvals waiting for a decision", *registry_)
                            .Add({})},
      sqlite_commit{family(BuildHistogram(), "raydeploy_sqlite_commit_duration_seconds",
                           "Time of each SQLite transaction's COMMIT", *registry_)
                        .Add({}, commit_buckets)},
      sqlite_checkpoint{family(BuildHistogram(), "raydeploy_sqlite_checkpoint_duration_seconds",
                               "Time of each WAL checkpoint run off the io thread", *registry_)
                            .Add({}, checkpoint_buckets)},
      sqlite_commit_failures{family(BuildCounter(), "raydeploy_sqlite_failures_total", sqlite_failures_help, *registry_)
                                 .Add({{"operation", "commit"}})},
      sqlite_checkpoint_failures{family(BuildCounter(), "raydeploy_sqlite_failures_total", sqlite_failures_help,
                                        *registry_)
                                     .Add({{"operation", "checkpoint"}})},
      http_requests_{family(BuildCounter(), "raydeploy_http_requests_total",
                            "HTTP requests answered, by route pattern, method and status", *registry_)},
      http_durations_{family(BuildHistogram(), "raydeploy_http_request_duration_seconds",
                             "Time from a request's last byte read to its answer being ready", *registry_)},
      executions_total_{family(BuildCounter(), "raydeploy_executions_total",
                               "Executions that ended, by checkpoint and final status", *registry_)},
      execution_durations_{family(BuildHistogram(), "raydeploy_execution_duration_seconds",
                                  "Time from an execution's start to its end, by checkpoint", *registry_)},
      approval_waits_{family(BuildHistogram(), "raydeploy_approval_wait_seconds",
                             "Time from an approval's request to its decision or end, by outcome", *registry_)},
      polls_{family(BuildCounter(), "raydeploy_polls_total", "Polls of watched sources, by source and outcome",
                    *registry_)},
      poll_durations_{family(BuildHistogram(), "raydeploy_poll_duration_seconds", "Time of each poll, by source",
                             *registry_)},
      pollers_up_{family(BuildGauge(), "raydeploy_poller_up",
                         "1 when the source answered its last poll in full or in part, else 0", *registry_)},
      resident_memory_{family(BuildGauge(), "process_resident_memory_bytes", "Resident memory size in bytes", *registry_)
                           .Add({})},
      cpu_seconds_{family(BuildCounter(), "process_cpu_seconds_total", "User and system CPU time spent in seconds",
                          *registry_)
                       .Add({})},
      open_fds_{family(BuildGauge(), "process_open_fds", "Open file descriptors", *registry_).Add({})},
      start_time_{family(BuildGauge(), "process_start_time_seconds",
                         "Start time of the process since the Unix epoch in seconds", *registry_)
                      .Add({})}
{
    family(BuildGauge(), "raydeploy_build_info", "The running build; always 1", *registry_)
        .Add({{"version", std::string{version()}}})
        .Set(1);
    start_time_.Set(std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
}

std::string service_metrics::expose()
{
    refresh_process();
    std::ostringstream out;
    prometheus::TextSerializer{}.Serialize(out, registry_->Collect());
    return std::move(out).str();
}

route_metrics& service_metrics::route(std::string_view route, std::string_view method)
{
    std::string key{method};
    key += ' ';
    key += route;
    auto it = routes_.find(key);
    if (it == routes_.end())
        it = routes_
                 .emplace(key, std::make_unique<route_metrics>(http_requests_, http_durations_, std::string{route},
                                                               std::string{method}))
                 .first;
    return *it->second;
}

void service_metrics::execution_finished(const std::string& checkpoint, std::string_view status, double seconds)
{
    executions_total_.Add({{"checkpoint", checkpoint}, {"status", std::string{status}}}).Increment();
    execution_durations_.Add({{"checkpoint", checkpoint}}, execution_buckets).Observe(seconds);
}

void service_metrics::approval_decided(std::string_view outcome, double seconds)
{
    approval_waits_.Add({{"outcome", std::string{outcome}}}, approval_buckets).Observe(seconds);
}

void service_metrics::poll(std::string_view source, bool ok, double seconds)
{
    polls_.Add({{"source", std::string{source}}, {"outcome", ok ? "ok" : "error"}}).Increment();
    poll_durations_.Add({{"source", std::string{source}}}, poll_buckets).Observe(seconds);
}

void service_metrics::poller_up(std::string_view source, bool up)
{
    pollers_up_.Add({{"source", std::string{source}}}).Set(up ? 1 : 0);
}

void service_metrics::refresh_process()
{
    // /proc/self/stat: utime and stime are fields 14 and 15 (in clock ticks), rss field 24 (in
    // pages). Field 2 is the command name in parentheses and may hold spaces: count after it.
    std::ifstream stat{"/proc/self/stat"};
    std::string text{std::istreambuf_iterator<char>{stat}, std::istreambuf_iterator<char>{}};
    const auto after_name = text.rfind(')');
    if (after_name != std::string::npos) {
        std::istringstream fields{text.substr(after_name + 2)};
        std::string field;
        double utime = 0, stime = 0, rss_pages = 0;
        // Fields from 3 (state) on.
        for (int index = 3; fields >> field; ++index) {
            if (index == 14) utime = std::stod(field);
            else if (index == 15) stime = std::stod(field);
            else if (index == 24) {
                rss_pages = std::stod(field);
                break;
            }
        }
        const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
        const double cpu = (utime + stime) / ticks;
        if (cpu > cpu_seconds_seen_) {
            cpu_seconds_.Increment(cpu - cpu_seconds_seen_);
            cpu_seconds_seen_ = cpu;
        }
        resident_memory_.Set(rss_pages * static_cast<double>(sysconf(_SC_PAGESIZE)));
    }
    std::error_code ec;
    std::size_t fds = 0;
    for (std::filesystem::directory_iterator it{"/proc/self/fd", ec}, end; !ec && it != end; it.increment(ec)) ++fds;
    open_fds_.Set(static_cast<double>(fds));
}

}  // namespace raydeploy::metrics
