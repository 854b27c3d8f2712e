// Refusals of the engine (executions, approvals, deployments). The engine says what kind of
// refusal it is and gives the API's error code; the HTTP layer maps the kind to a status in one
// place (api/request_helpers.cpp), so the engine stays free of HTTP.
#pragma once

#include "raydeploy/catalog/catalog.hpp"

#include <boost/json/object.hpp>

#include <stdexcept>
#include <string>

namespace raydeploy {

class engine_error : public std::runtime_error {
public:
    enum class kind {
        not_found,  // 404: the named checkpoint, execution, deployment or approval does not exist
        conflict,   // 409: the request does not fit the current state (already running, nothing to resume...)
        forbidden,  // 403: the caller may not do this (four-eyes rule, role too low for an option)
        invalid,    // 422: a field of the request is wrong; details carry "field"
    };

    // `code` is the API's error code (CHECKPOINT_NOT_FOUND, ALREADY_RUNNING...); `details` are
    // extra members of the error body.
    engine_error(kind what, std::string code, const std::string& message, boost::json::object details = {})
        : std::runtime_error{message}, kind_{what}, code_{std::move(code)}, details_{std::move(details)}
    {
    }
    // 422 VALIDATION_ERROR naming the field of the request that is wrong.
    static engine_error invalid_field(std::string_view field, const std::string& message)
    {
        return engine_error{kind::invalid, "VALIDATION_ERROR", std::string{field} + ": " + message,
                            {{"field", field}}};
    }

    kind which() const { return kind_; }
    const std::string& code() const { return code_; }
    const boost::json::object& details() const { return details_; }

private:
    kind kind_;
    std::string code_;
    boost::json::object details_;
};

// The catalog's checkpoint named `name`; engine_error 404 CHECKPOINT_NOT_FOUND when there is none.
inline const checkpoint& find_checkpoint(const checkpoint_catalog& catalog, const std::string& name)
{
    if (const checkpoint* item = catalog.find(name)) return *item;
    throw engine_error{engine_error::kind::not_found, "CHECKPOINT_NOT_FOUND",
                       "no checkpoint named '" + name + "'; GET /api/v1/checkpoints lists them"};
}

}  // namespace raydeploy
