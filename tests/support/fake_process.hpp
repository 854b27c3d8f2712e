// A fake server of tests/ (tests/fake_ray, tests/fake_cml) as a child process of a C++ test: run
// with the project's virtualenv Python (python3 from PATH when there is none; the fakes need only
// the standard library), its first stdout line (a JSON object with its ports) read within a
// deadline, stopped with SIGTERM (then SIGKILL) on destruction.
#pragma once

#include "support/test_support.hpp"
#include "support/source_location.hpp"

#include <boost/json/object.hpp>

#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace raydeploy::test {

class fake_process {
public:
    // Starts `script` (relative to the checkout) with `args` and returns once it printed its first
    // line; throws, with its stderr, when it exits first, prints something else or stays silent for
    // 15 s. `what` names it in messages ("the fake CML API").
    fake_process(std::string what, const fs::path& script, std::vector<std::string> args,
                 source_location where = source_location::current());
    // SIGTERM, then SIGKILL when it has not exited within 5 s.
    ~fake_process();
    fake_process(const fake_process&) = delete;
    fake_process& operator=(const fake_process&) = delete;

    // The first line it printed.
    const boost::json::object& ready_line() const { return ready_; }
    // Its port named `key` in the first line.
    std::uint16_t port(std::string_view key, source_location where = source_location::current()) const;
    std::string stderr_text() const;

private:
    std::string what_;
    temp_dir work_;
    pid_t pid_ = -1;
    int stdout_fd_ = -1;
    boost::json::object ready_;
};

}  // namespace raydeploy::test
