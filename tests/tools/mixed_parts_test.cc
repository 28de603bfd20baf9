// The mixed scenario's pure parts besides the audit: parsers of the server's answers, the
// setup plan, and the summary writers.
#include <gtest/gtest.h>

#include <sstream>

#include "tools/ecom_load/mixed_types.h"
#include "tools/ecom_load/summary_output.h"

namespace ecom::load {
namespace {

const char* order_json =
    R"({"id":12,"user_id":3,"status":"PAID","items":[{"product_id":1,"combination_id":11,)"
    R"("product_name":"p","combination_name":"red-S","quantity":2,"unit_price":1500,)"
    R"("line_total":3000}],"total_amount":3000,"discount_amount":0,"final_amount":3000,)"
    R"("user_coupon_id":null,"ordered_at":"2026-01-01T00:00:00.000Z","expires_at":"x",)"
    R"("paid_at":"y","cancelled_at":null})";

TEST(mixed_parse, order_with_null_coupon) {
  server_order o;
  ASSERT_EQ(parse_order(order_json, o), "");
  EXPECT_EQ(o.id, 12);
  EXPECT_EQ(o.user_id, 3);
  EXPECT_EQ(o.status, "PAID");
  ASSERT_EQ(o.items.size(), 1u);
  EXPECT_EQ(o.items[0].combination_id, 11);
  EXPECT_EQ(o.items[0].quantity, 2);
  EXPECT_EQ(o.items[0].line_total, 3000);
  EXPECT_EQ(o.final_amount, 3000);
  EXPECT_EQ(o.user_coupon_id, 0);
}

TEST(mixed_parse, orders_page_and_cursor) {
  std::vector<server_order> orders;
  std::string cursor;
  std::string page =
      std::string(R"({"items":[)") + order_json + "," + order_json + R"(],"next_cursor":"abc=="})";
  ASSERT_EQ(parse_orders_page(page, orders, cursor), "");
  EXPECT_EQ(orders.size(), 2u);
  EXPECT_EQ(cursor, "abc==");
  ASSERT_EQ(parse_orders_page(R"({"items":[],"next_cursor":null})", orders, cursor), "");
  EXPECT_EQ(cursor, "");
  EXPECT_NE(parse_orders_page(R"({"items":[{"id":1}]})", orders, cursor), "");
  EXPECT_NE(parse_orders_page("not json", orders, cursor), "");
}

TEST(mixed_parse, balance_history_coupons_events_product) {
  std::int64_t balance = 0;
  ASSERT_EQ(parse_balance(R"({"user_id":1,"balance":4200,"updated_at":"x"})", balance), "");
  EXPECT_EQ(balance, 4200);

  std::vector<balance_entry> history;
  std::string cursor;
  ASSERT_EQ(parse_balance_page(
                R"({"items":[{"id":2,"type":"USE","amount":-800,"balance_before":5000,)"
                R"("balance_after":4200,"order_id":9,"created_at":"x"},{"id":1,"type":"CHARGE",)"
                R"("amount":5000,"balance_before":0,"balance_after":5000,"order_id":null}],)"
                R"("next_cursor":null})",
                history, cursor),
            "");
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[0].order_id, 9);
  EXPECT_EQ(history[1].order_id, 0);
  EXPECT_EQ(history[1].type, "CHARGE");

  std::vector<server_coupon> coupons;
  ASSERT_EQ(parse_coupons_page(R"({"items":[{"id":5,"status":"USED","fcfs_coupon_id":7},)"
                               R"({"id":6,"status":"AVAILABLE","fcfs_coupon_id":null}],)"
                               R"("next_cursor":"n1"})",
                               coupons, cursor),
            "");
  ASSERT_EQ(coupons.size(), 2u);
  EXPECT_EQ(coupons[0].fcfs_coupon_id, 7);
  EXPECT_EQ(coupons[1].fcfs_coupon_id, 0);
  EXPECT_EQ(cursor, "n1");

  std::vector<event_record> events;
  std::int64_t last_seq = 0;
  ASSERT_EQ(parse_events_page(std::string(R"({"items":[{"seq":4,"type":"ORDER_PAID","at":"x",)"
                                          R"("order":)") +
                                  order_json + R"(}],"last_seq":4})",
                              events, last_seq),
            "");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].seq, 4);
  EXPECT_EQ(events[0].order_id, 12);
  EXPECT_EQ(last_seq, 4);

  std::vector<popular_item> popular;
  ASSERT_EQ(parse_popular(R"({"days":1,"items":[{"rank":1,"product_id":4,"name":"x",)"
                          R"("sold_quantity":12}]})",
                          popular),
            "");
  ASSERT_EQ(popular.size(), 1u);
  EXPECT_EQ(popular[0].product_id, 4);
  EXPECT_EQ(popular[0].sold_quantity, 12);

  product_info product;
  ASSERT_EQ(parse_product(R"({"id":3,"name":"n","combinations":[{"id":31,"name":"default",)"
                          R"("options":{},"additional_price":0,"price":1200,"stock":9}]})",
                          product),
            "");
  EXPECT_EQ(product.id, 3);
  ASSERT_EQ(product.combinations.size(), 1u);
  EXPECT_EQ(product.combinations[0].price, 1200);
  EXPECT_EQ(product.combinations[0].initial_stock, 9);
}

TEST(mixed_parse, reply_fields_of_an_order_and_a_problem) {
  reply_fields order;
  ASSERT_TRUE(parse_reply_fields(order_json, order));
  EXPECT_EQ(order.id, 12);
  EXPECT_EQ(order.status, "PAID");
  EXPECT_EQ(order.final_amount, 3000);
  reply_fields problem;
  ASSERT_TRUE(parse_reply_fields(
      R"({"type":"t","title":"x","status":409,"detail":"d","code":"OUT_OF_STOCK"})", problem));
  EXPECT_EQ(problem.code, "OUT_OF_STOCK");
  EXPECT_EQ(problem.id, 0);
  EXPECT_FALSE(parse_reply_fields("", problem));
}

TEST(mixed_parse, url_encode_keeps_unreserved) {
  EXPECT_EQ(url_encode("aZ0-_.~"), "aZ0-_.~");
  EXPECT_EQ(url_encode("a+b/c=="), "a%2Bb%2Fc%3D%3D");
}

TEST(mixed_plan, deterministic_and_within_ranges) {
  auto a = plan_mixed_setup(30, 1000, 0.3, 7, "c");
  auto b = plan_mixed_setup(30, 1000, 0.3, 7, "c");
  auto c = plan_mixed_setup(30, 1000, 0.3, 8, "c");
  EXPECT_EQ(a.product_bodies, b.product_bodies);
  EXPECT_EQ(a.charges, b.charges);
  EXPECT_NE(a.product_bodies, c.product_bodies);
  ASSERT_EQ(a.product_bodies.size(), 30u);
  ASSERT_EQ(a.charges.size(), 1000u);
  int with_options = 0;
  for (const auto& body : a.product_bodies) {
    EXPECT_EQ(body.front(), '{');
    EXPECT_NE(body.find("\"stock\":"), std::string::npos) << body;
    if (body.find("\"options\"") != std::string::npos) ++with_options;
  }
  EXPECT_GT(with_options, 0);
  EXPECT_LT(with_options, 30);
  std::int64_t low = a.charges.front(), high = a.charges.front();
  int coupons = 0;
  for (std::size_t i = 0; i < a.charges.size(); ++i) {
    EXPECT_GE(a.charges[i], 1);
    EXPECT_LE(a.charges[i], 10'000'000);
    low = std::min(low, a.charges[i]);
    high = std::max(high, a.charges[i]);
    coupons += a.gets_coupon[i] ? 1 : 0;
  }
  EXPECT_LT(low * 4, high);  // some users can afford much more than others
  EXPECT_GT(coupons, 200);
  EXPECT_LT(coupons, 400);
  EXPECT_NE(a.coupon_body.find("\"min_order_amount\":5000"), std::string::npos);
  EXPECT_EQ(a.coupon.amount, 3000);
  EXPECT_TRUE(plan_mixed_setup(5, 10, 0.0, 1, "c").gets_coupon == std::vector<bool>(10, false));
}

TEST(mixed_plan, some_stock_is_scarce) {
  auto plan = plan_mixed_setup(100, 10'000, 0.3, 1, "c");
  std::vector<std::int64_t> stocks;
  for (const auto& body : plan.product_bodies) {
    for (std::size_t at = body.find("\"stock\":"); at != std::string::npos;
         at = body.find("\"stock\":", at + 1)) {
      stocks.push_back(std::stoll(body.substr(at + 8)));
    }
  }
  ASSERT_FALSE(stocks.empty());
  std::sort(stocks.begin(), stocks.end());
  EXPECT_GE(stocks.front(), 1);
  EXPECT_LT(stocks[stocks.size() / 10] * 5, stocks[stocks.size() / 2]);
}

mixed_summary sample_summary() {
  mixed_summary s;
  s.url = "http://127.0.0.1:1";
  s.user_count = 10;
  s.product_count = 2;
  s.combination_count = 7;
  s.campaign_id = 3;
  s.connection_count = 4;
  s.thread_count = 2;
  s.measurements.duration_s = 2;
  s.measurements.session_count = 20;
  auto& pay = s.measurements.ops[static_cast<std::size_t>(mixed_op::pay)];
  for (int i = 0; i < 10; ++i) pay.record_answer(200, 1000 + i);
  pay.record_answer(409, 5000);
  pay.record_problem(409, "INSUFFICIENT_BALANCE");
  s.measurements.requests_per_slot = {5, 6};
  s.measurements.paid_per_slot = {1, 2};
  s.result.orders_seen = 11;
  s.result.order_status_counts = {{"PAID", 10}, {"PAYMENT_FAILED", 1}};
  return s;
}

TEST(mixed_summary, human_json_and_html) {
  auto s = sample_summary();
  std::ostringstream text;
  write_human_summary(text, s);
  std::string out = text.str();
  EXPECT_NE(out.find("pay                      11       5.5     1.007     5.000     5.000  200:10"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("200:10 409 INSUFFICIENT_BALANCE:1"), std::string::npos) << out;
  EXPECT_NE(out.find("orders: 11 (PAID 10, PAYMENT_FAILED 1)"), std::string::npos) << out;
  EXPECT_EQ(out.substr(out.size() - 17), "invariants: PASS\n") << out;

  std::string json = summary_json(s);
  EXPECT_NE(json.find("\"pay\":{\"requests\":11,\"requests_per_s\":5.500"), std::string::npos)
      << json;
  EXPECT_NE(json.find("\"invariants\":{\"pass\":true,\"failures\":[]}"), std::string::npos) << json;

  s.result.failures = {"stock != initial: 1 (x)"};
  EXPECT_EQ(invariants_line(s.result), "invariants: FAIL stock != initial: 1 (x)");
  std::string page = summary_html(s);
  EXPECT_NE(page.find("<h1>ecom-load mixed</h1>"), std::string::npos);
  EXPECT_NE(page.find("paid orders/s"), std::string::npos);
  EXPECT_NE(page.find("class=\"fail\""), std::string::npos);
}

TEST(replication_stats, lag_samples_and_counts) {
  EXPECT_EQ(lag_sample(100, 90), std::optional<std::uint64_t>(10));
  EXPECT_EQ(lag_sample(100, 120), std::optional<std::uint64_t>(0));  // applied more since
  EXPECT_FALSE(lag_sample(-1, 90));                                  // no primary LSN yet
  EXPECT_FALSE(lag_sample(100, -1));                                 // no X-Ecomd-Lsn
  EXPECT_TRUE(is_replica_behind(503, R"({"status":503,"code":"REPLICA_BEHIND"})"));
  EXPECT_FALSE(is_replica_behind(503, R"({"status":503,"code":"OVERLOADED"})"));

  read_counts a(2), b(2);
  a.record_standby(0, 200, "{}", 95, 100);
  a.record_standby(0, 503, R"({"code":"REPLICA_BEHIND"})", 40, 100);
  a.record_standby(1, 200, "{}", -1, 100);  // answered without the header: no sample
  b.record_standby(1, 0, "", -1, 100);      // transport failure
  b.primary_reads = 7;
  b.note_stale("user 1 order 2: expected PAID, read PENDING_PAYMENT");
  a.merge(b);
  EXPECT_EQ(a.standbys[0].answers, 2u);
  EXPECT_EQ(a.standbys[0].replica_behind, 1u);
  EXPECT_EQ(a.standbys[0].lag_records.count(), 2u);
  EXPECT_EQ(a.standbys[0].lag_records.max_us(), 60u);
  EXPECT_EQ(a.standbys[1].answers, 1u);
  EXPECT_EQ(a.standbys[1].transport_errors, 1u);
  EXPECT_EQ(a.standbys[1].lag_records.count(), 0u);
  EXPECT_EQ(a.primary_reads, 7u);
  EXPECT_EQ(a.stale_own_reads, 1u);
  EXPECT_NE(stale_reads_failure(a).find("read-your-writes: 1 of 0 reads older"), std::string::npos)
      << stale_reads_failure(a);
  EXPECT_EQ(stale_reads_failure(read_counts(1)), "");
}

// Goal: the replication figures appear in all three outputs with --read-url, and nothing
// changes without it (no order_read row, no "replication" key).
TEST(mixed_summary, replication_figures_only_with_read_urls) {
  auto plain = sample_summary();
  std::ostringstream plain_text;
  write_human_summary(plain_text, plain);
  EXPECT_EQ(plain_text.str().find("order_read"), std::string::npos);
  EXPECT_EQ(plain_text.str().find("reads:"), std::string::npos);
  EXPECT_EQ(summary_json(plain).find("replication"), std::string::npos);
  EXPECT_EQ(summary_json(plain).find("order_read"), std::string::npos);
  EXPECT_EQ(summary_html(plain).find("Replication"), std::string::npos);

  auto s = sample_summary();
  auto& order_read = s.measurements.ops[static_cast<std::size_t>(mixed_op::order_read)];
  order_read.record_answer(200, 900);
  replication_report r;
  r.read_urls = {"http://127.0.0.1:2", "http://127.0.0.1:3"};
  r.reads = read_counts(2);
  for (int i = 0; i < 99; ++i) r.reads.record_standby(0, 200, "{}", 1000, 1000);
  r.reads.record_standby(0, 200, "{}", 1000, 1250);
  r.reads.record_standby(0, 503, R"({"code":"REPLICA_BEHIND"})", 990, 1000);
  r.reads.record_standby(1, 200, "{}", -1, -1);  // a server without X-Ecomd-Lsn
  r.reads.primary_reads = 4;
  r.reads.own_reads = 1;
  r.reads.own_reads_checked = 1;
  r.primary_lsn_max = 1300;
  r.setup_lsn = 120;
  r.own_reads_sent = true;
  s.replication = r;

  std::ostringstream text;
  write_human_summary(text, s);
  std::string out = text.str();
  EXPECT_NE(out.find("\norder_read "), std::string::npos) << out;
  EXPECT_NE(out.find("reads: 102 to standbys, 4 to the primary; highest primary LSN 1,300; "
                     "standbys waited for LSN 120"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("\nhttp://127.0.0.1:2             101        0       10      250"
                     "               1          0\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("\nhttp://127.0.0.1:3               1      n/a      n/a      n/a"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("read-your-writes: 1 order reads (0 with X-Ecomd-Min-Lsn), 1 compared, 0 "
                     "older"),
            std::string::npos)
      << out;
  EXPECT_EQ(out.substr(out.size() - 17), "invariants: PASS\n") << out;

  std::string json = summary_json(s);
  EXPECT_NE(json.find("\"order_read\":{\"requests\":1"), std::string::npos) << json;
  EXPECT_NE(json.find("\"replication\":{\"read_urls\":[\"http://127.0.0.1:2\","
                      "\"http://127.0.0.1:3\"],\"reads_to_standbys\":102,"
                      "\"reads_to_primary\":4,\"primary_lsn_max\":1300,\"setup_lsn\":120"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find("\"replica_behind\":1,\"lag_samples\":101,\"lag_records\":{\"p50\":0,"
                      "\"p99\":10,\"max\":250}}"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find("\"lag_samples\":0,\"lag_records\":null}"), std::string::npos) << json;
  EXPECT_NE(json.find("\"read_your_writes\":{\"reads\":1,"), std::string::npos) << json;

  std::string page = summary_html(s);
  EXPECT_NE(page.find("<h2>Replication</h2>"), std::string::npos);
  EXPECT_NE(page.find("<td>http://127.0.0.1:3</td><td>1</td><td>n/a</td>"), std::string::npos)
      << page;
}

}  // namespace
}  // namespace ecom::load
