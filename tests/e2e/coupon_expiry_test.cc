// Coupon expiry across downtime: a coupon whose expiry passes while the server is down reads
// EXPIRED after the restart and its EXPIRE is recorded once, at the expiry instant. Method:
// issue a 1-day coupon, stop the server, restart it with its clock moved 2 days ahead
// (--clock-offset-ms, a testing-only flag), read wallet and history with the admin token,
// restart once more and check EXPIRE was not recorded twice.
#include <gtest/gtest.h>

#include <thread>

#include "tests/support/api.h"
#include "tests/support/server_process.h"

namespace ecom::test {
namespace {

TEST(coupon_expiry, expiry_during_downtime_is_recorded_once_at_the_expiry_instant) {
  server_process server;
  http_client client(server.port());
  const header_list admin = json_bearer(server.admin_token());
  auto coupon = client.post_json(
      "/admin/coupons", R"({"name":"day","type":"FIXED","amount":500,"valid_days":1})", admin);
  ASSERT_EQ(coupon.status, 201) << coupon.body;
  std::string coupon_id = std::to_string(parse_json(coupon.body)["id"].as_int());
  auto campaign = client.post_json(
      "/admin/fcfs-coupons",
      R"({"coupon_id":)" + coupon_id +
          R"(,"total_quantity":5,"start_at":"2020-01-01T00:00:00Z","end_at":"2099-01-01T00:00:00Z"})",
      admin);
  ASSERT_EQ(campaign.status, 201) << campaign.body;
  std::string campaign_id = std::to_string(parse_json(campaign.body)["id"].as_int());
  auto bulk = client.post_json("/admin/users/bulk", R"({"count":1,"name_prefix":"expiry"})", admin);
  ASSERT_EQ(bulk.status, 201) << bulk.body;
  auto user = parse_json(bulk.body)["items"].elements().at(0);
  std::int64_t user_id = user["id"].as_int();
  auto issued = client.request("POST", "/coupons/fcfs/" + campaign_id + "/issue", "",
                               bearer(user["access_token"].as_string()));
  ASSERT_EQ(issued.status, 201) << issued.body;
  std::string expires_at = parse_json(issued.body)["expires_at"].as_string();

  ASSERT_EQ(server.terminate(), 0);
  server.append_args({"--clock-offset-ms", std::to_string(2LL * 24 * 3600 * 1000)});
  server.restart();
  client.set_port(server.port());
  auto wallet = client.get(user_path(user_id, "/coupons"), bearer(server.admin_token()));
  ASSERT_EQ(wallet.status, 200) << wallet.body;
  EXPECT_EQ(parse_json(wallet.body)["items"].elements().at(0)["status"].as_string(), "EXPIRED");
  auto history_of = [&] {
    auto history = client.get(user_path(user_id, "/coupons/history"), bearer(server.admin_token()));
    EXPECT_EQ(history.status, 200) << history.body;
    return parse_json(history.body)["items"].elements();
  };
  // The sweep runs at start-up and then every second; give it a moment.
  std::vector<json_value> items;
  for (int i = 0; i < 50; ++i) {
    items = history_of();
    if (items.size() >= 2) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0]["action"].as_string(), "EXPIRE");
  EXPECT_EQ(items[0]["created_at"].as_string(), expires_at) << "recorded at the expiry instant";
  EXPECT_EQ(items[1]["action"].as_string(), "ISSUE");

  server.restart();  // same offset: nothing new to expire
  client.set_port(server.port());
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  EXPECT_EQ(history_of().size(), 2u) << "EXPIRE is recorded once";
}

}  // namespace
}  // namespace ecom::test
