// Building responses: JSON bodies, and the one error shape every 4xx/5xx uses:
// {"error": "CODE", "message": "what happened and what to do next", ...details}.
#pragma once

#include "raydeploy/util/net.hpp"

#include <boost/optional/optional.hpp>

#include <array>
#include <chrono>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>

namespace raydeploy::web {

// The text of an answer: its own, or text kept elsewhere and shared by every answer that sends it
// (a cached answer, an embedded asset). A polled 38 KB page costs an allocation, a copy and, as
// the heap grows and shrinks under load, page faults per request when each answer owns a copy;
// shared, it costs a reference count.
class body_text {
public:
    body_text& operator=(std::string text)
    {
        own_ = std::move(text);
        drop_shared();
        return *this;
    }

    // Sends `text` without copying it. It must stay valid while `owner` lives; a null owner means
    // for the program's lifetime (text compiled in).
    void share(std::string_view text, std::shared_ptr<const void> owner)
    {
        own_.clear();
        shared_ = text;
        owner_ = std::move(owner);
        is_shared_ = true;
    }

    // The text as an own, modifiable string: shared text is copied into it first.
    std::string& own()
    {
        if (is_shared_) {
            own_.assign(shared_);
            drop_shared();
        }
        return own_;
    }
    body_text& operator+=(std::string_view more)
    {
        own() += more;
        return *this;
    }
    body_text& operator+=(char more)
    {
        own() += more;
        return *this;
    }

    std::string_view view() const { return is_shared_ ? shared_ : std::string_view{own_}; }
    operator std::string_view() const { return view(); }  // NOLINT: reads like the string it replaced
    std::size_t size() const { return view().size(); }
    bool empty() const { return view().empty(); }
    void clear()
    {
        own_.clear();
        drop_shared();
    }

    friend bool operator==(const body_text& body, std::string_view text) { return body.view() == text; }
    friend std::ostream& operator<<(std::ostream& out, const body_text& body) { return out << body.view(); }

private:
    void drop_shared()
    {
        shared_ = {};
        owner_.reset();
        is_shared_ = false;
    }

    std::string own_;
    std::string_view shared_;
    std::shared_ptr<const void> owner_;
    bool is_shared_ = false;
};

// A Beast Body (serialisation only: the service writes answers, it never parses them) over body_text.
struct response_body {
    using value_type = body_text;

    static std::uint64_t size(const value_type& body) { return body.size(); }

    class writer {
    public:
        using const_buffers_type = net::const_buffer;

        template <bool is_request, class Fields>
        writer(const http::header<is_request, Fields>&, const value_type& body) : body_{body}
        {
        }
        void init(beast::error_code& ec) { ec = {}; }
        boost::optional<std::pair<const_buffers_type, bool>> get(beast::error_code& ec)
        {
            ec = {};
            const std::string_view text = body_.view();
            return {{const_buffers_type{text.data(), text.size()}, false}};
        }

    private:
        const value_type& body_;
    };
};

using request = http::request<http::string_body>;
using response = http::response<response_body>;

// An answer the transport gives instead of running a handler: the request came from a place it
// does not answer (Host, Origin), in a form it refuses (Content-Type), without a valid credential,
// or with too low a role. `details` are extra members of the error body ("header", "required_role").
struct refusal {
    http::status status = http::status::bad_request;
    std::string code;
    std::string message;
    json::object details;
};

// The status line and header fields of `res` as one piece of text, as Beast's serializer writes
// them. Beast's serializer hands the socket one buffer per field and walks that sequence several
// times per write: 8% of the service's time for a small answer (perf, 2026-12-05). The server
// writes this and the body instead, two buffers. `more_fields` (whole "Name: value\r\n" lines)
// follow the answer's own fields: those the server adds to every answer, kept as one piece of text
// rather than set on each answer's field list. Written over `text`, whose capacity a connection
// keeps from one answer to the next.
void write_header_text(std::string& text, const response& res, std::string_view more_fields = {});

// The fields the server writes on every answer, errors included, as write_header_text's
// `more_fields`: the product token; no browser guesses a JSON or text body to be a page or script;
// no URL of this service (ids, approval links) leaks to other sites.
std::string_view every_answer_fields();

// Writes an answer whose payload is prepared (prepare_payload, a HEAD's cleared body, or a
// streamed answer's own Content-Length or chunked coding) as two buffers: its header text, with
// every_answer_fields, written over `head`, and its body.
template <class Stream>
net::awaitable<std::tuple<beast::error_code, std::size_t>> write_response(Stream& stream, const response& res,
                                                                         std::string& head)
{
    write_header_text(head, res, every_answer_fields());
    const std::array<net::const_buffer, 2> wire{net::buffer(head), net::buffer(res.body().view())};
    auto written = co_await net::async_write(stream, wire, nothrow_awaitable);
    co_return written;
}

response json_response(http::status status, const json::value& body);
// `serialized_object` (an object serialized earlier, "{...}") with the members of `more` added: for
// a large answer made once and served many times, where only a few members change per request.
response json_response(http::status status, std::string_view serialized_object, const json::object& more);
response error_response(http::status status, std::string_view code, std::string_view message,
                        const json::object& details = {});
response error_response(const refusal& reason);
response text_response(http::status status, std::string body, std::string_view content_type);
// 503 with `Retry-After`: a limit (connections, subscribers) is reached for now, not an error of
// the request; the client tries again after `retry_after`.
response busy_response(std::string_view code, std::string_view message,
                       std::chrono::seconds retry_after = std::chrono::seconds{5});

}  // namespace raydeploy::web
