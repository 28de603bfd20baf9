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

// Which of a capture's two streams a chunk belongs to.
enum class capture_stream : std::uint8_t {
  walk,     // the walk's entities, keys ascending (after the books' headers)
  changed,  // entities a change wrote ahead of the walk, in the order changes came
};

class snapshot_port {
 public:
  virtual ~snapshot_port() = default;

  // Framed entities of shard `index` (capture_buffer bytes: whole frames; each key once across
  // both streams of the capture).
  virtual void deliver(shard_index index, std::uint64_t snapshot_id, capture_stream stream,
                       std::string chunk) = 0;
  // Back-pressure: false while the writer still holds enough of this shard's chunks; the walk
  // then waits (changes go on, and write the entities they touch, so the buffer stays small).
  virtual bool has_room(shard_index index) const = 0;
  // The shard's capture is complete (everything delivered): its state was the state at `cut`,
  // every record of the shard at or below it and none above.
  virtual void finished(shard_index index, std::uint64_t snapshot_id, lsn_t cut) = 0;
};

}  // namespace ecom::engine
