// snapshot_layout: how a generation's bytes are laid out, shared by its reader
// (snapshot_store.cc) and its writer (generation_writer.cc): the key and value framing, the
// per-shard tally behind meta's counts and digests, database names, LMDB helpers. Internal to
// persistence/; snapshot_store.h is the interface.
#pragma once

#include <lmdb.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "engine/snapshot.h"
#include "persistence/crc32c.h"
#include "persistence/snapshot_store.h"
#include "persistence/wal_format.h"

namespace ecom::persistence::snapshot_layout {

namespace fs = std::filesystem;
using wal_format::load_le;
using wal_format::store_le;

inline constexpr std::size_t shard_prefix_bytes = 2;
inline constexpr std::size_t value_crc_bytes = 4;
inline constexpr std::uint64_t page_bytes = 4096;  // LMDB's page (the OS page here)
// Present from a writer's first byte until its final commit returned (see generation_writer).
inline constexpr const char* writing_marker = "writing";

[[noreturn]] inline void fail(int rc, const std::string& what, const fs::path& dir) {
  throw snapshot_error(what + " " + dir.string() + ": " + mdb_strerror(rc));
}

inline MDB_val as_val(std::string_view bytes) {
  return MDB_val{bytes.size(), const_cast<char*>(bytes.data())};
}
inline std::string_view as_view(const MDB_val& v) {
  return {static_cast<const char*>(v.mv_data), v.mv_size};
}

inline std::string shard_meta_key(engine::shard_index shard) {
  return "shard/" + std::to_string(shard);
}

template <class T>
inline std::string le_bytes(T value) {
  std::string out(sizeof(T), '\0');
  store_le<std::make_unsigned_t<T>>(out.data(), static_cast<std::make_unsigned_t<T>>(value));
  return out;
}

// What a stored (key, value) pair says: its checksum holds, its shard, and what it adds to the
// shard's count and digest and to the counts of meta. Shared by the writer (as it puts) and
// the readers (as they read), so both derive meta the same way.
struct shard_tally {
  snapshot_shard shard;
  snapshot_counts counts;

  // The stored pair is framed right and its checksum holds; false names why not.
  static bool check(std::string_view key, std::string_view value, std::string* why) {
    if (key.size() <= shard_prefix_bytes || value.size() < value_crc_bytes) {
      *why = "an entity shorter than its framing";
      return false;
    }
    const std::uint32_t stored =
        load_le<std::uint32_t>(value.data() + value.size() - value_crc_bytes);
    std::uint32_t crc = crc32c::value(key);
    crc = crc32c::extend(crc, value.data(), value.size() - value_crc_bytes);
    if (crc32c::mask(crc) != stored) {
      *why = "checksum mismatch";
      return false;
    }
    return true;
  }

  // Adds a checked pair. Format 2's digest is the sum of the values' stored checksums (so the
  // writer derives it in the order it puts); format 1's chained CRC-32C over keys and values
  // in key order.
  void add(std::uint32_t format, std::string_view key, std::string_view value) {
    if (format == 1) {
      shard.digest = crc32c::extend(crc32c::extend(shard.digest, key.data(), key.size()),
                                    value.data(), value.size());
    } else {
      shard.digest += load_le<std::uint32_t>(value.data() + value.size() - value_crc_bytes);
    }
    ++shard.entities;
    const std::string_view entity_value = value.substr(0, value.size() - value_crc_bytes);
    auto leading_count = [&] {
      return entity_value.size() >= 4 ? load_le<std::uint32_t>(entity_value.data()) : 0u;
    };
    switch (static_cast<engine::snapshot_table>(key[shard_prefix_bytes])) {
      case engine::snapshot_table::users:
        ++counts.users;
        break;
      case engine::snapshot_table::products:
        ++counts.products;
        break;
      case engine::snapshot_table::campaigns:
        ++counts.campaigns;
        break;
      case engine::snapshot_table::wallets:
        counts.user_coupons += leading_count();  // a wallet starts with its coupon count
        break;
      case engine::snapshot_table::orders:
        counts.orders += leading_count();  // a user's orders start with their count
        break;
      default:
        break;
    }
  }
};

inline void add_counts(snapshot_counts& to, const snapshot_counts& from) {
  to.users += from.users;
  to.products += from.products;
  to.campaigns += from.campaigns;
  to.user_coupons += from.user_coupons;
  to.orders += from.orders;
}

inline engine::shard_index shard_of(std::string_view key) {
  return static_cast<engine::shard_index>((static_cast<unsigned char>(key[0]) << 8) |
                                          static_cast<unsigned char>(key[1]));
}

inline std::string shard_prefix(engine::shard_index shard) {
  return {static_cast<char>(shard >> 8), static_cast<char>(shard & 0xff)};
}

// Format 2 keeps each shard's entities in a database of its own.
inline std::string shard_db_name(engine::shard_index shard) {
  return "state/" + std::to_string(shard);
}
// A writer's database for the entities put out of walk order, until commit merges them.
inline std::string changed_db_name(engine::shard_index shard) {
  return "changed/" + std::to_string(shard);
}

struct env_guard {
  MDB_env* env = nullptr;
  ~env_guard() {
    if (env != nullptr) mdb_env_close(env);
  }
};
struct txn_guard {
  MDB_txn* txn = nullptr;
  ~txn_guard() {
    if (txn != nullptr) mdb_txn_abort(txn);
  }
};

inline std::uint64_t file_bytes(const fs::path& path) {
  std::error_code ec;
  auto size = fs::file_size(path, ec);
  return ec ? 0 : size;
}

}  // namespace ecom::persistence::snapshot_layout
