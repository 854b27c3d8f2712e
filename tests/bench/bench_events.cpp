// Client of scripts/bench-events.sh: drives a running `raydeploy serve` over REST and WebSocket and
// prints figures. Not a test: it asserts nothing about speed. It exits 1 when the run itself went
// wrong (an answer it did not expect, a deadline passed), since the figures of such a run would
// be the wrong ones; lost or duplicated events are figures and are printed, not failures.
//
//   bench_events stream PORT CHECKPOINT SUBSCRIBERS EVENTS RATE HOSTS [MESSAGES]
//       SUBSCRIBERS WebSocket subscribers follow GET /api/v1/events?since=0&types=execution.*,ansible.*
//       (the service is fresh: since=0 is "now"), with &batch=true unless MESSAGES is `single`
//       (one message per event rather than arrays of the events ready together), then one run of CHECKPOINT is started with
//       extra_vars event_count=EVENTS, event_rate=RATE (0: unpaced), event_hosts=HOSTS for
//       tests/bench/bench_event_source. Each subscriber counts the run's events up to
//       execution.done and checks it got every counter from 1 to final_counter exactly once; a
//       subscriber whose connection drops resumes with since=<last seq> as a client should.
//       With no subscriber, only the rate at which the run's events were stored.
//       With RATE > 0, the latency from the source's write (event_data.bench_written_ns,
//       CLOCK_REALTIME) to each subscriber's receipt.
//   bench_events starts PORT PREFIX COUNT CONNECTIONS [BODY]
//       POST /api/v1/checkpoints/PREFIX-001 .. PREFIX-COUNT (with BODY, default {}) as fast as
//       CONNECTIONS keep-alive connections go, then waits for every accepted execution to reach a final status and for
//       GET /api/v1/executions to list it.
//   bench_events hold PORT SUBSCRIBERS SECONDS
//       opens SUBSCRIBERS idle WebSocket subscribers, prints "connected N" once all are, holds
//       them SECONDS, and exits.
//
// RAYDEPLOY_TOKEN, when set, is sent as the bearer token. The last line of stream and starts is
// "RESULT key=value ..." for the script.
#include "raydeploy/util/net.hpp"

#include <boost/beast/websocket.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <sys/resource.h>
#include <vector>

namespace raydeploy {
namespace {

namespace websocket = beast::websocket;
using clock_type = std::chrono::steady_clock;

struct service {
    std::string port;
    std::string token;

    std::string host() const { return "127.0.0.1:" + port; }
};

double seconds_between(clock_type::time_point from, clock_type::time_point to)
{
    return std::chrono::duration<double>(to - from).count();
}

long long realtime_ns()
{
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    return static_cast<long long>(now.tv_sec) * 1000000000LL + now.tv_nsec;
}

// The client's own CPU time, user and system, all threads: the script adds it to the service's and
// the source's to show how much of the machine a figure took.
double own_cpu_seconds()
{
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    const auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
    return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// A thousand subscribers need a thousand descriptors; the soft limit is often 1024.
void raise_descriptor_limit()
{
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
}

net::awaitable<void> connect(beast::tcp_stream& stream, const service& svc)
{
    tcp::endpoint endpoint{net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(std::stoi(svc.port))};
    stream.expires_after(std::chrono::seconds{30});
    co_await stream.async_connect(endpoint, net::use_awaitable);
    stream.expires_never();
}

// One request on a keep-alive connection; reconnects first when the service closed it.
net::awaitable<http::response<http::string_body>> call(beast::tcp_stream& stream, const service& svc, http::verb verb,
                                                       std::string target, std::string body = {})
{
    if (!stream.socket().is_open()) co_await connect(stream, svc);
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, svc.host());
    if (!svc.token.empty()) req.set(http::field::authorization, "Bearer " + svc.token);
    if (verb == http::verb::post) {
        req.set(http::field::content_type, "application/json");
        req.body() = body.empty() ? std::string{"{}"} : std::move(body);
    }
    req.keep_alive(true);
    req.prepare_payload();
    stream.expires_after(std::chrono::seconds{60});
    co_await http::async_write(stream, req, net::use_awaitable);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(256 * 1024 * 1024);
    co_await http::async_read(stream, buffer, parser, net::use_awaitable);
    stream.expires_never();
    auto res = parser.release();
    if (!res.keep_alive()) stream.close();
    co_return res;
}

[[noreturn]] void give_up(const std::string& message)
{
    std::cerr << "bench_events: " << message << "\n";
    std::exit(1);
}

net::awaitable<void> sleep_for(std::chrono::milliseconds duration)
{
    auto executor = co_await net::this_coro::executor;
    net::steady_timer timer{executor};
    timer.expires_after(duration);
    co_await timer.async_wait(net::use_awaitable);
}

// The completion of every coroutine spawned here: an exception ends the program with its message.
void exit_on_error(std::exception_ptr error)
{
    if (!error) return;
    try {
        std::rethrow_exception(error);
    } catch (const std::exception& e) {
        give_up(e.what());
    }
}

// Runs the coroutine to its end.
template <class Awaitable>
void run_main(net::io_context& io, Awaitable task)
{
    net::co_spawn(io, std::move(task), exit_on_error);
    io.run();
}

// Spawns `count` coroutines from make() and waits until all have finished.
template <class Make>
net::awaitable<void> run_workers(std::size_t count, Make make)
{
    auto executor = co_await net::this_coro::executor;
    auto running = std::make_shared<std::size_t>(count);
    for (std::size_t i = 0; i < count; ++i) {
        net::co_spawn(executor, make(), [running](std::exception_ptr error) {
            --*running;
            exit_on_error(error);
        });
    }
    while (*running > 0) co_await sleep_for(std::chrono::milliseconds{5});
}

// ------------------------------------------------------------------------------------------------
// Fields of a published event, read without parsing the document: the service writes
// {"seq":N,"type":"T","created":"...","execution_id":"ID","counter":C,<the rest>}, so the first
// occurrence of each key is the service's own (a key inside a string would be escaped).

// Where `key` first occurs in `text` at or after `from`. glibc's memmem: string_view::find looks
// for the key's first character with memchr and compares at each one, and JSON is full of the
// first characters of these keys (`,` `"` `{`); at 100 subscribers that was three quarters of the
// client's time, and a client behind on reading adds its own delay to the latency it measures.
std::size_t find_text(std::string_view text, std::string_view key, std::size_t from = 0)
{
    if (from > text.size()) return std::string_view::npos;
    const void* found = ::memmem(text.data() + from, text.size() - from, key.data(), key.size());
    return found ? static_cast<std::size_t>(static_cast<const char*>(found) - text.data()) : std::string_view::npos;
}

// The next place in `text`, at or after `from`, where an event of a batch starts (`,{"seq":`).
// A search for the brace, which JSON has few of, and a look around it: memmem for the whole
// marker went through every byte of every event again.
std::size_t next_event_start(std::string_view text, std::size_t from)
{
    constexpr std::string_view after_brace = "\"seq\":";
    while (from < text.size()) {
        const void* brace = std::memchr(text.data() + from, '{', text.size() - from);
        if (!brace) break;
        const auto at = static_cast<std::size_t>(static_cast<const char*>(brace) - text.data());
        if (at > 0 && text[at - 1] == ',' && text.substr(at + 1, after_brace.size()) == after_brace) return at - 1;
        from = at + 1;
    }
    return std::string_view::npos;
}

// Reads an event's fields front to back. A key is looked for first right where the reader stands
// (the service's order) and only then searched for from there on, so the fields of an event cost
// a few comparisons; after the whole-document searches of before, the client took as much CPU as
// the service it measured, on the same two cores. A changed order still reads right, only slower.
class field_reader {
public:
    explicit field_reader(std::string_view text) : text_{text} {}

    std::optional<long long> integer(std::string_view key)
    {
        const auto start = after(key);
        if (start == std::string_view::npos) return std::nullopt;
        long long value = 0;
        auto [end, ec] = std::from_chars(text_.data() + start, text_.data() + text_.size(), value);
        if (ec != std::errc{}) return std::nullopt;
        at_ = static_cast<std::size_t>(end - text_.data());
        return value;
    }

    // A string value without escapes (ids, types, timestamps).
    std::string_view string(std::string_view key)
    {
        const auto start = after(key);
        if (start == std::string_view::npos) return {};
        const auto end = text_.find('"', start);
        if (end == std::string_view::npos) return {};
        at_ = end + 1;
        return text_.substr(start, end - start);
    }

    // Moves to the last `tail` bytes (if that is ahead), for a field known to end the event.
    void skip_to_tail(std::size_t tail)
    {
        if (text_.size() > tail) at_ = std::max(at_, text_.size() - tail);
    }

private:
    std::size_t after(std::string_view key) const
    {
        if (text_.substr(at_, key.size()) == key) return at_ + key.size();
        const auto found = find_text(text_, key, at_);
        return found == std::string_view::npos ? found : found + key.size();
    }

    std::string_view text_;
    std::size_t at_ = 0;
};

double percentile(const std::vector<float>& sorted, double fraction)
{
    if (sorted.empty()) return 0;
    const auto rank = static_cast<std::size_t>(std::ceil(fraction * static_cast<double>(sorted.size())));
    return sorted[std::max<std::size_t>(rank, 1) - 1];
}

// Milliseconds since the epoch of the API's "2026-12-04T12:30:42.508Z".
std::optional<double> epoch_ms(const json::value& value)
{
    if (!value.is_string()) return std::nullopt;
    const std::string text{value.get_string()};
    std::tm utc{};
    int millis = 0;
    if (std::sscanf(text.c_str(), "%d-%d-%dT%d:%d:%d.%dZ", &utc.tm_year, &utc.tm_mon, &utc.tm_mday, &utc.tm_hour,
                    &utc.tm_min, &utc.tm_sec, &millis) != 7)
        return std::nullopt;
    utc.tm_year -= 1900;
    utc.tm_mon -= 1;
    return static_cast<double>(timegm(&utc)) * 1000.0 + millis;
}

// ------------------------------------------------------------------------------------------------
// stream: one run followed by many subscribers.

struct subscriber {
    std::vector<std::uint8_t> seen;  // times each counter arrived, by counter
    std::size_t received = 0;        // events of the run, duplicates included
    std::size_t other = 0;           // events of anything else
    std::size_t drops = 0;           // reconnections after the connection dropped
    long long last_seq = 0;
    long long first_ansible_counter = 0;
    long long final_counter = 0;
    std::string execution;  // the run's id as this subscriber first saw it
    clock_type::time_point first_ansible, done_at;
    bool connected = false;
    bool done = false;
    std::vector<float> latency_ms;
};

struct stream_run {
    service svc;
    std::string execution_id;  // known once the run is started
    std::size_t connected = 0;
    bool paced = false;
    bool batch = true;  // subscribe with batch=true: messages are JSON arrays of events
};

// Counts one event; true at the run's execution.done.
bool on_event(stream_run& run, subscriber& sub, std::string_view text, clock_type::time_point received,
              long long received_ns)
{
    field_reader fields{text};
    if (auto seq = fields.integer("{\"seq\":")) sub.last_seq = *seq;
    const std::string_view type = fields.string(",\"type\":\"");
    fields.string(",\"created\":\"");
    const std::string_view execution = fields.string(",\"execution_id\":\"");
    if (execution.empty()) {
        ++sub.other;
        return false;
    }
    // Events may arrive before the POST's answer names the run: the first run seen is taken, and
    // checked against the started one at the end (the service is fresh, so there is no other).
    if (sub.execution.empty()) sub.execution = execution;
    if (execution != (run.execution_id.empty() ? sub.execution : run.execution_id)) {
        ++sub.other;
        return false;
    }
    const auto counter = fields.integer(",\"counter\":");
    if (!counter || *counter < 1) give_up("an event of the run without a counter (has the event format changed? update on_event's keys): " +
                std::string{text.substr(0, 300)});
    const auto index = static_cast<std::size_t>(*counter);
    if (index >= sub.seen.size()) sub.seen.resize(std::max(index + 1, sub.seen.size() * 2));
    if (sub.seen[index] < 255) ++sub.seen[index];
    ++sub.received;
    if (sub.first_ansible_counter == 0 && type.rfind("ansible.", 0) == 0) {
        sub.first_ansible = received;
        sub.first_ansible_counter = *counter;
    }
    if (type == "execution.done") {
        sub.done_at = received;
        sub.final_counter = fields.integer("\"final_counter\":").value_or(0);
        sub.done = true;
        return true;
    }
    if (run.paced) {
        // The source writes it last in event_data, which ends the event: look in the tail first.
        auto from_here = fields;
        fields.skip_to_tail(64);
        auto written = fields.integer("\"bench_written_ns\":");
        if (!written) written = from_here.integer("\"bench_written_ns\":");
        if (written)
            sub.latency_ms.push_back(static_cast<float>(static_cast<double>(received_ns - *written) / 1e6));
    }
    return false;
}

// Counts the events of one message (an event, or with batch=true a JSON array of them); true at
// the run's execution.done. The array is split where an event starts, at ,{"seq": (which cannot
// occur inside a JSON string, and the synthetic events nest no object whose first key is seq).
bool on_message(stream_run& run, subscriber& sub, std::string_view message, clock_type::time_point received,
                long long received_ns)
{
    if (message.empty() || message.front() != '[') return on_event(run, sub, message, received, received_ns);
    if (message.size() < 2 || message.back() != ']')
        give_up("a batch message that is not a JSON array: " + std::string{message.substr(0, 300)});
    std::string_view rest = message.substr(1, message.size() - 2);
    bool finished = false;
    while (!rest.empty()) {
        const std::size_t next = next_event_start(rest, 1);
        finished = on_event(run, sub, rest.substr(0, next), received, received_ns) || finished;
        rest = next == std::string_view::npos ? std::string_view{} : rest.substr(next + 1);
    }
    return finished;
}

// A service that drops a subscriber this often is not measured any more: stop.
constexpr std::size_t max_drops = 100;

// A client frame (pong, close): masked, as RFC 6455 requires of clients; the key may be fixed.
std::string client_frame(unsigned opcode, std::string_view payload)
{
    std::string frame;
    frame += static_cast<char>(0x80 | opcode);
    frame += static_cast<char>(0x80 | payload.size());  // control payloads are at most 125 bytes
    const char key[4] = {0x12, 0x34, 0x56, 0x78};
    frame.append(key, 4);
    for (std::size_t i = 0; i < payload.size(); ++i) frame += static_cast<char>(payload[i] ^ key[i % 4]);
    return frame;
}

enum class feed_end { done, dropped };

// One connection of a subscriber. The frames are read straight off the socket, up to 256 KiB at
// a time, rather than through Beast's stream: at a million messages a second the client must cost
// far less than the service it measures. Through Beast (a read, its UTF-8 check and a completion
// per message) 200,000 messages took 1.0 s of CPU here; this way 0.6 s, 0.24 s of it in user
// space.
net::awaitable<feed_end> follow_once(stream_run& run, subscriber& sub, std::size_t number)
{
    auto executor = co_await net::this_coro::executor;
    beast::tcp_stream stream{executor};
    co_await connect(stream, run.svc);
    std::string target = "/api/v1/events?since=" + std::to_string(sub.last_seq) + "&types=execution.*,ansible.*";
    if (run.batch) target += "&batch=true";
    if (!run.execution_id.empty()) target += "&execution_id=" + run.execution_id;
    http::request<http::empty_body> upgrade{http::verb::get, target, 11};
    upgrade.set(http::field::host, run.svc.host());
    upgrade.set(http::field::upgrade, "websocket");
    upgrade.set(http::field::connection, "Upgrade");
    upgrade.set(http::field::sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
    upgrade.set(http::field::sec_websocket_version, "13");
    if (!run.svc.token.empty()) upgrade.set(http::field::authorization, "Bearer " + run.svc.token);
    stream.expires_after(std::chrono::seconds{30});
    co_await http::async_write(stream, upgrade, net::use_awaitable);
    beast::flat_buffer head;
    http::response_parser<http::string_body> parser;
    co_await http::async_read(stream, head, parser, net::use_awaitable);
    stream.expires_never();
    if (parser.get().result() != http::status::switching_protocols)
        throw std::runtime_error("subscriber " + std::to_string(number) + ": the handshake answered HTTP " +
                                 std::to_string(parser.get().result_int()) + " " + parser.get().body() +
                                 " (raise events.max_subscribers if it says too many)");
    if (!sub.connected) {
        sub.connected = true;
        ++run.connected;
    }

    // Frames the service sent right after its answer are already in `head`.
    std::vector<char> buffer(256 * 1024);
    std::size_t begin = 0, end = head.size();
    if (end > buffer.size()) buffer.resize(end);
    net::buffer_copy(net::buffer(buffer), head.data());
    std::string fragments;  // a message sent in several frames, so far
    tcp::socket& socket = stream.socket();
    for (;;) {
        // Every frame in the buffer; the receipt time is when the bytes were read.
        const auto received = clock_type::now();
        const long long received_ns = realtime_ns();
        for (;;) {
            const std::size_t available = end - begin;
            if (available < 2) break;
            const auto* bytes = reinterpret_cast<const unsigned char*>(buffer.data() + begin);
            const bool fin = bytes[0] & 0x80;
            const unsigned opcode = bytes[0] & 0x0f;
            std::size_t header = 2;
            std::uint64_t length = bytes[1] & 0x7f;
            if (length == 126) {
                header = 4;
                if (available < header) break;
                length = (std::uint64_t{bytes[2]} << 8) | bytes[3];
            } else if (length == 127) {
                header = 10;
                if (available < header) break;
                length = 0;
                for (int i = 2; i < 10; ++i) length = (length << 8) | bytes[i];
            }
            if (bytes[1] & 0x80) throw std::runtime_error("the service sent a masked frame, which RFC 6455 forbids: check its WebSocket code");
            if (available < header + length) {
                // Make room for the whole frame after what is buffered.
                if (header + length > buffer.size()) buffer.resize(header + length);
                break;
            }
            const std::string_view payload{buffer.data() + begin + header, static_cast<std::size_t>(length)};
            begin += header + static_cast<std::size_t>(length);
            if (opcode == 0x9) {  // ping: answer, or the service closes an idle-looking connection
                const std::string pong = client_frame(0xA, payload);
                co_await net::async_write(socket, net::buffer(pong), net::use_awaitable);
                continue;
            }
            if (opcode == 0x8) {  // close: code, then the reason ("service shutting down; reconnect with since=N")
                const unsigned code =
                    payload.size() >= 2 ? (static_cast<unsigned char>(payload[0]) << 8) | static_cast<unsigned char>(payload[1]) : 0;
                const std::string close = client_frame(0x8, payload.substr(0, 2));
                co_await net::async_write(socket, net::buffer(close), nothrow_awaitable);
                throw std::runtime_error("subscriber " + std::to_string(number) + " was closed with code " +
                                         std::to_string(code) + ": " +
                                         std::string{payload.size() > 2 ? payload.substr(2) : std::string_view{}});
            }
            if (opcode == 0xA) continue;  // pong
            if (!fin || !fragments.empty()) {
                fragments.append(payload);
                if (!fin) continue;
            }
            const std::string_view message = fragments.empty() ? payload : std::string_view{fragments};
            const bool finished = on_message(run, sub, message, received, received_ns);
            fragments.clear();
            if (finished) {
                const std::string close = client_frame(0x8, std::string_view{"\x03\xe8", 2});  // 1000
                co_await net::async_write(socket, net::buffer(close), nothrow_awaitable);
                co_return feed_end::done;
            }
        }
        if (begin > 0) {
            std::copy(buffer.begin() + static_cast<std::ptrdiff_t>(begin), buffer.begin() + static_cast<std::ptrdiff_t>(end),
                      buffer.begin());
            end -= begin;
            begin = 0;
        }
        auto [ec, n] = co_await socket.async_read_some(net::buffer(buffer.data() + end, buffer.size() - end), nothrow_awaitable);
        if (ec) co_return feed_end::dropped;
        end += n;
    }
}

net::awaitable<void> follow(stream_run& run, subscriber& sub, std::size_t number)
{
    for (;;) {
        const feed_end end = co_await follow_once(run, sub, number);
        if (end == feed_end::done) co_return;
        // Resume after the last event received, as a client should, after the connection
        // dropped without a close (the service drops a subscriber that stopped reading).
        if (++sub.drops > max_drops) {
            throw std::runtime_error("subscriber " + std::to_string(number) + " lost its connection " +
                                     std::to_string(max_drops) + " times; see the service's log");
        }
    }
}

struct stream_outcome {
    json::object execution;
    double store_catchups = 0;  // raydeploy_event_store_catchups_total at the end
    clock_type::time_point posted;
};

net::awaitable<void> drive_stream(stream_run& run, std::vector<subscriber>& subs, std::string checkpoint,
                                  json::object extra_vars, stream_outcome& outcome)
{
    const auto deadline = clock_type::now() + std::chrono::minutes{30};
    while (run.connected < subs.size()) {
        if (clock_type::now() > deadline) throw std::runtime_error("the subscribers did not all connect within 30 minutes; see the service's log");
        co_await sleep_for(std::chrono::milliseconds{10});
    }
    auto executor = co_await net::this_coro::executor;
    beast::tcp_stream rest{executor};
    std::string body = json::serialize(json::object{{"extra_vars", std::move(extra_vars)}});
    outcome.posted = clock_type::now();
    const auto started =
        co_await call(rest, run.svc, http::verb::post, "/api/v1/checkpoints/" + checkpoint, std::move(body));
    if (started.result() != http::status::accepted)
        throw std::runtime_error("POST /api/v1/checkpoints/" + checkpoint + " answered " +
                                 std::to_string(started.result_int()) + ": " + started.body());
    run.execution_id = json::parse(started.body()).at("execution_id").as_string().c_str();

    // Once one subscriber has the run's last event, the others are at most a window's replay
    // behind: a minute without it for one of them is an event the service never sent (a lost
    // wake-up once looked exactly like this, and waited for the 30-minute deadline).
    constexpr auto stragglers_grace = std::chrono::minutes{1};
    std::optional<clock_type::time_point> first_done;
    for (;;) {
        const bool all_done = std::all_of(subs.begin(), subs.end(), [](const subscriber& s) { return s.done; });
        if (all_done) break;
        const auto now = clock_type::now();
        if (!first_done && std::any_of(subs.begin(), subs.end(), [](const subscriber& s) { return s.done; }))
            first_done = now;
        if (first_done && now - *first_done > stragglers_grace) {
            std::string missing;
            for (std::size_t i = 0; i < subs.size(); ++i)
                if (!subs[i].done)
                    missing += "\n  subscriber " + std::to_string(i + 1) + ": " + std::to_string(subs[i].received) +
                               " events of the run, last seq " + std::to_string(subs[i].last_seq);
            throw std::runtime_error("execution.done reached some subscribers and not, a minute later, these:" + missing +
                                     "\nsee the service's log and its /metrics (raydeploy_events_delivered_total, "
                                     "raydeploy_event_subscriber_queue_max)");
        }
        if (now > deadline)
            throw std::runtime_error("execution.done did not reach every subscriber within 30 minutes; see the service's log "
                                     "and GET /api/v1/executions/" + run.execution_id);
        co_await sleep_for(std::chrono::milliseconds{20});
    }
    // The record is final once execution.done is published (with no subscriber: once its status
    // is); read it for final_counter and times, on a new connection (the service closes one idle
    // for http.idle_timeout).
    rest.close();
    for (;;) {
        const auto answer = co_await call(rest, run.svc, http::verb::get, "/api/v1/executions/" + run.execution_id);
        if (answer.result() != http::status::ok)
            throw std::runtime_error("GET /api/v1/executions/" + run.execution_id + " answered " +
                                     std::to_string(answer.result_int()) + ": " + answer.body());
        outcome.execution = json::parse(answer.body()).as_object();
        if (!outcome.execution.at("final_counter").is_null()) break;
        if (clock_type::now() > deadline) throw std::runtime_error("the run did not end within 30 minutes; see GET /api/v1/executions/" + run.execution_id);
        co_await sleep_for(std::chrono::milliseconds{50});
    }
    const auto metrics = co_await call(rest, run.svc, http::verb::get, "/metrics");
    const std::string& exposition = metrics.body();
    const std::string_view name = "\nraydeploy_event_store_catchups_total ";
    if (const auto at = exposition.find(name); at != std::string::npos)
        outcome.store_catchups = std::strtod(exposition.c_str() + at + name.size(), nullptr);
}

int run_stream(const service& svc, const std::string& checkpoint, std::size_t subscribers, long long events,
               long long rate, long long hosts, bool batch)
{
    net::io_context io{1};
    stream_run run{svc, {}, 0, rate > 0, batch};
    std::vector<subscriber> subs(subscribers);
    for (std::size_t i = 0; i < subs.size(); ++i) {
        subs[i].seen.reserve(static_cast<std::size_t>(events) + 16);
        if (run.paced) subs[i].latency_ms.reserve(static_cast<std::size_t>(events));
        net::co_spawn(io, follow(run, subs[i], i + 1), exit_on_error);
    }
    stream_outcome outcome;
    json::object vars{{"event_count", events}, {"event_rate", rate}, {"event_hosts", hosts}};
    run_main(io, drive_stream(run, subs, checkpoint, std::move(vars), outcome));

    const json::object& execution = outcome.execution;
    const long long final_counter =
        execution.at("final_counter").is_number() ? execution.at("final_counter").to_number<long long>() : 0;
    const std::string status = execution.at("status").as_string().c_str();

    std::size_t lost_total = 0, duplicated_total = 0, drops_total = 0, other_total = 0;
    std::vector<double> rates, p99s;
    std::vector<float> latencies;
    auto first_event = clock_type::time_point::max();
    auto last_done = clock_type::time_point::min();
    // One row per subscriber when they fit on a screen; the summary below covers them all.
    const bool rows = !subs.empty() && subs.size() <= 20;
    std::printf("execution %s %s: final_counter %lld (stored, GET /api/v1/executions/{id})\n", run.execution_id.c_str(),
                status.c_str(), final_counter);
    if (rows) {
        std::printf("%-10s %9s %6s %10s %5s %10s", "subscriber", "received", "lost", "duplicated", "drops",
                    "events/s");
        if (run.paced) std::printf(" %8s %8s %8s", "p50_ms", "p99_ms", "max_ms");
        std::printf("\n");
    }
    for (std::size_t i = 0; i < subs.size(); ++i) {
        subscriber& sub = subs[i];
        if (sub.execution != run.execution_id)
            give_up("subscriber " + std::to_string(i + 1) + " followed " + sub.execution + ", not the started run " +
                    run.execution_id + ": start the service on a fresh state directory");
        std::size_t lost = 0, duplicated = 0;
        for (long long c = 1; c <= final_counter; ++c) {
            const auto times = static_cast<std::size_t>(c) < sub.seen.size() ? sub.seen[static_cast<std::size_t>(c)] : 0;
            if (times == 0) ++lost;
            else duplicated += times - 1u;
        }
        for (std::size_t c = static_cast<std::size_t>(final_counter) + 1; c < sub.seen.size(); ++c)
            duplicated += sub.seen[c];  // beyond the end: never stored, so counted as extra
        const double window = seconds_between(sub.first_ansible, sub.done_at);
        const double rate_here =
            window > 0 ? static_cast<double>(sub.final_counter - sub.first_ansible_counter) / window : 0.0;
        rates.push_back(rate_here);
        lost_total += lost;
        duplicated_total += duplicated;
        drops_total += sub.drops;
        other_total += sub.other;
        first_event = std::min(first_event, sub.first_ansible);
        last_done = std::max(last_done, sub.done_at);
        if (rows)
            std::printf("%-10zu %9zu %6zu %10zu %5zu %10.0f", i + 1, sub.received, lost, duplicated, sub.drops,
                        rate_here);
        if (run.paced) {
            std::sort(sub.latency_ms.begin(), sub.latency_ms.end());
            p99s.push_back(percentile(sub.latency_ms, 0.99));
            if (rows)
                std::printf(" %8.2f %8.2f %8.2f", percentile(sub.latency_ms, 0.5), p99s.back(),
                            sub.latency_ms.empty() ? 0.0 : sub.latency_ms.back());
            latencies.insert(latencies.end(), sub.latency_ms.begin(), sub.latency_ms.end());
            std::vector<float>{}.swap(sub.latency_ms);
        }
        if (rows) std::printf("\n");
    }
    // The service's own clock: started_at to finished_at of the record (child start to its end).
    double stored_rate = 0;
    const auto started_ms = epoch_ms(execution.at("started_at"));
    const auto finished_ms = epoch_ms(execution.at("finished_at"));
    if (started_ms && finished_ms && *finished_ms > *started_ms)
        stored_rate = static_cast<double>(final_counter) * 1000.0 / (*finished_ms - *started_ms);
    const auto print_stored = [&] {
        std::printf("stored: %lld events, %.0f events/s by the record's started_at to finished_at\n", final_counter,
                    stored_rate);
    };
    if (subs.empty()) {
        print_stored();
        std::printf("RESULT status=%s final_counter=%lld stored_per_s=%.0f client_cpu_s=%.2f\n", status.c_str(),
                    final_counter, stored_rate, own_cpu_seconds());
        return status == "succeeded" ? 0 : 1;
    }
    // The whole pipeline's rate: from the first Ansible event any subscriber got to the last
    // execution.done, so every subscriber had every event.
    const long long first_counter =
        std::min_element(subs.begin(), subs.end(), [](const subscriber& a, const subscriber& b) {
            return a.first_ansible_counter < b.first_ansible_counter;
        })->first_ansible_counter;
    const double window = seconds_between(first_event, last_done);
    const double all_rate = window > 0 ? static_cast<double>(final_counter - first_counter) / window : 0.0;
    std::sort(rates.begin(), rates.end());
    std::sort(p99s.begin(), p99s.end());
    std::printf("%zu subscribers: %.0f events/s each from the first Ansible event to the last execution.done "
                "(%.3f s; per subscriber %.0f to %.0f); %zu lost, %zu duplicated, %zu resumes after a dropped "
                "connection, %.0f catch-ups from the store (raydeploy_event_store_catchups_total)\n",
                subs.size(), all_rate, window, rates.front(), rates.back(), lost_total, duplicated_total, drops_total,
                outcome.store_catchups);
    print_stored();
    if (run.paced) {
        std::sort(latencies.begin(), latencies.end());
        std::printf("latency from the source's write to receipt, %zu samples: p50 %.2f ms, p99 %.2f ms, max %.2f ms; "
                    "p99 per subscriber %.2f to %.2f ms\n",
                    latencies.size(), percentile(latencies, 0.5), percentile(latencies, 0.99),
                    latencies.empty() ? 0.0 : latencies.back(), p99s.front(), p99s.back());
    }
    std::printf("RESULT status=%s final_counter=%lld events_per_s=%.0f stored_per_s=%.0f subscriber_min_per_s=%.0f "
                "subscriber_max_per_s=%.0f lost=%zu duplicated=%zu catchups=%.0f drops=%zu other=%zu client_cpu_s=%.2f",
                status.c_str(), final_counter, all_rate, stored_rate, rates.front(), rates.back(), lost_total,
                duplicated_total, outcome.store_catchups, drops_total, other_total, own_cpu_seconds());
    if (run.paced)
        std::printf(" latency_samples=%zu p50_ms=%.3f p99_ms=%.3f max_ms=%.3f worst_subscriber_p99_ms=%.3f",
                    latencies.size(), percentile(latencies, 0.5), percentile(latencies, 0.99),
                    latencies.empty() ? 0.0 : latencies.back(), p99s.back());
    std::printf("\n");
    return status == "succeeded" ? 0 : 1;
}

// ------------------------------------------------------------------------------------------------
// starts: executions started per second over REST.

struct starts_run {
    service svc;
    std::string prefix;
    std::string body;
    std::size_t count = 0;
    std::size_t next = 0;
    std::vector<std::string> accepted;
    std::map<unsigned, std::size_t> refused;  // HTTP status -> answers
    std::string first_refusal;
    clock_type::time_point last_answer;
};

std::string checkpoint_name(const std::string& prefix, std::size_t index)
{
    char suffix[24];
    std::snprintf(suffix, sizeof suffix, "-%03zu", index + 1);
    return prefix + suffix;
}

net::awaitable<void> post_starts(starts_run& run)
{
    auto executor = co_await net::this_coro::executor;
    beast::tcp_stream stream{executor};
    co_await connect(stream, run.svc);
    while (run.next < run.count) {
        const std::size_t index = run.next++;
        const auto answer = co_await call(stream, run.svc, http::verb::post,
                                          "/api/v1/checkpoints/" + checkpoint_name(run.prefix, index), run.body);
        run.last_answer = clock_type::now();
        if (answer.result() == http::status::accepted) {
            run.accepted.push_back(json::parse(answer.body()).at("execution_id").as_string().c_str());
        } else {
            ++run.refused[answer.result_int()];
            if (run.first_refusal.empty())
                run.first_refusal = std::to_string(answer.result_int()) + " " + answer.body().substr(0, 300);
        }
    }
}

bool is_final(std::string_view status)
{
    return status == "succeeded" || status == "failed" || status == "cancelled" || status == "timed_out" ||
           status == "interrupted";
}

// Every execution the list shows: id -> status, all pages.
net::awaitable<std::map<std::string, std::string>> list_executions(beast::tcp_stream& stream, const service& svc)
{
    std::map<std::string, std::string> out;
    std::string cursor;
    for (;;) {
        std::string target = "/api/v1/executions?limit=500";
        if (!cursor.empty()) target += "&cursor=" + cursor;
        const auto answer = co_await call(stream, svc, http::verb::get, target);
        if (answer.result() != http::status::ok)
            throw std::runtime_error("GET " + target + " answered " + std::to_string(answer.result_int()) + ": " +
                                     answer.body().substr(0, 300));
        const json::object page = json::parse(answer.body()).as_object();
        for (const auto& item : page.at("executions").as_array()) {
            const auto& record = item.as_object();
            out[record.at("execution_id").as_string().c_str()] = record.at("status").as_string().c_str();
        }
        if (page.at("next_cursor").is_null()) break;
        cursor = page.at("next_cursor").as_string().c_str();
    }
    co_return out;
}

net::awaitable<void> drive_starts(starts_run& run, std::size_t connections)
{
    auto executor = co_await net::this_coro::executor;
    const auto started = clock_type::now();
    co_await run_workers(connections, [&run] { return post_starts(run); });
    const double posting = seconds_between(started, run.last_answer);

    // None lost: every accepted execution reaches a final status, and the list shows it.
    beast::tcp_stream stream{executor};
    std::map<std::string, std::string> listed;
    std::size_t not_final = 0, missing = 0;
    const auto deadline = clock_type::now() + std::chrono::minutes{10};
    for (;;) {
        listed = co_await list_executions(stream, run.svc);
        not_final = missing = 0;
        for (const auto& id : run.accepted) {
            const auto it = listed.find(id);
            if (it == listed.end()) ++missing;
            else if (!is_final(it->second)) ++not_final;
        }
        if (not_final == 0 || clock_type::now() > deadline) break;
        co_await sleep_for(std::chrono::milliseconds{250});
    }
    const double drained = seconds_between(started, clock_type::now());

    std::map<std::string, std::size_t> statuses;
    for (const auto& id : run.accepted)
        if (auto it = listed.find(id); it != listed.end()) ++statuses[it->second];
    std::size_t refused = 0;
    for (const auto& [code, n] : run.refused) refused += n;
    std::printf("%zu POSTs on %zu connections in %.3f s: %zu accepted (%.0f/s), %zu refused", run.count, connections,
                posting, run.accepted.size(), posting > 0 ? static_cast<double>(run.accepted.size()) / posting : 0.0,
                refused);
    for (const auto& [code, n] : run.refused) std::printf(" [%u: %zu]", code, n);
    std::printf("\n");
    if (!run.first_refusal.empty()) std::printf("first refusal: %s\n", run.first_refusal.c_str());
    std::printf("after %.1f s: %zu listed by GET /api/v1/executions, %zu missing, %zu not final;", drained,
                run.accepted.size() - missing, missing, not_final);
    for (const auto& [status, n] : statuses) std::printf(" %s %zu", status.c_str(), n);
    std::printf("\n");
    std::printf("RESULT posted=%zu accepted=%zu refused=%zu seconds=%.3f accepted_per_s=%.0f listed=%zu missing=%zu "
                "not_final=%zu succeeded=%zu drain_seconds=%.1f\n",
                run.count, run.accepted.size(), refused, posting,
                posting > 0 ? static_cast<double>(run.accepted.size()) / posting : 0.0, run.accepted.size() - missing,
                missing, not_final, statuses["succeeded"], drained);
}

// ------------------------------------------------------------------------------------------------
// hold: idle subscribers.

struct hold_run {
    service svc;
    std::size_t count = 0;
    std::size_t next = 0;
    std::size_t connected = 0;
};

net::awaitable<void> hold_one(std::shared_ptr<websocket::stream<beast::tcp_stream>> ws)
{
    // Reading keeps answering the service's pings; the subscriber is idle otherwise.
    beast::flat_buffer buffer;
    for (;;) {
        auto [ec, n] = co_await ws->async_read(buffer, nothrow_awaitable);
        if (ec) give_up("an idle subscriber was closed: " + ec.message() + " (close code " +
                        std::to_string(ws->reason().code) + "); the service's log says why");
        buffer.consume(n);
    }
}

net::awaitable<void> open_subscribers(hold_run& run)
{
    auto executor = co_await net::this_coro::executor;
    while (run.next < run.count) {
        const std::size_t number = ++run.next;
        auto ws = std::make_shared<websocket::stream<beast::tcp_stream>>(executor);
        co_await connect(ws->next_layer(), run.svc);
        ws->set_option(websocket::stream_base::decorator([token = run.svc.token](websocket::request_type& req) {
            if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
        }));
        websocket::response_type answer;
        ws->next_layer().expires_after(std::chrono::seconds{30});
        auto [ec] = co_await ws->async_handshake(answer, run.svc.host(), "/api/v1/events?types=execution.done", nothrow_awaitable);
        if (ec)
            throw std::runtime_error("subscriber " + std::to_string(number) + ": the handshake failed (" + ec.message() +
                                     ", HTTP " + std::to_string(answer.result_int()) + " " + answer.body() +
                                     "); raise events.max_subscribers and http.max_connections");
        ws->next_layer().expires_never();
        ws->set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
        ++run.connected;
        net::co_spawn(executor, hold_one(ws), net::detached);
    }
}

net::awaitable<void> drive_hold(hold_run& run, std::chrono::seconds hold)
{
    // A few handshakes at a time, as many clients connecting at once would.
    co_await run_workers(std::min<std::size_t>(32, run.count), [&run] { return open_subscribers(run); });
    std::printf("connected %zu\n", run.connected);
    std::fflush(stdout);
    co_await sleep_for(hold);
    std::exit(0);
}

long long number_argument(const char* text, const char* what)
{
    char* end = nullptr;
    const long long value = std::strtoll(text, &end, 10);
    if (!*text || *end || value < 0) give_up(std::string{what} + " must be a whole number, got '" + text + "'");
    return value;
}

}  // namespace
}  // namespace raydeploy

int main(int argc, char** argv)
{
    using namespace raydeploy;
    raise_descriptor_limit();
    const std::string mode = argc > 1 ? argv[1] : "";
    service svc{argc > 2 ? argv[2] : "", std::getenv("RAYDEPLOY_TOKEN") ? std::getenv("RAYDEPLOY_TOKEN") : ""};
    if (mode == "stream" && (argc == 8 || argc == 9)) {
        const std::string messages = argc == 9 ? argv[8] : "batch";
        if (messages != "batch" && messages != "single") {
            std::fprintf(stderr, "bench_events: MESSAGES must be batch or single, not '%s'\n", messages.c_str());
            return 2;
        }
        return run_stream(svc, argv[3], static_cast<std::size_t>(number_argument(argv[4], "SUBSCRIBERS")),
                          number_argument(argv[5], "EVENTS"), number_argument(argv[6], "RATE"),
                          number_argument(argv[7], "HOSTS"), messages == "batch");
    }
    if (mode == "starts" && (argc == 6 || argc == 7)) {
        net::io_context io{1};
        starts_run run{svc, argv[3], argc == 7 ? argv[6] : "{}", static_cast<std::size_t>(number_argument(argv[4], "COUNT")),
                       0, {}, {}, {}, {}};
        run_main(io, drive_starts(run, static_cast<std::size_t>(std::max(1LL, number_argument(argv[5], "CONNECTIONS")))));
        return 0;
    }
    if (mode == "hold" && argc == 5) {
        net::io_context io{1};
        hold_run run{svc, static_cast<std::size_t>(number_argument(argv[3], "SUBSCRIBERS")), 0, 0};
        run_main(io, drive_hold(run, std::chrono::seconds{number_argument(argv[4], "SECONDS")}));
        return 0;
    }
    std::cerr << "usage: bench_events stream PORT CHECKPOINT SUBSCRIBERS EVENTS RATE HOSTS\n"
                 "       bench_events starts PORT PREFIX COUNT CONNECTIONS [BODY]\n"
                 "       bench_events hold PORT SUBSCRIBERS SECONDS\n"
                 "(scripts/bench-events.sh runs these; RAYDEPLOY_TOKEN is sent as the bearer token)\n";
    return 2;
}
