// Bad input: each malformed request gets its documented 4xx problem document, and the state is
// unchanged afterwards (balance and history for charges, no user for sign-ups).
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "tests/e2e/e2e_fixture.h"
#include "tests/support/commerce.h"

namespace ecom::test {
namespace {

class bad_input : public shared_server_test {
 protected:
  // Expects balance 100 and one history entry, the state every test below starts from.
  void expect_state_unchanged(const session& s) {
    EXPECT_EQ(fetch_balance(client(), s.user_id, s.access_token), 100);
    auto history = fetch_history(client(), s.user_id, s.access_token);
    EXPECT_EQ(history.size(), 1u);
    EXPECT_TRUE(history_consistent(history, 100));
  }
  session funded_user(std::string_view tag) {
    auto s = sign_up_and_login(client(), tag);
    auto response = charge(client(), s.user_id, s.access_token, 100);
    if (response.status != 200) throw std::runtime_error("setup charge: " + describe(response));
    return s;
  }
  http_response raw_charge(const session& s, std::string_view body) {
    return client().request("POST", user_path(s.user_id, "/balance/charge"), body,
                            json_bearer(s.access_token));
  }
};

struct bad_body {
  const char* label;
  const char* body;
  const char* code;  // MALFORMED_JSON, or VALIDATION_FAILED with field amount
  friend void PrintTo(const bad_body& b, std::ostream* os) { *os << b.body; }
};

class bad_charge_body : public bad_input, public ::testing::WithParamInterface<bad_body> {};

// Goal: every malformed or out-of-range charge body is 400 with the documented code (field
// amount for validation errors) and charges nothing. Method: one charge per body, then compare
// balance and history with the state before.
TEST_P(bad_charge_body, is_400_and_leaves_balance_and_history_unchanged) {
  auto s = funded_user(GetParam().label);
  auto response = raw_charge(s, GetParam().body);
  if (std::string_view(GetParam().code) == "VALIDATION_FAILED") {
    expect_validation_failed(response, "amount");
  } else {
    expect_problem(response, 400, GetParam().code);
  }
  expect_state_unchanged(s);
}

INSTANTIATE_TEST_SUITE_P(
    bodies, bad_charge_body,
    ::testing::Values(
        bad_body{"truncated", R"({"amount":)", "MALFORMED_JSON"},
        bad_body{"not_json", "amount=100", "MALFORMED_JSON"},
        bad_body{"empty", "", "MALFORMED_JSON"},
        bad_body{"trailing_garbage", R"({"amount":100} x)", "MALFORMED_JSON"},
        bad_body{"array", R"([{"amount":100}])", "MALFORMED_JSON"},
        bad_body{"bare_number", "100", "MALFORMED_JSON"},
        bad_body{"leading_zero", R"({"amount":0100})", "MALFORMED_JSON"},
        bad_body{"plus_sign", R"({"amount":+100})", "MALFORMED_JSON"},
        bad_body{"trailing_comma", R"({"amount":100,})", "MALFORMED_JSON"},
        bad_body{"single_quotes", R"({'amount':100})", "MALFORMED_JSON"},
        bad_body{"nan", R"({"amount":NaN})", "MALFORMED_JSON"},
        bad_body{"bare_string", R"("amount")", "MALFORMED_JSON"},
        bad_body{"null_document", "null", "MALFORMED_JSON"},
        bad_body{"string_amount", R"({"amount":"100"})", "VALIDATION_FAILED"},
        bad_body{"fraction", R"({"amount":1.5})", "VALIDATION_FAILED"},
        bad_body{"exponent", R"({"amount":1e3})", "VALIDATION_FAILED"},
        bad_body{"decimal_point", R"({"amount":1000.0})", "VALIDATION_FAILED"},
        bad_body{"boolean", R"({"amount":true})", "VALIDATION_FAILED"},
        bad_body{"null", R"({"amount":null})", "VALIDATION_FAILED"},
        bad_body{"object", R"({"amount":{"value":100}})", "VALIDATION_FAILED"},
        bad_body{"array_amount", R"({"amount":[100]})", "VALIDATION_FAILED"},
        bad_body{"missing", R"({"amt":100})", "VALIDATION_FAILED"},
        bad_body{"empty_object", "{}", "VALIDATION_FAILED"},
        bad_body{"zero", R"({"amount":0})", "VALIDATION_FAILED"},
        bad_body{"negative", R"({"amount":-1})", "VALIDATION_FAILED"},
        bad_body{"negative_zero", R"({"amount":-0})", "VALIDATION_FAILED"},
        bad_body{"over_max", R"({"amount":10000001})", "VALIDATION_FAILED"},
        bad_body{"int64_overflow", R"({"amount":9223372036854775808})", "VALIDATION_FAILED"},
        bad_body{"huge", R"({"amount":99999999999999999999})", "VALIDATION_FAILED"},
        bad_body{"int64_underflow", R"({"amount":-9223372036854775809})", "VALIDATION_FAILED"}),
    [](const auto& info) { return std::string(info.param.label); });

// Goal: every route that takes a body answers malformed JSON and a non-object body with 400
// MALFORMED_JSON. Method: a truncated object and an array to each body route with a token that
// passes its auth check.
TEST_F(bad_input, malformed_json_on_every_body_route_is_400_malformed_json) {
  auto s = sign_up_and_login(client(), "malformed");
  const std::vector<std::pair<std::string, std::string>> routes = {
      {"/users", ""},
      {"/auth/login", ""},
      {"/auth/refresh", ""},
      {"/auth/logout", s.access_token},
      {"/admin/users/bulk", admin()},
      {user_path(s.user_id, "/balance/charge"), s.access_token},
  };
  for (const auto& [target, token] : routes) {
    for (const char* body : {R"({"a":)", "[]"}) {
      SCOPED_TRACE(target + " with " + body);
      header_list headers{{"Content-Type", "application/json"}};
      if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
      expect_problem(client().request("POST", target, body, headers), 400, "MALFORMED_JSON");
    }
  }
  EXPECT_EQ(fetch_balance(client(), s.user_id, s.access_token), 0);
  EXPECT_EQ(
      client()
          .post_json("/auth/refresh", json_object().add("refresh_token", s.refresh_token).str())
          .status,
      200)
      << "a malformed logout revoked the refresh token";
}

// Goal: a malformed value in a field no route reads is MALFORMED_JSON everywhere, never 500
// (found: a literal typed null by its first byte, such as n\bll, reached a conversion that
// throws). Method: each bad value, beside a valid field, to every route that takes a body,
// with real ids and tokens; then nothing changed (balance, cart, stock, users).
TEST_F(bad_input, a_malformed_value_in_a_field_no_route_reads_is_400_on_every_body_route) {
  auto s = funded_user("unreadfield");
  const product_ref p = simple_product(client(), "unread field product", 10, 5);
  const http_response added = add_to_cart(client(), s.user_id, s.access_token, p.id, p.cid(), 1);
  ASSERT_EQ(added.status, 201) << describe(added);
  const int64_t item = parse_json(added.body)["id"].as_int();
  const std::string pid = std::to_string(p.id), cid = std::to_string(p.cid());
  struct route {
    const char* method;
    std::string target;
    std::string token;
  };
  const std::vector<route> routes = {
      {"POST", "/users", ""},
      {"POST", "/auth/login", ""},
      {"POST", "/auth/refresh", ""},
      {"POST", "/auth/logout", s.access_token},
      {"POST", "/admin/users/bulk", admin()},
      {"POST", user_path(s.user_id, "/balance/charge"), s.access_token},
      {"POST", "/admin/products", admin()},
      {"PATCH", "/admin/products/" + pid, admin()},
      {"POST", "/admin/products/" + pid + "/combinations/" + cid + "/stock", admin()},
      {"POST", "/admin/coupons", admin()},
      {"POST", "/admin/fcfs-coupons", admin()},
      {"POST", user_path(s.user_id, "/cart/items"), s.access_token},
      {"PATCH", user_path(s.user_id, "/cart/items/" + std::to_string(item)), s.access_token},
      {"POST", user_path(s.user_id, "/cart/checkout"), s.access_token},
      {"POST", user_path(s.user_id, "/orders"), s.access_token},
  };
  const std::vector<std::string> bad_values = {
      "n\\bll",    "nul",         "nulll",   "[1, n\\bll]", R"({"y": nul})",
      R"("\u12")", R"("\u12G4")", "tru",     "fals",        "truex",
      "-",         "01",          "1.",      ".5",          "1e",
      "\"a\tb\"",  "\"\xff\"",    R"("\x")", "[1,]",        R"({"y" 1})"};
  for (const auto& r : routes) {
    for (const auto& bad : bad_values) {
      const std::string body = R"({"amount": 5, "x": )" + bad + "}";
      SCOPED_TRACE(std::string(r.method) + " " + r.target + " with " + body);
      header_list headers{{"Content-Type", "application/json"}};
      if (!r.token.empty()) headers.emplace_back("Authorization", "Bearer " + r.token);
      expect_problem(client().request(r.method, r.target, body, headers), 400, "MALFORMED_JSON");
    }
  }
  expect_state_unchanged(s);
  EXPECT_EQ(stock_of(client(), p.id), 5);
  const json_doc cart =
      parse_json(client().get(user_path(s.user_id, "/cart"), bearer(s.access_token)).body);
  ASSERT_EQ(cart["items"].elements().size(), 1u);
  EXPECT_EQ(cart["items"].elements()[0]["quantity"].as_int(), 1);
}

// Goal: logout needs the refresh token field. Method: {} is 400 field refresh_token.
TEST_F(bad_input, logout_without_refresh_token_is_400_field_refresh_token) {
  auto s = sign_up_and_login(client(), "logoutfield");
  expect_validation_failed(
      client().request("POST", "/auth/logout", "{}", json_bearer(s.access_token)), "refresh_token");
}

// Goal: pathological nesting neither crashes nor hangs the server. Method: an unknown field
// nested 100,000 arrays deep (well under 1 MiB); the answer is 200 (ignored field) or 400
// MALFORMED_JSON, and the server still answers /healthz afterwards.
TEST_F(bad_input, deeply_nested_json_is_answered_and_server_survives) {
  auto s = funded_user("deep");
  const std::string body =
      R"({"amount":1,"x":)" + std::string(100000, '[') + std::string(100000, ']') + "}";
  auto response = raw_charge(s, body);
  if (response.status != 200) expect_problem(response, 400, "MALFORMED_JSON");
  EXPECT_EQ(client().get("/healthz").status, 200);
  EXPECT_EQ(fetch_balance(client(), s.user_id, s.access_token), response.status == 200 ? 101 : 100);
}

// Goal: unknown fields are ignored. Method: a valid charge with an extra field is applied.
TEST_F(bad_input, unknown_fields_in_a_charge_are_ignored) {
  auto s = funded_user("unknownfield");
  auto response = raw_charge(s, R"({"amount":50,"currency":"KRW","note":{"a":[1,2]}})");
  ASSERT_EQ(response.status, 200) << describe(response);
  EXPECT_EQ(fetch_balance(client(), s.user_id, s.access_token), 150);
}

// Goal: path ids that are not decimal integers in 1..2^63-1 are 400 field id on every user
// route. Method: admin token, each bad id on each route; the largest valid id is 404.
TEST_F(bad_input, bad_path_ids_are_400_field_id_on_every_user_route) {
  for (const char* id :
       {"0", "-1", "abc", "1.5", "99999999999999999999", "9223372036854775808", "1e3", "%20"}) {
    for (const char* suffix : {"", "/balance", "/balance/history"}) {
      SCOPED_TRACE(std::string("GET /users/") + id + suffix);
      expect_validation_failed(client().get(std::string("/users/") + id + suffix, bearer(admin())),
                               "id");
    }
    SCOPED_TRACE(std::string("POST /users/") + id + "/balance/charge");
    expect_validation_failed(client().post_json(std::string("/users/") + id + "/balance/charge",
                                                R"({"amount":100})", bearer(admin())),
                             "id");
  }
  expect_problem(client().get("/users/9223372036854775807", bearer(admin())), 404,
                 "USER_NOT_FOUND");
}

// Goal: invalid UTF-8 in a JSON string is rejected as malformed JSON and creates no user.
// Method: a name holding the raw bytes C3 28; then login with that email fails.
TEST_F(bad_input, invalid_utf8_in_name_is_400_and_creates_no_user) {
  const std::string email = unique_email("utf8");
  const std::string body = std::string(R"({"name":"bad )") + "\xC3\x28" + R"(","email":")" + email +
                           R"(","password":"password1"})";
  expect_problem(client().post_json("/users", body), 400, "MALFORMED_JSON");
  expect_problem(
      client().post_json("/auth/login",
                         json_object().add("email", email).add("password", "password1").str()),
      401, "INVALID_CREDENTIALS");
}

// Goal: sign-up bodies that are not objects or have wrong types fail and create nothing.
// Method: an array body (MALFORMED_JSON), a numeric name and a numeric password
// (VALIDATION_FAILED with the field).
TEST_F(bad_input, sign_up_with_wrong_shapes_is_400) {
  expect_problem(client().post_json("/users", R"([{"name":"a"}])"), 400, "MALFORMED_JSON");
  const std::string email = unique_email("types");
  expect_validation_failed(client().post_json("/users", R"({"name":42,"email":")" + email +
                                                            R"(","password":"password1"})"),
                           "name");
  expect_validation_failed(client().post_json("/users", R"({"name":"n","email":")" + email +
                                                            R"(","password":12345678})"),
                           "password");
  expect_validation_failed(
      client().post_json("/users", R"({"name":"n","email":7,"password":"password1"})"), "email");
  EXPECT_EQ(
      client()
          .post_json(
              "/users",
              json_object().add("name", "n").add("email", email).add("password", "password1").str())
          .status,
      201)
      << "a failed sign-up reserved the email";
}

// Goal: a 10 MB body is 413 PAYLOAD_TOO_LARGE, readable, and charges nothing. Method: send the
// whole body through the client, which stops writing when the server answers or closes.
TEST_F(bad_input, ten_megabyte_body_is_413_and_charges_nothing) {
  auto s = funded_user("tenmb");
  std::string body = R"({"amount":100,"pad":")" + std::string(10 * 1000 * 1000, 'x') + "\"}";
  expect_problem(raw_charge(s, body), 413, "PAYLOAD_TOO_LARGE");
  expect_state_unchanged(s);
}

// Goal: a 100 KB header is 431 HEADERS_TOO_LARGE, readable, and charges nothing. Method: a
// charge carrying a 100 KB header.
TEST_F(bad_input, hundred_kilobyte_header_is_431_and_charges_nothing) {
  auto s = funded_user("bighdr");
  header_list headers = json_bearer(s.access_token);
  headers.emplace_back("X-Filler", std::string(100 * 1000, 'h'));
  expect_problem(client().request("POST", user_path(s.user_id, "/balance/charge"),
                                  R"({"amount":100})", headers),
                 431, "HEADERS_TOO_LARGE");
  expect_state_unchanged(s);
}

// Goal: unknown route and wrong method with a body change nothing. Method: POST a charge body
// to a misspelled route (404) and PUT it to the charge route (405).
TEST_F(bad_input, unknown_route_and_wrong_method_change_nothing) {
  auto s = funded_user("route");
  expect_problem(client().post_json(user_path(s.user_id, "/balance/charges"), R"({"amount":100})",
                                    bearer(s.access_token)),
                 404, "NOT_FOUND");
  auto wrong_method = client().request("PUT", user_path(s.user_id, "/balance/charge"),
                                       R"({"amount":100})", json_bearer(s.access_token));
  expect_problem(wrong_method, 405, "METHOD_NOT_ALLOWED");
  expect_state_unchanged(s);
}

// Goal: text/plain is 415 even with a valid JSON body. Method: charge with text/plain.
TEST_F(bad_input, text_plain_charge_is_415_and_charges_nothing) {
  auto s = funded_user("textplain");
  expect_problem(
      client().request(
          "POST", user_path(s.user_id, "/balance/charge"), R"({"amount":100})",
          {{"Content-Type", "text/plain"}, {"Authorization", "Bearer " + s.access_token}}),
      415, "UNSUPPORTED_MEDIA_TYPE");
  expect_state_unchanged(s);
}

// Goal: a token for another user is 403 and charges nothing. Method: B's token on A's charge.
TEST_F(bad_input, another_users_token_is_403_and_charges_nothing) {
  auto a = funded_user("victim");
  auto b = sign_up_and_login(client(), "other");
  expect_problem(charge(client(), a.user_id, b.access_token, 100), 403, "FORBIDDEN");
  expect_state_unchanged(a);
  EXPECT_EQ(fetch_balance(client(), b.user_id, b.access_token), 0);
}

// Goal: a tampered token is 401. Method: flip one character in the middle and at the end of
// the access token, and truncate it; each charge is 401 UNAUTHENTICATED with WWW-Authenticate
// and nothing is charged.
TEST_F(bad_input, tampered_token_is_401_and_charges_nothing) {
  auto s = funded_user("tamper");
  auto flip = [](std::string token, size_t at) {
    while (at < token.size() && !std::isalnum(static_cast<unsigned char>(token[at]))) ++at;
    token[at] = token[at] == 'A' ? 'B' : 'A';
    return token;
  };
  const std::string& token = s.access_token;
  for (const std::string& bad : {flip(token, token.size() / 2), flip(token, 0),
                                 token.substr(0, token.size() - 4), token + "A"}) {
    ASSERT_NE(bad, token);
    expect_unauthenticated(charge(client(), s.user_id, bad, 100));
  }
  expect_state_unchanged(s);
}

class expiring_tokens : public shared_server_test {
 public:
  static void SetUpTestSuite() { start_shared_server({"--access-token-ttl-s", "1"}); }
};

// Goal: an expired access token is 401 and the refresh token still gets a fresh one. Method:
// server with a 1 s access TTL; a login's token works at once (expires_in 1), fails after 2.2 s
// with 401 and charges nothing (so does sign-up's), and a refresh yields a working token.
TEST_F(expiring_tokens, expired_access_token_is_401_and_refresh_still_works) {
  auto s = sign_up_and_login(client(), "expiry");
  auto login = client().post_json(
      "/auth/login", json_object().add("email", s.email).add("password", s.password).str());
  ASSERT_EQ(login.status, 200);
  EXPECT_EQ(parse_json(login.body)["expires_in"].as_int(), 1);
  // The token of this login, used at once (sign-up's own may be older than 1 s on a busy
  // machine: two password hashes came between).
  const std::string token = parse_json(login.body)["access_token"].as_string();
  ASSERT_EQ(charge(client(), s.user_id, token, 100).status, 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(2200));
  expect_unauthenticated(client().get(user_path(s.user_id), bearer(token)));
  expect_unauthenticated(charge(client(), s.user_id, token, 100));
  expect_unauthenticated(client().get(user_path(s.user_id), bearer(s.access_token)));
  auto refreshed = client().post_json("/auth/refresh",
                                      json_object().add("refresh_token", s.refresh_token).str());
  ASSERT_EQ(refreshed.status, 200) << describe(refreshed);
  const std::string fresh = parse_json(refreshed.body)["access_token"].as_string();
  EXPECT_EQ(fetch_balance(client(), s.user_id, fresh), 100);
  EXPECT_EQ(fetch_history(client(), s.user_id, fresh).size(), 1u);
}

// Goal: tokens from /admin/users/bulk are valid for at least 24 h, whatever the access TTL.
// Method: with a 1 s access TTL, bulk-create a user, wait 2.2 s, its token still opens the user.
TEST_F(expiring_tokens, bulk_tokens_outlive_the_access_token_ttl) {
  auto created = client().post_json("/admin/users/bulk",
                                    json_object().add("count", 1).add("name_prefix", "long").str(),
                                    bearer(admin()));
  ASSERT_EQ(created.status, 201) << describe(created);
  auto item = parse_json(created.body)["items"][0];
  std::this_thread::sleep_for(std::chrono::milliseconds(2200));
  auto user =
      client().get(user_path(item["id"].as_int()), bearer(item["access_token"].as_string()));
  EXPECT_EQ(user.status, 200) << describe(user);
}

}  // namespace
}  // namespace ecom::test
