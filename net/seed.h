// seed: the demo data `--seed-demo` writes once into an empty data dir, through the same
// commands (and so the same WAL records) as real requests.
#pragma once

#include <cstdint>

#include "engine/shard_set.h"

namespace ecom::net {

// Blocks until every seeded change is durable. Call after the shards have started.
void seed_demo(engine::shard_set& shards, std::uint32_t kdf_iterations);

}  // namespace ecom::net
