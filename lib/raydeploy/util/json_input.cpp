#include "raydeploy/util/json_input.hpp"

#include <boost/json/error.hpp>

#include <cmath>
#include <vector>

namespace raydeploy::util {

bool has_non_finite_number(const boost::json::value& value)
{
    // Iterative: the depth is bounded by the parser, but not by this function's caller.
    std::vector<const boost::json::value*> pending{&value};
    while (!pending.empty()) {
        const boost::json::value* item = pending.back();
        pending.pop_back();
        if (item->is_double()) {
            if (!std::isfinite(item->get_double())) return true;
        } else if (const auto* object = item->if_object()) {
            for (const auto& member : *object) pending.push_back(&member.value());
        } else if (const auto* array = item->if_array()) {
            for (const auto& element : *array) pending.push_back(&element);
        }
    }
    return false;
}

boost::json::value parse_outside_json(std::string_view text, boost::system::error_code& ec,
                                      boost::json::storage_ptr storage, const boost::json::parse_options& options)
{
    boost::json::value parsed = boost::json::parse(text, ec, std::move(storage), options);
    if (!ec && has_non_finite_number(parsed)) {
        ec = boost::json::error::exponent_overflow;
        return nullptr;
    }
    return parsed;
}

}  // namespace raydeploy::util
