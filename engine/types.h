// engine/: the domain. Shards own state and talk by message; the domain code is deterministic
// and pure (time is an input). Standard library only: no Boost, no JSON, no I/O.
#pragma once

#include <cstdint>

namespace ecom::engine {

using lsn_t = std::uint64_t;     // position in the write-ahead log; 0 = nothing written
using time_ms = std::int64_t;    // milliseconds since the Unix epoch, UTC
using entity_id = std::int64_t;  // 1..2^63-1; id % shard_count names the owner shard
using shard_index = std::uint32_t;

inline constexpr time_ms second_ms = 1000;
inline constexpr time_ms minute_ms = 60 * second_ms;
inline constexpr time_ms hour_ms = 60 * minute_ms;
inline constexpr time_ms day_ms = 24 * hour_ms;

// The shard that owns an entity whose id was allocated by that shard.
inline shard_index owner_of(entity_id id, std::uint32_t shard_count) {
  return static_cast<shard_index>(static_cast<std::uint64_t>(id) % shard_count);
}

}  // namespace ecom::engine
