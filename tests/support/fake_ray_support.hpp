// The project's fake Ray dashboard (tests/fake_ray/fake_ray_dashboard.py) as a child process of a
// C++ test: started on free loopback ports, driven through its control port, stopped on
// destruction. Every wait has a deadline; failures throw std::runtime_error naming the caller.
#pragma once

#include "support/fake_process.hpp"
#include "support/test_support.hpp"
#include "support/source_location.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace raydeploy::test {

class fake_ray {
public:
    // Starts the fake with `args` added to its command line (e.g. {"--job-run-s", "0.5"}) and
    // returns once it printed its ports; throws (with its stderr) when it exits first or does not
    // print them within 15 s.
    explicit fake_ray(std::vector<std::string> args = {},
                      source_location where = source_location::current());
    // Stopped with SIGTERM, then SIGKILL when it has not exited within 5 s.

    std::uint16_t ray_port() const { return ray_port_; }
    std::uint16_t control_port() const { return control_port_; }
    // http://127.0.0.1:<ray_port>, what RAYDEPLOY_RAY_DASHBOARD_URL is set to.
    std::string dashboard_url() const;

    // A request to the Ray port, as Ray's own clients would send it.
    response ray(http::verb verb, std::string_view target, std::string body = {},
                 source_location where = source_location::current()) const;
    // A request to the control port that must answer 200; returns its JSON.
    boost::json::value control(http::verb verb, std::string_view target, std::string body = {},
                               source_location where = source_location::current()) const;

    // POST /fault {mode, paths, delay_s}: "none" ends the fault.
    void set_fault(std::string_view mode, const std::vector<std::string>& paths = {}, double delay_s = 30.0,
                   source_location where = source_location::current()) const;
    // POST /nodes with `body` (e.g. {"action": "kill", "node_id": ID}); returns its answer.
    boost::json::object nodes(const boost::json::object& body,
                              source_location where = source_location::current()) const;
    // GET /state: the fake's nodes, jobs and applications.
    boost::json::object state(source_location where = source_location::current()) const;
    // How often the Ray port was asked for `path` so far (0 when never).
    std::int64_t request_count(std::string_view path,
                               source_location where = source_location::current()) const;

    // GET /api/serve/applications/ on the Ray port: what Serve holds now.
    boost::json::object serve_details(source_location where = source_location::current()) const;
    // The deployed_app_config of one application, or null when Serve has no such application.
    boost::json::value deployed_config(std::string_view name,
                                       source_location where = source_location::current()) const;

    std::string stderr_text() const { return process_.stderr_text(); }

private:
    fake_process process_;
    std::uint16_t ray_port_ = 0;
    std::uint16_t control_port_ = 0;
};

// A service watching a fake Ray every 200 ms, with a viewer, an operator and an admin token; ready
// once its first poll connected, so reads answer from a snapshot.
struct service_watching_fake_ray {
    // `fake_args` go to the fake's command line, `env` to the service's environment.
    explicit service_watching_fake_ray(std::vector<std::string> fake_args = {}, env_map env = {});

    // Polls GET `target` as `client` until its "status" is `status`; a 404 is expected until the
    // monitor's next poll sees what was created a moment ago. Throws after 15 s with the last answer.
    boost::json::object wait_for_status(const api_client& client, const std::string& target, std::string_view status,
                                        source_location where = source_location::current()) const;

    test_identity viewer_id = make_identity("vera", "viewer");
    test_identity operator_id = make_identity("otto", "operator");
    test_identity admin_id = make_identity("ada", "admin");
    fake_ray ray;
    service_process service;
    api_client viewer;
    api_client operator_;
    api_client admin;
};

}  // namespace raydeploy::test
