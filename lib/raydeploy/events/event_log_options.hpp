// How the event log batches its writes; settings.hpp takes its defaults from here.
#pragma once

#include <chrono>
#include <cstddef>

namespace raydeploy {

struct event_log_options {
    // A batch is written when it is this old or this large, whichever comes first.
    // 2 ms: at 10,000 events/s to 100 subscribers the median latency 2.9 ms, where 5 ms gave 7.4 ms
    // (docs/benchmarks.md); a busy stream fills its batches of 256 before the delay anyway.
    std::chrono::milliseconds batch_delay{2};
    std::size_t batch_size = 256;
};

}  // namespace raydeploy
