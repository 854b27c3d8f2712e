// Event filters, the batched event log (durable before published) and the bounded bus.
#include "raydeploy/events/event_bus.hpp"
#include "raydeploy/events/event_log.hpp"
#include "raydeploy/store/migrations.hpp"
#include "raydeploy/store/state_store.hpp"

#include "support/test_support.hpp"

#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

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
    event_bus bus{io.get_executor()};

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

std::vector<published_event_ptr> drain(event_subscription& subscription)
{
    std::vector<published_event_ptr> received;
    while (auto item = subscription.try_receive()) received.push_back(std::move(item));
    return received;
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

BOOST_AUTO_TEST_CASE(events_are_stored_before_they_are_published)
{
    log_fixture f;
    event_log log{f.io.get_executor(), *f.db, f.bus, event_log_options{std::chrono::milliseconds{5}, 100}};
    auto subscription = f.bus.subscribe({}, 64);
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

BOOST_AUTO_TEST_CASE(reading_back_by_seq_and_by_execution)
{
    log_fixture f;
    event_log log{f.io.get_executor(), *f.db, f.bus};
    for (int i = 1; i <= 5; ++i) log.append(f.make_event("x.step", "e1", i));
    log.append(f.make_event("y.other", "e2", 1));
    log.flush();
    const auto all = log.read(0, log.last_published_seq(), {}, 100);
    BOOST_TEST(all.size() == 6u);
    const auto after_two = log.read(all[1]->seq, log.last_published_seq(), event_filter{std::string{"e1"}, {}}, 100);
    BOOST_TEST(after_two.size() == 3u);
    const auto bounded = log.read(0, all[2]->seq, {}, 100);  // the horizon bounds a replay
    BOOST_TEST(bounded.size() == 3u);
    const auto typed = log.read(0, log.last_published_seq(), event_filter{std::nullopt, {"y.*"}}, 100);
    BOOST_TEST_REQUIRE(typed.size() == 1u);
    BOOST_TEST(typed[0]->execution_id.value() == "e2");
    const auto by_counter = log.read_execution("e1", 3, 100);
    BOOST_TEST_REQUIRE(by_counter.size() == 2u);
    BOOST_TEST(json::parse(by_counter[0]->text).at("counter") == 4);
    BOOST_TEST(log.read_execution("e1", 0, 2).size() == 2u);
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

BOOST_AUTO_TEST_CASE(a_full_subscriber_is_closed_and_others_are_not_slowed)
{
    log_fixture f;
    event_log log{f.io.get_executor(), *f.db, f.bus};
    auto slow = f.bus.subscribe({}, 2);
    auto fast = f.bus.subscribe({}, 100);
    bool overflow_reported = false;
    slow->on_overflow = [&] { overflow_reported = true; };
    for (int i = 0; i < 5; ++i) log.append(f.make_event("e"));
    log.flush();
    BOOST_TEST(slow->overflowed());
    BOOST_TEST(overflow_reported);
    BOOST_TEST(drain(*fast).size() == 5u);
    // Closed: its reader learns it fell behind and resumes from the last event it really got.
    BOOST_TEST(!slow->is_open());
    BOOST_TEST(drain(*slow).size() <= 2u);
}

BOOST_AUTO_TEST_CASE(filters_apply_per_subscriber_and_dropped_subscriptions_vanish)
{
    log_fixture f;
    event_log log{f.io.get_executor(), *f.db, f.bus};
    auto only_done = f.bus.subscribe(event_filter{std::nullopt, {"execution.done"}}, 10);
    {
        auto temporary = f.bus.subscribe({}, 10);
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

BOOST_AUTO_TEST_SUITE_END()
