// The run supervisor; plain POSIX, as it runs between the service and ansible-playbook and must
// stay small and predictable.
#include "raydeploy/engine/supervisor.hpp"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <sys/wait.h>
#include <unistd.h>

namespace raydeploy {

std::vector<std::string> supervisor_arguments(std::chrono::milliseconds grace)
{
    return {std::string{supervise_command}, std::to_string(grace.count()), "--"};
}

int run_supervisor(std::chrono::milliseconds grace, const std::vector<std::string>& command)
{
    if (command.empty()) {
        std::fprintf(stderr, "raydeploy __supervise: no command given\n");
        return 2;
    }
    // Signals are taken synchronously with sigtimedwait, so they are blocked here and unblocked
    // again in the child before exec.
    sigset_t watched, previous;
    sigemptyset(&watched);
    for (int signal_number : {SIGTERM, SIGINT, SIGHUP, SIGCHLD}) sigaddset(&watched, signal_number);
    sigprocmask(SIG_BLOCK, &watched, &previous);
    const pid_t parent = ::getppid();

    const pid_t child = ::fork();
    if (child < 0) {
        std::perror("raydeploy __supervise: fork");
        return 127;
    }
    if (child == 0) {
        sigprocmask(SIG_SETMASK, &previous, nullptr);
        std::vector<char*> argv;
        for (const auto& item : command) argv.push_back(const_cast<char*>(item.c_str()));
        argv.push_back(nullptr);
        ::execv(argv[0], argv.data());
        std::fprintf(stderr, "raydeploy __supervise: cannot run %s: %s\n", argv[0], std::strerror(errno));
        ::_exit(127);
    }

    bool stopping = false;
    auto kill_at = std::chrono::steady_clock::time_point::max();
    const auto begin_stop = [&] {
        if (stopping) return;
        stopping = true;
        // Our own SIGTERM is blocked, so this reaches everyone in the group but us.
        ::kill(0, SIGTERM);
        kill_at = std::chrono::steady_clock::now() + grace;
    };
    for (;;) {
        int status = 0;
        const pid_t reaped = ::waitpid(child, &status, WNOHANG);
        if (reaped == child) {
            if (stopping) ::kill(0, SIGKILL);  // whatever the child left behind; ends us too
            if (WIFEXITED(status)) return WEXITSTATUS(status);
            if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
            return 1;
        }
        if (stopping && std::chrono::steady_clock::now() >= kill_at) ::kill(0, SIGKILL);
        // The parent-death signal could in theory be missed; a changed parent means the same.
        if (::getppid() != parent) begin_stop();

        timespec timeout{0, 200'000'000};
        siginfo_t info;
        const int received = ::sigtimedwait(&watched, &info, &timeout);
        if (received == SIGTERM || received == SIGINT || received == SIGHUP) begin_stop();
    }
}

}  // namespace raydeploy
