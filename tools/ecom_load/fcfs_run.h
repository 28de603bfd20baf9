// The two pooled phases of the FCFS scenario: every connection issues for its slice of users
// (issue phase), then reads the wallets of the users that asked (wallet check).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
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
  pool_options pool;
  int connection_count = 1;
  std::chrono::duration<double> duration{30};
  std::int64_t campaign_id = 0;
};

struct issue_phase_result {
  issue_measurements measurements;
  std::vector<user_result> users;  // same order as the users passed in
  read_counts reads;               // the campaign reads of the read servers
  std::size_t connections_gave_up = 0;
};

issue_phase_result run_issue_phase(const issue_phase_options& options,
                                   const std::vector<load_user>& users, live_counters& live,
                                   const std::function<void()>& tick);

// Indexes of the users whose wallets are read: every uncertain user, then an even sample of
// the other users that got a definitive answer, wallet_check_max in all (negative: all).
std::vector<std::size_t> pick_wallet_sample(const std::vector<user_result>& users,
                                            std::int64_t wallet_check_max);

// Reads GET /users/{id}/coupons (every page) with the admin token for the chosen users.
std::vector<wallet_result> run_wallet_check(const pool_options& pool, int connection_count,
                                            const std::string& admin_token,
                                            std::int64_t campaign_id,
                                            const std::vector<user_result>& users,
                                            const std::vector<std::size_t>& chosen);

}  // namespace ecom::load
