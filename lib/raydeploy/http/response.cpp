// Response builders shared by every handler and by the session's own error paths.
#include "raydeploy/http/response.hpp"

#include "raydeploy/util/utf8.hpp"
#include "raydeploy/util/version.hpp"

namespace raydeploy::web {
namespace {

// Error bodies quote what the client sent (a path, a header); bytes of it that are not UTF-8 are
// written %XX so that the body stays valid JSON.
void make_utf8(json::value& value)
{
    if (value.is_string()) {
        const std::string_view text = value.get_string();
        if (!is_utf8(text)) value = percent_encode_invalid_utf8(text);
    } else if (value.is_object()) {
        for (auto& member : value.get_object()) make_utf8(member.value());
    } else if (value.is_array()) {
        for (auto& item : value.get_array()) make_utf8(item);
    }
}

}  // namespace

void write_header_text(std::string& text, const response& res, std::string_view more_fields)
{
    text.clear();
    text.reserve(384);
    text += "HTTP/";
    text += static_cast<char>('0' + res.version() / 10);
    text += '.';
    text += static_cast<char>('0' + res.version() % 10);
    text += ' ';
    text += std::to_string(res.result_int());
    text += ' ';
    text += std::string_view{res.reason()};
    text += "\r\n";
    for (const auto& field : res) {
        text += std::string_view{field.name_string()};
        text += ": ";
        text += std::string_view{field.value()};
        text += "\r\n";
    }
    text += more_fields;
    text += "\r\n";
}

std::string_view every_answer_fields()
{
    static const std::string fields = "Server: " + std::string{product_token()} +
                                      "\r\n"
                                      "X-Content-Type-Options: nosniff\r\n"
                                      "Referrer-Policy: no-referrer\r\n";
    return fields;
}

response json_response(http::status status, const json::value& body)
{
    response res{status, 11};
    res.set(http::field::content_type, "application/json");
    res.body() = json::serialize(body);
    res.body() += '\n';
    return res;
}

response json_response(http::status status, std::string_view serialized_object, const json::object& more)
{
    response res{status, 11};
    res.set(http::field::content_type, "application/json");
    std::string& body = res.body().own();
    const std::string members = json::serialize(more);  // "{...}"
    const bool first_empty = serialized_object.size() <= 2;
    const bool more_empty = members.size() <= 2;
    body.reserve(serialized_object.size() + members.size() + 2);
    body.append(serialized_object.substr(0, serialized_object.size() - 1));  // without its '}'
    if (!first_empty && !more_empty) body += ',';
    body.append(members, 1, std::string::npos);  // without its '{'
    body += '\n';
    return res;
}

response error_response(http::status status, std::string_view code, std::string_view message,
                        const json::object& details)
{
    json::value body = json::object{{"error", code}, {"message", message}};
    for (const auto& [key, value] : details)
        if (!body.get_object().contains(key)) body.get_object()[key] = value;
    make_utf8(body);
    return json_response(status, body);
}

response error_response(const refusal& reason)
{
    return error_response(reason.status, reason.code, reason.message, reason.details);
}

response busy_response(std::string_view code, std::string_view message, std::chrono::seconds retry_after)
{
    auto res = error_response(http::status::service_unavailable, code, message);
    res.set(http::field::retry_after, std::to_string(retry_after.count()));
    return res;
}

response text_response(http::status status, std::string body, std::string_view content_type)
{
    response res{status, 11};
    res.set(http::field::content_type, content_type);
    res.body() = std::move(body);
    return res;
}

}  // namespace raydeploy::web
