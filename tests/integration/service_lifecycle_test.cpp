// Suite service_lifecycle (part 1): starting, signals, graceful shutdown and the state directory.
#include "support/test_support.hpp"

#include <boost/test/unit_test.hpp>

#include <csignal>
#include <sqlite3.h>
#include <sstream>
#include <thread>

using namespace raydeploy::test;

namespace {

using steady = std::chrono::steady_clock;

std::size_t count_of(std::string_view text, std::string_view needle)
{
    std::size_t count = 0;
    for (auto at = text.find(needle); at != std::string_view::npos; at = text.find(needle, at + needle.size()))
        ++count;
    return count;
}

// Waits until the service logged that it received its stop signal, so the test knows the
// shutdown has begun before it goes on.
void require_shutdown_started(const service_process& service)
{
    BOOST_TEST_REQUIRE(service.wait_for_stderr("shutting down", 5s),
                       "no 'shutting down' in the log 5 s after the signal; stderr:\n" << service.stderr_text());
}

// SIGTERM, then the exit status; -1 when the service is still running 5 s later.
int stop(service_process& service)
{
    service.send_signal(SIGTERM);
    return service.wait_exit(5s).value_or(-1);
}

// True when nothing accepts connections on the port any more.
bool refuses_connections(std::uint16_t port)
{
    try {
        http_connection probe{port, 1s};
    } catch (const std::runtime_error&) {
        return true;
    }
    return false;
}

// A minimal SQLite reader for the state database, so the test checks the file itself and not
// what the service says about it.
class database {
public:
    explicit database(const fs::path& file)
    {
        if (sqlite3_open_v2(file.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK)
            throw std::runtime_error{"cannot open " + file.string() + ": " + sqlite3_errmsg(db_)};
    }
    ~database() { sqlite3_close(db_); }
    database(const database&) = delete;
    database& operator=(const database&) = delete;

    void exec(const std::string& sql)
    {
        char* error = nullptr;
        if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
            const std::string message = error ? error : "unknown error";
            sqlite3_free(error);
            throw std::runtime_error{"SQL failed: " + sql + ": " + message};
        }
    }

    // The first column of the first row, as text ("" when there is no row).
    std::string scalar(const std::string& sql)
    {
        sqlite3_stmt* statement = nullptr;
        if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &statement, nullptr) != SQLITE_OK)
            throw std::runtime_error{"SQL failed: " + sql + ": " + sqlite3_errmsg(db_)};
        std::string value;
        if (sqlite3_step(statement) == SQLITE_ROW) {
            const auto* text = sqlite3_column_text(statement, 0);
            if (text) value = reinterpret_cast<const char*>(text);
        }
        sqlite3_finalize(statement);
        return value;
    }

private:
    sqlite3* db_ = nullptr;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(service_lifecycle)

BOOST_AUTO_TEST_CASE(sigterm_exits_zero_after_printing_listening_once)
{
    service_process service;
    BOOST_TEST(http_get(service.port(), "/health").result_int() == 200);
    service.send_signal(SIGTERM);
    const auto code = service.wait_exit(5s);
    BOOST_TEST_REQUIRE(code.has_value(), "still running 5 s after SIGTERM");
    BOOST_TEST(*code == 0, "exit status " << *code << "; stderr:\n" << service.stderr_text());
    const std::string out = service.stdout_text();
    BOOST_TEST(count_of(out, "listening on http://") == 1u, "stdout was:\n" << out);
    BOOST_TEST(out.find("listening on http://127.0.0.1:" + std::to_string(service.port()) + "\n") !=
               std::string::npos);
}

BOOST_AUTO_TEST_CASE(sigint_exits_zero)
{
    service_process service;
    service.send_signal(SIGINT);
    const auto code = service.wait_exit(5s);
    BOOST_TEST_REQUIRE(code.has_value(), "still running 5 s after SIGINT");
    BOOST_TEST(*code == 0, "exit status " << *code << "; stderr:\n" << service.stderr_text());
}

BOOST_AUTO_TEST_CASE(sigterm_does_not_wait_for_idle_connections)
{
    // Defaults: idle_timeout 60 s and shutdown_grace 10 s, so waiting on either would take far
    // longer than the 5 s allowed here.
    service_process service;
    http_connection kept_alive{service.port()};
    BOOST_TEST(kept_alive.exchange(make_request(http::verb::get, "/health")).result_int() == 200);
    http_connection silent{service.port()};  // connected, never sends anything
    std::this_thread::sleep_for(100ms);       // let the service accept both

    const auto start = steady::now();
    service.send_signal(SIGTERM);
    const auto code = service.wait_exit(5s);
    BOOST_TEST_REQUIRE(code.has_value(), "still running 5 s after SIGTERM with two idle connections");
    BOOST_TEST(*code == 0, "exit status " << *code << "; stderr:\n" << service.stderr_text());
    BOOST_TEST(std::chrono::duration<double>(steady::now() - start).count() < 5.0);
    BOOST_TEST(kept_alive.wait_closed(1s).has_value());
    BOOST_TEST(silent.wait_closed(1s).has_value());
}

BOOST_AUTO_TEST_CASE(sigterm_finishes_the_request_in_flight)
{
    service_process service;
    http_connection client{service.port()};
    // The request has begun: the service is now reading it, and must not drop it on SIGTERM.
    client.send_raw("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    std::this_thread::sleep_for(300ms);  // time for the service to read the first half

    service.send_signal(SIGTERM);
    require_shutdown_started(service);
    std::this_thread::sleep_for(100ms);
    BOOST_TEST(service.running(), "the service exited with a request in flight");
    BOOST_TEST(refuses_connections(service.port()), "new connections are still accepted after SIGTERM");

    client.send_raw("User-Agent: slow-client\r\n\r\n");
    const auto res = client.receive();
    BOOST_TEST(res.result_int() == 200);
    BOOST_TEST(res[http::field::connection] == "close");
    BOOST_TEST(client.wait_closed(2s).has_value());

    const auto code = service.wait_exit(5s);
    BOOST_TEST_REQUIRE(code.has_value(), "still running 5 s after answering the last request");
    BOOST_TEST(*code == 0, "exit status " << *code << "; stderr:\n" << service.stderr_text());
}

BOOST_AUTO_TEST_CASE(sigterm_closes_a_stalled_request_after_the_grace_period)
{
    temp_dir dir;
    service_options options;
    options.args = {"--config", dir.write_file("raydeploy.yaml", "http: {shutdown_grace: 1s}\n").string()};
    service_process service{options};
    http_connection stalled{service.port()};
    stalled.send_raw("GET /health HTTP/1.1\r\n");  // and never more; read_timeout is 30 s
    std::this_thread::sleep_for(300ms);

    const auto start = steady::now();
    service.send_signal(SIGTERM);
    const auto code = service.wait_exit(5s);
    BOOST_TEST_REQUIRE(code.has_value(), "still running 5 s after SIGTERM (shutdown_grace is 1 s)");
    BOOST_TEST(*code == 0, "exit status " << *code << "; stderr:\n" << service.stderr_text());
    const double took = std::chrono::duration<double>(steady::now() - start).count();
    BOOST_TEST(took > 0.5, "exited after " << took << " s, without waiting for the request in flight");
    BOOST_TEST(stalled.wait_closed(1s).has_value());
}

BOOST_AUTO_TEST_CASE(second_service_on_the_same_state_dir_fails)
{
    service_process first;
    const auto second = run_cli({"serve", "--listen", "127.0.0.1:0", "--state-dir", first.state_dir().string(),
                                 "--catalog", (source_dir() / "playbooks/checkpoints.yaml").string(), "--inventory",
                                 (source_dir() / "playbooks/inventory/local.yml").string()});
    BOOST_TEST(second.exit_code == 1, "stderr:\n" << second.err);
    BOOST_TEST(second.err.find("in use by another raydeploy process") != std::string::npos, second.err);
    BOOST_TEST(second.err.find("pid " + std::to_string(first.pid())) != std::string::npos, second.err);
    BOOST_TEST(second.out.find("listening on") == std::string::npos);
    // The owner is unaffected.
    BOOST_TEST(http_get(first.port(), "/health").result_int() == 200);
}

BOOST_AUTO_TEST_CASE(state_dir_keeps_its_database_across_restarts)
{
    temp_dir dir;
    service_options options;
    options.state_dir = dir.path() / "state";
    const fs::path db_file = *options.state_dir / "raydeploy.db";

    std::string version;
    {
        service_process first{options};
        BOOST_TEST(fs::exists(db_file));
        BOOST_TEST_REQUIRE(stop(first) == 0, first.stderr_text());
        BOOST_TEST(first.stderr_text().find("schema migrated") != std::string::npos, first.stderr_text());

        database db{db_file};
        version = db.scalar("PRAGMA user_version");
        BOOST_TEST(std::stoi(version) > 0);
        BOOST_TEST(db.scalar("PRAGMA journal_mode") == "wal");
        db.exec("INSERT INTO executions (id, checkpoint, status, created_at) "
                "VALUES ('itest-restart', 'prerequisites-check', 'succeeded', '2026-01-01T00:00:00Z')");
    }
    {
        // Same directory again: starts, migrates nothing, keeps the row.
        service_process second{options};
        BOOST_TEST(http_get(second.port(), "/health").result_int() == 200);
        BOOST_TEST_REQUIRE(stop(second) == 0, second.stderr_text());
        BOOST_TEST(second.stderr_text().find("schema migrated") == std::string::npos, second.stderr_text());
    }
    {
        // A crash leaves the lock file behind; the lock is the flock, so a restart still works.
        service_process crashed{options};
        crashed.send_signal(SIGKILL);
        BOOST_TEST_REQUIRE(crashed.wait_exit(5s).has_value());
        service_process after_crash{options};
        BOOST_TEST(http_get(after_crash.port(), "/health").result_int() == 200);
        BOOST_TEST_REQUIRE(stop(after_crash) == 0, after_crash.stderr_text());
    }
    database db{db_file};
    BOOST_TEST(db.scalar("PRAGMA user_version") == version);
    BOOST_TEST(db.scalar("SELECT status FROM executions WHERE id = 'itest-restart'") == "succeeded");
}

BOOST_AUTO_TEST_CASE(json_log_format_writes_one_json_object_per_line)
{
    service_options options;
    options.args = {"--log-format", "json"};
    service_process service{options};
    BOOST_TEST(http_get(service.port(), "/health").result_int() == 200);
    BOOST_TEST_REQUIRE(stop(service) == 0, service.stderr_text());
    const std::string log = service.stderr_text();
    std::istringstream lines{log};
    std::size_t count = 0;
    for (std::string line; std::getline(lines, line); ++count) {
        BOOST_TEST_CONTEXT("log line " << count + 1 << ": " << line)
        {
            const auto record = parse_json(line);
            BOOST_TEST_REQUIRE(record.is_object());
            BOOST_TEST(record.as_object().contains("ts"));
            BOOST_TEST(record.as_object().contains("level"));
            BOOST_TEST(record.as_object().contains("msg"));
        }
    }
    BOOST_TEST(count >= 3u, log);  // at least started, a request, stopped
    BOOST_TEST(log.find("\"msg\":\"request\"") != std::string::npos, log);
}

BOOST_AUTO_TEST_SUITE_END()
