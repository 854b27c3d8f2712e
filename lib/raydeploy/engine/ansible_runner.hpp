// The runner of checkpoints of kind ansible: ansible-playbook with the checkpoint's playbook, the
// configured inventory and the run's extra-vars file, in its own process group led by the
// supervisor (supervisor.hpp). Its structured events come from raydeploy's callback plugin on a
// pipe of their own (child_process.hpp, event_channel_fd); they become the run's `ansible.*`
// events, its progress, its host summary, its first error and what the checkpoint published.
//
// @par Thread safety
// Single-threaded: use from the io_context's thread.
#pragma once

#include "raydeploy/engine/child_process.hpp"
#include "raydeploy/engine/progress.hpp"
#include "raydeploy/engine/runner.hpp"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parser.hpp>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace raydeploy {

struct ansible_settings {
    std::filesystem::path inventory;
    // ansible-playbook to run; empty when none was found (runs then fail with a clear error).
    std::filesystem::path ansible_playbook;
    // The raydeploy binary, run as `__supervise` around ansible-playbook (see supervisor.hpp).
    std::filesystem::path supervisor;
    std::filesystem::path callback_dir;  // where the raydeploy_events callback plugin was written
    // Variables of the service's environment passed to ansible-playbook beyond the fixed
    // allow-list (see build_child_environment); executor.pass_env.
    std::vector<std::string> pass_env;
    // The address the service's own listener is bound to ("127.0.0.1:8000"), passed to every run as
    // raydeploy_listen_address so prerequisites-check can report a Ray port that collides with it;
    // empty: not passed.
    std::string listen_address;
};

// Reads the callback plugin's lines (one JSON object each) into an arena that lives for one line
// only: a line's document is many small allocations, and nothing keeps a part of it (what the
// progress keeps is copied by assignment, which allocates from the destination's storage).
class plugin_line_parser {
public:
    // The line's event (an object with an "event" member), valid until the next call; null for
    // anything else, with `error` saying why.
    boost::json::object* parse(std::string_view line, std::string& error);

private:
    static constexpr std::size_t arena_bytes = 64 * 1024;
    boost::json::parser parser_;
    // In this order: each points into the one before it, and is destroyed before it.
    std::unique_ptr<unsigned char[]> arena_buffer_ = std::make_unique<unsigned char[]>(arena_bytes);
    std::optional<boost::json::monotonic_resource> arena_;
    std::optional<boost::json::value> parsed_;
};

class ansible_runner final : public checkpoint_runner {
public:
    // `kill_grace`: how long the run's processes get between SIGTERM and SIGKILL when stopped.
    ansible_runner(net::any_io_executor executor, std::shared_ptr<const ansible_settings> settings,
                   std::chrono::milliseconds kill_grace);

    net::awaitable<runner_outcome> run(run_context& context) override;
    void stop(stop_cause cause) override;

private:
    // Writes the run's extra-vars file and starts the child; how the run ended when it could not.
    std::optional<runner_outcome> start(run_context& context);
    void on_event_line(run_context& context, std::string_view line);

    net::any_io_executor executor_;
    std::shared_ptr<const ansible_settings> settings_;
    std::chrono::milliseconds kill_grace_;
    execution_progress progress_;
    plugin_line_parser lines_;
    std::unique_ptr<child_process> child_;
    stop_cause stop_requested_ = stop_cause::none;
};

// Whether the service's variable `name` reaches ansible-playbook: PATH, HOME, LANG, LANGUAGE,
// LC_*, TZ, TMPDIR, SSH_AUTH_SOCK, USER, LOGNAME, and the names in `pass_env`.
bool passes_to_child(std::string_view name, const std::vector<std::string>& pass_env);

// The environment of an execution's ansible-playbook, as "NAME=value" strings: the variables of
// `service_environment` that passes_to_child admits, plus the ANSIBLE_* and RAYDEPLOY_EVENT_FD /
// RAYDEPLOY_EXECUTION_ID settings the service needs for its event channel.
std::vector<std::string> build_child_environment(const std::map<std::string, std::string>& service_environment,
                                                 const std::vector<std::string>& pass_env,
                                                 const std::filesystem::path& callback_dir,
                                                 const std::string& execution_id);

// Where ansible-playbook is: the configured path (made absolute), else, for a binary built in a
// checkout, the checkout's virtualenv (.venv/bin), else PATH. Empty when not found.
std::filesystem::path find_ansible_playbook(const std::filesystem::path& configured);

// Writes the event callback plugin that ships inside the binary into `directory` (if its
// content changed) and returns the directory.
std::filesystem::path install_callback_plugin(const std::filesystem::path& directory);

}  // namespace raydeploy
