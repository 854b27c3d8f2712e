// A small synchronous client of the raydeploy REST API, for the CLI's client commands.
//
// Each call runs the outbound client (http/client.hpp) on the object's own io_context to
// completion, bounded by deadlines, so a command never hangs on a service that stopped answering;
// connections are kept alive from one call to the next. Requests are not retried. Failures come out as
// three exception types the commands map to exit codes in one place:
//   service_unreachable   cannot connect, connection lost, or no answer in time   (exit 5)
//   authentication_error  401 or 403, with the service's message                  (exit 5)
//   service_error         any other answer the command did not expect            (exit 1 or 2)
//
// @par Thread safety
// Distinct objects: safe. Shared objects: unsafe (calls are meant to come from one thread).
#pragma once

#include <boost/beast/http/verb.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace boost::asio {
class io_context;
}

namespace raydeploy::web {
class http_client;
}

namespace raydeploy::cli {

// Where the service is: http[s]://HOST[:PORT][/PREFIX]. PREFIX is for a service behind a reverse
// proxy at a sub-path; API paths are appended to it.
struct server_url {
    std::string host;
    std::string port = "80";
    std::string prefix;  // "" or "/something", never a trailing '/'
    bool tls = false;    // https://: the certificate chain and host name are verified

    // "http://HOST:PORT/PREFIX", as printed in messages and in the curl commands the CLI suggests.
    std::string text() const;
    // 127.0.0.0/8, ::1 or "localhost": traffic that never leaves the machine.
    bool is_loopback() const;
};

// Parses --server / RAYDEPLOY_SERVER. Throws config_error saying what is wrong.
server_url parse_server_url(std::string_view text);

// Which CA certificates an https:// server's chain must lead to.
struct client_tls {
    std::optional<std::filesystem::path> ca_file;  // none: the system's trusted CAs
    std::string ca_source = "--ca-file";           // how the user gave ca_file, for error messages
};

// The service could not be reached or stopped answering. `what()` names the URL and says what to check.
class service_unreachable : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// 401 (no or unknown token) or 403 (role too low, four-eyes rule). `what()` carries the
// service's message and what to do about it.
class authentication_error : public std::runtime_error {
public:
    authentication_error(unsigned status, std::string code, const std::string& message);
    unsigned status() const { return status_; }
    const std::string& code() const { return code_; }

private:
    unsigned status_;
    std::string code_;
};

// An answer a command did not expect: a JSON error such as 404 CHECKPOINT_NOT_FOUND or 409
// ALREADY_RUNNING, or a 5xx. `what()` is ready to print.
class service_error : public std::runtime_error {
public:
    service_error(unsigned status, std::string code, const std::string& message, boost::json::value body = nullptr);
    unsigned status() const { return status_; }
    // The error's machine-readable code ("CHECKPOINT_NOT_FOUND"), or "" when the body had none.
    const std::string& code() const { return code_; }
    // The parsed body when it was JSON, else null.
    const boost::json::value& body() const { return body_; }

private:
    unsigned status_;
    std::string code_;
    boost::json::value body_;
};

struct api_response {
    unsigned status = 0;
    std::string body;
    std::string content_type;

    bool success() const { return status >= 200 && status < 300; }
    // The body as JSON; throws service_error when it is not JSON.
    boost::json::value json() const;
    // The `error` code of a JSON error body, or "".
    std::string error_code() const;
};

struct client_timeouts {
    std::chrono::milliseconds connect{std::chrono::seconds{10}};
    // From sending the request to the end of the response (the header only, for stream()).
    std::chrono::milliseconds request{std::chrono::seconds{30}};
};

class api_client {
public:
    // Throws config_error, before any connection, when a token would go over plain http:// to a
    // non-loopback address (anyone on the path could read it), or when the CA file cannot be loaded.
    api_client(server_url server, std::optional<std::string> token, client_timeouts timeouts = {},
               const client_tls& tls = {});
    ~api_client();
    api_client(api_client&&) noexcept;
    api_client& operator=(api_client&&) noexcept;

    const server_url& server() const { return server_; }
    bool has_token() const { return token_.has_value(); }

    // Sends one request (`target` is an absolute API path such as "/api/v1/executions?limit=1";
    // `body`, when given, goes as application/json) and returns the answer whatever its status,
    // except: 401/403 throw authentication_error, network failures and timeouts throw
    // service_unreachable.
    api_response request(boost::beast::http::verb method, std::string_view target,
                         const boost::json::value* body = nullptr) const;

    // GET that must answer 200 with JSON; anything else throws service_error.
    boost::json::value get_json(std::string_view target) const;
    // A request with a JSON body that must answer `expected`; returns the JSON answer.
    boost::json::value send_json(boost::beast::http::verb method, std::string_view target, const boost::json::value& body,
                                 unsigned expected) const;

    // GET whose body is handed to `sink` piece by piece as it arrives (chunked or not), until the
    // response ends. A non-2xx answer throws as request() and service_error would.
    // There is no deadline on the body: a followed log may stay silent for as long as a task
    // runs. TCP keep-alive probes detect a peer that went away instead (about a minute).
    void stream(std::string_view target, const std::function<void(std::string_view)>& sink) const;

private:
    server_url server_;
    std::optional<std::string> token_;
    client_timeouts timeouts_;
    // The client's sockets belong to io_, so io_ is declared first and destroyed last.
    std::unique_ptr<boost::asio::io_context> io_;
    std::unique_ptr<web::http_client> http_;
};

// Throws service_error describing an answer the caller did not expect: "METHOD TARGET answered
// STATUS CODE: MESSAGE".
[[noreturn]] void throw_unexpected(const api_response& response, std::string_view what);

// Percent-encodes a query parameter value.
std::string url_encode(std::string_view value);

}  // namespace raydeploy::cli
