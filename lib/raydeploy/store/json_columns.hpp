// Column helpers shared by the stores: optional values and JSON documents kept as TEXT.
#pragma once

#include "raydeploy/store/sqlite.hpp"

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>

#include <optional>
#include <string>
#include <type_traits>

namespace raydeploy::sqlite {

// Binds NULL for an empty optional.
template <class T>
void bind_optional(statement& statement, int index, const std::optional<T>& value)
{
    if (!value) {
        statement.bind_null(index);
    } else if constexpr (std::is_integral_v<T>) {
        statement.bind(index, static_cast<std::int64_t>(*value));
    } else {
        statement.bind(index, std::string_view{*value});
    }
}

inline std::optional<std::string> optional_text_column(const statement& row, int index)
{
    if (row.column_is_null(index)) return std::nullopt;
    return row.column_text(index);
}

// A JSON object stored as text; an empty object for NULL, empty or damaged text (the stores
// write these columns themselves, so damage means a hand edit, not a reason to fail a read).
inline boost::json::object parse_object_column(const std::string& text)
{
    if (text.empty()) return {};
    boost::system::error_code ec;
    auto value = boost::json::parse(text, ec);
    return !ec && value.is_object() ? value.get_object() : boost::json::object{};
}

}  // namespace raydeploy::sqlite
