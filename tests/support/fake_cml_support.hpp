// The project's fake CML API v2 (tests/fake_cml/fake_cml_api.py, docs/cml.md) as a child process
// of a C++ test: on free loopback ports, driven through its control port, stopped on destruction.
// Every wait has a deadline; failures throw std::runtime_error naming the caller.
#pragma once

#include "support/fake_process.hpp"
#include "support/test_support.hpp"
#include "support/source_location.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace raydeploy::test {

class fake_cml {
public:
    // The one key the fake accepts unless told otherwise.
    static constexpr std::string_view default_key = "fake-cml-key-6e0b1f4d9c27";

    // Starts the fake with `args` added to its command line (e.g. {"--max-page-size", "2",
    // "--project-create-s", "0.3"}) and returns once it printed its ports (within 15 s).
    explicit fake_cml(std::vector<std::string> args = {}, std::string api_key = std::string{default_key},
                      source_location where = source_location::current());

    std::uint16_t cml_port() const { return cml_port_; }
    std::uint16_t control_port() const { return control_port_; }
    // http://127.0.0.1:<cml_port>, what cml.host (RAYDEPLOY_CML_HOST) is set to.
    std::string cml_url() const;
    const std::string& api_key() const { return api_key_; }

    // A request to the CML port with `Authorization: Bearer <key>`, as CML's clients send it.
    response cml(http::verb verb, std::string_view target, std::string body = {},
                 source_location where = source_location::current()) const;
    // A request to the control port that must answer 200; returns its JSON.
    boost::json::value control(http::verb verb, std::string_view target, std::string body = {},
                               source_location where = source_location::current()) const;

    // POST /reset: nothing stored or logged, no faults, the key valid, the command line's config.
    void reset(source_location where = source_location::current()) const;
    // POST /faults (e.g. {"status": 503, "count": 2, "path": "/jobs$", "method": "POST"}); its id.
    std::int64_t add_fault(const boost::json::object& fault,
                           source_location where = source_location::current()) const;
    // DELETE /faults: how many were still armed.
    std::int64_t clear_faults(source_location where = source_location::current()) const;
    // POST /key: false makes the key invalid (401 from then on).
    void set_key_valid(bool valid, source_location where = source_location::current()) const;
    // GET /state: projects, jobs, runs and applications, faults, rules and config.
    boost::json::object state(source_location where = source_location::current()) const;
    // GET /calls?QUERY ("method=POST&path=/jobs$&since=12"): the recorded requests, oldest first.
    boost::json::array calls(std::string_view query = {},
                             source_location where = source_location::current()) const;
    // How many recorded calls of `method` have a path matching the regular expression `path`,
    // counting only those after call number `since` (0: all).
    std::size_t count_calls(std::string_view method, std::string_view path, std::int64_t since = 0,
                            source_location where = source_location::current()) const;
    // The number of the last call recorded so far (0: none), for count_calls(..., since).
    std::int64_t last_call(source_location where = source_location::current()) const;
    // POST /projects: a project at once (another user's with "owner", or a ready one); its JSON.
    boost::json::object add_project(const boost::json::object& project,
                                    source_location where = source_location::current()) const;
    // POST /projects/outcome, /jobs/outcome, /applications/outcome (see docs/cml.md).
    void set_project_outcome(const boost::json::object& rule,
                             source_location where = source_location::current()) const;
    void set_job_outcome(const boost::json::object& rule,
                         source_location where = source_location::current()) const;
    void set_application_outcome(const boost::json::object& rule,
                                 source_location where = source_location::current()) const;
    // POST /applications/crash: a started application is APPLICATION_FAILED now.
    void crash_application(std::string_view application_id,
                           source_location where = source_location::current()) const;
    // POST /runs/delete with {"run_id"}, {"job_id"} or {"job_name"} (that job's newest run): the run
    // is gone as if an admin deleted it from CML (404 from then on); the deleted run's id.
    std::string delete_run(const boost::json::object& which,
                           source_location where = source_location::current()) const;
    // POST /config with `changes` (durations, page sizes, switches); the config in force after.
    boost::json::object configure(const boost::json::object& changes,
                                  source_location where = source_location::current()) const;

    std::string stderr_text() const { return process_.stderr_text(); }

private:
    std::string api_key_;
    fake_process process_;
    std::uint16_t cml_port_ = 0;
    std::uint16_t control_port_ = 0;
};

}  // namespace raydeploy::test
