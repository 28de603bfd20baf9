// First-come coupons: templates and campaigns (admin), the public campaign list and reads, the
// issue route with its documented check order, wallets and their history, the Idempotency-Key
// contract of issue, window edges in real time, and many connections racing for few coupons
// (one user ×50, 1,000 users for 30 coupons, two campaigns on different shards at once).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "tests/e2e/e2e_fixture.h"
#include "tests/support/commerce.h"

namespace ecom::test {
namespace {

using namespace std::chrono_literals;

constexpr int64_t k_missing_id = 9223372036854775807;
constexpr int64_t k_day_ms = 86'400'000;
constexpr std::string_view k_bulk_prefix = "fcfs";

std::string coupon_body(std::string_view name, std::string_view type, int64_t amount,
                        int64_t valid_days) {
  return json_object()
      .add("name", name)
      .add("type", type)
      .add("amount", amount)
      .add("valid_days", valid_days)
      .str();
}

http_response create_coupon(http_client& client, std::string_view body,
                            std::string_view token = k_admin_token) {
  return client.post_json("/admin/coupons", body, bearer(token));
}

// Creates a coupon template and returns its 201 body; throws otherwise.
std::string create_coupon_ok(http_client& client, std::string_view body) {
  auto response = create_coupon(client, body);
  if (response.status != 201) throw std::runtime_error("create coupon: " + describe(response));
  return response.body;
}

int64_t coupon_id_of(const std::string& coupon_json) {
  return parse_json(coupon_json)["id"].as_int();
}

std::string campaign_body(int64_t coupon_id, int64_t quantity, std::string_view start_at,
                          std::string_view end_at) {
  return json_object()
      .add("coupon_id", coupon_id)
      .add("total_quantity", quantity)
      .add("start_at", start_at)
      .add("end_at", end_at)
      .str();
}

http_response create_campaign(http_client& client, std::string_view body,
                              std::string_view token = k_admin_token) {
  return client.post_json("/admin/fcfs-coupons", body, bearer(token));
}

// A campaign of that coupon over [start, end); returns its 201 body, throws otherwise.
std::string create_campaign_ok(http_client& client, int64_t coupon_id, int64_t quantity,
                               int64_t start_ms, int64_t end_ms) {
  auto response = create_campaign(
      client, campaign_body(coupon_id, quantity, rfc3339(start_ms), rfc3339(end_ms)));
  if (response.status != 201) throw std::runtime_error("create campaign: " + describe(response));
  return response.body;
}

// A fresh FIXED coupon and a campaign of it open from an hour ago for an hour; returns its id.
int64_t open_campaign(http_client& client, int64_t quantity, int64_t valid_days = 7) {
  const int64_t coupon = coupon_id_of(create_coupon_ok(
      client, coupon_body("Open " + std::to_string(quantity), "FIXED", 1000, valid_days)));
  const int64_t now = now_ms();
  return parse_json(
             create_campaign_ok(client, coupon, quantity, now - 3'600'000, now + 3'600'000))["id"]
      .as_int();
}

http_response issue_with_key(http_client& client, int64_t campaign_id, std::string_view token,
                             std::string_view key) {
  return issue(client, campaign_id, token, {{"Idempotency-Key", std::string(key)}});
}

std::vector<json_value> wallet_of(http_client& client, int64_t user_id, std::string_view token,
                                  std::string_view query = "") {
  std::string path = user_path(user_id, "/coupons");
  if (!query.empty()) path += "?" + std::string(query);
  return list_all(client, path, 100, token);
}

// The user's coupons from that campaign.
std::vector<json_value> held_from(http_client& client, int64_t user_id, int64_t campaign_id) {
  std::vector<json_value> out;
  for (const auto& c : wallet_of(client, user_id, k_admin_token))
    if (c["fcfs_coupon_id"].as_int() == campaign_id) out.push_back(c);
  return out;
}

// "201", "409 COUPON_SOLD_OUT", "0 <transport error>", ... for counting outcomes.
std::string outcome_of(const http_response& response) {
  if (response.status == 0) return "0 " + response.transport_error;
  if (response.status == 201) return "201";
  return std::to_string(response.status) + " " + code_of(response);
}

// Runs body(t) on `threads` threads that each open their own connection first (GET /healthz)
// and then start together, so the requests race for real.
void race(uint16_t port, int threads, const std::function<void(int, http_client&)>& body) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      http_client own(port);
      own.get("/healthz");
      ready.fetch_add(1);
      const auto deadline = std::chrono::steady_clock::now() + 20s;
      while (!go.load() && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
      body(t, own);
    });
  }
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (ready.load() < threads && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(1ms);
  go = true;
  for (auto& thread : pool) thread.join();
}

class coupons : public shared_server_test {
 protected:
  // A new user with a session (for access-rule checks that need a real user).
  session user(std::string_view tag) { return sign_up_and_login(client(), tag); }
};

// --- coupon templates -----------------------------------------------------------------------

// Goal: an admin creates FIXED and PERCENT coupons; the 201 carries every documented field,
// min_order_amount defaults to 0. Method: create one of each, check keys in order and values.
TEST_F(coupons, create_coupon_returns_201_with_every_field_and_default_min_order_amount) {
  const int64_t before = now_ms();
  auto fixed = create_coupon(client(), coupon_body("Welcome 5000", "FIXED", 5000, 30));
  ASSERT_EQ(fixed.status, 201) << describe(fixed);
  EXPECT_TRUE(fixed.header_or("Content-Type").starts_with("application/json"));
  auto doc = parse_json(fixed.body);
  EXPECT_EQ(doc.root().keys(),
            (std::vector<std::string>{"id", "name", "type", "amount", "min_order_amount",
                                      "valid_days", "created_at"}));
  EXPECT_GT(doc["id"].as_int(), 0);
  EXPECT_EQ(doc["name"].as_string(), "Welcome 5000");
  EXPECT_EQ(doc["type"].as_string(), "FIXED");
  EXPECT_EQ(doc["amount"].as_int(), 5000);
  EXPECT_EQ(doc["min_order_amount"].as_int(), 0);
  EXPECT_EQ(doc["valid_days"].as_int(), 30);
  const int64_t created = parse_utc_millis(doc["created_at"].as_string());
  EXPECT_GE(created, before - 1000);
  EXPECT_LE(created, now_ms() + 1000);

  auto percent = create_coupon(client(), R"({"name":"Ten percent","type":"PERCENT","amount":10,)"
                                         R"("min_order_amount":20000,"valid_days":1})");
  ASSERT_EQ(percent.status, 201) << describe(percent);
  auto p = parse_json(percent.body);
  EXPECT_NE(p["id"].as_int(), doc["id"].as_int());
  EXPECT_EQ(p["type"].as_string(), "PERCENT");
  EXPECT_EQ(p["amount"].as_int(), 10);
  EXPECT_EQ(p["min_order_amount"].as_int(), 20000);
  EXPECT_EQ(p["valid_days"].as_int(), 1);
}

// Goal: the documented bounds are accepted exactly at their edges. Method: name of 100 chars,
// FIXED 1 and 1,000,000,000, PERCENT 1 and 100, valid_days 1 and 3650, min_order_amount 0.
TEST_F(coupons, create_coupon_accepts_every_bound_at_its_edge) {
  const std::string name100(100, 'n');
  for (const std::string& body :
       {coupon_body(name100, "FIXED", 1, 1), coupon_body("max", "FIXED", 1'000'000'000, 3650),
        coupon_body("p1", "PERCENT", 1, 10), coupon_body("p100", "PERCENT", 100, 10),
        std::string(R"({"name":"m0","type":"FIXED","amount":5,"min_order_amount":0,)"
                    R"("valid_days":2})")}) {
    SCOPED_TRACE(body);
    auto response = create_coupon(client(), body);
    ASSERT_EQ(response.status, 201) << describe(response);
    auto doc = parse_json(response.body);
    auto sent = parse_json(body);
    EXPECT_EQ(doc["name"].as_string(), sent["name"].as_string());
    EXPECT_EQ(doc["amount"].as_int(), sent["amount"].as_int());
    EXPECT_EQ(doc["valid_days"].as_int(), sent["valid_days"].as_int());
  }
}

// Goal: every invalid field is 400 VALIDATION_FAILED naming that field. Method: one body per
// fault (missing, wrong type, out of range, unknown type name, PERCENT over 100).
TEST_F(coupons, create_coupon_rejects_each_invalid_field_naming_it) {
  struct bad_case {
    std::string body;
    const char* field;
  };
  const std::string name101(101, 'n');
  const std::vector<bad_case> cases = {
      {R"({"type":"FIXED","amount":100,"valid_days":7})", "name"},
      {R"({"name":"","type":"FIXED","amount":100,"valid_days":7})", "name"},
      {coupon_body(name101, "FIXED", 100, 7), "name"},
      {R"({"name":5,"type":"FIXED","amount":100,"valid_days":7})", "name"},
      {R"({"name":"x","amount":100,"valid_days":7})", "type"},
      {coupon_body("x", "fixed", 100, 7), "type"},
      {coupon_body("x", "BOGO", 100, 7), "type"},
      {R"({"name":"x","type":"FIXED","valid_days":7})", "amount"},
      {coupon_body("x", "FIXED", 0, 7), "amount"},
      {coupon_body("x", "FIXED", 1'000'000'001, 7), "amount"},
      {coupon_body("x", "PERCENT", 0, 7), "amount"},
      {coupon_body("x", "PERCENT", 101, 7), "amount"},
      {R"({"name":"x","type":"FIXED","amount":1.5,"valid_days":7})", "amount"},
      {R"({"name":"x","type":"FIXED","amount":"100","valid_days":7})", "amount"},
      {R"({"name":"x","type":"FIXED","amount":100,"min_order_amount":-1,"valid_days":7})",
       "min_order_amount"},
      {R"({"name":"x","type":"FIXED","amount":100,"min_order_amount":1e3,"valid_days":7})",
       "min_order_amount"},
      {R"({"name":"x","type":"FIXED","amount":100})", "valid_days"},
      {coupon_body("x", "FIXED", 100, 0), "valid_days"},
      {coupon_body("x", "FIXED", 100, 3651), "valid_days"},
      {R"({"name":"x","type":"FIXED","amount":100,"valid_days":null})", "valid_days"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.body);
    expect_validation_failed(create_coupon(client(), c.body), c.field);
  }
  expect_problem(create_coupon(client(), "{\"name\":"), 400, "MALFORMED_JSON");
  expect_problem(create_coupon(client(), "[1]"), 400, "MALFORMED_JSON");
}

// Goal: only the admin creates coupons. Method: no token 401 (with WWW-Authenticate), a user's
// token 403 FORBIDDEN, a non-JSON Content-Type 415.
TEST_F(coupons, create_coupon_needs_the_admin_token) {
  const std::string body = coupon_body("x", "FIXED", 100, 7);
  expect_unauthenticated(client().post_json("/admin/coupons", body));
  expect_unauthenticated(create_coupon(client(), body, "not-a-token"));
  auto s = user("coupon-user");
  expect_problem(create_coupon(client(), body, s.access_token), 403, "FORBIDDEN");
  expect_problem(
      client().request("POST", "/admin/coupons", body,
                       {{"Content-Type", "text/plain"}, {"Authorization", "Bearer " + admin()}}),
      415, "UNSUPPORTED_MEDIA_TYPE");
}

// --- campaigns ------------------------------------------------------------------------------

// Goal: an admin creates a campaign; the 201 carries every documented field, the coupon is
// embedded as created, times given with a +09:00 offset come back in UTC with Z, remaining
// equals total, status OPEN; GET /coupons/fcfs/{id} (no auth) answers the same body.
// Method: create coupon and campaign, compare field by field and byte for byte.
TEST_F(coupons, create_campaign_returns_201_campaign_with_coupon_and_utc_times) {
  const std::string coupon = create_coupon_ok(client(), coupon_body("Embedded", "FIXED", 700, 3));
  const int64_t coupon_id = coupon_id_of(coupon);
  // One hour ago (UTC) and one hour ahead, both written in +09:00.
  const int64_t start = (now_ms() / 1000 - 3600) * 1000;
  const int64_t end = start + 2 * 3'600'000;
  auto in_plus_nine = [](int64_t ms) {
    std::string utc = rfc3339(ms + 9 * 3'600'000);
    return utc.substr(0, 19) + "+09:00";
  };
  auto response = create_campaign(
      client(), campaign_body(coupon_id, 25, in_plus_nine(start), in_plus_nine(end)));
  ASSERT_EQ(response.status, 201) << describe(response);
  auto doc = parse_json(response.body);
  EXPECT_EQ(doc.root().keys(),
            (std::vector<std::string>{"id", "coupon_id", "coupon", "total_quantity",
                                      "remaining_quantity", "start_at", "end_at", "status"}));
  const int64_t id = doc["id"].as_int();
  EXPECT_GT(id, 0);
  EXPECT_EQ(doc["coupon_id"].as_int(), coupon_id);
  EXPECT_EQ(doc["coupon"].dump(), coupon);
  EXPECT_EQ(doc["total_quantity"].as_int(), 25);
  EXPECT_EQ(doc["remaining_quantity"].as_int(), 25);
  EXPECT_EQ(doc["start_at"].as_string(), rfc3339(start));
  EXPECT_EQ(doc["end_at"].as_string(), rfc3339(end));
  EXPECT_EQ(doc["status"].as_string(), "OPEN");

  auto read = client().get(campaign_path(id));
  ASSERT_EQ(read.status, 200) << describe(read);
  EXPECT_EQ(read.body, response.body);
}

// Goal: total_quantity is accepted at 1 and 10,000,000. Method: one campaign at each edge.
TEST_F(coupons, create_campaign_accepts_quantity_edges) {
  const int64_t coupon = coupon_id_of(create_coupon_ok(client(), coupon_body("q", "FIXED", 1, 1)));
  const int64_t now = now_ms();
  for (int64_t quantity : {int64_t(1), int64_t(10'000'000)}) {
    auto response = create_campaign(
        client(), campaign_body(coupon, quantity, rfc3339(now), rfc3339(now + 60'000)));
    ASSERT_EQ(response.status, 201) << describe(response);
    EXPECT_EQ(parse_json(response.body)["total_quantity"].as_int(), quantity);
    EXPECT_EQ(parse_json(response.body)["remaining_quantity"].as_int(), quantity);
  }
}

// Goal: every invalid campaign field is 400 VALIDATION_FAILED naming it, including end_at not
// after start_at (also when equal instants are written with different offsets), and no bad
// body creates a campaign. Method: one body per fault; then the public list is still empty.
TEST_F(coupons, create_campaign_rejects_each_invalid_field_naming_it) {
  const int64_t coupon = coupon_id_of(create_coupon_ok(client(), coupon_body("v", "FIXED", 1, 1)));
  const std::string start = "2030-01-01T00:00:00Z";
  const std::string end = "2030-02-01T00:00:00Z";
  auto with = [&](std::string_view key, std::string_view raw) {
    json_object o;
    for (const char* k : {"coupon_id", "total_quantity", "start_at", "end_at"}) {
      if (key == k) {
        if (!raw.empty()) o.add_raw(k, raw);
        continue;
      }
      if (std::string_view(k) == "coupon_id") o.add(k, coupon);
      if (std::string_view(k) == "total_quantity") o.add(k, 10);
      if (std::string_view(k) == "start_at") o.add(k, start);
      if (std::string_view(k) == "end_at") o.add(k, end);
    }
    return o.str();
  };
  struct bad_case {
    std::string body;
    const char* field;
  };
  const std::vector<bad_case> cases = {
      {with("coupon_id", ""), "coupon_id"},
      {with("coupon_id", "0"), "coupon_id"},
      {with("coupon_id", json_quote(std::to_string(coupon))), "coupon_id"},
      {with("total_quantity", ""), "total_quantity"},
      {with("total_quantity", "0"), "total_quantity"},
      {with("total_quantity", "10000001"), "total_quantity"},
      {with("total_quantity", "-5"), "total_quantity"},
      {with("total_quantity", "2.0"), "total_quantity"},
      {with("start_at", ""), "start_at"},
      {with("start_at", R"("tomorrow")"), "start_at"},
      {with("start_at", R"("2030-01-01 00:00:00Z")"), "start_at"},
      {with("start_at", R"("2030-01-01T00:00:00")"), "start_at"},
      {with("start_at", R"("2030-13-01T00:00:00Z")"), "start_at"},
      {with("start_at", "1893456000"), "start_at"},
      {with("end_at", ""), "end_at"},
      {with("end_at", R"("2030-02-01T25:00:00Z")"), "end_at"},
      {with("end_at", R"("2030-02-01T00:00:00+9")"), "end_at"},
      {with("end_at", json_quote(start)), "end_at"},
      {with("end_at", R"("2029-12-31T23:59:59.999Z")"), "end_at"},
      // The same instant as start_at, written in +09:00.
      {with("end_at", R"("2030-01-01T09:00:00+09:00")"), "end_at"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.body);
    expect_validation_failed(create_campaign(client(), c.body), c.field);
  }
  expect_problem(create_campaign(client(), "{"), 400, "MALFORMED_JSON");
  auto list = client().get("/coupons/fcfs");
  ASSERT_EQ(list.status, 200) << describe(list);
  EXPECT_EQ(parse_json(list.body)["items"].size(), 0u) << list.body;
}

// Goal: a date that does not exist in the calendar is not an RFC 3339 time. Method: start_at
// 2025-02-29 (2025 is no leap year) and 2030-04-31: 400 naming start_at, nothing created.
TEST_F(coupons, create_campaign_rejects_calendar_dates_that_do_not_exist) {
  const int64_t coupon = coupon_id_of(create_coupon_ok(client(), coupon_body("d", "FIXED", 1, 1)));
  for (const char* start : {"2025-02-29T00:00:00Z", "2030-04-31T00:00:00Z"}) {
    SCOPED_TRACE(start);
    expect_validation_failed(
        create_campaign(client(), campaign_body(coupon, 5, start, "2031-01-01T00:00:00Z")),
        "start_at");
  }
  // A real leap day is fine.
  auto leap = create_campaign(
      client(), campaign_body(coupon, 5, "2028-02-29T00:00:00Z", "2031-01-01T00:00:00Z"));
  ASSERT_EQ(leap.status, 201) << describe(leap);
  EXPECT_EQ(parse_json(leap.body)["start_at"].as_string(), "2028-02-29T00:00:00.000Z");
  auto list = client().get("/coupons/fcfs");
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(parse_json(list.body)["items"].size(), 1u) << list.body;
}

// Goal: a campaign of a coupon that does not exist is 404 COUPON_NOT_FOUND (after the body is
// valid). Method: an unknown coupon id with a valid body → 404; with an invalid window → 400.
TEST_F(coupons, create_campaign_for_unknown_coupon_is_404_coupon_not_found) {
  expect_problem(create_campaign(client(), campaign_body(k_missing_id, 5, "2030-01-01T00:00:00Z",
                                                         "2030-02-01T00:00:00Z")),
                 404, "COUPON_NOT_FOUND");
  expect_validation_failed(
      create_campaign(
          client(), campaign_body(k_missing_id, 5, "2030-02-01T00:00:00Z", "2030-01-01T00:00:00Z")),
      "end_at");
}

// Goal: only the admin creates campaigns. Method: no token 401, a user's token 403.
TEST_F(coupons, create_campaign_needs_the_admin_token) {
  const int64_t coupon = coupon_id_of(create_coupon_ok(client(), coupon_body("a", "FIXED", 1, 1)));
  const std::string body = campaign_body(coupon, 5, "2030-01-01T00:00:00Z", "2030-02-01T00:00:00Z");
  expect_unauthenticated(client().post_json("/admin/fcfs-coupons", body));
  auto s = user("campaign-user");
  expect_problem(create_campaign(client(), body, s.access_token), 403, "FORBIDDEN");
  EXPECT_EQ(parse_json(client().get("/coupons/fcfs").body)["items"].size(), 0u);
}

// Goal: GET /coupons/fcfs lists every campaign (on every shard) in ascending id, pages with
// limit and cursor, needs no auth, and each item equals GET /coupons/fcfs/{id}. Method: 7
// campaigns, read with limit 1, 3 and 100; bad limit and cursor are 400.
TEST_F(coupons, campaign_list_is_public_ascending_and_paged) {
  const int64_t coupon = coupon_id_of(create_coupon_ok(client(), coupon_body("l", "FIXED", 9, 9)));
  const int64_t now = now_ms();
  std::vector<int64_t> ids;
  for (int i = 0; i < 7; ++i) {
    ids.push_back(parse_json(create_campaign_ok(client(), coupon, 10 + i, now - 60'000,
                                                now + 3'600'000))["id"]
                      .as_int());
  }
  std::set<int64_t> shards;
  for (int64_t id : ids) shards.insert(id % 2);
  EXPECT_EQ(shards.size(), 2u) << "campaigns should land on both shards";
  std::sort(ids.begin(), ids.end());
  for (int limit : {1, 3, 100}) {
    SCOPED_TRACE("limit " + std::to_string(limit));
    std::vector<int64_t> seen;
    std::string cursor;
    int pages = 0;
    for (; pages < 20; ++pages) {
      std::string target = "/coupons/fcfs?limit=" + std::to_string(limit);
      if (!cursor.empty()) target += "&cursor=" + cursor;
      auto response = client().get(target);
      ASSERT_EQ(response.status, 200) << describe(response);
      auto doc = parse_json(response.body);
      EXPECT_LE(doc["items"].size(), size_t(limit));
      for (const auto& item : doc["items"].elements()) {
        seen.push_back(item["id"].as_int());
        EXPECT_EQ(item.dump(), client().get(campaign_path(item["id"].as_int())).body);
      }
      if (doc["next_cursor"].is_null()) break;
      cursor = doc["next_cursor"].as_string();
    }
    EXPECT_EQ(seen, ids);
    EXPECT_EQ(pages + 1, (7 + limit - 1) / limit) << "pages for 7 campaigns";
  }
  expect_validation_failed(client().get("/coupons/fcfs?limit=0"), "limit");
  expect_validation_failed(client().get("/coupons/fcfs?limit=101"), "limit");
  expect_validation_failed(client().get("/coupons/fcfs?cursor=garbage!"), "cursor");
}

// Goal: reading a campaign that does not exist is 404 COUPON_NOT_FOUND; an id that is not a
// valid id is 400 naming id. Method: the max id, then 0, -1, abc, 1.5 and a 20-digit number.
TEST_F(coupons, get_campaign_unknown_is_404_and_malformed_id_is_400) {
  expect_problem(client().get(campaign_path(k_missing_id)), 404, "COUPON_NOT_FOUND");
  for (const char* id : {"0", "-1", "abc", "1.5", "99999999999999999999"}) {
    SCOPED_TRACE(id);
    expect_validation_failed(client().get(std::string("/coupons/fcfs/") + id), "id");
  }
}

// Goal: status follows the window and the quantity. Method: a campaign starting in an hour
// (UPCOMING), one that ended (CLOSED), an open one (OPEN), and an open one of quantity 1 after
// its only coupon was issued (SOLD_OUT, remaining 0).
TEST_F(coupons, campaign_status_is_upcoming_open_sold_out_or_closed) {
  const int64_t coupon = coupon_id_of(create_coupon_ok(client(), coupon_body("s", "FIXED", 5, 5)));
  const int64_t now = now_ms();
  const int64_t hour = 3'600'000;
  auto status_of = [&](int64_t id) { return campaign_of(client(), id)["status"].as_string(); };
  const int64_t upcoming =
      parse_json(create_campaign_ok(client(), coupon, 5, now + hour, now + 2 * hour))["id"]
          .as_int();
  const int64_t closed =
      parse_json(create_campaign_ok(client(), coupon, 5, now - 2 * hour, now - hour))["id"]
          .as_int();
  const int64_t open =
      parse_json(create_campaign_ok(client(), coupon, 5, now - hour, now + hour))["id"].as_int();
  const int64_t single =
      parse_json(create_campaign_ok(client(), coupon, 1, now - hour, now + hour))["id"].as_int();
  EXPECT_EQ(status_of(upcoming), "UPCOMING");
  EXPECT_EQ(status_of(closed), "CLOSED");
  EXPECT_EQ(status_of(open), "OPEN");
  EXPECT_EQ(status_of(single), "OPEN");
  auto users = bulk_users(client(), 1, k_bulk_prefix);
  ASSERT_EQ(issue(client(), single, users[0].token).status, 201);
  auto sold = campaign_of(client(), single);
  EXPECT_EQ(sold["status"].as_string(), "SOLD_OUT");
  EXPECT_EQ(sold["remaining_quantity"].as_int(), 0);
  EXPECT_EQ(sold["total_quantity"].as_int(), 1);
}

// --- issue ----------------------------------------------------------------------------------

// Goal: issue answers 201 with the documented user coupon: AVAILABLE, used_at null, issued now,
// expires_at = issued_at + valid_days; the campaign loses exactly one unit; the wallet (user and
// admin token) lists the same object and the history one ISSUE entry. Method: one user, one
// campaign of 3 with a 7-day coupon.
TEST_F(coupons, issue_returns_201_user_coupon_listed_in_wallet_and_history) {
  const std::string coupon = create_coupon_ok(client(), coupon_body("Issued", "PERCENT", 15, 7));
  const int64_t coupon_id = coupon_id_of(coupon);
  const int64_t now = now_ms();
  const int64_t campaign =
      parse_json(create_campaign_ok(client(), coupon_id, 3, now - 1000, now + 3'600'000))["id"]
          .as_int();
  auto s = user("issue");
  const int64_t before = now_ms();
  auto response = issue(client(), campaign, s.access_token);
  const int64_t after = now_ms();
  ASSERT_EQ(response.status, 201) << describe(response);
  EXPECT_TRUE(response.header_or("Content-Type").starts_with("application/json"));
  EXPECT_NE(response.header_or("Idempotent-Replayed"), "true");
  auto doc = parse_json(response.body);
  EXPECT_EQ(doc.root().keys(),
            (std::vector<std::string>{"id", "user_id", "coupon_id", "fcfs_coupon_id", "coupon",
                                      "status", "issued_at", "expires_at", "used_at"}));
  EXPECT_GT(doc["id"].as_int(), 0);
  EXPECT_EQ(doc["user_id"].as_int(), s.user_id);
  EXPECT_EQ(doc["coupon_id"].as_int(), coupon_id);
  EXPECT_EQ(doc["fcfs_coupon_id"].as_int(), campaign);
  EXPECT_EQ(doc["coupon"].dump(), coupon);
  EXPECT_EQ(doc["status"].as_string(), "AVAILABLE");
  EXPECT_TRUE(doc["used_at"].is_null());
  const int64_t issued_at = parse_utc_millis(doc["issued_at"].as_string());
  EXPECT_GE(issued_at, before - 1000);
  EXPECT_LE(issued_at, after + 1000);
  EXPECT_EQ(parse_utc_millis(doc["expires_at"].as_string()), issued_at + 7 * k_day_ms);

  auto c = campaign_of(client(), campaign);
  EXPECT_EQ(c["remaining_quantity"].as_int(), 2);
  EXPECT_EQ(c["status"].as_string(), "OPEN");

  for (const std::string& token : {s.access_token, admin()}) {
    auto wallet = wallet_of(client(), s.user_id, token);
    ASSERT_EQ(wallet.size(), 1u);
    EXPECT_EQ(wallet[0].dump(), response.body);
  }
  auto history = list_all(client(), user_path(s.user_id, "/coupons/history"), 100, s.access_token);
  ASSERT_EQ(history.size(), 1u);
  EXPECT_EQ(history[0].keys(), (std::vector<std::string>{"id", "user_coupon_id", "coupon_id",
                                                         "action", "order_id", "created_at"}));
  EXPECT_GT(history[0]["id"].as_int(), 0);
  EXPECT_EQ(history[0]["user_coupon_id"].as_int(), doc["id"].as_int());
  EXPECT_EQ(history[0]["coupon_id"].as_int(), coupon_id);
  EXPECT_EQ(history[0]["action"].as_string(), "ISSUE");
  EXPECT_TRUE(history[0]["order_id"].is_null());
  EXPECT_TRUE(is_rfc3339_utc_millis(history[0]["created_at"].as_string()));
}

// Goal: issue needs a user's token: none or a bad one is 401 with WWW-Authenticate, the admin
// token is 403 FORBIDDEN, and none of them takes a unit. Method: each on an open campaign of 2;
// remaining stays 2.
TEST_F(coupons, issue_needs_a_user_token_and_refuses_the_admin_token) {
  const int64_t campaign = open_campaign(client(), 2);
  expect_unauthenticated(client().request("POST", campaign_path(campaign, "/issue")));
  expect_unauthenticated(issue(client(), campaign, "v1.bogus.token"));
  expect_problem(issue(client(), campaign, admin()), 403, "FORBIDDEN");
  EXPECT_EQ(campaign_of(client(), campaign)["remaining_quantity"].as_int(), 2);
}

// Goal: a malformed campaign id is 400 naming id; an unknown one is 404 COUPON_NOT_FOUND.
// Method: a user's token on 0, -1, abc, 1.5, a 20-digit id, then the max id.
TEST_F(coupons, issue_with_malformed_id_is_400_and_unknown_campaign_is_404) {
  auto users = bulk_users(client(), 1, k_bulk_prefix);
  for (const char* id : {"0", "-1", "abc", "1.5", "99999999999999999999"}) {
    SCOPED_TRACE(id);
    expect_validation_failed(client().request("POST", std::string("/coupons/fcfs/") + id + "/issue",
                                              {}, bearer(users[0].token)),
                             "id");
  }
  expect_problem(issue(client(), k_missing_id, users[0].token), 404, "COUPON_NOT_FOUND");
  EXPECT_EQ(wallet_of(client(), users[0].id, admin()).size(), 0u);
}

// Goal: outside the window issue is 409 COUPON_NOT_ACTIVE and takes nothing. Method: a campaign
// starting in an hour (UPCOMING) and one that ended an hour ago (CLOSED): both 409
// COUPON_NOT_ACTIVE, remaining unchanged, the wallet empty.
TEST_F(coupons, issue_outside_the_window_is_409_coupon_not_active) {
  const int64_t coupon = coupon_id_of(create_coupon_ok(client(), coupon_body("w", "FIXED", 5, 5)));
  const int64_t now = now_ms();
  const int64_t hour = 3'600'000;
  const int64_t upcoming =
      parse_json(create_campaign_ok(client(), coupon, 4, now + hour, now + 2 * hour))["id"]
          .as_int();
  const int64_t ended =
      parse_json(create_campaign_ok(client(), coupon, 4, now - 2 * hour, now - hour))["id"]
          .as_int();
  auto users = bulk_users(client(), 1, k_bulk_prefix);
  for (int64_t id : {upcoming, ended}) {
    SCOPED_TRACE("campaign " + std::to_string(id));
    expect_problem(issue(client(), id, users[0].token), 409, "COUPON_NOT_ACTIVE");
    EXPECT_EQ(campaign_of(client(), id)["remaining_quantity"].as_int(), 4);
  }
  EXPECT_EQ(campaign_of(client(), upcoming)["status"].as_string(), "UPCOMING");
  EXPECT_EQ(campaign_of(client(), ended)["status"].as_string(), "CLOSED");
  EXPECT_EQ(wallet_of(client(), users[0].id, admin()).size(), 0u);
}

// Goal: the checks run in the documented order: already issued before sold out. Method: a
// campaign of 1; A takes it (201); A again → 409 COUPON_ALREADY_ISSUED (not SOLD_OUT); B →
// 409 COUPON_SOLD_OUT; A still holds exactly one, B none, remaining 0.
TEST_F(coupons, second_issue_is_already_issued_before_sold_out_is_considered) {
  const int64_t campaign = open_campaign(client(), 1);
  auto users = bulk_users(client(), 2, k_bulk_prefix);
  ASSERT_EQ(issue(client(), campaign, users[0].token).status, 201);
  expect_problem(issue(client(), campaign, users[0].token), 409, "COUPON_ALREADY_ISSUED");
  expect_problem(issue(client(), campaign, users[1].token), 409, "COUPON_SOLD_OUT");
  expect_problem(issue(client(), campaign, users[1].token), 409, "COUPON_SOLD_OUT");
  EXPECT_EQ(held_from(client(), users[0].id, campaign).size(), 1u);
  EXPECT_EQ(held_from(client(), users[1].id, campaign).size(), 0u);
  EXPECT_EQ(campaign_of(client(), campaign)["remaining_quantity"].as_int(), 0);
}

// Goal: already issued stays the answer while the campaign still has units, and one user can
// hold coupons of several campaigns of the same template. Method: campaign of 5: A issues,
// then A again → ALREADY_ISSUED and remaining 4; a second campaign of the same coupon → 201.
TEST_F(coupons, one_coupon_per_campaign_but_one_per_each_campaign) {
  const int64_t coupon = coupon_id_of(create_coupon_ok(client(), coupon_body("m", "FIXED", 5, 5)));
  const int64_t now = now_ms();
  const int64_t first =
      parse_json(create_campaign_ok(client(), coupon, 5, now - 1000, now + 3'600'000))["id"]
          .as_int();
  const int64_t second =
      parse_json(create_campaign_ok(client(), coupon, 5, now - 1000, now + 3'600'000))["id"]
          .as_int();
  auto users = bulk_users(client(), 1, k_bulk_prefix);
  ASSERT_EQ(issue(client(), first, users[0].token).status, 201);
  expect_problem(issue(client(), first, users[0].token), 409, "COUPON_ALREADY_ISSUED");
  EXPECT_EQ(campaign_of(client(), first)["remaining_quantity"].as_int(), 4);
  auto other = issue(client(), second, users[0].token);
  ASSERT_EQ(other.status, 201) << describe(other);
  EXPECT_EQ(parse_json(other.body)["fcfs_coupon_id"].as_int(), second);
  EXPECT_EQ(wallet_of(client(), users[0].id, admin()).size(), 2u);
}

// Goal: the window opens and closes on time, NOT_ACTIVE is checked before ALREADY_ISSUED and
// SOLD_OUT, a stored 409 NOT_ACTIVE is replayed under its key after the window opened, and a
// sold-out campaign reads CLOSED from end_at on. Method: campaign A opens ~1.5 s after
// creation, campaign B (quantity 1, taken by U1) closes ~1.5 s after creation. Before: A is
// UPCOMING and 409 NOT_ACTIVE (also under key K), B is SOLD_OUT. After the edge: A issues 201
// (a new request), K replays its 409; B is CLOSED and answers NOT_ACTIVE to U1 (who holds one)
// and to U2 (for whom it is sold out).
TEST_F(coupons, window_opens_and_closes_on_time) {
  const int64_t coupon = coupon_id_of(create_coupon_ok(client(), coupon_body("t", "FIXED", 5, 5)));
  const int64_t edge = now_ms() + 1500;
  const int64_t a =
      parse_json(create_campaign_ok(client(), coupon, 3, edge, edge + 3'600'000))["id"].as_int();
  const int64_t b =
      parse_json(create_campaign_ok(client(), coupon, 1, edge - 3'600'000, edge))["id"].as_int();
  auto users = bulk_users(client(), 2, k_bulk_prefix);
  ASSERT_LT(now_ms(), edge - 300) << "setup took too long to test before the edge";
  EXPECT_EQ(campaign_of(client(), a)["status"].as_string(), "UPCOMING");
  expect_problem(issue(client(), a, users[0].token), 409, "COUPON_NOT_ACTIVE");
  auto keyed_before = issue_with_key(client(), a, users[0].token, "early-bird");
  expect_problem(keyed_before, 409, "COUPON_NOT_ACTIVE");
  ASSERT_EQ(issue(client(), b, users[0].token).status, 201);
  EXPECT_EQ(campaign_of(client(), b)["status"].as_string(), "SOLD_OUT");
  expect_problem(issue(client(), b, users[1].token), 409, "COUPON_SOLD_OUT");
  ASSERT_LT(now_ms(), edge) << "the window edge passed during the before-checks";

  std::this_thread::sleep_for(std::chrono::milliseconds(edge + 100 - now_ms()));
  ASSERT_GE(now_ms(), edge + 100);
  EXPECT_EQ(campaign_of(client(), a)["status"].as_string(), "OPEN");
  auto replay = issue_with_key(client(), a, users[0].token, "early-bird");
  expect_problem(replay, 409, "COUPON_NOT_ACTIVE");
  EXPECT_EQ(replay.header_or("Idempotent-Replayed"), "true");
  EXPECT_EQ(replay.body, keyed_before.body);
  auto opened = issue(client(), a, users[0].token);
  ASSERT_EQ(opened.status, 201) << describe(opened);
  EXPECT_EQ(campaign_of(client(), a)["remaining_quantity"].as_int(), 2);

  auto closed = campaign_of(client(), b);
  EXPECT_EQ(closed["status"].as_string(), "CLOSED");
  EXPECT_EQ(closed["remaining_quantity"].as_int(), 0);
  expect_problem(issue(client(), b, users[0].token), 409, "COUPON_NOT_ACTIVE");
  expect_problem(issue(client(), b, users[1].token), 409, "COUPON_NOT_ACTIVE");
  EXPECT_EQ(held_from(client(), users[0].id, b).size(), 1u);
  EXPECT_EQ(held_from(client(), users[1].id, b).size(), 0u);
}

// --- wallet and history ---------------------------------------------------------------------

// Goal: the wallet lists newest first, pages with limit and cursor, filters by status (all
// issued coupons are AVAILABLE; USED and EXPIRED list none), and rejects other status values.
// Method: one user takes coupons from 5 campaigns (on both shards); read with limit 2 with and
// without status=AVAILABLE; status USED, EXPIRED empty; available, FOO and "" are 400 status.
TEST_F(coupons, wallet_lists_newest_first_pages_and_filters_by_status) {
  auto users = bulk_users(client(), 1, k_bulk_prefix);
  const auto& u = users[0];
  std::vector<int64_t> issued_ids;  // in issue order
  for (int i = 0; i < 5; ++i) {
    const int64_t campaign = open_campaign(client(), 3);
    auto response = issue(client(), campaign, u.token);
    ASSERT_EQ(response.status, 201) << describe(response);
    issued_ids.push_back(parse_json(response.body)["id"].as_int());
  }
  std::vector<int64_t> newest_first(issued_ids.rbegin(), issued_ids.rend());
  for (const char* query : {"", "status=AVAILABLE"}) {
    SCOPED_TRACE(query);
    std::vector<int64_t> seen;
    std::string cursor;
    int pages = 0;
    for (; pages < 10; ++pages) {
      std::string target = user_path(u.id, "/coupons?limit=2");
      if (*query) target += std::string("&") + query;
      if (!cursor.empty()) target += "&cursor=" + cursor;
      auto response = client().get(target, bearer(u.token));
      ASSERT_EQ(response.status, 200) << describe(response);
      auto doc = parse_json(response.body);
      EXPECT_LE(doc["items"].size(), 2u);
      for (const auto& item : doc["items"].elements()) {
        seen.push_back(item["id"].as_int());
        EXPECT_EQ(item["status"].as_string(), "AVAILABLE");
        EXPECT_EQ(item["user_id"].as_int(), u.id);
      }
      if (doc["next_cursor"].is_null()) break;
      cursor = doc["next_cursor"].as_string();
    }
    EXPECT_EQ(seen, newest_first);
    EXPECT_EQ(pages, 2) << "5 coupons by 2 are 3 pages";
  }
  for (const char* status : {"USED", "EXPIRED"}) {
    SCOPED_TRACE(status);
    auto response =
        client().get(user_path(u.id, std::string("/coupons?status=") + status), bearer(u.token));
    ASSERT_EQ(response.status, 200) << describe(response);
    auto doc = parse_json(response.body);
    EXPECT_EQ(doc["items"].size(), 0u);
    EXPECT_TRUE(doc["next_cursor"].is_null());
  }
  for (const char* status : {"available", "FOO", ""}) {
    SCOPED_TRACE(status);
    expect_validation_failed(
        client().get(user_path(u.id, std::string("/coupons?status=") + status), bearer(u.token)),
        "status");
  }
  expect_validation_failed(client().get(user_path(u.id, "/coupons?limit=0"), bearer(u.token)),
                           "limit");
  expect_validation_failed(client().get(user_path(u.id, "/coupons?limit=101"), bearer(u.token)),
                           "limit");
}

// Goal: a new user's wallet and history are empty lists. Method: GET both right after sign-up.
TEST_F(coupons, new_users_wallet_and_history_are_empty) {
  auto s = user("empty-wallet");
  for (const char* suffix : {"/coupons", "/coupons/history"}) {
    auto response = client().get(user_path(s.user_id, suffix), bearer(s.access_token));
    ASSERT_EQ(response.status, 200) << describe(response);
    EXPECT_EQ(response.body, R"({"items":[],"next_cursor":null})");
  }
}

// Goal: wallet and history follow the access rules of /users/{id}/...: no token 401, another
// user's token 403, the admin token works, an unknown user is 404 USER_NOT_FOUND, a malformed
// id 400. Method: each on both routes.
TEST_F(coupons, wallet_and_history_follow_user_access_rules) {
  auto a = user("wallet-a");
  auto b = user("wallet-b");
  for (const char* suffix : {"/coupons", "/coupons/history"}) {
    SCOPED_TRACE(suffix);
    expect_unauthenticated(client().get(user_path(a.user_id, suffix)));
    expect_problem(client().get(user_path(a.user_id, suffix), bearer(b.access_token)), 403,
                   "FORBIDDEN");
    EXPECT_EQ(client().get(user_path(a.user_id, suffix), bearer(admin())).status, 200);
    expect_problem(client().get(user_path(k_missing_id, suffix), bearer(admin())), 404,
                   "USER_NOT_FOUND");
    expect_validation_failed(client().get(std::string("/users/abc") + suffix, bearer(admin())),
                             "id");
  }
}

// Goal: the history lists one ISSUE per issued coupon, newest first, paged. Method: a user takes
// coupons from 3 campaigns; history with limit 2: 3 ISSUE entries whose user_coupon_ids are the
// wallet ids in the same order, coupon_id matching, order_id null; rejections add nothing.
TEST_F(coupons, history_records_one_issue_per_coupon_newest_first) {
  auto users = bulk_users(client(), 1, k_bulk_prefix);
  const auto& u = users[0];
  std::vector<int64_t> campaigns;
  for (int i = 0; i < 3; ++i) {
    campaigns.push_back(open_campaign(client(), 1));
    ASSERT_EQ(issue(client(), campaigns.back(), u.token).status, 201);
  }
  expect_problem(issue(client(), campaigns[0], u.token), 409, "COUPON_ALREADY_ISSUED");
  auto wallet = wallet_of(client(), u.id, u.token);
  auto history = list_all(client(), user_path(u.id, "/coupons/history"), 2, u.token);
  ASSERT_EQ(wallet.size(), 3u);
  ASSERT_EQ(history.size(), 3u);
  std::set<int64_t> entry_ids;
  for (size_t i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(history[i]["action"].as_string(), "ISSUE");
    EXPECT_EQ(history[i]["user_coupon_id"].as_int(), wallet[i]["id"].as_int());
    EXPECT_EQ(history[i]["coupon_id"].as_int(), wallet[i]["coupon_id"].as_int());
    EXPECT_TRUE(history[i]["order_id"].is_null());
    entry_ids.insert(history[i]["id"].as_int());
  }
  EXPECT_EQ(entry_ids.size(), 3u);
  expect_validation_failed(
      client().get(user_path(u.id, "/coupons/history?limit=0"), bearer(u.token)), "limit");
}

// Goal: /admin/stats shows campaigns and user coupons per shard, where their ids say they live.
// Method: two campaigns (one per shard) and 6 users who each take one coupon of each; per shard
// campaigns = campaigns with id % 2 == shard, user_coupons = 2 × users with id % 2 == shard.
TEST_F(coupons, admin_stats_count_campaigns_and_user_coupons_per_shard) {
  const int64_t first = open_campaign(client(), 10);
  const int64_t second = open_campaign(client(), 10);
  auto users = bulk_users(client(), 6, k_bulk_prefix);
  for (const auto& u : users) {
    ASSERT_EQ(issue(client(), first, u.token).status, 201);
    ASSERT_EQ(issue(client(), second, u.token).status, 201);
  }
  auto response = client().get("/admin/stats", bearer(admin()));
  ASSERT_EQ(response.status, 200) << describe(response);
  auto doc = parse_json(response.body);
  ASSERT_EQ(doc["shards"].size(), 2u);
  for (const auto& shard : doc["shards"].elements()) {
    const int64_t index = shard["shard"].as_int();
    SCOPED_TRACE("shard " + std::to_string(index));
    int64_t campaigns = (first % 2 == index) + (second % 2 == index);
    int64_t coupons = 0;
    for (const auto& u : users) coupons += (u.id % 2 == index) ? 2 : 0;
    EXPECT_EQ(shard["campaigns"].as_int(), campaigns);
    EXPECT_EQ(shard["user_coupons"].as_int(), coupons);
  }
  auto s = user("stats");
  expect_problem(client().get("/admin/stats", bearer(s.access_token)), 403, "FORBIDDEN");
}

// --- idempotency ----------------------------------------------------------------------------

// Goal: the same key twice replays the stored 201 byte for byte and takes one unit; the scope is
// the token's user and the concrete path. Method: U issues with key K twice (second: replayed,
// identical); remaining drops by one; U with K on another campaign and V with K on the first
// campaign are new requests (201, not replayed).
TEST_F(coupons, same_key_twice_replays_identical_201_and_issues_once) {
  const int64_t campaign = open_campaign(client(), 5);
  const int64_t other = open_campaign(client(), 5);
  auto users = bulk_users(client(), 2, k_bulk_prefix);
  auto first = issue_with_key(client(), campaign, users[0].token, "issue-key-1");
  ASSERT_EQ(first.status, 201) << describe(first);
  EXPECT_NE(first.header_or("Idempotent-Replayed"), "true");
  auto replay = issue_with_key(client(), campaign, users[0].token, "issue-key-1");
  ASSERT_EQ(replay.status, 201) << describe(replay);
  EXPECT_EQ(replay.header_or("Idempotent-Replayed"), "true");
  EXPECT_EQ(replay.body, first.body);
  EXPECT_EQ(campaign_of(client(), campaign)["remaining_quantity"].as_int(), 4);
  EXPECT_EQ(held_from(client(), users[0].id, campaign).size(), 1u);
  auto history = list_all(client(), user_path(users[0].id, "/coupons/history"), 100, admin());
  EXPECT_EQ(history.size(), 1u);

  auto elsewhere = issue_with_key(client(), other, users[0].token, "issue-key-1");
  ASSERT_EQ(elsewhere.status, 201) << describe(elsewhere);
  EXPECT_NE(elsewhere.header_or("Idempotent-Replayed"), "true");
  EXPECT_EQ(parse_json(elsewhere.body)["fcfs_coupon_id"].as_int(), other);
  auto someone_else = issue_with_key(client(), campaign, users[1].token, "issue-key-1");
  ASSERT_EQ(someone_else.status, 201) << describe(someone_else);
  EXPECT_NE(someone_else.header_or("Idempotent-Replayed"), "true");
  EXPECT_EQ(parse_json(someone_else.body)["user_id"].as_int(), users[1].id);
  EXPECT_EQ(campaign_of(client(), campaign)["remaining_quantity"].as_int(), 3);
}

// Goal: a 409 is stored under its key and replayed: sold out stays the answer for that key, and
// already-issued too. Method: campaign of 1; A takes it; B with key KB → 409 SOLD_OUT, again →
// replayed identical; A with key KA → 409 ALREADY_ISSUED, again → replayed identical; nothing
// changed (remaining 0, A holds one, B none).
TEST_F(coupons, same_key_after_a_409_replays_the_stored_409) {
  const int64_t campaign = open_campaign(client(), 1);
  auto users = bulk_users(client(), 2, k_bulk_prefix);
  ASSERT_EQ(issue(client(), campaign, users[0].token).status, 201);
  auto sold = issue_with_key(client(), campaign, users[1].token, "kb");
  expect_problem(sold, 409, "COUPON_SOLD_OUT");
  EXPECT_NE(sold.header_or("Idempotent-Replayed"), "true");
  auto sold_again = issue_with_key(client(), campaign, users[1].token, "kb");
  expect_problem(sold_again, 409, "COUPON_SOLD_OUT");
  EXPECT_EQ(sold_again.header_or("Idempotent-Replayed"), "true");
  EXPECT_EQ(sold_again.body, sold.body);

  auto held = issue_with_key(client(), campaign, users[0].token, "ka");
  expect_problem(held, 409, "COUPON_ALREADY_ISSUED");
  auto held_again = issue_with_key(client(), campaign, users[0].token, "ka");
  expect_problem(held_again, 409, "COUPON_ALREADY_ISSUED");
  EXPECT_EQ(held_again.header_or("Idempotent-Replayed"), "true");
  EXPECT_EQ(held_again.body, held.body);

  EXPECT_EQ(campaign_of(client(), campaign)["remaining_quantity"].as_int(), 0);
  EXPECT_EQ(held_from(client(), users[0].id, campaign).size(), 1u);
  EXPECT_EQ(held_from(client(), users[1].id, campaign).size(), 0u);
}

// Goal: 404 is not stored: the same key on that path proceeds normally later, and a key that is
// empty, too long or has other characters is 400 naming Idempotency-Key and takes nothing; 255
// visible characters are fine. Method: unknown campaign with key K twice (404 both, never
// replayed); bad keys on an open campaign; then a 255-char key issues 201.
TEST_F(coupons, malformed_idempotency_key_is_400_and_404_is_not_stored) {
  const int64_t campaign = open_campaign(client(), 2);
  auto users = bulk_users(client(), 1, k_bulk_prefix);
  for (int i = 0; i < 2; ++i) {
    auto missing = issue_with_key(client(), k_missing_id, users[0].token, "k404");
    expect_problem(missing, 404, "COUPON_NOT_FOUND");
    EXPECT_NE(missing.header_or("Idempotent-Replayed"), "true");
  }
  for (const std::string& key :
       {std::string(""), std::string(256, 'k'), std::string("a b"), std::string("caf\xc3\xa9")}) {
    SCOPED_TRACE("key of " + std::to_string(key.size()) + " bytes");
    expect_validation_failed(issue_with_key(client(), campaign, users[0].token, key),
                             "Idempotency-Key");
  }
  EXPECT_EQ(campaign_of(client(), campaign)["remaining_quantity"].as_int(), 2);
  auto longest = issue_with_key(client(), campaign, users[0].token, std::string(255, '~'));
  ASSERT_EQ(longest.status, 201) << describe(longest);
  EXPECT_EQ(campaign_of(client(), campaign)["remaining_quantity"].as_int(), 1);
}

// Goal: the same key sent from 8 connections at once issues exactly once: exactly one fresh 201;
// every other answer is the replayed 201 (identical body) or 409 IDEMPOTENCY_KEY_IN_USE; the
// wallet holds one coupon and the campaign lost one unit; afterwards the key replays the 201.
// Method: 10 rounds, each a different user with its own key, 8 racing connections.
TEST_F(coupons, same_key_from_eight_connections_at_once_issues_exactly_once) {
  constexpr int k_rounds = 10, k_connections = 8;
  const int64_t campaign = open_campaign(client(), 100);
  auto users = bulk_users(client(), k_rounds, k_bulk_prefix);
  int in_use_seen = 0, replays_seen = 0;
  for (int round = 0; round < k_rounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    const auto& u = users[round];
    const std::string key = "race-" + std::to_string(round);
    std::vector<http_response> answers(k_connections);
    race(server().port(), k_connections, [&](int t, http_client& own) {
      answers[t] = issue_with_key(own, campaign, u.token, key);
    });
    int fresh = 0;
    std::string fresh_body;
    for (const auto& a : answers) {
      if (a.status == 201 && a.header_or("Idempotent-Replayed") != "true") {
        ++fresh;
        fresh_body = a.body;
      }
    }
    ASSERT_EQ(fresh, 1);
    for (const auto& a : answers) {
      if (a.status == 201) {
        EXPECT_EQ(a.body, fresh_body);
        if (a.header_or("Idempotent-Replayed") == "true") ++replays_seen;
      } else {
        EXPECT_TRUE(is_problem(a, 409, "IDEMPOTENCY_KEY_IN_USE"));
        ++in_use_seen;
      }
    }
    auto held = held_from(client(), u.id, campaign);
    ASSERT_EQ(held.size(), 1u);
    EXPECT_EQ(held[0].dump(), fresh_body);
    auto after = issue_with_key(client(), campaign, u.token, key);
    EXPECT_EQ(after.status, 201);
    EXPECT_EQ(after.header_or("Idempotent-Replayed"), "true");
    EXPECT_EQ(after.body, fresh_body);
  }
  EXPECT_EQ(campaign_of(client(), campaign)["remaining_quantity"].as_int(), 100 - k_rounds);
  std::cout << "[ info ] same-key race: " << in_use_seen << " IDEMPOTENCY_KEY_IN_USE, "
            << replays_seen << " replays over " << k_rounds * (k_connections - 1)
            << " losing requests\n";
}

// --- concurrency ----------------------------------------------------------------------------

// Goal: one user asking 50 times at once gets exactly one coupon. Method: 50 connections, one
// user, no key, racing on a campaign of 10: exactly one 201 and 49 × 409 COUPON_ALREADY_ISSUED;
// the wallet holds that one coupon, the history one ISSUE, remaining 9.
TEST_F(coupons, same_user_fifty_connections_at_once_gets_exactly_one_coupon) {
  constexpr int k_connections = 50;
  const int64_t campaign = open_campaign(client(), 10);
  auto users = bulk_users(client(), 1, k_bulk_prefix);
  std::vector<http_response> answers(k_connections);
  race(server().port(), k_connections,
       [&](int t, http_client& own) { answers[t] = issue(own, campaign, users[0].token); });
  std::map<std::string, int> outcomes;
  std::string issued_body;
  for (const auto& a : answers) {
    ++outcomes[outcome_of(a)];
    if (a.status == 201) issued_body = a.body;
  }
  EXPECT_EQ(outcomes, (std::map<std::string, int>{{"201", 1}, {"409 COUPON_ALREADY_ISSUED", 49}}));
  auto held = held_from(client(), users[0].id, campaign);
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(held[0].dump(), issued_body);
  EXPECT_EQ(list_all(client(), user_path(users[0].id, "/coupons/history"), 100, admin()).size(),
            1u);
  EXPECT_EQ(campaign_of(client(), campaign)["remaining_quantity"].as_int(), 9);
}

// Asks for every user once from `connections` connections (user i on connection i % n);
// returns each user's answer.
std::vector<http_response> everyone_asks(uint16_t port, int connections, int64_t campaign,
                                         const std::vector<bulk_user>& users) {
  std::vector<http_response> answers(users.size());
  race(port, connections, [&](int t, http_client& own) {
    for (size_t i = t; i < users.size(); i += connections)
      answers[i] = issue(own, campaign, users[i].token);
  });
  return answers;
}

// Checks a finished campaign against the answers its askers saw: exactly `quantity` 201 and the
// rest SOLD_OUT, remaining 0 and SOLD_OUT, every 201 user holds exactly that coupon, nobody else
// holds one.
void expect_exactly_quantity_issued(http_client& client, int64_t campaign, int64_t quantity,
                                    const std::vector<bulk_user>& users,
                                    const std::vector<http_response>& answers) {
  SCOPED_TRACE("campaign " + std::to_string(campaign));
  std::map<std::string, int> outcomes;
  for (const auto& a : answers) ++outcomes[outcome_of(a)];
  EXPECT_EQ(outcomes,
            (std::map<std::string, int>{{"201", int(quantity)},
                                        {"409 COUPON_SOLD_OUT", int(users.size() - quantity)}}));
  auto c = campaign_of(client, campaign);
  EXPECT_EQ(c["remaining_quantity"].as_int(), 0);
  EXPECT_EQ(c["status"].as_string(), "SOLD_OUT");
  std::set<int64_t> coupon_ids;
  int64_t held_total = 0;
  for (size_t i = 0; i < users.size(); ++i) {
    auto held = held_from(client, users[i].id, campaign);
    held_total += int64_t(held.size());
    if (answers[i].status == 201) {
      EXPECT_EQ(held.size(), 1u) << "user " << users[i].id << " got a 201";
      if (held.size() == 1) {
        EXPECT_EQ(held[0].dump(), answers[i].body);
        coupon_ids.insert(held[0]["id"].as_int());
      }
    } else {
      EXPECT_EQ(held.size(), 0u) << "user " << users[i].id << " got " << outcome_of(answers[i]);
    }
  }
  EXPECT_EQ(held_total, quantity);
  EXPECT_EQ(coupon_ids.size(), size_t(quantity)) << "user coupon ids must be distinct";
}

// Goal: 1,000 users racing for 30 coupons over 64 connections: exactly 30 get one, 970 are
// SOLD_OUT, the campaign ends SOLD_OUT with remaining 0, every winner holds exactly the coupon
// it was answered and no loser holds one. Method: bulk users, 64 racing connections, then every
// wallet read with the admin token.
TEST_F(coupons, thousand_users_for_thirty_coupons_issue_exactly_thirty) {
  const int64_t campaign = open_campaign(client(), 30);
  auto users = bulk_users(client(), 1000, k_bulk_prefix);
  auto answers = everyone_asks(server().port(), 64, campaign, users);
  expect_exactly_quantity_issued(client(), campaign, 30, users, answers);
}

// Goal: two campaigns on different shards run at once without interfering: each issues exactly
// its own quantity. Method: two campaigns created back to back (ids on different shards with
// --shards 2) of 37 and 113; 500 users over 32 connections each ask both (in alternating
// order); per campaign exactly its quantity of 201, the rest SOLD_OUT, wallets match.
TEST_F(coupons, two_campaigns_on_different_shards_each_issue_exactly_their_quantity) {
  const int64_t coupon =
      coupon_id_of(create_coupon_ok(client(), coupon_body("Dual", "PERCENT", 5, 30)));
  const int64_t now = now_ms();
  const int64_t first =
      parse_json(create_campaign_ok(client(), coupon, 37, now - 1000, now + 3'600'000))["id"]
          .as_int();
  const int64_t second =
      parse_json(create_campaign_ok(client(), coupon, 113, now - 1000, now + 3'600'000))["id"]
          .as_int();
  ASSERT_NE(first % 2, second % 2)
      << "campaigns " << first << " and " << second << " are on the same shard";
  constexpr int k_connections = 32;
  auto users = bulk_users(client(), 500, k_bulk_prefix);
  std::vector<http_response> to_first(users.size()), to_second(users.size());
  race(server().port(), k_connections, [&](int t, http_client& own) {
    for (size_t i = t; i < users.size(); i += k_connections) {
      if (i % 2 == 0) {
        to_first[i] = issue(own, first, users[i].token);
        to_second[i] = issue(own, second, users[i].token);
      } else {
        to_second[i] = issue(own, second, users[i].token);
        to_first[i] = issue(own, first, users[i].token);
      }
    }
  });
  expect_exactly_quantity_issued(client(), first, 37, users, to_first);
  expect_exactly_quantity_issued(client(), second, 113, users, to_second);
}

}  // namespace
}  // namespace ecom::test
