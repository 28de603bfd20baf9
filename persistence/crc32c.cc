#include "persistence/crc32c.h"

#include <array>
#include <cassert>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace ecom::persistence::crc32c {
namespace {

constexpr std::uint32_t polynomial_reflected = 0x82F63B78u;

constexpr std::array<std::uint32_t, 256> make_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t byte = 0; byte < 256; ++byte) {
    std::uint32_t crc = byte;
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc & 1u) ? (crc >> 1) ^ polynomial_reflected : crc >> 1;
    }
    table[byte] = crc;
  }
  return table;
}

constexpr std::array<std::uint32_t, 256> table = make_table();
static_assert(table[0] == 0);
static_assert(table[128] == polynomial_reflected);  // 0x80 reaches the top bit after 7 shifts

bool detect_hardware() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("sse4.2");
#else
  return false;
#endif
}

}  // namespace

std::uint32_t extend_table(std::uint32_t crc, const void* data, std::size_t size) {
  assert(data != nullptr || size == 0);
  const auto* bytes = static_cast<const unsigned char*>(data);
  std::uint32_t state = ~crc;
  for (std::size_t i = 0; i < size; ++i) {
    state = table[(state ^ bytes[i]) & 0xffu] ^ (state >> 8);
  }
  return ~state;
}

bool hardware_available() {
  static const bool available = detect_hardware();
  return available;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) std::uint32_t extend_hardware(std::uint32_t crc, const void* data,
                                                                std::size_t size) {
  assert(data != nullptr || size == 0);
  const auto* bytes = static_cast<const unsigned char*>(data);
  std::uint64_t state = ~crc;
  // Eight bytes per instruction; memcpy keeps unaligned loads well-defined.
  while (size >= 8) {
    std::uint64_t word;
    std::memcpy(&word, bytes, sizeof word);
    state = _mm_crc32_u64(state, word);
    bytes += 8;
    size -= 8;
  }
  auto state32 = static_cast<std::uint32_t>(state);
  while (size > 0) {
    state32 = _mm_crc32_u8(state32, *bytes);
    ++bytes;
    --size;
  }
  return ~state32;
}
#else
std::uint32_t extend_hardware(std::uint32_t crc, const void* data, std::size_t size) {
  assert(false && "crc32c::extend_hardware called without hardware support");
  return extend_table(crc, data, size);
}
#endif

std::uint32_t extend(std::uint32_t crc, const void* data, std::size_t size) {
  return hardware_available() ? extend_hardware(crc, data, size) : extend_table(crc, data, size);
}

}  // namespace ecom::persistence::crc32c
