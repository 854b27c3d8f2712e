// Where the defaults of the path settings (catalog, inventory, state directory) point: into the
// installation the binary belongs to, or into the checkout it was built in; never into the
// current directory, so `raydeploy serve` means the same thing wherever it is started.
#pragma once

#include <filesystem>
#include <map>
#include <string>

namespace raydeploy {

struct install_layout {
    enum class kind { checkout, installation };
    kind origin = kind::installation;
    // Holds playbooks/ and cml/: the checkout's root, or <prefix>/share/raydeploy.
    std::filesystem::path data_dir;
    // Empty when nothing names one (no STATE_DIRECTORY, XDG_STATE_HOME nor home directory).
    std::filesystem::path state_dir;
    // Why that state_dir, for --check-config: "the checkout", "STATE_DIRECTORY", "running as root",
    // "XDG_STATE_HOME", "the home directory".
    std::string state_dir_origin;

    // "the checkout /src/raydeploy" or "the installation /usr/share/raydeploy".
    std::string describe() const;
};

// What the layout is worked out from, gathered by this_install_layout() for the running process.
struct layout_inputs {
    std::filesystem::path executable;  // the binary's real path (/proc/self/exe)
    std::map<std::string, std::string> environment;
    bool root = false;                    // effective uid 0
    std::filesystem::path account_home;   // the passwd entry's home, for when HOME is unset
};

// A binary in <build>/bin with <build>/CMakeCache.txt is a checkout's: data in the source
// directory that cache names, state in its var/. Otherwise it is installed: data in
// <bindir>/RAYDEPLOY_BINDIR_TO_DATADIR (../share/raydeploy) when that exists, else in the data
// directory compiled in; state in $STATE_DIRECTORY (systemd's StateDirectory=), else
// /var/lib/raydeploy for root, else $XDG_STATE_HOME/raydeploy, else ~/.local/state/raydeploy.
install_layout find_install_layout(const layout_inputs& inputs);

// The layout of this process, worked out once.
const install_layout& this_install_layout();

}  // namespace raydeploy
