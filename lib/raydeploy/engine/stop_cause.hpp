// Why a run is being stopped before it ended on its own: shared by the engine, its runners and
// the child processes of the ansible runner.
#pragma once

namespace raydeploy {

enum class stop_cause { none, timeout, cancel };

}  // namespace raydeploy
