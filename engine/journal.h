// The engine's view of the write-ahead log. persistence::wal_writer implements it; tests may
// use the real one on a temp dir. Shards call it from their own threads concurrently.
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

  // Appends `records` (possibly none) in order as one unit and assigns consecutive LSNs.
  // `on_durable` runs exactly once, on the WAL thread or inline, once every record appended
  // before this call returns is durable as the fsync mode promises (`always`: fdatasync'd;
  // `batch`/`off`: immediately). Returns the LSN of the last record appended by anyone so far.
  // Thread-safe. Never blocks on disk I/O.
  virtual lsn_t append(std::span<const record> records, durable_callback on_durable) = 0;

  // The highest LSN known to be durable.
  virtual lsn_t durable_lsn() const = 0;
};

}  // namespace ecom::engine
