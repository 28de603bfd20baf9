// snapshot_port: where a shard hands the capture of its state (snapshot.h) while it keeps
// serving. persistence::snapshotter implements it (the LMDB writer on its own thread); tests
// can collect the bytes. Every call comes from the capturing shard's own thread and must not
// block on I/O. Calls name their snapshot (begin_snapshot::id): the port ignores those of a
// snapshot it gave up.
#pragma once

#include <cstdint>
#include <string>

#include "engine/types.h"

namespace ecom::engine {

class snapshot_port {
 public:
  virtual ~snapshot_port() = default;

  // Framed entities of shard `index` (capture_buffer bytes: whole frames, any order; each key
  // once across the capture).
  virtual void deliver(shard_index index, std::uint64_t snapshot_id, std::string chunk) = 0;
  // Back-pressure: false while the writer still holds enough of this shard's chunks; the walk
  // then waits (changes go on, and write the entities they touch, so the buffer stays small).
  virtual bool has_room(shard_index index) const = 0;
  // The shard's capture is complete (everything delivered): its state was the state at `cut`,
  // every record of the shard at or below it and none above.
  virtual void finished(shard_index index, std::uint64_t snapshot_id, lsn_t cut) = 0;
};

}  // namespace ecom::engine
