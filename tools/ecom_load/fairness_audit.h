// The fairness audit of an FCFS sale: from each user's send time and outcome, the losers who
// sent earlier than some winner (beyond a tolerance), the worst such pair, and the plot's bins.
// Pure arithmetic on the issue phase's results.
#pragma once

#include <vector>

#include "tools/ecom_load/fcfs_types.h"

namespace ecom::load {

// Winners are users with outcome issued, losers those with sold_out; users without a send time
// (sent_us < 0) or with another outcome are left out. O(n log n).
fairness_report audit_fairness(const std::vector<user_result>& users, double tolerance_ms);

}  // namespace ecom::load
