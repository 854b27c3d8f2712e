#include "raydeploy/util/random_id.hpp"

#include <cstdint>
#include <random>

namespace raydeploy {

std::string random_id(std::string_view prefix)
{
    // Identifiers need to be unique, not secret: a seeded Mersenne Twister per thread is enough.
    static thread_local std::mt19937_64 generator{std::random_device{}()};
    static constexpr char hex[] = "0123456789abcdef";
    std::string id{prefix};
    std::uint64_t high = generator(), low = generator();
    for (int i = 0; i < 20; ++i) {
        std::uint64_t& source = i < 10 ? high : low;
        id += hex[source & 0xF];
        source >>= 4;
    }
    return id;
}

}  // namespace raydeploy
