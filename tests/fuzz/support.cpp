// What every fuzz target and fuzz_replay link besides their own code.
#include "raydeploy/util/log.hpp"

namespace raydeploy::fuzz {
namespace {

// Warnings and errors only: a log line for each of millions of requests would be most of the
// fuzzer's time, and the log's rendering of hostile values has its own unit tests.
[[maybe_unused]] const bool quiet_log = [] {
    log::configure(log::level::warn, log::format::text);
    return true;
}();

}  // namespace
}  // namespace raydeploy::fuzz
