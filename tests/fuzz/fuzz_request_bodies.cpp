// The JSON bodies of the write routes through the checks their handlers make before the engine
// acts: the first byte picks the route, the rest is the body. A run's variables that pass go on
// to the extra-vars file given to ansible-playbook, whose strings must reach the playbook
// unchanged (tagged !unsafe, so never templated).
#include "fuzz/fuzz_target.hpp"

#include "raydeploy/api/ray_requests.hpp"
#include "raydeploy/api/request_bodies.hpp"
#include "raydeploy/catalog/catalog.hpp"
#include "raydeploy/engine/engine_error.hpp"
#include "raydeploy/engine/extra_vars.hpp"
#include "raydeploy/ray/serve_config.hpp"

#include <boost/json/serialize.hpp>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <iostream>

namespace json = boost::json;
using namespace raydeploy;

namespace {

// The shipped catalog: the checkpoints and variable declarations users run.
const checkpoint_catalog& shipped_catalog()
{
    static const checkpoint_catalog catalog = load_catalog(RAYDEPLOY_SOURCE_DIR "/playbooks/checkpoints.yaml");
    return catalog;
}

// The extra-vars file of a run that passed every check: YAML whose top-level strings read back as
// the very bytes the request gave (YAML's double-quoted escapes undone).
void check_extra_vars_file(const json::object& vars)
{
    const std::string text = extra_vars_yaml(vars, json::object{{"raydeploy_execution_id", "ex-fuzz"}});
    YAML::Node file;
    try {
        file = YAML::Load(text);
    } catch (const YAML::Exception& e) {
        std::cerr << "the extra-vars file is not YAML (" << e.what() << "):\n" << text << '\n';
        std::abort();
    }
    for (const auto& [name, value] : vars) {
        if (!value.is_string()) continue;
        const YAML::Node read = file[std::string{name}];
        if (!read || !read.IsScalar() || read.as<std::string>() != value.get_string()) {
            std::cerr << "extra var '" << std::string{name} << "' does not read back as given:\n" << text << '\n';
            std::abort();
        }
    }
}

void run_checks(const checkpoint& item, const execution_params& params)
{
    check_run_params(item, params);
    check_extra_vars_file(params.extra_vars);
    (void)redact_extra_vars(params.extra_vars, {&item}, false);
}

void follow_route(unsigned char route, const json::object& body)
{
    const auto& checkpoints = shipped_catalog().checkpoints();
    const checkpoint& item = checkpoints[route / 8 % checkpoints.size()];
    switch (route % 8) {
    case 0:
        run_checks(item, api::run_request_from(body).params);
        break;
    case 1: {
        const grant_input grant = api::grant_from(body);
        if (grant.params) run_checks(item, *grant.params);
        break;
    }
    case 2:
        (void)api::denial_from(body);
        break;
    case 3: {
        const deployment_request request = api::deployment_from(body);
        std::vector<const checkpoint*> steps;
        for (const auto& name : request.checkpoints.value_or(std::vector<std::string>{}))
            if (const checkpoint* step = shipped_catalog().find(name)) steps.push_back(step);
        if (steps.empty())
            for (const auto& step : checkpoints) steps.push_back(&step);
        check_deployment_extra_vars(steps, request.extra_vars);
        for (const checkpoint* step : steps) check_extra_vars_file(declared_extra_vars(*step, request.extra_vars));
        break;
    }
    case 4:
        (void)api::node_request_from(body);
        break;
    case 5:
        api::check_ticket_request(body);
        break;
    case 6:
        (void)api::job_submission_from(body);
        break;
    default: {
        const ray::application_request request = api::application_request_from(body);
        (void)json::serialize(ray::application_config(request, {}));
        (void)json::serialize(ray::application_config(request, {"fuzz_a", "fuzz_b"}));
        break;
    }
    }
}

}  // namespace

RAYDEPLOY_FUZZ_TARGET(request_bodies)
{
    if (size == 0) return 0;
    try {
        follow_route(data[0], api::parse_json_body(fuzz::as_text(data + 1, size - 1)));
    } catch (const api::api_error&) {
        // 400 or 422 naming the field: the answer a bad body gets.
    } catch (const engine_error&) {
        // The engine's refusal (422 naming the variable, 404 for an unknown checkpoint).
    }
    return 0;
}
