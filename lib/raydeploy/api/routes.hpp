// The service's REST API: the route table and the state its handlers use.
#pragma once

#include "raydeploy/auth/tickets.hpp"
#include "raydeploy/catalog/catalog.hpp"
#include "raydeploy/config/settings.hpp"
#include "raydeploy/api/api_error.hpp"
#include "raydeploy/http/response_cache.hpp"

#include <chrono>
#include <memory>

namespace raydeploy::cml {
class cml_availability;
class ray_cluster_registry;
}

namespace raydeploy {
class execution_manager;
class approval_manager;
class deployment_manager;
class audit_log;
class event_log;
class event_reader;
class event_bus;
namespace watch {
class ray_monitor;
}
namespace ray {
class dashboard_client;
}
}  // namespace raydeploy

namespace raydeploy::api {

struct service_state {
    explicit service_state(checkpoint_catalog catalog_) : catalog{std::move(catalog_)} {}

    checkpoint_catalog catalog;
    std::chrono::steady_clock::time_point started_at = std::chrono::steady_clock::now();
    // The events before the engine: the engine's parts hold references to the log (and the log
    // to the bus), so they must be destroyed first, and members are destroyed last to first.
    std::shared_ptr<event_bus> bus;
    std::shared_ptr<event_log> events;
    // Stored events for replays and REST pages, read off the io thread; absent where a test builds
    // the route table without a store.
    std::shared_ptr<event_reader> event_pages;
    // The engine; absent only where a test builds the route table without running anything.
    std::shared_ptr<execution_manager> executions;
    std::shared_ptr<approval_manager> approvals;
    std::shared_ptr<deployment_manager> deployments;
    std::shared_ptr<audit_log> audit;
    event_settings event_options;
    websocket_settings websocket_options;
    // The one-time tickets of browsers' WebSocket handshakes; the authenticator redeems them.
    std::shared_ptr<ticket_store> tickets = std::make_shared<ticket_store>();
    http_settings http_options;
    // The Ray cluster as last polled; the cluster, jobs and applications routes answer from it.
    std::shared_ptr<watch::ray_monitor> ray;
    // Submits and stops jobs, deploys and deletes Serve applications; absent when ray.enabled is
    // false (the write routes then answer 503 RAY_UNAVAILABLE).
    std::shared_ptr<ray::dashboard_client> dashboard;
    // Whether the CML workspace answered the CML runners' last call (GET /health); null while CML
    // is not configured.
    std::shared_ptr<cml::cml_availability> cml_status;
    // The Ray cluster launch-ray-cluster started on CML (none recorded: the nodes write routes
    // answer 409 NO_CML_CLUSTER); and the CML settings those routes use.
    std::shared_ptr<cml::ray_cluster_registry> cml_cluster;
    std::shared_ptr<const cml_settings> cml;
    // Where people and tools reach this service ("http://host:8000"), as GET /api/v1/cluster/info
    // and the approval hints name it.
    std::string public_url;
    // GET /metrics without a token (metrics.public).
    bool metrics_public = false;
    // The first pages of GET /api/v1/executions that dashboards poll, per filter and role. 16: a
    // viewer who varies the filter holds at most 16 pages of up to 500 executions in memory.
    std::shared_ptr<web::response_cache> execution_pages = std::make_shared<web::response_cache>(16);
};

// Every route the service serves. openapi/openapi.yaml documents exactly these (a unit test
// compares the two).
router make_router(std::shared_ptr<const service_state> state);

// The execution routes (executions_api.cpp), the event feed (event_feed.cpp), approvals
// (approvals_api.cpp), deployments (deployments_api.cpp), audit (audit_api.cpp).
void add_execution_routes(router& routes, const std::shared_ptr<const service_state>& state);
void add_event_routes(router& routes, const std::shared_ptr<const service_state>& state);
void add_approval_routes(router& routes, const std::shared_ptr<const service_state>& state);
void add_deployment_routes(router& routes, const std::shared_ptr<const service_state>& state);
void add_audit_routes(router& routes, const std::shared_ptr<const service_state>& state);
// The cluster as the Ray monitor sees it (cluster_api.cpp): status, info, nodes, capacity.
void add_cluster_routes(router& routes, const std::shared_ptr<const service_state>& state);
// Ray jobs (jobs_api.cpp) and Serve applications (applications_api.cpp): reads from the monitor's
// snapshot, writes through the dashboard client.
void add_job_routes(router& routes, const std::shared_ptr<const service_state>& state);
void add_application_routes(router& routes, const std::shared_ptr<const service_state>& state);
// Workers of the Ray cluster launched on CML, added and removed as applications (nodes_api.cpp).
void add_node_routes(router& routes, const std::shared_ptr<const service_state>& state);
// The WebUI at `/`, the API reference at `/docs` and their assets (web_ui.cpp), compiled in.
void add_web_ui_routes(router& routes);

// Adds a route that changes state. Each call, accepted or refused (by the handler, or before it
// for a missing token or a role too low), leaves an audit row: the caller, their address,
// `action`, the path's target and the outcome ("succeeded" or the error code).
void add_audited(router& routes, const std::shared_ptr<const service_state>& state, http::verb method,
                 std::string pattern, role access, std::string action, handler handle);
// Records the refusals the server makes before an audited route's handler runs.
void audit_refusals(router& routes, const std::shared_ptr<const service_state>& state);

}  // namespace raydeploy::api
