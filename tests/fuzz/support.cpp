// The helpers of fuzz_target.hpp, linked into every fuzz target and into fuzz_replay.
#include "fuzz/fuzz_target.hpp"

#include "raydeploy/util/log.hpp"

#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>
#include <system_error>

namespace raydeploy::fuzz {
namespace {

// Warnings and errors only: a log line for each of millions of requests would be most of the
// fuzzer's time, and the log's rendering of hostile values has its own unit tests.
[[maybe_unused]] const bool quiet_log = [] {
    log::configure(log::level::warn, log::format::text);
    return true;
}();

}  // namespace

const std::filesystem::path& scratch_directory()
{
    struct scratch {
        std::filesystem::path path;
        scratch()
        {
            std::string pattern = (std::filesystem::temp_directory_path() / "raydeploy-fuzz-XXXXXX").string();
            if (!::mkdtemp(pattern.data())) throw std::runtime_error{"mkdtemp failed for " + pattern};
            path = pattern;
        }
        ~scratch()
        {
            std::error_code ignored;
            std::filesystem::remove_all(path, ignored);
        }
    };
    static const scratch directory;
    return directory.path;
}

void write_file(const std::filesystem::path& file, std::string_view bytes)
{
    std::ofstream out{file, std::ios::binary | std::ios::trunc};
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) throw std::runtime_error{"cannot write " + file.string()};
}

}  // namespace raydeploy::fuzz
