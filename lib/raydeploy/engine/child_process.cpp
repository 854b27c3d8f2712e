// Child process supervision with Boost.Process v2 (see ../shared/NOTES.md for the 1.81 set-up).
#include "raydeploy/engine/child_process.hpp"

#include "raydeploy/util/errors.hpp"
#include "raydeploy/util/log.hpp"
#include "raydeploy/util/private_files.hpp"

#include <boost/process/v2/process.hpp>
#include <boost/process/v2/stdio.hpp>
#include <boost/process/v2/environment.hpp>
#include <boost/process/v2/start_dir.hpp>

#include <cerrno>
#include <csignal>
#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

namespace raydeploy {

namespace bp = boost::process::v2;

namespace {

// Every descriptor above `last_kept` is closed by the exec. The launcher means to close all but
// its whitelist, but Boost 1.81's close_all compares each whitelisted descriptor with itself and so
// skips the gaps between them (fixed upstream in boostorg/process#360, 2024; Debian 12 ships 1.81):
// everything below its own error pipe reached the child, the service's listening socket, its
// clients' connections and open run logs among them, and stayed open in ansible-playbook, its
// workers and the run supervisor (a port held after a crash of the service, a playbook able to
// accept the service's requests). Marked close-on-exec rather than closed, as that error pipe must
// stay open until the exec. Async-signal-safe, as it runs after fork.
void close_on_exec_above(int last_kept)
{
    if (::close_range(static_cast<unsigned>(last_kept) + 1, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
    // Kernels before 5.11: every descriptor the limit allows.
    rlimit limit{};
    const bool limited = ::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY;
    const rlim_t end = limited ? limit.rlim_cur : rlim_t{1} << 20;
    for (rlim_t fd = static_cast<rlim_t>(last_kept) + 1; fd < end; ++fd)
        ::fcntl(static_cast<int>(fd), F_SETFD, FD_CLOEXEC);
}

// The child's set-up between fork and exec. (Boost 1.81's posix::bind_fd cannot be used for
// the event channel: its on_setup lacks a return statement, which is undefined behaviour and
// corrupts the launch when optimised.)
struct child_setup {
    pid_t parent;
    int event_channel_write_end;
    mode_t umask;

    template <class Launcher>
    boost::system::error_code on_setup(Launcher& launcher, const bp::filesystem::path&, const char* const*)
    {
        // Spared by the launcher's closing of every other inherited descriptor.
        launcher.fd_whitelist.push_back(event_channel_fd);
        return {};
    }

    template <class Launcher>
    boost::system::error_code on_exec_setup(Launcher&, const bp::filesystem::path&, const char* const*)
    {
        if (::dup2(event_channel_write_end, event_channel_fd) == -1) return {errno, boost::system::system_category()};
        close_on_exec_above(event_channel_fd);
        // An ignored signal stays ignored across exec, and the service ignores SIGPIPE for its
        // sockets: a run's commands must die of it as when run by hand (`producer | head`). Nor may
        // a signal blocked in the launching thread stay blocked in the run.
        ::signal(SIGPIPE, SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        // Its own process group, so a stop reaches every process the playbook started.
        if (::setpgid(0, 0) != 0) return {errno, boost::system::system_category()};
        // If the service dies, the run must not go on unattended.
        ::prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (::getppid() != parent) ::_exit(127);  // the service died between fork and prctl
        // The service's own files are private (umask 077); a playbook creating files on the
        // controller gets the umask its operator started the service with, as when run by hand.
        ::umask(umask);
        return {};
    }
};

}  // namespace

struct child_process::state {
    explicit state(net::any_io_executor executor)
        : out{executor}, err{executor}, events{executor}, timeout_timer{executor}, kill_timer{executor},
          readers_done{executor}, hold_timer{executor}
    {
    }

    child_callbacks callbacks;
    std::size_t max_event_line = 0;
    std::chrono::milliseconds kill_grace{};
    int pgid = -1;
    net::readable_pipe out, err, events;
    std::optional<bp::basic_process<net::any_io_executor>> process;
    net::steady_timer timeout_timer, kill_timer, readers_done, hold_timer;
    int readers_running = 0;
    stop_cause cause = stop_cause::none;
    bool exited = false;
};

namespace {

net::awaitable<void> drain(std::shared_ptr<child_process::state> s, net::readable_pipe& pipe, bool event_lines)
{
    std::string buffer(64 * 1024, '\0');
    std::string partial_line;
    // A line longer than max_event_line is dropped, not buffered: the child is not trusted to end
    // its lines, and memory must not grow with what it writes.
    bool discarding = false;
    std::size_t discarded = 0;
    const auto deliver = [&](std::string_view line) {
        if (discarding) {
            log::warn("dropped an event line longer than the limit",
                      {{"pid", s->pgid}, {"bytes", discarded + line.size()}, {"limit", s->max_event_line}});
            discarding = false;
            discarded = 0;
            return;
        }
        if (!line.empty() && s->callbacks.on_event_line) s->callbacks.on_event_line(line);
    };
    const auto holding = [&] {
        return event_lines && s->callbacks.hold_events && !s->exited && s->cause == stop_cause::none &&
               s->callbacks.hold_events();
    };
    for (;;) {
        if (holding()) {
            log::warn("pausing the child's event channel until the events waiting for the disk are stored",
                      {{"pid", s->pgid}});
            while (holding()) {
                s->hold_timer.expires_after(std::chrono::milliseconds{100});
                co_await s->hold_timer.async_wait(nothrow_awaitable);
            }
            log::info("reading the child's event channel again", {{"pid", s->pgid}});
        }
        auto [ec, n] = co_await pipe.async_read_some(net::buffer(buffer), nothrow_awaitable);
        if (ec) break;  // EOF: every process holding the write end is gone (or we closed it)
        const std::string_view chunk{buffer.data(), n};
        if (!event_lines) {
            if (s->callbacks.on_output) s->callbacks.on_output(chunk);
            continue;
        }
        partial_line.append(chunk);
        std::size_t start = 0;
        for (std::size_t newline; (newline = partial_line.find('\n', start)) != std::string::npos; start = newline + 1)
            deliver(std::string_view{partial_line}.substr(start, newline - start));
        partial_line.erase(0, start);
        if (partial_line.size() > s->max_event_line) {
            discarding = true;
            discarded += partial_line.size();
            partial_line.clear();
        }
    }
    if (event_lines && (!partial_line.empty() || discarding)) deliver(partial_line);
    if (--s->readers_running == 0) s->readers_done.cancel();
}

void spawn_drain(const std::shared_ptr<child_process::state>& s, net::readable_pipe& pipe, bool event_lines)
{
    ++s->readers_running;
    net::co_spawn(pipe.get_executor(), drain(s, pipe, event_lines), [](std::exception_ptr error) {
        if (!error) return;
        try {
            std::rethrow_exception(error);
        } catch (const std::exception& e) {
            log::error("reading a child's output failed", {{"error", e.what()}});
        }
    });
}

void signal_group(int pgid, int signal_number)
{
    if (pgid > 0) ::kill(-pgid, signal_number);
}

void stop_group(const std::shared_ptr<child_process::state>& s, stop_cause cause)
{
    if (s->exited || s->cause != stop_cause::none) return;
    s->cause = cause;
    signal_group(s->pgid, SIGTERM);
    s->kill_timer.expires_after(s->kill_grace);
    s->kill_timer.async_wait([weak = std::weak_ptr<child_process::state>{s}](boost::system::error_code ec) {
        auto s = weak.lock();
        if (ec || !s || s->exited) return;
        log::warn("child ignored SIGTERM; sending SIGKILL to its process group", {{"pgid", s->pgid}});
        signal_group(s->pgid, SIGKILL);
    });
}

}  // namespace

child_process::child_process(net::any_io_executor executor, const child_spec& spec, child_callbacks callbacks)
    : state_{std::make_shared<state>(executor)}
{
    auto& s = *state_;
    s.callbacks = std::move(callbacks);
    s.kill_grace = spec.kill_grace;
    s.max_event_line = spec.max_event_line;

    // The event channel is our own pipe; stdout and stderr pipes are made by Process v2 itself
    // (its bindings close the child's ends once the launch is done).
    net::writable_pipe events_write{executor};
    net::connect_pipe(s.events, events_write);

    const bp::filesystem::path executable{spec.executable.string()};
    const bp::filesystem::path working_dir{spec.working_dir.string()};
    bp::process_environment environment{spec.environment};
    bp::process_start_dir start_dir{working_dir};
    child_setup setup{::getpid(), events_write.native_handle(), inherited_umask()};
    boost::system::error_code ec;
    auto launched = bp::default_process_launcher{}(executor, ec, executable, spec.args,
                                                   bp::process_stdio{nullptr, s.out, s.err}, environment,
                                                   start_dir, setup);
    if (!ec) s.process.emplace(std::move(launched));
    // The child has its own copy now; ours must go, or the reader would never see EOF.
    events_write.close();
    if (ec) {
        s.process.reset();
        throw runtime_failure{"cannot start " + spec.executable.string() + ": " + ec.message()};
    }
    pid_ = s.process->id();
    s.pgid = pid_;
    start_time_ = process_start_time(pid_).value_or(0);

    spawn_drain(state_, s.out, false);
    spawn_drain(state_, s.err, false);
    spawn_drain(state_, s.events, true);

    if (spec.timeout.count() > 0) {
        s.timeout_timer.expires_after(spec.timeout);
        s.timeout_timer.async_wait([weak = std::weak_ptr<state>{state_}](boost::system::error_code wait_ec) {
            if (auto locked = weak.lock(); locked && !wait_ec) stop_group(locked, stop_cause::timeout);
        });
    }
}

child_process::~child_process()
{
    // Normally wait() has reaped the child; this covers a service shutting down mid-run.
    if (state_->process && !state_->exited) {
        signal_group(state_->pgid, SIGKILL);
        boost::system::error_code ec;
        state_->process->wait(ec);
        state_->exited = true;  // a paused reader of the event channel must not wait on it
    }
    state_->timeout_timer.cancel();
    state_->kill_timer.cancel();
}

void child_process::stop(stop_cause cause) { stop_group(state_, cause); }

net::awaitable<child_result> child_process::wait()
{
    auto s = state_;
    auto [ec, evaluated] = co_await s->process->async_wait(nothrow_awaitable);
    (void)evaluated;
    s->exited = true;
    s->timeout_timer.cancel();
    s->kill_timer.cancel();

    child_result result;
    result.stopped_by = s->cause;
    const int status = s->process->native_exit_code();
    if (ec) {
        log::error("waiting for a child failed", {{"pid", pid_}, {"error", ec.message()}});
    } else if (WIFEXITED(status)) {
        result.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        result.signal = WTERMSIG(status);
        result.exit_code = 128 + *result.signal;
    }

    // Nothing of the run may outlive it: processes the playbook left in its group are ended too.
    if (::kill(-s->pgid, 0) == 0) {
        if (s->cause == stop_cause::none)
            log::warn("processes left behind in the run's process group; killing them", {{"pgid", s->pgid}});
        signal_group(s->pgid, SIGKILL);
    }

    // The output pipes reach EOF once every holder of their write ends is gone. A daemon that
    // escaped the group may still hold them: give up on it after a short wait.
    if (s->readers_running > 0) {
        s->readers_done.expires_after(std::chrono::seconds{5});
        auto [wait_ec] = co_await s->readers_done.async_wait(nothrow_awaitable);
        if (!wait_ec) {
            log::warn("output of a finished child still open after 5 s; closing it", {{"pid", pid_}});
            boost::system::error_code ignored;
            s->out.close(ignored);
            s->err.close(ignored);
            s->events.close(ignored);
            s->readers_done.expires_at(net::steady_timer::time_point::max());
            if (s->readers_running > 0) co_await s->readers_done.async_wait(nothrow_awaitable);
        }
    }
    co_return result;
}

std::string current_boot_id()
{
    std::ifstream in{"/proc/sys/kernel/random/boot_id"};
    std::string id;
    std::getline(in, id);
    return id;
}

namespace {

struct stat_fields {
    char state;
    std::int64_t start_time;
};

std::optional<stat_fields> read_stat(int pid)
{
    std::ifstream in{"/proc/" + std::to_string(pid) + "/stat"};
    std::string text;
    if (!std::getline(in, text)) return std::nullopt;
    // The command name (field 2) may contain spaces and parentheses; fields resume after the last ')'.
    const auto close = text.rfind(')');
    if (close == std::string::npos || close + 2 >= text.size()) return std::nullopt;
    std::istringstream fields{text.substr(close + 2)};
    stat_fields result{};
    fields >> result.state;
    std::string skipped;
    for (int field = 4; field < 22 && fields >> skipped; ++field) {
    }
    if (!(fields >> result.start_time)) return std::nullopt;
    return result;
}

}  // namespace

std::optional<std::int64_t> process_start_time(int pid)
{
    const auto fields = read_stat(pid);
    if (!fields) return std::nullopt;
    return fields->start_time;
}

std::vector<int> process_group_members(int pgid, std::int64_t min_start_time)
{
    std::vector<int> members;
    DIR* proc = ::opendir("/proc");
    if (!proc) return members;
    while (dirent* entry = ::readdir(proc)) {
        char* end = nullptr;
        const long pid = std::strtol(entry->d_name, &end, 10);
        if (pid <= 0 || *end != '\0') continue;
        if (::getpgid(static_cast<pid_t>(pid)) != pgid) continue;
        const auto fields = read_stat(static_cast<int>(pid));
        // Zombies are already dead; they only wait for their parent to reap them.
        if (fields && fields->state != 'Z' && fields->start_time >= min_start_time) members.push_back(static_cast<int>(pid));
    }
    ::closedir(proc);
    return members;
}

}  // namespace raydeploy
