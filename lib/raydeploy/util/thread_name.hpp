// Names the calling thread, as `top -H`, `ps -L`, `perf` and /proc/PID/task/*/comm show it, so an
// operator (or a benchmark) can tell the service's threads apart.
#pragma once

#include <pthread.h>

namespace raydeploy {

// `name`: at most 15 characters (Linux's limit); a longer one is left unset.
inline void name_this_thread(const char* name) { ::pthread_setname_np(::pthread_self(), name); }

}  // namespace raydeploy
