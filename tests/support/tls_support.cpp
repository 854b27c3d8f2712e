// Test PKI and TLS clients (tls_support.hpp).
#include "support/tls_support.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <stdexcept>

namespace raydeploy::test {
namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
using tcp = net::ip::tcp;
constexpr auto nothrow = net::as_tuple(net::use_awaitable);

[[noreturn]] void fail_at(const source_location& where, const std::string& message)
{
    throw std::runtime_error{std::string{where.file_name()} + ":" + std::to_string(where.line()) + ": " + message};
}

struct key_deleter {
    void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct cert_deleter {
    void operator()(X509* cert) const { X509_free(cert); }
};
using key_ptr = std::unique_ptr<EVP_PKEY, key_deleter>;
using cert_ptr = std::unique_ptr<X509, cert_deleter>;

key_ptr new_key()
{
    key_ptr key{EVP_EC_gen("P-256")};
    if (!key) throw std::runtime_error{"EVP_EC_gen failed"};
    return key;
}

void add_extension(X509* cert, X509* issuer, int nid, const char* value)
{
    X509V3_CTX context;
    X509V3_set_ctx_nodb(&context);
    X509V3_set_ctx(&context, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value);
    if (!extension) throw std::runtime_error{std::string{"bad X.509 extension "} + value};
    X509_add_ext(cert, extension, -1);
    X509_EXTENSION_free(extension);
}

// A certificate for `key` named `common_name`, signed by `issuer_key` (self-signed without `issuer`).
cert_ptr new_certificate(EVP_PKEY* key, const std::string& common_name, long serial, X509* issuer, EVP_PKEY* issuer_key)
{
    cert_ptr cert{X509_new()};
    X509_set_version(cert.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 7 * 24 * 3600);
    X509_set_pubkey(cert.get(), key);
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(common_name.c_str()),
                               -1, -1, 0);
    X509* signer = issuer ? issuer : cert.get();
    X509_set_issuer_name(cert.get(), X509_get_subject_name(signer));
    if (!issuer) {
        add_extension(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE");
        add_extension(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
        add_extension(cert.get(), signer, NID_subject_key_identifier, "hash");
    } else {
        add_extension(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE");
        add_extension(cert.get(), signer, NID_key_usage, "critical,digitalSignature");
        add_extension(cert.get(), signer, NID_ext_key_usage, "serverAuth");
        add_extension(cert.get(), signer, NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost");
        add_extension(cert.get(), signer, NID_authority_key_identifier, "keyid");
    }
    if (X509_sign(cert.get(), issuer_key, EVP_sha256()) == 0) throw std::runtime_error{"X509_sign failed"};
    return cert;
}

void write_pem(const fs::path& file, const std::function<int(FILE*)>& write)
{
    FILE* out = std::fopen(file.c_str(), "w");
    if (!out) throw std::runtime_error{"cannot write " + file.string()};
    const int ok = write(out);
    std::fclose(out);
    if (!ok) throw std::runtime_error{"cannot write PEM to " + file.string()};
}

std::shared_ptr<ssl::context> client_context(const tls_client_options& options)
{
    auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
    if (options.ca_file) {
        context->load_verify_file(options.ca_file->string());
        context->set_verify_mode(ssl::verify_peer);
    } else {
        context->set_verify_mode(ssl::verify_none);
    }
    if (options.max_version) {
        SSL_CTX_set_min_proto_version(context->native_handle(), 0);
        SSL_CTX_set_max_proto_version(context->native_handle(), options.max_version);
        // OpenSSL 3 refuses TLS 1.0/1.1 at its default security level on the client side already;
        // level 0 makes this client really offer them, so the server is what refuses.
        SSL_CTX_set_security_level(context->native_handle(), 0);
        SSL_CTX_set_cipher_list(context->native_handle(), "DEFAULT:@SECLEVEL=0");
    }
    return context;
}

net::awaitable<tls_answer> exchange(std::uint16_t port, http::request<http::string_body> req,
                                    std::shared_ptr<ssl::context> context, std::chrono::milliseconds timeout)
{
    beast::ssl_stream<beast::tcp_stream> stream{co_await net::this_coro::executor, *context};
    auto& tcp_layer = beast::get_lowest_layer(stream);
    tcp_layer.expires_after(timeout);
    auto [connect_ec] = co_await tcp_layer.socket().async_connect(
        tcp::endpoint{net::ip::make_address("127.0.0.1"), port}, nothrow);
    if (connect_ec) throw std::runtime_error{"connect: " + connect_ec.message()};
    tls_answer answer;
    auto [handshake_ec] = co_await stream.async_handshake(ssl::stream_base::client, nothrow);
    if (handshake_ec) {
        answer.handshake_error = handshake_ec.message();
        co_return answer;
    }
    if (X509* peer = SSL_get1_peer_certificate(stream.native_handle())) {
        answer.peer_serial = ASN1_INTEGER_get(X509_get_serialNumber(peer));
        X509_free(peer);
    }
    auto [write_ec, written] = co_await http::async_write(stream, req, nothrow);
    if (write_ec) throw std::runtime_error{"sending the request: " + write_ec.message()};
    beast::flat_buffer buffer;
    response res;
    auto [read_ec, read] = co_await http::async_read(stream, buffer, res, nothrow);
    if (read_ec) throw std::runtime_error{"reading the answer: " + read_ec.message()};
    answer.res = std::move(res);
    co_return answer;
}

net::awaitable<std::vector<std::string>> read_feed(std::uint16_t port, std::string target,
                                                   std::shared_ptr<ssl::context> context,
                                                   std::function<bool(const std::string&)> done,
                                                   std::chrono::milliseconds timeout)
{
    websocket::stream<beast::ssl_stream<beast::tcp_stream>> ws{co_await net::this_coro::executor, *context};
    auto& tcp_layer = beast::get_lowest_layer(ws);
    tcp_layer.expires_after(timeout);  // one deadline for the whole read
    auto [connect_ec] = co_await tcp_layer.socket().async_connect(
        tcp::endpoint{net::ip::make_address("127.0.0.1"), port}, nothrow);
    if (connect_ec) throw std::runtime_error{"connect: " + connect_ec.message()};
    auto [tls_ec] = co_await ws.next_layer().async_handshake(ssl::stream_base::client, nothrow);
    if (tls_ec) throw std::runtime_error{"TLS handshake: " + tls_ec.message()};
    auto [ws_ec] = co_await ws.async_handshake("127.0.0.1:" + std::to_string(port), target, nothrow);
    if (ws_ec) throw std::runtime_error{"WebSocket handshake: " + ws_ec.message()};
    std::vector<std::string> messages;
    beast::flat_buffer buffer;
    for (;;) {
        auto [read_ec, n] = co_await ws.async_read(buffer, nothrow);
        if (read_ec) throw std::runtime_error{"reading after " + std::to_string(messages.size()) + " messages: " + read_ec.message()};
        messages.push_back(beast::buffers_to_string(buffer.data()));
        buffer.consume(n);
        if (done(messages.back())) break;
    }
    auto [close_ec] = co_await ws.async_close(websocket::close_code::normal, nothrow);
    (void)close_ec;
    co_return messages;
}

template <class T>
T run(net::awaitable<T> operation, const source_location& where)
{
    net::io_context io;
    auto result = net::co_spawn(io, std::move(operation), net::use_future);
    io.run();
    try {
        return result.get();
    } catch (const std::exception& e) {
        fail_at(where, e.what());
    }
}

}  // namespace

struct test_ca::impl {
    key_ptr key;
    cert_ptr cert;
};

test_ca::test_ca(std::string common_name) : impl_{std::make_unique<impl>()}
{
    impl_->key = new_key();
    impl_->cert = new_certificate(impl_->key.get(), common_name, 1, nullptr, impl_->key.get());
}

test_ca::~test_ca() = default;

fs::path test_ca::write_certificate(const fs::path& file) const
{
    write_pem(file, [&](FILE* out) { return PEM_write_X509(out, impl_->cert.get()); });
    return file;
}

test_ca::issued test_ca::issue_server(const fs::path& dir, std::string_view stem, long serial) const
{
    const key_ptr key = new_key();
    const cert_ptr cert = new_certificate(key.get(), "raydeploy test server", serial, impl_->cert.get(), impl_->key.get());
    issued files{dir / (std::string{stem} + ".crt"), dir / (std::string{stem} + ".key")};
    write_pem(files.cert, [&](FILE* out) { return PEM_write_X509(out, cert.get()); });
    write_pem(files.key, [&](FILE* out) {
        return PEM_write_PrivateKey(out, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
    });
    return files;
}

tls_answer https_request(std::uint16_t port, const http::request<http::string_body>& req,
                         const tls_client_options& options, source_location where)
{
    return run(exchange(port, req, client_context(options), options.timeout), where);
}

std::vector<std::string> wss_read_until(std::uint16_t port, std::string_view target, const fs::path& ca_file,
                                        const std::function<bool(const std::string&)>& done,
                                        std::chrono::milliseconds timeout, source_location where)
{
    tls_client_options options;
    options.ca_file = ca_file;
    return run(read_feed(port, std::string{target}, client_context(options), done, timeout), where);
}

}  // namespace raydeploy::test
