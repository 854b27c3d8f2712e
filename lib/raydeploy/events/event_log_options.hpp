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
    // How soon state that the commit hooks write (a running playbook's progress) is committed
    // after commit_soon(). Such a batch is stored on the io thread, after the store thread's: a
    // playbook changes its progress at every task, and a batch on the io thread each time would
    // take back most of what the store thread gives the io thread at 100,000 events/s.
    std::chrono::milliseconds state_delay{100};
};

}  // namespace raydeploy
