// Entry point of the integration tests, which start the real build/bin/raydeploy on port 0.
#ifndef BOOST_TEST_DYN_LINK
#define BOOST_TEST_DYN_LINK  // Boost::unit_test_framework is the shared library on Debian
#endif
#define BOOST_TEST_MODULE raydeploy_integration
#include <boost/test/unit_test.hpp>

#include <csignal>

namespace {

// A server that closes a connection while a test is still writing must fail that write, not kill
// the test runner with SIGPIPE.
struct ignore_sigpipe {
    ignore_sigpipe() { std::signal(SIGPIPE, SIG_IGN); }
};

}  // namespace

BOOST_TEST_GLOBAL_FIXTURE(ignore_sigpipe);
