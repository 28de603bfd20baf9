// The flash-sale parts of ecom-load without a server: the arrival schedule (--rate, --stages),
// the pacer's accounting, the fairness audit, the /metrics parser and the new options.
#include <gtest/gtest.h>

#include <thread>

#include "tools/ecom_load/arrival_schedule.h"
#include "tools/ecom_load/fairness_audit.h"
#include "tools/ecom_load/fcfs_run.h"
#include "tools/ecom_load/load_options.h"
#include "tools/ecom_load/open_loop.h"
#include "tools/ecom_load/server_metrics.h"

namespace ecom::load {
namespace {

// Goal: a constant rate puts request i at i / rate, and nothing at or past the end.
TEST(arrival_schedule, constant_rate_spaces_requests_evenly) {
  auto schedule = arrival_schedule::constant(1000, 3);
  EXPECT_DOUBLE_EQ(schedule.duration_s(), 3);
  EXPECT_DOUBLE_EQ(schedule.due_s(0), 0);
  EXPECT_NEAR(schedule.due_s(1), 0.001, 1e-12);
  EXPECT_NEAR(schedule.due_s(2999), 2.999, 1e-9);
  EXPECT_GE(schedule.due_s(3000), schedule.duration_s());
  EXPECT_EQ(schedule.due_before(3), 3000u);
  EXPECT_EQ(schedule.due_before(1.5), 1500u);
  EXPECT_EQ(schedule.due_before(0.0005), 1u);  // request 0 at t = 0
  EXPECT_EQ(schedule.due_before(0), 0u);
}

// Goal: stages ramp linearly from 0 like k6's ramping-arrival-rate, and due_s inverts
// due_before. Method: 0→200 over 1 s (100 requests), 200→600 over 2 s (800), flat 600 for 1 s.
TEST(arrival_schedule, ramping_stages_integrate_and_invert) {
  auto schedule = arrival_schedule::ramping({{1, 200}, {2, 600}, {1, 600}});
  EXPECT_DOUBLE_EQ(schedule.duration_s(), 4);
  EXPECT_EQ(schedule.due_before(1), 100u);
  EXPECT_EQ(schedule.due_before(3), 900u);
  EXPECT_EQ(schedule.due_before(4), 1500u);
  EXPECT_EQ(schedule.due_before(0.5), 25u);  // ∫0..0.5 of 200t = 25
  for (std::uint64_t i : {0u, 1u, 24u, 25u, 99u, 100u, 101u, 500u, 899u, 900u, 1499u}) {
    double t = schedule.due_s(i);
    EXPECT_LT(t, schedule.duration_s()) << i;
    // Request i is the (i+1)-th due: i due strictly before t, i + 1 due up to just past t.
    EXPECT_LE(schedule.due_before(t), i) << i;
    EXPECT_EQ(schedule.due_before(t + 1e-7), i + 1) << i << " at " << t;
  }
  EXPECT_GE(schedule.due_s(1500), schedule.duration_s());
  // A ramp down to 0 ends the schedule's requests with it.
  auto down = arrival_schedule::ramping({{1, 100}, {1, 0}});
  EXPECT_EQ(down.due_before(2), 100u);
  EXPECT_GE(down.due_s(100), down.duration_s());
}

// Goal: --stages text is parsed with its units, and every kind of mistake names the stage.
TEST(arrival_schedule, stages_text) {
  auto stages = parse_arrival_stages("30s:1000,1m:20000,500ms:0.5,1h:0", 86'400);
  ASSERT_EQ(stages.size(), 4u);
  EXPECT_DOUBLE_EQ(stages[0].duration_s, 30);
  EXPECT_DOUBLE_EQ(stages[0].target_per_s, 1000);
  EXPECT_DOUBLE_EQ(stages[1].duration_s, 60);
  EXPECT_DOUBLE_EQ(stages[2].duration_s, 0.5);
  EXPECT_DOUBLE_EQ(stages[2].target_per_s, 0.5);
  EXPECT_DOUBLE_EQ(stages[3].duration_s, 3600);
  for (const char* bad : {"", "30s", "30:100", "30x:100", "s:100", "30s:-1", "30s:abc", "0s:100",
                          "30s:100,", "30s:2000000", "25h:1"}) {
    EXPECT_THROW(parse_arrival_stages(bad, 86'400), stages_error) << bad;
  }
}

// Goal: the pacer hands out the schedule's times in order, stops at its end, and counts what
// was due but never sent as unsent (taken-and-abandoned times are not, unless due after the
// end). Method: a 1000/s schedule of 1 s, started 2 s ago: every time is in the past, 10 are
// sent, 2 abandoned within the schedule and one after it.
TEST(arrival_pacer, unsent_is_due_minus_sent_and_abandoned) {
  using clock = arrival_pacer::clock;
  arrival_pacer pacer(arrival_schedule::constant(1000, 1), "1000/s", 10, 2, 0.1);
  auto t0 = clock::now() - std::chrono::seconds(2);
  pacer.start(t0);
  EXPECT_FALSE(pacer.take().has_value());  // the schedule has ended: nothing more is sent
  arrival_pacer live(arrival_schedule::constant(1000, 1), "1000/s", 10, 2, 0.1);
  live.start(clock::now() - std::chrono::milliseconds(500));
  std::vector<clock::time_point> times;
  for (int i = 0; i < 12; ++i) times.push_back(*live.take());
  for (int i = 1; i < 12; ++i) EXPECT_EQ(times[i] - times[i - 1], std::chrono::milliseconds(1));
  for (int i = 0; i < 10; ++i) {
    auto write_start = times[i] + std::chrono::milliseconds(i < 5 ? 1 : 20);
    live.record(i % 2, times[i], write_start, write_start + std::chrono::milliseconds(2),
                std::chrono::milliseconds(2));
  }
  live.abandon(times[10]);
  live.abandon(times[11]);
  live.abandon(live.t0() + std::chrono::seconds(5));  // due after the end: not subtracted
  auto report = live.report(live.t0() + std::chrono::milliseconds(1500));  // past the end
  EXPECT_DOUBLE_EQ(report.run_s, 1);
  EXPECT_EQ(report.scheduled, 1000u);
  EXPECT_EQ(report.sent, 10u);
  EXPECT_EQ(report.sent_late, 5u);  // 20 ms > 10 ms
  EXPECT_EQ(report.unsent, 1000u - 12u);
  EXPECT_EQ(report.service_latency.count(), 10u);
  EXPECT_EQ(report.target_per_slot.size(), 10u);
  EXPECT_EQ(report.target_per_slot[0], 100u);
}

user_result decided(std::int64_t id, issue_outcome outcome, std::int64_t sent_us) {
  user_result u;
  u.user_id = id;
  u.outcome = outcome;
  u.sent_us = sent_us;
  return u;
}

// Goal: a FIFO outcome has no inversion; a loser who sent earlier than a winner (beyond the
// tolerance) is one, and the worst pair is named.
TEST(fairness_audit, counts_inversions_beyond_the_tolerance) {
  std::vector<user_result> fifo{
      decided(1, issue_outcome::issued, 0), decided(2, issue_outcome::issued, 500),
      decided(3, issue_outcome::sold_out, 900), decided(4, issue_outcome::sold_out, 5000)};
  auto fair = audit_fairness(fifo, 1);
  EXPECT_EQ(fair.winners, 2u);
  EXPECT_EQ(fair.losers, 2u);
  EXPECT_EQ(fair.inverted_losers, 0u);
  EXPECT_FALSE(fair.has_worst);
  // Within the tolerance: loser 3 sent 0.9 ms before winner 5 is no inversion at 1 ms.
  fifo.push_back(decided(5, issue_outcome::issued, 1800));
  EXPECT_EQ(audit_fairness(fifo, 1).inverted_losers, 0u);
  EXPECT_EQ(audit_fairness(fifo, 0.5).inverted_losers, 1u);
  // Loser 6 sent at 100 µs, winners 2 (500 µs) and 7 (40 ms) later: 7 beyond 1 ms; 2 not.
  fifo.push_back(decided(6, issue_outcome::sold_out, 100));
  fifo.push_back(decided(7, issue_outcome::issued, 40'000));
  fifo.push_back(decided(8, issue_outcome::uncertain, 0));                         // left out
  fifo.push_back(decided(9, issue_outcome::sold_out, user_result::sent_us_none));  // left out
  auto unfair = audit_fairness(fifo, 1);
  EXPECT_EQ(unfair.winners, 4u);
  EXPECT_EQ(unfair.losers, 3u);
  EXPECT_EQ(unfair.inverted_losers, 3u);  // 6, 3 and 4 all sent before 7
  EXPECT_EQ(unfair.inverted_pairs, 4u);   // 6: {5, 7}; 3: {7}; 4: {7}
  ASSERT_TRUE(unfair.has_worst);
  EXPECT_EQ(unfair.worst_loser_user_id, 6);
  EXPECT_EQ(unfair.worst_winner_user_id, 7);
  EXPECT_DOUBLE_EQ(unfair.worst_gap_ms, 39.9);
  EXPECT_NEAR(unfair.inverted_loser_share(), 1.0, 1e-12);
  // The plot covers every send time in 1 ms bins from the first.
  EXPECT_DOUBLE_EQ(unfair.origin_ms, 0);
  EXPECT_DOUBLE_EQ(unfair.bin_ms, 1);
  EXPECT_EQ(unfair.winners_per_bin.size(), 41u);
  EXPECT_EQ(unfair.winners_per_bin[0], 2u);
  EXPECT_EQ(unfair.losers_per_bin[0], 2u);
  EXPECT_EQ(unfair.winners_per_bin[40], 1u);
}

// Goal: the /metrics lines ecom-load needs are read, others skipped, and a sample gives the WAL's
// records per fsync between two scrapes.
TEST(server_metrics, parse_and_sample) {
  const char* first =
      "# TYPE ecomd_shard_mailbox_depth gauge\n"
      "ecomd_shard_mailbox_depth{shard=\"0\"} 3\n"
      "ecomd_shard_mailbox_depth{shard=\"1\"} 40\n"
      "ecomd_wal_records_total 1000\n"
      "ecomd_wal_fsyncs_total 10\n"
      "ecomd_wal_fsync_duration_seconds_sum 0.25\n"
      "ecomd_http_requests_total{route=\"x\"} 7\n";
  auto a = parse_metrics_text(first);
  EXPECT_EQ(a.mailbox_depth_max, 40);
  EXPECT_EQ(a.mailbox_depth_sum, 43);
  EXPECT_EQ(a.shard_count, 2);
  EXPECT_EQ(a.wal_records, 1000);
  EXPECT_EQ(a.wal_fsyncs, 10);
  auto b = parse_metrics_text("ecomd_wal_records_total 1600\necomd_wal_fsyncs_total 14");
  auto sample = sample_between(a, b, 50);
  EXPECT_DOUBLE_EQ(sample.wal_group_records, 150);
  EXPECT_DOUBLE_EQ(sample.t_ms, 50);
  EXPECT_EQ(sample.mailbox_depth_max, 0);
  EXPECT_DOUBLE_EQ(sample_between(b, b, 100).wal_group_records, -1);  // no fsync between
  EXPECT_EQ(parse_metrics_text("").wal_records, -1);
}

load_options parse(std::vector<std::string> args) {
  args.insert(args.end(), {"--url", "http://127.0.0.1:1", "--admin-token", "t"});
  auto result = parse_load_options(args, nullptr);
  if (!result.options) throw std::runtime_error("help printed");
  return *result.options;
}

// Goal: the open-loop and sale options parse into the options struct, and misuse is a
// usage_error naming the option.
TEST(load_options, sale_and_open_loop_options) {
  auto rate = parse({"fcfs", "--rate", "250", "--duration", "4", "--late-ms", "5"});
  EXPECT_TRUE(rate.open_loop());
  EXPECT_DOUBLE_EQ(*rate.rate_per_s, 250);
  EXPECT_DOUBLE_EQ(rate.late_ms, 5);
  auto stages = parse({"mixed", "--stages", "2s:100,3s:0"});
  EXPECT_EQ(stages.stages.size(), 2u);
  EXPECT_DOUBLE_EQ(stages.duration_s, 5);
  auto bell = parse({"fcfs", "--opens-in", "3", "--early-share", "0.5", "--retry-on", "429,503",
                     "--idempotency", "--fairness-tolerance-ms", "2"});
  EXPECT_DOUBLE_EQ(*bell.opens_in_s, 3);
  EXPECT_DOUBLE_EQ(bell.early_share, 0.5);
  EXPECT_EQ(bell.retry_on, (std::vector<int>{429, 503}));
  EXPECT_TRUE(bell.idempotency);
  EXPECT_DOUBLE_EQ(bell.fairness_tolerance_ms, 2);
  EXPECT_TRUE(parse({"fcfs", "--retry-on", "none"}).retry_on.empty());
  EXPECT_EQ(parse({"fcfs"}).retry_on, (std::vector<int>{503}));
  struct misuse {
    std::vector<std::string> args;
    std::string message;
  };
  for (const auto& m : std::vector<misuse>{
           {{"fcfs", "--rate", "10", "--stages", "1s:1"}, "--rate and --stages"},
           {{"fcfs", "--stages", "1s:1", "--duration", "3"}, "--stages and --duration"},
           {{"fcfs", "--stages", "3x:10"}, "--stages: stage '3x:10'"},
           {{"fcfs", "--rate", "0"}, "--rate must be"},
           {{"fcfs", "--late-ms", "3"}, "--late-ms needs --rate or --stages"},
           {{"mixed", "--opens-in", "3"}, "--opens-in belongs to the fcfs scenario"},
           {{"fcfs", "--opens-in", "0.1"}, "--opens-in must be in"},
           {{"fcfs", "--opens-in", "3", "--campaign", "4"}, "excludes --campaign"},
           {{"fcfs", "--early-share", "0.3"}, "--early-share needs --opens-in"},
           {{"fcfs", "--retry-on", "200"}, "--retry-on 200"},
           {{"fcfs", "--fairness-tolerance-ms", "-1"}, "--fairness-tolerance-ms must be in"},
       }) {
    try {
      parse(m.args);
      ADD_FAILURE() << "accepted: " << m.message;
    } catch (const usage_error& e) {
      EXPECT_NE(std::string(e.what()).find(m.message), std::string::npos) << e.what();
    }
  }
}

// Goal: the wallet check always reads the users whose answer was lost or replayed (a retry must
// never have given two coupons) and samples the rest within the cap, a retry after a refusal
// that changed nothing (503) included. Method: 100 decided users, 3 with a lost answer, 1
// replayed, 20 retried after 503; a cap of 10.
TEST(wallet_sample, always_reads_lost_and_replayed_answers_and_samples_the_rest) {
  std::vector<user_result> users(100);
  for (std::size_t i = 0; i < users.size(); ++i) {
    users[i].user_id = static_cast<std::int64_t>(i);
    users[i].outcome = i < 10 ? issue_outcome::issued : issue_outcome::sold_out;
    users[i].attempts = i >= 50 && i < 70 ? 2 : 1;  // retried after a 503
  }
  for (std::size_t i : {5, 40, 90}) users[i].answer_lost = true;
  users[95].replayed = true;
  users[99].outcome = issue_outcome::not_asked;
  users[99].answer_lost = true;  // never decided: nothing to read
  auto chosen = pick_wallet_sample(users, 10);
  EXPECT_EQ(chosen.size(), 10u);
  for (std::size_t must : {5, 40, 90, 95}) {
    EXPECT_NE(std::find(chosen.begin(), chosen.end(), must), chosen.end()) << must;
  }
  EXPECT_EQ(std::find(chosen.begin(), chosen.end(), 99u), chosen.end());
  auto retried =
      std::count_if(chosen.begin(), chosen.end(), [](std::size_t i) { return i >= 50 && i < 70; });
  EXPECT_LT(retried, 6);                                 // sampled evenly, not all 20 read
  EXPECT_EQ(pick_wallet_sample(users, -1).size(), 99u);  // no cap: every decided user
}

}  // namespace
}  // namespace ecom::load
