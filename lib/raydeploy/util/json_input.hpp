// Reading JSON that comes from outside: request bodies, the callback plugin's lines, Ray's and
// CML's answers.
//
// Boost.JSON 1.81 reads a number too large for a double (1e400, or an integer of 400 digits) as
// infinity, and its serializer writes infinity back as `Infinity`, which is not JSON. One such
// number would make every document it is copied into (a stored event, an answer of the API, an
// audit row) unreadable by every client. Outside JSON is therefore read with parse_outside_json,
// which refuses it with json::error::exponent_overflow, as a syntax error is refused.
#pragma once

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <string_view>

namespace raydeploy::util {

// Whether `value` holds, at any depth, a number that is not finite.
bool has_non_finite_number(const boost::json::value& value);

// boost::json::parse, and exponent_overflow for a document with a number too large for a double.
boost::json::value parse_outside_json(std::string_view text, boost::system::error_code& ec,
                                      boost::json::storage_ptr storage = {},
                                      const boost::json::parse_options& options = {});

}  // namespace raydeploy::util
