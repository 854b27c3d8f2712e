// The outbound HTTP(S) client: raydeploy calling other services (the Ray dashboard, monitoring
// endpoints) and the CLI calling raydeploy.
//
// One http_client serves one purpose ("the Ray dashboard") with one set of options. It runs on the
// caller's executor, keeps idle connections per scheme://host:port for reuse, verifies TLS
// certificates and host names unless told otherwise, bounds every attempt by a deadline and every
// answer by a size limit, and retries idempotent requests on failures a retry can cure.
//
// Outcomes:
//   - any HTTP answer, 2xx or not, is a client_response (callers need the status and the text);
//   - no usable answer is a client_error whose kind says why and whose message names the method
//     and the URL (without its query, which may carry secrets) and says what to check next;
//   - an invalid target URL (scheme other than http/https, user info, no host) is a config_error.
// The bearer token is sent as a header and never appears in errors or logs.
//
// @par Thread safety
// Distinct objects: safe. Shared objects: unsafe. Every member function, cancel() included, must
// be called on the client's executor, which must not run handlers concurrently (an io_context run
// by one thread, or a strand).
#pragma once

#include "raydeploy/util/net.hpp"

#include <boost/url/url_view.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace raydeploy::web {

namespace detail {
struct client_state;
}

enum class client_error_kind {
    unreachable,  // resolving, connecting or the connection lost before the answer was complete
    timeout,      // the attempt's deadline passed
    tls,          // the TLS handshake failed: certificate chain, host name, protocol
    too_large,    // the answer's body exceeds client_options::body_limit
    protocol,     // the peer's answer is not valid HTTP/1.1
    cancelled,    // http_client::cancel() was called
};

std::string_view to_string(client_error_kind kind);

class client_error : public std::runtime_error {
public:
    // `step` is what the client was doing ("connecting", "TLS handshake", "reading the answer"...);
    // `cause` is the system's or OpenSSL's reason, or "".
    client_error(client_error_kind kind, const std::string& message, std::string step = {}, std::string cause = {});

    client_error_kind kind() const noexcept { return kind_; }
    const std::string& step() const noexcept { return step_; }
    const std::string& cause() const noexcept { return cause_; }

private:
    client_error_kind kind_;
    std::string step_;
    std::string cause_;
};

struct retry_policy {
    // Attempts per request, the first included; 1 never retries.
    unsigned max_attempts = 3;
    // Full jitter: the wait before attempt n+1 is uniform in [0, min(max_delay, base_delay * 2^(n-1))).
    std::chrono::milliseconds base_delay{200};
    std::chrono::milliseconds max_delay{5000};
    // The longest Retry-After (429, 503) honoured; a longer one is cut to this.
    std::chrono::milliseconds max_retry_after{5000};
    // Uniform in [0, 1); empty: a private random generator. Tests inject a fixed value.
    std::function<double()> jitter;
};

// The wait before the attempt that follows `failed_attempts` failures (1 for the first retry), for
// `jitter` in [0, 1).
std::chrono::milliseconds retry_delay(const retry_policy& policy, unsigned failed_attempts, double jitter);
// The policy's jitter, or a draw from a generator of the calling thread.
double draw_jitter(const retry_policy& policy);

struct client_options {
    // What the client talks to, as a noun for messages ("the Ray dashboard"), and the settings a
    // user changes when it fails ("ray.dashboard_url", "ray.ca_file"); "" leaves the hint out.
    std::string purpose = "the server";
    std::string url_setting;
    std::string ca_setting;

    // Bounds one attempt: resolve, connect, TLS handshake, sending the request and reading the whole
    // answer (only its header for stream()). A request takes at most max_attempts deadlines plus the
    // waits between them.
    std::chrono::milliseconds request_timeout{std::chrono::seconds{5}};
    // Bounds resolve + connect + TLS handshake within the attempt's deadline.
    std::chrono::milliseconds connect_timeout{std::chrono::seconds{5}};
    // A bigger body fails with too_large as soon as it is known (Content-Length) or read, and the
    // connection is closed: it is never buffered whole.
    std::uint64_t body_limit = std::uint64_t{8} * 1024 * 1024;

    std::optional<std::string> bearer_token;  // sent as `Authorization: Bearer TOKEN`
    std::optional<std::filesystem::path> ca_file;  // PEM; none: the system's trusted CAs
    // Accept any certificate for any name. The constructor logs a warning naming `purpose`.
    bool tls_insecure = false;

    std::string user_agent;  // "": raydeploy/VERSION
    std::string accept = "application/json";
    retry_policy retry;

    // Idle keep-alive connections kept per scheme://host:port, and how long one stays usable.
    std::size_t max_idle_per_host = 4;
    std::chrono::milliseconds idle_timeout{std::chrono::seconds{30}};
};

struct client_response {
    unsigned status = 0;
    std::string content_type;
    // Retry-After (seconds or an HTTP date) as a delay from now, when the answer carried one.
    std::optional<std::chrono::seconds> retry_after;
    std::string body;  // empty for a 2xx answer of stream(): its body went to the sink

    bool success() const { return status >= 200 && status < 300; }
};

// A request body and its media type; the Content-Type is sent even when `data` is empty (some
// services refuse a POST without one).
struct request_body {
    std::string content_type = "application/json";
    std::string data;
};

class http_client {
public:
    // Throws config_error, naming options.ca_setting, when the CA file cannot be loaded.
    http_client(net::any_io_executor executor, client_options options);
    // Cancels what is in flight (see cancel()).
    ~http_client();
    http_client(const http_client&) = delete;
    http_client& operator=(const http_client&) = delete;

    const client_options& options() const;

    // Sends `method` to `url` (http:// or https://) and reads the whole answer. GET, HEAD, PUT,
    // DELETE and OPTIONS are retried after connection failures, timeouts, 502, 503, 504 and 429
    // (waiting for Retry-After when given); other methods are sent once. An idle connection that
    // turns out closed by the server is replaced transparently when no byte of the answer arrived
    // (for other methods only when sending failed, so a request is never processed twice).
    net::awaitable<client_response> request(http::verb method, boost::urls::url_view url,
                                            std::optional<request_body> body = std::nullopt);
    net::awaitable<client_response> get(boost::urls::url_view url) { return request(http::verb::get, url); }

    // As request(), but a 2xx answer's body is handed to `sink` piece by piece as it arrives (chunked
    // or not) until it ends, with no deadline and no size limit once the header arrived: a followed
    // log may stay silent for as long as a task runs (TCP keep-alive probes notice a peer that went
    // away, within about a minute). Other answers are read whole into `body`, within the limits.
    // Once the sink received data the request is no longer retried.
    net::awaitable<client_response> stream(http::verb method, boost::urls::url_view url,
                                           std::function<void(std::string_view)> sink,
                                           std::optional<request_body> body = std::nullopt);

    // Aborts every request in flight (they fail with `cancelled` promptly) and closes the idle
    // connections. Later requests fail with `cancelled` at once. Idempotent.
    void cancel();

private:
    // Shared with the operations in flight, so destroying the client while they finish is safe.
    std::shared_ptr<detail::client_state> state_;
};

}  // namespace raydeploy::web
