// Event documents and filters.
#include "raydeploy/events/event.hpp"

#include <boost/json/serializer.hpp>

#include <algorithm>
#include <cstring>
#include <optional>

namespace raydeploy {

namespace {

bool is_own_field(std::string_view key, event_scope scope)
{
    if (key == "type" || key == "created" || key == "seq") return true;
    return scope == event_scope::execution && (key == "execution_id" || key == "counter");
}

// Appends JSON text through one serializer and a stack buffer: no temporary string per value.
class json_appender {
public:
    explicit json_appender(std::string& out) : out_{out} {}

    void string(std::string_view text)
    {
        writer_.reset(boost::json::string_view{text.data(), text.size()});
        drain();
    }

    void value(const boost::json::value& item)
    {
        writer_.reset(&item);
        drain();
    }

private:
    void drain()
    {
        while (!writer_.done()) out_.append(writer_.read(buffer_, sizeof buffer_));
    }

    std::string& out_;
    boost::json::serializer writer_;
    char buffer_[4096];
};

// A scanner over JSON text that a parser has accepted: it finds where members and values end,
// and gives up (nullopt) at anything it does not expect rather than reading past the text.
class member_scanner {
public:
    explicit member_scanner(std::string_view text) : text_{text} {}

    bool at(char expected)
    {
        skip_space();
        return pos_ < text_.size() && text_[pos_] == expected;
    }
    bool take(char expected)
    {
        if (!at(expected)) return false;
        ++pos_;
        return true;
    }
    // A key without escapes (with its quotes), or nullopt.
    std::optional<std::string_view> plain_key()
    {
        if (!at('"')) return std::nullopt;
        const std::size_t start = pos_;
        if (!skip_string()) return std::nullopt;
        const std::string_view key = text_.substr(start, pos_ - start);
        if (key.find('\\') != std::string_view::npos) return std::nullopt;
        return key;
    }
    // The value starting here, as written, or nullopt.
    std::optional<std::string_view> value()
    {
        skip_space();
        const std::size_t start = pos_;
        if (pos_ == text_.size()) return std::nullopt;
        if (text_[pos_] == '"') {
            if (!skip_string()) return std::nullopt;
        } else if (text_[pos_] == '{' || text_[pos_] == '[') {
            if (!skip_container()) return std::nullopt;
        } else {
            // A number, true, false or null: up to what ends it.
            while (pos_ < text_.size() && !is_space(text_[pos_]) && text_[pos_] != ',' && text_[pos_] != '}' &&
                   text_[pos_] != ']')
                ++pos_;
            if (pos_ == start) return std::nullopt;
        }
        return text_.substr(start, pos_ - start);
    }
    bool at_end()
    {
        skip_space();
        return pos_ == text_.size();
    }

private:
    static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
    void skip_space()
    {
        while (pos_ < text_.size() && is_space(text_[pos_])) ++pos_;
    }
    bool skip_container()
    {
        std::size_t depth = 0;
        while (pos_ < text_.size()) {
            const char c = text_[pos_];
            if (c == '"') {
                if (!skip_string()) return false;
                continue;
            }
            ++pos_;
            if (c == '{' || c == '[') {
                ++depth;
            } else if (c == '}' || c == ']') {
                if (--depth == 0) return true;
            }
        }
        return false;
    }
    // From an opening quote past its closing one. memchr, not a loop over every character: most of
    // a playbook's event is the text of its strings.
    bool skip_string()
    {
        std::size_t from = pos_ + 1;
        while (from < text_.size()) {
            const void* found = std::memchr(text_.data() + from, '"', text_.size() - from);
            if (!found) return false;
            const std::size_t quote = static_cast<std::size_t>(static_cast<const char*>(found) - text_.data());
            std::size_t backslashes = 0;
            while (quote - backslashes > pos_ + 1 && text_[quote - backslashes - 1] == '\\') ++backslashes;
            from = quote + 1;
            if (backslashes % 2 == 0) {
                pos_ = from;
                return true;
            }
        }
        return false;
    }

    std::string_view text_;
    std::size_t pos_ = 0;
};

// The members of the object `text` as written, without the event's own fields; nullopt where
// serializing the parsed object must decide (see encode_members).
std::optional<std::string> members_as_written(std::string_view text, std::size_t parsed_members, event_scope scope)
{
    std::string out;
    out.reserve(text.size());
    member_scanner scan{text};
    if (!scan.take('{')) return std::nullopt;
    std::size_t members = 0;
    if (!scan.at('}')) {
        do {
            const auto key = scan.plain_key();
            if (!key || !scan.take(':')) return std::nullopt;
            const auto value = scan.value();
            if (!value) return std::nullopt;
            ++members;
            if (is_own_field(key->substr(1, key->size() - 2), scope)) continue;
            if (!out.empty()) out += ',';
            out += *key;
            out += ':';
            out += *value;
        } while (scan.take(','));
    }
    // A key that repeats leaves the parsed object fewer members than the text (the last one won).
    if (!scan.take('}') || !scan.at_end() || members != parsed_members) return std::nullopt;
    return out;
}

}  // namespace

std::string encode_members(const boost::json::object& fields, std::string_view text, event_scope scope)
{
    if (auto written = members_as_written(text, fields.size(), scope)) return std::move(*written);
    return encode_members(fields, scope);
}

std::string encode_members(const boost::json::object& fields, event_scope scope)
{
    // Field by field, leaving out those named like the event's own, straight into the text:
    // plugin lines carry a counter and a created of their own, so this is the common case, and
    // copying the object without them cost a fifth of an event's handling.
    std::string text;
    json_appender append{text};
    for (const auto& field : fields) {
        if (is_own_field(field.key(), scope)) continue;
        if (!text.empty()) text += ',';
        append.string(field.key());
        text += ':';
        append.value(field.value());
    }
    return text;
}

std::string to_stored_text(const event& item)
{
    std::string out;
    out.reserve(item.members.size() + item.type.size() + 128);
    json_appender append{out};
    out += "{\"type\":";
    append.string(item.type);
    out += ",\"created\":";
    append.string(item.created);
    if (item.execution_id) {
        out += ",\"execution_id\":";
        append.string(*item.execution_id);
    }
    if (item.counter) {
        out += ",\"counter\":";
        out += std::to_string(*item.counter);
    }
    if (!item.members.empty()) {
        out += ',';
        out += item.members;
    }
    out += '}';
    return out;
}

bool event_filter::matches(std::string_view type, const std::optional<std::string>& execution) const
{
    if (execution_id && execution != execution_id) return false;
    if (types.empty()) return true;
    for (const auto& pattern : types) {
        if (pattern == "*") return true;
        if (pattern.size() > 1 && pattern.back() == '*') {
            if (type.substr(0, pattern.size() - 1) == std::string_view{pattern}.substr(0, pattern.size() - 1)) return true;
        } else if (pattern == type) {
            return true;
        }
    }
    return false;
}

std::optional<std::vector<std::string>> parse_type_patterns(std::string_view text, std::string& bad)
{
    std::vector<std::string> patterns;
    std::size_t pos = 0;
    while (pos <= text.size()) {
        const std::size_t comma = std::min(text.find(',', pos), text.size());
        const std::string_view pattern = text.substr(pos, comma - pos);
        const auto star = pattern.find('*');
        const bool valid = !pattern.empty() &&
                           pattern.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_.*-") == std::string_view::npos &&
                           (star == std::string_view::npos || star == pattern.size() - 1);
        if (!valid) {
            bad = std::string{pattern};
            return std::nullopt;
        }
        patterns.emplace_back(pattern);
        pos = comma + 1;
    }
    return patterns;
}

}  // namespace raydeploy
