// The Ray monitor's fetch loop: I/O only; what the answers mean is ray_snapshot.cpp's business.
#include "raydeploy/watch/ray_monitor.hpp"

#include "raydeploy/metrics/service_metrics.hpp"

#include "raydeploy/events/event_bus.hpp"
#include "raydeploy/events/event_log.hpp"
#include "raydeploy/http/client.hpp"
#include "raydeploy/ray/dashboard_client.hpp"
#include "raydeploy/store/sqlite.hpp"
#include "raydeploy/util/log.hpp"
#include "raydeploy/util/thread_name.hpp"
#include "raydeploy/util/time.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

namespace raydeploy::watch {
namespace {


// A stored snapshot is rewritten when something changed, and at least this often otherwise (so its
// observed_at says how fresh the last sighting was without a write every poll).
constexpr std::chrono::minutes store_at_least_every{1};

// Large enough for the nodes of a 10,000-node cluster, small enough that a broken or hostile
// dashboard cannot make the service buffer without bound.
constexpr std::uint64_t dashboard_body_limit = 32 * 1024 * 1024;
// Node exporter's /metrics is the largest probe answer (a few hundred KB).
constexpr std::uint64_t probe_body_limit = 4 * 1024 * 1024;

// The answer of one endpoint: its body, or why there is none.
struct fetched {
    std::optional<web::client_response> response;
    std::string error;
};

std::string status_problem(std::string_view path, unsigned status)
{
    const std::string where = "GET " + std::string{path.substr(0, path.find('?'))};
    if (status == 401 || status == 403)
        return where + " answered HTTP " + std::to_string(status) +
               ": the dashboard wants a valid token; set RAYDEPLOY_RAY_TOKEN (or ray.auth_token_file) to the "
               "cluster's token";
    if (status == 404)
        return where + " answered HTTP 404: is ray.dashboard_url the Ray dashboard (and this Ray 2.x)?";
    return where + " answered HTTP " + std::to_string(status);
}

// Turns one endpoint's answer into its parse result; `parse` reads a 200 body.
template <class Parse>
auto parse_answer(const fetched& answer, std::string_view path, Parse parse) -> decltype(parse(std::string_view{}))
{
    using result = decltype(parse(std::string_view{}));
    if (!answer.response) return result::failure(answer.error);
    if (answer.response->status != 200) return result::failure(status_problem(path, answer.response->status));
    return parse(answer.response->body);
}

boost::json::object summary_of(const ray_snapshot& snapshot)
{
    const auto nodes = count_nodes(snapshot);
    boost::json::object summary{{"total_nodes", nodes.total}, {"alive_nodes", nodes.alive}};
    summary["ray_version"] = snapshot.version ? boost::json::value(snapshot.version->ray_version) : nullptr;
    summary["jobs"] = snapshot.jobs ? snapshot.jobs->size() : 0;
    summary["applications"] = snapshot.serve ? snapshot.serve->applications.size() : 0;
    return summary;
}

// What one poll's answers make of the previous snapshot; computed on the worker thread.
struct poll_step {
    poll_outcome outcome = poll_outcome::none;
    std::string first_error;
    std::vector<ray_change> changes;
    // Replaces the snapshot when set; else the old one is kept and shown with `errors`.
    std::optional<ray_snapshot> next;
    std::vector<ray_part_error> errors;
    std::string nodes_view_json;          // of `next`
    std::optional<std::string> to_store;  // `next` in its stored form, when it is due
};

struct poll_answers {
    fetched version, status, nodes, jobs, serve;
};

poll_step step_of(const poll_answers& answers, const std::optional<ray_snapshot>& previous, bool have_previous,
                  bool store_due, std::chrono::system_clock::time_point now, const node_applications& applications)
{
    poll_step step;
    auto serve_result = [&]() -> parse_result<ray_serve_status> {
        // 501: Ray runs without Serve installed, which is an answer, not a failure.
        if (answers.serve.response && answers.serve.response->status == 501) return {serve_not_installed(), {}};
        return parse_answer(answers.serve, ray_paths::serve_applications, parse_serve_applications);
    }();
    ray_snapshot current = assemble_snapshot(
        now, parse_answer(answers.version, ray_paths::version, parse_version),
        parse_answer(answers.status, ray_paths::cluster_status, parse_cluster_status),
        parse_answer(answers.nodes, ray_paths::nodes, parse_nodes), parse_answer(answers.jobs, ray_paths::jobs, parse_jobs),
        std::move(serve_result));

    step.outcome = current.complete() ? poll_outcome::ok : current.any_part() ? poll_outcome::partial : poll_outcome::none;
    if (!current.errors.empty()) step.first_error = current.errors.front().message;
    if (current.errors.size() > 1)
        step.first_error += " (and " + std::to_string(current.errors.size() - 1) + " more: see source.errors)";

    if (step.outcome != poll_outcome::none) {
        step.changes = diff(have_previous ? &*previous : nullptr, current);
        step.next = previous ? carry_forward(*previous, std::move(current)) : std::move(current);
        if (!step.changes.empty() || store_due) step.to_store = boost::json::serialize(to_json(*step.next));
    } else if (previous) {
        // Nothing answered: keep the last known state for the views, with this poll's errors.
        step.errors = std::move(current.errors);
        return step;
    } else {
        step.next = std::move(current);
    }
    step.nodes_view_json = boost::json::serialize(nodes_view(*step.next, applications));
    return step;
}

}  // namespace

ray_monitor::ray_monitor(net::any_io_executor executor, const ray_settings& ray, const monitoring_settings& monitoring,
                         event_log& events, event_bus& bus, sqlite::database& db)
    : executor_{executor}, settings_{ray}, events_{events}, bus_{bus}, db_{db}, sleeper_{executor},
      random_{std::random_device{}()}, nodes_view_json_{boost::json::serialize(nodes_view(ray_snapshot{}))},
      dashboard_url_{ray.dashboard_url}
{
    if (!settings_.enabled) return;
    worker_ = std::make_unique<net::thread_pool>(1);
    net::post(*worker_, [] { name_this_thread("ray-monitor"); });
    web::client_options options = ray::dashboard_client_options(settings_);
    options.body_limit = dashboard_body_limit;
    // The loop's own backoff decides when to try again; a retry inside one poll would only make a
    // failing poll slower.
    options.retry.max_attempts = 1;
    dashboard_ = std::make_unique<web::http_client>(executor, options);

    web::client_options probe_options;
    probe_options.purpose = "a monitoring endpoint";
    probe_options.request_timeout = settings_.request_timeout;
    probe_options.connect_timeout = settings_.request_timeout;
    probe_options.body_limit = probe_body_limit;
    probe_options.retry.max_attempts = 1;
    probe_options.accept = "*/*";
    probes_client_ = std::make_unique<web::http_client>(executor, probe_options);
    for (const auto& [name, base, path] :
         {std::tuple{"prometheus", monitoring.prometheus_url, "/-/healthy"},
          std::tuple{"node_exporter", monitoring.node_exporter_url, "/metrics"},
          std::tuple{"grafana", monitoring.grafana_url, "/api/health"}})
        if (!base.empty()) probes_.push_back({name, base + path, std::nullopt, {}});
}

ray_monitor::~ray_monitor() { *alive_ = false; }

std::string ray_monitor::source_state_name() const
{
    return settings_.enabled ? std::string{to_string(health_.state())} : std::string{"DISABLED"};
}

boost::json::object ray_monitor::source_json() const
{
    boost::json::object source = health_.to_json();
    source["state"] = source_state_name();
    boost::json::array errors;
    if (snapshot_)
        for (const auto& error : snapshot_->errors)
            errors.push_back(boost::json::object{{"part", to_string(error.part)}, {"message", error.message}});
    source["errors"] = std::move(errors);
    source["dashboard_url"] = dashboard_url_;
    return source;
}

std::string ray_monitor::monitoring_status() const
{
    std::size_t probed = 0, up = 0;
    for (const auto& probe : probes_) {
        if (!probe.up) continue;
        ++probed;
        if (*probe.up) ++up;
    }
    if (probed == 0) return "UNKNOWN";
    if (up == probed) return "HEALTHY";
    return up == 0 ? "UNHEALTHY" : "DEGRADED";
}

void ray_monitor::poll_now() { sleeper_.wake(); }

void ray_monitor::watch_cml_cluster(std::optional<std::string> dashboard_url, node_applications applications)
{
    applications_ = std::make_shared<const node_applications>(std::move(applications));
    std::string target = dashboard_url.value_or(settings_.dashboard_url);
    if (target != dashboard_url_) {
        log::info("watching another Ray dashboard", {{"dashboard", target}, {"was", dashboard_url_}});
        dashboard_url_ = std::move(target);
        snapshot_.reset();
        ++generation_;
        have_previous_ = false;
        poll_now();
    }
    nodes_view_json_ = boost::json::serialize(nodes_view(snapshot_ ? *snapshot_ : ray_snapshot{}, *applications_));
}

void ray_monitor::cancel()
{
    if (cancelled_) return;
    cancelled_ = true;
    sleeper_.cancel();
    if (dashboard_) dashboard_->cancel();
    if (probes_client_) probes_client_->cancel();
    if (engine_events_) engine_events_->close();
}

net::awaitable<void> ray_monitor::run()
{
    if (!settings_.enabled || cancelled_) co_return;
    load_stored_snapshot();
    follow_engine_events();
    log::info("watching the Ray cluster", {{"dashboard", dashboard_url_},
                                           {"interval", std::to_string(settings_.poll_interval.count()) + "ms"}});
    for (;;) {
        co_await poll_once();
        if (cancelled_) break;
        std::uniform_real_distribution<double> draw{0.0, 1.0};
        const auto delay = health_.next_delay(settings_.poll_interval, draw(random_));
        // Not `if (!co_await ...)`: GCC 12 miscompiles a co_await inside a condition (SIGILL).
        const bool awake = co_await sleeper_.sleep(delay);
        if (!awake) break;
    }
}

net::awaitable<void> ray_monitor::poll_once()
{
    const std::string base = dashboard_url_;
    const auto poll_started = std::chrono::steady_clock::now();
    auto fetch = [this, &base](std::string_view path) -> net::awaitable<fetched> {
        try {
            boost::urls::url url = boost::urls::parse_absolute_uri(base).value();
            const auto query = path.find('?');
            url.set_encoded_path(path.substr(0, query));
            if (query != std::string_view::npos) url.set_encoded_query(path.substr(query + 1));
            // Awaited into a named value first: GCC 12 miscompiles a co_await inside an
            // initializer list (the answer's strings were freed twice).
            auto answer = co_await dashboard_->get(url);
            co_return fetched{std::move(answer), {}};
        } catch (const web::client_error& e) {
            co_return fetched{std::nullopt, e.what()};
        } catch (const std::exception& e) {
            co_return fetched{std::nullopt, e.what()};
        }
    };
    poll_answers answers;
    answers.version = co_await fetch(ray_paths::version);
    answers.status = co_await fetch(ray_paths::cluster_status);
    answers.nodes = co_await fetch(ray_paths::nodes);
    answers.jobs = co_await fetch(ray_paths::jobs);
    answers.serve = co_await fetch(ray_paths::serve_applications);
    co_await probe_monitoring();
    if (cancelled_) co_return;

    const auto now = std::chrono::system_clock::now();
    const auto steady_now = std::chrono::steady_clock::now();
    const bool store_due = !last_stored_ || steady_now - *last_stored_ >= store_at_least_every;
    // Kept alive here for the step, which may outlive a watch_cml_cluster that replaces the map. A
    // raw pointer into the lambda: GCC 12 destroys a coroutine lambda's non-trivial captures twice.
    const std::shared_ptr<const node_applications> kept_applications = applications_;
    const node_applications* applications = kept_applications.get();
    // On the worker: nothing writes snapshot_ or answers until the step is back.
    poll_step step = co_await net::co_spawn(
        worker_->get_executor(),
        [&answers, this, store_due, now, applications]() -> net::awaitable<poll_step> {
            poll_step computed = step_of(answers, snapshot_, have_previous_, store_due, now, *applications);
            co_return computed;
        },
        net::use_awaitable);
    // Answers of a dashboard no longer watched (watch_cml_cluster moved on meanwhile) describe
    // another cluster.
    if (cancelled_ || base != dashboard_url_) co_return;
    last_poll_at_ = now;

    const poll_outcome outcome = step.outcome;
    const std::string& first_error = step.first_error;
    if (step.next) {
        snapshot_ = std::move(step.next);
        nodes_view_json_ = std::move(step.nodes_view_json);
        if (outcome != poll_outcome::none) have_previous_ = true;
    } else if (snapshot_) {
        snapshot_->errors = std::move(step.errors);
    }
    std::vector<ray_change>& changes = step.changes;

    for (auto& health_change : health_.record(outcome, now, first_error)) {
        if (health_change.type == "cluster.connected" && snapshot_) {
            for (auto& [key, value] : summary_of(*snapshot_)) health_change.data[key] = value;
        }
        if (health_change.type == "cluster.connected")
            log::info("Ray dashboard answers", {{"dashboard", dashboard_url_}});
        else
            log::warn("Ray dashboard not answering fully",
                      {{"dashboard", dashboard_url_}, {"state", source_state_name()}, {"error", first_error}});
        publish(std::move(health_change.type), std::move(health_change.data));
    }
    for (auto& change : changes) publish(std::move(change.type), std::move(change.data));

    if (step.to_store) {
        store_snapshot(*step.to_store);
        last_stored_ = steady_now;
    }
    ++generation_;
    auto& metrics = metrics::service_metrics::instance();
    metrics.poll("ray", outcome != poll_outcome::none, metrics::seconds(std::chrono::steady_clock::now() - poll_started));
    metrics.poller_up("ray", outcome != poll_outcome::none);
}

net::awaitable<void> ray_monitor::probe_monitoring()
{
    for (auto& probe : probes_) {
        try {
            const auto answer = co_await probes_client_->get(boost::urls::parse_absolute_uri(probe.url).value());
            probe.up = answer.success();
            probe.error = answer.success() ? std::string{} : "HTTP " + std::to_string(answer.status);
        } catch (const std::exception& e) {
            if (cancelled_) co_return;
            probe.up = false;
            probe.error = e.what();
        }
    }
}

void ray_monitor::publish(std::string type, boost::json::object data)
{
    events_.append(global_event(std::move(type), std::move(data)));
}

namespace {

// An execution.done, or a deployment.status with a final status.
bool ends_something(const published_event& item)
{
    if (item.type != "deployment.status") return true;
    boost::system::error_code ec;
    const auto document = boost::json::parse(item.text, ec);
    const auto* status = document.is_object() ? document.as_object().if_contains("status") : nullptr;
    return status && status->is_string() &&
           (status->as_string() == "succeeded" || status->as_string() == "failed" ||
            status->as_string() == "cancelled");
}

}  // namespace

// A checkpoint or deployment that ended has probably changed the cluster: look at once rather than
// up to an interval later.
void ray_monitor::follow_engine_events()
{
    event_filter filter;
    filter.types = {"execution.done", "deployment.status"};
    auto subscription = bus_.subscribe(filter, bus_.last_seq());
    engine_events_ = subscription;
    net::co_spawn(
        executor_,
        [this, subscription, alive = alive_]() -> net::awaitable<void> {
            for (;;) {
                const bool more = co_await subscription->wait();
                if (!*alive || cancelled_ || !more) co_return;
                bool changed = false;
                for (auto next = subscription->take(); next.item || next.behind; next = subscription->take()) {
                    if (next.behind) {
                        // A burst of events went by before this looked: whatever it held says "poll".
                        subscription->caught_up(bus_.evicted_through());
                        changed = true;
                    } else if (ends_something(**next.item)) {
                        changed = true;
                    }
                }
                if (changed) poll_now();
            }
        },
        net::detached);
}

void ray_monitor::load_stored_snapshot()
{
    try {
        auto query = db_.prepare("SELECT snapshot FROM watch_snapshots WHERE source = 'ray'");
        if (!query.step()) return;
        boost::system::error_code ec;
        const auto document = boost::json::parse(query.column_text(0), ec);
        auto stored = ec ? std::nullopt : snapshot_from_json(document);
        if (!stored) {
            log::warn("ignoring the stored Ray snapshot: it is not one this version reads");
            return;
        }
        snapshot_ = std::move(*stored);
        ++generation_;
        nodes_view_json_ = boost::json::serialize(nodes_view(*snapshot_, *applications_));
        have_previous_ = true;
    } catch (const std::exception& e) {
        log::error("reading the stored Ray snapshot failed; starting without one", {{"error", e.what()}});
    }
}

void ray_monitor::store_snapshot(const std::string& serialized)
{
    if (!snapshot_) return;
    try {
        auto statement = db_.prepare(
            "INSERT INTO watch_snapshots (source, observed_at, snapshot) VALUES ('ray', ?1, ?2) "
            "ON CONFLICT (source) DO UPDATE SET observed_at = excluded.observed_at, snapshot = excluded.snapshot");
        statement.bind(1, format_timestamp(snapshot_->observed_at));
        statement.bind(2, serialized);
        statement.step();
    } catch (const std::exception& e) {
        log::error("storing the Ray snapshot failed; a restart will not see changes made while it was down",
                   {{"error", e.what()}});
    }
}

}  // namespace raydeploy::watch
