#include "raydeploy/util/random_id.hpp"

#include <openssl/rand.h>

#include <array>
#include <stdexcept>

namespace raydeploy {

std::string random_id(std::string_view prefix)
{
    // Ids appear in URLs and approval commands that people paste around; a predictable id would
    // let someone guess the next execution or approval. OpenSSL's CSPRNG, not a seeded PRNG.
    std::array<unsigned char, 10> bytes{};
    if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1)
        throw std::runtime_error{"OpenSSL's random generator failed; cannot create an identifier safely"};
    static constexpr char hex[] = "0123456789abcdef";
    std::string id{prefix};
    id.reserve(prefix.size() + 2 * bytes.size());
    for (unsigned char byte : bytes) {
        id += hex[byte >> 4];
        id += hex[byte & 0x0f];
    }
    return id;
}

}  // namespace raydeploy
