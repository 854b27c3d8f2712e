// fuzz_replay TARGET PATH...: runs every file under each PATH (a file, or a directory read
// recursively) through the fuzz target TARGET once, as libFuzzer would, and says how many it ran.
// A finding ends the process the way it ends a fuzzer: an uncaught exception, a crash or, in the
// sanitizer build, a report. ctest runs it over tests/fuzz/corpus/<target> and
// tests/fuzz/regressions/<target> (the crash reproducers of fixed bugs).
#include "fuzz/fuzz_target.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

namespace raydeploy::fuzz {
namespace {

std::map<std::string, one_input, std::less<>>& targets()
{
    static std::map<std::string, one_input, std::less<>> registered;
    return registered;
}

std::vector<std::filesystem::path> inputs_under(const std::filesystem::path& path)
{
    std::vector<std::filesystem::path> files;
    if (std::filesystem::is_directory(path)) {
        for (const auto& entry : std::filesystem::recursive_directory_iterator{path})
            if (entry.is_regular_file()) files.push_back(entry.path());
    } else {
        files.push_back(path);
    }
    std::sort(files.begin(), files.end());
    return files;
}

}  // namespace

bool register_target(std::string_view name, one_input run)
{
    targets().emplace(std::string{name}, run);
    return true;
}

}  // namespace raydeploy::fuzz

int main(int argc, char** argv)
{
    using raydeploy::fuzz::targets;
    if (argc < 3) {
        std::cerr << "usage: fuzz_replay TARGET PATH...\ntargets:";
        for (const auto& [name, run] : targets()) std::cerr << ' ' << name;
        std::cerr << '\n';
        return 2;
    }
    const auto target = targets().find(std::string_view{argv[1]});
    if (target == targets().end()) {
        std::cerr << "fuzz_replay: no target named '" << argv[1] << "'; run it without arguments to list them\n";
        return 2;
    }
    std::size_t replayed = 0;
    for (int i = 2; i < argc; ++i) {
        if (!std::filesystem::exists(argv[i])) {
            std::cerr << "fuzz_replay: " << argv[i] << " does not exist\n";
            return 2;
        }
        for (const auto& file : raydeploy::fuzz::inputs_under(argv[i])) {
            std::ifstream in{file, std::ios::binary};
            const std::string bytes{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
            // Printed first: when an input is a finding, the last line names it.
            std::cout << "replaying " << file.string() << std::endl;
            target->second(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
            ++replayed;
        }
    }
    std::cout << "fuzz_replay " << argv[1] << ": " << replayed << " input(s), no finding\n";
    return replayed > 0 ? 0 : 1;
}
