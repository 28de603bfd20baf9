// Balance: read, charge, history with pagination, the balance cap, access rules and the
// Idempotency-Key contract of the charge route.
#include <gtest/gtest.h>

#include <set>

#include "tests/e2e/e2e_fixture.h"

namespace ecom::test {
namespace {

class balance : public shared_server_test {
 protected:
  http_response history_page(const session& s, std::string_view query) {
    return client().get(user_path(s.user_id, "/balance/history") + std::string(query),
                        bearer(s.access_token));
  }
  http_response charge_with_key(const session& s, std::string_view body, std::string_view key) {
    header_list headers = json_bearer(s.access_token);
    headers.emplace_back("Idempotency-Key", key);
    return client().request("POST", user_path(s.user_id, "/balance/charge"), body, headers);
  }
};

// Goal: a new user has balance 0 and an empty history. Method: GET balance and history right
// after sign-up.
TEST_F(balance, new_user_has_zero_balance_and_empty_history) {
  auto s = sign_up_and_login(client(), "zero");
  auto response = client().get(user_path(s.user_id, "/balance"), bearer(s.access_token));
  ASSERT_EQ(response.status, 200) << describe(response);
  auto doc = parse_json(response.body);
  EXPECT_EQ(doc["user_id"].as_int(), s.user_id);
  EXPECT_EQ(doc["balance"].as_int(), 0);
  EXPECT_TRUE(is_rfc3339_utc_millis(doc["updated_at"].as_string())) << response.body;
  auto history = history_page(s, "");
  ASSERT_EQ(history.status, 200) << describe(history);
  auto list = parse_json(history.body);
  EXPECT_EQ(list["items"].size(), 0u);
  EXPECT_TRUE(list["next_cursor"].is_null());
}

// Goal: a charge adds to the balance and appends a CHARGE entry. Method: charge 1000 then 250,
// check each reply, GET balance and the history entries newest first with the before/after
// chain.
TEST_F(balance, charge_adds_amount_and_records_charge_history) {
  auto s = sign_up_and_login(client(), "charge");
  auto first = charge(client(), s.user_id, s.access_token, 1000);
  ASSERT_EQ(first.status, 200) << describe(first);
  auto first_doc = parse_json(first.body);
  EXPECT_EQ(first_doc["user_id"].as_int(), s.user_id);
  EXPECT_EQ(first_doc["balance"].as_int(), 1000);
  EXPECT_TRUE(is_rfc3339_utc_millis(first_doc["updated_at"].as_string()));
  auto second = charge(client(), s.user_id, s.access_token, 250);
  ASSERT_EQ(second.status, 200) << describe(second);
  EXPECT_EQ(parse_json(second.body)["balance"].as_int(), 1250);
  EXPECT_EQ(fetch_balance(client(), s.user_id, s.access_token), 1250);

  auto page = history_page(s, "");
  ASSERT_EQ(page.status, 200) << describe(page);
  auto doc = parse_json(page.body);
  ASSERT_EQ(doc["items"].size(), 2u);
  EXPECT_TRUE(doc["next_cursor"].is_null());
  auto newest = doc["items"][0];
  auto oldest = doc["items"][1];
  EXPECT_EQ(newest["type"].as_string(), "CHARGE");
  EXPECT_EQ(newest["amount"].as_int(), 250);
  EXPECT_EQ(newest["balance_before"].as_int(), 1000);
  EXPECT_EQ(newest["balance_after"].as_int(), 1250);
  EXPECT_TRUE(newest["order_id"].is_null());
  EXPECT_TRUE(is_rfc3339_utc_millis(newest["created_at"].as_string()));
  EXPECT_EQ(oldest["type"].as_string(), "CHARGE");
  EXPECT_EQ(oldest["amount"].as_int(), 1000);
  EXPECT_EQ(oldest["balance_before"].as_int(), 0);
  EXPECT_EQ(oldest["balance_after"].as_int(), 1000);
  EXPECT_NE(newest["id"].as_int(), oldest["id"].as_int());
  EXPECT_GE(newest["created_at"].as_string(), oldest["created_at"].as_string());
}

// Goal: amount bounds are inclusive 1..10000000. Method: charge both bounds, expect 200 and the
// sum; the balance history stays consistent.
TEST_F(balance, charge_accepts_amount_bounds_1_and_10000000) {
  auto s = sign_up_and_login(client(), "bounds");
  EXPECT_EQ(charge(client(), s.user_id, s.access_token, 1).status, 200);
  EXPECT_EQ(charge(client(), s.user_id, s.access_token, 10'000'000).status, 200);
  EXPECT_EQ(fetch_balance(client(), s.user_id, s.access_token), 10'000'001);
  EXPECT_TRUE(history_consistent(fetch_history(client(), s.user_id, s.access_token), 10'000'001));
}

// Goal: the admin token may charge and read any user. Method: admin charges, admin and user
// both see the result.
TEST_F(balance, admin_token_charges_and_reads_any_user) {
  auto s = sign_up_and_login(client(), "admincharge");
  auto response = charge(client(), s.user_id, admin(), 777);
  ASSERT_EQ(response.status, 200) << describe(response);
  EXPECT_EQ(fetch_balance(client(), s.user_id, admin()), 777);
  EXPECT_EQ(fetch_balance(client(), s.user_id, s.access_token), 777);
  EXPECT_EQ(fetch_history(client(), s.user_id, admin()).size(), 1u);
}

// Goal: a user token on another user's balance routes is 403 and changes nothing. Method: A
// reads, charges and lists B's balance: 403 each; B's balance and history stay as they were.
TEST_F(balance, another_users_token_is_403_and_changes_nothing) {
  auto a = sign_up_and_login(client(), "intruder");
  auto b = sign_up_and_login(client(), "victim");
  ASSERT_EQ(charge(client(), b.user_id, b.access_token, 500).status, 200);
  expect_problem(client().get(user_path(b.user_id, "/balance"), bearer(a.access_token)), 403,
                 "FORBIDDEN");
  expect_problem(charge(client(), b.user_id, a.access_token, 100), 403, "FORBIDDEN");
  expect_problem(client().get(user_path(b.user_id, "/balance/history"), bearer(a.access_token)),
                 403, "FORBIDDEN");
  EXPECT_EQ(fetch_balance(client(), b.user_id, b.access_token), 500);
  EXPECT_EQ(fetch_history(client(), b.user_id, b.access_token).size(), 1u);
  EXPECT_EQ(fetch_balance(client(), a.user_id, a.access_token), 0);
}

// Goal: balance routes need a token. Method: no token on each route is 401 with
// WWW-Authenticate, and no charge happened.
TEST_F(balance, balance_routes_without_token_are_401) {
  auto s = sign_up_and_login(client(), "anon");
  expect_unauthenticated(client().get(user_path(s.user_id, "/balance")));
  expect_unauthenticated(
      client().post_json(user_path(s.user_id, "/balance/charge"), R"({"amount":100})"));
  expect_unauthenticated(client().get(user_path(s.user_id, "/balance/history")));
  EXPECT_EQ(fetch_balance(client(), s.user_id, s.access_token), 0);
}

// Goal: unknown users are 404 USER_NOT_FOUND for the admin. Method: admin on a valid but
// unused id for each balance route.
TEST_F(balance, unknown_user_is_404_user_not_found) {
  const std::string missing = "/users/9223372036854775807";
  expect_problem(client().get(missing + "/balance", bearer(admin())), 404, "USER_NOT_FOUND");
  expect_problem(
      client().post_json(missing + "/balance/charge", R"({"amount":100})", bearer(admin())), 404,
      "USER_NOT_FOUND");
  expect_problem(client().get(missing + "/balance/history", bearer(admin())), 404,
                 "USER_NOT_FOUND");
}

// Goal: the documented check order on the charge route: 401 → 400 path id → 403 → 415 / 400
// body → 404 USER_NOT_FOUND. Method: requests that break two rules at once get the earlier
// error.
TEST_F(balance, charge_checks_run_in_the_documented_order) {
  auto a = sign_up_and_login(client(), "order-a");
  auto b = sign_up_and_login(client(), "order-b");
  const std::string missing = "/users/9223372036854775807/balance/charge";
  header_list plain_admin{{"Content-Type", "text/plain"}, {"Authorization", "Bearer " + admin()}};
  header_list plain_a{{"Content-Type", "text/plain"},
                      {"Authorization", "Bearer " + a.access_token}};
  // no token + bad path id → 401
  expect_unauthenticated(client().post_json("/users/abc/balance/charge", R"({"amount":1})"));
  // bad path id + another user's token → 400 id
  expect_validation_failed(
      client().post_json("/users/abc/balance/charge", R"({"amount":1})", bearer(a.access_token)),
      "id");
  // another user's token + wrong media type / bad body → 403
  expect_problem(
      client().request("POST", user_path(b.user_id, "/balance/charge"), R"({"amount":1})", plain_a),
      403, "FORBIDDEN");
  expect_problem(charge(client(), b.user_id, a.access_token, 0), 403, "FORBIDDEN");
  // unknown user + wrong media type / bad body / malformed JSON → 415 / 400
  expect_problem(client().request("POST", missing, R"({"amount":1})", plain_admin), 415,
                 "UNSUPPORTED_MEDIA_TYPE");
  expect_validation_failed(client().post_json(missing, R"({"amount":0})", bearer(admin())),
                           "amount");
  expect_problem(client().post_json(missing, R"({"amount":)", bearer(admin())), 400,
                 "MALFORMED_JSON");
  EXPECT_EQ(fetch_balance(client(), b.user_id, b.access_token), 0);
}

// Goal: the balance may reach 1,000,000,000 but not exceed it. Method: 100 charges of
// 10,000,000 reach the cap exactly; one more won is 409 BALANCE_LIMIT_EXCEEDED and changes
// neither balance nor history.
TEST_F(balance, charge_above_one_billion_is_409_balance_limit_exceeded) {
  auto s = sign_up_and_login(client(), "cap");
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(charge(client(), s.user_id, s.access_token, 10'000'000).status, 200) << i;
  }
  EXPECT_EQ(fetch_balance(client(), s.user_id, s.access_token), 1'000'000'000);
  expect_problem(charge(client(), s.user_id, s.access_token, 1), 409, "BALANCE_LIMIT_EXCEEDED");
  EXPECT_EQ(fetch_balance(client(), s.user_id, s.access_token), 1'000'000'000);
  auto history = fetch_history(client(), s.user_id, s.access_token);
  EXPECT_EQ(history.size(), 100u);
  EXPECT_TRUE(history_consistent(history, 1'000'000'000));
}

// Goal: default page size 20 and an opaque cursor that walks the whole history once. Method:
// 25 charges with amounts 1..25; the first page has 20 entries (25..6) and a cursor, the second
// 5 entries (5..1) and next_cursor null.
TEST_F(balance, history_pages_by_20_by_default_and_ends_with_null_cursor) {
  auto s = sign_up_and_login(client(), "pages");
  for (int amount = 1; amount <= 25; ++amount) {
    ASSERT_EQ(charge(client(), s.user_id, s.access_token, amount).status, 200);
  }
  auto first = history_page(s, "");
  ASSERT_EQ(first.status, 200) << describe(first);
  auto first_doc = parse_json(first.body);
  auto items = first_doc["items"].elements();
  ASSERT_EQ(items.size(), 20u);
  for (size_t i = 0; i < items.size(); ++i) EXPECT_EQ(items[i]["amount"].as_int(), 25 - int(i));
  ASSERT_TRUE(first_doc["next_cursor"].is_string()) << first.body;
  auto second = history_page(s, "?cursor=" + first_doc["next_cursor"].as_string());
  ASSERT_EQ(second.status, 200) << describe(second);
  auto second_doc = parse_json(second.body);
  auto rest = second_doc["items"].elements();
  ASSERT_EQ(rest.size(), 5u);
  for (size_t i = 0; i < rest.size(); ++i) EXPECT_EQ(rest[i]["amount"].as_int(), 5 - int(i));
  EXPECT_TRUE(second_doc["next_cursor"].is_null());
}

// Goal: explicit limits page without gaps or repeats. Method: 23 charges; limit=7 gives pages
// of 7,7,7,2 whose amounts, concatenated, are 23..1; limit=1 and limit=100 are accepted.
TEST_F(balance, history_limit_pages_without_gaps_or_duplicates) {
  auto s = sign_up_and_login(client(), "limit");
  for (int amount = 1; amount <= 23; ++amount) {
    ASSERT_EQ(charge(client(), s.user_id, s.access_token, amount).status, 200);
  }
  std::vector<int64_t> amounts;
  std::vector<size_t> sizes;
  std::string cursor;
  for (int page = 0; page < 10; ++page) {
    auto response = history_page(s, "?limit=7" + (cursor.empty() ? "" : "&cursor=" + cursor));
    ASSERT_EQ(response.status, 200) << describe(response);
    auto doc = parse_json(response.body);
    auto items = doc["items"].elements();
    sizes.push_back(items.size());
    for (const auto& item : items) amounts.push_back(item["amount"].as_int());
    if (doc["next_cursor"].is_null()) break;
    cursor = doc["next_cursor"].as_string();
  }
  EXPECT_EQ(sizes, (std::vector<size_t>{7, 7, 7, 2}));
  std::vector<int64_t> expected;
  for (int amount = 23; amount >= 1; --amount) expected.push_back(amount);
  EXPECT_EQ(amounts, expected);
  auto one = history_page(s, "?limit=1");
  ASSERT_EQ(one.status, 200);
  EXPECT_EQ(parse_json(one.body)["items"].size(), 1u);
  auto hundred = history_page(s, "?limit=100");
  ASSERT_EQ(hundred.status, 200);
  auto hundred_doc = parse_json(hundred.body);
  EXPECT_EQ(hundred_doc["items"].size(), 23u);
  EXPECT_TRUE(hundred_doc["next_cursor"].is_null());
}

// Goal: limit outside 1..100 or not an integer, and a cursor the server never issued, are 400
// with the field named. Method: one request per bad value.
TEST_F(balance, history_rejects_bad_limit_and_cursor) {
  auto s = sign_up_and_login(client(), "badlimit");
  ASSERT_EQ(charge(client(), s.user_id, s.access_token, 5).status, 200);
  for (const char* limit : {"0", "101", "-1", "abc", "1.5", "", "99999999999999999999"}) {
    SCOPED_TRACE(std::string("limit=") + limit);
    expect_validation_failed(history_page(s, std::string("?limit=") + limit), "limit");
  }
  for (const char* cursor : {"not-a-cursor", "%00%01", "AAAA"}) {
    SCOPED_TRACE(std::string("cursor=") + cursor);
    expect_validation_failed(history_page(s, std::string("?cursor=") + cursor), "cursor");
  }
}

// Goal: a cursor is bound to its user's history. Method: take a cursor from A's history and
// use it on B's history: 400 field cursor or a page of B's own entries only, never A's.
TEST_F(balance, history_cursor_never_reveals_another_users_entries) {
  auto a = sign_up_and_login(client(), "cursor-a");
  auto b = sign_up_and_login(client(), "cursor-b");
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(charge(client(), a.user_id, a.access_token, 11).status, 200);
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(charge(client(), b.user_id, b.access_token, 22).status, 200);
  auto page = history_page(a, "?limit=1");
  ASSERT_EQ(page.status, 200);
  const std::string cursor = parse_json(page.body)["next_cursor"].as_string();
  auto response = history_page(b, "?limit=100&cursor=" + cursor);
  if (response.status == 200) {
    for (const auto& item : parse_json(response.body)["items"].elements()) {
      EXPECT_EQ(item["amount"].as_int(), 22) << response.body;
    }
  } else {
    expect_validation_failed(response, "cursor");
  }
}

// Goal: a replayed Idempotency-Key returns the stored answer byte for byte and changes nothing.
// Method: charge with a key twice; the second reply has Idempotent-Replayed: true and the same
// status and body; balance and history show one charge.
TEST_F(balance, idempotent_charge_replays_stored_response_and_charges_once) {
  auto s = sign_up_and_login(client(), "idem");
  const std::string body = R"({"amount":1234})";
  auto first = charge_with_key(s, body, "charge-key-1");
  ASSERT_EQ(first.status, 200) << describe(first);
  EXPECT_NE(first.header_or("Idempotent-Replayed"), "true");
  auto replay = charge_with_key(s, body, "charge-key-1");
  ASSERT_EQ(replay.status, 200) << describe(replay);
  EXPECT_EQ(replay.header_or("Idempotent-Replayed"), "true");
  EXPECT_EQ(replay.body, first.body);
  EXPECT_EQ(fetch_balance(client(), s.user_id, s.access_token), 1234);
  EXPECT_EQ(fetch_history(client(), s.user_id, s.access_token).size(), 1u);
  // A different key is a new charge.
  ASSERT_EQ(charge_with_key(s, body, "charge-key-2").status, 200);
  EXPECT_EQ(fetch_balance(client(), s.user_id, s.access_token), 2468);
}

// Goal: the same key with another body is 422 IDEMPOTENCY_KEY_REUSED. Method: charge 100 with a
// key, then 200 with the same key (and the same amount with different bytes): 422 each, balance
// stays 100.
TEST_F(balance, same_key_with_different_body_is_422_idempotency_key_reused) {
  auto s = sign_up_and_login(client(), "reuse");
  ASSERT_EQ(charge_with_key(s, R"({"amount":100})", "reuse-key").status, 200);
  expect_problem(charge_with_key(s, R"({"amount":200})", "reuse-key"), 422,
                 "IDEMPOTENCY_KEY_REUSED");
  expect_problem(charge_with_key(s, R"({ "amount": 100 })", "reuse-key"), 422,
                 "IDEMPOTENCY_KEY_REUSED");
  EXPECT_EQ(fetch_balance(client(), s.user_id, s.access_token), 100);
  EXPECT_EQ(fetch_history(client(), s.user_id, s.access_token).size(), 1u);
}

// Goal: the key scope is the user of the path. Method: the admin charges users A and B with
// the same key and body: both are applied, neither is a replay.
TEST_F(balance, idempotency_key_scope_is_the_user_of_the_path) {
  auto a = sign_up_and_login(client(), "scope-a");
  auto b = sign_up_and_login(client(), "scope-b");
  for (const auto& s : {a, b}) {
    header_list headers = json_bearer(admin());
    headers.emplace_back("Idempotency-Key", "shared-key");
    auto response = client().request("POST", user_path(s.user_id, "/balance/charge"),
                                     R"({"amount":300})", headers);
    ASSERT_EQ(response.status, 200) << describe(response);
    EXPECT_NE(response.header_or("Idempotent-Replayed"), "true");
    EXPECT_EQ(fetch_balance(client(), s.user_id, s.access_token), 300);
  }
}

// Goal: keys must be 1..255 visible ASCII chars. Method: empty, 256 chars, an inner space, an
// inner tab and a non-ASCII byte are each 400 field Idempotency-Key and charge nothing; 255 visible
// chars (all of 0x21..0x7E) is accepted.
TEST_F(balance, malformed_idempotency_key_is_400_and_charges_nothing) {
  auto s = sign_up_and_login(client(), "badkey");
  const std::string body = R"({"amount":10})";
  for (const std::string& key : {std::string(), std::string(256, 'k'), std::string("has space"),
                                 std::string("tab\there"), std::string("caf\xc3\xa9")}) {
    SCOPED_TRACE("key of " + std::to_string(key.size()) + " bytes");
    expect_validation_failed(charge_with_key(s, body, key), "Idempotency-Key");
  }
  EXPECT_EQ(fetch_balance(client(), s.user_id, s.access_token), 0);
  std::string visible;
  for (int c = 0x21; c <= 0x7E; ++c) visible += static_cast<char>(c);
  std::string longest = (visible + visible + visible).substr(0, 255);
  ASSERT_EQ(longest.size(), 255u);
  auto ok = charge_with_key(s, body, longest);
  EXPECT_EQ(ok.status, 200) << describe(ok);
  auto replay = charge_with_key(s, body, longest);
  EXPECT_EQ(replay.header_or("Idempotent-Replayed"), "true");
  EXPECT_EQ(fetch_balance(client(), s.user_id, s.access_token), 10);
}

// Goal: a 400 is not stored, so a corrected retry with the same key proceeds. Method: a bad
// amount with key K (400), then a good body with K: 200, not a replay, not a 422.
TEST_F(balance, validation_error_is_not_stored_under_the_key) {
  auto s = sign_up_and_login(client(), "retry400");
  expect_validation_failed(charge_with_key(s, R"({"amount":"100"})", "retry-key"), "amount");
  auto retry = charge_with_key(s, R"({"amount":100})", "retry-key");
  ASSERT_EQ(retry.status, 200) << describe(retry);
  EXPECT_NE(retry.header_or("Idempotent-Replayed"), "true");
  EXPECT_EQ(fetch_balance(client(), s.user_id, s.access_token), 100);
}

// Goal: 401 and 403 are not stored either. Method: key K without a token (401) and with
// another user's token (403), then with the right token: 200, not a replay.
TEST_F(balance, auth_errors_are_not_stored_under_the_key) {
  auto s = sign_up_and_login(client(), "retry401");
  auto other = sign_up_and_login(client(), "retry403");
  header_list no_token{{"Content-Type", "application/json"}, {"Idempotency-Key", "auth-key"}};
  expect_unauthenticated(client().request("POST", user_path(s.user_id, "/balance/charge"),
                                          R"({"amount":100})", no_token));
  header_list wrong_user = json_bearer(other.access_token);
  wrong_user.emplace_back("Idempotency-Key", "auth-key");
  expect_problem(client().request("POST", user_path(s.user_id, "/balance/charge"),
                                  R"({"amount":100})", wrong_user),
                 403, "FORBIDDEN");
  auto ok = charge_with_key(s, R"({"amount":100})", "auth-key");
  ASSERT_EQ(ok.status, 200) << describe(ok);
  EXPECT_NE(ok.header_or("Idempotent-Replayed"), "true");
  EXPECT_EQ(fetch_balance(client(), s.user_id, s.access_token), 100);
}

// Goal: authentication and authorization run before an idempotent replay, so a stored answer
// never leaks to another caller. Method: A charges with key K; K on A's path without a token is
// 401 and with B's token 403, neither a replay.
TEST_F(balance, replay_requires_the_same_authorization) {
  auto a = sign_up_and_login(client(), "replay-a");
  auto b = sign_up_and_login(client(), "replay-b");
  ASSERT_EQ(charge_with_key(a, R"({"amount":70})", "private-key").status, 200);
  header_list anonymous{{"Content-Type", "application/json"}, {"Idempotency-Key", "private-key"}};
  auto no_token = client().request("POST", user_path(a.user_id, "/balance/charge"),
                                   R"({"amount":70})", anonymous);
  expect_unauthenticated(no_token);
  EXPECT_NE(no_token.header_or("Idempotent-Replayed"), "true");
  header_list other = json_bearer(b.access_token);
  other.emplace_back("Idempotency-Key", "private-key");
  auto forbidden =
      client().request("POST", user_path(a.user_id, "/balance/charge"), R"({"amount":70})", other);
  expect_problem(forbidden, 403, "FORBIDDEN");
  EXPECT_NE(forbidden.header_or("Idempotent-Replayed"), "true");
  EXPECT_EQ(fetch_balance(client(), a.user_id, a.access_token), 70);
}

// Goal: a 409 is stored and replayed. Method: fill the balance to the cap, charge 1 with key K
// (409 BALANCE_LIMIT_EXCEEDED), replay K: the same 409 body with Idempotent-Replayed: true.
TEST_F(balance, conflict_409_is_stored_and_replayed) {
  auto s = sign_up_and_login(client(), "store409");
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(charge(client(), s.user_id, s.access_token, 10'000'000).status, 200);
  }
  auto first = charge_with_key(s, R"({"amount":1})", "cap-key");
  expect_problem(first, 409, "BALANCE_LIMIT_EXCEEDED");
  auto replay = charge_with_key(s, R"({"amount":1})", "cap-key");
  expect_problem(replay, 409, "BALANCE_LIMIT_EXCEEDED");
  EXPECT_EQ(replay.header_or("Idempotent-Replayed"), "true");
  EXPECT_EQ(replay.body, first.body);
  EXPECT_EQ(fetch_balance(client(), s.user_id, s.access_token), 1'000'000'000);
}

// Goal: idempotency keys survive a graceful restart. Method: own server; charge with a key,
// restart on the same data dir, replay: Idempotent-Replayed: true, identical body, one charge.
TEST(balance_restart, idempotency_keys_survive_restart) {
  server_process server;
  http_client client(server.port());
  auto s = sign_up_and_login(client, "idemrestart");
  header_list headers = json_bearer(s.access_token);
  headers.emplace_back("Idempotency-Key", "restart-key");
  auto first = client.request("POST", user_path(s.user_id, "/balance/charge"), R"({"amount":4321})",
                              headers);
  ASSERT_EQ(first.status, 200) << describe(first);
  server.restart();
  client.set_port(server.port());
  auto replay = client.request("POST", user_path(s.user_id, "/balance/charge"),
                               R"({"amount":4321})", headers);
  ASSERT_EQ(replay.status, 200) << describe(replay);
  EXPECT_EQ(replay.header_or("Idempotent-Replayed"), "true");
  EXPECT_EQ(replay.body, first.body);
  expect_problem(
      client.request("POST", user_path(s.user_id, "/balance/charge"), R"({"amount":1})", headers),
      422, "IDEMPOTENCY_KEY_REUSED");
  EXPECT_EQ(fetch_balance(client, s.user_id, s.access_token), 4321);
}

}  // namespace
}  // namespace ecom::test
