// Before the measured run with --read-url: wait until every read server (standby) is ready and
// has applied what setup wrote on the primary, so the run's reads find the setup's users,
// products and campaign.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

#include "tools/ecom_load/load_options.h"

namespace ecom::load {

inline constexpr std::chrono::seconds standby_wait_max{30};

// For each read server in turn: GET /readyz until 200, then GET /products?limit=1 with
// X-Ecomd-Min-Lsn: lsn (when lsn >= 0) until 200 with X-Ecomd-Lsn >= lsn, or 200 without the
// header (a server that does not replicate). 503 (NOT_READY, REPLICA_BEHIND) and transport
// failures are retried after Retry-After (at most 1 s) or 200 ms. At most standby_wait_max for
// all of them; a line on stderr when each wait starts and ends and every 2 s meanwhile. Throws
// setup_error (exit 3) naming the --read-url and its last answer. Returns the seconds waited.
double wait_for_read_servers(const std::vector<server_url>& read_urls, std::int64_t lsn);

}  // namespace ecom::load
