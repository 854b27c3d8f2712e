// Where the path settings' defaults point: the checkout a binary was built in, or the
// installation it was unpacked with (config/install_layout.hpp); and the endpoint a running
// service publishes beside its state directory's lock (store/state_store.hpp).
#include "raydeploy/config/install_layout.hpp"
#include "raydeploy/store/state_store.hpp"
#include "raydeploy/util/errors.hpp"

#include "support/test_support.hpp"

#include <boost/test/unit_test.hpp>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;
using raydeploy::find_install_layout;
using raydeploy::install_layout;
using raydeploy::layout_inputs;
using raydeploy::test::temp_dir;

BOOST_TEST_DONT_PRINT_LOG_VALUE(install_layout::kind)

namespace {

// An installation unpacked under `prefix`: PREFIX/bin/raydeploy and PREFIX/share/raydeploy.
layout_inputs installed_under(const fs::path& prefix)
{
    fs::create_directories(prefix / "bin");
    fs::create_directories(prefix / "share/raydeploy/playbooks");
    layout_inputs inputs;
    inputs.executable = prefix / "bin/raydeploy";
    return inputs;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(install_layout_suite)

BOOST_AUTO_TEST_CASE(a_binary_in_a_build_directory_uses_the_checkout_the_cache_names)
{
    temp_dir dir;
    const fs::path source = dir.path() / "src";
    fs::create_directories(source / "playbooks");
    // An out-of-tree build directory: the cache, not the binary's position, says where the source is.
    dir.write_file("elsewhere/build/CMakeCache.txt", "CMAKE_BUILD_TYPE:STRING=RelWithDebInfo\n"
                                                     "CMAKE_HOME_DIRECTORY:INTERNAL=" + source.string() + "\n");
    layout_inputs inputs;
    inputs.executable = dir.path() / "elsewhere/build/bin/raydeploy";
    inputs.environment = {{"STATE_DIRECTORY", "/srv/ignored"}, {"HOME", "/home/someone"}};
    inputs.root = true;

    const auto layout = find_install_layout(inputs);
    BOOST_TEST(layout.origin == install_layout::kind::checkout);
    BOOST_TEST(layout.data_dir == source);
    // As before the layout existed: state in the checkout's var/, whoever runs it.
    BOOST_TEST(layout.state_dir == source / "var");
    BOOST_TEST(layout.describe() == "the checkout " + source.string());
}

BOOST_AUTO_TEST_CASE(an_installed_binary_finds_its_data_beside_itself)
{
    temp_dir dir;
    auto inputs = installed_under(dir.path() / "root/usr");
    inputs.environment = {{"HOME", "/home/someone"}};
    const auto layout = find_install_layout(inputs);
    BOOST_TEST(layout.origin == install_layout::kind::installation);
    BOOST_TEST(layout.data_dir == dir.path() / "root/usr/share/raydeploy");
    BOOST_TEST(layout.describe() == "the installation " + (dir.path() / "root/usr/share/raydeploy").string());

    // Copied out of its installation: the data directory compiled in.
    layout_inputs copied;
    copied.executable = dir.path() / "loose/raydeploy";
    copied.environment = inputs.environment;
    BOOST_TEST(find_install_layout(copied).data_dir.is_absolute());
    BOOST_TEST(find_install_layout(copied).data_dir.filename() == "raydeploy");
    BOOST_TEST(find_install_layout(copied).data_dir != dir.path() / "root/usr/share/raydeploy");
}

BOOST_AUTO_TEST_CASE(an_installed_binary_keeps_its_state_where_systemd_root_or_the_user_says)
{
    temp_dir dir;
    auto inputs = installed_under(dir.path() / "usr");
    inputs.account_home = "/home/from-passwd";

    inputs.environment = {{"STATE_DIRECTORY", "/var/lib/raydeploy:/var/lib/other"},
                          {"XDG_STATE_HOME", "/home/u/.state"},
                          {"HOME", "/home/u"}};
    inputs.root = true;
    auto layout = find_install_layout(inputs);
    BOOST_TEST(layout.state_dir == "/var/lib/raydeploy");
    BOOST_TEST(layout.state_dir_origin == "STATE_DIRECTORY");

    inputs.environment.erase("STATE_DIRECTORY");
    layout = find_install_layout(inputs);
    BOOST_TEST(layout.state_dir == "/var/lib/raydeploy");
    BOOST_TEST(layout.state_dir_origin == "running as root");

    inputs.root = false;
    layout = find_install_layout(inputs);
    BOOST_TEST(layout.state_dir == "/home/u/.state/raydeploy");
    BOOST_TEST(layout.state_dir_origin == "XDG_STATE_HOME");

    // A relative XDG_STATE_HOME is invalid by the specification and ignored.
    inputs.environment["XDG_STATE_HOME"] = "relative/state";
    layout = find_install_layout(inputs);
    BOOST_TEST(layout.state_dir == "/home/u/.local/state/raydeploy");
    BOOST_TEST(layout.state_dir_origin == "the home directory");

    inputs.environment.clear();
    BOOST_TEST(find_install_layout(inputs).state_dir == "/home/from-passwd/.local/state/raydeploy");

    inputs.account_home.clear();
    layout = find_install_layout(inputs);
    BOOST_TEST(layout.state_dir.empty());
    // With nothing to go on, opening a state directory says how to name one.
    try {
        raydeploy::state_dir_lock lock{layout.state_dir};
        BOOST_FAIL("an empty state directory was accepted");
    } catch (const raydeploy::runtime_failure& e) {
        BOOST_TEST(std::string{e.what()}.find("--state-dir") != std::string::npos, e.what());
    }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(state_endpoint)

BOOST_AUTO_TEST_CASE(the_holder_publishes_its_url_privately_and_withdraws_it)
{
    temp_dir dir;
    const fs::path state = dir.path() / "state";
    {
        raydeploy::state_dir_lock lock{state};
        BOOST_TEST(!raydeploy::find_published_endpoint(state).has_value());  // held, but nothing published

        lock.publish_endpoint("http://127.0.0.1:8123");
        const auto found = raydeploy::find_published_endpoint(state);
        BOOST_TEST_REQUIRE(found.has_value());
        BOOST_TEST(found->url == "http://127.0.0.1:8123");
        BOOST_TEST(found->pid == ::getpid());
        struct stat info{};
        BOOST_TEST_REQUIRE(::stat((state / "raydeploy.endpoint").c_str(), &info) == 0);
        BOOST_TEST((info.st_mode & 0777) == 0600u);
        BOOST_TEST(!fs::exists(state / "raydeploy.endpoint.tmp"));

        lock.withdraw_endpoint();
        BOOST_TEST(!fs::exists(state / "raydeploy.endpoint"));
        lock.publish_endpoint("https://[::1]:8443");
        BOOST_TEST(raydeploy::find_published_endpoint(state)->url == "https://[::1]:8443");
    }
    // Releasing the lock withdraws it too.
    BOOST_TEST(!fs::exists(state / "raydeploy.endpoint"));
}

BOOST_AUTO_TEST_CASE(an_endpoint_left_by_a_dead_holder_is_ignored_and_then_removed)
{
    temp_dir dir;
    const fs::path state = dir.path() / "state";
    // A holder that was killed: its pid in the lock file and in the endpoint, no process behind it.
    const pid_t child = ::fork();
    if (child == 0) ::_exit(0);
    BOOST_TEST_REQUIRE(child > 0);
    int status = 0;
    BOOST_TEST_REQUIRE(::waitpid(child, &status, 0) == child);
    fs::create_directories(state);
    dir.write_file("state/raydeploy.lock", std::to_string(child) + "\n");
    dir.write_file("state/raydeploy.endpoint",
                   "{\"pid\":" + std::to_string(child) + ",\"url\":\"http://127.0.0.1:9\"}\n");
    BOOST_TEST(!raydeploy::find_published_endpoint(state).has_value());

    // A live process that does not hold the lock (the lock file names another) is no holder either.
    dir.write_file("state/raydeploy.endpoint",
                   "{\"pid\":" + std::to_string(::getppid()) + ",\"url\":\"http://127.0.0.1:9\"}\n");
    BOOST_TEST(!raydeploy::find_published_endpoint(state).has_value());

    dir.write_file("state/raydeploy.endpoint", "not json");
    BOOST_TEST(!raydeploy::find_published_endpoint(state).has_value());

    // The next holder removes what the dead one left.
    raydeploy::state_dir_lock lock{state};
    BOOST_TEST(!fs::exists(state / "raydeploy.endpoint"));
}

BOOST_AUTO_TEST_SUITE_END()
