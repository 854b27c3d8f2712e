// The project's fake Ray dashboard (tests/fake_ray/fake_ray_dashboard.py) as a child process of a
// test, on free loopback ports, with its Ray port and control port at hand. Every request has the
// deadline of test_support's http_request.
#pragma once

#include "support/test_support.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstdint>
#include <source_location>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace raydeploy::test {

class fake_ray {
public:
    // Starts it with `args` (e.g. {"--job-run-s", "0.5"}); returns once it printed its ports, or
    // throws after 15 s.
    explicit fake_ray(std::vector<std::string> args = {},
                      std::source_location where = std::source_location::current());
    // SIGTERM, then waits for it.
    ~fake_ray();
    fake_ray(const fake_ray&) = delete;
    fake_ray& operator=(const fake_ray&) = delete;

    std::uint16_t ray_port() const { return ray_port_; }
    std::uint16_t control_port() const { return control_port_; }
    // http://127.0.0.1:RAY_PORT, for RAYDEPLOY_RAY_DASHBOARD_URL.
    std::string url() const;

    // A request to the Ray port (as Ray's own clients would send it) or to the control port.
    response ray(http::verb verb, std::string_view target, std::string body = {},
                 std::source_location where = std::source_location::current()) const;
    // A control request that must answer 200; returns its JSON.
    boost::json::value control(http::verb verb, std::string_view target, std::string body = {},
                               std::source_location where = std::source_location::current()) const;

    // GET /api/serve/applications/ on the Ray port: what Serve holds now.
    boost::json::object serve_details(std::source_location where = std::source_location::current()) const;
    // The deployed_app_config of one application, or null when Serve has no such application.
    boost::json::value deployed_config(std::string_view name,
                                       std::source_location where = std::source_location::current()) const;

private:
    pid_t pid_ = -1;
    std::uint16_t ray_port_ = 0;
    std::uint16_t control_port_ = 0;
};

}  // namespace raydeploy::test
