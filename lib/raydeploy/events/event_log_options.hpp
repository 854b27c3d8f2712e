// How the event log batches its writes; settings.hpp takes its defaults from here.
#pragma once

#include <chrono>
#include <cstddef>

namespace raydeploy {

struct event_log_options {
    // A batch is written once it is batch_delay old and holds batch_min events, once it is
    // batch_max_delay old, or once it holds batch_size: whichever comes first.
    // 2 ms: at 10,000 events/s to 100 subscribers the median latency 2.9 ms, where 5 ms gave 7.4 ms
    // (docs/benchmarks.md); a busy stream fills its batches of 256 before the delay anyway.
    std::chrono::milliseconds batch_delay{2};
    std::size_t batch_size = 256;
    // How soon state that the commit hooks write (a running playbook's progress) is committed
    // after commit_soon(). Such a batch is stored on the io thread, after the store thread's: a
    // playbook changes its progress at every task, and a batch on the io thread each time would
    // take back most of what the store thread gives the io thread at 100,000 events/s.
    std::chrono::milliseconds state_delay{100};
    // A commit writes the same handful of whole pages (16 KiB each: the events table's leaf, its
    // indexes' leaves, the sequence) for one event as for sixteen, so a playbook's sparse stream
    // (a few events every few milliseconds) committed at batch_delay wrote ~56 KB to the disk and
    // took ~200 us of the service's CPU per event. Waiting up to 50 ms for sixteen halved the CPU
    // and cut the writes by two thirds (docs/benchmarks.md); 50 ms is below what a person watching
    // a run notices, and a stream fast enough to need less fills sixteen within batch_delay.
    std::size_t batch_min = 16;
    std::chrono::milliseconds batch_max_delay{50};
};

}  // namespace raydeploy
