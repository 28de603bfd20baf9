// recovery: rebuilds every shard's state from the WAL before the shards start.
// (Snapshots in LMDB come later; today replay starts at the first segment.)
#pragma once

#include <cstdint>

#include "engine/shard_set.h"
#include "persistence/data_dir.h"

namespace ecom::persistence {

struct recovery_result {
  engine::lsn_t last_lsn = 0;
  std::uint64_t records = 0;
  std::uint64_t next_segment_number = 1;
};

// Replays the WAL into `shards` (which must not be started). A torn tail is truncated and
// logged; corruption in the middle, or a record the state refuses, throws std::runtime_error
// naming the segment and offset (or LSN) and how to inspect it.
recovery_result recover(const data_dir& dir, engine::shard_set& shards);

}  // namespace ecom::persistence
