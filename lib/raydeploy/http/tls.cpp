// TLS contexts and the http_stream operations that differ between plain and TLS connections.
#include "raydeploy/http/tls.hpp"

#include "raydeploy/util/errors.hpp"

#include <boost/asio/ssl/host_name_verification.hpp>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace raydeploy::web {
namespace {

// Mozilla's "intermediate" list for TLS 1.2: ECDHE key exchange (forward secrecy) and AEAD only.
// TLS 1.3 suites are OpenSSL's defaults, which are all of that kind already.
constexpr const char* tls12_ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

void apply_policy(ssl::context& context)
{
    context.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                        ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::no_compression |
                        ssl::context::single_dh_use);
    SSL_CTX_set_min_proto_version(context.native_handle(), TLS1_2_VERSION);
    SSL_CTX_set_cipher_list(context.native_handle(), tls12_ciphers);
}

std::string openssl_reason(const beast::error_code& ec)
{
    std::string reason = ec.message();
    return reason.empty() ? "unknown OpenSSL error" : reason;
}

}  // namespace

std::shared_ptr<ssl::context> make_server_tls_context(const std::filesystem::path& cert_file,
                                                      const std::filesystem::path& key_file)
{
    auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
    apply_policy(*context);
    SSL_CTX_set_options(context->native_handle(), SSL_OP_CIPHER_SERVER_PREFERENCE);
    beast::error_code ec;
    context->use_certificate_chain_file(cert_file.string(), ec);
    if (ec)
        throw config_error{"http.tls_cert: cannot load '" + cert_file.string() + "' (" + openssl_reason(ec) +
                           "); give a readable PEM file with the service's certificate, then its intermediates"};
    context->use_private_key_file(key_file.string(), ssl::context::pem, ec);
    // OpenSSL compares the key with the certificate as it loads it.
    if (ec && ec.category() == net::error::get_ssl_category() && ERR_GET_REASON(ec.value()) == X509_R_KEY_VALUES_MISMATCH)
        throw config_error{"http.tls_key: '" + key_file.string() + "' is not the private key of the certificate in '" +
                           cert_file.string() + "' (http.tls_cert); give the key the certificate was issued for"};
    if (ec)
        throw config_error{"http.tls_key: cannot load '" + key_file.string() + "' (" + openssl_reason(ec) +
                           "); give a readable, unencrypted PEM file with the certificate's private key"};
    return context;
}

std::string certificate_summary(ssl::context& context)
{
    X509* cert = SSL_CTX_get0_certificate(context.native_handle());
    if (!cert) return "no certificate";
    std::string summary = "subject ";
    if (char* subject = X509_NAME_oneline(X509_get_subject_name(cert), nullptr, 0)) {
        summary += subject;
        OPENSSL_free(subject);
    }
    if (BIGNUM* serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr)) {
        if (char* hex = BN_bn2hex(serial)) {
            summary += ", serial 0x";
            summary += hex;
            OPENSSL_free(hex);
        }
        BN_free(serial);
    }
    return summary;
}

std::shared_ptr<ssl::context> make_client_tls_context(const std::optional<std::filesystem::path>& ca_file,
                                                      const std::string& ca_source)
{
    auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
    apply_policy(*context);
    context->set_verify_mode(ssl::verify_peer);
    beast::error_code ec;
    if (ca_file) {
        context->load_verify_file(ca_file->string(), ec);
        if (ec)
            throw config_error{ca_source + " " + ca_file->string() + ": cannot load it (" + openssl_reason(ec) +
                               "); give a readable PEM file with the CA certificate(s) that issued the service's "
                               "certificate"};
    } else {
        context->set_default_verify_paths(ec);
        if (ec)
            throw config_error{"cannot load the system's trusted CA certificates (" + openssl_reason(ec) +
                               "); pass --ca-file FILE or set RAYDEPLOY_CA_FILE"};
    }
    return context;
}

void expect_server_name(http_stream& stream, const std::string& host)
{
    auto* tls = stream.tls();
    if (!tls) return;
    beast::error_code ec;
    // SNI carries names only; an IP address is checked against the certificate's IP entries.
    net::ip::make_address(host, ec);
    if (ec) SSL_set_tlsext_host_name(tls->native_handle(), host.c_str());
    tls->set_verify_callback(ssl::host_name_verification{host});
}

net::awaitable<beast::error_code> http_stream::handshake(ssl::stream_base::handshake_type type)
{
    auto* stream = tls();
    if (!stream) co_return beast::error_code{};
    auto [ec] = co_await stream->async_handshake(type, nothrow_awaitable);
    co_return ec;
}

net::awaitable<void> http_stream::close(std::chrono::steady_clock::duration timeout)
{
    beast::error_code ec;
    if (auto* stream = tls()) {
        // close_notify tells the peer the data ended here and was not cut off by an attacker.
        expires_after(timeout);
        std::tie(ec) = co_await stream->async_shutdown(nothrow_awaitable);
    }
    socket().shutdown(tcp::socket::shutdown_both, ec);
    socket().close(ec);
}

}  // namespace raydeploy::web
