// The FCFS verdict: counts outcomes and wallets and lists every broken invariant.
#include <algorithm>
#include <cassert>
#include <string>

#include "tools/ecom_load/fcfs_types.h"

namespace ecom::load {

const char* outcome_name(issue_outcome outcome) {
  switch (outcome) {
    case issue_outcome::not_asked:
      return "not_asked";
    case issue_outcome::overloaded:
      return "overloaded";
    case issue_outcome::issued:
      return "issued";
    case issue_outcome::issued_reply_lost:
      return "issued_reply_lost";
    case issue_outcome::sold_out:
      return "sold_out";
    case issue_outcome::already_issued:
      return "already_issued";
    case issue_outcome::not_active:
      return "not_active";
    case issue_outcome::uncertain:
      return "uncertain";
    case issue_outcome::unexpected:
      return "unexpected";
  }
  return "?";
}

namespace {

constexpr std::size_t examples_max = 3;

// Wallet mismatches, reported as one failure line with a few examples.
struct wallet_findings {
  std::int64_t double_holders = 0;
  std::int64_t missing = 0;      // got 201 but holds none
  std::int64_t unexplained = 0;  // holds one without a 201
  std::int64_t wrong_id = 0;     // holds another coupon than the 201 named
  std::int64_t unreadable = 0;
  std::int64_t uncertain_holding = 0;  // transport failures only, and the wallet has one
  std::vector<std::string> examples;

  void note(std::int64_t& counter, std::string example) {
    ++counter;
    if (examples.size() < examples_max) examples.push_back(std::move(example));
  }
  std::int64_t total() const {
    return double_holders + missing + unexplained + wrong_id + unreadable;
  }
};

bool got_coupon(issue_outcome outcome) {
  return outcome == issue_outcome::issued || outcome == issue_outcome::issued_reply_lost;
}

void inspect_wallet(const user_result& user, const wallet_result& wallet,
                    wallet_findings& findings) {
  std::string who = "user " + std::to_string(user.user_id);
  if (!wallet.check_error.empty()) {
    return findings.note(findings.unreadable, who + ": " + wallet.check_error);
  }
  std::int64_t held = wallet.campaign_coupon_count;
  if (held > 1)
    return findings.note(findings.double_holders, who + " holds " + std::to_string(held));
  if (user.outcome == issue_outcome::uncertain) {
    findings.uncertain_holding += held;
    return;
  }
  if (got_coupon(user.outcome) && held == 0) {
    return findings.note(findings.missing, who + " got 201 but holds none");
  }
  if (!got_coupon(user.outcome) && held == 1) {
    return findings.note(findings.unexplained,
                         who + " holds one after " + outcome_name(user.outcome));
  }
  if (user.outcome == issue_outcome::issued && held == 1 &&
      wallet.first_user_coupon_id != user.user_coupon_id) {
    findings.note(findings.wrong_id, who + " holds user coupon " +
                                         std::to_string(wallet.first_user_coupon_id) +
                                         ", the 201 named " + std::to_string(user.user_coupon_id));
  }
}

std::string wallet_failure(const wallet_findings& f) {
  std::string text = "wallets: " + std::to_string(f.double_holders) + " hold two or more, " +
                     std::to_string(f.missing) + " with 201 hold none, " +
                     std::to_string(f.unexplained) + " hold one without a 201, " +
                     std::to_string(f.wrong_id) + " hold another coupon, " +
                     std::to_string(f.unreadable) + " unreadable (";
  for (std::size_t i = 0; i < f.examples.size(); ++i) {
    text += (i ? "; " : "") + f.examples[i];
  }
  return text + ")";
}

std::string unexpected_statuses(const issue_measurements& m) {
  std::string text;
  for (const auto& [status, count] : m.status_counts) {
    if (status == 201 || status == 409 || status == 503) continue;
    text += (text.empty() ? "" : ", ") + std::to_string(status) + " x" + std::to_string(count);
  }
  return text;
}

}  // namespace

verdict judge_fcfs(std::int64_t quantity, const std::optional<campaign_info>& after,
                   const std::string& after_error, const std::vector<user_result>& users,
                   const std::vector<wallet_result>& wallets,
                   const issue_measurements& measurements) {
  assert(wallets.size() == users.size());
  verdict v;
  v.quantity = quantity;
  wallet_findings findings;
  for (std::size_t i = 0; i < users.size(); ++i) {
    ++v.outcome_counts[outcome_name(users[i].outcome)];
    if (wallets[i].checked) {
      ++v.wallets_checked;
      inspect_wallet(users[i], wallets[i], findings);
    }
  }
  auto count = [&](issue_outcome o) { return v.outcome_counts[outcome_name(o)]; };
  v.issued = count(issue_outcome::issued) + count(issue_outcome::issued_reply_lost) +
             findings.uncertain_holding;
  v.users_asked = v.issued + count(issue_outcome::sold_out) + count(issue_outcome::already_issued);
  std::int64_t expected = std::min(quantity, v.users_asked);
  if (v.issued != expected) {
    v.failures.push_back("issued " + std::to_string(v.issued) + ", expected min(quantity " +
                         std::to_string(quantity) + ", users who asked " +
                         std::to_string(v.users_asked) + ") = " + std::to_string(expected));
  }
  if (!after) {
    v.failures.push_back("campaign not readable after the run: " + after_error);
  } else {
    v.remaining_quantity = after->remaining_quantity;
    v.campaign_status = after->status;
    if (after->remaining_quantity != quantity - v.issued) {
      v.failures.push_back("remaining_quantity " + std::to_string(after->remaining_quantity) +
                           ", expected quantity - issued = " + std::to_string(quantity) + " - " +
                           std::to_string(v.issued) + " = " + std::to_string(quantity - v.issued));
    }
    if (after->remaining_quantity == 0 && after->status != "SOLD_OUT" &&
        after->status != "CLOSED") {
      v.failures.push_back("remaining_quantity 0 but status " + after->status);
    }
  }
  if (count(issue_outcome::already_issued) > 0) {
    v.failures.push_back(std::to_string(count(issue_outcome::already_issued)) +
                         " users got COUPON_ALREADY_ISSUED on their first request");
  }
  if (findings.total() > 0) v.failures.push_back(wallet_failure(findings));
  if (count(issue_outcome::unexpected) > 0) {
    std::string statuses = unexpected_statuses(measurements);
    v.failures.push_back(std::to_string(count(issue_outcome::unexpected)) +
                         " users got an unexpected answer" +
                         (statuses.empty() ? std::string(" (409 with another code)")
                                           : " (statuses " + statuses + ")"));
  }
  return v;
}

void judge_retries(const retry_report& retries, verdict& result) {
  if (!retries.idempotency) return;
  auto it = result.outcome_counts.find(outcome_name(issue_outcome::issued_reply_lost));
  if (it == result.outcome_counts.end() || it->second == 0) return;
  result.failures.push_back(std::to_string(it->second) +
                            " users got COUPON_ALREADY_ISSUED on a retry with the same "
                            "Idempotency-Key (expected the first answer replayed)");
}

}  // namespace ecom::load
