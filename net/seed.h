// seed: the demo data `--seed-demo` writes once into an empty data dir, through the engine's
// gateway: the same requests and flows (and so the same WAL records) as real clients.
#pragma once

#include <cstdint>

#include "engine/gateway.h"

namespace ecom::net {

// Blocks until every seeded change is durable. Call after the shards have started.
void seed_demo(engine::gateway& engine, std::uint32_t kdf_iterations);

}  // namespace ecom::net
