// crc32c: CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of WAL frames.
//
// Chosen over CRC-32 (zlib) because x86 has an instruction for it (SSE4.2 `crc32`), which keeps
// checksumming far below the cost of the fdatasync it protects. The table version is the
// fallback on CPUs without SSE4.2 and the reference the hardware version is tested against.
//
// `extend(crc, data, size)` continues a finished CRC, so extend(value(a), b) == value(a + b),
// as in leveldb's crc32c::Extend; value("123456789") == 0xE3069283 (the standard check value).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ecom::persistence::crc32c {

// Uses SSE4.2 when the CPU has it (decided once), the table otherwise.
std::uint32_t extend(std::uint32_t crc, const void* data, std::size_t size);

inline std::uint32_t value(const void* data, std::size_t size) {
  return extend(0, data, size);
}
inline std::uint32_t value(std::string_view data) {
  return value(data.data(), data.size());
}

// The two implementations, exposed so tests can check that they agree.
std::uint32_t extend_table(std::uint32_t crc, const void* data, std::size_t size);
bool hardware_available();
// Precondition: hardware_available().
std::uint32_t extend_hardware(std::uint32_t crc, const void* data, std::size_t size);

// The WAL stores CRCs masked, as leveldb does (util/crc32c.h): "it is problematic to compute
// the CRC of a string that contains embedded CRCs". A payload may itself carry frames or
// checksums (a tool copying WAL bytes into a record, a snapshot blob); the CRC of data that
// contains its own raw CRC is prone to degenerate, self-confirming patterns. Rotating and
// adding a constant makes the stored value never a raw CRC of anything nearby.
inline constexpr std::uint32_t mask_delta = 0xa282ead8u;

inline std::uint32_t mask(std::uint32_t crc) {
  return ((crc >> 15) | (crc << 17)) + mask_delta;
}

inline std::uint32_t unmask(std::uint32_t masked) {
  const std::uint32_t rotated = masked - mask_delta;
  return (rotated >> 17) | (rotated << 15);
}

}  // namespace ecom::persistence::crc32c
