// The two pooled phases of the FCFS scenario: every connection issues for its slice of users
// (issue phase), then reads the wallets of the users that asked (wallet check).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "tools/ecom_load/fcfs_types.h"
#include "tools/ecom_load/http_transport.h"
#include "tools/ecom_load/replication_stats.h"

namespace ecom::load {

// Read by the progress display while the issue phase runs.
struct live_counters {
  std::atomic<std::uint64_t> request_count{0};
  std::atomic<std::uint64_t> issued_count{0};
  std::atomic<std::uint64_t> answered_user_count{0};
  std::atomic<bool> stop_requested{false};  // set on SIGINT: no new requests
};

struct issue_phase_options {
  // With pool.read_servers, one more connection per read server reads the campaign from it
  // every 10 ms while the issue scripts run (lag samples; the issues themselves are writes).
  // With pool.pacer, issues are sent on its schedule (open loop), which starts at the bell or
  // at the phase's start.
  pool_options pool;
  int connection_count = 1;
  // How long issues are sent, from the bell (with one) or the phase's start.
  std::chrono::duration<double> duration{30};
  std::int64_t campaign_id = 0;
  // The opening bell (--opens-in): every connection warms up with a GET of the campaign, the
  // first user of an early_share of them sends an issue 100..1000 ms early, and every
  // connection's first issue after that goes at the bell.
  std::optional<std::chrono::steady_clock::time_point> bell;
  double early_share = 0.1;
  std::vector<int> retry_on{503};  // statuses retried after their Retry-After
  // Non-empty: issue requests carry Idempotency-Key "<prefix>-<user id>-<click>" (click 0 the
  // early refresh, 1 the bell's; retries of a click keep its key).
  std::string idempotency_prefix;
};

struct issue_phase_result {
  issue_measurements measurements;
  std::vector<user_result> users;  // same order as the users passed in
  read_counts reads;               // the campaign reads of the read servers
  std::size_t connections_gave_up = 0;
  std::optional<opening_report> opening;  // with a bell: all but start_at and server metrics
  retry_report retries;
  std::chrono::steady_clock::time_point sending_ended;  // the last issue's answer
};

issue_phase_result run_issue_phase(const issue_phase_options& options,
                                   const std::vector<load_user>& users, live_counters& live,
                                   const std::function<void()>& tick);

// Indexes of the users whose wallets are read: every uncertain user and every user whose answer
// was lost or replayed, then an even sample of the other users that got a definitive answer,
// wallet_check_max in all (negative: all). In ecom_load_core (wallet_sample.cc).
std::vector<std::size_t> pick_wallet_sample(const std::vector<user_result>& users,
                                            std::int64_t wallet_check_max);

// Reads GET /users/{id}/coupons (every page) with the admin token for the chosen users.
std::vector<wallet_result> run_wallet_check(const pool_options& pool, int connection_count,
                                            const std::string& admin_token,
                                            std::int64_t campaign_id,
                                            const std::vector<user_result>& users,
                                            const std::vector<std::size_t>& chosen);

}  // namespace ecom::load
