// GET /api/v1/events: the WebSocket event feed. A subscriber may pass since=<seq>: stored events
// after it are replayed, then live ones follow with no gap and no duplicate. One reader and one
// writer per socket; a subscriber that falls behind catches up from the store, and one that stops
// reading is dropped.
#include "raydeploy/api/request_bodies.hpp"
#include "raydeploy/api/routes.hpp"
#include "raydeploy/auth/tickets.hpp"
#include "raydeploy/auth/tokens.hpp"
#include "raydeploy/events/batch_message.hpp"
#include "raydeploy/events/event_bus.hpp"
#include "raydeploy/events/event_reader.hpp"
#include "raydeploy/metrics/service_metrics.hpp"
#include "raydeploy/util/log.hpp"
#include "raydeploy/util/time.hpp"
#include "raydeploy/util/version.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/beast/websocket.hpp>

#include <array>

namespace raydeploy::api {
namespace {

namespace websocket = beast::websocket;
using ws_stream = websocket::stream<http_stream&>;
using namespace net::experimental::awaitable_operators;

// Holds one of the events.max_subscribers places from the moment the upgrade is accepted until
// the connection ends (or the upgrade is never run, as for HEAD), so concurrent handshakes cannot
// overshoot the cap while they wait to subscribe.
class subscriber_place {
public:
    explicit subscriber_place(std::shared_ptr<std::size_t> taken) : taken_{std::move(taken)} { ++*taken_; }
    ~subscriber_place() { --*taken_; }
    subscriber_place(const subscriber_place&) = delete;
    subscriber_place& operator=(const subscriber_place&) = delete;

private:
    std::shared_ptr<std::size_t> taken_;
};

struct feed_request {
    event_filter filter;
    std::optional<std::int64_t> since;  // replay stored events after this seq; none: live only
    bool subprotocol = false;           // answer with Sec-WebSocket-Protocol: raydeploy
    bool batch = false;                 // JSON arrays of events rather than one event per message
};

// Browsers fail a handshake that offered subprotocols when the answer selects none, so a client
// that offers any must offer ours. The bearer one is never selected: the answer would echo the token.
bool choose_subprotocol(const request& req)
{
    const auto offered = offered_subprotocols(req);
    if (offered.empty()) return false;
    if (std::find(offered.begin(), offered.end(), websocket_subprotocol) != offered.end()) return true;
    throw api_error{http::status::bad_request, "BAD_REQUEST",
                    "Sec-WebSocket-Protocol must offer 'raydeploy' (with 'raydeploy.bearer.TOKEN' beside it when "
                    "the token travels there): new WebSocket(url, ['raydeploy', 'raydeploy.bearer.' + token])",
                    json::object{{"header", "Sec-WebSocket-Protocol"}}};
}

// Incoming messages carry nothing we act on; reading keeps control frames (ping, close) flowing.
net::awaitable<void> read_until_closed(ws_stream& ws)
{
    beast::flat_buffer buffer;
    for (;;) {
        auto [ec, n] = co_await ws.async_read(buffer, nothrow_awaitable);
        if (ec) co_return;  // closed by the peer, oversized message (1009 sent by Beast), or cancelled
        buffer.consume(n);
    }
}

// Drops a subscriber that stopped reading: from the moment the window of recent events leaves it
// behind, a write to it must complete within the grace, or its connection is closed. A slow
// reader that still reads is never dropped; it catches up through the store.
class stall_watch {
public:
    explicit stall_watch(http_stream& stream) : stream_{stream}, timer_{stream.get_executor()} {}
    ~stall_watch() { timer_.cancel(); }
    stall_watch(const stall_watch&) = delete;
    stall_watch& operator=(const stall_watch&) = delete;

    void arm(const std::shared_ptr<event_subscription>& subscription)
    {
        if (state_->armed) return;
        state_->armed = true;
        timer_.expires_after(grace);
        // The handler may run after this watch is gone (it expired just as the feed ended), or
        // after a write completed and the watch was armed anew: it holds the state and the
        // generation it was armed for, not the watch.
        timer_.async_wait([state = std::weak_ptr<watch_state>{state_}, generation = ++state_->generation,
                           stream = &stream_,
                           weak = std::weak_ptr<event_subscription>{subscription}](boost::system::error_code ec) {
            const auto current = state.lock();
            if (ec || !current || !current->armed || current->generation != generation) return;
            current->armed = false;
            auto& metrics = metrics::service_metrics::instance();
            metrics.slow_subscriber_closes.Increment();
            if (const auto subscription = weak.lock())
                metrics.events_dropped.Increment(static_cast<double>(subscription->lag()));
            log::info("event subscriber stopped reading; dropping it", {{"grace_s", grace.count()}});
            stream->socket().close(ec);
        });
    }

    // A write completed: the subscriber reads.
    void progress()
    {
        if (!state_->armed) return;
        state_->armed = false;
        timer_.cancel();
    }

    static constexpr std::chrono::seconds grace{10};

private:
    struct watch_state {
        bool armed = false;
        std::uint64_t generation = 0;
    };
    http_stream& stream_;
    net::steady_timer timer_;
    std::shared_ptr<watch_state> state_ = std::make_shared<watch_state>();
};

// What one subscriber is sent: one message per event, or with batch=true a JSON array of the
// events that are ready together (a page of the replay, or what queued while the previous message
// was being written). A writer that sends one message per event spends most of its time in
// per-message work, and at a few thousand events a second it falls behind; a batch costs one write
// whatever it holds, and is written from the events' own text (batch_message).
class feed_writer {
public:
    feed_writer(ws_stream& ws, bool batch, std::size_t batch_bytes, stall_watch& stalls)
        : ws_{ws}, batch_{batch}, batch_bytes_{batch_bytes}, stalls_{stalls}
    {
        ws_.text(true);
    }

    // Sends the event, or adds it to the batch (sent once it reaches batch_bytes). `item` may be
    // the bus's own pointer, which a publish can drop while this waits for a write: what is
    // written is held until the write is done.
    net::awaitable<bool> add(const published_event_ptr& item)
    {
        if (!batch_) {
            const published_event_ptr held = item;
            const bool sent = co_await write(std::array{net::buffer(held->text)}, 1);
            co_return sent;
        }
        batch_message_.add(item);
        if (batch_message_.bytes() < batch_bytes_) co_return true;
        const bool sent = co_await flush();
        co_return sent;
    }

    // Sends the batch being built, if any.
    net::awaitable<bool> flush()
    {
        if (batch_message_.empty()) co_return true;
        const bool sent = co_await write(batch_message_.buffers(), batch_message_.events());
        batch_message_.clear();
        co_return sent;
    }

private:
    // `message` is a view (a span or an array): Beast copies the sequence into its operation.
    template <class ConstBuffers>
    net::awaitable<bool> write(const ConstBuffers& message, std::size_t events)
    {
        auto [ec, n] = co_await ws_.async_write(message, nothrow_awaitable);
        if (ec) co_return false;
        stalls_.progress();
        metrics::service_metrics::instance().events_delivered.Increment(static_cast<double>(events));
        co_return true;
    }

    ws_stream& ws_;
    bool batch_;
    std::size_t batch_bytes_;
    stall_watch& stalls_;
    batch_message batch_message_;
};

net::awaitable<void> write_events(ws_stream& ws, std::shared_ptr<event_subscription> subscription,
                                  std::shared_ptr<const service_state> state, feed_request request,
                                  stall_watch& stalls)
{
    feed_writer writer{ws, request.batch, state->event_options.page_bytes, stalls};
    bool catching_up = false;
    for (;;) {
        // Everything the window holds for this subscriber, in one go; the store for what left it
        // (a since= further back, or a reader that fell behind), page by page.
        while (subscription->is_open()) {
            const auto next = subscription->take();
            if (next.behind) {
                if (!catching_up) metrics::service_metrics::instance().store_catchups.Increment();
                catching_up = true;
                const std::int64_t through = state->bus->evicted_through();
                const auto page = co_await state->event_pages->read(subscription->position(), through,
                                                                     request.filter, 500,
                                                                     state->event_options.page_bytes);
                for (const auto& item : page) {
                    const bool sent = co_await writer.add(item);
                    if (!sent) co_return;
                }
                subscription->caught_up(page.empty() ? through : page.back()->seq);
                const bool flushed = co_await writer.flush();
                if (!flushed) co_return;
                continue;
            }
            catching_up = false;
            if (!next.item) break;
            const bool sent = co_await writer.add(*next.item);
            if (!sent) co_return;
        }
        const bool flushed = co_await writer.flush();
        if (!flushed) co_return;
        const bool more = co_await subscription->wait();
        if (!more) break;
    }
    // Closed: the service is shutting down.
    websocket::close_reason reason;
    reason.code = websocket::close_code::going_away;  // 1001
    reason.reason = "service shutting down; reconnect with since=" + std::to_string(subscription->position());
    co_await ws.async_close(reason, nothrow_awaitable);
}

net::awaitable<void> run_feed(http_stream& stream, std::function<void()>& on_shutdown,
                              std::shared_ptr<const service_state> state, request req, feed_request feed,
                              [[maybe_unused]] std::shared_ptr<subscriber_place> place)
{
    // `place` holds this subscriber's place under events.max_subscribers until the feed ends.
    ws_stream ws{stream};
    auto timeouts = websocket::stream_base::timeout::suggested(beast::role_type::server);
    timeouts.idle_timeout = state->websocket_options.idle_timeout;  // pings after half of it
    timeouts.keep_alive_pings = true;
    ws.set_option(timeouts);
    ws.read_message_max(state->websocket_options.max_message);
    // Each message in one frame: Beast would otherwise cut it into write-buffer-sized frames
    // (4 KiB), a send each, and a batch can be up to events.page_bytes.
    ws.auto_fragment(false);
    ws.set_option(websocket::stream_base::decorator([subprotocol = feed.subprotocol](websocket::response_type& res) {
        res.set(http::field::server, product_token());
        if (subprotocol) res.set(http::field::sec_websocket_protocol, websocket_subprotocol);
    }));
    auto [accept_ec] = co_await ws.async_accept(req, nothrow_awaitable);
    if (accept_ec) co_return;

    // Events up to since= come from the store, later ones from the bus's window; with no since=,
    // everything published after this moment.
    auto subscription = state->bus->subscribe(feed.filter, feed.since.value_or(state->bus->last_seq()));
    on_shutdown = [weak = std::weak_ptr<event_subscription>{subscription}] {
        if (auto s = weak.lock()) s->close();
    };
    stall_watch stalls{stream};
    subscription->on_fell_behind = [&stalls, weak = std::weak_ptr<event_subscription>{subscription}] {
        if (auto s = weak.lock()) stalls.arm(s);
    };
    co_await (read_until_closed(ws) || write_events(ws, subscription, state, std::move(feed), stalls));
    subscription->on_fell_behind = nullptr;
    on_shutdown = nullptr;
}

}  // namespace

void add_event_routes(router& routes, const std::shared_ptr<const service_state>& state)
{
    auto subscribers = std::make_shared<std::size_t>(0);
    add_websocket_route(routes, "/api/v1/events", role::viewer, [state, subscribers](request_context& ctx) -> net::awaitable<response> {
        feed_request feed;
        if (ctx.query("since")) feed.since = query_integer(ctx, "since", 0, 0, INT64_MAX);
        feed.filter.execution_id = ctx.query("execution_id");
        feed.batch = query_flag(ctx, "batch");
        // The handshake's authentication redeemed a ticket already; here only its form is checked,
        // so that a plain GET answers a malformed one as it answers any bad parameter.
        if (const auto ticket = ctx.query("ticket"); ticket && !ticket_format(*ticket))
            invalid_parameter("ticket", "expected a ticket from POST /api/v1/events/tickets (rdt_ and 43 characters); "
                                        "a ticket works once, within 30 s of being issued");
        if (auto types = ctx.query("types")) {
            std::string bad;
            auto patterns = parse_type_patterns(*types, bad);
            if (!patterns)
                invalid_parameter("types", "'" + bad + "' is not an event type pattern; use names such as "
                                           "execution.done or prefixes such as ansible.*");
            feed.filter.types = std::move(*patterns);
        }
        if (!websocket::is_upgrade(ctx.req)) {
            auto res = error_response(http::status::upgrade_required, "UPGRADE_REQUIRED",
                                      "this is a WebSocket endpoint; connect with a WebSocket client (for example "
                                      "websocat ws://HOST:PORT/api/v1/events?since=0)");
            res.set(http::field::upgrade, "websocket");
            res.set(http::field::connection, "Upgrade");
            co_return res;
        }
        const std::size_t max_subscribers = state->event_options.max_subscribers;
        if (*subscribers >= max_subscribers) {
            co_return busy_response("TOO_MANY_SUBSCRIBERS",
                                    "the event feed already has " + std::to_string(max_subscribers) +
                                        " subscribers (events.max_subscribers); retry after a few seconds, or poll "
                                        "GET /api/v1/executions/{id}/events instead");
        }
        feed.subprotocol = choose_subprotocol(ctx.req);
        auto place = std::make_shared<subscriber_place>(subscribers);
        ctx.take_over = [state, req = ctx.req, feed, place](http_stream& stream, std::function<void()>& on_shutdown) {
            return run_feed(stream, on_shutdown, state, req, feed, place);
        };
        co_return response{http::status::switching_protocols, 11};
    });

    // A browser's way to authenticate the handshake without putting its token in the URL.
    add_route(routes, http::verb::post, "/api/v1/events/tickets", role::viewer, [state](request_context& ctx) -> net::awaitable<response> {
        check_ticket_request(json_body(ctx));
        const std::string ticket = state->tickets->issue(ctx.caller);
        const auto ttl = state->tickets->ttl();
        auto res = json_response(http::status::created,
                                 json::object{{"ticket", ticket},
                                              {"expires_at", format_timestamp(std::chrono::system_clock::now() + ttl)},
                                              {"expires_in_s", ttl.count()}});
        res.set(http::field::cache_control, "no-store");
        co_return res;
    });
}

}  // namespace raydeploy::api
