// Suite cli_terminal: `raydeploy run` and `deploy` on a real terminal (a pseudo-terminal), the way
// an operator uses them: the live status line rewritten with carriage returns, and at a gate the
// impact summary and the prompt. A destructive checkpoint is approved only by typing its name,
// then a reason; a non-destructive one with "y", then a reason; declining offers to deny it.
// The service runs the test pipeline tests/fixtures/ansible/pipeline.yaml.
//
// Every read from the terminal is bounded (poll with a deadline); a CLI that does not get where a
// test expects is killed, and the failure shows what the terminal displayed.
#include "support/test_support.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <regex>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace raydeploy::test;
namespace json = boost::json;

namespace {

using steady = std::chrono::steady_clock;

constexpr int exit_ok = 0;
constexpr int exit_approval = 3;

const fs::path fixtures = source_dir() / "tests" / "fixtures" / "ansible";

[[noreturn]] void fail(const source_location& where, const std::string& message)
{
    throw std::runtime_error{fs::path{where.file_name()}.filename().string() + ":" + std::to_string(where.line()) +
                             ": " + message};
}

// The terminal's output without its ANSI escape sequences (CSI such as "\033[K", OSC, and the
// two- and three-byte ones). Carriage returns and newlines stay. An escape sequence cut off at the
// end is dropped, so the result for a prefix of the output is a prefix of the result for all of it.
std::string strip_ansi(std::string_view raw)
{
    std::string out;
    out.reserve(raw.size());
    std::size_t i = 0;
    while (i < raw.size()) {
        if (raw[i] != '\033') {
            out += raw[i++];
            continue;
        }
        if (i + 1 >= raw.size()) break;
        const char kind = raw[i + 1];
        if (kind == '[') {  // CSI: parameter and intermediate bytes, then a final byte in @..~
            std::size_t j = i + 2;
            while (j < raw.size() && !(raw[j] >= '@' && raw[j] <= '~')) ++j;
            i = std::min(j + 1, raw.size());
        } else if (kind == ']') {  // OSC: up to BEL or ESC backslash
            std::size_t j = i + 2;
            while (j < raw.size() && raw[j] != '\a' && !(raw[j] == '\033' && j + 1 < raw.size() && raw[j + 1] == '\\'))
                ++j;
            i = j >= raw.size() ? raw.size() : j + (raw[j] == '\a' ? 1 : 2);
        } else if (kind == '(' || kind == ')' || kind == '*' || kind == '+') {  // character set designation
            i = std::min(i + 3, raw.size());
        } else {
            i += 2;
        }
    }
    return out;
}

// Terminal output for a failure message: the terminal's CR LF as a newline, any other carriage
// return and control character made visible.
std::string printable(std::string_view text)
{
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') continue;
        if (c == '\r') {
            out += "\\r";
        } else if (c == '\n' || c == '\t' || c >= 0x20) {
            out += static_cast<char>(c);
        } else {
            char escaped[8];
            std::snprintf(escaped, sizeof escaped, "\\x%02x", c);
            out += escaped;
        }
    }
    return out;
}

std::size_t count_of(std::string_view text, std::string_view needle)
{
    std::size_t count = 0;
    for (auto at = text.find(needle); at != std::string_view::npos; at = text.find(needle, at + needle.size())) ++count;
    return count;
}

bool contains(std::string_view text, std::string_view needle) { return text.find(needle) != std::string_view::npos; }

// A carriage return that does not end a line: the terminal's line discipline turns every "\n"
// into "\r\n", so only a "\r" not followed by "\n" is one the CLI wrote to rewrite a line.
bool has_bare_carriage_return(std::string_view raw)
{
    for (std::size_t i = 0; i < raw.size(); ++i)
        if (raw[i] == '\r' && (i + 1 == raw.size() || raw[i + 1] != '\n')) return true;
    return false;
}

// The real binary on the slave side of a pseudo-terminal (stdin, stdout and stderr), in a session
// of its own with the terminal as its controlling terminal; the test holds the master side.
class terminal_session {
public:
    terminal_session(std::vector<std::string> args, const env_map& env, unsigned short columns = 120,
                     source_location where = source_location::current())
    {
        args.insert(args.begin(), binary_path().string());
        for (const auto& arg : args) command_ += (command_.empty() ? "" : " ") + arg;
        // Everything the child needs is prepared here: between fork and exec it makes only
        // async-signal-safe calls (this test process has threads).
        auto environment = child_environment_for(env);
        std::vector<char*> argv;
        for (auto& arg : args) argv.push_back(arg.data());
        argv.push_back(nullptr);
        std::vector<char*> envp;
        for (auto& entry : environment) envp.push_back(entry.data());
        envp.push_back(nullptr);
        const std::string cwd = work_.path().string();

        winsize size{};
        size.ws_row = 40;
        size.ws_col = columns;
        int master = -1;
        // Default terminal settings: canonical input with echo, "\n" written as "\r\n".
        const pid_t pid = ::forkpty(&master, nullptr, nullptr, &size);
        if (pid < 0) fail(where, std::string{"forkpty: "} + std::strerror(errno));
        if (pid == 0) {
            if (::chdir(cwd.c_str()) != 0) ::_exit(126);
            ::execve(argv[0], argv.data(), envp.data());
            ::_exit(127);
        }
        pid_ = pid;
        master_ = master;
        // Not inherited by processes the test starts later; reads never block.
        ::fcntl(master_, F_SETFD, FD_CLOEXEC);
        ::fcntl(master_, F_SETFL, ::fcntl(master_, F_GETFL) | O_NONBLOCK);
    }

    ~terminal_session()
    {
        if (!reaped_) {
            ::kill(pid_, SIGKILL);
            int ignored = 0;
            ::waitpid(pid_, &ignored, 0);
        }
        if (master_ >= 0) ::close(master_);
    }

    terminal_session(const terminal_session&) = delete;
    terminal_session& operator=(const terminal_session&) = delete;

    // Waits until the terminal shows `needle` (escape sequences removed) after what the previous
    // expect() matched; throws with the terminal's content at the deadline or when the CLI ended first.
    void expect(std::string_view needle, std::chrono::milliseconds timeout = 10s,
                source_location where = source_location::current())
    {
        const auto deadline = steady::now() + timeout;
        for (;;) {
            const std::string shown = screen();
            if (const auto found = shown.find(needle, cursor_); found != std::string::npos) {
                cursor_ = found + needle.size();
                return;
            }
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
            if (eof_ || left <= 0ms)
                fail(where, "the terminal did not show \"" + printable(needle) + "\" " +
                                (eof_ ? std::string{"before the CLI closed it"}
                                      : "within " + std::to_string(timeout.count()) + " ms") +
                                describe());
            pump(std::min(left, 100ms));
        }
    }

    // Types `keys` as an operator would (a line is sent by its "\n", the Enter key).
    void type(std::string_view keys, source_location where = source_location::current())
    {
        const auto deadline = steady::now() + 5s;
        while (!keys.empty()) {
            const ssize_t n = ::write(master_, keys.data(), keys.size());
            if (n > 0) {
                keys.remove_prefix(static_cast<std::size_t>(n));
                continue;
            }
            if (n < 0 && errno != EINTR && errno != EAGAIN) fail(where, std::string{"typing: "} + std::strerror(errno) + describe());
            if (steady::now() >= deadline) fail(where, "the terminal takes no more input" + describe());
            pollfd ready{master_, POLLOUT, 0};
            ::poll(&ready, 1, 50);
        }
    }

    // Waits up to `timeout` for the CLI to end, reading the terminal meanwhile (so it never blocks
    // on a full terminal), then reads what is left. Its exit status, or nullopt while it still runs.
    std::optional<int> wait_exit(std::chrono::milliseconds timeout)
    {
        const auto deadline = steady::now() + timeout;
        for (;;) {
            if (!reaped_) {
                int status = 0;
                if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                    reaped_ = true;
                    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
                }
            }
            if (reaped_) {
                const auto drained = steady::now() + 2s;
                while (!eof_ && steady::now() < drained) pump(50ms);
                return exit_code_;
            }
            if (steady::now() >= deadline) return std::nullopt;
            if (eof_)
                std::this_thread::sleep_for(10ms);
            else
                pump(50ms);
        }
    }

    // The exit status, failing (the destructor then kills the CLI) when it runs past `timeout`.
    int exit_code(std::chrono::milliseconds timeout = 20s, source_location where = source_location::current())
    {
        const auto code = wait_exit(timeout);
        if (!code) fail(where, "the CLI did not end within " + std::to_string(timeout.count()) + " ms" + describe());
        return *code;
    }

    // Everything the CLI wrote, as it wrote it, and without escape sequences.
    const std::string& raw() const { return raw_; }
    std::string screen() const { return strip_ansi(raw_); }

    // The command and what the terminal showed, for failure messages.
    std::string describe() const
    {
        return "\n  command: " + command_ + (reaped_ ? "\n  exit status: " + std::to_string(exit_code_) : std::string{}) +
               "\n--- terminal (escape sequences removed, \\r: a carriage return) ---\n" + printable(screen()) +
               "\n--- end of terminal ---";
    }

private:
    // Reads what the CLI wrote, waiting up to `wait` for the first bytes.
    void pump(std::chrono::milliseconds wait)
    {
        if (eof_) return;
        pollfd ready{master_, POLLIN, 0};
        if (::poll(&ready, 1, static_cast<int>(wait.count())) <= 0) return;
        for (;;) {
            char buffer[4096];
            const ssize_t n = ::read(master_, buffer, sizeof buffer);
            if (n > 0) {
                raw_.append(buffer, static_cast<std::size_t>(n));
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
            eof_ = true;  // EIO: the slave side is closed everywhere, the CLI has ended
            return;
        }
    }

    temp_dir work_{"raydeploy-pty"};
    std::string command_;
    pid_t pid_ = -1;
    int master_ = -1;
    bool eof_ = false;
    bool reaped_ = false;
    int exit_code_ = -1;
    std::string raw_;
    std::size_t cursor_ = 0;  // in screen(): where the last expect() matched
};

service_options pipeline_options(env_map env = {})
{
    auto options = fixture_service_options(std::move(env));
    options.catalog = fixtures / "pipeline.yaml";
    return options;
}

std::string url_of(const service_process& service) { return "http://127.0.0.1:" + std::to_string(service.port()); }

// The command against `service`, polling fast so that the tests are quick.
std::vector<std::string> at(const service_process& service, std::vector<std::string> args)
{
    args.insert(args.end(), {"--server", url_of(service), "--poll-interval", "100ms"});
    return args;
}

// A terminal as an operator has one; in open mode the CLI records approvals under $USER.
const std::string operator_name = "pty-operator";
env_map terminal_env(env_map extra = {})
{
    extra.emplace("TERM", "xterm");
    extra.emplace("USER", operator_name);
    extra.emplace("LOGNAME", operator_name);
    return extra;
}

// GET /api/v1/approvals/<checkpoint>: the pending request, the live grant, the last decision.
json::object approval_of(const api_client& api, const std::string& checkpoint)
{
    return api.get_object("/api/v1/approvals/" + checkpoint);
}

bool is_null(const json::object& object, std::string_view key)
{
    const auto* value = object.if_contains(key);
    return !value || value->is_null();
}

// A copy: callers often pass a temporary state.
json::object record(const json::object& state, std::string_view key)
{
    const auto* value = state.if_contains(key);
    if (!value || !value->is_object())
        throw std::runtime_error{"no '" + std::string{key} + "' record in " + json::serialize(state)};
    return value->get_object();
}

std::string first_match(const std::string& text, const std::string& pattern)
{
    std::smatch match;
    return std::regex_search(text, match, std::regex{pattern}) ? match.str(0) : std::string{};
}

const std::string destructive_question =
    "Type the checkpoint's name (gate-destructive) to approve it, or press Enter to decline: ";
const std::string deny_question = "Not approved. Deny the request instead (what waits for it then fails)? [y/N] ";
const std::string reason_question = "Reason (recorded with the approval): ";

// The prompt of gate-destructive, up to its question.
void expect_destructive_prompt(terminal_session& cli, source_location where = source_location::current())
{
    cli.expect("Checkpoint 'gate-destructive' needs an approval before it runs; it is DESTRUCTIVE.", 15s, where);
    cli.expect("Impact:", 5s, where);
    cli.expect("  - DESTRUCTIVE: pretends to remove everything", 5s, where);
    cli.expect(destructive_question, 5s, where);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cli_terminal)

BOOST_AUTO_TEST_CASE(destructive_gate_is_not_approved_by_y_or_a_wrong_name)
{
    service_process service{pipeline_options()};
    const api_client api{service.port()};
    terminal_session cli{at(service, {"run", "gate-destructive", "--approval-timeout", "3s"}), terminal_env()};

    expect_destructive_prompt(cli);
    const json::object asked = approval_of(api, "gate-destructive");
    BOOST_TEST_REQUIRE(!is_null(asked, "pending"), json::serialize(asked));
    BOOST_TEST(is_null(asked, "grant"), json::serialize(asked));
    const std::string request_id = text(record(asked, "pending"), "id");

    // The answer that approves a non-destructive gate is not enough here: it counts as "no",
    // and the prompt goes on to offer a denial instead of asking for the name again.
    cli.type("y\n");
    cli.expect(deny_question);
    const json::object after_y = approval_of(api, "gate-destructive");
    BOOST_TEST(is_null(after_y, "grant"), json::serialize(after_y));
    BOOST_TEST(text(record(after_y, "pending"), "id") == request_id, json::serialize(after_y));

    // Declining the denial too leaves the request waiting: the CLI says how to approve it and waits
    // (here up to --approval-timeout), showing the live status line.
    cli.type("\n");
    cli.expect("[1/1] gate-destructive: waiting for an approval (destructive checkpoint)");
    cli.expect("  impact: DESTRUCTIVE: pretends to remove everything");
    cli.expect("  approve it with: curl -sS -X POST '" + url_of(service) + "/api/v1/approvals/gate-destructive'");
    cli.expect("  or: raydeploy approve gate-destructive --id " + request_id + " --reason WHY --acknowledge-risks --server " +
               url_of(service));
    cli.expect("\r[1/1] gate-destructive | waiting for an approval | ");
    const json::object waiting = approval_of(api, "gate-destructive");
    BOOST_TEST(is_null(waiting, "grant"), json::serialize(waiting));
    BOOST_TEST(text(record(waiting, "pending"), "id") == request_id, json::serialize(waiting));

    BOOST_TEST(cli.exit_code() == exit_approval, cli.describe());
    BOOST_TEST(contains(cli.screen(), "no approval of gate-destructive within 3s (--approval-timeout); nothing ran"),
               cli.describe());
    // Asked once: nothing typed after the prompt ended could approve it.
    BOOST_TEST(count_of(cli.screen(), destructive_question) == 1u, cli.describe());
    BOOST_TEST(!contains(cli.screen(), reason_question), cli.describe());

    // A wrong name is no better, in a second attempt at the same request.
    terminal_session again{at(service, {"run", "gate-destructive", "--approval-timeout", "1s"}), terminal_env()};
    expect_destructive_prompt(again);
    again.type("gate-destructiv\n");
    again.expect(deny_question);
    again.type("n\n");
    again.expect("[1/1] gate-destructive: waiting for an approval (destructive checkpoint)");
    BOOST_TEST(again.exit_code() == exit_approval, again.describe());

    const json::object last = approval_of(api, "gate-destructive");
    BOOST_TEST(is_null(last, "grant"), json::serialize(last));
    BOOST_TEST(is_null(last, "last_decision"), json::serialize(last));
    BOOST_TEST(text(record(last, "pending"), "id") == request_id, json::serialize(last));
    BOOST_TEST(json_object_of(http_get(service.port(), "/api/v1/executions")).at("executions").as_array().empty());
}

BOOST_AUTO_TEST_CASE(destructive_gate_is_approved_by_typing_its_name_and_a_reason)
{
    service_process service{pipeline_options()};
    const api_client api{service.port()};
    terminal_session cli{at(service, {"run", "gate-destructive"}), terminal_env()};

    expect_destructive_prompt(cli);
    BOOST_TEST(is_null(approval_of(api, "gate-destructive"), "grant"));
    // Surrounding blanks are forgiven; the name is what counts.
    cli.type("  gate-destructive \n");
    cli.expect(reason_question);
    // Still nothing granted while the reason is being typed.
    BOOST_TEST(is_null(approval_of(api, "gate-destructive"), "grant"));
    cli.type("CHG-7: typed on a terminal\n");
    cli.expect("approved gate-destructive (ap-");
    cli.expect("started gate-destructive as execution ex-");
    cli.expect("[1/1] gate-destructive: succeeded after", 30s);

    BOOST_TEST_REQUIRE(cli.exit_code(30s) == exit_ok, cli.describe());
    const std::string shown = cli.screen();
    const std::string approval_id = first_match(shown, "ap-[0-9a-f]+");
    const std::string execution_id = first_match(shown, "ex-[0-9a-f]{20}");
    BOOST_TEST_REQUIRE(!execution_id.empty(), cli.describe());

    // The live status line is rewritten in place: "\r" and erase-line, never a new line per update.
    BOOST_TEST(has_bare_carriage_return(cli.raw()), cli.describe());
    BOOST_TEST(contains(cli.raw(), "\r\033[K"), cli.describe());
    // The CLI erases its status line before it ends: no half-line is left on the terminal.
    BOOST_TEST(cli.raw().ends_with("\r\033[K"), cli.describe());

    // The grant is the one typed: the reason, under $USER (open mode), with the risks acknowledged,
    // consumed by the execution the CLI started.
    const json::object state = approval_of(api, "gate-destructive");
    BOOST_TEST(is_null(state, "pending"), json::serialize(state));
    BOOST_TEST(is_null(state, "grant"), json::serialize(state));
    const json::object decision = record(state, "last_decision");
    BOOST_TEST(text(decision, "id") == approval_id);
    BOOST_TEST(text(decision, "state") == "consumed");
    BOOST_TEST(text(decision, "reason") == "CHG-7: typed on a terminal");
    BOOST_TEST(text(decision, "approved_by") == operator_name);
    BOOST_TEST(decision.at("acknowledge_risks").as_bool());
    BOOST_TEST(text(decision, "execution_id") == execution_id);
    BOOST_TEST(text(get_execution(service.port(), execution_id), "status") == "succeeded");
}

BOOST_AUTO_TEST_CASE(light_gate_is_approved_with_y_and_a_reason)
{
    // With tokens: the grant is recorded under the token's identity, not $USER.
    const test_identity approver = make_identity("alice", "approver");
    service_process service{pipeline_options({{"RAYDEPLOY_AUTH_TOKENS", auth_tokens_env({approver})}})};
    const api_client api{service.port(), approver};
    terminal_session cli{at(service, {"run", "gate-light"}), terminal_env({{"RAYDEPLOY_TOKEN", approver.token}})};

    cli.expect("Checkpoint 'gate-light' needs an approval before it runs.", 15s);
    cli.expect("  - Installs nothing; a gate for the tests");
    cli.expect("Approve it? [y/N] ");
    BOOST_TEST(!contains(cli.screen(), "DESTRUCTIVE"), cli.describe());
    cli.type("y\n");
    cli.expect(reason_question);
    // An empty reason is refused and asked again.
    cli.type("\n");
    cli.expect("A reason is required: it is recorded with the decision.");
    cli.expect(reason_question);
    BOOST_TEST(is_null(approval_of(api, "gate-light"), "grant"));
    cli.type("routine check\n");
    cli.expect("approved gate-light (ap-");
    cli.expect("[1/1] gate-light: succeeded after", 30s);
    BOOST_TEST_REQUIRE(cli.exit_code(30s) == exit_ok, cli.describe());
    BOOST_TEST(contains(cli.raw(), "\r\033[K"), cli.describe());
    BOOST_TEST(!contains(cli.raw(), approver.token), cli.describe());  // the token is never shown

    const json::object decision = record(approval_of(api, "gate-light"), "last_decision");
    BOOST_TEST(text(decision, "state") == "consumed");
    BOOST_TEST(text(decision, "reason") == "routine check");
    BOOST_TEST(text(decision, "approved_by") == "alice");
    BOOST_TEST(text(decision, "execution_id") == first_match(cli.screen(), "ex-[0-9a-f]{20}"));
}

BOOST_AUTO_TEST_CASE(declining_and_denying_a_gate_exits_3)
{
    service_process service{pipeline_options()};
    const api_client api{service.port()};
    terminal_session cli{at(service, {"run", "gate-light"}), terminal_env()};

    cli.expect("Approve it? [y/N] ", 15s);
    cli.type("n\n");
    cli.expect(deny_question);
    cli.type("y\n");
    cli.expect("Reason for denying (recorded with the decision): ");
    BOOST_TEST(!is_null(approval_of(api, "gate-light"), "pending"));  // nothing decided yet
    cli.type("not during the freeze\n");
    cli.expect("denied the approval of gate-light");
    cli.expect(" of gate-light was denied; nothing ran");

    BOOST_TEST(cli.exit_code() == exit_approval, cli.describe());
    BOOST_TEST(!contains(cli.screen(), "started gate-light"), cli.describe());
    const json::object state = approval_of(api, "gate-light");
    BOOST_TEST(is_null(state, "pending"), json::serialize(state));
    BOOST_TEST(is_null(state, "grant"), json::serialize(state));
    const json::object decision = record(state, "last_decision");
    BOOST_TEST(text(decision, "state") == "denied");
    BOOST_TEST(text(decision, "reason") == "not during the freeze");
    BOOST_TEST(contains(cli.screen(), text(decision, "id") + " of gate-light was denied"), cli.describe());
    BOOST_TEST(json_object_of(http_get(service.port(), "/api/v1/executions")).at("executions").as_array().empty());
}

BOOST_AUTO_TEST_CASE(four_eyes_at_the_prompt_leaves_the_gate_to_another_approver)
{
    const test_identity alice = make_identity("alice", "approver");
    const test_identity bob = make_identity("bob", "approver");
    service_process service{pipeline_options({{"RAYDEPLOY_AUTH_TOKENS", auth_tokens_env({alice, bob})}})};
    terminal_session cli{at(service, {"run", "gate-destructive", "--approval-timeout", "20s"}),
                         terminal_env({{"RAYDEPLOY_TOKEN", alice.token}})};

    // Alice asked for the run, so she cannot grant it herself: the CLI says so and waits.
    expect_destructive_prompt(cli);
    cli.type("gate-destructive\n");
    cli.expect(reason_question);
    cli.type("my own change\n");
    cli.expect("could not decide it yourself: the service refused the request (403 FOUR_EYES)");
    cli.expect("[1/1] gate-destructive: waiting for an approval (destructive checkpoint)");
    cli.expect("\r[1/1] gate-destructive | waiting for an approval | ");
    const api_client as_bob{service.port(), bob};
    BOOST_TEST(is_null(approval_of(as_bob, "gate-destructive"), "grant"));

    // Bob grants it from elsewhere: the waiting CLI goes on by itself.
    const auto grant = as_bob.post("/api/v1/approvals/gate-destructive",
                                   R"({"reason": "reviewed by bob", "acknowledge_risks": true})");
    BOOST_TEST_REQUIRE(grant.result_int() == 201, grant.body());
    cli.expect("started gate-destructive as execution ex-", 10s);
    BOOST_TEST_REQUIRE(cli.exit_code(30s) == exit_ok, cli.describe());
    const json::object decision = record(approval_of(as_bob, "gate-destructive"), "last_decision");
    BOOST_TEST(text(decision, "approved_by") == "bob");
    BOOST_TEST(text(decision, "reason") == "reviewed by bob");
    BOOST_TEST(text(decision, "state") == "consumed");
}

BOOST_AUTO_TEST_CASE(deploy_shows_progress_and_prompts_at_the_gate)
{
    service_process service{pipeline_options()};
    const api_client api{service.port()};
    terminal_session cli{at(service, {"deploy", "--checkpoints", "first,gate-destructive"}), terminal_env()};

    cli.expect("deployment dp-", 15s);
    cli.expect(": 2 checkpoints (first, gate-destructive)");
    cli.expect("[1/2] first: succeeded after", 30s);
    expect_destructive_prompt(cli);
    cli.type("gate-destructive\n");
    cli.expect(reason_question);
    cli.type("CHG-8 window\n");
    cli.expect("approved gate-destructive (ap-");
    cli.expect("[2/2] gate-destructive: succeeded after", 30s);
    cli.expect(" succeeded");
    BOOST_TEST_REQUIRE(cli.exit_code(30s) == exit_ok, cli.describe());
    // The status line showed the first step's progress, rewritten in place.
    BOOST_TEST(contains(cli.screen(), "\r[1/2] first | "), cli.describe());
    BOOST_TEST(count_of(cli.screen(), destructive_question) == 1u, cli.describe());

    const std::string id = first_match(cli.screen(), "dp-[0-9a-f]+");
    BOOST_TEST(contains(cli.screen(), "deployment " + id + " succeeded"), cli.describe());
    const json::object decision = record(approval_of(api, "gate-destructive"), "last_decision");
    BOOST_TEST(text(decision, "reason") == "CHG-8 window");
    BOOST_TEST(text(decision, "approved_by") == operator_name);
    BOOST_TEST(text(decision, "state") == "consumed");
}

BOOST_AUTO_TEST_CASE(deploy_denied_at_the_prompt_fails_closed_with_exit_3)
{
    service_process service{pipeline_options()};
    const api_client api{service.port()};
    terminal_session cli{at(service, {"deploy", "--checkpoints", "gate-light,needs-marker"}), terminal_env()};

    cli.expect("Approve it? [y/N] ", 15s);
    cli.type("\n");  // Enter: the default, no
    cli.expect(deny_question);
    cli.type("yes\n");
    cli.expect("Reason for denying (recorded with the decision): ");
    cli.type("wrong window\n");
    cli.expect("denied the approval of gate-light");
    cli.expect("[1/2] gate-light: approval denied");
    BOOST_TEST(cli.exit_code() == exit_approval, cli.describe());

    const std::string id = first_match(cli.screen(), "dp-[0-9a-f]+");
    BOOST_TEST_REQUIRE(!id.empty(), cli.describe());
    const json::object deployment = api.get_object("/api/v1/deployments/" + id);
    BOOST_TEST(text(deployment, "status") == "failed", json::serialize(deployment));
    BOOST_TEST(text(record(approval_of(api, "gate-light"), "last_decision"), "reason") == "wrong window");
    // Nothing after the gate ran.
    BOOST_TEST(!contains(cli.screen(), "needs-marker: running"), cli.describe());
    BOOST_TEST(json_object_of(http_get(service.port(), "/api/v1/executions")).at("executions").as_array().empty());
}

BOOST_AUTO_TEST_SUITE_END()
