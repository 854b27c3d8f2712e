// TLS for the tests: a private CA and server certificates made with OpenSSL's C++-callable API at
// test time (no `openssl` command, no files in the repository), and small blocking HTTPS and WSS
// clients that report what the handshake saw. Every operation has a deadline.
#pragma once

#include "support/test_support.hpp"

#include <functional>
#include <memory>

namespace raydeploy::test {

// A self-signed CA that issues server certificates for 127.0.0.1 and localhost.
class test_ca {
public:
    explicit test_ca(std::string common_name);
    ~test_ca();
    test_ca(const test_ca&) = delete;
    test_ca& operator=(const test_ca&) = delete;

    // Writes the CA's certificate as PEM; returns `file`.
    fs::path write_certificate(const fs::path& file) const;

    struct issued {
        fs::path cert;  // PEM certificate
        fs::path key;   // PEM private key (PKCS#8, unencrypted)
    };
    // A server certificate with `serial`, for IP 127.0.0.1 and DNS localhost, written to
    // dir/STEM.crt and dir/STEM.key.
    issued issue_server(const fs::path& dir, std::string_view stem, long serial) const;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

struct tls_client_options {
    std::optional<fs::path> ca_file;  // verify the server's chain against it; none: verify nothing
    // OpenSSL protocol versions (TLS1_1_VERSION...) the client offers; 0: the library's default.
    // A maximum below TLS 1.2 also lowers the client's security level so it really offers them.
    int max_version = 0;
    std::chrono::milliseconds timeout = 5s;
};

struct tls_answer {
    std::string handshake_error;   // empty when the handshake succeeded
    std::optional<response> res;   // the answer, when the handshake succeeded
    long peer_serial = -1;         // the serial of the certificate the server presented
};

// One request over TLS to 127.0.0.1:port. Throws only when the request cannot be sent or the
// answer does not arrive after a successful handshake.
tls_answer https_request(std::uint16_t port, const http::request<http::string_body>& req,
                         const tls_client_options& options = {},
                         source_location where = source_location::current());

// Opens wss://127.0.0.1:port/target trusting `ca_file` and reads text messages until `done`
// holds for one or `timeout` passes (then it throws). Returns the messages in arrival order.
std::vector<std::string> wss_read_until(std::uint16_t port, std::string_view target, const fs::path& ca_file,
                                        const std::function<bool(const std::string&)>& done,
                                        std::chrono::milliseconds timeout = 30s,
                                        source_location where = source_location::current());

}  // namespace raydeploy::test
