// openapi/openapi.yaml and the route table describe the same API, both ways.
#include "raydeploy/api/openapi.hpp"
#include "raydeploy/api/routes.hpp"

#include <boost/test/unit_test.hpp>
#include <yaml-cpp/yaml.h>

#include <fstream>
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

BOOST_AUTO_TEST_CASE(binary_serves_the_file_in_the_repository)
{
    std::ifstream in{spec_file};
    std::stringstream text;
    text << in.rdbuf();
    BOOST_TEST(embedded::openapi_yaml() == text.str());
}

BOOST_AUTO_TEST_SUITE_END()
