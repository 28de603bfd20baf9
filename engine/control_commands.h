// Commands the shard runtime answers itself (no book holds their state): figures, the event
// feed's long polls, start-up's expiry catch-up, snapshots and a standby's log apply.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "engine/log_batch.h"
#include "engine/types.h"

namespace ecom::engine {

struct shard_figures {
  shard_index shard = 0;
  std::uint64_t users = 0;
  std::uint64_t balance_entries = 0;
  std::uint64_t idempotency_entries = 0;
  std::uint64_t products = 0;
  std::uint64_t cart_lines = 0;
  std::uint64_t campaigns = 0;
  std::uint64_t user_coupons = 0;
  std::uint64_t orders = 0;       // of this shard's users
  std::uint64_t stock_holds = 0;  // payments' holds on this shard's stock (paid, not refunded)
  std::uint64_t events = 0;       // the order-event feed's length (event shard; 0 elsewhere)
  lsn_t last_lsn = 0;
};

struct shard_figures_list {
  std::vector<shard_figures> shards;  // by shard index
};

struct get_shard_figures {};

// A long poll of the event feed (event shard): answered at once when there are events after
// `after`, else parked on the shard until one is recorded or `wait_ms` passes (then empty).
struct watch_events {
  std::uint64_t after = 0;
  std::uint32_t limit = 100;
  time_ms wait_ms = 0;  // 1..event_wait_ms_max
};

// Shutdown: every parked long poll is answered now with what it has (usually nothing), so the
// drain does not wait out their wait_ms.
struct release_watches {};

// Start-up: expire what expired while the server was down (coupons, pending orders), all of
// it, before serving; answers the counts.
struct catch_up_expiry {};

// A snapshot: the shard starts a capture of its state at its cut (the WAL's appended LSN when
// the command runs) and walks it between batches, handing the entities to `port` (see
// snapshot_port.h). Answered at once; the port hears the rest. A capture still running (of a
// snapshot that failed) is abandoned for the new one.
class snapshot_port;
struct begin_snapshot {
  snapshot_port* port = nullptr;
  std::uint64_t id = 0;  // named in every port call, so late calls of an abandoned one are known
};

// A standby (following a primary's log): apply the records of `batch` that this shard owns
// (and every template), as replay does. Answered once applied; a record that does not apply
// is a refusal (errc::internal): the logs have parted ways.
struct apply_log {
  std::shared_ptr<const log_batch> batch;
};

struct expiry_counts {
  std::uint64_t coupons = 0;
  std::uint64_t orders = 0;
};

}  // namespace ecom::engine
