// engine/: the domain. Shards own state and talk by message; the domain code is deterministic
// and pure (time is an input). Standard library only: no Boost, no JSON, no I/O.
#pragma once

#include <cstdint>

namespace ecom::engine {

using lsn_t = std::uint64_t;     // position in the write-ahead log; 0 = nothing written
using time_ms = std::int64_t;    // milliseconds since the Unix epoch, UTC
using entity_id = std::int64_t;  // 1..2^63-1; id % shard_count names the owner shard
using shard_index = std::uint32_t;

inline constexpr std::uint32_t shard_count_max = 64;
inline constexpr std::int64_t balance_max = 1'000'000'000;     // won; charges may not pass it
inline constexpr std::int64_t charge_amount_max = 10'000'000;  // won per charge
inline constexpr time_ms idempotency_ttl_ms = 24LL * 3600 * 1000;
inline constexpr std::uint32_t refresh_sessions_per_user_max = 64;

// The shard that owns an entity whose id was allocated by that shard.
inline shard_index owner_of(entity_id id, std::uint32_t shard_count) {
  return static_cast<shard_index>(static_cast<std::uint64_t>(id) % shard_count);
}

}  // namespace ecom::engine
