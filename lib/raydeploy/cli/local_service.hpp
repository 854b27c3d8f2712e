// The CLI's in-process mode: without --server, commands run the whole service on the state
// directory in a background thread, on a free loopback port, and talk to it like to any other,
// with a fresh admin token only this process knows. One code path for both modes: the commands
// only ever speak the REST API.
#pragma once

#include "raydeploy/config/settings.hpp"

#include <memory>
#include <string>
#include <thread>

namespace raydeploy {
class service;
}

namespace raydeploy::cli {

class local_service {
public:
    // Takes the state directory's lock like `serve` does: throws runtime_failure naming the pid
    // when a running service holds it (then use --server with that service's URL).
    // `person` names the token, so runs and approvals are recorded under the person running
    // the command (a valid token name: letters, digits and . _ - @).
    local_service(const settings& config, const std::string& person);
    local_service(const local_service&) = delete;
    local_service& operator=(const local_service&) = delete;
    // Stops the service gracefully: running executions end as `interrupted`.
    ~local_service();

    std::string url() const { return url_; }
    // The bearer token the service accepts: its only one.
    const std::string& token() const { return token_; }

private:
    std::string token_;
    std::unique_ptr<service> service_;
    std::string url_;
    std::thread thread_;
};

}  // namespace raydeploy::cli
