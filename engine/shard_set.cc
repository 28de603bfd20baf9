#include "engine/shard_set.h"

#include <cassert>

namespace ecom::engine {

shard_set::shard_set(std::uint32_t shard_count, std::size_t mailbox_depth_max, journal& wal,
                     clock_fn clock) {
  assert(shard_count > 0 && shard_count <= shard_count_max);
  shards_.reserve(shard_count);
  for (shard_index i = 0; i < shard_count; ++i) {
    shard_options options;
    options.index = i;
    options.shard_count = shard_count;
    options.mailbox_depth_max = mailbox_depth_max;
    shards_.push_back(std::make_unique<shard>(options, wal, clock));
  }
}

shard_set::~shard_set() {
  stop();
}

bool shard_set::replay(record_type type, shard_index index, std::string_view payload, lsn_t lsn) {
  if (index >= shards_.size()) return false;
  return shards_[index]->replay(type, payload, lsn);
}

void shard_set::start() {
  for (auto& s : shards_) s->start();
}

void shard_set::stop() {
  for (auto& s : shards_) s->stop();
}

}  // namespace ecom::engine
