// journal: the engine's view of the write-ahead log. persistence::wal_writer implements it;
// engine tests use tests/support/fake_journal.h. Shards call it from their own threads
// concurrently.
#pragma once

#include <functional>
#include <span>

#include "engine/record.h"
#include "engine/types.h"

namespace ecom::engine {

class journal {
 public:
  using durable_callback = std::function<void()>;

  virtual ~journal() = default;

  // Appends `records` (possibly none) in order as one unit and assigns consecutive LSNs; the
  // one log's order is a causal order across shards. Returns the LSN of the last record
  // appended by anyone so far (so, with records, this call's last). Thread-safe; never blocks
  // on disk I/O.
  //
  // `on_durable` (may be empty) runs exactly once, when every record appended before this call
  // returned is as durable as the fsync mode promises (persistence/wal_writer.h: `always`:
  // fdatasync'd; `batch` and `off`: written to the file). It runs on the WAL writer's thread,
  // or inline, before append() returns, when the call appends nothing and nothing appended
  // earlier is still waiting. It must not block.
  virtual lsn_t append(std::span<const record> records, durable_callback on_durable) = 0;

  // The highest LSN known to be durable (fdatasync'd; with `off`, written).
  virtual lsn_t durable_lsn() const = 0;
  // The last LSN assigned so far (durable or not). A shard that reads it on its own thread
  // knows that every record it appended has an LSN at or below it, and every later one above.
  virtual lsn_t appended_lsn() const = 0;

  // Runs `on_durable` once everything up to `lsn` is durable: inline when it already is, else
  // as a barrier (an append of nothing) on the WAL thread.
  void when_durable(lsn_t lsn, durable_callback on_durable) {
    if (durable_lsn() >= lsn) return on_durable();
    append({}, std::move(on_durable));
  }
};

}  // namespace ecom::engine
