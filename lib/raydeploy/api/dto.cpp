// Resource-to-JSON conversions.
#include "raydeploy/api/dto.hpp"

namespace raydeploy::api {

boost::json::object checkpoint_json(const checkpoint& item)
{
    boost::json::array impact;
    for (const auto& line : item.impact_summary) impact.emplace_back(line);
    return {
        {"name", item.name},
        {"order", item.order},
        {"description", item.description},
        {"approval_required", item.approval_required},
        {"destructive", item.destructive},
        {"impact_summary", std::move(impact)},
        {"timeout_s", item.timeout.count()},
    };
}

boost::json::object checkpoint_list_json(const checkpoint_catalog& catalog)
{
    boost::json::array list;
    for (const auto& item : catalog.checkpoints()) list.emplace_back(checkpoint_json(item));
    return {{"checkpoints", std::move(list)}};
}

}  // namespace raydeploy::api
