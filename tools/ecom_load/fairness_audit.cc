// Inversions are counted against the sorted winners' send times: a loser who sent at s is
// inverted by every winner who sent after s + tolerance.
#include "tools/ecom_load/fairness_audit.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace ecom::load {

namespace {

struct timed_user {
  std::int64_t sent_us;
  std::int64_t user_id;
};

// Fills the plot's bins: bin_ms doubles until fairness_bins_max bins cover every send time.
void fill_plot(const std::vector<timed_user>& winners, const std::vector<timed_user>& losers,
               fairness_report& report) {
  if (winners.empty() && losers.empty()) return;
  std::int64_t first = std::numeric_limits<std::int64_t>::max();
  std::int64_t last = std::numeric_limits<std::int64_t>::min();
  for (const auto* group : {&winners, &losers}) {
    for (const auto& u : *group) {
      first = std::min(first, u.sent_us);
      last = std::max(last, u.sent_us);
    }
  }
  double bin_us = 1000;
  while ((last - first) / bin_us >= static_cast<double>(fairness_bins_max)) bin_us *= 2;
  std::size_t bins = static_cast<std::size_t>((last - first) / bin_us) + 1;
  report.origin_ms = static_cast<double>(first) / 1000;
  report.bin_ms = bin_us / 1000;
  report.winners_per_bin.assign(bins, 0);
  report.losers_per_bin.assign(bins, 0);
  for (const auto& u : winners) {
    ++report.winners_per_bin[static_cast<std::size_t>((u.sent_us - first) / bin_us)];
  }
  for (const auto& u : losers) {
    ++report.losers_per_bin[static_cast<std::size_t>((u.sent_us - first) / bin_us)];
  }
}

}  // namespace

fairness_report audit_fairness(const std::vector<user_result>& users, double tolerance_ms) {
  fairness_report report;
  report.tolerance_ms = tolerance_ms;
  std::vector<timed_user> winners, losers;
  for (const auto& u : users) {
    if (u.sent_us == user_result::sent_us_none) continue;
    if (u.outcome == issue_outcome::issued || u.outcome == issue_outcome::issued_reply_lost) {
      winners.push_back({u.sent_us, u.user_id});
    }
    if (u.outcome == issue_outcome::sold_out) losers.push_back({u.sent_us, u.user_id});
  }
  report.winners = winners.size();
  report.losers = losers.size();
  auto by_time = [](const timed_user& a, const timed_user& b) { return a.sent_us < b.sent_us; };
  std::sort(winners.begin(), winners.end(), by_time);
  auto tolerance_us = static_cast<std::int64_t>(std::llround(tolerance_ms * 1000));
  for (const auto& loser : losers) {
    // Winners who sent strictly later than loser.sent_us + tolerance.
    auto later = std::upper_bound(winners.begin(), winners.end(),
                                  timed_user{loser.sent_us + tolerance_us, 0}, by_time);
    auto count = static_cast<std::uint64_t>(winners.end() - later);
    if (count == 0) continue;
    ++report.inverted_losers;
    report.inverted_pairs += count;
    const timed_user& latest = winners.back();
    double gap_ms = static_cast<double>(latest.sent_us - loser.sent_us) / 1000;
    if (!report.has_worst || gap_ms > report.worst_gap_ms) {
      report.has_worst = true;
      report.worst_gap_ms = gap_ms;
      report.worst_loser_user_id = loser.user_id;
      report.worst_winner_user_id = latest.user_id;
    }
  }
  fill_plot(winners, losers, report);
  return report;
}

}  // namespace ecom::load
