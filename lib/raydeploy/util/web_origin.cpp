// Parsing of Host values and origins. Deliberately strict: a value this refuses is never
// "allowed", so an odd spelling cannot slip past the checks that compare these.
#include "raydeploy/util/web_origin.hpp"

#include <cctype>
#include <charconv>

namespace raydeploy {
namespace {

std::string lower(std::string_view text)
{
    std::string out;
    for (char c : text) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

bool is_name_char(char c)
{
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
}

std::optional<std::uint16_t> parse_port(std::string_view text)
{
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || value == 0 || value > 65535)
        return std::nullopt;
    return static_cast<std::uint16_t>(value);
}

}  // namespace

web_origin make_origin(std::string scheme, host_and_port authority)
{
    const std::uint16_t default_port = scheme == "https" ? 443 : 80;
    if (authority.port == default_port) authority.port.reset();
    return web_origin{std::move(scheme), std::move(authority)};
}

std::string host_and_port::to_string() const { return port ? host + ":" + std::to_string(*port) : host; }

std::optional<host_and_port> parse_host(std::string_view text)
{
    host_and_port result;
    std::string_view rest;
    if (!text.empty() && text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string_view::npos || close < 3) return std::nullopt;
        const std::string_view literal = text.substr(1, close - 1);
        for (char c : literal)
            if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') return std::nullopt;
        result.host = "[" + lower(literal) + "]";
        rest = text.substr(close + 1);
    } else {
        const auto colon = text.find(':');
        const std::string_view name = text.substr(0, colon);
        if (name.empty()) return std::nullopt;
        for (char c : name)
            if (!is_name_char(c)) return std::nullopt;
        result.host = lower(name);
        rest = colon == std::string_view::npos ? std::string_view{} : text.substr(colon);
    }
    if (!rest.empty()) {
        if (rest.front() != ':') return std::nullopt;
        result.port = parse_port(rest.substr(1));
        if (!result.port) return std::nullopt;
    }
    return result;
}

std::string web_origin::to_string() const { return scheme + "://" + authority.to_string(); }

std::optional<web_origin> parse_origin(std::string_view text)
{
    const auto separator = text.find("://");
    if (separator == std::string_view::npos) return std::nullopt;
    std::string scheme = lower(text.substr(0, separator));
    if (scheme != "http" && scheme != "https") return std::nullopt;
    auto authority = parse_host(text.substr(separator + 3));
    if (!authority) return std::nullopt;
    return make_origin(std::move(scheme), std::move(*authority));
}

std::optional<std::string> allowed_host_problem(std::string_view entry)
{
    if (entry.find("://") != std::string_view::npos)
        return "'" + std::string{entry} +
               "' has a scheme; a host entry is HOST or HOST:PORT (origins go in http.allowed_origins)";
    if (entry == "*")
        return "'*' would let any site rebind its name to this service; list the names clients use, or leave the "
               "list empty (with tokens, any Host is accepted then)";
    if (!parse_host(entry))
        return "'" + std::string{entry} + "' is not HOST or HOST:PORT (for example deploy.example.com or "
               "deploy.example.com:8000; IPv6 in brackets: [fd00::1]:8000)";
    return std::nullopt;
}

std::optional<std::string> allowed_origin_problem(std::string_view entry)
{
    if (entry == "*" || entry == "null")
        return "'" + std::string{entry} + "' would let any page call the API; list each origin as scheme://host[:port]";
    const auto separator = entry.find("://");
    if (separator != std::string_view::npos) {
        const auto slash = entry.find('/', separator + 3);
        if (slash != std::string_view::npos)
            return "'" + std::string{entry} + "' has a path; an origin is only scheme://host[:port] (write '" +
                   std::string{entry.substr(0, slash)} + "')";
    }
    if (!parse_origin(entry))
        return "'" + std::string{entry} + "' is not an origin; write http://HOST[:PORT] or https://HOST[:PORT], "
               "for example https://ui.example.com";
    return std::nullopt;
}

}  // namespace raydeploy
