// The test helpers' caller's place, for failures that name the line of the test that called them.
// source_location needs the compiler's __builtin_source_location: GCC 12 has it, clang 14
// (the sanitizer build's compiler) has not. The builtins clang 14 does have give the same place
// when they are a default argument, as they are here.
#pragma once

#include <cstdint>
#include <source_location>

namespace raydeploy::test {

#if defined(__cpp_lib_source_location)
using source_location = std::source_location;
#else
class source_location {
public:
    static constexpr source_location current(const char* file = __builtin_FILE(),
                                             std::uint_least32_t line = __builtin_LINE(),
                                             const char* function = __builtin_FUNCTION()) noexcept
    {
        source_location place;
        place.file_ = file;
        place.line_ = line;
        place.function_ = function;
        return place;
    }
    constexpr const char* file_name() const noexcept { return file_; }
    constexpr std::uint_least32_t line() const noexcept { return line_; }
    constexpr std::uint_least32_t column() const noexcept { return 0; }
    constexpr const char* function_name() const noexcept { return function_; }

private:
    const char* file_ = "";
    std::uint_least32_t line_ = 0;
    const char* function_ = "";
};
#endif

}  // namespace raydeploy::test
