// Event filters, the batched event log (durable before published) and the bus's window.
#include "raydeploy/events/batch_message.hpp"
#include "raydeploy/events/event_bus.hpp"
#include "raydeploy/events/event_log.hpp"
#include "raydeploy/events/event_reader.hpp"
#include "raydeploy/events/stored_events.hpp"
#include "raydeploy/store/migrations.hpp"
#include "raydeploy/store/state_store.hpp"

#include "support/faulty_vfs.hpp"
#include "support/test_support.hpp"

#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

#include <sqlite3.h>

#include <optional>
#include <thread>

using namespace raydeploy;
using raydeploy::test::temp_dir;

namespace {

struct log_fixture {
    temp_dir dir;
    std::unique_ptr<sqlite::database> db = [this] {
        auto opened = open_database(dir.path() / "events.db");
        migrate(*opened, schema_migrations());
        // Execution events reference their execution's row.
        opened->exec("INSERT INTO executions (id, checkpoint, status, created_at) VALUES "
                     "('e1', 'c', 'running', 't'), ('e2', 'c', 'running', 't')");
        return opened;
    }();
    net::io_context io;
    event_bus bus{io.get_executor(), 1024 * 1024};

    event make_event(std::string type, std::optional<std::string> execution = {}, std::optional<std::int64_t> counter = {})
    {
        const auto scope = execution ? event_scope::execution : event_scope::global;
        return event{std::move(type), "", std::move(execution), counter, encode_members({{"detail", "x"}}, scope)};
    }

    std::int64_t stored_count()
    {
        auto count = db->prepare("SELECT count(*) FROM events");
        count.step();
        return count.column_int(0);
    }
};

// What the window holds for the subscriber now; it must not be behind.
std::vector<published_event_ptr> drain(event_subscription& subscription)
{
    std::vector<published_event_ptr> received;
    for (auto next = subscription.take(); next.item || next.behind; next = subscription.take()) {
        BOOST_TEST_REQUIRE(!next.behind);
        received.push_back(*next.item);
    }
    return received;
}

// Every event after the subscriber's position, as the event feed takes them: from the store while
// it is behind the window, then from the window.
std::vector<published_event_ptr> catch_up(event_subscription& subscription, stored_events& reader, event_bus& bus)
{
    std::vector<published_event_ptr> received;
    for (auto next = subscription.take(); next.item || next.behind; next = subscription.take()) {
        if (!next.behind) {
            received.push_back(*next.item);
            continue;
        }
        const auto page = reader.read(subscription.position(), bus.evicted_through(), subscription.filter(), 3);
        received.insert(received.end(), page.begin(), page.end());
        subscription.caught_up(page.empty() ? bus.evicted_through() : page.back()->seq);
    }
    return received;
}

// A message's bytes, as the socket gets them.
std::string message_text(std::span<const net::const_buffer> buffers)
{
    std::string text;
    for (const auto& piece : buffers) text.append(static_cast<const char*>(piece.data()), piece.size());
    return text;
}

// The JSON array of the events' texts, built the plain way.
std::string array_of(const std::vector<published_event_ptr>& items)
{
    std::string text = "[";
    for (const auto& item : items) text += std::string{item->text} + ",";
    text.back() = ']';
    return text;
}

std::vector<std::int64_t> seqs_of(const std::vector<published_event_ptr>& items)
{
    std::vector<std::int64_t> seqs;
    for (const auto& item : items) seqs.push_back(item->seq);
    return seqs;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(events)

BOOST_AUTO_TEST_CASE(type_patterns_and_filters)
{
    std::string bad;
    auto patterns = parse_type_patterns("execution.*,ansible.runner_on_failed", bad);
    BOOST_TEST_REQUIRE(patterns.has_value());
    event_filter filter{std::nullopt, *patterns};
    BOOST_TEST(filter.matches("execution.done", std::nullopt));
    BOOST_TEST(filter.matches("ansible.runner_on_failed", std::string{"e1"}));
    BOOST_TEST(!filter.matches("ansible.runner_on_ok", std::nullopt));
    filter.execution_id = "e1";
    BOOST_TEST(filter.matches("execution.done", std::string{"e1"}));
    BOOST_TEST(!filter.matches("execution.done", std::string{"e2"}));
    BOOST_TEST(!filter.matches("execution.done", std::nullopt));
    BOOST_TEST(event_filter{}.matches("anything", std::nullopt));
    for (const char* text : {"", "a,,b", "a*b", "UPPER", "a b", "*x"}) {
        BOOST_TEST_CONTEXT(text) { BOOST_TEST(!parse_type_patterns(text, bad).has_value()); }
    }
}

BOOST_AUTO_TEST_CASE(stored_text_puts_the_events_own_fields_first_and_wins_over_fields)
{
    // Fields named like the event's own are dropped: a playbook's variable cannot forge the
    // execution, the counter or the seq a subscriber trusts.
    const json::object fields{{"event", "runner_on_ok"}, {"type", "forged"},     {"counter", 99},
                              {"seq", 1},                {"execution_id", "e2"}, {"created", "then"},
                              {"event_data", json::object{{"msg", "a \"quoted\" line\n"}}}};
    const std::string members = encode_members(fields, event_scope::execution);
    const event item{"ansible.runner_on_ok", "2030-01-02T03:04:05.000Z", std::string{"e1"}, 7, members};
    const std::string text = to_stored_text(item);
    const json::value parsed = json::parse(text);
    BOOST_TEST_REQUIRE(parsed.is_object(), text);
    const json::object& document = parsed.get_object();
    BOOST_TEST(document.size() == 6u, text);
    BOOST_TEST(document.at("type").as_string() == "ansible.runner_on_ok");
    BOOST_TEST(document.at("created").as_string() == "2030-01-02T03:04:05.000Z");
    BOOST_TEST(document.at("execution_id").as_string() == "e1");
    BOOST_TEST(document.at("counter").as_int64() == 7);
    BOOST_TEST(!document.contains("seq"));
    BOOST_TEST(document.at("event_data").at("msg").as_string() == "a \"quoted\" line\n");
    BOOST_TEST(text.rfind("{\"type\":", 0) == 0u, text);

    // No fields, no execution: still one valid document.
    const std::string bare = to_stored_text(global_event("cluster.status", json::object{}));
    BOOST_TEST(json::parse(bare).as_object().size() == 2u, bare);
    BOOST_TEST(encode_members(json::object{}, event_scope::global).empty());

    // A global event has no execution of its own: an approval's event names the run it let go.
    const std::string approval = to_stored_text(
        global_event("approval.consumed", json::object{{"execution_id", "e1"}, {"counter", 3}, {"seq", 9}}));
    const json::object approval_document = json::parse(approval).as_object();
    BOOST_TEST(approval_document.at("execution_id").as_string() == "e1", approval);
    BOOST_TEST(approval_document.at("counter").as_int64() == 3, approval);
    BOOST_TEST(!approval_document.contains("seq"), approval);
}

BOOST_AUTO_TEST_CASE(members_copied_from_the_text_mean_what_the_parsed_fields_mean)
{
    // Whatever the text, the members as written and the parsed object serialized must read back
    // as the same document, without the event's own fields.
    const char* texts[] = {
        R"({"event":"runner_on_ok","counter":7,"created":"then","event_data":{"res":{"msg":"a } ] \" , { [ line"}}})",
        R"(  { "a" : 1 , "b":[ 1, {"c":"}"} ] ,"counter"  :  2,"d":true,"e":null,"f":-1.5e3 }  )",
        R"({"execution_id":"forged","seq":1,"type":"forged","n":18446744073709551616,"s":"\u00e9\n\\"})",
        R"({})",
        R"({"counter":1})",
        R"({"a":"x","a":"y"})",           // repeats a key: the parsed object (the last one won) decides
        R"({"coun\u0074er":5,"b":1})",   // an escaped key: only the parsed key says it is the counter
        R"({"created":"a","created":"b","k":[]})",
    };
    for (const std::string_view text : texts) {
        const json::object fields = json::parse(text).as_object();
        const std::string written = encode_members(fields, text, event_scope::execution);
        const std::string serialized = encode_members(fields, event_scope::execution);
        const json::value written_document = json::parse("{" + written + "}");
        BOOST_TEST(written_document == json::parse("{" + serialized + "}"), text << " -> " << written);
        for (const char* own : {"counter", "created", "execution_id", "seq", "type"})
            BOOST_TEST(!written_document.as_object().contains(own), text << " -> " << written);
    }
    // Copied as written: a number keeps its digits, a string its escapes.
    BOOST_TEST(encode_members(json::parse(texts[2]).as_object(), texts[2], event_scope::execution) ==
               R"("n":18446744073709551616,"s":"\u00e9\n\\")");
    // A global event keeps fields named like an execution's.
    BOOST_TEST(encode_members(json::parse(texts[2]).as_object(), texts[2], event_scope::global) ==
               R"("execution_id":"forged","n":18446744073709551616,"s":"\u00e9\n\\")");
    // No text: the parsed object serialized.
    BOOST_TEST(encode_members(json::parse(texts[2]).as_object(), "", event_scope::execution) ==
               encode_members(json::parse(texts[2]).as_object(), event_scope::execution));
    // Fallbacks serialize the parsed object: the last of a repeated key, the escaped key dropped.
    BOOST_TEST(encode_members(json::parse(texts[5]).as_object(), texts[5], event_scope::execution) == R"("a":"y")");
    BOOST_TEST(encode_members(json::parse(texts[6]).as_object(), texts[6], event_scope::execution) == R"("b":1)");
}

BOOST_AUTO_TEST_CASE(events_are_stored_before_they_are_published)
{
    log_fixture f;
    event_log log{f.io.get_executor(), *f.db, f.bus, event_log_options{std::chrono::milliseconds{5}, 100}};
    auto subscription = f.bus.subscribe({}, f.bus.last_seq());
    log.append(f.make_event("test.one", "e1", 1));
    log.append(f.make_event("test.two", "e1", 2));
    // Queued, not yet durable: nobody sees them.
    BOOST_TEST(f.stored_count() == 0);
    BOOST_TEST(drain(*subscription).empty());
    BOOST_TEST(log.pending() == 2u);
    f.io.run_for(std::chrono::milliseconds{200});
    BOOST_TEST(f.stored_count() == 2);
    const auto received = drain(*subscription);
    BOOST_TEST_REQUIRE(received.size() == 2u);
    BOOST_TEST(received[0]->seq < received[1]->seq);
    BOOST_TEST(log.last_published_seq() == received[1]->seq);
    const auto document = json::parse(received[0]->text).as_object();
    BOOST_TEST(document.at("seq") == received[0]->seq);
    BOOST_TEST(document.at("type") == "test.one");
    BOOST_TEST(document.at("execution_id") == "e1");
    BOOST_TEST(document.at("counter") == 1);
    BOOST_TEST(document.at("detail") == "x");
    BOOST_TEST(!document.at("created").as_string().empty());
}

BOOST_AUTO_TEST_CASE(a_full_batch_is_written_at_once_and_flush_writes_now)
{
    log_fixture f;
    event_log log{f.io.get_executor(), *f.db, f.bus, event_log_options{std::chrono::hours{1}, 3}};
    log.append(f.make_event("a"));
    log.append(f.make_event("b"));
    BOOST_TEST(f.stored_count() == 0);
    log.append(f.make_event("c"));  // the third fills the batch
    BOOST_TEST(f.stored_count() == 3);
    log.append(f.make_event("d"));
    log.flush();
    BOOST_TEST(f.stored_count() == 4);
}

// Batches due at 1 ms once they hold batch_min events, and at `max_delay` before that.
event_log_options short_batches_waiting(std::chrono::milliseconds max_delay)
{
    event_log_options options;
    options.batch_delay = std::chrono::milliseconds{1};
    options.batch_max_delay = max_delay;
    return options;
}

BOOST_AUTO_TEST_CASE(a_sparse_streams_events_wait_for_batch_min_and_share_one_commit)
{
    log_fixture f;
    const auto options = short_batches_waiting(std::chrono::hours{1});
    event_log log{f.io.get_executor(), *f.db, f.bus, options};
    int commits = 0;
    log.add_commit_hooks(&f, {[&] { ++commits; }, {}});
    auto subscription = f.bus.subscribe({}, f.bus.last_seq());
    // Each event arrives after the last one's batch_delay ran out: none is stored alone.
    for (int i = 1; i < static_cast<int>(options.batch_min); ++i) {
        log.append(f.make_event("test.step", "e1", i));
        f.io.run_for(std::chrono::milliseconds{3});
    }
    BOOST_TEST(f.stored_count() == 0);
    BOOST_TEST(drain(*subscription).empty());
    BOOST_TEST(log.pending() == options.batch_min - 1);
    // The batch_min-th, older than batch_delay, is stored at once with the others, in one commit.
    log.append(f.make_event("test.step", "e1", static_cast<std::int64_t>(options.batch_min)));
    BOOST_TEST(f.stored_count() == static_cast<std::int64_t>(options.batch_min));
    BOOST_TEST(commits == 1);
    BOOST_TEST(drain(*subscription).size() == options.batch_min);
    // A burst of batch_min waits for batch_delay only, and is one commit too.
    for (std::size_t i = 1; i <= options.batch_min; ++i) log.append(f.make_event("test.burst"));
    for (int i = 0; i < 300 && log.pending() > 0; ++i) f.io.run_for(std::chrono::milliseconds{10});
    BOOST_TEST(f.stored_count() == static_cast<std::int64_t>(2 * options.batch_min));
    BOOST_TEST(commits == 2);
    // flush() does not wait for more.
    log.append(f.make_event("test.last"));
    log.flush();
    BOOST_TEST(f.stored_count() == static_cast<std::int64_t>(2 * options.batch_min + 1));
    log.remove_commit_hooks(&f);
}

BOOST_AUTO_TEST_CASE(a_short_batch_is_stored_when_batch_max_delay_runs_out)
{
    log_fixture f;
    const auto options = short_batches_waiting(std::chrono::milliseconds{40});
    event_log log{f.io.get_executor(), *f.db, f.bus, options};
    auto subscription = f.bus.subscribe({}, f.bus.last_seq());
    const auto appended = std::chrono::steady_clock::now();
    log.append(f.make_event("test.step", "e1", 1));
    log.append(f.make_event("test.step", "e1", 2));
    for (int i = 0; i < 300 && log.pending() > 0; ++i) f.io.run_for(std::chrono::milliseconds{5});
    BOOST_TEST(f.stored_count() == 2);
    BOOST_TEST(drain(*subscription).size() == 2u);
    // Not before the max delay (the upper bound is the loop's, not a timing assertion).
    BOOST_TEST((std::chrono::steady_clock::now() - appended >= options.batch_max_delay));
}

BOOST_AUTO_TEST_CASE(a_batch_the_disk_refuses_is_kept_and_stored_in_order_once_it_takes_writes_again)
{
    for (const int refusal : {SQLITE_FULL, SQLITE_IOERR_WRITE}) {
        BOOST_TEST_CONTEXT("writes to the log fail with " << sqlite3_errstr(refusal))
        {
            // The VFS first: the fixture's connection opens through it.
            struct failing_disk_fixture : test::faulty_vfs, log_fixture {} f;
            event_log log{f.io.get_executor(), *f.db, f.bus, event_log_options{std::chrono::milliseconds{1}, 100}};
            auto subscription = f.bus.subscribe({}, f.bus.last_seq());
            test::stderr_capture log_lines{f.dir.path() / "stderr.txt"};
            f.fail_writes(test::faulty_vfs::file_kind::wal, refusal);
            log.append(f.make_event("test.step", "e1", 1));
            log.append(f.make_event("test.step", "e1", 2));
            f.io.run_for(std::chrono::milliseconds{200});  // the commit failed; its retry is a second away
            BOOST_TEST(f.failed_writes() > 0);
            BOOST_TEST(f.stored_count() == 0);
            BOOST_TEST(drain(*subscription).empty());
            BOOST_TEST(log.pending() == 2u);
            log.append(f.make_event("test.step", "e1", 3));  // queues behind the refused two

            f.heal();
            for (int i = 0; i < 300 && f.stored_count() < 3; ++i) f.io.run_for(std::chrono::milliseconds{10});
            BOOST_TEST(f.stored_count() == 3);
            const auto received = drain(*subscription);
            BOOST_TEST_REQUIRE(received.size() == 3u);
            for (std::size_t i = 0; i < received.size(); ++i) {
                BOOST_TEST(received[i]->seq == received[0]->seq + static_cast<std::int64_t>(i));
                BOOST_TEST(json::parse(received[i]->text).at("counter") == static_cast<std::int64_t>(i + 1));
            }
            // The connection works on after the refusal.
            log.append(f.make_event("test.step", "e1", 4));
            log.flush();
            BOOST_TEST(f.stored_count() == 4);
            // Said once when it started, with what to check, and once when it ended.
            const std::string logged = log_lines.text();
            BOOST_TEST(test::occurrences(logged, "storing events failed") == 1u, logged);
            BOOST_TEST(logged.find("check the free space") != std::string::npos);
            BOOST_TEST(test::occurrences(logged, "storing events works again") == 1u, logged);
        }
    }
}

// The service's way: batches of events are stored on a thread and a connection of their own.
std::function<std::unique_ptr<sqlite::database>()> store_connection(log_fixture& f)
{
    return [&f] { return open_database(f.dir.path() / "events.db"); };
}

// Runs the io_context until `done`, for at most about 3 s. The guard keeps it running while it
// has nothing to do but wait for the store thread's next result (the service's always has work);
// letting go of it stops an io_context left without work, hence the restart.
template <class Predicate>
void run_until(log_fixture& f, Predicate done)
{
    if (f.io.stopped()) f.io.restart();
    const auto guard = net::make_work_guard(f.io);
    for (int i = 0; i < 300 && !done(); ++i) f.io.run_for(std::chrono::milliseconds{10});
}

BOOST_AUTO_TEST_CASE(batches_stored_on_the_store_thread_are_published_in_order_once_committed)
{
    log_fixture f;
    event_log log{f.io.get_executor(), *f.db, f.bus, event_log_options{std::chrono::milliseconds{1}, 5},
                  store_connection(f)};
    auto subscription = f.bus.subscribe({}, f.bus.last_seq());
    constexpr int events = 1000;
    for (int i = 1; i <= events; ++i) log.append(f.make_event("test.step", i % 2 ? "e1" : "e2", i));
    // Handed to the thread, not yet published: nobody sees them before their commit is reported here.
    BOOST_TEST(drain(*subscription).size() < static_cast<std::size_t>(events));
    BOOST_TEST(log.pending() > 0u);
    std::vector<published_event_ptr> received;
    run_until(f, [&] {
        for (auto& item : drain(*subscription)) received.push_back(std::move(item));
        return received.size() >= static_cast<std::size_t>(events);
    });
    BOOST_TEST(f.stored_count() == events);
    BOOST_TEST(log.pending() == 0u);
    BOOST_TEST_REQUIRE(received.size() == static_cast<std::size_t>(events));
    for (std::size_t i = 0; i < received.size(); ++i) {
        // In the order appended, with no gap: one writer at a time, batches in turn.
        BOOST_TEST(received[i]->seq == received[0]->seq + static_cast<std::int64_t>(i));
        BOOST_TEST(json::parse(received[i]->text).at("counter") == static_cast<std::int64_t>(i + 1));
    }
    BOOST_TEST(log.last_published_seq() == received.back()->seq);
    // What the thread stored reads back from the log's own connection as published: the seqs
    // it published (32 rows an INSERT, their seqs worked out from the last) are the rows' own.
    const auto page = stored_events{*f.db}.read(0, log.last_published_seq(), {}, events);
    BOOST_TEST_REQUIRE(page.size() == received.size());
    for (std::size_t i = 0; i < page.size(); ++i) BOOST_TEST(page[i]->text == received[i]->text);
}

BOOST_AUTO_TEST_CASE(flush_waits_for_the_store_threads_batches_and_stores_the_rest_after_them)
{
    log_fixture f;
    event_log log{f.io.get_executor(), *f.db, f.bus, event_log_options{std::chrono::hours{1}, 3}, store_connection(f)};
    auto subscription = f.bus.subscribe({}, f.bus.last_seq());
    int written_by_hook = 0, committed_by_hook = 0;
    log.add_commit_hooks(&f, {[&] {
                                  ++written_by_hook;
                                  f.db->exec("UPDATE executions SET status = 'succeeded' WHERE id = 'e1'");
                              },
                              [&] { ++committed_by_hook; }});
    for (int i = 1; i <= 7; ++i) log.append(f.make_event("test.step", "e1", i));  // two batches to the thread
    log.flush();
    // Everything stored and published when flush() returns, without running the io_context.
    BOOST_TEST(f.stored_count() == 7);
    const auto received = drain(*subscription);
    BOOST_TEST_REQUIRE(received.size() == 7u);
    for (std::size_t i = 0; i < received.size(); ++i)
        BOOST_TEST(json::parse(received[i]->text).at("counter") == static_cast<std::int64_t>(i + 1));
    // The hooks' state goes with the batch stored here, and only with such batches.
    BOOST_TEST(written_by_hook == 1);
    BOOST_TEST(committed_by_hook == 1);
    {
        auto status = f.db->prepare("SELECT status FROM executions WHERE id = 'e1'");
        BOOST_TEST_REQUIRE(status.step());
        BOOST_TEST(status.column_text(0) == "succeeded");
    }
    for (int i = 8; i <= 10; ++i) log.append(f.make_event("test.step", "e1", i));  // a batch to the thread
    run_until(f, [&] { return log.pending() == 0; });
    BOOST_TEST(f.stored_count() == 10);
    BOOST_TEST(written_by_hook == 1);
    log.remove_commit_hooks(&f);
}

BOOST_AUTO_TEST_CASE(a_slow_streams_batch_is_stored_on_the_io_thread_and_a_full_one_on_the_store_thread)
{
    log_fixture f;
    event_log log{f.io.get_executor(), *f.db, f.bus, event_log_options{std::chrono::milliseconds{1}, 100},
                  store_connection(f)};
    // The hooks run in the io thread's commits only: they tell which way a batch went.
    int io_thread_commits = 0;
    log.add_commit_hooks(&f, {[&] { ++io_thread_commits; }, {}});
    for (int i = 1; i <= 3; ++i) log.append(f.make_event("test.step", "e1", i));
    run_until(f, [&] { return log.pending() == 0; });
    BOOST_TEST(f.stored_count() == 3);
    BOOST_TEST(io_thread_commits == 1);  // not full when its delay ran out: stored here
    for (int i = 4; i <= 103; ++i) log.append(f.make_event("test.step", "e1", i));
    run_until(f, [&] { return log.pending() == 0; });
    BOOST_TEST(f.stored_count() == 103);
    BOOST_TEST(io_thread_commits == 1);  // full: the thread's
    log.remove_commit_hooks(&f);
}

BOOST_AUTO_TEST_CASE(events_held_back_by_a_busy_store_thread_go_once_it_is_free_not_after_batch_max_delay)
{
    log_fixture f;
    auto options = short_batches_waiting(std::chrono::hours{1});
    options.batch_size = 64;
    event_log log{f.io.get_executor(), *f.db, f.bus, options, store_connection(f)};
    // Two full batches keep the thread busy (one stored, one waiting); the events behind them are
    // past batch_min and wait only for the thread.
    const int events = 2 * 64 + static_cast<int>(options.batch_min) + 3;
    for (int i = 1; i <= events; ++i) log.append(f.make_event("test.step", "e1", i));
    run_until(f, [&] { return log.pending() == 0; });
    BOOST_TEST(log.pending() == 0u);
    BOOST_TEST(f.stored_count() == events);
}

BOOST_AUTO_TEST_CASE(commit_soon_commits_the_hooks_state_within_the_state_delay_without_events)
{
    log_fixture f;
    event_log log{f.io.get_executor(), *f.db, f.bus,
                  event_log_options{std::chrono::milliseconds{1}, 256, std::chrono::milliseconds{20}}, store_connection(f)};
    int written_by_hook = 0;
    log.add_commit_hooks(&f, {[&] { ++written_by_hook; }, {}});
    log.commit_soon();
    log.commit_soon();  // the same commit
    f.io.run_for(std::chrono::milliseconds{5});
    BOOST_TEST(written_by_hook == 0);  // not before the delay
    run_until(f, [&] { return written_by_hook > 0; });
    f.io.run_for(std::chrono::milliseconds{50});
    BOOST_TEST(written_by_hook == 1);
    log.remove_commit_hooks(&f);
}

BOOST_AUTO_TEST_CASE(without_a_connection_for_the_store_thread_the_io_thread_stores_every_batch)
{
    log_fixture f;
    test::stderr_capture log_lines{f.dir.path() / "stderr.txt"};
    int opened = 0;
    event_log log{f.io.get_executor(), *f.db, f.bus, event_log_options{std::chrono::hours{1}, 2},
                  [&]() -> std::unique_ptr<sqlite::database> {
                      ++opened;
                      throw sqlite::error{SQLITE_CANTOPEN, "unable to open database file"};
                  }};
    BOOST_TEST(opened == 0);  // not before a full batch needs it
    for (int i = 1; i <= 4; ++i) log.append(f.make_event("test.step", "e1", i));
    BOOST_TEST(f.stored_count() == 4);  // each full batch stored at once, on this thread
    BOOST_TEST(opened == 1);            // tried once
    const std::string logged = log_lines.text();
    BOOST_TEST(test::occurrences(logged, "could not open its connection") == 1u, logged);
}

BOOST_AUTO_TEST_CASE(a_batch_the_store_thread_could_not_store_comes_back_and_is_stored_in_order)
{
    // The VFS first: both connections open through it.
    struct failing_disk_fixture : test::faulty_vfs, log_fixture {} f;
    event_log log{f.io.get_executor(), *f.db, f.bus, event_log_options{std::chrono::milliseconds{1}, 2},
                  store_connection(f)};
    auto subscription = f.bus.subscribe({}, f.bus.last_seq());
    test::stderr_capture log_lines{f.dir.path() / "stderr.txt"};
    f.fail_writes(test::faulty_vfs::file_kind::wal, SQLITE_FULL);
    for (int i = 1; i <= 4; ++i) log.append(f.make_event("test.step", "e1", i));  // two batches to the thread
    // Refused, handed back and logged here; the retry is a second away. (Waited for, not timed:
    // under the sanitizers the thread takes a while to start and open its connection.)
    run_until(f, [&] {
        return test::read_file(f.dir.path() / "stderr.txt").find("storing events failed") != std::string::npos;
    });
    BOOST_TEST(f.failed_writes() > 0);
    BOOST_TEST(f.stored_count() == 0);
    BOOST_TEST(drain(*subscription).empty());
    BOOST_TEST(log.pending() == 4u);
    for (int i = 5; i <= 6; ++i) log.append(f.make_event("test.step", "e1", i));  // behind the refused ones

    f.heal();
    run_until(f, [&] { return f.stored_count() >= 6; });
    BOOST_TEST(f.stored_count() == 6);
    // Batches go to the thread again once the backlog is stored.
    for (int i = 7; i <= 10; ++i) log.append(f.make_event("test.step", "e1", i));
    run_until(f, [&] { return log.pending() == 0; });
    BOOST_TEST(log.pending() == 0u, log_lines.text());
    BOOST_TEST(f.stored_count() == 10);
    const auto received = drain(*subscription);
    BOOST_TEST_REQUIRE(received.size() == 10u);
    for (std::size_t i = 0; i < received.size(); ++i) {
        BOOST_TEST(received[i]->seq == received[0]->seq + static_cast<std::int64_t>(i));
        BOOST_TEST(json::parse(received[i]->text).at("counter") == static_cast<std::int64_t>(i + 1));
    }
    const std::string logged = log_lines.text();
    BOOST_TEST(test::occurrences(logged, "storing events failed") == 1u, logged);
    BOOST_TEST(test::occurrences(logged, "storing events works again") == 1u, logged);
}

BOOST_AUTO_TEST_CASE(events_stored_together_share_one_block_of_comma_joined_texts)
{
    log_fixture f;
    event_log log{f.io.get_executor(), *f.db, f.bus};
    auto subscription = f.bus.subscribe({}, 0);
    for (int i = 1; i <= 3; ++i) log.append(f.make_event("x.step", "e1", i));
    log.flush();
    const auto published = drain(*subscription);
    BOOST_TEST_REQUIRE(published.size() == 3u);
    std::string joined;
    for (const auto& item : published) {
        BOOST_TEST(item->block == published.front()->block);
        const auto document = json::parse(item->text).as_object();
        BOOST_TEST(document.at("seq") == item->seq);
        BOOST_TEST(item->text.substr(0, 7) == "{\"seq\":");  // seq first, where subscribers look
        joined += (joined.empty() ? "" : ",") + std::string{item->text};
    }
    BOOST_TEST(*published.front()->block == joined);

    // A page read from the store is one block too, with the same texts.
    const auto page = stored_events{*f.db}.read(0, log.last_published_seq(), {}, 100);
    BOOST_TEST_REQUIRE(page.size() == 3u);
    BOOST_TEST(*page.front()->block == joined);
    BOOST_TEST(page.back()->block == page.front()->block);

    // The block starts anew after take(); text_size() is the size add() makes, known before.
    published_block block;
    BOOST_TEST(published_block::text_size(7, "{\"type\":\"t\"}") == std::string_view{"{\"seq\":7,\"type\":\"t\"}"}.size());
    BOOST_TEST(published_block::text_size(12345, "{}") == std::string_view{"{\"seq\":12345}"}.size());
    BOOST_TEST(block.add(7, "t", std::nullopt, "{\"type\":\"t\"}") == std::string_view{"{\"seq\":7,\"type\":\"t\"}"}.size());
    const auto first = block.take();
    BOOST_TEST(block.empty());
    block.add(8, "t", std::nullopt, "{}");
    const auto second = block.take();
    BOOST_TEST(first.front()->text == "{\"seq\":7,\"type\":\"t\"}");
    BOOST_TEST(second.front()->text == "{\"seq\":8}");
    BOOST_TEST(*second.front()->block == "{\"seq\":8}");
}

BOOST_AUTO_TEST_CASE(a_batch_message_is_the_events_own_text_in_few_pieces)
{
    const auto make_block = [](std::int64_t first_seq, int count) {
        published_block block;
        for (int i = 0; i < count; ++i)
            block.add(first_seq + i, "x.step", std::string{"e1"}, "{\"type\":\"x.step\",\"n\":" + std::to_string(i) + "}");
        return block.take();
    };
    const auto first = make_block(1, 5);
    const auto second = make_block(6, 3);

    // A run of one block is one piece: "[", the run, "]".
    batch_message message;
    BOOST_TEST(message.empty());
    for (const auto& item : first) message.add(item);
    BOOST_TEST(message.events() == 5u);
    BOOST_TEST(message.buffers().size() == 3u);
    BOOST_TEST(message_text(message.buffers()) == array_of(first));
    BOOST_TEST(message.bytes() == array_of(first).size());

    // Into the next block: a comma and a piece more.
    for (const auto& item : second) message.add(item);
    auto all = first;
    all.insert(all.end(), second.begin(), second.end());
    BOOST_TEST(message.buffers().size() == 5u);
    BOOST_TEST(message_text(message.buffers()) == array_of(all));

    // A filter's gaps start new pieces; the text is still the events it took.
    message.clear();
    BOOST_TEST(message.empty());
    const std::vector<published_event_ptr> every_other{first[0], first[2], first[3], second[1]};
    for (const auto& item : every_other) message.add(item);
    BOOST_TEST(message.buffers().size() == 7u);
    BOOST_TEST(message_text(message.buffers()) == array_of(every_other));

    // More pieces than one send takes: one copy.
    message.clear();
    const auto many = make_block(100, 2 * static_cast<int>(batch_message::max_pieces));
    std::vector<published_event_ptr> scattered;
    for (std::size_t i = 0; i < many.size(); i += 2) scattered.push_back(many[i]);
    for (const auto& item : scattered) message.add(item);
    BOOST_TEST(message.buffers().size() == 1u);
    BOOST_TEST(message_text(message.buffers()) == array_of(scattered));

    // The message holds its blocks: the events may be dropped while it is written.
    message.clear();
    std::string expected;
    {
        const auto transient = make_block(500, 4);
        for (const auto& item : transient) message.add(item);
        expected = array_of(transient);
    }
    BOOST_TEST(message_text(message.buffers()) == expected);
}

BOOST_AUTO_TEST_CASE(reading_back_by_seq_and_by_execution)
{
    log_fixture f;
    event_log log{f.io.get_executor(), *f.db, f.bus};
    stored_events reader{*f.db};
    for (int i = 1; i <= 5; ++i) log.append(f.make_event("x.step", "e1", i));
    log.append(f.make_event("y.other", "e2", 1));
    log.flush();
    const auto all = reader.read(0, log.last_published_seq(), {}, 100);
    BOOST_TEST(all.size() == 6u);
    const auto after_two = reader.read(all[1]->seq, log.last_published_seq(), event_filter{std::string{"e1"}, {}}, 100);
    BOOST_TEST(after_two.size() == 3u);
    const auto bounded = reader.read(0, all[2]->seq, {}, 100);  // the horizon bounds a replay
    BOOST_TEST(bounded.size() == 3u);
    const auto typed = reader.read(0, log.last_published_seq(), event_filter{std::nullopt, {"y.*"}}, 100);
    BOOST_TEST_REQUIRE(typed.size() == 1u);
    BOOST_TEST(typed[0]->execution_id.value() == "e2");
    const auto by_counter = reader.read_execution("e1", 3, 100).events;
    BOOST_TEST_REQUIRE(by_counter.size() == 2u);
    BOOST_TEST(json::parse(by_counter[0]->text).at("counter") == 4);
    BOOST_TEST(reader.read_execution("e1", 0, 2).events.size() == 2u);
}

BOOST_AUTO_TEST_CASE(seq_continues_across_restarts)
{
    log_fixture f;
    std::int64_t before = 0;
    {
        event_log log{f.io.get_executor(), *f.db, f.bus};
        log.append(f.make_event("a"));
        log.flush();
        before = log.last_published_seq();
    }
    event_log reopened{f.io.get_executor(), *f.db, f.bus};
    BOOST_TEST(reopened.last_published_seq() == before);
    reopened.append(f.make_event("b"));
    reopened.flush();
    BOOST_TEST(reopened.last_published_seq() > before);
}

BOOST_AUTO_TEST_CASE(a_subscriber_behind_the_window_reads_the_rest_from_the_store_and_loses_nothing)
{
    log_fixture f;
    // Room for a handful of these events: most of a run of 40 leaves the window.
    event_bus bus{f.io.get_executor(), 2000};
    event_log log{f.io.get_executor(), *f.db, bus, event_log_options{std::chrono::hours{1}, 4}};
    stored_events reader{*f.db};
    auto slow = bus.subscribe({}, bus.last_seq());
    auto fast = bus.subscribe({}, bus.last_seq());
    int told = 0;
    slow->on_fell_behind = [&] { ++told; };
    fast->on_fell_behind = [] { BOOST_FAIL("a subscriber that keeps up was told it fell behind"); };
    std::vector<published_event_ptr> fast_received;
    for (int i = 0; i < 40; ++i) {
        log.append(f.make_event("step"));  // a batch of 4 is published every 4 appends
        const auto taken = drain(*fast);
        fast_received.insert(fast_received.end(), taken.begin(), taken.end());
    }
    BOOST_TEST(bus.window_events() < 20u);
    BOOST_TEST(bus.window_bytes() <= 2000u);
    BOOST_TEST(bus.evicted_through() > 0);
    // Told as events left the window without it.
    BOOST_TEST(told > 0);
    BOOST_TEST(slow->lag() == 40);
    BOOST_TEST(slow->take().behind);

    const auto stored = reader.read(0, log.last_published_seq(), {}, 100);
    BOOST_TEST_REQUIRE(stored.size() == 40u);
    BOOST_TEST(seqs_of(fast_received) == seqs_of(stored), boost::test_tools::per_element());
    BOOST_TEST(seqs_of(catch_up(*slow, reader, bus)) == seqs_of(stored), boost::test_tools::per_element());
    BOOST_TEST(slow->lag() == 0);
    // Back in the window: the next events come from memory.
    log.append(f.make_event("after"));
    log.flush();
    const auto live = drain(*slow);
    BOOST_TEST_REQUIRE(live.size() == 1u);
    BOOST_TEST(live[0]->type == "after");
}

BOOST_AUTO_TEST_CASE(a_subscription_starts_after_the_seq_it_names_in_the_window_or_before_it)
{
    log_fixture f;
    event_bus bus{f.io.get_executor(), 2000};
    event_log log{f.io.get_executor(), *f.db, bus, event_log_options{std::chrono::hours{1}, 100}};
    stored_events reader{*f.db};
    for (int i = 0; i < 30; ++i) log.append(f.make_event("step"));
    log.flush();
    const auto stored = reader.read(0, log.last_published_seq(), {}, 100);
    BOOST_TEST_REQUIRE(stored.size() == 30u);
    const std::vector<published_event_ptr> after_28(stored.begin() + 28, stored.end());

    // Inside the window: straight from memory.
    auto recent = bus.subscribe({}, stored[27]->seq);
    BOOST_TEST(seqs_of(drain(*recent)) == seqs_of(after_28), boost::test_tools::per_element());
    // From the start: through the store, then the window, each event once.
    auto everything = bus.subscribe({}, 0);
    BOOST_TEST(everything->take().behind);
    BOOST_TEST(seqs_of(catch_up(*everything, reader, bus)) == seqs_of(stored), boost::test_tools::per_element());
    // Ahead of everything published: the events up to that seq are passed over.
    auto ahead = bus.subscribe({}, stored.back()->seq + 1);
    log.append(f.make_event("one"));
    log.append(f.make_event("two"));
    log.flush();
    const auto from_ahead = drain(*ahead);
    BOOST_TEST_REQUIRE(from_ahead.size() == 1u);
    BOOST_TEST(from_ahead[0]->type == "two");

    // A new log on the same database: the window starts after what is stored.
    event_bus restarted{f.io.get_executor(), 2000};
    event_log reopened{f.io.get_executor(), *f.db, restarted};
    BOOST_TEST(restarted.evicted_through() == reopened.last_published_seq());
    auto resumed = restarted.subscribe({}, stored[27]->seq);
    BOOST_TEST(resumed->take().behind);
}

BOOST_AUTO_TEST_CASE(a_waiting_subscriber_wakes_for_the_events_it_wants_only)
{
    log_fixture f;
    event_bus bus{f.io.get_executor(), 2000};
    event_log log{f.io.get_executor(), *f.db, bus, event_log_options{std::chrono::hours{1}, 100}};
    auto only_done = bus.subscribe(event_filter{std::nullopt, {"execution.done"}}, bus.last_seq());
    only_done->on_fell_behind = [] { BOOST_FAIL("an idle subscriber was sent to the store for events it does not want"); };
    int wakes = 0;
    bool ended = false;
    net::co_spawn(
        f.io,
        [&]() -> net::awaitable<void> {
            for (;;) {
                const bool more = co_await only_done->wait();
                if (!more) break;
                ++wakes;
                drain(*only_done);
            }
            ended = true;
        },
        net::detached);
    f.io.poll();
    // Many events it does not want, enough to go through the window several times: no wake,
    // and its position follows, so it is never behind.
    for (int i = 0; i < 50; ++i) {
        log.append(f.make_event("ansible.runner_on_ok"));
        log.flush();
        f.io.poll();
    }
    BOOST_TEST(wakes == 0);
    BOOST_TEST(only_done->lag() == 0);
    log.append(f.make_event("execution.done"));
    log.flush();
    f.io.poll();
    BOOST_TEST(wakes == 1);
    bus.close_all();
    f.io.poll();
    BOOST_TEST(ended);
}

// A subscriber that is busy (writing what it took) when the run's last event is published is not
// waiting, so nobody wakes it: wait() must see that event in the window and not sleep until some
// later publish that may never come. (Found by the 100-subscriber latency benchmark: the run
// ended and a few subscribers never got execution.done.)
BOOST_AUTO_TEST_CASE(an_event_published_while_the_subscriber_was_busy_is_not_waited_for)
{
    log_fixture f;
    event_bus bus{f.io.get_executor(), 1 << 20};
    event_log log{f.io.get_executor(), *f.db, bus, event_log_options{std::chrono::hours{1}, 100}};
    auto subscription = bus.subscribe({}, bus.last_seq());
    log.append(f.make_event("ansible.runner_on_ok"));
    log.flush();
    BOOST_TEST(drain(*subscription).size() == 1u);  // take() came back empty-handed: "now write"
    // While it writes, the run ends.
    log.append(f.make_event("execution.done"));
    log.flush();
    std::optional<bool> woke;
    net::co_spawn(
        f.io, [&]() -> net::awaitable<void> { woke = co_await subscription->wait(); }, net::detached);
    f.io.poll();
    BOOST_TEST_REQUIRE(woke.has_value());
    BOOST_TEST(*woke);
    const auto rest = drain(*subscription);
    BOOST_TEST_REQUIRE(rest.size() == 1u);
    BOOST_TEST(rest.front()->type == "execution.done");

    // Up to date, it waits again until the next publish.
    woke.reset();
    net::co_spawn(
        f.io, [&]() -> net::awaitable<void> { woke = co_await subscription->wait(); }, net::detached);
    f.io.poll();
    BOOST_TEST(!woke.has_value());
    bus.close_all();
    f.io.poll();
    BOOST_TEST_REQUIRE(woke.has_value());
    BOOST_TEST(!*woke);
}

BOOST_AUTO_TEST_CASE(filters_apply_per_subscriber_and_dropped_subscriptions_vanish)
{
    log_fixture f;
    event_log log{f.io.get_executor(), *f.db, f.bus};
    auto only_done = f.bus.subscribe(event_filter{std::nullopt, {"execution.done"}}, f.bus.last_seq());
    {
        auto temporary = f.bus.subscribe({}, f.bus.last_seq());
        BOOST_TEST(f.bus.subscriber_count() == 2u);
    }
    BOOST_TEST(f.bus.subscriber_count() == 1u);
    log.append(f.make_event("execution.status"));
    log.append(f.make_event("execution.done"));
    log.flush();
    const auto received = drain(*only_done);
    BOOST_TEST_REQUIRE(received.size() == 1u);
    BOOST_TEST(received[0]->type == "execution.done");
}

BOOST_AUTO_TEST_CASE(an_executions_page_says_whether_more_events_follow)
{
    log_fixture f;
    event_log log{f.io.get_executor(), *f.db, f.bus};
    stored_events reader{*f.db};
    for (int i = 1; i <= 5; ++i) log.append(f.make_event("x.step", "e1", i));
    log.flush();
    // Stopped at the limit, with events after it.
    const auto first = reader.read_execution("e1", 0, 2);
    BOOST_TEST(first.events.size() == 2u);
    BOOST_TEST(first.more);
    // Exactly the rest: nothing follows.
    const auto rest = reader.read_execution("e1", 2, 3);
    BOOST_TEST(rest.events.size() == 3u);
    BOOST_TEST(!rest.more);
    // Stopped by bytes (one event's worth): more follow, and the first event always fits.
    const auto by_bytes = reader.read_execution("e1", 0, 100, 1);
    BOOST_TEST(by_bytes.events.size() == 1u);
    BOOST_TEST(by_bytes.more);
    BOOST_TEST(reader.read_execution("e2", 0, 100).events.empty());
    BOOST_TEST(!reader.read_execution("e2", 0, 100).more);
}

BOOST_AUTO_TEST_CASE(the_event_reader_reads_committed_events_off_the_io_thread)
{
    log_fixture f;
    event_log log{f.io.get_executor(), *f.db, f.bus};
    // Enough text that reading it back takes a good many milliseconds, even on a fast machine.
    const std::string detail(2000, 'x');
    for (int i = 1; i <= 20000; ++i)
        log.append(event{"x.step", "", std::string{"e1"}, i,
                         encode_members({{"detail", detail}}, event_scope::execution)});
    log.flush();
    const std::int64_t newest = log.last_published_seq();

    // Its own read-only connection, opened while the writer's is open, as in the service.
    event_reader reader{f.dir.path() / "events.db"};
    const auto io_thread = std::this_thread::get_id();
    std::vector<published_event_ptr> page;
    std::optional<std::thread::id> resumed_on;
    bool read_done = false;
    net::co_spawn(
        f.io,
        [&]() -> net::awaitable<void> {
            auto got = co_await reader.read(0, newest, {}, 50000);
            resumed_on = std::this_thread::get_id();
            page = std::move(got);
            read_done = true;
        },
        net::detached);
    // The io thread stays free while the page is read: a short timer fires before the read is
    // back. (Read on the io thread, as before, the timer could only fire after it.)
    std::optional<bool> read_done_when_timer_fired;
    net::steady_timer tick{f.io, std::chrono::milliseconds{1}};
    tick.async_wait([&](boost::system::error_code) { read_done_when_timer_fired = read_done; });
    f.io.run_for(std::chrono::seconds{60});

    BOOST_TEST_REQUIRE(read_done, "the read did not come back within 60 s");
    BOOST_TEST((resumed_on == io_thread), "the reader must resume its caller on the caller's executor");
    BOOST_TEST_REQUIRE(read_done_when_timer_fired.has_value());
    BOOST_TEST(!*read_done_when_timer_fired, "the io thread was blocked while the page was read");
    // The same page as a read on the writer's own connection.
    const auto expected = stored_events{*f.db}.read(0, newest, {}, 50000);
    BOOST_TEST_REQUIRE(page.size() == 20000u);
    BOOST_TEST(seqs_of(page) == seqs_of(expected), boost::test_tools::per_element());
    BOOST_TEST(page.back()->text == expected.back()->text);

    // And an execution's page, with its `more`.
    std::optional<execution_events_page> by_execution;
    net::co_spawn(
        f.io,
        [&]() -> net::awaitable<void> {
            auto got = co_await reader.read_execution("e1", 19990, 5);
            by_execution = std::move(got);
        },
        net::detached);
    f.io.restart();
    f.io.run_for(std::chrono::seconds{30});
    BOOST_TEST_REQUIRE(by_execution.has_value());
    BOOST_TEST(by_execution->events.size() == 5u);
    BOOST_TEST(by_execution->more);
}

BOOST_AUTO_TEST_CASE(the_event_reader_cannot_write)
{
    log_fixture f;
    sqlite::database read_only{f.dir.path() / "events.db", sqlite::open_mode::read_only};
    BOOST_CHECK_THROW(read_only.exec("DELETE FROM events"), sqlite::error);
    BOOST_CHECK_THROW((event_reader{f.dir.path() / "missing.db"}), sqlite::error);
}

BOOST_AUTO_TEST_SUITE_END()
