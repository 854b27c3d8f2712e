// What every fuzz target is built on. A target is written once, as
//
//     RAYDEPLOY_FUZZ_TARGET(name) { ...feed data[0, size) to the service's code...; return 0; }
//
// and compiled two ways (tests/fuzz/CMakeLists.txt):
//   - bin/fuzz_<name> (RAYDEPLOY_FUZZ, clang): libFuzzer's LLVMFuzzerTestOneInput, explored by
//     libFuzzer under ASan and UBSan (scripts/fuzz.sh);
//   - into bin/fuzz_replay (every build): one function among all targets', which replays a
//     target's committed corpus and crash reproducers (ctest fuzz_corpus.<name>), so a fixed
//     crash stays fixed and every target keeps compiling with GCC too.
//
// A target lets escape only what would escape the service: the error a caller is told about is
// caught where the service catches it, anything else (another exception, a crash, a sanitizer
// report) is a finding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace raydeploy::fuzz {

using one_input = int (*)(const std::uint8_t* data, std::size_t size);

// Records a target of fuzz_replay; returns true so a namespace-scope constant can call it.
bool register_target(std::string_view name, one_input run);

inline std::string_view as_text(const std::uint8_t* data, std::size_t size)
{
    return {reinterpret_cast<const char*>(data), size};
}

}  // namespace raydeploy::fuzz

#ifdef RAYDEPLOY_FUZZ_REPLAY
#define RAYDEPLOY_FUZZ_TARGET(name)                                                                  \
    static int fuzz_one_input(const std::uint8_t* data, std::size_t size);                           \
    [[maybe_unused]] static const bool fuzz_target_registered =                                      \
        ::raydeploy::fuzz::register_target(#name, &fuzz_one_input);                                 \
    static int fuzz_one_input(const std::uint8_t* data, std::size_t size)
#else
#define RAYDEPLOY_FUZZ_TARGET(name) \
    extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
#endif
