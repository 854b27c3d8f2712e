// Why a run is being stopped before it ended on its own: shared by the engine, its runners and
// the child processes of the ansible runner.
#pragma once

namespace raydeploy {

// `detach` goes only to a runner whose work survives the service (checkpoint_runner::
// survives_restart): the service is stopping, the work goes on without it, and a restarted service
// follows it again.
enum class stop_cause { none, timeout, cancel, detach };

}  // namespace raydeploy
