// The writers of the flash-sale figures (tools/ecom_load/sale_output.h) through the summaries
// that call them: the JSON keys and values of open_loop, opening, fairness and retries (nulls
// where the contract says), the human summary's lines (before the invariants line) and the
// report's sections. The summaries are built by hand; no server.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "tests/support/json.h"
#include "tools/ecom_load/sale_output.h"
#include "tools/ecom_load/summary_output.h"

namespace ecom::load {
namespace {

using test::json_value;
using test::parse_json;

// A histogram of count samples per value; values below 256 µs are kept exactly, so the
// percentiles below are exact.
latency_histogram samples(std::initializer_list<std::pair<std::uint64_t, std::uint64_t>> spec) {
  latency_histogram h;
  for (auto [value, count] : spec) {
    for (std::uint64_t i = 0; i < count; ++i) h.record(value);
  }
  return h;
}

// A JSON number (integer or not) as a double; throws (a test failure) on anything else.
double number(const json_value& v) {
  double out = 0;
  if (v.is_null() || v.is_string() || v.is_bool() || v.is_object() || v.is_array() ||
      v.element().get_double().get(out) != simdjson::SUCCESS) {
    throw std::runtime_error(v.path() + " is not a number: " + v.dump());
  }
  return out;
}

std::vector<std::int64_t> ints(const json_value& v) {
  std::vector<std::int64_t> out;
  for (const auto& e : v.elements()) out.push_back(e.as_int());
  return out;
}

std::vector<std::string> sorted_keys(const json_value& v) {
  auto keys = v.keys();
  std::sort(keys.begin(), keys.end());
  return keys;
}

std::size_t key_index(const json_value& v, const std::string& key) {
  auto keys = v.keys();
  return static_cast<std::size_t>(std::find(keys.begin(), keys.end(), key) - keys.begin());
}

std::size_t occurrences(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

std::string human(const auto& summary) {
  std::ostringstream out;
  write_human_summary(out, summary);
  return out.str();
}

fairness_report sample_fairness() {
  fairness_report f;
  f.tolerance_ms = 1;
  f.winners = 1000;
  f.losers = 19000;
  f.origin_ms = -2.5;
  f.bin_ms = 0.5;
  f.winners_per_bin = {600, 400, 0};
  f.losers_per_bin = {0, 9000, 10000};
  return f;
}

retry_report sample_retries() {
  retry_report r;
  r.retry_on = {503};
  r.idempotency = false;
  r.retried_users = 12;
  r.retries = 15;
  r.replayed = 3;
  return r;
}

// A passing FCFS run without --rate or --opens-in.
fcfs_summary sample_fcfs() {
  fcfs_summary s;
  s.url = "http://127.0.0.1:1";
  s.campaign_id = 7;
  s.user_count = 20000;
  s.connection_count = 200;
  s.thread_count = 2;
  s.measurements.request_count = 20000;
  s.measurements.duration_s = 2;
  // The corrected latency of an open-loop run.
  s.measurements.latency = samples({{120, 500}, {180, 490}, {240, 9}, {250, 1}});
  s.measurements.status_counts = {{201, 1000}, {409, 19000}};
  s.measurements.requests_per_slot = {100, 200};
  s.measurements.issued_per_slot = {50, 60};
  s.result.quantity = 1000;
  s.result.issued = 1000;
  s.result.users_asked = 20000;
  s.result.remaining_quantity = 0;
  s.fairness = sample_fairness();
  s.retries = sample_retries();
  return s;
}

open_loop_report sample_open_loop() {
  open_loop_report r;
  r.target_text = "1000/s";
  r.schedule_s = 3;
  r.late_threshold_ms = 10;
  r.run_s = 3;
  r.scheduled = 3000;
  r.sent = 2995;
  r.sent_late = 2;
  r.unsent = 5;
  r.service_latency = samples({{100, 500}, {150, 400}, {200, 90}, {220, 9}, {250, 1}});
  r.send_delay = samples({{5, 980}, {30, 19}, {77, 1}});
  r.slot_s = 0.5;
  r.target_per_slot = {500, 500, 500, 500, 500, 500};
  r.sent_per_slot = {500, 499, 500, 498, 500, 498};
  r.answered_per_slot = {480, 500, 500, 500, 500, 500, 15};
  return r;
}

opening_report sample_opening() {
  opening_report r;
  r.start_at = "2026-05-01T12:00:00.000Z";
  r.opens_in_s = 5;
  r.connections = 200;
  r.connections_warmed = 198;
  r.early_requests = 37;
  r.early_not_active = 36;
  r.not_active_after_bell = 0;
  r.release_spread = samples({{40, 150}, {90, 48}, {130, 2}});
  r.sold_out_after_ms = -1;
  r.first_second_latency = samples({{100, 500}, {150, 400}, {200, 90}, {220, 9}, {250, 1}});
  r.slot_ms = 10;
  r.sent = {150, 40, 10};
  r.issued = {7, 3, 0};
  r.sold_out = {0, 100, 50};
  r.overloaded = {0, 20, 0};
  r.other = {1, 0, 0};
  r.server_metrics = {{-100, 0, 0, -1}, {-50, 2, 3, -1}, {0, 40, 90, -1}, {50, 12, 20, -1}};
  return r;
}

// Goal: without --rate and --opens-in, the fcfs object has fairness and retries (always) with
// the contract's keys, before "invariants" (still last), and no open_loop or opening key.
TEST(sale_output, fcfs_json_has_fairness_and_retries_before_invariants) {
  auto s = sample_fcfs();
  auto j = parse_json(summary_json(s));
  EXPECT_FALSE(j.has("open_loop"));
  EXPECT_FALSE(j.has("opening"));
  auto keys = j.root().keys();
  ASSERT_FALSE(keys.empty());
  EXPECT_EQ(keys.back(), "invariants");
  EXPECT_LT(key_index(j.root(), "fairness"), key_index(j.root(), "retries"));
  EXPECT_LT(key_index(j.root(), "retries"), key_index(j.root(), "invariants"));
  EXPECT_EQ(j["latency_us"]["p50"].as_int(), 120);  // unchanged: the run's (corrected) latency
  EXPECT_EQ(j["latency_us"]["p999"].as_int(), 240);

  auto f = j["fairness"];
  EXPECT_EQ(sorted_keys(f),
            (std::vector<std::string>{"inverted_loser_share", "inverted_losers",
                                      "inverted_pair_share", "inverted_pairs", "losers", "plot",
                                      "tolerance_ms", "winners", "worst"}));
  EXPECT_DOUBLE_EQ(number(f["tolerance_ms"]), 1.0);
  EXPECT_EQ(f["winners"].as_int(), 1000);
  EXPECT_EQ(f["losers"].as_int(), 19000);
  EXPECT_EQ(f["inverted_losers"].as_int(), 0);
  EXPECT_DOUBLE_EQ(number(f["inverted_loser_share"]), 0.0);
  EXPECT_EQ(f["inverted_pairs"].as_int(), 0);
  EXPECT_DOUBLE_EQ(number(f["inverted_pair_share"]), 0.0);
  EXPECT_TRUE(f["worst"].is_null());
  EXPECT_EQ(sorted_keys(f["plot"]),
            (std::vector<std::string>{"bin_ms", "losers", "origin_ms", "winners"}));
  EXPECT_DOUBLE_EQ(number(f["plot"]["origin_ms"]), -2.5);
  EXPECT_DOUBLE_EQ(number(f["plot"]["bin_ms"]), 0.5);
  EXPECT_EQ(ints(f["plot"]["winners"]), (std::vector<std::int64_t>{600, 400, 0}));
  EXPECT_EQ(ints(f["plot"]["losers"]), (std::vector<std::int64_t>{0, 9000, 10000}));

  auto r = j["retries"];
  EXPECT_EQ(sorted_keys(r), (std::vector<std::string>{"idempotency", "replayed", "retried_users",
                                                      "retries", "retry_on"}));
  EXPECT_EQ(ints(r["retry_on"]), (std::vector<std::int64_t>{503}));
  ASSERT_TRUE(r["idempotency"].is_bool());
  EXPECT_FALSE(r["idempotency"].as_bool());
  EXPECT_EQ(r["retried_users"].as_int(), 12);
  EXPECT_EQ(r["retries"].as_int(), 15);
  EXPECT_EQ(r["replayed"].as_int(), 3);

  s.retries = retry_report{};  // no --retry-on
  s.retries.idempotency = true;
  auto off = parse_json(summary_json(s))["retries"];
  EXPECT_EQ(off["retry_on"].size(), 0u);
  EXPECT_TRUE(off["idempotency"].as_bool());
}

// Goal: the worst inversion is an object with the two users and the gap; the shares are
// fractions written as numbers precise enough for a tiny pair share.
TEST(sale_output, fairness_worst_and_shares) {
  auto s = sample_fcfs();
  s.fairness.inverted_losers = 3;
  s.fairness.inverted_pairs = 5;
  s.fairness.has_worst = true;
  s.fairness.worst_loser_user_id = 123;
  s.fairness.worst_winner_user_id = 456;
  s.fairness.worst_gap_ms = 41.2;
  auto f = parse_json(summary_json(s))["fairness"];
  EXPECT_EQ(f["inverted_losers"].as_int(), 3);
  EXPECT_EQ(f["inverted_pairs"].as_int(), 5);
  EXPECT_NEAR(number(f["inverted_loser_share"]), 3.0 / 19000, 1e-9);
  EXPECT_NEAR(number(f["inverted_pair_share"]), 5.0 / (1000.0 * 19000.0), 1e-12);
  EXPECT_GT(number(f["inverted_pair_share"]), 0.0);
  EXPECT_EQ(sorted_keys(f["worst"]),
            (std::vector<std::string>{"gap_ms", "loser_user_id", "winner_user_id"}));
  EXPECT_EQ(f["worst"]["loser_user_id"].as_int(), 123);
  EXPECT_EQ(f["worst"]["winner_user_id"].as_int(), 456);
  EXPECT_NEAR(number(f["worst"]["gap_ms"]), 41.2, 1e-9);

  std::string out = human(s);
  EXPECT_NE(out.find("\nfairness: 3 of 19,000 losers sent earlier than a winner by more than 1 ms "
                     "(0.02 %); pairs 5 (0.000 %)\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("\nworst: user 123 sent 41.2 ms before user 456, lost while 456 won\n"),
            std::string::npos)
      << out;
}

// Goal: the fcfs summary's new lines, in order, and the invariants line stays last; without a
// worst inversion there is no "worst:" line.
TEST(sale_output, fcfs_human_lines_before_invariants) {
  auto s = sample_fcfs();
  s.retries.idempotency = true;
  std::string out = human(s);
  EXPECT_NE(out.find("\nfairness: 0 of 19,000 losers sent earlier than a winner by more than 1 ms "
                     "(0.00 %); pairs 0 (0.000 %)\n"),
            std::string::npos)
      << out;
  EXPECT_EQ(out.find("worst:"), std::string::npos) << out;
  EXPECT_NE(out.find("\nretries: on 503; idempotency keys on; 12 users retried (15 requests), 3 "
                     "answers replayed\n"),
            std::string::npos)
      << out;
  EXPECT_EQ(out.find("open loop:"), std::string::npos) << out;
  EXPECT_EQ(out.find("opening bell:"), std::string::npos) << out;
  EXPECT_LT(out.find("wallets checked:"), out.find("fairness:"));
  EXPECT_LT(out.find("fairness:"), out.find("retries:"));
  EXPECT_EQ(out.substr(out.size() - 17), "invariants: PASS\n") << out;

  s.retries = retry_report{};
  EXPECT_NE(human(s).find("\nretries: off; idempotency keys off; 0 users retried (0 requests), 0 "
                          "answers replayed\n"),
            std::string::npos)
      << human(s);

  s.open_loop = sample_open_loop();
  s.opening = sample_opening();
  out = human(s);
  std::size_t open_loop = out.find("\nopen loop:"), opening = out.find("\nopening bell:"),
              fairness = out.find("\nfairness:"), retries = out.find("\nretries:"),
              invariants = out.find("\ninvariants: PASS\n");
  ASSERT_NE(open_loop, std::string::npos) << out;
  ASSERT_NE(opening, std::string::npos) << out;
  EXPECT_LT(open_loop, opening);
  EXPECT_LT(opening, fairness);
  EXPECT_LT(fairness, retries);
  EXPECT_LT(retries, invariants);
  EXPECT_EQ(invariants + 18, out.size()) << out;
}

// Goal: the open_loop object's keys and values, in fcfs and in mixed, and its lines (target,
// rates, late and unsent; corrected vs uncorrected latency said plainly).
TEST(sale_output, open_loop_json_and_lines) {
  auto s = sample_fcfs();
  s.open_loop = sample_open_loop();
  auto j = parse_json(summary_json(s));
  ASSERT_TRUE(j.has("open_loop"));
  EXPECT_LT(key_index(j.root(), "open_loop"), key_index(j.root(), "fairness"));
  auto o = j["open_loop"];
  EXPECT_EQ(sorted_keys(o), (std::vector<std::string>{
                                "arrival_rate_per_s", "late_threshold_ms", "run_s", "schedule_s",
                                "scheduled", "send_delay_us", "sent", "sent_late", "series",
                                "service_latency_us", "target", "target_rate_per_s", "unsent"}));
  EXPECT_EQ(o["target"].as_string(), "1000/s");
  EXPECT_DOUBLE_EQ(number(o["schedule_s"]), 3.0);
  EXPECT_DOUBLE_EQ(number(o["late_threshold_ms"]), 10.0);
  EXPECT_DOUBLE_EQ(number(o["run_s"]), 3.0);
  EXPECT_EQ(o["scheduled"].as_int(), 3000);
  EXPECT_EQ(o["sent"].as_int(), 2995);
  EXPECT_EQ(o["sent_late"].as_int(), 2);
  EXPECT_EQ(o["unsent"].as_int(), 5);
  EXPECT_NEAR(number(o["target_rate_per_s"]), 1000.0, 1e-3);
  EXPECT_NEAR(number(o["arrival_rate_per_s"]), 2995.0 / 3, 1e-3);
  auto service = o["service_latency_us"];
  EXPECT_EQ(sorted_keys(service), (std::vector<std::string>{"max", "p50", "p90", "p99", "p999"}));
  EXPECT_EQ(service["p50"].as_int(), 100);
  EXPECT_EQ(service["p90"].as_int(), 150);
  EXPECT_EQ(service["p99"].as_int(), 200);
  EXPECT_EQ(service["p999"].as_int(), 220);
  EXPECT_EQ(service["max"].as_int(), 250);
  auto delay = o["send_delay_us"];
  EXPECT_EQ(sorted_keys(delay), (std::vector<std::string>{"max", "p50", "p99"}));
  EXPECT_EQ(delay["p50"].as_int(), 5);
  EXPECT_EQ(delay["p99"].as_int(), 30);
  EXPECT_EQ(delay["max"].as_int(), 77);
  auto series = o["series"];
  EXPECT_EQ(sorted_keys(series),
            (std::vector<std::string>{"answered", "sent", "slot_s", "target"}));
  EXPECT_DOUBLE_EQ(number(series["slot_s"]), 0.5);
  EXPECT_EQ(ints(series["target"]), (std::vector<std::int64_t>{500, 500, 500, 500, 500, 500}));
  EXPECT_EQ(ints(series["sent"]), (std::vector<std::int64_t>{500, 499, 500, 498, 500, 498}));
  EXPECT_EQ(ints(series["answered"]),
            (std::vector<std::int64_t>{480, 500, 500, 500, 500, 500, 15}));

  std::string out = human(s);
  EXPECT_NE(out.find("\nopen loop: target 1,000/s (constant) for 3.0 s: sent 2,995 at 998.3/s, "
                     "late 2 (> 10 ms), unsent 5\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("\ncorrected latency ms (from each request's intended send time): p50 0.120 "
                     "p99 0.180 p99.9 0.240; uncorrected (from its actual send): p50 0.100 p99 "
                     "0.200; send delay ms p50 0.005 p99 0.030 max 0.077\n"),
            std::string::npos)
      << out;

  s.open_loop->target_text = "30s:1000,60s:2000";
  EXPECT_NE(human(s).find("open loop: target 30s:1000,60s:2000 (stages) for 3.0 s"),
            std::string::npos)
      << human(s);
  EXPECT_EQ(parse_json(summary_json(s))["open_loop"]["target"].as_string(), "30s:1000,60s:2000");
}

mixed_summary sample_mixed() {
  mixed_summary m;
  m.url = "http://127.0.0.1:1";
  m.user_count = 10;
  m.measurements.duration_s = 3;
  auto& pay = m.measurements.ops[static_cast<std::size_t>(mixed_op::pay)];
  pay.record_answer(200, 120);
  pay.record_answer(200, 180);
  m.measurements.requests_per_slot = {1, 1};
  m.measurements.paid_per_slot = {1, 1};
  return m;
}

// Goal: mixed gets the same open_loop object (before "invariants") and lines only with
// --rate/--stages, and no fairness or retries.
TEST(sale_output, mixed_open_loop_only_when_present) {
  auto m = sample_mixed();
  auto plain = parse_json(summary_json(m));
  EXPECT_FALSE(plain.has("open_loop"));
  EXPECT_FALSE(plain.has("fairness"));
  EXPECT_FALSE(plain.has("retries"));
  EXPECT_EQ(human(m).find("open loop:"), std::string::npos);
  EXPECT_EQ(summary_html(m).find("Arrival rate vs answer rate"), std::string::npos);

  m.open_loop = sample_open_loop();
  auto j = parse_json(summary_json(m));
  ASSERT_TRUE(j.has("open_loop"));
  EXPECT_EQ(j.root().keys().back(), "invariants");
  EXPECT_EQ(j["open_loop"]["sent"].as_int(), 2995);
  EXPECT_EQ(j["open_loop"]["service_latency_us"]["p999"].as_int(), 220);
  EXPECT_EQ(ints(j["open_loop"]["series"]["answered"]).size(), 7u);
  std::string out = human(m);
  EXPECT_NE(out.find("\nopen loop: target 1,000/s (constant) for 3.0 s: sent 2,995"),
            std::string::npos)
      << out;
  // The corrected latency is the operations' merged: 120 and 180 µs.
  EXPECT_NE(out.find("intended send time): p50 0.120 p99 0.180 p99.9 0.180;"), std::string::npos)
      << out;
  EXPECT_EQ(out.substr(out.size() - 17), "invariants: PASS\n") << out;
  std::string page = summary_html(m);
  EXPECT_NE(page.find("<h2>Arrival rate vs answer rate</h2>"), std::string::npos);
  EXPECT_EQ(page.find("<h2>Fairness</h2>"), std::string::npos);
}

// Goal: the opening object's keys and values; sold_out_after_ms, wal_group_records, its peak
// and the metrics error are null when there is none.
TEST(sale_output, opening_json_nulls) {
  auto s = sample_fcfs();
  s.opening = sample_opening();
  auto j = parse_json(summary_json(s));
  ASSERT_TRUE(j.has("opening"));
  EXPECT_LT(key_index(j.root(), "opening"), key_index(j.root(), "fairness"));
  auto o = j["opening"];
  EXPECT_EQ(sorted_keys(o), (std::vector<std::string>{
                                "connections", "connections_warmed", "early_not_active",
                                "early_requests", "first_second_latency_us",
                                "not_active_after_bell", "opens_in_s", "release_spread_us",
                                "server_metrics", "sold_out_after_ms", "start_at", "timeline"}));
  EXPECT_EQ(o["start_at"].as_string(), "2026-05-01T12:00:00.000Z");
  EXPECT_DOUBLE_EQ(number(o["opens_in_s"]), 5.0);
  EXPECT_EQ(o["connections"].as_int(), 200);
  EXPECT_EQ(o["connections_warmed"].as_int(), 198);
  EXPECT_EQ(o["early_requests"].as_int(), 37);
  EXPECT_EQ(o["early_not_active"].as_int(), 36);
  EXPECT_EQ(o["not_active_after_bell"].as_int(), 0);
  EXPECT_EQ(sorted_keys(o["release_spread_us"]), (std::vector<std::string>{"max", "p50", "p99"}));
  EXPECT_EQ(o["release_spread_us"]["p50"].as_int(), 40);
  EXPECT_EQ(o["release_spread_us"]["p99"].as_int(), 90);
  EXPECT_EQ(o["release_spread_us"]["max"].as_int(), 130);
  EXPECT_TRUE(o["sold_out_after_ms"].is_null());
  EXPECT_EQ(sorted_keys(o["first_second_latency_us"]),
            (std::vector<std::string>{"max", "p50", "p90", "p99", "p999"}));
  EXPECT_EQ(o["first_second_latency_us"]["p90"].as_int(), 150);
  EXPECT_EQ(o["first_second_latency_us"]["max"].as_int(), 250);
  auto t = o["timeline"];
  EXPECT_EQ(sorted_keys(t), (std::vector<std::string>{"issued", "other", "overloaded", "sent",
                                                      "slot_ms", "sold_out"}));
  EXPECT_DOUBLE_EQ(number(t["slot_ms"]), 10.0);
  EXPECT_EQ(ints(t["sent"]), (std::vector<std::int64_t>{150, 40, 10}));
  EXPECT_EQ(ints(t["issued"]), (std::vector<std::int64_t>{7, 3, 0}));
  EXPECT_EQ(ints(t["sold_out"]), (std::vector<std::int64_t>{0, 100, 50}));
  EXPECT_EQ(ints(t["overloaded"]), (std::vector<std::int64_t>{0, 20, 0}));
  EXPECT_EQ(ints(t["other"]), (std::vector<std::int64_t>{1, 0, 0}));
  auto m = o["server_metrics"];
  EXPECT_EQ(sorted_keys(m), (std::vector<std::string>{"error", "mailbox_depth_peak", "samples",
                                                      "wal_group_records_peak"}));
  ASSERT_EQ(m["samples"].size(), 4u);
  auto third = m["samples"][2];
  EXPECT_EQ(sorted_keys(third), (std::vector<std::string>{"mailbox_depth_max", "mailbox_depth_sum",
                                                          "t_ms", "wal_group_records"}));
  EXPECT_DOUBLE_EQ(number(m["samples"][0]["t_ms"]), -100.0);
  EXPECT_DOUBLE_EQ(number(third["t_ms"]), 0.0);
  EXPECT_EQ(third["mailbox_depth_max"].as_int(), 40);
  EXPECT_EQ(third["mailbox_depth_sum"].as_int(), 90);
  EXPECT_TRUE(third["wal_group_records"].is_null());
  EXPECT_EQ(m["mailbox_depth_peak"].as_int(), 40);
  EXPECT_TRUE(m["wal_group_records_peak"].is_null());
  EXPECT_TRUE(m["error"].is_null());
}

// Goal: the same keys carry numbers and the error text when the run sold out, fsyncs were
// sampled and /metrics failed at some point.
TEST(sale_output, opening_json_values_when_present) {
  auto s = sample_fcfs();
  s.opening = sample_opening();
  s.opening->sold_out_after_ms = 42.5;
  s.opening->server_metrics[2].wal_group_records = 63.5;
  s.opening->server_metrics[3].wal_group_records = 12;
  s.opening->metrics_error = "connect: \"refused\"";
  auto o = parse_json(summary_json(s))["opening"];
  EXPECT_DOUBLE_EQ(number(o["sold_out_after_ms"]), 42.5);
  auto m = o["server_metrics"];
  EXPECT_DOUBLE_EQ(number(m["samples"][2]["wal_group_records"]), 63.5);
  EXPECT_DOUBLE_EQ(number(m["samples"][3]["wal_group_records"]), 12.0);
  EXPECT_TRUE(m["samples"][1]["wal_group_records"].is_null());
  EXPECT_DOUBLE_EQ(number(m["wal_group_records_peak"]), 63.5);
  EXPECT_EQ(m["error"].as_string(), "connect: \"refused\"");
}

// Goal: the opening's three lines say the bell, the warm-up, the early refreshes, the release
// spread, the sell-out and the server's peaks, or plainly that there is none.
TEST(sale_output, opening_lines) {
  auto s = sample_fcfs();
  s.opening = sample_opening();
  std::string out = human(s);
  EXPECT_NE(out.find("\nopening bell: start_at 2026-05-01T12:00:00.000Z (opens in 5.0 s); 198 "
                     "connections warmed of 200; early refreshes 37 (409 COUPON_NOT_ACTIVE 36); "
                     "COUPON_NOT_ACTIVE after the bell 0\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("\nopening second: first issues sent within 0.130 ms of the bell (max; p50 "
                     "0.040 p99 0.090); not sold out; first second latency ms p50 0.100 p99 0.200 "
                     "p99.9 0.220\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("\nserver during the opening: mailbox depth peak 40, WAL group peak n/a (no "
                     "fsync sampled)\n"),
            std::string::npos)
      << out;

  s.opening->sold_out_after_ms = 42.5;
  s.opening->server_metrics[2].wal_group_records = 63.5;
  s.opening->metrics_error = "timeout";
  out = human(s);
  EXPECT_NE(out.find("; sold out 42.5 ms after the bell;"), std::string::npos) << out;
  EXPECT_NE(out.find("\nserver during the opening: mailbox depth peak 40, WAL group peak 63.5 "
                     "records; /metrics not read (timeout)\n"),
            std::string::npos)
      << out;

  s.opening->server_metrics.clear();
  EXPECT_NE(human(s).find("\nserver during the opening: /metrics not read (timeout)\n"),
            std::string::npos)
      << human(s);
}

// Goal: the report has the new sections with their charts, escapes text, shades the inversion
// region only when there are inversions, and leaves out open loop and opening without them.
TEST(sale_output, html_sections) {
  auto s = sample_fcfs();
  std::string plain = summary_html(s);
  EXPECT_NE(plain.find("<h2>Fairness</h2>"), std::string::npos);
  EXPECT_NE(plain.find("<h2>Retries</h2>"), std::string::npos);
  EXPECT_EQ(plain.find("Arrival rate vs answer rate"), std::string::npos);
  EXPECT_EQ(plain.find("Opening bell"), std::string::npos);
  EXPECT_EQ(plain.find("inversions: losers who sent before"), std::string::npos);
  EXPECT_NE(plain.find("Winners and losers by send time"), std::string::npos);
  EXPECT_EQ(occurrences(plain, "<svg"), 3u);  // latency, throughput, fairness

  s.open_loop = sample_open_loop();
  s.opening = sample_opening();
  s.opening->metrics_error = "<script>alert(1)</script>";
  s.fairness.inverted_losers = 3;
  std::string page = summary_html(s);
  for (const char* title :
       {"<h2>Arrival rate vs answer rate</h2>", "<h2>Opening bell</h2>",
        "<h2>Opening second timeline</h2>", "<h2>Server metrics during the opening</h2>",
        "<h2>Fairness</h2>", "<h2>Retries</h2>"}) {
    EXPECT_NE(page.find(title), std::string::npos) << title;
  }
  EXPECT_EQ(occurrences(page, "<svg"), 6u);
  EXPECT_EQ(occurrences(page, "</svg>"), 6u);
  EXPECT_EQ(page.find("<script>"), std::string::npos);
  EXPECT_NE(page.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(page.find("inversions: losers who sent before the last winner"), std::string::npos);
  EXPECT_NE(page.find("<title>issued 7 at 0 ms</title>"), std::string::npos);
  EXPECT_NE(page.find("<title>overloaded 20 at 10 ms</title>"), std::string::npos);
  EXPECT_NE(page.find("<title>9000 losers sent at -2.0 ms</title>"), std::string::npos);
  EXPECT_NE(page.find("<title>the bell</title>"), std::string::npos);
  EXPECT_NE(page.find("stroke-dasharray=\"6 4\""), std::string::npos);  // the target line
  EXPECT_NE(page.find("<td>198 of 200</td>"), std::string::npos);
  EXPECT_NE(page.find("<td>on 503</td>"), std::string::npos);
  EXPECT_NE(page.find("sent late (&gt; 10 ms after their time)"), std::string::npos);
  EXPECT_EQ(page.find("<link"), std::string::npos);  // self-contained
}

}  // namespace
}  // namespace ecom::load
