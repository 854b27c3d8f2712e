// openapi/openapi.yaml and the route table describe the same API, both ways.
#include "raydeploy/api/openapi.hpp"
#include "raydeploy/api/routes.hpp"

#include <boost/test/unit_test.hpp>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

using namespace raydeploy;

namespace {

const std::filesystem::path spec_file = std::filesystem::path{RAYDEPLOY_SOURCE_DIR} / "openapi/openapi.yaml";

std::set<std::string> spec_operations()
{
    const YAML::Node spec = YAML::LoadFile(spec_file.string());
    std::set<std::string> operations;
    for (const auto& path : spec["paths"]) {
        for (const auto& item : path.second) {
            std::string method = item.first.as<std::string>();
            if (method == "parameters" || method == "summary" || method == "description") continue;
            for (auto& c : method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
            operations.insert(method + " " + path.first.as<std::string>());
        }
    }
    return operations;
}

std::set<std::string> served_operations()
{
    auto state = std::make_shared<api::service_state>(
        load_catalog(std::filesystem::path{RAYDEPLOY_SOURCE_DIR} / "playbooks/checkpoints.yaml"));
    std::set<std::string> operations;
    const web::router routes = api::make_router(state);
    for (const auto& route : routes.routes())
        operations.insert(std::string{http::to_string(route.method)} + " " + route.pattern);
    return operations;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(openapi_conformance)

BOOST_AUTO_TEST_CASE(every_route_is_documented_and_every_documented_route_exists)
{
    const auto documented = spec_operations();
    const auto served = served_operations();
    BOOST_TEST(!served.empty());
    for (const auto& operation : served)
        BOOST_TEST_CONTEXT("served but missing from openapi.yaml") { BOOST_TEST(documented.count(operation) == 1u, operation); }
    for (const auto& operation : documented)
        BOOST_TEST_CONTEXT("documented but not served") { BOOST_TEST(served.count(operation) == 1u, operation); }
}

BOOST_AUTO_TEST_CASE(spec_declares_openapi_3_1_and_an_operation_id_per_operation)
{
    const YAML::Node spec = YAML::LoadFile(spec_file.string());
    BOOST_TEST(spec["openapi"].as<std::string>().rfind("3.1", 0) == 0u);
    std::set<std::string> ids;
    for (const auto& path : spec["paths"])
        for (const auto& item : path.second)
            if (item.second.IsMap() && item.second["responses"]) {
                BOOST_TEST_REQUIRE(item.second["operationId"].IsDefined(), path.first.as<std::string>());
                BOOST_TEST(ids.insert(item.second["operationId"].as<std::string>()).second);
            }
}

BOOST_AUTO_TEST_CASE(each_operation_names_the_least_role_its_route_requires)
{
    const YAML::Node spec = YAML::LoadFile(spec_file.string());
    auto state = std::make_shared<api::service_state>(
        load_catalog(std::filesystem::path{RAYDEPLOY_SOURCE_DIR} / "playbooks/checkpoints.yaml"));
    const api::router routes = api::make_router(state);
    for (const auto& route : routes.routes()) {
        std::string method{http::to_string(route.method)};
        for (auto& c : method) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        const YAML::Node operation = spec["paths"][route.pattern][method];
        BOOST_TEST_CONTEXT(method << " " << route.pattern)
        {
            BOOST_TEST_REQUIRE(operation.IsDefined());
            if (!route.access) {
                BOOST_TEST(!operation["x-required-role"].IsDefined());
                BOOST_TEST((operation["security"].IsSequence() && operation["security"].size() == 0u));
            } else {
                BOOST_TEST_REQUIRE(operation["x-required-role"].IsDefined());
                BOOST_TEST(operation["x-required-role"].as<std::string>() == std::string{to_string(*route.access)});
            }
        }
    }
}

namespace {

// The node at a JSON pointer's rest ("components/schemas/Cursor"). Only ever initializes new
// handles: assigning one yaml-cpp node to another would write into the document.
YAML::Node at_pointer(const YAML::Node& node, std::string_view rest)
{
    if (rest.empty()) return node;
    const auto slash = rest.find('/');
    const YAML::Node child = node[std::string{rest.substr(0, slash)}];
    BOOST_TEST_REQUIRE(child.IsDefined(), "no " << rest);
    return at_pointer(child, slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1));
}

// `node`, or what its $ref ("#/components/...") points at in `spec`.
YAML::Node resolved(const YAML::Node& spec, const YAML::Node& node)
{
    if (!node.IsMap() || !node["$ref"]) return node;
    const std::string ref = node["$ref"].as<std::string>();
    BOOST_TEST_REQUIRE(ref.rfind("#/", 0) == 0u, ref);
    return at_pointer(spec, std::string_view{ref}.substr(2));
}

struct documented_operation {
    YAML::Node operation;
    std::set<std::string> parameters;  // names, of the path item's and the operation's parameters
};

std::map<std::string, documented_operation> operations_by_id(const YAML::Node& spec)
{
    std::map<std::string, documented_operation> found;
    for (const auto& path : spec["paths"]) {
        std::set<std::string> shared;
        for (const auto& parameter : path.second["parameters"])
            shared.insert(resolved(spec, parameter)["name"].as<std::string>());
        for (const auto& item : path.second) {
            if (!item.second.IsMap() || !item.second["operationId"]) continue;
            documented_operation operation{item.second, shared};
            for (const auto& parameter : item.second["parameters"])
                operation.parameters.insert(resolved(spec, parameter)["name"].as<std::string>());
            found.emplace(item.second["operationId"].as<std::string>(), std::move(operation));
        }
    }
    return found;
}

}  // namespace

BOOST_AUTO_TEST_CASE(every_link_leads_to_an_operation_with_the_parameters_it_fills)
{
    // Stateful clients (schemathesis, tests/contract/) follow these; a renamed operation or
    // parameter would silently cut the chain.
    const YAML::Node spec = YAML::LoadFile(spec_file.string());
    const auto operations = operations_by_id(spec);
    std::size_t links = 0;
    for (const auto& [id, from] : operations) {
        for (const auto& response : from.operation["responses"]) {
            for (const auto& link : resolved(spec, response.second)["links"]) {
                const YAML::Node target = resolved(spec, link.second);
                BOOST_TEST_CONTEXT(id << " " << response.first.as<std::string>() << " -> " << link.first.as<std::string>())
                {
                    ++links;
                    const auto to = operations.find(target["operationId"].as<std::string>());
                    BOOST_TEST_REQUIRE((to != operations.end()), "no operation " << target["operationId"]);
                    for (const auto& parameter : target["parameters"])
                        BOOST_TEST(to->second.parameters.count(parameter.first.as<std::string>()) == 1u,
                                   parameter.first.as<std::string>());
                    if (target["requestBody"]) BOOST_TEST(to->second.operation["requestBody"].IsDefined());
                }
            }
        }
    }
    BOOST_TEST(links >= 30u, "only " << links << " links");
}

BOOST_AUTO_TEST_CASE(cursors_and_counters_are_bounded_as_the_service_checks_them)
{
    // A client (or a fuzzer) reading the document must not find a value the service refuses:
    // cursors are query_cursor's digits, integer parameters have both ends.
    const YAML::Node spec = YAML::LoadFile(spec_file.string());
    BOOST_TEST(spec["components"]["schemas"]["Cursor"]["pattern"].as<std::string>() == "^[1-9][0-9]{0,17}$");
    std::size_t cursors = 0;
    for (const auto& [id, operation] : operations_by_id(spec)) {
        for (const auto& node : operation.operation["parameters"]) {
            const YAML::Node parameter = resolved(spec, node);
            const YAML::Node schema = parameter["schema"];
            BOOST_TEST_CONTEXT(id << " ?" << parameter["name"].as<std::string>())
            {
                if (parameter["name"].as<std::string>() == "cursor") {
                    ++cursors;
                    BOOST_TEST(schema["$ref"].as<std::string>("") == "#/components/schemas/Cursor");
                }
                if (schema["type"] && schema["type"].IsScalar() && schema["type"].as<std::string>() == "integer") {
                    BOOST_TEST(schema["minimum"].IsDefined());
                    BOOST_TEST(schema["maximum"].IsDefined());
                }
            }
        }
    }
    BOOST_TEST(cursors == 3u);  // executions, deployments, audit
}

BOOST_AUTO_TEST_CASE(binary_serves_the_file_in_the_repository)
{
    std::ifstream in{spec_file};
    std::stringstream text;
    text << in.rdbuf();
    BOOST_TEST(embedded::openapi_yaml() == text.str());
}

BOOST_AUTO_TEST_SUITE_END()
