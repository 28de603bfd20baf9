// CRC-32C: standard check values, chaining, masking, and hardware/table agreement.
#include "persistence/crc32c.h"

#include <cstdint>
#include <random>
#include <string>

#include <gtest/gtest.h>

namespace ecom::persistence {
namespace {

// Goal: our CRC is the standard CRC-32C, not a look-alike. Method: the check value from the
// CRC catalogue and the RFC 3720 (iSCSI) vectors also used by leveldb's crc32c_test.
TEST(crc32c, matches_standard_check_values) {
  EXPECT_EQ(crc32c::value("123456789"), 0xE3069283u);
  EXPECT_EQ(crc32c::value("", 0), 0u);

  std::string bytes(32, '\0');
  EXPECT_EQ(crc32c::value(bytes), 0x8A9136AAu);
  bytes.assign(32, '\xff');
  EXPECT_EQ(crc32c::value(bytes), 0x62A8AB43u);
  for (int i = 0; i < 32; ++i) bytes[i] = static_cast<char>(i);
  EXPECT_EQ(crc32c::value(bytes), 0x46DD794Eu);
  for (int i = 0; i < 32; ++i) bytes[i] = static_cast<char>(31 - i);
  EXPECT_EQ(crc32c::value(bytes), 0x113FDB5Cu);

  EXPECT_EQ(crc32c::extend_table(0, "123456789", 9), 0xE3069283u);
}

// Goal: extend continues a finished CRC, which frame_crc relies on (header, then payload).
// Method: every split point of a string gives the same CRC as the whole.
TEST(crc32c, extend_continues_a_finished_crc) {
  const std::string text = "hello, write-ahead log";
  for (std::size_t split = 0; split <= text.size(); ++split) {
    const std::uint32_t head = crc32c::value(text.data(), split);
    EXPECT_EQ(crc32c::extend(head, text.data() + split, text.size() - split), crc32c::value(text));
  }
}

// Goal: masking is reversible and never leaves the CRC as is. Method: round trip a few values.
TEST(crc32c, mask_round_trips_and_changes_the_value) {
  for (std::uint32_t crc : {0u, 1u, 0xE3069283u, 0xFFFFFFFFu, 0xA282EAD8u}) {
    EXPECT_EQ(crc32c::unmask(crc32c::mask(crc)), crc);
    EXPECT_NE(crc32c::mask(crc), crc);
  }
  EXPECT_NE(crc32c::mask(crc32c::mask(0xE3069283u)), 0xE3069283u);
}

// Goal: SSE4.2 and the table agree, at every length and alignment the 8-byte loop can meet.
// Method: seeded random buffers, lengths 0..300 and start offsets 0..7, plus chained calls.
TEST(crc32c, hardware_and_table_agree_on_random_data) {
  if (!crc32c::hardware_available()) GTEST_SKIP() << "no SSE4.2 on this CPU";
  std::mt19937 random(20240601);
  std::string buffer(4096 + 8, '\0');
  for (char& c : buffer) c = static_cast<char>(random());
  for (std::size_t offset = 0; offset < 8; ++offset) {
    for (std::size_t size = 0; size <= 300; ++size) {
      const char* data = buffer.data() + offset;
      ASSERT_EQ(crc32c::extend_hardware(0, data, size), crc32c::extend_table(0, data, size))
          << "offset " << offset << " size " << size;
    }
  }
  const std::uint32_t seed = 0x12345678u;
  EXPECT_EQ(crc32c::extend_hardware(seed, buffer.data(), 4096),
            crc32c::extend_table(seed, buffer.data(), 4096));
}

}  // namespace
}  // namespace ecom::persistence
