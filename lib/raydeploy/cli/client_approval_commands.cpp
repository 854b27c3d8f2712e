// `raydeploy approve` and `raydeploy deny`: record a decision on a gated checkpoint.
#include "raydeploy/cli/cli.hpp"
#include "raydeploy/cli/client_commands.hpp"
#include "raydeploy/cli/commands.hpp"
#include "raydeploy/util/errors.hpp"
#include "raydeploy/util/net.hpp"

#include <ostream>

namespace raydeploy::cli {

namespace po = boost::program_options;

namespace {

std::string optional_field(const boost::json::object& record, std::string_view key, std::string_view label)
{
    const std::string value = json_string(record, key);
    return value.empty() ? std::string{} : ", " + std::string{label} + " " + value;
}

// The checkpoint and the reason both decisions need.
struct decision {
    po::variables_map options;
    std::string checkpoint;
    std::string reason;
    std::string approval_id;  // empty: the only pending request
};

// Adds NAME and --reason to `spec`, parses `args`; on a usage problem sets `code` and returns nothing.
std::optional<decision> parse_decision(client_command_spec& spec, std::string_view reason_help,
                                       const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                                       int& code)
{
    spec.visible.add_options()("reason", po::value<std::string>()->value_name("TEXT"), std::string{reason_help}.c_str())(
        "id", po::value<std::string>()->value_name("APPROVAL_ID"),
        "the pending request to decide (ap-...), as the waiting run or deployment shows it; required when "
        "the checkpoint has several");
    spec.hidden.add_options()("checkpoint", po::value<std::string>());
    spec.positional.add("checkpoint", 1);
    auto vm = parse_client_command(spec, args, out, err, code);
    if (!vm) return std::nullopt;
    const std::string command{spec.name};
    if (!vm->count("checkpoint")) {
        code = usage_error(err, command, "which checkpoint? usage: raydeploy " + command + " NAME --reason TEXT");
        return std::nullopt;
    }
    if (!vm->count("reason") || (*vm)["reason"].as<std::string>().empty()) {
        code = usage_error(err, command, "--reason is required: it is recorded with the decision");
        return std::nullopt;
    }
    const std::string checkpoint = (*vm)["checkpoint"].as<std::string>();
    const std::string reason = (*vm)["reason"].as<std::string>();
    const std::string approval_id = vm->count("id") ? (*vm)["id"].as<std::string>() : std::string{};
    return decision{std::move(*vm), checkpoint, reason, approval_id};
}

}  // namespace

int approve_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err)
{
    client_command_spec spec{"approve", "NAME --reason TEXT [--id APPROVAL_ID] [OPTIONS]",
                             "Grants a pending approval request of a gated checkpoint: the run that asked\n"
                             "(with its parameters, by its requester or deployment) may go ahead. With no\n"
                             "request pending it pre-approves the plain run. A grant is used by exactly one\n"
                             "execution and expires after --ttl. A destructive checkpoint needs\n"
                             "--acknowledge-risks, and --acknowledge-running-work when its request showed\n"
                             "Ray jobs or Serve applications running (see raydeploy status --approval-check NAME)."};
    spec.visible.add_options()("acknowledge-risks", "confirm the impact summary of a destructive checkpoint")(
        "acknowledge-running-work",
        "confirm that the running Ray jobs and Serve applications its live impact lists will end")(
        "ttl", po::value<std::string>()->value_name("DURATION"), "how long the grant stays usable (service default: 1h)")(
        "as", po::value<std::string>()->value_name("NAME"),
        "who approves, when the service runs without tokens (default: $USER); with a token the service "
        "takes the name from it");
    int code = 0;
    auto parsed = parse_decision(spec, "why it may run (required; recorded with the grant)", args, out, err, code);
    if (!parsed) return code;
    const po::variables_map* vm = &parsed->options;
    const std::string& name = parsed->checkpoint;
    const std::string& reason = parsed->reason;
    std::optional<std::chrono::seconds> ttl;
    if (vm->count("ttl")) {
        ttl = std::chrono::duration_cast<std::chrono::seconds>(duration_option(*vm, "ttl", {}));
        if (ttl->count() < 1) return usage_error(err, "approve", "--ttl must be at least 1s");
    }

    return run_client_command(err, [&] {
        const auto connection = service_connection::open(*vm, err);
        const console where = detect_console(out, err);
        std::optional<std::string> approved_by;
        if (vm->count("as"))
            approved_by = (*vm)["as"].as<std::string>();
        else if (!connection.api().has_token() && !where.user.empty())
            approved_by = where.user;
        else if (!connection.api().has_token())
            throw config_error{"approve: without a token the service needs to know who approves: pass --as NAME"};
        const auto grant = grant_approval(connection.api(), name, parsed->approval_id, reason,
                                          vm->count("acknowledge-risks") > 0, vm->count("acknowledge-running-work") > 0,
                                          ttl, approved_by);
        const std::string by = json_string(grant, "approved_by");
        out << "granted " << json_string(grant, "id") << " for " << name << (by.empty() ? "" : " by " + by)
            << optional_field(grant, "expires_at", "usable until") << "\n";
        return exit_ok;
    });
}

int deny_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err)
{
    client_command_spec spec{"deny", "NAME --reason TEXT [OPTIONS]",
                             "Denies the pending approval request of a gated checkpoint: the run or the\n"
                             "deployment waiting for it fails closed (its follower exits 3)."};
    int code = 0;
    auto parsed = parse_decision(spec, "why it must not run (required; recorded with the decision)", args, out, err,
                                 code);
    if (!parsed) return code;
    const po::variables_map* vm = &parsed->options;
    const std::string& name = parsed->checkpoint;
    const std::string& reason = parsed->reason;

    return run_client_command(err, [&] {
        const auto connection = service_connection::open(*vm, err);
        const auto record = deny_approval(connection.api(), name, parsed->approval_id, reason);
        out << "denied " << json_string(record, "id") << " for " << name
            << optional_field(record, "requested_by", "requested by") << "\n";
        return exit_ok;
    });
}

}  // namespace raydeploy::cli
