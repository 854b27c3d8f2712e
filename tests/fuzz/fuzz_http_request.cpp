// One HTTP request as the server reads it from a connection, with its size limits, and answers
// it up to the handler: Host and Origin checks, Content-Type, the bearer token, the route table
// of the service (path parameters percent-decoded, 404 and 405), the query. The handlers are
// stand-ins that read every path and query parameter they were given and echo them; the bodies
// and what the real handlers check have their own target (request_bodies).
#include "fuzz/fuzz_target.hpp"

#include "raydeploy/api/routes.hpp"
#include "raydeploy/auth/tokens.hpp"
#include "raydeploy/http/server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/serialize.hpp>

#include <sstream>

namespace json = boost::json;
using namespace raydeploy;

namespace {

// The token the seed corpus's requests carry; its holder is an operator.
constexpr std::string_view operator_token = "rdt_fuzz_operator_token_0123456789abcdef";

net::awaitable<web::response> echo_request(web::request_context& ctx)
{
    json::object params;
    for (const auto& [name, value] : ctx.path_params) params[name] = value;
    json::object query;
    for (const auto& param : ctx.target.params()) query[param.key] = ctx.query(param.key).value_or("");
    web::response res{http::status::ok, ctx.req.version()};
    res.set(http::field::content_type, "application/json");
    res.body() = json::serialize(json::object{{"caller", ctx.caller.name}, {"path", std::move(params)}, {"query", std::move(query)}});
    res.prepare_payload();
    co_return res;
}

// The service's route table with every handler replaced by echo_request.
web::router echoing_routes()
{
    auto state = std::make_shared<api::service_state>(load_catalog(RAYDEPLOY_SOURCE_DIR "/playbooks/checkpoints.yaml"));
    const web::router service_routes = api::make_router(state);
    web::router routes;
    for (const web::route& served : service_routes.routes()) {
        if (served.websocket)
            routes.add_websocket(served.pattern, *served.access, echo_request);
        else
            routes.add(served.method, served.pattern, served.access, echo_request, served.audit_action);
    }
    const auto authenticator = std::make_shared<token_authenticator>(
        std::vector<token_entry>{{"fuzz", role::operator_, sha256_hex(operator_token), ""}}, state->tickets);
    routes.set_authenticator([authenticator](const web::request& req, bool websocket_handshake) {
        return authenticator->authenticate(req, websocket_handshake);
    });
    routes.on_refused([](const web::request_context&, const web::route&, const web::refusal&) {});
    return routes;
}

struct served {
    net::io_context io;
    http_settings limits;
    std::shared_ptr<web::http_server> server;

    served()
    {
        web::browser_policy browsers = web::browser_policy::from_settings(false, {"raydeploy.example"},
                                                                          {"https://ui.raydeploy.example"});
        server = web::http_server::create(io.get_executor(), echoing_routes(), limits, listen_address{"127.0.0.1", 0},
                                          std::move(browsers));
    }
};

}  // namespace

RAYDEPLOY_FUZZ_TARGET(http_request)
{
    static served service;
    // The server's reading of a request (server.cpp): a header limit, a body limit, everything
    // the connection delivered at once.
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(service.limits.header_limit));
    parser.body_limit(service.limits.body_limit);
    parser.eager(true);
    boost::system::error_code ec;
    net::const_buffer input{data, size};
    while (input.size() > 0 && !parser.is_done()) {
        const std::size_t used = parser.put(input, ec);
        if (ec == http::error::need_more) break;
        if (ec) return 0;  // the server answers 400/413/431 from the parse error alone
        if (used == 0) break;
        input += used;
    }
    if (!parser.is_done()) return 0;

    const tcp::endpoint remote{net::ip::make_address("127.0.0.1"), 40000};
    bool answered = false;
    net::co_spawn(service.io, service.server->handle(parser.get(), remote),
                  [&answered](std::exception_ptr error, web::http_server::outcome answer) {
                      if (error) std::rethrow_exception(error);
                      // What the connection would write.
                      std::ostringstream written;
                      written << answer.res;
                      answered = true;
                  });
    service.io.restart();
    service.io.run();
    if (!answered) std::abort();
    return 0;
}
