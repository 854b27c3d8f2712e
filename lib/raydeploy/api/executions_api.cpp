// Execution routes: run a checkpoint, list and read executions, cancel, events, log, report.
#include "raydeploy/api/dto.hpp"
#include "raydeploy/api/request_bodies.hpp"
#include "raydeploy/api/routes.hpp"
#include "raydeploy/http/response_cache.hpp"
#include "raydeploy/engine/approvals.hpp"
#include "raydeploy/engine/execution_manager.hpp"
#include "raydeploy/engine/extra_vars.hpp"
#include "raydeploy/events/event_reader.hpp"

#include <boost/json/parse.hpp>

#include <fstream>

namespace raydeploy::api {
namespace {

execution_manager& engine(const std::shared_ptr<const service_state>& state) { return *state->executions; }

execution_record existing(const std::shared_ptr<const service_state>& state, const std::string& id)
{
    auto record = engine(state).get(id);
    if (!record)
        throw api_error{http::status::not_found, "EXECUTION_NOT_FOUND", "no execution '" + id + "'; GET /api/v1/executions lists them"};
    return *record;
}

std::string read_from(const std::filesystem::path& file, std::uintmax_t offset, std::size_t max_bytes)
{
    std::ifstream in{file, std::ios::binary};
    if (!in) return {};
    in.seekg(static_cast<std::streamoff>(offset));
    std::string data(max_bytes, '\0');
    in.read(data.data(), static_cast<std::streamsize>(max_bytes));
    data.resize(static_cast<std::size_t>(in.gcount()));
    return data;
}

// The log as it is now, read from disk a piece at a time: a long log costs one piece of memory,
// not its size. The length is fixed when the answer starts; a running execution's later output is
// for the next request (or follow=1).
net::awaitable<void> send_log(http_stream& stream, std::filesystem::path file, std::chrono::milliseconds write_timeout)
{
    std::ifstream in{file, std::ios::binary};
    std::error_code size_ec;
    const std::uintmax_t length = in ? std::filesystem::file_size(file, size_ec) : 0;
    response header{http::status::ok, 11};
    header.set(http::field::content_type, "text/plain; charset=utf-8");
    header.content_length(size_ec ? 0 : length);
    // The session ends after a handler that took the connection over.
    header.keep_alive(false);
    std::string head;
    stream.expires_after(write_timeout);
    auto [header_ec, header_bytes] = co_await web::write_response(stream, header, head);
    if (header_ec || size_ec) co_return;

    std::string piece(256 * 1024, '\0');
    for (std::uintmax_t left = length; left > 0;) {
        in.read(piece.data(), static_cast<std::streamsize>(std::min<std::uintmax_t>(left, piece.size())));
        const auto n = static_cast<std::size_t>(in.gcount());
        if (n == 0) break;  // truncated under us: the client sees a short body and knows
        left -= n;
        stream.expires_after(write_timeout);
        auto [ec, written] = co_await net::async_write(stream, net::buffer(piece.data(), n), nothrow_awaitable);
        if (ec) co_return;  // the reader went away
    }
}

// Streams the log as chunks until the execution ends (or the service shuts down).
net::awaitable<void> follow_log(http_stream& stream, std::function<void()>& on_shutdown,
                                std::shared_ptr<const service_state> state, std::string id)
{
    bool stopping = false;
    on_shutdown = [&stopping] { stopping = true; };
    response header{http::status::ok, 11};
    header.set(http::field::content_type, "text/plain; charset=utf-8");
    header.set(http::field::cache_control, "no-cache");
    header.chunked(true);
    header.keep_alive(false);
    std::string head;
    stream.expires_after(std::chrono::seconds{30});
    auto [header_ec, header_bytes] = co_await web::write_response(stream, header, head);
    if (header_ec) co_return;

    const auto file = engine(state).log_file(id);
    std::uintmax_t offset = 0;
    for (;;) {
        const bool was_active = engine(state).is_active(id);
        std::string data = read_from(file, offset, 256 * 1024);
        if (!data.empty()) {
            offset += data.size();
            stream.expires_after(std::chrono::seconds{30});
            auto [ec, n] = co_await net::async_write(stream, http::make_chunk(net::buffer(data)), nothrow_awaitable);
            if (ec) co_return;  // the reader went away
            continue;  // there may be more right away
        }
        // Everything written before the execution ended has been sent: done.
        if (!was_active || stopping) break;
        co_await engine(state).wait_for_output(id, std::chrono::seconds{15});
    }
    stream.expires_after(std::chrono::seconds{30});
    co_await net::async_write(stream, http::make_chunk_last(), nothrow_awaitable);
}

// Whether the caller asked for the report as Markdown: ?format=markdown, or without `format`,
// an Accept header naming text/markdown. 400 INVALID_PARAMETER for another format.
bool wants_markdown(const request_context& ctx)
{
    if (const auto format = ctx.query("format")) {
        if (*format == "markdown") return true;
        if (*format == "json") return false;
        invalid_parameter("format", "expected json (the default) or markdown, got '" + *format + "'");
    }
    const auto accept = ctx.req.find(http::field::accept);
    return accept != ctx.req.end() && accept->value().find("text/markdown") != beast::string_view::npos;
}

// 404 REPORT_NOT_FOUND, saying where a report is to be found.
[[noreturn]] void report_not_found(const std::shared_ptr<const service_state>& state, const execution_record& record,
                                   const execution_report& report, bool markdown)
{
    std::string message = "execution " + record.id + " (" + record.checkpoint + ")";
    if (!report.empty()) {
        message += markdown ? " has its report only as JSON; leave out format=markdown"
                            : " has its report only as Markdown; ask for it with ?format=markdown";
        throw api_error{http::status::not_found, "REPORT_NOT_FOUND", message};
    }
    message += " has no report";
    if (!is_final(record.status))
        message += " yet: it is " + std::string{to_string(record.status)} + ", and a report is stored when its playbook ends";
    message += "; only final-validation writes a report";
    execution_filter latest;
    latest.with_report = true;
    latest.limit = 1;
    const auto with_report = engine(state).list(latest);
    if (!with_report.empty() && with_report.front().id != record.id)
        message += ": the latest one is execution " + with_report.front().id + " (" + with_report.front().checkpoint +
                   "), GET /api/v1/executions/" + with_report.front().id + "/report";
    else
        message += ": look at its latest execution, GET /api/v1/executions?checkpoint=final-validation&limit=1";
    throw api_error{http::status::not_found, "REPORT_NOT_FOUND", message};
}

// What the first page of the list is built from besides the store's state, as the handler parsed
// it: parameters it does not read (or reads only once, as a repeated `limit`) never make another
// entry of the cache.
std::string first_page_key(const execution_filter& filter, role caller)
{
    std::string key = std::string{to_string(caller)} + ' ' + std::to_string(filter.limit) + ' ' +
                      (filter.status ? std::string{to_string(*filter.status)} : std::string{"-"}) + ' ' +
                      filter.created_after.value_or("-") + ' ' + filter.created_before.value_or("-");
    // Last, as the only part that may hold spaces: the key stays unambiguous.
    if (filter.checkpoint) key += " =" + *filter.checkpoint;
    return key;
}

}  // namespace

run_request run_request_from(const json::object& body)
{
    reject_unknown_fields(body, {"extra_vars", "limit", "check", "approve"});
    run_request request;
    request.params = execution_params_of(body, null_is::refused);
    request.approve = bool_field(body, "approve", null_is::refused).value_or(false);
    return request;
}

void add_execution_routes(router& routes, const std::shared_ptr<const service_state>& state)
{
    add_audited(routes, state, http::verb::post, "/api/v1/checkpoints/{name}", role::operator_, "execution.start", [state](request_context& ctx) -> net::awaitable<response> {
        run_request request = run_request_from(json_body(ctx));
        execution_params params = std::move(request.params);
        const bool inline_approve = request.approve;
        const execution_record record = engine_call([&] {
            // Checked before anything else: a refused request must not ask for an approval either.
            check_run_params(find_checkpoint(state->catalog, ctx.path_param("name")), params);
            return start_checkpoint(engine(state), *state->approvals, state->catalog, ctx.path_param("name"),
                                    std::move(params), ctx.caller, inline_approve);
        });
        auto res = json_response(http::status::accepted, json::object{{"execution_id", record.id},
                                                                      {"checkpoint", record.checkpoint},
                                                                      {"status", to_string(record.status)}});
        res.set(http::field::location, "/api/v1/executions/" + record.id);
        co_return res;
    });

    // Dashboards poll the first page: kept per filter and role until an execution changes.
    add_route(routes, http::verb::get, "/api/v1/executions", role::viewer, [state](request_context& ctx) -> net::awaitable<response> {
        execution_filter filter;
        filter.checkpoint = ctx.query("checkpoint");
        if (auto status = ctx.query("status")) {
            filter.status = parse_execution_status(*status);
            if (!filter.status)
                invalid_parameter("status", "expected one of queued, awaiting_approval, running, succeeded, failed, "
                                            "cancelled, timed_out, interrupted");
        }
        filter.created_after = query_timestamp(ctx, "created_after", timestamp_rounding::down);
        filter.created_before = query_timestamp(ctx, "created_before", timestamp_rounding::up);
        const auto limit = static_cast<std::size_t>(query_integer(ctx, "limit", 50, 1, 500));
        filter.before_rowid = query_cursor(ctx);
        // One more than the page: a cursor only when a next page has something in it.
        filter.limit = limit + 1;
        const auto page = [&] {
            auto records = engine(state).list(filter);
            const bool more = records.size() > limit;
            if (more) records.resize(limit);
            json::array items;
            for (const auto& record : records) items.emplace_back(execution_json(record, state->catalog, ctx.caller));
            json::object body{{"executions", std::move(items)}};
            body["next_cursor"] = more ? json::value(std::to_string(records.back().rowid)) : json::value(nullptr);
            return json::value(std::move(body));
        };
        // Later pages are read once by a client walking back, and each would pin up to 500
        // executions: answered from SQL, still with an ETag.
        if (filter.before_rowid) co_return web::response_cache::answer_once(ctx.req, page());
        // Parameters checked above: a bad request is answered, never kept.
        const std::string key = first_page_key(filter, ctx.caller.level);
        co_return state->execution_pages->get(ctx.req, engine(state).generation(), key, page);
    });

    add_route(routes, http::verb::get, "/api/v1/executions/{id}", role::viewer, [state](request_context& ctx) -> net::awaitable<response> {
        co_return json_response(http::status::ok, execution_json(existing(state, ctx.path_param("id")), state->catalog, ctx.caller));
    });

    add_audited(routes, state, http::verb::post, "/api/v1/executions/{id}/cancel", role::operator_, "execution.cancel", [state](request_context& ctx) -> net::awaitable<response> {
        const execution_record record = engine_call([&] { return engine(state).cancel(ctx.path_param("id")); });
        co_return json_response(http::status::accepted, execution_json(record, state->catalog, ctx.caller));
    });

    add_route(routes, http::verb::get, "/api/v1/executions/{id}/events", role::viewer, [state](request_context& ctx) -> net::awaitable<response> {
        const execution_record record = existing(state, ctx.path_param("id"));
        const auto since = query_integer(ctx, "since_counter", 0, 0, INT64_MAX);
        const auto limit = query_integer(ctx, "limit", 500, 1, 5000);
        const execution_events_page page = co_await state->event_pages->read_execution(
            record.id, since, static_cast<std::size_t>(limit), state->event_options.page_bytes);
        const auto& items = page.events;
        // Stored events are already serialized: splice them instead of parsing them again.
        std::string body = "{\"execution_id\":" + json::serialize(json::value(record.id)) + ",\"status\":\"" +
                           std::string{to_string(record.status)} + "\",\"final_counter\":" +
                           (record.final_counter ? std::to_string(*record.final_counter) : "null") + ",\"events\":[";
        for (std::size_t i = 0; i < items.size(); ++i) {
            if (i) body += ',';
            body += items[i]->text;
        }
        // A page ends at `limit` events or at events.page_bytes: when stored events follow it, say
        // where to continue.
        body += "],\"next_since_counter\":";
        std::optional<std::int64_t> next;
        if (!items.empty()) {
            const auto last = json::parse(items.back()->text).as_object().at("counter").to_number<std::int64_t>();
            if (page.more) next = last;
        }
        body += next ? std::to_string(*next) : "null";
        body += "}\n";
        co_return text_response(http::status::ok, std::move(body), "application/json");
    });

    add_route(routes, http::verb::get, "/api/v1/executions/{id}/report", role::viewer, [state](request_context& ctx) -> net::awaitable<response> {
        const execution_record record = existing(state, ctx.path_param("id"));
        const bool markdown = wants_markdown(ctx);
        const execution_report report = engine(state).report(record.id).value_or(execution_report{});
        if (markdown && !report.markdown) report_not_found(state, record, report, true);
        if (!markdown && !report.json) report_not_found(state, record, report, false);
        auto res = markdown ? text_response(http::status::ok, *report.markdown, "text/markdown; charset=utf-8")
                            : json_response(http::status::ok, *report.json);
        res.set(http::field::vary, "Accept");
        co_return res;
    });

    add_route(routes, http::verb::get, "/api/v1/executions/{id}/log", role::viewer, [state](request_context& ctx) -> net::awaitable<response> {
        const execution_record record = existing(state, ctx.path_param("id"));
        const auto follow = ctx.query("follow");
        if (follow && *follow != "0" && *follow != "false") {
            ctx.take_over = [state, id = record.id](http_stream& stream, std::function<void()>& on_shutdown) {
                return follow_log(stream, on_shutdown, state, id);
            };
            co_return response{http::status::ok, 11};
        }
        auto file = engine(state).log_file(record.id);
        if (ctx.req.method() == http::verb::head) {
            // The length GET would send, from the file's size: nothing is read.
            std::error_code ec;
            const auto length = std::filesystem::file_size(file, ec);
            auto res = text_response(http::status::ok, {}, "text/plain; charset=utf-8");
            res.content_length(ec ? 0 : length);
            co_return res;
        }
        ctx.take_over = [file = std::move(file), write_timeout = state->http_options.write_timeout](
                            http_stream& stream, std::function<void()>&) { return send_log(stream, file, write_timeout); };
        co_return response{http::status::ok, 11};
    });
}

}  // namespace raydeploy::api
