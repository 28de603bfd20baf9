// The pooled phases of the mixed scenario: the load phase (each connection runs user sessions
// for its slice of users) and the audit's reads (every user's balance, history, orders and
// coupons; every product; the whole event log).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tools/ecom_load/http_transport.h"
#include "tools/ecom_load/load_options.h"
#include "tools/ecom_load/mixed_types.h"
#include "tools/ecom_load/replication_stats.h"

namespace ecom::load {

// Read by the progress display while the load phase runs.
struct mixed_live {
  std::atomic<std::uint64_t> request_count{0};
  std::atomic<std::uint64_t> session_count{0};
  std::atomic<std::uint64_t> paid_count{0};
  std::atomic<std::uint64_t> payment_failed_count{0};
  std::atomic<bool> stop_requested{false};  // set on SIGINT: no new requests
};

struct mixed_phase_options {
  // With pool.read_servers, session k sends its GETs to read server k mod n (its writes to the
  // pool's server) and reads each order back after its last change (order_read).
  pool_options pool;
  int connection_count = 1;
  std::chrono::duration<double> duration{30};
  mixed_options knobs;
  std::string key_prefix;   // starts every Idempotency-Key
  std::string admin_token;  // for the restock connection
};

struct mixed_phase_result {
  mixed_measurements measurements;
  read_counts reads;  // the GETs by server, lag samples, read-your-writes checks
  std::size_t connections_gave_up = 0;
};

// Runs sessions until the duration ends, plus one admin connection restocking a random
// combination (+1..20, or −1..5 one time in five) every 100 ms. Writes what the clients saw
// into users and the restocks into catalog.restocks / restock_uncertain.
mixed_phase_result run_mixed_phase(const mixed_phase_options& options, mixed_catalog& catalog,
                                   std::vector<user_record>& users, mixed_live& live,
                                   const std::function<void()>& tick);

// Reads everything the audit needs with the admin token: users over the pool, products and
// events with one connection.
mixed_server_state read_server_state(const pool_options& pool, int connection_count,
                                     const std::string& admin_token, const mixed_catalog& catalog,
                                     const std::vector<user_record>& users);

}  // namespace ecom::load
