// The CML (Cloudera AI) API v2 client the CML checkpoint kinds use: one coroutine per API call on
// the caller's executor, over web::http_client (TLS verified against cml.ca_file unless
// cml.tls_insecure, each attempt bounded by cml.request_timeout), with the key of cml.api_key as
// `Authorization: Bearer KEY`.
//
// Retries (with exponential backoff and full jitter, Retry-After honoured up to a cap):
//   - 429 and 5xx other than 501, timeouts and connection failures are retried, up to
//     cml_client_options::retry.max_attempts; other 4xx never are;
//   - requests that change nothing or set a state (GET, PATCH, DELETE, :stop, :restart) are simply
//     sent again;
//   - a POST that creates something (a project, a job, a job run, an application) is sent again at
//     once only when CML cannot have acted on it: the connection was never made, or the answer was
//     429 or 503. After an ambiguous failure (a timeout or a lost connection once the request was
//     sent, or 500, 502, 504) the client first looks for what the lost request would have created
//     (the project by exact name, the job by name, the application by subdomain, an active run of
//     the job) and returns it when found, so a retry never creates a second one. That look waits at
//     least cml.request_timeout, so a request CML is still carrying out has as long again to finish;
//     one that takes longer than that can still end in a duplicate (CML has no idempotency keys).
//
// Errors are cml_error: the message names the request (method and path, never the query or the
// key), carries CML's own message from its error envelope, and says what to do. 401 and 403 name
// the key setting (RAYDEPLOY_CML_API_KEY / cml.api_key_file). The key never appears in any message:
// the client also scrubs it from CML's text.
//
// @par Thread safety
// As web::http_client: every call, cancel() included, on the client's executor, which must not run
// handlers concurrently. Calls may overlap (several coroutines share one client). Destroy the
// client only once no call is in flight (cancel() ends them promptly).
#pragma once

#include "raydeploy/cml/cml_api.hpp"
#include "raydeploy/config/settings.hpp"
#include "raydeploy/http/client.hpp"
#include "raydeploy/util/net.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace raydeploy::cml {

enum class cml_error_kind {
    unavailable,   // no usable answer after the retries: unreachable, timeouts, 429/5xx throughout, TLS
    unauthorized,  // 401 or 403: the key is wrong, expired or lacks the permission
    not_found,     // 404: the project, job, run or application does not exist (or not for this key)
    rejected,      // another 4xx: CML refused the request as it stands (400, 409...)
    bad_answer,    // a 2xx answer that is not API v2's (not JSON, wrong types); a list that repeats its page token
    cancelled,     // cml_client::cancel()
};

std::string_view to_string(cml_error_kind kind);

class cml_error : public std::runtime_error {
public:
    cml_error(cml_error_kind kind, const std::string& message, unsigned http_status = 0, std::int64_t code = 0,
              std::string cml_message = {});

    cml_error_kind kind() const noexcept { return kind_; }
    unsigned http_status() const noexcept { return http_status_; }  // 0: no HTTP answer
    std::int64_t code() const noexcept { return code_; }            // the envelope's gRPC code, 0 when none
    const std::string& cml_message() const noexcept { return cml_message_; }  // CML's own words, "" when none

private:
    cml_error_kind kind_;
    unsigned http_status_;
    std::int64_t code_;
    std::string cml_message_;
};

struct cml_client_options {
    // Attempts per call, the first included, and the waits between them (web::retry_delay: full
    // jitter under base_delay * 2^(n-1), capped at max_delay; Retry-After up to max_retry_after).
    web::retry_policy retry{5, std::chrono::milliseconds{1000}, std::chrono::milliseconds{15000},
                            std::chrono::milliseconds{30000}, {}};
    // Items asked per list page; CML clamps it to its own maximum (unverified) and the client
    // follows next_page_token either way.
    std::uint32_t page_size = 100;
    // A list longer than this many pages is refused as a runaway (a token that never ends).
    std::uint32_t max_pages = 1000;
};

class cml_client {
public:
    // Throws config_error when CML is not configured (cml.host empty), the key is missing, or
    // cml.ca_file cannot be loaded. Logs a warning when cml.tls_insecure is set.
    cml_client(net::any_io_executor executor, const cml_settings& settings, cml_client_options options = {});
    ~cml_client();
    cml_client(const cml_client&) = delete;
    cml_client& operator=(const cml_client&) = delete;

    // Projects. search_filter matches substrings, case-sensitively, so find_project lists what
    // matches and keeps the exact name (every page, next_page_token followed); nullopt when none.
    // Two projects of that exact name visible to the key (another owner's shared with its user) is
    // `rejected`, naming their owners.
    net::awaitable<std::optional<project>> find_project(std::string_view name);
    net::awaitable<std::vector<project>> list_projects(std::string_view name_contains = {});
    net::awaitable<project> create_project(const project_request& request);
    net::awaitable<project> get_project(std::string_view project_id);

    // Jobs and their runs.
    net::awaitable<std::vector<job>> list_jobs(std::string_view project_id);
    net::awaitable<job> create_job(std::string_view project_id, const job_request& spec);
    // PATCHes every field of `spec` (job_patch_body).
    net::awaitable<job> patch_job(std::string_view project_id, std::string_view job_id, const job_request& spec);
    net::awaitable<job_run> start_run(std::string_view project_id, std::string_view job_id,
                                      const run_request& request = {});
    net::awaitable<job_run> get_run(std::string_view project_id, std::string_view job_id, std::string_view run_id);
    // Newest first (sort=-created_at), at most `limit` runs.
    net::awaitable<std::vector<job_run>> list_runs(std::string_view project_id, std::string_view job_id,
                                                   std::size_t limit = 100);
    net::awaitable<job_run> stop_run(std::string_view project_id, std::string_view job_id, std::string_view run_id);

    // Applications. Creating one starts it.
    net::awaitable<std::vector<application>> list_applications(std::string_view project_id);
    net::awaitable<application> create_application(std::string_view project_id, const application_spec& spec);
    net::awaitable<application> get_application(std::string_view project_id, std::string_view application_id);
    net::awaitable<application> patch_application(std::string_view project_id, std::string_view application_id,
                                                  const application_spec& spec);
    net::awaitable<application> stop_application(std::string_view project_id, std::string_view application_id);
    // Starts a stopped or failed application, or restarts a running one with its current spec.
    net::awaitable<application> restart_application(std::string_view project_id, std::string_view application_id);
    // False when the application was already gone (404).
    net::awaitable<bool> delete_application(std::string_view project_id, std::string_view application_id);

    // Aborts the calls in flight and the waits between retries; they fail with `cancelled`, and so
    // do later calls. Idempotent.
    void cancel();

private:
    // One API call as send() makes it. Built as a named value by each caller: GCC 12 mishandles
    // temporaries in a co_await expression.
    struct call {
        call(http::verb m, std::string p, std::optional<json::object> b = std::nullopt)
            : method{m}, path{std::move(p)}, body{std::move(b)}
        {
        }

        http::verb method;
        std::string path;  // under /api/v2, ids already encoded
        std::optional<json::object> body;
        std::vector<std::pair<std::string, std::string>> query;
        // For a POST that creates something: finds what a lost attempt created, as its JSON text.
        std::function<net::awaitable<std::optional<std::string>>()> recover;
    };

    net::awaitable<web::client_response> send(call request);
    // send(), then the answer parsed by `parse`, or the cml_error a non-2xx answer means.
    template <class T, class Parse>
    net::awaitable<T> exchange(call request, Parse parse);
    // Every item of a list, following next_page_token, at most `limit`.
    template <class T, class Parse>
    net::awaitable<std::vector<T>> list_all(call request, Parse parse, std::size_t limit);
    net::awaitable<void> wait(std::chrono::milliseconds delay);
    std::string scrub(std::string text) const;
    [[noreturn]] void throw_for(const web::client_response& answer, std::string_view what, unsigned attempts) const;
    template <class Result, class Parse>
    Result parse_answer(const web::client_response& answer, std::string_view what, Parse parse) const;

    net::any_io_executor executor_;
    cml_settings settings_;
    cml_client_options options_;
    std::unique_ptr<web::http_client> http_;
    std::list<net::steady_timer*> waiting_;
    bool cancelled_ = false;
};

}  // namespace raydeploy::cml
