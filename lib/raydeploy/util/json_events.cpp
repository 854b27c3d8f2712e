// Boost.JSON's basic_parser driving a json_event_reader (see json_events.hpp).
#include "raydeploy/util/json_events.hpp"

#include <boost/json/basic_parser_impl.hpp>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

namespace raydeploy::util {

namespace {

using boost::system::error_code;

std::string_view view(boost::json::string_view text) { return {text.data(), text.size()}; }

// The handler basic_parser calls: keeps the path of containers and forwards what the reader wants.
class event_handler {
public:
    static constexpr std::size_t max_object_size = std::size_t(-1);
    static constexpr std::size_t max_array_size = std::size_t(-1);
    static constexpr std::size_t max_key_size = std::size_t(-1);
    static constexpr std::size_t max_string_size = std::size_t(-1);

    event_handler(json_event_reader& reader, std::string_view body) : reader_(reader), body_(body) {}

    bool on_document_begin(error_code&) { return true; }
    bool on_document_end(error_code&) { return true; }

    bool on_object_begin(error_code&) { return begin(true); }
    bool on_object_end(std::size_t n, error_code&) { return end(n); }
    bool on_array_begin(error_code&) { return begin(false); }
    bool on_array_end(std::size_t n, error_code&) { return end(n); }

    bool on_key_part(boost::json::string_view part, std::size_t, error_code&)
    {
        if (skipped_depth_ == 0) key_.append(part.data(), part.size());
        return true;
    }
    bool on_key(boost::json::string_view part, std::size_t, error_code&)
    {
        if (skipped_depth_ > 0) return true;
        // The key is needed until its value has been read. A key without escapes is a view of the
        // body, which outlives the parse; one with escapes is in the parser's own buffer, which the
        // value may reuse: copy that one.
        const bool in_body = key_.empty() && std::less_equal<>()(body_.data(), part.data()) &&
                             std::less_equal<>()(part.data() + part.size(), body_.data() + body_.size());
        if (in_body) {
            key_view_ = view(part);
        } else {
            key_.append(part.data(), part.size());
            key_view_ = key_;
        }
        return true;
    }

    bool on_string_part(boost::json::string_view part, std::size_t, error_code&)
    {
        if (skipped_depth_ == 0) string_.append(part.data(), part.size());
        return true;
    }
    bool on_string(boost::json::string_view part, std::size_t, error_code&)
    {
        if (skipped_depth_ > 0) return true;
        json_scalar scalar;
        scalar.type = json_scalar::kind::string;
        if (string_.empty()) {
            scalar.text = view(part);
        } else {
            string_.append(part.data(), part.size());
            scalar.text = string_;
        }
        deliver(scalar);
        string_.clear();
        return true;
    }

    bool on_number_part(boost::json::string_view, error_code&) { return true; }
    bool on_int64(std::int64_t number, boost::json::string_view, error_code&)
    {
        json_scalar scalar;
        scalar.type = json_scalar::kind::int64;
        scalar.int64 = number;
        return deliver(scalar);
    }
    bool on_uint64(std::uint64_t number, boost::json::string_view, error_code&)
    {
        json_scalar scalar;
        scalar.type = json_scalar::kind::uint64;
        scalar.uint64 = number;
        return deliver(scalar);
    }
    bool on_double(double number, boost::json::string_view, error_code& ec)
    {
        // Too large for a double: see json_input.hpp.
        if (!std::isfinite(number)) {
            ec = boost::json::error::exponent_overflow;
            return false;
        }
        json_scalar scalar;
        scalar.type = json_scalar::kind::floating;
        scalar.floating = number;
        return deliver(scalar);
    }
    bool on_bool(bool flag, error_code&)
    {
        json_scalar scalar;
        scalar.type = json_scalar::kind::boolean;
        scalar.boolean = flag;
        return deliver(scalar);
    }
    bool on_null(error_code&) { return deliver(json_scalar{}); }

    bool on_comment_part(boost::json::string_view, error_code&) { return true; }
    bool on_comment(boost::json::string_view, error_code&) { return true; }

private:
    struct frame {
        int role;
        bool is_object;
        std::size_t members = 0;  // seen so far: the index of the next one
    };

    json_place place() const
    {
        if (frames_.empty()) return {json_event_reader::document, {}, 0};
        const auto& parent = frames_.back();
        return {parent.role, parent.is_object ? key_view_ : std::string_view(), parent.members};
    }

    // The current member of the innermost container is done.
    void next_member()
    {
        if (frames_.empty()) return;
        ++frames_.back().members;
        key_.clear();
        key_view_ = {};
    }

    bool begin(bool is_object)
    {
        if (skipped_depth_ > 0) {
            ++skipped_depth_;
            return true;
        }
        const int role = reader_.container(place(), is_object);
        if (role == json_event_reader::skip) {
            skipped_depth_ = 1;
            return true;
        }
        key_.clear();
        key_view_ = {};
        frames_.push_back({role, is_object});
        return true;
    }

    bool end(std::size_t size)
    {
        if (skipped_depth_ > 0) {
            if (--skipped_depth_ == 0) next_member();
            return true;
        }
        const int role = frames_.back().role;
        frames_.pop_back();
        reader_.end(role, size);
        next_member();
        return true;
    }

    bool deliver(const json_scalar& scalar)
    {
        if (skipped_depth_ > 0) return true;
        reader_.value(place(), scalar);
        next_member();
        return true;
    }

    json_event_reader& reader_;
    std::vector<frame> frames_;
    std::size_t skipped_depth_ = 0;  // > 0 inside a skipped container
    std::string_view body_;
    std::string key_;             // a key with escapes, or one the parser gave in parts
    std::string_view key_view_;   // the current key: a view of the body or of key_
    std::string string_;
};

}  // namespace

std::optional<double> json_scalar::number() const
{
    double result = 0;
    switch (type) {
    case kind::floating: result = floating; break;
    case kind::int64: result = static_cast<double>(int64); break;
    case kind::uint64: result = static_cast<double>(uint64); break;
    default: return std::nullopt;
    }
    if (!std::isfinite(result)) return std::nullopt;
    return result;
}

std::optional<std::int64_t> json_scalar::integer() const
{
    switch (type) {
    case kind::int64: return int64;
    case kind::uint64:
        if (uint64 > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
        return static_cast<std::int64_t>(uint64);
    case kind::floating:
        // 2^63 is exactly representable; anything at or beyond it does not fit.
        if (!std::isfinite(floating) || floating != std::floor(floating) || std::fabs(floating) >= 9.2233720368547758e18)
            return std::nullopt;
        return static_cast<std::int64_t>(floating);
    case kind::string: {
        if (text.empty() || text.size() > 18) return std::nullopt;
        std::int64_t parsed = 0;
        for (const char c : text) {
            if (c < '0' || c > '9') return std::nullopt;
            parsed = parsed * 10 + (c - '0');
        }
        return parsed;
    }
    default: return std::nullopt;
    }
}

boost::system::error_code read_json_events(std::string_view body, json_event_reader& reader, std::size_t max_depth)
{
    boost::json::parse_options options;
    options.max_depth = max_depth;
    boost::json::basic_parser<event_handler> parser(options, reader, body);
    error_code ec;
    const auto consumed = parser.write_some(false, body.data(), body.size(), ec);
    if (!ec && consumed < body.size()) ec = boost::json::error::extra_data;
    return ec;
}

}  // namespace raydeploy::util
