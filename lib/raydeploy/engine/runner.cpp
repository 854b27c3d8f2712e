// The runner registry.
#include "raydeploy/engine/runner.hpp"

namespace raydeploy {

void runner_registry::add(checkpoint_kind kind, factory make) { factories_.insert_or_assign(kind, std::move(make)); }

std::unique_ptr<checkpoint_runner> runner_registry::make(checkpoint_kind kind) const
{
    const auto found = factories_.find(kind);
    if (found == factories_.end()) return nullptr;
    return found->second();
}

std::vector<checkpoint_kind> runner_registry::kinds() const
{
    std::vector<checkpoint_kind> kinds;
    for (const auto& [kind, make] : factories_) kinds.push_back(kind);
    return kinds;
}

std::string no_runner_reason(const checkpoint& item, const runner_registry& runners)
{
    const auto kinds = runners.kinds();
    std::string runnable = kinds.size() == 1 ? "kind " : "kinds ";
    for (std::size_t i = 0; i < kinds.size(); ++i) runnable += (i ? ", " : "") + std::string{to_string(kinds[i])};
    if (kinds.empty()) runnable = "no kind";
    return "checkpoint '" + item.name + "' is of kind " + std::string{to_string(item.kind)} +
           ", which this raydeploy cannot run yet (it runs checkpoints of " + runnable +
           "); nothing was run. Serve a catalog whose checkpoints are of those kinds, or a raydeploy that runs " +
           std::string{to_string(item.kind)};
}

}  // namespace raydeploy
