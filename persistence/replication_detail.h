// replication_detail: what the parts of the replicator (replication.cc, replication_primary.cc,
// replication_standby.cc) share. Not for use outside them.
#pragma once

#include <openssl/rand.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <string_view>

#include "persistence/nats_stream.h"

namespace ecom::persistence::replication_detail {

using steady = std::chrono::steady_clock;

inline std::string hex(const unsigned char* bytes, std::size_t n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    out += digits[bytes[i] >> 4];
    out += digits[bytes[i] & 15];
  }
  return out;
}

// 12 random hex characters: a primary term's, or a promotion's, name.
inline std::string random_name() {
  unsigned char random[6];
  if (RAND_bytes(random, sizeof random) != 1) throw std::runtime_error("RAND_bytes failed");
  return hex(random, sizeof random);
}

inline std::string description_of(const std::string& fingerprint, std::uint32_t shards) {
  return "ecomd WAL; fingerprint=" + fingerprint + "; shards=" + std::to_string(shards);
}

// The fingerprint a stream's description names ("" when none).
inline std::string fingerprint_in(const std::string& description) {
  constexpr std::string_view key = "fingerprint=";
  const auto at = description.find(key);
  if (at == std::string::npos) return {};
  const auto from = at + key.size();
  return description.substr(from, description.find(';', from) - from);
}

// A promotion mark: a message without records (its LSN range is empty), whose data names the
// promotion (random), so that the promoted server knows its own.
inline bool is_mark(const stream_message& msg) {
  return msg.first_lsn > msg.last_lsn;
}

inline constexpr const char* restore_hint =
    "take a new backup of the primary (ecom-snapshot backup) and restore it into this data dir "
    "(ecom-snapshot restore), then start the standby again";

}  // namespace ecom::persistence::replication_detail
