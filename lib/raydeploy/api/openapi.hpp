// The OpenAPI document, compiled into the binary from openapi/openapi.yaml.
#pragma once

#include <string_view>

namespace raydeploy::embedded {
std::string_view openapi_yaml();
}
