// What authenticating a request gives: who is calling, or why that is not known. The
// authenticator only decides; the transport turns a refusal into its answer (status, the error
// body, and `WWW-Authenticate` on a 401), so auth/ needs nothing of the HTTP layer above it.
#pragma once

#include "raydeploy/auth/identity.hpp"
#include "raydeploy/util/net.hpp"

#include <stdexcept>
#include <string>
#include <utility>
#include <variant>

namespace raydeploy {

// Why a request has no caller: 401 UNAUTHENTICATED (no credential, or one that is not valid), or
// 400 INVALID_PARAMETER (a token in the URL). `message` says what to do next and never quotes
// the credential; `details` are extra members of the error body ("parameter").
struct auth_refusal {
    http::status status = http::status::unauthorized;
    std::string code;
    std::string message;
    json::object details;
};

class auth_result {
public:
    auth_result(identity caller) : value_{std::move(caller)} {}
    auth_result(auth_refusal refusal) : value_{std::move(refusal)} {}

    bool authenticated() const { return std::holds_alternative<identity>(value_); }
    explicit operator bool() const { return authenticated(); }

    // Throws std::logic_error when called on the other kind of result.
    const identity& caller() const
    {
        if (const auto* who = std::get_if<identity>(&value_)) return *who;
        throw std::logic_error{"auth_result::caller() on a refused request"};
    }
    const auth_refusal& refusal() const
    {
        if (const auto* why = std::get_if<auth_refusal>(&value_)) return *why;
        throw std::logic_error{"auth_result::refusal() on an authenticated request"};
    }

private:
    std::variant<identity, auth_refusal> value_;
};

}  // namespace raydeploy
