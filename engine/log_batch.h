// log_batch: records of another server's log (a primary's WAL, read by a standby from the
// replication stream), to be applied to the shards that own them while they run: the live
// counterpart of recovery's replay. Immutable once made; shared by every shard's apply.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/record.h"
#include "engine/types.h"

namespace ecom::engine {

struct log_batch {
  struct item {
    record_type type{};
    shard_index owner = 0;  // the shard that wrote it
    lsn_t lsn = 0;
    std::uint32_t offset = 0;  // payload, in bytes
    std::uint32_t size = 0;
  };
  std::vector<item> items;  // consecutive LSNs, first_lsn .. last_lsn
  std::string bytes;        // the payloads
  lsn_t first_lsn = 0;
  lsn_t last_lsn = 0;

  std::string_view payload(const item& it) const {
    return std::string_view(bytes).substr(it.offset, it.size);
  }
};

}  // namespace ecom::engine
