// Plain data shared by the phases of the FCFS scenario (setup, issue, wallet check, verdict)
// and by the summary writers; no I/O here.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tools/ecom_load/latency_histogram.h"
#include "tools/ecom_load/replication_stats.h"
#include "tools/ecom_load/sale_types.h"

namespace ecom::load {

struct load_user {
  std::int64_t id = 0;
  std::string access_token;
};

struct campaign_info {
  std::int64_t id = 0;
  std::int64_t total_quantity = 0;
  std::int64_t remaining_quantity = 0;
  std::string status;
};

// What the issue phase learned about one user. Only the connection owning the user writes it.
enum class issue_outcome : std::uint8_t {
  not_asked,          // no definitive answer (deadline, or the connection gave up)
  overloaded,         // only 503 OVERLOADED answers before the deadline (changed nothing)
  issued,             // 201
  issued_reply_lost,  // COUPON_ALREADY_ISSUED on a retry after a transport failure
  sold_out,           // 409 COUPON_SOLD_OUT
  already_issued,     // 409 COUPON_ALREADY_ISSUED on a user that never asked before: a bug
  not_active,         // 409 COUPON_NOT_ACTIVE
  uncertain,          // transport failures only: the wallet check decides
  unexpected,         // any other status
};

struct user_result {
  std::int64_t user_id = 0;
  issue_outcome outcome = issue_outcome::not_asked;
  std::int64_t user_coupon_id = 0;  // from the 201 body
  // When the request that decided was sent (write started), µs since the phase's reference (the
  // bell with --opens-in, else the phase start; an early refresh that decided is negative);
  // sent_us_none when none decided. After a lost answer the request that decided is the first
  // one of its key (or of the user's ask, without keys), not the retry that learnt the answer.
  // The fairness audit's input.
  static constexpr std::int64_t sent_us_none = std::numeric_limits<std::int64_t>::min();
  std::int64_t sent_us = sent_us_none;
  std::uint32_t attempts = 0;  // issue requests sent for this user after the bell (or start)
  bool replayed = false;       // the deciding answer had Idempotent-Replayed: true
  bool answer_lost = false;    // an attempt failed in transport: it may have been applied
};

// What GET /users/{id}/coupons showed for one user (coupons of the campaign only).
struct wallet_result {
  bool checked = false;
  std::string check_error;  // why the wallet could not be read
  std::int64_t campaign_coupon_count = 0;
  std::int64_t first_user_coupon_id = 0;
};

// Everything the issue phase measured, merged over the I/O threads.
struct issue_measurements {
  std::uint64_t request_count = 0;
  std::uint64_t transport_error_count = 0;
  double duration_s = 0;
  latency_histogram latency;
  std::map<int, std::uint64_t> status_counts;          // HTTP status → answers
  std::map<std::string, std::uint64_t> problem_codes;  // problem+json code → answers
  double slot_s = 0.1;                                 // width of one series slot
  std::vector<std::uint64_t> requests_per_slot;
  std::vector<std::uint64_t> issued_per_slot;
  // The race, from the bell (or the phase's start): when the last 201 arrived (-1: none), and
  // the latency of the issues sent in its first second.
  double last_issue_after_ms = -1;
  latency_histogram first_second_latency;
};

struct verdict {
  std::int64_t quantity = 0;
  std::int64_t users_asked = 0;
  std::int64_t issued = 0;
  std::int64_t remaining_quantity = -1;  // -1 when the campaign could not be read
  std::string campaign_status;
  std::int64_t wallets_checked = 0;
  std::map<std::string, std::int64_t> outcome_counts;
  std::vector<std::string> failures;
  bool pass() const { return failures.empty(); }
};

struct fcfs_summary {
  std::string url;
  std::int64_t campaign_id = 0;
  std::int64_t user_count = 0;
  int connection_count = 0;
  int thread_count = 0;
  issue_measurements measurements;
  verdict result;
  std::optional<replication_report> replication;  // with --read-url only
  std::optional<open_loop_report> open_loop;      // with --rate or --stages only
  std::optional<opening_report> opening;          // with --opens-in only
  fairness_report fairness;
  retry_report retries;
};

const char* outcome_name(issue_outcome outcome);

// With idempotency keys, a retry gets the first answer replayed: a user whose retry saw
// COUPON_ALREADY_ISSUED instead (issued_reply_lost) means the key was not honoured; a FAIL.
void judge_retries(const retry_report& retries, verdict& result);

// Applies the invariants: issued = min(quantity, users who asked); remaining_quantity =
// quantity − issued; nobody holds two coupons of the campaign; users with 201 hold exactly
// one (the one they got), users without hold none; no first request is COUPON_ALREADY_ISSUED;
// no unexpected status. quantity is the campaign's total_quantity, so coupons issued outside
// the run make it FAIL. after is the campaign read after the run (nullopt: after_error says why).
verdict judge_fcfs(std::int64_t quantity, const std::optional<campaign_info>& after,
                   const std::string& after_error, const std::vector<user_result>& users,
                   const std::vector<wallet_result>& wallets,
                   const issue_measurements& measurements);

}  // namespace ecom::load
