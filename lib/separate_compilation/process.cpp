// Boost.Process v2 compiled once (BOOST_PROCESS_V2_SEPARATE_COMPILATION); see ../shared/NOTES.md.
#include <boost/process/v2/src.hpp>
