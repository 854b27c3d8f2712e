// Namespace aliases shared by the whole code base, so no header needs `using namespace`.
#pragma once

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

namespace raydeploy {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace json = boost::json;
using tcp = boost::asio::ip::tcp;

// Completion token for operations whose errors are expected outcomes (end of stream, timeout,
// cancellation) and are handled as values where they occur. Boost 1.81 has no partial tokens.
inline constexpr auto nothrow_awaitable = net::as_tuple(net::use_awaitable);

}  // namespace raydeploy
