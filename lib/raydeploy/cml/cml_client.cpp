// The CML API v2 calls: URLs, the retry loop with its duplicate-creation guard, and the mapping of
// CML's answers to results and cml_errors. Parsing is cml_api.cpp's.
#include "raydeploy/cml/cml_client.hpp"

#include "raydeploy/util/duration.hpp"
#include "raydeploy/util/errors.hpp"
#include "raydeploy/util/log.hpp"

#include <boost/json/serialize.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <boost/url/url.hpp>

#include <random>
#include <set>

namespace raydeploy::cml {
namespace {

// CML's messages are one line in practice; a proxy's may be a page.
constexpr std::size_t max_cml_message = 300;

// Ids are opaque strings (reference A.1): whatever they hold goes into the path as one segment.
std::string segment(std::string_view id) { return boost::urls::encode(id, boost::urls::unreserved_chars); }

std::string projects_path() { return "/api/v2/projects"; }
std::string project_path(std::string_view project_id) { return projects_path() + "/" + segment(project_id); }
std::string jobs_path(std::string_view project_id) { return project_path(project_id) + "/jobs"; }
std::string job_path(std::string_view project_id, std::string_view job_id)
{
    return jobs_path(project_id) + "/" + segment(job_id);
}
std::string runs_path(std::string_view project_id, std::string_view job_id)
{
    return job_path(project_id, job_id) + "/runs";
}
std::string run_path(std::string_view project_id, std::string_view job_id, std::string_view run_id)
{
    return runs_path(project_id, job_id) + "/" + segment(run_id);
}
std::string applications_path(std::string_view project_id) { return project_path(project_id) + "/applications"; }
std::string application_path(std::string_view project_id, std::string_view application_id)
{
    return applications_path(project_id) + "/" + segment(application_id);
}

std::string what_of(http::verb method, const std::string& path)
{
    return std::string{http::to_string(method)} + " " + path;
}

std::string cut(std::string text)
{
    for (auto& c : text)
        if (static_cast<unsigned char>(c) < 0x20) c = ' ';
    if (text.size() <= max_cml_message) return text;
    text.resize(max_cml_message - 3);
    return text + "...";
}

// 429 and 5xx: the workspace is busy or failing, a later attempt may succeed. 501 (UNIMPLEMENTED)
// will not.
bool retryable_status(unsigned status) { return status == 429 || (status >= 500 && status <= 599 && status != 501); }

// Answers after which CML may have acted on the request: a 500, 502 or 504 can come from a proxy or
// the gateway after the service processed it. 429 and 503 mean it was turned away.
bool ambiguous_status(unsigned status) { return status == 500 || status == 502 || status == 504; }

// The steps of web::http_client before any byte of the request left.
bool before_sending(const web::client_error& e)
{
    const std::string& step = e.step();
    return step.rfind("resolving", 0) == 0 || step == "connecting" || step == "TLS handshake";
}

web::client_options http_options(const cml_settings& settings)
{
    web::client_options options;
    options.purpose = "the CML workspace";
    options.url_setting = "cml.host";
    options.ca_setting = "cml.ca_file";
    options.request_timeout = settings.request_timeout;
    options.connect_timeout = std::min(settings.request_timeout, std::chrono::milliseconds{std::chrono::seconds{10}});
    options.bearer_token = settings.api_key;
    options.ca_file = settings.ca_file;
    options.tls_insecure = settings.tls_insecure;
    // The retry policy lives in cml_client::send, where it knows which POSTs create things.
    options.retry.max_attempts = 1;
    return options;
}

web::client_response found_answer(std::string body)
{
    web::client_response answer;
    answer.status = 200;
    answer.content_type = "application/json";
    answer.body = std::move(body);
    return answer;
}

}  // namespace

std::string_view to_string(cml_error_kind kind)
{
    switch (kind) {
    case cml_error_kind::unavailable: return "unavailable";
    case cml_error_kind::unauthorized: return "unauthorized";
    case cml_error_kind::not_found: return "not_found";
    case cml_error_kind::rejected: return "rejected";
    case cml_error_kind::bad_answer: return "bad_answer";
    case cml_error_kind::cancelled: return "cancelled";
    }
    return "unknown";
}

cml_error::cml_error(cml_error_kind kind, const std::string& message, unsigned http_status, std::int64_t code,
                     std::string cml_message)
    : std::runtime_error{message}, kind_{kind}, http_status_{http_status}, code_{code},
      cml_message_{std::move(cml_message)}
{
}

cml_client::cml_client(net::any_io_executor executor, const cml_settings& settings, cml_client_options options)
    : executor_{std::move(executor)}, settings_{settings}, options_{std::move(options)}
{
    if (!settings_.configured())
        throw config_error{"cml.host is not set; set it (RAYDEPLOY_CML_HOST) to the CML workspace's https:// URL"};
    if (!settings_.api_key)
        throw config_error{"no CML API key: set RAYDEPLOY_CML_API_KEY (or CML_API_KEY), or name a file holding it in "
                           "cml.api_key_file"};
    http_ = std::make_unique<web::http_client>(executor_, http_options(settings_));
}

cml_client::~cml_client() { cancel(); }

void cml_client::cancel()
{
    cancelled_ = true;
    if (http_) http_->cancel();
    for (auto* timer : waiting_) timer->cancel();
}

std::string cml_client::scrub(std::string text) const
{
    const std::string& key = *settings_.api_key;
    if (key.empty()) return text;
    for (auto at = text.find(key); at != std::string::npos; at = text.find(key, at))
        text.replace(at, key.size(), "[the API key]");
    return text;
}

net::awaitable<void> cml_client::wait(std::chrono::milliseconds delay)
{
    net::steady_timer timer{executor_, delay};
    const auto entry = waiting_.insert(waiting_.end(), &timer);
    auto [ec] = co_await timer.async_wait(nothrow_awaitable);
    (void)ec;
    waiting_.erase(entry);
    if (cancelled_) throw cml_error{cml_error_kind::cancelled, "the CML request was cancelled"};
}

void cml_client::throw_for(const web::client_response& answer, std::string_view what, unsigned attempts) const
{
    const auto envelope = parse_error_envelope(answer.body);
    const std::string said = envelope ? scrub(cut(envelope->message)) : std::string{};
    const std::int64_t code = envelope ? envelope->code : 0;
    const unsigned status = answer.status;
    std::string answered = std::string{what} + " answered HTTP " + std::to_string(status);
    if (code != 0) answered += " (code " + std::to_string(code) + ")";
    if (!said.empty()) answered += ": " + said;
    else if (!answer.body.empty() && !envelope)
        answered += " with a body that is not CML's error envelope (" +
                    (answer.content_type.empty() ? std::string{"no content type"} : cut(answer.content_type)) + ")";
    const std::string times = attempts > 1 ? ", " + std::to_string(attempts) + " attempts" : "";

    if (status == 401)
        throw cml_error{cml_error_kind::unauthorized,
                        "CML refused the API key (" + answered +
                            "); create a new key in the workspace (User Settings > API Keys), give it to raydeploy in "
                            "RAYDEPLOY_CML_API_KEY or in the file cml.api_key_file names, and restart raydeploy",
                        status, code, said};
    if (status == 403)
        throw cml_error{cml_error_kind::unauthorized,
                        "CML denied the request (" + answered +
                            "); the user of the API key lacks the permission: give raydeploy the key of a user who "
                            "may do this (RAYDEPLOY_CML_API_KEY or cml.api_key_file), or have the project's owner "
                            "add that user as a collaborator",
                        status, code, said};
    if (status == 404)
        throw cml_error{cml_error_kind::not_found,
                        answered + "; it does not exist in the workspace, or not for the user of the API key", status,
                        code, said};
    if (status == 501)
        throw cml_error{cml_error_kind::rejected,
                        answered + "; this workspace's CML version does not offer the call: check its API v2 "
                                   "reference (/api/v2/swagger.json)",
                        status, code, said};
    if (status >= 400 && status < 500 && status != 429)
        throw cml_error{cml_error_kind::rejected, "CML refused the request (" + answered + ")", status, code, said};
    if (retryable_status(status))
        throw cml_error{cml_error_kind::unavailable,
                        "the CML workspace is unavailable (" + answered + times +
                            "); it may be overloaded or down: check it in a browser and retry later",
                        status, code, said};
    throw cml_error{cml_error_kind::bad_answer,
                    answered + ", which the CML API v2 does not answer; is cml.host (" + settings_.host +
                        ") the workspace's URL, with the API under /api/v2?",
                    status, code, said};
}

template <class Result, class Parse>
Result cml_client::parse_answer(const web::client_response& answer, std::string_view what, Parse parse) const
{
    try {
        return parse(answer.body);
    } catch (const cml_parse_error& e) {
        throw cml_error{cml_error_kind::bad_answer,
                        scrub(std::string{what} + " answered something that is not a CML API v2 answer (" + e.what() +
                              "); is cml.host (" + settings_.host +
                              ") the workspace's URL? If it is, a proxy between raydeploy and CML may have changed "
                              "the answer"),
                        answer.status};
    }
}

net::awaitable<web::client_response> cml_client::send(call request)
{
    const http::verb method = request.method;
    const std::string what = what_of(method, request.path);
    if (cancelled_) throw cml_error{cml_error_kind::cancelled, what + " was cancelled"};
    boost::urls::url url = boost::urls::parse_absolute_uri(settings_.host).value();
    std::string full_path = std::string{url.encoded_path()};
    while (!full_path.empty() && full_path.back() == '/') full_path.pop_back();
    url.set_encoded_path(full_path + request.path);
    for (const auto& [name, value] : request.query) url.params().append({name, value});
    std::optional<web::request_body> request_body;
    if (request.body) request_body = web::request_body{"application/json", json::serialize(*request.body)};
    const auto& recover = request.recover;

    const auto& retry = options_.retry;
    const unsigned attempts = std::max(1U, retry.max_attempts);
    // Set once CML may have acted on an earlier attempt of a POST that creates something: from then
    // on every attempt first looks for what it would have created.
    bool maybe_created = false;
    for (unsigned n = 1;; ++n) {
        if (maybe_created && recover) {
            auto found = co_await recover();
            if (found) {
                log::info("a CML request whose answer was lost had been carried out; using what it created",
                          {{"request", what}, {"attempt", n}});
                co_return found_answer(std::move(*found));
            }
        }

        std::string reason;
        std::optional<std::chrono::milliseconds> retry_after;
        web::client_response answer;
        bool answered = false;
        try {
            auto got = co_await http_->request(method, url, request_body);
            answer = std::move(got);
            answered = true;
        } catch (const web::client_error& e) {
            if (e.kind() == web::client_error_kind::cancelled || cancelled_)
                throw cml_error{cml_error_kind::cancelled, what + " was cancelled"};
            const bool transient =
                e.kind() == web::client_error_kind::unreachable || e.kind() == web::client_error_kind::timeout;
            if (!transient || n >= attempts) {
                const std::string times = n > 1 ? " (" + std::to_string(n) + " attempts)" : "";
                throw cml_error{e.kind() == web::client_error_kind::protocol ? cml_error_kind::bad_answer
                                                                             : cml_error_kind::unavailable,
                                scrub(std::string{e.what()} + times)};
            }
            if (recover && !before_sending(e)) maybe_created = true;
            reason = std::string{web::to_string(e.kind())} + " while " + e.step();
        }
        if (answered) {
            if (answer.success()) co_return answer;
            // The first attempt's success may be what made this one a conflict (a project's name).
            if (answer.status == 409 && maybe_created && recover) {
                auto found = co_await recover();
                if (found) co_return found_answer(std::move(*found));
            }
            if (!retryable_status(answer.status) || n >= attempts) {
                if (retryable_status(answer.status)) throw_for(answer, what, n);
                co_return answer;
            }
            if (recover && ambiguous_status(answer.status)) maybe_created = true;
            reason = "HTTP " + std::to_string(answer.status);
            retry_after = answer.retry_after;
        }

        auto delay = retry_after ? std::min<std::chrono::milliseconds>(*retry_after, retry.max_retry_after)
                                 : web::retry_delay(retry, n, web::draw_jitter(retry));
        // A request that timed out may still be under way in CML: give it as long again to finish
        // before looking for what it created, so the look does not miss it and create a second one.
        if (maybe_created) delay = std::max(delay, settings_.request_timeout);
        log::info("CML request failed; retrying",
                  {{"request", what}, {"attempt", n}, {"reason", reason}, {"delay", format_duration(delay)}});
        co_await wait(delay);
    }
}

template <class T, class Parse>
net::awaitable<T> cml_client::exchange(call request, Parse parse)
{
    const std::string what = what_of(request.method, request.path);
    const auto answer = co_await send(std::move(request));
    if (!answer.success()) throw_for(answer, what, 1);
    co_return parse_answer<T>(answer, what, parse);
}

template <class T, class Parse>
net::awaitable<std::vector<T>> cml_client::list_all(call request, Parse parse, std::size_t limit)
{
    const std::string what = what_of(http::verb::get, request.path);
    std::vector<T> items;
    std::set<std::string> tokens;
    std::string token;
    const auto size = std::max<std::size_t>(std::min<std::size_t>(options_.page_size, limit), 1);
    for (std::uint32_t pages = 1;; ++pages) {
        call page_request = request;
        // The same page_size with every token, as the reference asks (A.1, pagination).
        page_request.query.emplace_back("page_size", std::to_string(size));
        if (!token.empty()) page_request.query.emplace_back("page_token", token);
        auto got = co_await exchange<page<T>>(std::move(page_request), parse);
        for (auto& item : got.items) {
            if (items.size() >= limit) break;
            items.push_back(std::move(item));
        }
        if (items.size() >= limit || got.next_page_token.empty()) co_return items;
        if (!tokens.insert(got.next_page_token).second)
            throw cml_error{cml_error_kind::bad_answer,
                            what + " gave a page token it had given before, after " + std::to_string(items.size()) +
                                " items on " + std::to_string(pages) +
                                " pages: the list would never end, and raydeploy does not act on part of it (it "
                                "could create what exists); retry later, and tell the workspace's administrators if "
                                "it persists"};
        if (pages >= options_.max_pages)
            throw cml_error{cml_error_kind::bad_answer, what + " did not end after " + std::to_string(pages) +
                                                            " pages (" + std::to_string(items.size()) +
                                                            " items); raydeploy does not act on part of a list"};
        token = std::move(got.next_page_token);
    }
}

// ------------------------------------------------------------------------------------- projects

net::awaitable<std::vector<project>> cml_client::list_projects(std::string_view name_contains)
{
    call request{http::verb::get, projects_path()};
    if (!name_contains.empty())
        request.query.emplace_back("search_filter", json::serialize(json::object{{"name", name_contains}}));
    auto found = co_await list_all<project>(std::move(request), parse_project_page, SIZE_MAX);
    co_return found;
}

net::awaitable<std::optional<project>> cml_client::find_project(std::string_view name)
{
    const auto listed = co_await list_projects(name);
    std::vector<project> exact;
    for (const auto& item : listed)
        if (item.name == name) exact.push_back(item);
    if (exact.empty()) co_return std::nullopt;
    if (exact.size() > 1) {
        std::string owners;
        for (const auto& item : exact) owners += (owners.empty() ? "" : ", ") + item.owner + " (" + item.id + ")";
        throw cml_error{cml_error_kind::rejected,
                        std::to_string(exact.size()) + " CML projects named '" + std::string{name} +
                            "' are visible to the API key's user, owned by " + owners +
                            "; set cml.project_name to a name only one of them has"};
    }
    co_return exact.front();
}

net::awaitable<project> cml_client::create_project(const project_request& project_spec)
{
    call request{http::verb::post, projects_path(), create_project_body(project_spec)};
    request.recover = [this, name = project_spec.name]() -> net::awaitable<std::optional<std::string>> {
        const auto found = co_await find_project(name);
        if (!found) co_return std::nullopt;
        call get{http::verb::get, project_path(found->id)};
        const auto answer = co_await send(std::move(get));
        if (!answer.success()) co_return std::nullopt;
        co_return answer.body;
    };
    auto created = co_await exchange<project>(std::move(request), parse_project);
    co_return created;
}

net::awaitable<project> cml_client::get_project(std::string_view project_id)
{
    call request{http::verb::get, project_path(project_id)};
    auto found = co_await exchange<project>(std::move(request), parse_project);
    co_return found;
}

// ----------------------------------------------------------------------------------------- jobs

net::awaitable<std::vector<job>> cml_client::list_jobs(std::string_view project_id)
{
    call request{http::verb::get, jobs_path(project_id)};
    auto found = co_await list_all<job>(std::move(request), parse_job_page, SIZE_MAX);
    co_return found;
}

net::awaitable<job> cml_client::create_job(std::string_view project_id, const job_request& spec)
{
    call request{http::verb::post, jobs_path(project_id), create_job_body(spec)};
    // Job names may repeat in CML; the caller creates a job only when none has its name, so one
    // that has it after a lost answer is the lost request's (the newest, should there be more).
    request.recover = [this, project = std::string{project_id},
                       name = spec.name]() -> net::awaitable<std::optional<std::string>> {
        const auto jobs = co_await list_jobs(project);
        const job* newest = nullptr;
        for (const auto& item : jobs)
            if (item.name == name && (!newest || item.created_at >= newest->created_at)) newest = &item;
        if (!newest) co_return std::nullopt;
        call get{http::verb::get, job_path(project, newest->id)};
        const auto answer = co_await send(std::move(get));
        if (!answer.success()) co_return std::nullopt;
        co_return answer.body;
    };
    auto created = co_await exchange<job>(std::move(request), parse_job);
    co_return created;
}

net::awaitable<job> cml_client::patch_job(std::string_view project_id, std::string_view job_id, const job_request& spec)
{
    call request{http::verb::patch, job_path(project_id, job_id), job_patch_body(spec)};
    auto patched = co_await exchange<job>(std::move(request), parse_job);
    co_return patched;
}

net::awaitable<job_run> cml_client::start_run(std::string_view project_id, std::string_view job_id,
                                              const run_request& run)
{
    call request{http::verb::post, runs_path(project_id, job_id), create_run_body(run)};
    // CML keeps one active run per job (a second trigger is refused, reference A.5): an active run
    // found after a lost answer is the one the lost request started.
    request.recover = [this, project = std::string{project_id},
                       job = std::string{job_id}]() -> net::awaitable<std::optional<std::string>> {
        const auto runs = co_await list_runs(project, job, 5);
        for (const auto& candidate : runs) {
            if (candidate.terminal()) continue;
            call get{http::verb::get, run_path(project, job, candidate.id)};
            const auto answer = co_await send(std::move(get));
            if (answer.success()) co_return answer.body;
        }
        co_return std::nullopt;
    };
    auto started = co_await exchange<job_run>(std::move(request), parse_job_run);
    co_return started;
}

net::awaitable<job_run> cml_client::get_run(std::string_view project_id, std::string_view job_id,
                                            std::string_view run_id)
{
    call request{http::verb::get, run_path(project_id, job_id, run_id)};
    auto found = co_await exchange<job_run>(std::move(request), parse_job_run);
    co_return found;
}

net::awaitable<std::vector<job_run>> cml_client::list_runs(std::string_view project_id, std::string_view job_id,
                                                           std::size_t limit)
{
    call request{http::verb::get, runs_path(project_id, job_id)};
    // The default order is unverified (reference A.4): ask for newest first.
    request.query.emplace_back("sort", "-created_at");
    auto found = co_await list_all<job_run>(std::move(request), parse_job_run_page, std::max<std::size_t>(limit, 1));
    co_return found;
}

net::awaitable<job_run> cml_client::stop_run(std::string_view project_id, std::string_view job_id,
                                             std::string_view run_id)
{
    call request{http::verb::post, run_path(project_id, job_id, run_id) + ":stop", json::object{}};
    auto stopped = co_await exchange<job_run>(std::move(request), parse_job_run);
    co_return stopped;
}

// --------------------------------------------------------------------------------- applications

net::awaitable<std::vector<application>> cml_client::list_applications(std::string_view project_id)
{
    call request{http::verb::get, applications_path(project_id)};
    auto found = co_await list_all<application>(std::move(request), parse_application_page, SIZE_MAX);
    co_return found;
}

net::awaitable<application> cml_client::create_application(std::string_view project_id, const application_spec& spec)
{
    call request{http::verb::post, applications_path(project_id), create_application_body(spec)};
    // A subdomain is unique in the workspace: the application that has it is the lost request's.
    request.recover = [this, project = std::string{project_id},
                       subdomain = spec.subdomain]() -> net::awaitable<std::optional<std::string>> {
        const auto apps = co_await list_applications(project);
        for (const auto& app : apps) {
            if (app.subdomain != subdomain) continue;
            call get{http::verb::get, application_path(project, app.id)};
            const auto answer = co_await send(std::move(get));
            if (answer.success()) co_return answer.body;
        }
        co_return std::nullopt;
    };
    auto created = co_await exchange<application>(std::move(request), parse_application);
    co_return created;
}

net::awaitable<application> cml_client::get_application(std::string_view project_id, std::string_view application_id)
{
    call request{http::verb::get, application_path(project_id, application_id)};
    auto found = co_await exchange<application>(std::move(request), parse_application);
    co_return found;
}

net::awaitable<application> cml_client::patch_application(std::string_view project_id,
                                                          std::string_view application_id,
                                                          const application_spec& spec)
{
    call request{http::verb::patch, application_path(project_id, application_id), application_patch_body(spec)};
    auto patched = co_await exchange<application>(std::move(request), parse_application);
    co_return patched;
}

net::awaitable<application> cml_client::stop_application(std::string_view project_id, std::string_view application_id)
{
    call request{http::verb::post, application_path(project_id, application_id) + ":stop", json::object{}};
    auto stopped = co_await exchange<application>(std::move(request), parse_application);
    co_return stopped;
}

net::awaitable<application> cml_client::restart_application(std::string_view project_id,
                                                            std::string_view application_id)
{
    call request{http::verb::post, application_path(project_id, application_id) + ":restart", json::object{}};
    auto restarted = co_await exchange<application>(std::move(request), parse_application);
    co_return restarted;
}

net::awaitable<bool> cml_client::delete_application(std::string_view project_id, std::string_view application_id)
{
    call request{http::verb::delete_, application_path(project_id, application_id)};
    const std::string what = what_of(request.method, request.path);
    const auto answer = co_await send(std::move(request));
    if (answer.status == 404) co_return false;
    if (!answer.success()) throw_for(answer, what, 1);
    co_return true;
}

}  // namespace raydeploy::cml
