// Wiring of the service's parts, in dependency order.
#include "raydeploy/app/service.hpp"

#include "raydeploy/api/routes.hpp"
#include "raydeploy/auth/tokens.hpp"
#include "raydeploy/engine/approvals.hpp"
#include "raydeploy/engine/deployments.hpp"
#include "raydeploy/engine/execution_manager.hpp"
#include "raydeploy/engine/retention.hpp"
#include "raydeploy/events/event_bus.hpp"
#include "raydeploy/events/event_log.hpp"
#include "raydeploy/events/event_reader.hpp"
#include "raydeploy/http/server.hpp"
#include "raydeploy/http/tls.hpp"
#include "raydeploy/store/audit_log.hpp"
#include "raydeploy/ray/dashboard_client.hpp"
#include "raydeploy/store/state_store.hpp"
#include "raydeploy/store/wal_checkpointer.hpp"
#include "raydeploy/util/duration.hpp"
#include "raydeploy/util/log.hpp"
#include "raydeploy/watch/approval_expiry.hpp"
#include "raydeploy/watch/live_impact.hpp"
#include "raydeploy/watch/ray_monitor.hpp"
#include "raydeploy/watch/refusal_flush.hpp"
#include "raydeploy/watch/retention_schedule.hpp"

#include <unistd.h>

#include <csignal>

namespace raydeploy {
namespace {

// Where approvers reach this service, for the commands the pipeline prints at a gate.
std::string service_url(const listen_address& bound, const listen_address& configured, bool tls)
{
    std::string host = bound.host;
    if (host == "0.0.0.0" || host == "::") {
        char name[256] = {};
        host = ::gethostname(name, sizeof name - 1) == 0 && name[0] ? std::string{name} : configured.host;
    }
    listen_address shown{host, bound.port};
    return (tls ? "https://" : "http://") + shown.to_string();
}

}  // namespace

struct service::parts {
    explicit parts(const settings& config_)
        : config{config_},
          catalog{load_catalog(config.catalog)},
          store{config.state_dir},
          checkpoints{store.db(), store.database_file()}
    {
    }

    settings config;
    checkpoint_catalog catalog;
    state_store store;
    wal_checkpointer checkpoints;
    net::io_context io{1};
    std::shared_ptr<api::service_state> state;
    std::shared_ptr<web::http_server> server;
    std::shared_ptr<event_bus> bus;
    std::shared_ptr<event_log> events;
    listen_address bound;
    std::optional<net::signal_set> signals;
    // The background loops (watch/component.hpp): run() starts them in this order, shutdown
    // cancels them last first. A new one is added in the constructor below with
    // `p.components.push_back(std::make_shared<...>(executor, ...))`, after the parts it uses,
    // or from outside with service::add_component() before run().
    watch::component_list components;
    bool components_started = false;

    std::optional<net::signal_set> reload_signals;  // SIGHUP, with TLS: reload the certificate
    bool stopping = false;

    // Builds a new TLS context from the configured files for new connections; on failure the old
    // one stays in use, so a bad file never takes the service down.
    void reload_certificate()
    {
        try {
            auto context = web::make_server_tls_context(*config.http.tls_cert, *config.http.tls_key);
            const std::string summary = web::certificate_summary(*context);
            server->set_tls_context(std::move(context));
            log::info("TLS certificate reloaded", {{"certificate", summary}});
        } catch (const std::exception& e) {
            log::error("TLS certificate reload failed; still serving the previous certificate", {{"error", e.what()}});
        }
    }

    void wait_for_reload()
    {
        reload_signals->async_wait([this](const beast::error_code& ec, int) {
            if (ec || stopping) return;
            reload_certificate();
            wait_for_reload();
        });
    }

    void shutdown(std::string_view why)
    {
        if (stopping) return;
        stopping = true;
        store.lock().withdraw_endpoint();  // new commands must not find a service that is going
        log::info("shutting down", {{"cause", why},
                                    {"grace", format_duration(config.http.shutdown_grace)},
                                    {"running_executions", state->executions->running_count()}});
        server->shutdown();
        // Deployments keep their state (a restart resumes or fails them); runs in progress are
        // stopped and end as `interrupted`; event subscribers are told to reconnect.
        state->deployments->shutdown();
        watch::cancel_components(components);
        if (state->dashboard) state->dashboard->cancel();
        try {
            state->audit->flush_refusals(std::chrono::steady_clock::now(), true);
        } catch (const std::exception& e) {
            log::error("writing the audit trail failed", {{"action", "refusal counts"}, {"error", e.what()}});
        }
        state->executions->shutdown();
        bus->close_all();
        if (reload_signals) reload_signals->cancel();
    }
};

namespace {

// The live impact of a launch: the monitor's, listing running work only when the launch restarts an
// application (a restarted node ends what runs on it), with what it creates and restarts.
boost::json::object launch_impact(const cml::launch_plan& plan, const watch::ray_monitor& ray)
{
    boost::json::object impact = watch::live_impact(ray);
    boost::json::array restarts;
    std::string restarted;
    for (const auto& restart : plan.restarts) {
        boost::json::array fields;
        for (const auto& field : restart.fields) fields.push_back(boost::json::string(field));
        restarts.push_back(boost::json::object{{"app_name", restart.app_name}, {"fields", std::move(fields)}});
        restarted += (restarted.empty() ? "" : ", ") + restart.app_name;
    }
    boost::json::array creates;
    for (const auto& name : plan.creates) creates.push_back(boost::json::string(name));
    const std::string created = plan.creates.empty() ? std::string{}
                                                     : "; creates " + std::to_string(plan.creates.size()) + " application(s)";
    if (plan.restarts.empty()) {
        impact["jobs"] = boost::json::array{};
        impact["applications"] = boost::json::array{};
        impact["jobs_total"] = 0;
        impact["applications_total"] = 0;
        impact["summary"] = "restarts no running application: no Ray work ends" + created;
    } else {
        impact["summary"] = "restarts " + restarted + " (their resources changed), ending the Ray work on them; " +
                            std::string{impact["summary"].as_string()} + created;
    }
    impact["restarts"] = std::move(restarts);
    impact["creates"] = std::move(creates);
    return impact;
}

}  // namespace

service::service(const settings& config, bool handle_signals)
    : parts_{(check_listen_security(config), std::make_unique<parts>(config))}
{
    parts& p = *parts_;
    if (handle_signals) {
        // Writes to a closed pipe or socket must fail with EPIPE, not kill the service.
        std::signal(SIGPIPE, SIG_IGN);
        p.signals.emplace(p.io, SIGINT, SIGTERM);
        p.signals->async_wait([&p](const beast::error_code& ec, int signal_number) {
            if (!ec) p.shutdown(signal_number == SIGTERM ? "SIGTERM" : "SIGINT");
        });
    }
    log::info("state store ready",
              {{"database", p.store.database_file().string()}, {"schema_version", p.store.schema_version()}});
    const auto executor = p.io.get_executor();
    p.bus = std::make_shared<event_bus>(executor, config.events.window_bytes);
    // A fast stream's event batches are stored on a thread and a connection of their own
    // (events/event_log.hpp), opened on the io thread when the first one comes. The checkpointer,
    // declared before `state` and `io`, outlives that connection.
    event_log_options batching;
    batching.batch_delay = config.events.batch_delay;
    batching.batch_max_delay = config.events.batch_max_delay;
    p.events = std::make_shared<event_log>(executor, p.store.db(), *p.bus, batching,
                                           [&p] {
                                               auto connection = open_database(p.store.database_file());
                                               p.checkpoints.watch(*connection);
                                               return connection;
                                           });

    engine_settings engine_config;
    engine_config.runs_dir = std::filesystem::absolute(config.state_dir) / "runs";
    engine_config.max_concurrent = config.executions.max_concurrent;
    engine_config.kill_grace = config.executions.kill_grace;
    engine_config.cml = config.cml;
    engine_config.cml_status = std::make_shared<cml::cml_availability>();
    auto cml_cluster = std::make_shared<cml::ray_cluster_context>();
    cml_cluster->registry = std::make_shared<cml::ray_cluster_registry>(p.store.db());
    engine_config.cml_cluster = cml_cluster;
    ansible_settings& ansible = engine_config.ansible;
    ansible.inventory = std::filesystem::absolute(config.inventory);
    ansible.ansible_playbook = find_ansible_playbook(config.ansible_playbook);
    ansible.supervisor = std::filesystem::read_symlink("/proc/self/exe");
    ansible.callback_dir =
        install_callback_plugin(std::filesystem::absolute(config.state_dir) / "ansible/callback_plugins");
    ansible.pass_env = config.executor.pass_env;
    if (ansible.ansible_playbook.empty())
        log::warn("ansible-playbook not found; executions will fail until it is installed (scripts/bootstrap.sh "
                  "puts it in .venv) or ansible_playbook is set");
    else
        log::info("using ansible-playbook", {{"path", ansible.ansible_playbook.string()}});

    const bool open_mode = config.auth.tokens.empty();
    approval_policy policy;
    policy.default_ttl = std::chrono::duration_cast<std::chrono::seconds>(config.approvals.default_ttl);
    policy.max_ttl = std::chrono::duration_cast<std::chrono::seconds>(config.approvals.max_ttl);
    policy.four_eyes = config.auth.four_eyes && !open_mode;

    auto state = std::make_shared<api::service_state>(p.catalog);
    if (config.cml.configured()) state->cml_status = engine_config.cml_status;
    state->cml_cluster = cml_cluster->registry;
    state->cml = std::make_shared<const cml_settings>(config.cml);
    p.state = state;
    state->bus = p.bus;
    state->events = p.events;
    state->event_pages = std::make_shared<event_reader>(p.store.database_file());
    state->event_options = config.events;
    state->websocket_options = config.websocket;
    state->http_options = config.http;
    state->metrics_public = config.metrics.public_access;
    state->audit = std::make_shared<audit_log>(p.store.db());
    state->approvals = std::make_shared<approval_manager>(state->catalog, p.store.db(), *p.events, policy);

    // The server binds before the execution and deployment managers exist: runs get the real port
    // (raydeploy_listen_address), and the deployment manager's gate messages name it. No request is
    // handled before the io_context runs, after this constructor.
    auto routes = api::make_router(state);
    const auto authenticator = std::make_shared<token_authenticator>(config.auth.tokens, state->tickets);
    routes.set_authenticator([authenticator](const web::request& req, bool websocket_handshake) {
        return authenticator->authenticate(req, websocket_handshake);
    });
    std::shared_ptr<ssl::context> tls;
    if (config.http.tls_cert) {
        tls = web::make_server_tls_context(*config.http.tls_cert, *config.http.tls_key);
        log::info("serving HTTPS and WSS only", {{"certificate", web::certificate_summary(*tls)}});
    }
    p.server = web::http_server::create(
        executor, std::move(routes), config.http, config.listen,
        web::browser_policy::from_settings(open_mode, config.http.allowed_hosts, config.http.allowed_origins), tls);
    if (tls && handle_signals) {
        p.reload_signals.emplace(p.io, SIGHUP);
        p.wait_for_reload();
    }
    const tcp::endpoint endpoint = p.server->local_endpoint();
    p.bound = listen_address{endpoint.address().to_string(), endpoint.port()};
    engine_config.ansible.listen_address = p.bound.to_string();
    state->executions =
        std::make_shared<execution_manager>(executor, state->catalog, p.store.db(), *p.events, engine_config);

    state->public_url = service_url(p.bound, config.listen, tls != nullptr);
    state->deployments = std::make_shared<deployment_manager>(executor, state->catalog, p.store.db(), *p.events,
                                                              *state->executions, *state->approvals,
                                                              state->public_url, open_mode);
    state->executions->recover();
    state->deployments->recover();
    // Grants that expired while the service was down are marked before anyone can use them.
    state->approvals->expire_due();
    p.components.push_back(std::make_shared<watch::approval_expiry>(executor, *state->approvals));
    // After recovery, so executions a previous life left running are final and may be due.
    retention_policy kept;
    kept.keep_days = config.retention.keep_days;
    kept.keep_executions = config.retention.keep_executions;
    if (kept.enabled()) {
        auto rules = std::make_shared<retention>(executor, p.store.db(), engine_config.runs_dir, kept,
                                                 [executions = state->executions](std::string_view id) {
                                                     return executions->is_active(id);
                                                 });
        p.components.push_back(std::make_shared<watch::retention_schedule>(executor, std::move(rules)));
    } else {
        log::info("retention off: executions are kept forever (retention.keep_days and retention.keep_executions are 0)");
    }
    p.components.push_back(std::make_shared<watch::refusal_flush>(executor, *state->audit));
    // Built even when ray.enabled is false: the cluster routes then answer that nothing is watched.
    state->ray = std::make_shared<watch::ray_monitor>(executor, config.ray, config.monitoring, *p.events, *p.bus,
                                                      p.store.db());
    p.components.push_back(state->ray);
    // Approvals of destructive checkpoints show the Ray work a teardown would end; those of
    // launch-ray-cluster which applications it would create or restart, and the work a restart ends.
    state->approvals->set_live_impact(
        [monitor = std::weak_ptr<watch::ray_monitor>(state->ray), registry = cml_cluster->registry,
         prefix = cml::subdomain_prefix(config.cml.project_name)](
            const checkpoint& item) -> std::optional<boost::json::object> {
            const auto ray = monitor.lock();
            if (!ray) return std::nullopt;
            if (item.kind == checkpoint_kind::cml_ray_cluster && item.action == ray_cluster_action::launch)
                return launch_impact(cml::plan_launch(registry->current(), *item.cluster, prefix), *ray);
            if (!item.destructive) return std::nullopt;
            return watch::live_impact(*ray);
        });
    if (config.ray.enabled)
        // The jobs and applications routes' writes; after each change Ray accepted, the monitor
        // polls at once so the events follow without an interval's wait.
        state->dashboard = std::make_shared<ray::dashboard_client>(
            executor, config.ray, [monitor = std::weak_ptr<watch::ray_monitor>{state->ray}] {
                if (const auto alive = monitor.lock()) alive->poll_now();
            });

    // A Ray cluster launched on CML is the one watched, and the one the jobs and applications
    // routes write to, from the moment it is recorded (and after a restart).
    cml_cluster->monitor = state->ray;
    cml_cluster->registry->follow([monitor = std::weak_ptr<watch::ray_monitor>{state->ray},
                                   dashboard = std::weak_ptr<ray::dashboard_client>{state->dashboard}](
                                      const std::optional<cml::ray_cluster>& cluster) {
        std::optional<std::string> url;
        watch::node_applications applications;
        if (cluster) {
            url = cluster->dashboard_url;
            for (const auto& app : cluster->applications) applications[app.app_name] = {app.app_id, app.app_name};
        }
        if (const auto alive = monitor.lock()) alive->watch_cml_cluster(url, std::move(applications));
        if (const auto alive = dashboard.lock()) alive->set_dashboard_url(url);
    });

    // The CML kinds build their client when they run; what the settings mean is said once, here.
    if (config.cml.configured()) {
        log::info("CML workspace configured",
                  {{"host", config.cml.host}, {"project", config.cml.project_name}, {"wait_for_ray", config.cml.wait_for_ray}});
        if (config.cml.tls_insecure)
            log::warn("TLS certificate verification is off for the CML workspace (cml.tls_insecure): any machine on "
                      "the network path can pose as it and read the API key sent to it; give its CA certificate as "
                      "cml.ca_file instead",
                      {{"purpose", "the CML workspace"}});
    }

    if (open_mode)
        log::warn("no auth.tokens configured: every caller is 'local' with the admin role (allowed on loopback only); "
                  "create tokens with 'raydeploy token create'");
}

service::~service() = default;

listen_address service::endpoint() const { return parts_->bound; }

bool service::tls() const { return parts_->config.http.tls_cert.has_value(); }

void service::publish_endpoint()
{
    listen_address reachable = parts_->bound;
    if (reachable.host == "0.0.0.0") reachable.host = "127.0.0.1";
    if (reachable.host == "::") reachable.host = "::1";
    parts_->store.lock().publish_endpoint((tls() ? "https://" : "http://") + reachable.to_string());
}

std::size_t service::checkpoint_count() const { return parts_->catalog.checkpoints().size(); }

net::any_io_executor service::executor() { return parts_->io.get_executor(); }

void service::add_component(std::shared_ptr<watch::component> part)
{
    if (parts_->components_started)
        throw std::logic_error{"service::add_component is for before run(); the components are already running"};
    parts_->components.push_back(std::move(part));
}

void service::stop()
{
    net::post(parts_->io, [p = parts_.get()] { p->shutdown("stop requested"); });
}

void service::run()
{
    parts& p = *parts_;
    watch::start_components(p.io.get_executor(), p.components);
    p.components_started = true;
    net::co_spawn(p.io, p.server->run(), [&p](std::exception_ptr error) {
        if (error) {
            try {
                std::rethrow_exception(error);
            } catch (const std::exception& e) {
                log::error("accept loop failed", {{"error", e.what()}});
            }
            p.shutdown("the accept loop failed");
        }
        if (p.signals) p.signals->cancel();  // nothing left to stop once the listener is gone
        if (p.reload_signals) p.reload_signals->cancel();
    });
    p.io.run();
    p.events->flush();
    log::info("stopped");
}

}  // namespace raydeploy
