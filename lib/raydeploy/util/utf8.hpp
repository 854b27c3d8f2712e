// Text that reaches a JSON answer from bytes nobody checked (percent-decoded URL paths and query
// values, header values): Boost.JSON writes a string's bytes as they are, so a byte that is not
// UTF-8 would make the whole answer invalid JSON.
#pragma once

#include <string>
#include <string_view>

namespace raydeploy {

// Whether `text` is well-formed UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF).
bool is_utf8(std::string_view text);

// `text` with every byte that is not part of a well-formed UTF-8 sequence written as %XX (upper
// case hex), the way it came in the URL; well-formed text comes back unchanged.
std::string percent_encode_invalid_utf8(std::string_view text);

// How many code points `text` has, counting each byte that is not part of a well-formed sequence
// as one (what JSON Schema's maxLength counts for valid text).
std::size_t utf8_length(std::string_view text);

}  // namespace raydeploy
