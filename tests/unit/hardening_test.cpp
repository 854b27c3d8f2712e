// Suite hardening: identifiers from the CSPRNG, the child environment allow-list, private files,
// the audit trail's folding of failed authentication, the events type filter in SQL, retention.
#include "raydeploy/config/settings.hpp"
#include "raydeploy/engine/execution.hpp"
#include "raydeploy/engine/execution_manager.hpp"
#include "raydeploy/engine/retention.hpp"
#include "raydeploy/events/event_bus.hpp"
#include "raydeploy/events/event_log.hpp"
#include "raydeploy/events/stored_events.hpp"
#include "raydeploy/store/audit_log.hpp"
#include "raydeploy/store/state_store.hpp"
#include "raydeploy/util/errors.hpp"
#include "raydeploy/util/private_files.hpp"
#include "raydeploy/util/random_id.hpp"
#include "raydeploy/util/time.hpp"

#include "support/test_support.hpp"

#include <boost/test/unit_test.hpp>

#include <set>
#include <sys/stat.h>

using namespace raydeploy;
using test::temp_dir;
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

unsigned mode_of(const fs::path& path)
{
    struct stat info {};
    BOOST_TEST_REQUIRE(::stat(path.c_str(), &info) == 0);
    return info.st_mode & 07777;
}

struct store_fixture {
    temp_dir dir;
    std::unique_ptr<sqlite::database> db = test::open_migrated_database(dir.path() / "state.db");

    std::vector<std::string> column(std::string_view sql)
    {
        std::vector<std::string> out;
        auto query = db->prepare(sql);
        while (query.step()) out.push_back(query.column_text(0));
        return out;
    }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(hardening)

BOOST_AUTO_TEST_CASE(ids_are_a_prefix_and_twenty_hex_digits_and_do_not_repeat)
{
    std::set<std::string> seen;
    for (int i = 0; i < 100000; ++i) {
        const std::string id = i % 2 ? new_execution_id() : random_id("ap-");
        BOOST_TEST_REQUIRE(id.size() == 23u);
        BOOST_TEST_REQUIRE((id.starts_with("ex-") || id.starts_with("ap-")));
        BOOST_TEST_REQUIRE(id.find_first_not_of("0123456789abcdef", 3) == std::string::npos, id);
        seen.insert(id.substr(3));
    }
    BOOST_TEST(seen.size() == 100000u);
}

BOOST_AUTO_TEST_CASE(the_child_environment_is_an_allow_list)
{
    const std::map<std::string, std::string> service = {
        {"PATH", "/usr/bin:/bin"},       {"HOME", "/home/svc"},         {"LANG", "C.UTF-8"},
        {"LC_ALL", "C"},                 {"TZ", "UTC"},                 {"SSH_AUTH_SOCK", "/tmp/agent"},
        {"USER", "svc"},                 {"RAYDEPLOY_AUTH_TOKENS", "a:admin:00"},
        {"RAYDEPLOY_TOKEN", "rdp_x"},    {"AWS_SECRET_ACCESS_KEY", "k"}, {"ANSIBLE_CONFIG", "/etc/x.cfg"},
        {"ANSIBLE_CALLBACK_PLUGINS", "/opt/callbacks"},                 {"HTTP_PROXY", "http://proxy:3128"},
        {"RAYDEPLOY_EVENT_FILE", "/tmp/events"}};
    const auto environment = build_child_environment(service, {"HTTP_PROXY"}, "/state/cb", "ex-1");
    const std::set<std::string> got(environment.begin(), environment.end());
    for (const char* kept : {"PATH=/usr/bin:/bin", "HOME=/home/svc", "LANG=C.UTF-8", "LC_ALL=C", "TZ=UTC",
                             "SSH_AUTH_SOCK=/tmp/agent", "USER=svc", "HTTP_PROXY=http://proxy:3128",
                             "RAYDEPLOY_EXECUTION_ID=ex-1", "RAYDEPLOY_EVENT_FD=3",
                             "ANSIBLE_STDOUT_CALLBACK=raydeploy_events", "ANSIBLE_CALLBACK_PLUGINS=/state/cb"})
        BOOST_TEST(got.count(kept) == 1u, kept);
    for (const auto& entry : environment)
        for (const char* dropped : {"RAYDEPLOY_AUTH_TOKENS=", "RAYDEPLOY_TOKEN=", "AWS_SECRET_ACCESS_KEY=",
                                    "ANSIBLE_CONFIG=", "RAYDEPLOY_EVENT_FILE="})
            BOOST_TEST(!entry.starts_with(dropped), entry);
    // The operator's callback directory follows ours only when they list it.
    const auto listed = build_child_environment(service, {"ANSIBLE_CALLBACK_PLUGINS"}, "/state/cb", "ex-1");
    BOOST_TEST((std::find(listed.begin(), listed.end(), "ANSIBLE_CALLBACK_PLUGINS=/state/cb:/opt/callbacks") !=
                listed.end()));
}

BOOST_AUTO_TEST_CASE(pass_env_and_retention_settings)
{
    auto loaded = load_settings(std::nullopt,
                                environment_overrides({{"RAYDEPLOY_EXECUTOR_PASS_ENV", "HTTP_PROXY, NO_PROXY,"}}), {});
    BOOST_TEST(loaded.executor.pass_env == (std::vector<std::string>{"HTTP_PROXY", "NO_PROXY"}),
               boost::test_tools::per_element());
    BOOST_TEST(loaded.retention.keep_days == 90u);
    BOOST_TEST(loaded.retention.keep_executions == 10000u);

    temp_dir dir;
    const auto file = dir.write_file("config.yaml", "executor:\n  pass_env: [AWS_PROFILE]\nretention:\n  keep_days: 0\n");
    loaded = load_settings(file, {}, {});
    BOOST_TEST(loaded.executor.pass_env == (std::vector<std::string>{"AWS_PROFILE"}), boost::test_tools::per_element());
    BOOST_TEST(loaded.retention.keep_days == 0u);

    const auto bad = dir.write_file("bad.yaml", "executor:\n  pass_env: [RAYDEPLOY_TOKEN, 'not a name', CML_API_KEY]\n");
    try {
        load_settings(bad, {}, {});
        BOOST_FAIL("RAYDEPLOY_TOKEN in pass_env must be refused");
    } catch (const config_error& e) {
        const std::string message = e.what();
        BOOST_TEST(message.find("executor.pass_env[0]") != std::string::npos, message);
        BOOST_TEST(message.find("executor.pass_env[1]") != std::string::npos, message);
        BOOST_TEST(message.find("executor.pass_env[2]: 'CML_API_KEY' is one of the service's own variables") !=
                       std::string::npos,
                   message);
    }
}

BOOST_AUTO_TEST_CASE(private_files_have_owner_only_modes_whatever_the_umask)
{
    temp_dir dir;
    const mode_t previous = ::umask(0);
    make_private_directory(dir.path() / "a" / "b");
    write_private_file(dir.path() / "a" / "b" / "vars.json", "{}");
    make_private_file(dir.path() / "a" / "b" / "output.log");
    ::umask(previous);
    BOOST_TEST(mode_of(dir.path() / "a" / "b") == 0700u);
    BOOST_TEST(mode_of(dir.path() / "a" / "b" / "vars.json") == 0600u);
    BOOST_TEST(mode_of(dir.path() / "a" / "b" / "output.log") == 0600u);
    BOOST_TEST(test::read_file(dir.path() / "a" / "b" / "vars.json") == "{}");

    BOOST_TEST(!exposed_directory_warning(dir.path() / "a" / "b"));
    fs::permissions(dir.path() / "a", fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec);
    const auto warning = exposed_directory_warning(dir.path() / "a");
    BOOST_TEST_REQUIRE(warning.has_value());
    BOOST_TEST(warning->find("chmod 700 " + (dir.path() / "a").string()) != std::string::npos, *warning);
}

BOOST_AUTO_TEST_CASE(unauthenticated_refusals_fold_into_one_row_per_address_and_minute)
{
    store_fixture f;
    audit_log audit{*f.db};
    const auto refusal = [](std::string address) {
        audit_entry entry;
        entry.actor = "(unauthenticated)";
        entry.remote_addr = std::move(address);
        entry.action = "execution.start";
        entry.outcome = "UNAUTHENTICATED";
        return entry;
    };
    const auto t0 = std::chrono::steady_clock::time_point{} + std::chrono::hours{1};
    for (int i = 0; i < 100; ++i) audit.record_unauthenticated(refusal("10.0.0.1"), t0 + std::chrono::milliseconds{i});
    audit.record_unauthenticated(refusal("10.0.0.2"), t0);
    BOOST_TEST(f.column("SELECT remote_addr || ' ' || json_extract(detail, '$.count') FROM audit ORDER BY id") ==
                   (std::vector<std::string>{"10.0.0.1 1", "10.0.0.2 1"}),
               boost::test_tools::per_element());
    // A refusal after the window carries the count of the window before it, itself included.
    audit.record_unauthenticated(refusal("10.0.0.1"), t0 + std::chrono::seconds{61});
    // The quiet address's window is closed by the flush; nothing was folded there.
    audit.flush_refusals(t0 + std::chrono::seconds{62});
    BOOST_TEST(f.column("SELECT remote_addr || ' ' || json_extract(detail, '$.count') FROM audit ORDER BY id") ==
                   (std::vector<std::string>{"10.0.0.1 1", "10.0.0.2 1", "10.0.0.1 100"}),
               boost::test_tools::per_element());
    audit.record_unauthenticated(refusal("10.0.0.1"), t0 + std::chrono::seconds{70});
    audit.flush_refusals(t0 + std::chrono::seconds{70}, true);
    BOOST_TEST(f.column("SELECT count(*) FROM audit")[0] == "4");  // the flush had nothing to add
}

BOOST_AUTO_TEST_CASE(the_types_filter_is_answered_through_the_type_index)
{
    store_fixture f;
    f.db->exec("INSERT INTO executions (id, checkpoint, status, created_at) VALUES ('e1', 'c', 'running', 't')");
    net::io_context io;
    event_bus bus{io.get_executor(), 1024 * 1024};
    event_log log{io.get_executor(), *f.db, bus};
    stored_events reader{*f.db};
    const std::vector<std::string> types = {"execution.status", "ansible.runner_on_ok", "approval.granted",
                                            "ansible.playbook_on_start", "execution.done", "ansible.runner_on_ok"};
    for (int round = 0; round < 50; ++round)
        for (const auto& type : types) log.append(event{type, "", std::nullopt, std::nullopt, ""});
    log.flush();

    event_filter filter;
    filter.types = {"ansible.*", "execution.done"};
    const auto query = reader.read_query(0, log.last_published_seq(), filter, 500);
    auto plan = f.db->prepare("EXPLAIN QUERY PLAN " + query.sql);
    for (std::size_t i = 0; i < query.params.size(); ++i)
        std::visit([&](const auto& value) { plan.bind(static_cast<int>(i + 1), value); }, query.params[i]);
    std::string details;
    while (plan.step()) details += plan.column_text(3) + "\n";
    // The seqs from the type index alone, then the page's rows by their key.
    BOOST_TEST(details.find("USING COVERING INDEX events_by_type (type=? AND rowid>? AND rowid<?)") != std::string::npos,
               details);
    BOOST_TEST(details.find("SEARCH events USING INTEGER PRIMARY KEY (rowid=?)") != std::string::npos, details);
    BOOST_TEST(details.find("SCAN events") == std::string::npos, details);

    // What it returns is what the filter's own matches() selects, in seq order, paged.
    std::vector<std::int64_t> expected;
    for (std::int64_t seq = 1; seq <= log.last_published_seq(); ++seq)
        if (filter.matches(types[(seq - 1) % types.size()], std::nullopt)) expected.push_back(seq);
    std::vector<std::int64_t> got;
    for (std::int64_t since = 0;;) {
        const auto page = reader.read(since, log.last_published_seq(), filter, 7);
        if (page.empty()) break;
        for (const auto& item : page) got.push_back(item->seq);
        since = page.back()->seq;
    }
    BOOST_TEST(got == expected, boost::test_tools::per_element());

    filter.types = {"nothing.*"};
    BOOST_TEST(reader.read(0, log.last_published_seq(), filter, 500).empty());
    filter.types = {"*"};
    BOOST_TEST(reader.read(0, log.last_published_seq(), filter, 1000).size() == 300u);
}

// Runs a whole pass of `policy` on the store; `between` runs each time the pass gives the thread
// up (a handler that posts itself again gets one turn per yield).
retention_result run_pass_with(store_fixture& f, retention_policy policy, const std::function<void()>& between)
{
    net::io_context io;
    retention pass{io.get_executor(), *f.db, f.dir.path() / "runs", policy, {}};
    bool done = false;
    std::function<void()> other_work = [&] {
        if (done) return;
        between();
        net::post(io, other_work);
    };
    net::post(io, other_work);
    std::optional<retention_result> result;
    net::co_spawn(io, pass.apply(std::chrono::system_clock::now()), [&](std::exception_ptr error, retention_result r) {
        done = true;
        if (error) std::rethrow_exception(error);
        result = r;
    });
    io.run();
    BOOST_TEST_REQUIRE(result.has_value());
    return *result;
}

BOOST_AUTO_TEST_CASE(retention_selects_old_finished_runs_only)
{
    store_fixture f;
    f.db->exec(R"sql(
INSERT INTO deployments (id, status, checkpoints, steps, requested_by, created_at) VALUES
    ('dp-waiting', 'awaiting_approval', '[]', '[]', 'alice', '2020-01-01T00:00:00.000Z');
INSERT INTO executions (id, checkpoint, status, created_at, deployment_id) VALUES
    ('old-a1', 'a', 'succeeded', '2020-01-01T00:00:00.000Z', NULL),
    ('old-a-running', 'a', 'running', '2020-01-01T00:00:01.000Z', NULL),
    ('old-a-queued', 'a', 'queued', '2020-01-01T00:00:02.000Z', NULL),
    ('old-a-in-deployment', 'a', 'succeeded', '2020-01-01T00:00:03.000Z', 'dp-waiting'),
    ('latest-a', 'a', 'failed', '2020-01-02T00:00:00.000Z', NULL),
    ('recent-b1', 'b', 'succeeded', '2099-01-01T00:00:00.000Z', NULL),
    ('recent-b2', 'b', 'succeeded', '2099-01-02T00:00:00.000Z', NULL),
    ('recent-b3', 'b', 'succeeded', '2099-01-03T00:00:00.000Z', NULL);
)sql");
    net::io_context io;
    const auto now = std::chrono::system_clock::now();
    retention by_age{io.get_executor(), *f.db, f.dir.path() / "runs", retention_policy{90, 0}, {}};
    BOOST_TEST(by_age.due(now, 100) == (std::vector<std::string>{"old-a1"}), boost::test_tools::per_element());

    // Keeping 2 executions: the oldest finished ones beyond the newest two, with the same exceptions.
    retention by_count{io.get_executor(), *f.db, f.dir.path() / "runs", retention_policy{0, 2}, {}};
    BOOST_TEST(by_count.due(now, 100) == (std::vector<std::string>{"old-a1", "recent-b1"}),
               boost::test_tools::per_element());
    // One the engine reports as active is left alone as well.
    retention with_active{io.get_executor(), *f.db, f.dir.path() / "runs", retention_policy{0, 2},
                          [](std::string_view id) { return id == "recent-b1"; }};
    BOOST_TEST(with_active.due(now, 100) == (std::vector<std::string>{"old-a1"}), boost::test_tools::per_element());

    // A pass deletes in batches smaller than what is due.
    for (int i = 0; i < 12; ++i)
        f.db->exec("INSERT INTO events (type, created, execution_id, counter, payload) VALUES "
                   "('x', 't', 'old-a1', " + std::to_string(i) + ", '{}')");
    retention_policy small{0, 2};
    small.executions_per_batch = 1;
    small.events_per_batch = 5;
    const retention_result result = run_pass_with(f, small, [] {});
    BOOST_TEST(result.executions == 2u);
    BOOST_TEST(result.events == 12u);
    BOOST_TEST(result.oldest.value_or("") == "2020-01-01T00:00:00.000Z");
    BOOST_TEST(result.newest.value_or("") == "2099-01-01T00:00:00.000Z");
    BOOST_TEST(f.column("SELECT id FROM executions ORDER BY id") ==
                   (std::vector<std::string>{"latest-a", "old-a-in-deployment", "old-a-queued", "old-a-running",
                                             "recent-b2", "recent-b3"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_retention_pass_lets_other_work_run_after_every_execution)
{
    // A pass over a large store takes minutes; the service's thread must stay free for requests
    // and events between the executions it removes, not only between batches of them.
    store_fixture f;
    for (int i = 0; i < 30; ++i) {
        const std::string id = "old-" + std::to_string(i);
        f.db->exec("INSERT INTO executions (id, checkpoint, status, created_at) VALUES ('" + id +
                   "', 'a', 'succeeded', '2020-01-01T00:00:" + (i < 10 ? "0" : "") + std::to_string(i) + ".000Z')");
        for (int counter = 1; counter <= 3; ++counter)
            f.db->exec("INSERT INTO events (type, created, execution_id, counter, payload) VALUES ('x', 't', '" + id +
                       "', " + std::to_string(counter) + ", '{}')");
    }
    std::size_t turns = 0;
    const retention_result result = run_pass_with(f, retention_policy{90, 0}, [&] { ++turns; });
    // All but the latest of checkpoint `a`.
    BOOST_TEST(result.executions == 29u);
    BOOST_TEST(result.events == 87u);
    BOOST_TEST(turns >= result.executions);
    BOOST_TEST(f.column("SELECT id FROM executions") == (std::vector<std::string>{"old-29"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_retention_pass_spares_a_run_whose_deployment_resumed_during_the_pass)
{
    store_fixture f;
    f.db->exec(R"sql(
INSERT INTO deployments (id, status, checkpoints, steps, requested_by, created_at) VALUES
    ('dp', 'failed', '[]', '[]', 'alice', '2020-01-01T00:00:00.000Z');
INSERT INTO executions (id, checkpoint, status, created_at, deployment_id) VALUES
    ('a-0', 'a', 'succeeded', '2020-01-01T00:00:00.000Z', NULL),
    ('dp-1', 'a', 'failed', '2020-01-01T00:00:01.000Z', 'dp'),
    ('a-2', 'a', 'succeeded', '2020-01-01T00:00:02.000Z', NULL),
    ('a-9', 'a', 'succeeded', '2020-01-02T00:00:00.000Z', NULL);
)sql");
    // The deployment is resumed while the pass has its batch (all three old runs) in hand: as soon
    // as the first run is gone, between two executions of the pass.
    bool resumed = false;
    const retention_result result = run_pass_with(f, retention_policy{90, 0}, [&] {
        if (!resumed && f.column("SELECT id FROM executions WHERE id = 'a-0'").empty()) {
            f.db->exec("UPDATE deployments SET status = 'running' WHERE id = 'dp'");
            resumed = true;
        }
    });
    BOOST_TEST(resumed);
    BOOST_TEST(result.executions == 2u);
    BOOST_TEST(f.column("SELECT id FROM executions ORDER BY id") == (std::vector<std::string>{"a-9", "dp-1"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()
