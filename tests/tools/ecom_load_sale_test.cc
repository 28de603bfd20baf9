// End-to-end tests of ecom-load's flash-sale features against a real ecomd: the opening bell
// (--opens-in), open-loop rates (--rate, --stages), the fairness audit, retries with
// Idempotency-Keys (--idempotency, --retry-on), and the misuse of their options. ecom-load runs
// as a child process with --json; where the network has to misbehave (a slow server, a held-back
// connection, a lost answer) it talks to the server through tests/support/tcp_proxy (its own
// tests: tcp_proxy_test.cc). Each test prints the figures it measured as "figure: ..." lines.
#include <cmath>
#include <iostream>

#include "tests/e2e/e2e_fixture.h"
#include "tests/support/tcp_proxy.h"
#include "tests/tools/ecom_load_process.h"

namespace ecom::test {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using steady = std::chrono::steady_clock;

// The --json object of a run; throws (a test failure) with the whole run when it is not JSON.
json_doc summary_of(const process_result& run) {
  try {
    return parse_json(run.out);
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string(e.what()) + "\n" + run.describe());
  }
}

// ---- reading the summary ----

// Any JSON number (integer or not) as a double; throws naming the path otherwise.
double number(const json_value& value) {
  auto element = value.element();
  int64_t i = 0;
  uint64_t u = 0;
  double d = 0;
  if (element.get_int64().get(i) == simdjson::SUCCESS) return static_cast<double>(i);
  if (element.get_uint64().get(u) == simdjson::SUCCESS) return static_cast<double>(u);
  if (element.get_double().get(d) == simdjson::SUCCESS) return d;
  throw std::runtime_error(value.path() + " is not a number: " + value.dump());
}

// object[key] as an integer, 0 when the key is absent (user_outcomes and problem_codes list
// only what happened).
int64_t count_or_zero(const json_value& object, std::string_view key) {
  return object.has(key) ? object[key].as_int() : 0;
}

int64_t sum_of(const json_value& array) {
  int64_t sum = 0;
  for (const auto& item : array.elements()) sum += item.as_int();
  return sum;
}

// Sum of array[begin, end) (clamped to its size).
int64_t sum_of(const json_value& array, size_t begin, size_t end) {
  auto items = array.elements();
  int64_t sum = 0;
  for (size_t i = begin; i < std::min(end, items.size()); ++i) sum += items[i].as_int();
  return sum;
}

::testing::AssertionResult within_percent(double value, double expected, double percent) {
  if (std::abs(value - expected) <= expected * percent / 100) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << value << " is not within " << percent << " % of " << expected;
}

void print_figure(const std::string& text) {
  std::cout << "figure: " << text << std::endl;
}

// ---- ecom-load's flash-sale features ----

// fcfs with --json against url: users race for quantity coupons on connections.
std::vector<std::string> fcfs_args(const std::string& url, int users, int quantity,
                                   int connections) {
  return with(scenario_args("fcfs", url, std::string(k_admin_token), users, connections),
              {"--quantity", std::to_string(quantity), "--json"});
}

class ecom_load_sale : public shared_server_test {
 protected:
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server().port()); }

  json_doc read_campaign(int64_t campaign_id) {
    auto response = client().get("/coupons/fcfs/" + std::to_string(campaign_id));
    if (response.status != 200) throw std::runtime_error("campaign: " + describe(response));
    return parse_json(response.body);
  }
};

// The checks every passing fcfs run shares: exit 0, invariants pass, and the issued count is the
// outcomes' and min(quantity, users asked).
void expect_passing_fcfs(const process_result& run, const json_doc& summary) {
  EXPECT_EQ(run.exit_code, 0) << run.describe();
  EXPECT_TRUE(summary["invariants"]["pass"].as_bool()) << summary["invariants"].dump();
  auto outcomes = summary["user_outcomes"];
  int64_t issued = summary["issued"].as_int();
  EXPECT_EQ(issued,
            count_or_zero(outcomes, "issued") + count_or_zero(outcomes, "issued_reply_lost"))
      << outcomes.dump();
  EXPECT_EQ(issued, std::min(summary["quantity"].as_int(), summary["users_asked"].as_int()));
  EXPECT_EQ(summary["remaining_quantity"].as_int(), summary["quantity"].as_int() - issued);
}

// Goal: the opening bell sells out exactly, with every connection warm, the early refreshes
// refused as not active and nothing refused after the bell. Method: 20,000 users race for 1,000
// coupons on 64 connections, the campaign opening 4 s after setup; the opening report, the
// problem codes and the campaign read back through the API agree.
TEST_F(ecom_load_sale, opening_bell_sells_out_exactly_with_warm_connections) {
  auto run =
      run_ecom_load(with(fcfs_args(url(), 20'000, 1'000, 64),
                         {"--opens-in", "4", "--duration", "60", "--wallet-check-max", "2000"}),
                    seconds(150));
  auto summary = summary_of(run);
  expect_passing_fcfs(run, summary);
  EXPECT_EQ(summary["issued"].as_int(), 1'000);
  EXPECT_EQ(summary["remaining_quantity"].as_int(), 0);
  auto campaign = read_campaign(summary["campaign_id"].as_int());
  EXPECT_EQ(campaign["status"].as_string(), "SOLD_OUT");
  EXPECT_EQ(campaign["remaining_quantity"].as_int(), 0);

  ASSERT_TRUE(summary.has("opening")) << run.out;
  auto opening = summary["opening"];
  EXPECT_EQ(number(opening["opens_in_s"]), 4.0);
  EXPECT_FALSE(opening["start_at"].as_string().empty());
  EXPECT_EQ(opening["connections"].as_int(), 64);
  EXPECT_EQ(opening["connections_warmed"].as_int(), opening["connections"].as_int());
  int64_t early = opening["early_requests"].as_int();
  EXPECT_GT(early, 0);
  EXPECT_EQ(opening["early_not_active"].as_int(), early);
  EXPECT_EQ(count_or_zero(summary["problem_codes"], "COUPON_NOT_ACTIVE"), early);
  EXPECT_EQ(opening["not_active_after_bell"].as_int(), 0);

  auto timeline = opening["timeline"];
  EXPECT_EQ(number(timeline["slot_ms"]), 10.0);
  for (const char* series : {"sent", "issued", "sold_out", "overloaded", "other"}) {
    EXPECT_EQ(timeline[series].size(), 100u) << series;
  }
  ASSERT_FALSE(opening["sold_out_after_ms"].is_null()) << opening.dump();
  double sold_out_after_ms = number(opening["sold_out_after_ms"]);
  EXPECT_GE(sold_out_after_ms, 0);
  int64_t issued_in_first_second = sum_of(timeline["issued"]);
  if (sold_out_after_ms < 1000) {
    EXPECT_EQ(issued_in_first_second, 1'000);
  } else {
    EXPECT_LE(issued_in_first_second, 1'000);
  }
  EXPECT_GT(sum_of(timeline["sent"]), 0);

  auto metrics = opening["server_metrics"];
  EXPECT_TRUE(metrics["error"].is_null()) << metrics.dump();
  EXPECT_GT(metrics["samples"].size(), 0u) << metrics.dump();
  for (const auto& sample : metrics["samples"].elements()) {
    EXPECT_GE(sample["mailbox_depth_max"].as_int(), 0);
    EXPECT_GE(sample["mailbox_depth_sum"].as_int(), sample["mailbox_depth_max"].as_int());
  }
  EXPECT_GE(metrics["mailbox_depth_peak"].as_int(), 0);

  auto spread = opening["release_spread_us"];
  int64_t spread_max = spread["max"].as_int();
  EXPECT_LE(spread["p50"].as_int(), spread_max);
  EXPECT_LT(spread_max, 250'000) << spread.dump();
  print_figure("opening release_spread_us " + spread.dump() + ", sold_out_after_ms " +
               std::to_string(sold_out_after_ms) + ", early_requests " + std::to_string(early) +
               ", first_second_latency_us " + opening["first_second_latency_us"].dump() +
               ", mailbox_depth_peak " + std::to_string(metrics["mailbox_depth_peak"].as_int()));
}

// Goal: --rate on an idle server keeps its schedule, fcfs and mixed alike. Method: fcfs at
// 1,000/s for 3 s on 16 connections, then mixed at 300/s for 3 s: nothing unsent, the arrival
// rate and the count sent within 2 % of the target.
TEST_F(ecom_load_sale, constant_rate_on_an_idle_server_keeps_the_schedule) {
  auto run =
      run_ecom_load(with(fcfs_args(url(), 5'000, 100, 16),
                         {"--rate", "1000", "--duration", "3", "--wallet-check-max", "500"}));
  auto summary = summary_of(run);
  expect_passing_fcfs(run, summary);
  ASSERT_TRUE(summary.has("open_loop")) << run.out;
  auto loop = summary["open_loop"];
  EXPECT_EQ(loop["unsent"].as_int(), 0) << loop.dump();
  EXPECT_TRUE(within_percent(number(loop["arrival_rate_per_s"]), 1000, 2)) << loop.dump();
  EXPECT_TRUE(within_percent(loop["sent"].as_int(), 3000, 2)) << loop.dump();
  EXPECT_TRUE(within_percent(number(loop["target_rate_per_s"]), 1000, 2)) << loop.dump();
  EXPECT_EQ(number(loop["schedule_s"]), 3.0);
  EXPECT_EQ(number(loop["late_threshold_ms"]), 10.0);
  print_figure("fcfs --rate 1000: sent " + std::to_string(loop["sent"].as_int()) + ", sent_late " +
               std::to_string(loop["sent_late"].as_int()) + ", arrival_rate_per_s " +
               std::to_string(number(loop["arrival_rate_per_s"])) + ", send_delay_us " +
               loop["send_delay_us"].dump());

  auto mixed =
      run_ecom_load(with(scenario_args("mixed", url(), admin(), 60, 16),
                         {"--products", "6", "--rate", "300", "--duration", "3", "--json"}));
  auto mixed_summary = summary_of(mixed);
  EXPECT_EQ(mixed.exit_code, 0) << mixed.describe();
  EXPECT_TRUE(mixed_summary["invariants"]["pass"].as_bool()) << mixed.out;
  ASSERT_TRUE(mixed_summary.has("open_loop")) << mixed.out;
  auto mixed_loop = mixed_summary["open_loop"];
  EXPECT_EQ(mixed_loop["unsent"].as_int(), 0) << mixed_loop.dump();
  EXPECT_TRUE(within_percent(number(mixed_loop["arrival_rate_per_s"]), 300, 2))
      << mixed_loop.dump();
  EXPECT_TRUE(within_percent(mixed_loop["sent"].as_int(), 900, 2)) << mixed_loop.dump();
  print_figure("mixed --rate 300: sent " + std::to_string(mixed_loop["sent"].as_int()) +
               ", sent_late " + std::to_string(mixed_loop["sent_late"].as_int()) +
               ", arrival_rate_per_s " + std::to_string(number(mixed_loop["arrival_rate_per_s"])));
}

// Goal: against a server slower than the rate, the open loop reports what it could not send and
// corrects the latency for coordinated omission. Method: every request held 50 ms by the proxy,
// fcfs at 500/s for 2 s on 4 connections (at most ~80/s fit): requests unsent and sent late,
// the corrected latency p50 above the service p50 (itself >= the 50 ms hold), invariants pass.
TEST_F(ecom_load_sale, constant_rate_on_a_slow_server_counts_late_and_unsent) {
  tcp_proxy proxy(server().port(), delay_requests([](size_t) { return milliseconds(50); }));
  auto run = run_ecom_load(
      with(fcfs_args(proxy.url(), 2'000, 100, 4), {"--rate", "500", "--duration", "2"}));
  auto summary = summary_of(run);
  expect_passing_fcfs(run, summary);
  ASSERT_TRUE(summary.has("open_loop")) << run.out;
  auto loop = summary["open_loop"];
  EXPECT_GT(loop["unsent"].as_int(), 0) << loop.dump();
  EXPECT_GT(loop["sent_late"].as_int(), 0) << loop.dump();
  int64_t service_p50 = loop["service_latency_us"]["p50"].as_int();
  EXPECT_GE(service_p50, 50'000) << loop.dump();
  EXPECT_GT(summary["latency_us"]["p50"].as_int(), service_p50) << summary["latency_us"].dump();
  print_figure("slow server: sent " + std::to_string(loop["sent"].as_int()) + ", sent_late " +
               std::to_string(loop["sent_late"].as_int()) + ", unsent " +
               std::to_string(loop["unsent"].as_int()) + ", corrected p50 us " +
               std::to_string(summary["latency_us"]["p50"].as_int()) + ", service p50 us " +
               std::to_string(service_p50));
}

// Goal: --stages ramps the arrival rate from 0 as a k6 ramping-arrival-rate does. Method:
// "1s:200,2s:600" is 100 requests in the first second and 800 in the next two (900 in all,
// within 2 %); the series' sent per second rises (about 100, 300, 500).
TEST_F(ecom_load_sale, stages_ramp_the_arrival_rate) {
  auto run = run_ecom_load(with(fcfs_args(url(), 2'000, 100, 16),
                                {"--stages", "1s:200,2s:600", "--wallet-check-max", "500"}));
  auto summary = summary_of(run);
  expect_passing_fcfs(run, summary);
  ASSERT_TRUE(summary.has("open_loop")) << run.out;
  auto loop = summary["open_loop"];
  EXPECT_EQ(loop["unsent"].as_int(), 0) << loop.dump();
  EXPECT_TRUE(within_percent(loop["sent"].as_int(), 900, 2)) << loop.dump();
  EXPECT_EQ(number(loop["schedule_s"]), 3.0);
  auto series = loop["series"];
  double slot_s = number(series["slot_s"]);
  ASSERT_GT(slot_s, 0);
  auto per_second = static_cast<size_t>(std::lround(1.0 / slot_s));
  ASSERT_GE(per_second, 1u) << series.dump();
  int64_t first = sum_of(series["sent"], 0, per_second);
  int64_t second = sum_of(series["sent"], per_second, 2 * per_second);
  int64_t third = sum_of(series["sent"], 2 * per_second, 3 * per_second);
  EXPECT_LT(first, second) << series.dump();
  EXPECT_LT(second, third) << series.dump();
  EXPECT_NEAR(first, 100, 15) << series.dump();
  EXPECT_NEAR(second, 300, 30) << series.dump();
  EXPECT_NEAR(third, 500, 50) << series.dump();
  EXPECT_TRUE(within_percent(sum_of(series["target"]), 900, 2)) << series.dump();
  print_figure("stages: sent " + std::to_string(loop["sent"].as_int()) + " (per second " +
               std::to_string(first) + ", " + std::to_string(second) + ", " +
               std::to_string(third) + "), sent_late " +
               std::to_string(loop["sent_late"].as_int()));
}

// Goal: a server that serves issues first come, first served shows no inverted loser at the
// default tolerance (1 ms). Method: 3,000 users race for 300 coupons on 32 connections; 300
// winners, 2,700 losers, none of whom sent more than 1 ms before a winner.
TEST_F(ecom_load_sale, fifo_server_has_no_inverted_losers) {
  auto run = run_ecom_load(fcfs_args(url(), 3'000, 300, 32));
  auto summary = summary_of(run);
  expect_passing_fcfs(run, summary);
  auto fairness = summary["fairness"];
  EXPECT_EQ(number(fairness["tolerance_ms"]), 1.0);
  EXPECT_EQ(fairness["winners"].as_int(), 300);
  EXPECT_EQ(fairness["losers"].as_int(), 2'700);
  print_figure("fifo fairness: inverted_losers " +
               std::to_string(fairness["inverted_losers"].as_int()) + ", inverted_pairs " +
               std::to_string(fairness["inverted_pairs"].as_int()) + ", worst " +
               fairness["worst"].dump());
  EXPECT_EQ(fairness["inverted_losers"].as_int(), 0) << fairness.dump();
  EXPECT_EQ(fairness["inverted_pairs"].as_int(), 0);
  EXPECT_TRUE(fairness["worst"].is_null()) << fairness["worst"].dump();
  auto plot = fairness["plot"];
  EXPECT_EQ(sum_of(plot["winners"]), 300);
  EXPECT_EQ(sum_of(plot["losers"]), 2'700);
}

// Goal: the fairness audit sees connections held back on the way to the server. Method: the
// proxy holds every request of a quarter of the connections (index % 4 == 1; index 0 is the
// setup connection) for 100 ms; 3,000 users race for 300 coupons on 16 connections, and the
// others sell out in a few tens of ms. The first users of the held connections sent before
// winners and lost: inverted losers, the worst by more than 5 ms (five times the tolerance; the
// FIFO test shows loopback alone stays under 1 ms).
TEST_F(ecom_load_sale, held_back_connections_show_as_inverted_losers) {
  tcp_proxy proxy(server().port(), delay_requests([](size_t index) {
                    return index % 4 == 1 ? milliseconds(100) : milliseconds(0);
                  }));
  // The wallet check shares out its users between the connections up front: a small sample keeps
  // the held ones from making it slow.
  auto run =
      run_ecom_load(with(fcfs_args(proxy.url(), 3'000, 300, 16), {"--wallet-check-max", "400"}));
  auto summary = summary_of(run);
  expect_passing_fcfs(run, summary);
  auto fairness = summary["fairness"];
  print_figure("held back fairness: inverted_losers " +
               std::to_string(fairness["inverted_losers"].as_int()) + ", worst " +
               fairness["worst"].dump() + ", proxied connections " +
               std::to_string(proxy.connections()));
  EXPECT_GT(fairness["inverted_losers"].as_int(), 0) << fairness.dump();
  EXPECT_GT(fairness["inverted_pairs"].as_int(), 0);
  EXPECT_GT(number(fairness["inverted_loser_share"]), 0);
  ASSERT_FALSE(fairness["worst"].is_null()) << fairness.dump();
  EXPECT_GT(number(fairness["worst"]["gap_ms"]), 5.0) << fairness["worst"].dump();
  EXPECT_NE(fairness["worst"]["loser_user_id"].as_int(),
            fairness["worst"]["winner_user_id"].as_int());
}

// Goal: with --idempotency a retry after a lost 201 gets the first answer replayed, not
// COUPON_ALREADY_ISSUED; without it the same loss shows as issued_reply_lost. Method: the proxy
// cuts every 50th answer to an issue request (1,000 users, 1,000 coupons: every answer is a
// 201), first with --idempotency, then without; each cut is one retry.
TEST_F(ecom_load_sale, idempotent_retries_replay_a_lost_201) {
  const tcp_proxy_rules cut_issues = cut_answers(50, "/issue");
  {
    tcp_proxy proxy(server().port(), cut_issues);
    auto run = run_ecom_load(with(fcfs_args(proxy.url(), 1'000, 1'000, 8), {"--idempotency"}));
    auto summary = summary_of(run);
    expect_passing_fcfs(run, summary);
    size_t cuts = proxy.cuts();
    EXPECT_GT(cuts, 0u);
    auto retries = summary["retries"];
    auto outcomes = summary["user_outcomes"];
    EXPECT_TRUE(retries["idempotency"].as_bool());
    EXPECT_GT(retries["replayed"].as_int(), 0) << retries.dump();
    // Each cut is one retry; a retry can be cut too, so a user may be retried twice, but each
    // retried user's deciding answer is the replay.
    EXPECT_EQ(retries["retries"].as_int(), static_cast<int64_t>(cuts)) << retries.dump();
    EXPECT_GT(retries["retried_users"].as_int(), 0) << retries.dump();
    EXPECT_EQ(retries["replayed"].as_int(), retries["retried_users"].as_int()) << retries.dump();
    EXPECT_EQ(count_or_zero(outcomes, "issued_reply_lost"), 0) << outcomes.dump();
    EXPECT_EQ(count_or_zero(outcomes, "already_issued"), 0) << outcomes.dump();
    EXPECT_EQ(count_or_zero(outcomes, "uncertain"), 0) << outcomes.dump();
    EXPECT_EQ(summary["issued"].as_int(), 1'000);
    print_figure("idempotency: cuts " + std::to_string(cuts) + ", retries " + retries.dump());
  }
  {
    tcp_proxy proxy(server().port(), cut_issues);
    auto run = run_ecom_load(fcfs_args(proxy.url(), 1'000, 1'000, 8));
    auto summary = summary_of(run);
    expect_passing_fcfs(run, summary);
    size_t cuts = proxy.cuts();
    EXPECT_GT(cuts, 0u);
    auto outcomes = summary["user_outcomes"];
    EXPECT_FALSE(summary["retries"]["idempotency"].as_bool());
    EXPECT_EQ(summary["retries"]["replayed"].as_int(), 0);
    auto retries = summary["retries"];
    EXPECT_GT(count_or_zero(outcomes, "issued_reply_lost"), 0) << outcomes.dump();
    EXPECT_EQ(retries["retries"].as_int(), static_cast<int64_t>(cuts)) << retries.dump();
    EXPECT_EQ(count_or_zero(outcomes, "issued_reply_lost"), retries["retried_users"].as_int())
        << outcomes.dump() << retries.dump();
    EXPECT_EQ(summary["issued"].as_int(), 1'000);
    print_figure("no idempotency: cuts " + std::to_string(cuts) + ", retries " + retries.dump() +
                 ", outcomes " + outcomes.dump());
  }
}

// Goal: misuse of the flash-sale options exits 2 naming the option, before any request (the
// URL is a closed port: reaching for it would exit 3).
TEST_F(ecom_load_sale, sale_options_misuse_exits_2_naming_the_option) {
  std::string dead = "http://127.0.0.1:" + std::to_string(closed_port());
  struct misuse {
    std::vector<std::string> args;
    std::string message;
  };
  std::vector<std::string> fcfs{"fcfs", "--url", dead, "--admin-token", "t"};
  std::vector<std::string> mixed{"mixed", "--url", dead, "--admin-token", "t"};
  std::vector<misuse> cases{
      {with(fcfs, {"--rate", "100", "--stages", "1s:10"}), "--rate and --stages"},
      {with(fcfs, {"--stages", "3x:10"}), "--stages: stage '3x:10'"},
      {with(fcfs, {"--stages", ""}), "--stages: no stages"},
      {with(fcfs, {"--stages", "1s:10", "--duration", "5"}), "--stages and --duration"},
      {with(mixed, {"--opens-in", "5"}), "--opens-in belongs to the fcfs scenario"},
      {with(fcfs, {"--rate", "0"}), "--rate must be in"},
      {with(fcfs, {"--retry-on", "200"}), "--retry-on 200"},
      {with(fcfs, {"--fairness-tolerance-ms", "-1"}), "--fairness-tolerance-ms must be in"},
      {with(fcfs, {"--fairness-tolerance-ms=-1"}), "--fairness-tolerance-ms must be in"},
  };
  for (const auto& c : cases) {
    auto run = run_ecom_load(c.args, seconds(20));
    std::string shown;
    for (const auto& arg : c.args) shown += arg + " ";
    EXPECT_EQ(run.exit_code, 2) << shown << "\n" << run.describe();
    EXPECT_NE(run.err.find(c.message), std::string::npos) << shown << "\n" << run.describe();
  }
}

// ---- a server that refuses work: --mailbox-depth-max 1 ----

class ecom_load_overloaded : public shared_server_test {
 public:
  static void SetUpTestSuite() { start_shared_server({"--mailbox-depth-max", "1"}); }

 protected:
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server().port()); }
};

// Goal: --retry-on none leaves users overloaded, and the default (503) retries them after
// Retry-After until answered. Method: a server whose shard mailboxes hold 1 command; 64
// connections flood it without retries (overloaded users, OVERLOADED codes, no retry), then 400
// users on 16 connections with the default retry: retries, and no user ends overloaded.
TEST_F(ecom_load_overloaded, retry_on_decides_whether_overloaded_users_ask_again) {
  auto run = run_ecom_load(
      with(fcfs_args(url(), 2'000, 100, 64), {"--retry-on", "none", "--duration", "20"}));
  auto summary = summary_of(run);
  expect_passing_fcfs(run, summary);
  auto outcomes = summary["user_outcomes"];
  EXPECT_GT(count_or_zero(outcomes, "overloaded"), 0) << outcomes.dump();
  EXPECT_GT(count_or_zero(summary["problem_codes"], "OVERLOADED"), 0)
      << summary["problem_codes"].dump();
  EXPECT_EQ(summary["retries"]["retries"].as_int(), 0) << summary["retries"].dump();
  EXPECT_EQ(summary["retries"]["retry_on"].size(), 0u);
  print_figure("retry-on none: outcomes " + outcomes.dump() + ", problem_codes " +
               summary["problem_codes"].dump());

  auto retried = run_ecom_load(with(fcfs_args(url(), 400, 100, 16), {"--duration", "60"}));
  auto retried_summary = summary_of(retried);
  expect_passing_fcfs(retried, retried_summary);
  auto retries = retried_summary["retries"];
  EXPECT_EQ(retries["retry_on"].size(), 1u);
  EXPECT_EQ(retries["retry_on"][0].as_int(), 503);
  EXPECT_GT(retries["retries"].as_int(), 0) << retries.dump();
  auto retried_outcomes = retried_summary["user_outcomes"];
  EXPECT_EQ(count_or_zero(retried_outcomes, "overloaded"), 0) << retried_outcomes.dump();
  EXPECT_EQ(count_or_zero(retried_outcomes, "not_asked"), 0) << retried_outcomes.dump();
  EXPECT_EQ(retried_summary["users_asked"].as_int(), 400);
  print_figure("retry-on 503: retries " + retries.dump() + ", outcomes " + retried_outcomes.dump());
}

}  // namespace
}  // namespace ecom::test
