// `raydeploy run`, `deploy`, `resume` and `cancel`: start work on the service and follow it to
// its end, stopping at approval gates to prompt (terminal) or to print how to approve and wait (CI).
//
// Following is polling: the deployment (or execution) every poll interval for step changes, and
// each running execution's events since the last counter seen for task-level detail. Polling
// keeps the client a plain HTTP/1.1 user that works through any proxy and needs no reconnection
// logic; the events endpoint is paged by counter, so nothing is missed or shown twice.
#include "raydeploy/cli/cli.hpp"
#include "raydeploy/cli/client_commands.hpp"
#include "raydeploy/cli/commands.hpp"
#include "raydeploy/util/net.hpp"
#include "raydeploy/util/duration.hpp"
#include "raydeploy/util/errors.hpp"

#include <boost/algorithm/string/classification.hpp>
#include <boost/algorithm/string/split.hpp>

#include <iostream>
#include <thread>

namespace raydeploy::cli {

namespace po = boost::program_options;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

using wall_clock = std::chrono::system_clock;
using steady_clock = std::chrono::steady_clock;

struct follow_options {
    std::chrono::milliseconds poll = 500ms;
    std::chrono::milliseconds heartbeat = 30s;
    std::chrono::milliseconds approval_timeout = 1h;
};

bool is_final_execution(std::string_view status)
{
    return status == "succeeded" || status == "failed" || status == "cancelled" || status == "timed_out" ||
           status == "interrupted";
}

bool is_final_deployment(std::string_view status)
{
    return status == "succeeded" || status == "failed" || status == "cancelled";
}

std::vector<std::string> string_list(const json::value* value)
{
    std::vector<std::string> out;
    if (!value || !value->is_array()) return out;
    for (const auto& item : value->get_array())
        if (item.is_string()) out.emplace_back(item.get_string());
    return out;
}

// Reads one execution's stored events from where it stopped, page by page.
class event_reader {
public:
    explicit event_reader(std::string execution_id) : id_{std::move(execution_id)} {}

    // Hands every new event to `on_event`; returns once the stored events are exhausted.
    void drain(const api_client& api, const std::function<void(const json::object&)>& on_event)
    {
        constexpr std::size_t page = 500;
        while (!done_) {
            const auto answer = api.get_json("/api/v1/executions/" + id_ + "/events?since_counter=" +
                                             std::to_string(counter_) + "&limit=" + std::to_string(page));
            const auto* events = answer.as_object().if_contains("events");
            if (!events || !events->is_array()) break;
            for (const auto& item : events->get_array()) {
                if (!item.is_object()) continue;
                const auto& event = item.get_object();
                if (const auto* counter = event.if_contains("counter"); counter && counter->is_int64())
                    counter_ = std::max(counter_, counter->get_int64());
                if (json_string(event, "type") == "execution.done") done_ = true;
                on_event(event);
            }
            // A page also ends at the service's byte cap; next_since_counter says whether more follow
            // (a service without it pages by count only).
            const auto* next = answer.as_object().if_contains("next_since_counter");
            if (next ? next->is_null() : events->get_array().size() < page) break;
        }
    }

    // The closing execution.done was read: nothing follows.
    bool done() const { return done_; }
    // For executions that ended before the follow began: their history is not replayed.
    void skip() { done_ = true; }

private:
    std::string id_;
    std::int64_t counter_ = 0;
    bool done_ = false;
};

// Follows runs on one service for one command and renders them through a progress_printer.
class follower {
public:
    follower(const service_connection& connection, const console& where, follow_options options)
        : connection_{connection},
          api_{connection.api()},
          where_{where},
          options_{options},
          printer_{where.out, progress_options_for(where, options.heartbeat)}
    {
    }

    int run_checkpoint(const std::string& name, const json::object& body);
    int follow_deployment(const std::string& id);

private:
    enum class gate_outcome { granted, denied, timed_out };

    gate_outcome settle_run_gate(gate_info gate, const std::string& approval_id);
    gate_outcome wait_for_grant(const gate_info& gate, const std::string& approval_id);
    enum class decision { undecided, approved, denied };
    // Asks the operator at a terminal and records the decision on the service.
    decision decide_at_prompt(const gate_info& gate);
    void show_gate(gate_info gate);
    int follow_execution(const std::string& checkpoint, const std::string& id);
    std::string failure_detail(const std::string& execution_id);
    // Waits `total`, ticking the printer so the status line's clock moves and heartbeats come out.
    void wait(std::chrono::milliseconds total);
    // " --server URL" to append to suggested commands; empty for the in-process engine, whose URL dies with us.
    std::string server_hint() const { return connection_.in_process() ? "" : " " + connection_.server_flag(); }
    static wall_clock::time_point now() { return wall_clock::now(); }

    const service_connection& connection_;
    const api_client& api_;
    const console& where_;
    follow_options options_;
    progress_printer printer_;
};

void follower::wait(std::chrono::milliseconds total)
{
    const auto until = steady_clock::now() + total;
    for (;;) {
        printer_.tick(now());
        const auto left = until - steady_clock::now();
        if (left <= 0ms) return;
        std::this_thread::sleep_for(std::min<steady_clock::duration>(left, 250ms));
    }
}

std::string follower::failure_detail(const std::string& execution_id)
{
    const auto execution = api_.get_json("/api/v1/executions/" + execution_id).as_object();
    const auto* error = execution.if_contains("error");
    std::string detail = error ? describe_execution_error(*error) : std::string{};
    if (detail.empty()) detail = json_string(execution, "status_reason");
    return detail;
}

void follower::show_gate(gate_info gate)
{
    if (connection_.in_process()) {
        // Its only token is this process's: a curl command or another CLI could not approve it.
        gate.approve_command.clear();
        printer_.awaiting_approval(gate, now());
        printer_.note("  only this command can reach its in-process service: approve at its prompt on a terminal, "
                      "or run 'raydeploy serve' and pass --server",
                      now());
        return;
    }
    printer_.awaiting_approval(gate, now());
    printer_.note("  or: raydeploy approve " + gate.checkpoint + (gate.approval_id.empty() ? "" : " --id " + gate.approval_id) +
                      " --reason WHY" + (gate.destructive ? " --acknowledge-risks" : "") +
                      (gate.running_work ? " --acknowledge-running-work" : "") + server_hint(),
                  now());
}

follower::decision follower::decide_at_prompt(const gate_info& gate)
{
    printer_.pause();
    const gate_answer answer = prompt_for_gate(where_.in, where_.out, gate);
    if (answer.decision == gate_answer::kind::wait) return decision::undecided;
    // In open mode the record needs a name; with a token the service takes it from the token.
    const std::optional<std::string> approved_by =
        api_.has_token() || where_.user.empty() ? std::nullopt : std::optional<std::string>{where_.user};
    try {
        if (answer.decision == gate_answer::kind::approve) {
            // The prompt listed the running work and the operator confirmed ending it.
            const auto grant = grant_approval(api_, gate.checkpoint, gate.approval_id, answer.reason, gate.destructive,
                                              gate.running_work, std::nullopt, approved_by);
            printer_.note("approved " + gate.checkpoint + " (" + json_string(grant, "id") + ")", now());
            return decision::approved;
        }
        deny_approval(api_, gate.checkpoint, gate.approval_id, answer.reason);
        printer_.note("denied the approval of " + gate.checkpoint, now());
        return decision::denied;
    } catch (const authentication_error& e) {
        // Four-eyes rule or a role below approver: someone else has to decide.
        printer_.note(std::string{"could not decide it yourself: "} + e.what(), now());
    } catch (const service_error& e) {
        printer_.note(std::string{"could not record the decision: "} + e.what(), now());
    }
    return decision::undecided;
}

follower::gate_outcome follower::wait_for_grant(const gate_info& gate, const std::string& approval_id)
{
    show_gate(gate);
    const auto deadline = steady_clock::now() + options_.approval_timeout;
    for (;;) {
        const auto state = api_.get_json("/api/v1/approvals/" + gate.checkpoint).as_object();
        // Approvals are bound to the run that asked: only our own request's grant lets it go on.
        const auto lists = [&](std::string_view key) {
            const auto* items = state.if_contains(key);
            if (!items || !items->is_array()) return false;
            for (const auto& item : items->get_array())
                if (item.is_object() && json_string(item.get_object(), "id") == approval_id) return true;
            return false;
        };
        if (lists("grants")) return gate_outcome::granted;
        const bool ours_pending = lists("pending_requests");
        if (!ours_pending) {
            // What became of our request: denied ends the wait; anything else (its grant went to
            // another run, it was withdrawn) means asking again, which the caller's retry does.
            const auto* last = state.if_contains("last_decision");
            const bool ours_decided = last && last->is_object() && json_string(last->get_object(), "id") == approval_id;
            if (ours_decided && json_string(last->get_object(), "state") == "denied") return gate_outcome::denied;
            return gate_outcome::granted;
        }
        if (steady_clock::now() >= deadline) return gate_outcome::timed_out;
        wait(std::max(options_.poll, std::chrono::milliseconds{1000}));
    }
}

follower::gate_outcome follower::settle_run_gate(gate_info gate, const std::string& approval_id)
{
    gate.approval_id = approval_id;
    gate.approve_command =
        approve_curl_command(api_.server(), gate.checkpoint, approval_id, gate.destructive, api_.has_token(),
                             gate.running_work);
    gate.approve_url = approval_page_url(api_.server(), gate.checkpoint);
    if (where_.interactive) {
        switch (decide_at_prompt(gate)) {
        case decision::approved:
            return gate_outcome::granted;
        case decision::denied:
            return gate_outcome::denied;
        case decision::undecided:
            break;
        }
    }
    return wait_for_grant(gate, approval_id);
}

int follower::run_checkpoint(const std::string& name, const json::object& body)
{
    printer_.plan({name}, now());
    const std::string target = "/api/v1/checkpoints/" + name;
    const json::value request_body = body;
    std::string id;
    // A grant can be taken by someone else's run between our approval and our retry; a few
    // rounds cover that without looping forever.
    for (int attempt = 0;; ++attempt) {
        const auto answer = api_.request(http::verb::post, target, &request_body);
        if (answer.status == 202) {
            id = json_string(answer.json().as_object(), "execution_id");
            break;
        }
        if (answer.status != 409 || answer.error_code() != "APPROVAL_REQUIRED" || attempt == 3)
            throw_unexpected(answer, "POST " + target);
        const auto refusal = answer.json().as_object();
        gate_info gate;
        gate.checkpoint = name;
        if (const auto* info = refusal.if_contains("approval_info"); info && info->is_object()) {
            const auto& object = info->get_object();
            if (const auto* destructive = object.if_contains("destructive_operation"); destructive && destructive->is_bool())
                gate.destructive = destructive->get_bool();
            gate.impact_summary = string_list(object.if_contains("impact_summary"));
            read_live_impact(object.if_contains("live_impact"), gate);
        }
        const std::string approval_id = json_string(refusal, "approval_id");
        switch (settle_run_gate(gate, approval_id)) {
        case gate_outcome::granted:
            continue;
        case gate_outcome::denied:
            printer_.error("the approval request" + (approval_id.empty() ? "" : " " + approval_id) + " of " + name +
                               " was denied; nothing ran",
                           now());
            printer_.finish(now());
            return exit_approval;
        case gate_outcome::timed_out:
            printer_.finish(now());
            print_error(where_.err, "no approval of " + name + " within " + format_duration(options_.approval_timeout) +
                                        " (--approval-timeout); nothing ran. The request stays pending on the service: "
                                        "approve it with 'raydeploy approve " + name +
                                        (approval_id.empty() ? "" : " --id " + approval_id) + " --reason WHY" +
                                        (gate.destructive ? " --acknowledge-risks" : "") +
                                        (gate.running_work ? " --acknowledge-running-work" : "") + server_hint() +
                                        "', then run this command again");
            return exit_approval;
        }
    }
    printer_.note("started " + name + " as execution " + id, now());
    return follow_execution(name, id);
}

int follower::follow_execution(const std::string& checkpoint, const std::string& id)
{
    event_reader reader{id};
    for (;;) {
        std::string final_status;
        reader.drain(api_, [&](const json::object& event) {
            const std::string type = json_string(event, "type");
            if (type == "execution.status")
                printer_.step_status(checkpoint, json_string(event, "status"), now());
            else if (type == "execution.done")
                final_status = json_string(event, "status");
            else
                printer_.event(event, now());
        });
        if (reader.done()) {
            const std::string detail = final_status == "succeeded" ? std::string{} : failure_detail(id);
            printer_.step_status(checkpoint, final_status, now(), detail);
            if (final_status != "succeeded")
                printer_.note("the whole log: raydeploy logs " + id + server_hint(), now());
            printer_.finish(now());
            return exit_code_for_status(final_status);
        }
        wait(options_.poll);
    }
}

int follower::follow_deployment(const std::string& id)
{
    const std::string target = "/api/v1/deployments/" + id;
    json::object deployment = api_.get_json(target).as_object();
    const auto plan = string_list(deployment.if_contains("checkpoints"));
    printer_.plan(plan, now());
    std::string list;
    for (const auto& name : plan) list += (list.empty() ? "" : ", ") + name;
    printer_.note("deployment " + id + ": " + std::to_string(plan.size()) + " checkpoint" + (plan.size() == 1 ? "" : "s") +
                      " (" + list + ")",
                  now());

    std::map<std::string, event_reader> readers;          // by execution id
    std::map<std::string, int> final_waits;               // polls spent waiting for an execution's last events
    std::string gate_key;                                 // the approval request being waited for
    steady_clock::time_point gate_deadline{};
    bool first = true;
    for (;;) {
        bool any_denied = false;
        static const json::array no_steps;
        const auto* steps = deployment.if_contains("steps");
        for (const auto& item : steps && steps->is_array() ? steps->get_array() : no_steps) {
            if (!item.is_object()) continue;
            const auto& step = item.get_object();
            const std::string checkpoint = json_string(step, "checkpoint");
            const std::string status = json_string(step, "status");
            const std::string execution = json_string(step, "execution_id");
            if (status == "denied") any_denied = true;
            if (execution.empty() || !is_final_execution(status)) {
                printer_.step_status(checkpoint, status, now(),
                                     status == "denied" ? json_string(deployment, "status_reason") : "");
            }
            if (execution.empty()) continue;
            auto [reader, added] = readers.try_emplace(execution, execution);
            // What ran before this command started is history, not progress.
            if (added && first && is_final_execution(status)) reader->second.skip();
            reader->second.drain(api_, [&](const json::object& event) { printer_.event(event, now()); });
            if (!is_final_execution(status)) continue;
            // The step's status can be ahead of its last stored events by a batch; give them a few polls.
            if (!reader->second.done() && final_waits[execution]++ < 6) continue;
            printer_.step_status(checkpoint, status, now(), status == "succeeded" ? "" : failure_detail(execution));
        }
        first = false;

        const std::string status = json_string(deployment, "status");
        if (is_final_deployment(status)) {
            if (status == "succeeded") {
                printer_.note("deployment " + id + " succeeded", now());
            } else if (status == "cancelled") {
                printer_.note("deployment " + id + " was cancelled", now());
            } else {
                const std::string failed = json_string(deployment, "failed_checkpoint");
                const std::string reason = json_string(deployment, "status_reason");
                printer_.error("deployment " + id + " failed" + (failed.empty() ? "" : " at " + failed) +
                                   (reason.empty() ? "" : ": " + reason),
                               now());
                printer_.note("after fixing the cause, continue from there with: raydeploy resume " + id + server_hint(),
                              now());
            }
            printer_.finish(now());
            return any_denied ? exit_approval : exit_code_for_status(status);
        }

        const auto* awaiting = deployment.if_contains("awaiting");
        if (status == "awaiting_approval" && awaiting && awaiting->is_object()) {
            const auto& object = awaiting->get_object();
            gate_info gate;
            gate.checkpoint = json_string(object, "checkpoint");
            if (const auto* destructive = object.if_contains("destructive"); destructive && destructive->is_bool())
                gate.destructive = destructive->get_bool();
            gate.impact_summary = string_list(object.if_contains("impact_summary"));
            gate.approval_id = json_string(object, "approval_id");
            read_live_impact(object.if_contains("live_impact"), gate);
            gate.approve_command = json_string(object, "approve_command");
            if (gate.approve_command.empty())
                gate.approve_command = approve_curl_command(api_.server(), gate.checkpoint, gate.approval_id,
                                                            gate.destructive, api_.has_token(), gate.running_work);
            gate.approve_url = json_string(object, "approve_url");
            if (gate.approve_url.empty()) gate.approve_url = approval_page_url(api_.server(), gate.checkpoint);
            const std::string key = gate.checkpoint + "/" + json_string(object, "approval_id");
            if (key != gate_key) {
                gate_key = key;
                // The service goes on by itself once the decision is recorded; the next polls show it.
                if (!where_.interactive || decide_at_prompt(gate) == decision::undecided) show_gate(gate);
                // Counted from here: time spent at the prompt is the operator's, not the wait's.
                gate_deadline = steady_clock::now() + options_.approval_timeout;
            } else if (steady_clock::now() >= gate_deadline) {
                printer_.finish(now());
                print_error(where_.err,
                            "no decision on the approval of " + gate.checkpoint + " within " +
                                format_duration(options_.approval_timeout) +
                                " (--approval-timeout).\nDeployment " + id +
                                " keeps waiting on the service: approve it with: " + gate.approve_command +
                                "\nor cancel it with: raydeploy cancel " + id + server_hint());
                return exit_approval;
            }
        } else {
            gate_key.clear();
        }

        wait(options_.poll);
        deployment = api_.get_json(target).as_object();
    }
}

follow_options follow_options_from(const po::variables_map& vm)
{
    follow_options options;
    options.poll = duration_option(vm, "poll-interval", options.poll);
    options.heartbeat = duration_option(vm, "heartbeat", options.heartbeat);
    options.approval_timeout = duration_option(vm, "approval-timeout", options.approval_timeout);
    if (options.poll < 50ms) throw config_error{"--poll-interval: must be at least 50ms"};
    if (options.heartbeat < 1s) throw config_error{"--heartbeat: must be at least 1s"};
    return options;
}

// Options of every command that follows a run.
void add_follow_options(client_command_spec& spec)
{
    spec.visible.add_options()("approval-timeout", po::value<std::string>()->value_name("DURATION"),
                               "without a terminal, how long to wait at a gate for someone to approve it "
                               "(default 1h); then exit 3");
    // Test knobs: how often to poll and how long CI output may stay silent.
    spec.hidden.add_options()("poll-interval", po::value<std::string>())("heartbeat", po::value<std::string>());
}

constexpr std::string_view follow_description =
    "On a terminal it shows a live status line and, at an approval gate, asks whether to\n"
    "approve (a destructive checkpoint must be confirmed by typing its name). Without a\n"
    "terminal (CI) it prints timestamped lines, a heartbeat at least every 30 s, GitHub\n"
    "Actions groups when GITHUB_ACTIONS=true, and at a gate the exact curl command that\n"
    "approves it, then waits up to --approval-timeout.";

}  // namespace

int run_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err)
{
    client_command_spec spec{"run", "NAME [OPTIONS]",
                             "Runs one checkpoint on the service and follows it to its end.\n" +
                                 std::string{follow_description}};
    spec.visible.add_options()("extra-vars", po::value<std::string>()->value_name("JSON|@FILE"),
                               "variables for the playbook: a JSON object, or @FILE holding one")(
        "limit", po::value<std::string>()->value_name("PATTERN"), "run on the hosts matching this Ansible pattern only")(
        "check", "dry run: ansible-playbook --check")(
        "approve", "grant the approval inline (approver role; non-destructive checkpoints only)");
    add_follow_options(spec);
    spec.hidden.add_options()("checkpoint", po::value<std::string>());
    spec.positional.add("checkpoint", 1);
    int code = 0;
    const auto vm = parse_client_command(spec, args, out, err, code);
    if (!vm) return code;
    if (!vm->count("checkpoint")) return usage_error(err, "run", "which checkpoint? usage: raydeploy run NAME");

    const std::string name = (*vm)["checkpoint"].as<std::string>();
    json::object body;
    if (vm->count("extra-vars")) body["extra_vars"] = parse_extra_vars((*vm)["extra-vars"].as<std::string>());
    if (vm->count("limit")) body["limit"] = (*vm)["limit"].as<std::string>();
    if (vm->count("check")) body["check"] = true;
    if (vm->count("approve")) body["approve"] = true;
    const follow_options options = follow_options_from(*vm);

    return run_client_command(err, [&] {
        const auto connection = service_connection::open(*vm, err);
        const console where = detect_console(out, err);
        follower follow{connection, where, options};
        return follow.run_checkpoint(name, body);
    });
}

int deploy_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err)
{
    client_command_spec spec{"deploy", "[OPTIONS]",
                             "Starts a deployment: the checkpoints of the catalog in order (or those given),\n"
                             "each after the previous one succeeded, stopping at the first failure; then\n"
                             "follows it to its end. A failed deployment continues with 'raydeploy resume ID'.\n" +
                                 std::string{follow_description}};
    spec.visible.add_options()("checkpoints", po::value<std::string>()->value_name("A,B,..."),
                               "run these checkpoints (in catalog order) instead of all")(
        "start-from", po::value<std::string>()->value_name("NAME"), "skip the checkpoints before this one")(
        "auto-approve", "grant every gate of this deployment (admin role; audited)")(
        "extra-vars", po::value<std::string>()->value_name("JSON|@FILE"),
        "variables for every playbook: a JSON object, or @FILE holding one");
    add_follow_options(spec);
    int code = 0;
    const auto vm = parse_client_command(spec, args, out, err, code);
    if (!vm) return code;

    json::object body;
    if (vm->count("checkpoints")) {
        std::vector<std::string> names;
        const std::string text = (*vm)["checkpoints"].as<std::string>();
        boost::split(names, text, boost::is_any_of(","));
        json::array list;
        for (const auto& each : names)
            if (!each.empty()) list.emplace_back(each);
        if (list.empty()) return usage_error(err, "deploy", "--checkpoints needs at least one name, e.g. --checkpoints a,b");
        body["checkpoints"] = std::move(list);
    }
    if (vm->count("start-from")) body["start_from"] = (*vm)["start-from"].as<std::string>();
    if (vm->count("auto-approve")) body["auto_approve"] = true;
    if (vm->count("extra-vars")) body["extra_vars"] = parse_extra_vars((*vm)["extra-vars"].as<std::string>());
    const follow_options options = follow_options_from(*vm);

    return run_client_command(err, [&] {
        const auto connection = service_connection::open(*vm, err);
        const console where = detect_console(out, err);
        const auto started = connection.api().send_json(http::verb::post, "/api/v1/deployments", body, 202).as_object();
        const std::string id = json_string(started, "deployment_id");
        if (id.empty())
            throw service_error{202, "", "POST /api/v1/deployments answered without a deployment_id; is the service "
                                         "older than this CLI?"};
        follower follow{connection, where, options};
        return follow.follow_deployment(id);
    });
}

int resume_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err)
{
    client_command_spec spec{"resume", "DEPLOYMENT_ID [OPTIONS]",
                             "Continues a failed or cancelled deployment from the first checkpoint that did\n"
                             "not succeed (nothing that succeeded runs again), then follows it to its end.\n" +
                                 std::string{follow_description}};
    add_follow_options(spec);
    spec.hidden.add_options()("deployment", po::value<std::string>());
    spec.positional.add("deployment", 1);
    int code = 0;
    const auto vm = parse_client_command(spec, args, out, err, code);
    if (!vm) return code;
    if (!vm->count("deployment"))
        return usage_error(err, "resume", "which deployment? usage: raydeploy resume DEPLOYMENT_ID");
    const std::string id = (*vm)["deployment"].as<std::string>();
    const follow_options options = follow_options_from(*vm);

    return run_client_command(err, [&] {
        const auto connection = service_connection::open(*vm, err);
        const console where = detect_console(out, err);
        connection.api().send_json(http::verb::post, "/api/v1/deployments/" + id + "/resume", json::object{}, 202);
        follower follow{connection, where, options};
        return follow.follow_deployment(id);
    });
}

int cancel_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err)
{
    client_command_spec spec{"cancel", "ID [OPTIONS]",
                             "Cancels a deployment (dp-...) or an execution (ex-...). A running playbook gets\n"
                             "SIGTERM, then SIGKILL after the service's kill grace; the command returns at once."};
    spec.hidden.add_options()("id", po::value<std::string>());
    spec.positional.add("id", 1);
    int code = 0;
    const auto vm = parse_client_command(spec, args, out, err, code);
    if (!vm) return code;
    if (!vm->count("id")) return usage_error(err, "cancel", "what to cancel? usage: raydeploy cancel ID");
    const std::string id = (*vm)["id"].as<std::string>();

    return run_client_command(err, [&] {
        const auto connection = service_connection::open(*vm, err);
        const bool deployment = id.rfind("dp-", 0) == 0;
        const std::string target = (deployment ? "/api/v1/deployments/" : "/api/v1/executions/") + id + "/cancel";
        const auto answer = connection.api().send_json(http::verb::post, target, json::object{}, 202).as_object();
        out << "cancelling " << (deployment ? "deployment " : "execution ") << id << " (status: "
            << json_string(answer, "status") << ")\n";
        return exit_ok;
    });
}

}  // namespace raydeploy::cli
