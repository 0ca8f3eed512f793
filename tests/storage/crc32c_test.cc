// CRC-32C: known vectors, and the hardware path (SSE4.2, when present) agrees with the
// portable tables on every length and alignment.
#include "engine/crc32c.h"

#include <string>

#include "engine/prng.h"
#include "gtest/gtest.h"

namespace keel {
namespace {

TEST(Crc32cTest, KnownVectors) {
  EXPECT_EQ(Crc32c(""), 0u);
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32c(std::string(32, '\0')), 0x8A9136AAu);  // RFC 3720 B.4
  EXPECT_EQ(Crc32c(std::string(32, '\xff')), 0x62A8AB43u);
}

TEST(Crc32cTest, ExtendEqualsWhole) {
  const std::string data = "the quick brown fox jumps over the lazy dog";
  for (size_t split = 0; split <= data.size(); ++split) {
    const uint32_t head = Crc32cExtend(0, data.data(), split);
    EXPECT_EQ(Crc32cExtend(head, data.data() + split, data.size() - split), Crc32c(data));
  }
}

TEST(Crc32cTest, DispatchedPathMatchesSoftware) {
  Prng prng(42);
  std::string buffer(4096 + 16, '\0');
  for (char& c : buffer) c = static_cast<char>(prng.Next());
  for (size_t offset = 0; offset < 16; ++offset) {
    for (size_t length : {0, 1, 7, 8, 9, 63, 64, 65, 1000, 4096}) {
      EXPECT_EQ(Crc32cExtend(0x1234, buffer.data() + offset, length),
                Crc32cSoftwareForTest(0x1234, buffer.data() + offset, length))
          << "offset " << offset << " length " << length;
    }
  }
}

}  // namespace
}  // namespace keel
