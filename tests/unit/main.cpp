// Entry point of the unit test executable (one Boost.Test module, one suite per lib unit).
#define BOOST_TEST_MODULE raydeploy_unit_tests
#include <boost/test/unit_test.hpp>
