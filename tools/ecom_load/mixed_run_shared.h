// The mixed phase's shared run state and the helpers its scripts share (mixed_run.cc's
// sessions, mixed_restock.cc's restocks): per-thread counters, the run's shared tables, and how
// an answer is counted. Private to the mixed phase.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "tools/ecom_load/http_transport.h"
#include "tools/ecom_load/mixed_run.h"

namespace ecom::load::mixed_detail {

inline constexpr std::size_t answer_body_bytes_max = 1 << 20;

// Counters of one I/O thread; merged after the pool stopped.
struct worker_stats {
  op_table ops;
  std::vector<std::uint64_t> requests_per_slot;
  std::vector<std::uint64_t> paid_per_slot;
  read_counts reads;
};

enum class coupon_state : std::uint8_t { none, available, used, unknown };

struct run_shared {
  const mixed_phase_options& options;
  const mixed_catalog& catalog;
  std::vector<user_record>& users;
  std::vector<coupon_state>& coupons;     // per user
  std::vector<std::int64_t>& write_lsns;  // per user: highest X-Ecomd-Lsn of its write answers
  std::vector<worker_stats>& stats;
  mixed_live& live;
  std::chrono::steady_clock::time_point started;
  std::chrono::steady_clock::time_point deadline;
  double slot_s;
};

// The run's time slot now (for the per-slot series).
std::size_t slot_now(const run_shared& shared);

// Counts one answer (or transport failure) of op on the calling I/O thread's stats.
void record_reply(run_shared& shared, mixed_op op_kind, const http_reply& reply,
                  bool after_lost_answer = false);

// Stop requested, or the run's deadline passed.
bool past_deadline(const run_shared& shared);

}  // namespace ecom::load::mixed_detail
