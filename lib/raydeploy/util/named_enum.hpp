// Enums whose values have names in the API and the store (statuses, states): one table of names
// per enum, in the enum's order, read both ways by these two functions.
#pragma once

#include <array>
#include <boost/json/value.hpp>
#include <cstddef>
#include <optional>
#include <string_view>

namespace raydeploy {

template <class Enum, std::size_t N>
std::string_view enum_name(const std::array<std::string_view, N>& names, Enum value)
{
    return names[static_cast<std::size_t>(value)];
}

template <class Enum, std::size_t N>
std::optional<Enum> enum_from_name(const std::array<std::string_view, N>& names, std::string_view text)
{
    for (std::size_t i = 0; i < N; ++i)
        if (names[i] == text) return static_cast<Enum>(i);
    return std::nullopt;
}

// An optional field as JSON: its value, or null.
template <class T>
boost::json::value json_or_null(const std::optional<T>& value)
{
    return value ? boost::json::value(*value) : boost::json::value(nullptr);
}

}  // namespace raydeploy
