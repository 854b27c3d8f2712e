// The command-line interface: `raydeploy COMMAND [options]`. service/main.cpp only calls run().
//
// Exit codes: 0 success, 1 runtime failure (port taken, state directory busy, store error),
// 2 usage or configuration error. The client commands (run, deploy, ...) add 3, 4 and 5, and
// use 1 for a failed checkpoint.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace raydeploy::cli {

inline constexpr int exit_ok = 0;
inline constexpr int exit_failure = 1;
inline constexpr int exit_usage = 2;
inline constexpr int exit_checkpoint_failed = 1;
inline constexpr int exit_approval = 3;     // approval denied or expired, or --approval-timeout reached
inline constexpr int exit_cancelled = 4;
inline constexpr int exit_unreachable = 5;  // service unreachable or authentication failed

int run(int argc, char** argv);

// The same, with explicit streams and arguments (argv[0] excluded), for tests.
int run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace raydeploy::cli
