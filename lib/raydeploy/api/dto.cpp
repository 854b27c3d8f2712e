// Resource-to-JSON conversions.
#include "raydeploy/api/dto.hpp"

#include "raydeploy/engine/extra_vars.hpp"

namespace raydeploy::api {

namespace {

// The declarations a client needs to build a form: no values (declarations have none).
boost::json::object vars_json(const checkpoint& item)
{
    boost::json::object vars;
    for (const auto& spec : item.vars) {
        boost::json::object entry{{"type", to_string(spec.type)}, {"description", spec.description}};
        if (!spec.choices.empty()) entry["choices"] = boost::json::array(spec.choices.begin(), spec.choices.end());
        if (spec.pattern) entry["pattern"] = *spec.pattern;
        entry["secret"] = spec.secret;
        vars[spec.name] = std::move(entry);
    }
    return vars;
}

}  // namespace

boost::json::object checkpoint_json(const checkpoint& item)
{
    boost::json::array impact;
    for (const auto& line : item.impact_summary) impact.emplace_back(line);
    return {
        {"name", item.name},
        {"order", item.order},
        {"kind", to_string(item.kind)},
        {"description", item.description},
        {"approval_required", item.approval_required},
        {"destructive", item.destructive},
        {"in_deployment", item.in_deployment},
        {"impact_summary", std::move(impact)},
        {"timeout_s", item.timeout.count()},
        {"vars", vars_json(item)},
    };
}

boost::json::object checkpoint_list_json(const checkpoint_catalog& catalog)
{
    boost::json::array list;
    for (const auto& item : catalog.checkpoints()) list.emplace_back(checkpoint_json(item));
    return {{"checkpoints", std::move(list)}};
}


boost::json::object execution_json(const execution_record& record, const checkpoint_catalog& catalog,
                                   const identity& caller)
{
    boost::json::object out = to_json(record);
    out["params"].as_object()["extra_vars"] =
        redact_extra_vars(record.params.extra_vars, {catalog.find(record.checkpoint)}, caller.level >= role::operator_);
    return out;
}

boost::json::object deployment_json(const deployment_record& record, const checkpoint_catalog& catalog,
                                    const identity& caller)
{
    std::vector<const checkpoint*> sources;
    for (const auto& step : record.steps) sources.push_back(catalog.find(step.checkpoint));
    boost::json::object out = to_json(record);
    out["extra_vars"] = redact_extra_vars(record.extra_vars, sources, caller.level >= role::operator_);
    return out;
}

}  // namespace raydeploy::api
