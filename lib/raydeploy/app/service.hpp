// The service as one object: the composition root that builds the state store, the event log,
// the engine (executions, approvals, deployments), the route table and the HTTP server from the
// settings. `raydeploy serve` runs it in the foreground; the CLI's in-process mode runs it in a
// background thread (cli/local_service.hpp).
#pragma once

#include "raydeploy/catalog/catalog.hpp"
#include "raydeploy/config/settings.hpp"
#include "raydeploy/util/net.hpp"

#include <memory>

namespace raydeploy::watch {
class component;
}

namespace raydeploy {

class service {
public:
    // Loads the catalog, opens (and locks) the state store, recovers what a previous life left
    // running and binds the listener. With `handle_signals`, SIGTERM and SIGINT stop it from
    // here on (so one arriving before run() is not lost). Throws config_error or runtime_failure.
    service(const settings& config, bool handle_signals);
    service(const service&) = delete;
    service& operator=(const service&) = delete;
    ~service();

    // The address actually bound (the real port when the settings asked for port 0).
    listen_address endpoint() const;
    // Whether it serves HTTPS (http.tls_cert and http.tls_key set).
    bool tls() const;
    std::size_t checkpoint_count() const;
    // Publishes the URL it listens on beside the state directory's lock (store/state_store.hpp),
    // so the CLI on this machine finds it; a loopback address stands in for a wildcard one.
    // Withdrawn when the shutdown starts. `raydeploy serve` does; the CLI's in-process service,
    // whose token only its own command holds, does not.
    void publish_endpoint();

    // The io_context's executor, on which every part and component runs.
    net::any_io_executor executor();
    // Adds a background component (watch/component.hpp), started by run() after the service's
    // own and cancelled before them at shutdown. Only before run(): throws std::logic_error after.
    void add_component(std::shared_ptr<watch::component> part);

    // Serves until stop() or a signal; then finishes in-flight requests, interrupts running
    // executions and flushes events.
    void run();
    // Starts the graceful shutdown; safe to call from any thread, and more than once.
    void stop();

private:
    struct parts;
    std::unique_ptr<parts> parts_;
};

}  // namespace raydeploy
