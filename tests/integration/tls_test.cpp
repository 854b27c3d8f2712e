// Suite tls: the service over HTTPS and WSS (http.tls_cert / http.tls_key), TLS 1.2+ only, the
// certificate reloaded on SIGHUP, and the CLI verifying it (--ca-file, RAYDEPLOY_CA_FILE) and
// refusing to send a token over plain HTTP off the machine. Certificates are made at test time.
#include "support/test_support.hpp"
#include "support/tls_support.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <openssl/ssl.h>

#include <csignal>

using namespace raydeploy::test;
namespace json = boost::json;

namespace {

// A CA, a server certificate it issued (serial 1001), the CA's PEM, and a config file that turns TLS on.
struct tls_fixture {
    temp_dir dir{"raydeploy-tls"};
    test_ca ca{"raydeploy test CA"};
    fs::path ca_file = ca.write_certificate(dir.path() / "ca.pem");
    test_ca::issued server = ca.issue_server(dir.path(), "server", 1001);
    fs::path config = dir.write_file("raydeploy.yaml", "http:\n  tls_cert: server.crt\n  tls_key: server.key\n");

    service_options options(service_options base = {}) const
    {
        base.args.push_back("--config");
        base.args.push_back(config.string());
        return base;
    }
    tls_client_options trusting() const
    {
        tls_client_options client;
        client.ca_file = ca_file;
        return client;
    }
};

std::string describe(const cli_result& result)
{
    return "exit " + std::to_string(result.exit_code) + "\nstdout:\n" + result.out + "stderr:\n" + result.err;
}

bool contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

}  // namespace

BOOST_AUTO_TEST_SUITE(tls)

BOOST_AUTO_TEST_CASE(https_answers_and_plain_http_on_the_tls_port_is_refused)
{
    tls_fixture pki;
    service_process service{pki.options()};
    BOOST_TEST(contains(service.stdout_text(), "listening on https://127.0.0.1:"), service.stdout_text());

    const auto answer = https_request(service.port(), make_request(http::verb::get, "/health"), pki.trusting());
    BOOST_TEST_REQUIRE(answer.handshake_error.empty(), answer.handshake_error);
    BOOST_TEST(answer.peer_serial == 1001);
    BOOST_TEST_REQUIRE(answer.res.has_value());
    BOOST_TEST(answer.res->result_int() == 200);

    // Plain HTTP gets a plain-HTTP answer saying what to use, then the connection closes.
    const auto plain = parse_response(raw_exchange(service.port(), "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
    BOOST_TEST(plain.result_int() == 400);
    BOOST_TEST(error_code_of(plain) == "TLS_REQUIRED");
    BOOST_TEST(contains(plain.body(), "https://"), plain.body());

    // Still serving after that.
    const auto again = https_request(service.port(), make_request(http::verb::get, "/health"), pki.trusting());
    BOOST_TEST_REQUIRE(again.res.has_value(), again.handshake_error);
    BOOST_TEST(again.res->result_int() == 200);
}

BOOST_AUTO_TEST_CASE(clients_offering_only_tls_1_1_are_refused)
{
    tls_fixture pki;
    service_process service{pki.options()};

    auto old_client = pki.trusting();
    old_client.max_version = TLS1_1_VERSION;
    const auto refused = https_request(service.port(), make_request(http::verb::get, "/health"), old_client);
    BOOST_TEST(!refused.handshake_error.empty());
    BOOST_TEST(!refused.res.has_value());
    // The server saw the handshake and refused it (not the client's own library declining to offer).
    BOOST_TEST(service.wait_for_stderr("TLS handshake failed", 5s), service.stderr_text());

    // The same permissive client, allowed TLS 1.2, gets through.
    old_client.max_version = TLS1_2_VERSION;
    const auto accepted = https_request(service.port(), make_request(http::verb::get, "/health"), old_client);
    BOOST_TEST(accepted.handshake_error.empty(), accepted.handshake_error);
    BOOST_TEST_REQUIRE(accepted.res.has_value());
    BOOST_TEST(accepted.res->result_int() == 200);
}

BOOST_AUTO_TEST_CASE(wss_event_feed_and_https_api)
{
    tls_fixture pki;
    service_process service{pki.options(fixture_service_options())};
    auto post = make_request(http::verb::post, "/api/v1/checkpoints/succeed", "{}",
                             {{"Content-Type", "application/json"}});
    const auto started = https_request(service.port(), post, pki.trusting());
    BOOST_TEST_REQUIRE(started.res.has_value(), started.handshake_error);
    BOOST_TEST_REQUIRE(started.res->result_int() == 202, started.res->body());
    const std::string id = text(parse_json(started.res->body()).as_object(), "execution_id");

    // Replay from the start over wss:// until the run's last event.
    const auto messages = wss_read_until(service.port(), "/api/v1/events?since=0&execution_id=" + id, pki.ca_file,
                                         [](const std::string& message) {
                                             return contains(message, "\"execution.done\"");
                                         });
    BOOST_TEST_REQUIRE(messages.size() >= 2u);
    BOOST_TEST(text(parse_json(messages.front()).as_object(), "execution_id") == id);
    BOOST_TEST(contains(messages.back(), "\"status\":\"succeeded\""), messages.back());

    // The followed log, a connection handler too, works over TLS.
    const auto log = https_request(service.port(), make_request(http::verb::get, "/api/v1/executions/" + id + "/log?follow=1"),
                                   pki.trusting());
    BOOST_TEST_REQUIRE(log.res.has_value(), log.handshake_error);
    BOOST_TEST(contains(log.res->body(), "PLAY RECAP"), log.res->body());
}

BOOST_AUTO_TEST_CASE(sighup_reloads_the_certificate_and_a_bad_one_keeps_the_old)
{
    tls_fixture pki;
    service_process service{pki.options()};
    const auto before = https_request(service.port(), make_request(http::verb::get, "/health"), pki.trusting());
    BOOST_TEST_REQUIRE(before.peer_serial == 1001);

    // A renewed certificate in the same files, then SIGHUP: new connections see it.
    pki.ca.issue_server(pki.dir.path(), "server", 2002);
    service.send_signal(SIGHUP);
    BOOST_TEST_REQUIRE(service.wait_for_stderr("TLS certificate reloaded", 5s), service.stderr_text());
    const auto after = https_request(service.port(), make_request(http::verb::get, "/health"), pki.trusting());
    BOOST_TEST(after.peer_serial == 2002);
    BOOST_TEST(service.running());

    // A broken file: the reload fails, is logged, and the service keeps the certificate it had.
    pki.dir.write_file("server.crt", "not a certificate\n");
    service.send_signal(SIGHUP);
    BOOST_TEST_REQUIRE(service.wait_for_stderr("TLS certificate reload failed", 5s), service.stderr_text());
    BOOST_TEST(contains(service.stderr_text(), "http.tls_cert"), service.stderr_text());
    const auto kept = https_request(service.port(), make_request(http::verb::get, "/health"), pki.trusting());
    BOOST_TEST(kept.peer_serial == 2002);
    BOOST_TEST_REQUIRE(kept.res.has_value());
    BOOST_TEST(kept.res->result_int() == 200);
}

BOOST_AUTO_TEST_CASE(cli_verifies_the_certificate_against_its_ca_file)
{
    tls_fixture pki;
    service_process service{pki.options()};
    const std::string url = "https://127.0.0.1:" + std::to_string(service.port());

    const auto with_flag = run_cli({"executions", "--format", "json", "--server", url, "--ca-file", pki.ca_file.string()});
    BOOST_TEST(with_flag.exit_code == 0, describe(with_flag));
    BOOST_TEST(contains(with_flag.out, "\"executions\""), describe(with_flag));

    const auto with_env =
        run_cli({"executions", "--format", "json", "--server", url}, {{"RAYDEPLOY_CA_FILE", pki.ca_file.string()}});
    BOOST_TEST(with_env.exit_code == 0, describe(with_env));

    // Without the CA the chain does not verify: a clear error naming the fix, not a generic failure.
    const auto untrusted = run_cli({"executions", "--server", url});
    BOOST_TEST(untrusted.exit_code == 5, describe(untrusted));
    BOOST_TEST(contains(untrusted.err, "certificate verify failed"), describe(untrusted));
    BOOST_TEST(contains(untrusted.err, "--ca-file"), describe(untrusted));

    // A CA that did not issue the certificate fails the same way.
    test_ca other{"another CA"};
    const auto other_ca = other.write_certificate(pki.dir.path() / "other-ca.pem");
    const auto wrong = run_cli({"executions", "--server", url, "--ca-file", other_ca.string()});
    BOOST_TEST(wrong.exit_code == 5, describe(wrong));
    BOOST_TEST(contains(wrong.err, "certificate verify failed"), describe(wrong));

    // http:// to the TLS port: the service's plain-HTTP answer says what to use.
    const auto plain = run_cli({"executions", "--server", "http://127.0.0.1:" + std::to_string(service.port())});
    BOOST_TEST(plain.exit_code != 0, describe(plain));
    BOOST_TEST(contains(plain.err, "https://"), describe(plain));
}

BOOST_AUTO_TEST_CASE(cli_refuses_a_token_over_plain_http_off_the_machine)
{
    // No service anywhere: the refusal comes before any name lookup or connection.
    const auto refused =
        run_cli({"executions", "--server", "http://raydeploy.invalid:8000"}, {{"RAYDEPLOY_TOKEN", "secret-token"}});
    BOOST_TEST(refused.exit_code == 2, describe(refused));
    BOOST_TEST(contains(refused.err, "refusing to send the token over plain http://"), describe(refused));
    BOOST_TEST(contains(refused.err, "https://raydeploy.invalid:8000"), describe(refused));
    BOOST_TEST(!contains(refused.err, "secret-token"), describe(refused));
}

BOOST_AUTO_TEST_CASE(bad_tls_files_stop_the_service_at_start_naming_the_setting)
{
    tls_fixture pki;
    const fs::path garbage = pki.dir.write_file("garbage.pem", "-----BEGIN CERTIFICATE-----\nnope\n");
    struct case_t {
        std::string yaml;
        std::string expected;
    };
    const fs::path other_key = pki.ca.issue_server(pki.dir.path(), "other", 3003).key;
    const case_t cases[] = {
        {"http: {tls_cert: " + garbage.string() + ", tls_key: server.key}\n", "http.tls_cert: cannot load"},
        {"http: {tls_cert: server.crt, tls_key: " + garbage.string() + "}\n", "http.tls_key: cannot load"},
        {"http: {tls_cert: server.crt, tls_key: " + other_key.string() + "}\n", "is not the private key"},
        {"http: {tls_cert: server.crt}\n", "http.tls_key is not"},
        {"http: {tls_cert: server.crt, tls_key: missing.key}\n", "http.tls_key: '"},
    };
    for (const auto& tc : cases) {
        BOOST_TEST_CONTEXT(tc.yaml)
        {
            const fs::path config = pki.dir.write_file("bad.yaml", tc.yaml);
            const auto result = run_cli({"serve", "--config", config.string(), "--listen", "127.0.0.1:0",
                                         "--state-dir", (pki.dir.path() / "state").string(), "--catalog",
                                         (source_dir() / "playbooks/checkpoints.yaml").string(), "--inventory",
                                         (source_dir() / "playbooks/inventory/local.yml").string()});
            BOOST_TEST(result.exit_code == 2, describe(result));
            BOOST_TEST(contains(result.err, tc.expected), describe(result));
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()
