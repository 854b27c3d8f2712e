#include "raydeploy/config/install_layout.hpp"

#include "raydeploy/config/settings.hpp"

#include <fstream>
#include <pwd.h>
#include <unistd.h>

// Both come from the install rules (cmake/install.cmake); these are GNUInstallDirs' defaults.
#ifndef RAYDEPLOY_BINDIR_TO_DATADIR
#define RAYDEPLOY_BINDIR_TO_DATADIR "../share/raydeploy"
#endif
#ifndef RAYDEPLOY_INSTALL_DATADIR
#define RAYDEPLOY_INSTALL_DATADIR "/usr/local/share/raydeploy"
#endif

namespace raydeploy {

namespace fs = std::filesystem;

namespace {

// The source directory a CMake build directory was configured from, or empty.
fs::path configured_source_dir(const fs::path& build_dir)
{
    std::ifstream cache{build_dir / "CMakeCache.txt"};
    const std::string_view key = "CMAKE_HOME_DIRECTORY:INTERNAL=";
    for (std::string line; std::getline(cache, line);)
        if (line.starts_with(key)) return fs::path{line.substr(key.size())};
    return {};
}

std::string variable(const layout_inputs& inputs, const std::string& name)
{
    const auto it = inputs.environment.find(name);
    return it == inputs.environment.end() ? std::string{} : it->second;
}

void choose_installed_state_dir(const layout_inputs& inputs, install_layout& layout)
{
    // systemd passes a colon-separated list when a unit names several; the first is ours.
    const std::string systemd = variable(inputs, "STATE_DIRECTORY");
    if (const fs::path first{systemd.substr(0, systemd.find(':'))}; first.is_absolute()) {
        layout.state_dir = first;
        layout.state_dir_origin = "STATE_DIRECTORY";
        return;
    }
    if (inputs.root) {
        layout.state_dir = "/var/lib/raydeploy";
        layout.state_dir_origin = "running as root";
        return;
    }
    // The XDG base directory specification ignores relative values.
    if (const fs::path xdg{variable(inputs, "XDG_STATE_HOME")}; xdg.is_absolute()) {
        layout.state_dir = xdg / "raydeploy";
        layout.state_dir_origin = "XDG_STATE_HOME";
        return;
    }
    fs::path home{variable(inputs, "HOME")};
    if (!home.is_absolute()) home = inputs.account_home;
    if (home.is_absolute()) {
        layout.state_dir = home / ".local/state/raydeploy";
        layout.state_dir_origin = "the home directory";
    }
}

}  // namespace

std::string install_layout::describe() const
{
    return (origin == kind::checkout ? "the checkout " : "the installation ") + data_dir.string();
}

install_layout find_install_layout(const layout_inputs& inputs)
{
    install_layout layout;
    const fs::path bin_dir = inputs.executable.parent_path();
    if (bin_dir.filename() == "bin") {
        if (fs::path source = configured_source_dir(bin_dir.parent_path()); !source.empty()) {
            layout.origin = install_layout::kind::checkout;
            layout.data_dir = source.lexically_normal();
            layout.state_dir = layout.data_dir / "var";
            layout.state_dir_origin = "the checkout";
            return layout;
        }
    }
    std::error_code ec;
    const fs::path beside = (bin_dir / RAYDEPLOY_BINDIR_TO_DATADIR).lexically_normal();
    layout.data_dir = fs::is_directory(beside, ec) ? beside : fs::path{RAYDEPLOY_INSTALL_DATADIR};
    choose_installed_state_dir(inputs, layout);
    return layout;
}

const install_layout& this_install_layout()
{
    static const install_layout layout = [] {
        layout_inputs inputs;
        std::error_code ec;
        inputs.executable = fs::read_symlink("/proc/self/exe", ec);
        inputs.environment = current_environment();
        inputs.root = ::geteuid() == 0;
        if (const passwd* account = ::getpwuid(::geteuid()); account && account->pw_dir)
            inputs.account_home = account->pw_dir;
        return find_install_layout(inputs);
    }();
    return layout;
}

}  // namespace raydeploy
