// Host header values and web origins, parsed and normalised for the checks that keep web pages
// from using the API behind a user's back (DNS rebinding, cross-site requests). No I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace raydeploy {

// An authority as a Host header or an origin carries it.
struct host_and_port {
    std::string host;  // lower case; an IPv6 literal keeps its brackets ("[::1]")
    std::optional<std::uint16_t> port;

    // "host" or "host:port".
    std::string to_string() const;
};

// "example.com", "Example.com:8443", "[::1]:8000", "127.0.0.1". nullopt for anything else: a
// scheme, a path, user info, an empty or out-of-range port, characters no host name has.
std::optional<host_and_port> parse_host(std::string_view text);

// An origin as browsers send it: http or https, a host and a port, the scheme's default port
// left out ("HTTP://A:80" is "http://a"), so equal origins have equal to_string().
struct web_origin {
    std::string scheme;
    host_and_port authority;

    std::string to_string() const;
};

// The origin of `scheme` ("http" or "https", lower case) and `authority`, its default port left out.
web_origin make_origin(std::string scheme, host_and_port authority);

// "https://ui.example.com", "http://127.0.0.1:3000". nullopt for "null", other schemes, a path
// (even a bare trailing '/'), a query or anything parse_host refuses.
std::optional<web_origin> parse_origin(std::string_view text);

// The problem with an entry of http.allowed_hosts / http.allowed_origins, for the settings loader;
// nullopt when it is fine.
std::optional<std::string> allowed_host_problem(std::string_view entry);
std::optional<std::string> allowed_origin_problem(std::string_view entry);

}  // namespace raydeploy
