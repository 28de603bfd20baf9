// Users and sessions: sign-up, login, refresh rotation, logout, GET /users/{id}, admin bulk
// creation, the auth check order, and tokens surviving a restart.
#include <gtest/gtest.h>

#include <set>

#include "tests/e2e/e2e_fixture.h"

namespace ecom::test {
namespace {

class users_auth : public shared_server_test {
 protected:
  http_response sign_up(std::string_view name, std::string_view email, std::string_view password) {
    return client().post_json(
        "/users",
        json_object().add("name", name).add("email", email).add("password", password).str());
  }
  http_response login(std::string_view email, std::string_view password) {
    return client().post_json("/auth/login",
                              json_object().add("email", email).add("password", password).str());
  }
  http_response refresh(std::string_view refresh_token) {
    return client().post_json("/auth/refresh",
                              json_object().add("refresh_token", refresh_token).str());
  }
};

std::string repeat(std::string_view unit, int times) {
  std::string out;
  for (int i = 0; i < times; ++i) out += unit;
  return out;
}

// Goal: sign-up creates a user and never returns the password. Method: POST /users, check 201,
// every user field, RFC 3339 timestamps and the absence of any password field.
TEST_F(users_auth, sign_up_returns_201_user_without_password) {
  const std::string email = unique_email("signup");
  auto response = sign_up("Kim Minsu", email, "s3cret-password");
  ASSERT_EQ(response.status, 201) << describe(response);
  EXPECT_EQ(response.header_or("Content-Type").rfind("application/json", 0), 0u);
  auto doc = parse_json(response.body);
  EXPECT_GT(doc["id"].as_int(), 0);
  EXPECT_EQ(doc["name"].as_string(), "Kim Minsu");
  EXPECT_EQ(doc["email"].as_string(), email);
  EXPECT_TRUE(is_rfc3339_utc_millis(doc["created_at"].as_string())) << response.body;
  EXPECT_TRUE(is_rfc3339_utc_millis(doc["updated_at"].as_string())) << response.body;
  EXPECT_EQ(response.body.find("s3cret-password"), std::string::npos);
  for (const auto& key : doc.root().keys()) {
    EXPECT_EQ(key.find("password"), std::string::npos) << "user exposes " << key;
  }
}

// Goal: emails are unique case-insensitively. Method: sign up, then sign up again with the
// email upper-cased: 409 EMAIL_TAKEN, and the first password still logs in.
TEST_F(users_auth, sign_up_with_taken_email_in_other_case_is_409_email_taken) {
  const std::string email = unique_email("taken");
  ASSERT_EQ(sign_up("First", email, "password-one").status, 201);
  std::string upper = email;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  expect_problem(sign_up("Second", upper, "password-two"), 409, "EMAIL_TAKEN");
  expect_problem(sign_up("Third", email, "password-two"), 409, "EMAIL_TAKEN");
  EXPECT_EQ(login(email, "password-one").status, 200);
  EXPECT_EQ(login(email, "password-two").status, 401);
}

// Goal: name length counts code points (1..100). Method: 100 Hangul syllables (300 bytes) is
// accepted, 101 is 400 field name; an empty or missing name is 400 field name.
TEST_F(users_auth, sign_up_name_is_1_to_100_code_points) {
  EXPECT_EQ(sign_up(repeat("가", 100), unique_email("name100"), "password1").status, 201);
  EXPECT_EQ(sign_up("a", unique_email("name1"), "password1").status, 201);
  expect_validation_failed(sign_up(repeat("가", 101), unique_email("name101"), "password1"),
                           "name");
  expect_validation_failed(sign_up(repeat("a", 101), unique_email("name101a"), "password1"),
                           "name");
  expect_validation_failed(sign_up("", unique_email("name0"), "password1"), "name");
  expect_validation_failed(
      client().post_json(
          "/users",
          json_object().add("email", unique_email("noname")).add("password", "password1").str()),
      "name");
}

// Goal: JSON string escapes are decoded on input and encoded on output. Method: sign up with a
// name holding quotes, a backslash, an escaped slash and \u escapes (including a surrogate
// pair); the 201 body and GET /users/{id} return exactly the decoded string.
TEST_F(users_auth, name_with_escapes_round_trips_exactly) {
  const std::string email = unique_email("escapes");
  const std::string body = R"({"name":"Q\"B\\N \uAC00 \ud83d\ude00 \u00e9 \/","email":")" + email +
                           R"(","password":"password1"})";
  auto created = client().post_json("/users", body);
  ASSERT_EQ(created.status, 201) << describe(created);
  const std::string expected = "Q\"B\\N \xEA\xB0\x80 \xF0\x9F\x98\x80 \xC3\xA9 /";
  auto doc = parse_json(created.body);
  EXPECT_EQ(doc["name"].as_string(), expected);
  auto fetched = client().get(user_path(doc["id"].as_int()), bearer(admin()));
  ASSERT_EQ(fetched.status, 200) << describe(fetched);
  EXPECT_EQ(parse_json(fetched.body)["name"].as_string(), expected);
}

// Goal: code points, not bytes or UTF-16 units, are counted. Method: 100 emoji (4 bytes, 2
// UTF-16 units each) is accepted, 101 is 400 field name.
TEST_F(users_auth, name_of_100_emoji_is_accepted_and_101_rejected) {
  EXPECT_EQ(sign_up(repeat("\xF0\x9F\x98\x80", 100), unique_email("emoji100"), "password1").status,
            201);
  expect_validation_failed(
      sign_up(repeat("\xF0\x9F\x98\x80", 101), unique_email("emoji101"), "password1"), "name");
}

// Goal: email needs exactly one '@' with non-empty parts and at most 254 chars. Method: each
// bad form is 400 field email; a 254-char address is accepted.
TEST_F(users_auth, sign_up_rejects_malformed_emails_with_field_email) {
  for (const std::string& bad :
       std::vector<std::string>{"no-at-sign.example.com", "two@@example.com", "a@b@example.com",
                                "@example.com", "local@", "", std::string(250, 'x') + "@e.com"}) {
    SCOPED_TRACE("email: " + bad.substr(0, 40));
    expect_validation_failed(sign_up("Name", bad, "password1"), "email");
  }
  std::string tag = unique_email("len");  // unique local part prefix
  std::string local = tag.substr(0, tag.find('@'));
  std::string domain = "@" + std::string(254 - local.size() - 1 - 4, 'd') + ".com";
  ASSERT_EQ((local + domain).size(), 254u);
  EXPECT_EQ(sign_up("Name", local + domain, "password1").status, 201);
  expect_validation_failed(
      client().post_json("/users",
                         json_object().add("name", "Name").add("password", "password1").str()),
      "email");
}

// Goal: password is 8..128 chars. Method: 7 and 129 are 400 field password, 8 and 128 are 201,
// a missing password is 400 field password.
TEST_F(users_auth, sign_up_password_is_8_to_128_chars) {
  expect_validation_failed(sign_up("Name", unique_email("pw7"), "1234567"), "password");
  expect_validation_failed(sign_up("Name", unique_email("pw129"), std::string(129, 'p')),
                           "password");
  EXPECT_EQ(sign_up("Name", unique_email("pw8"), "12345678").status, 201);
  EXPECT_EQ(sign_up("Name", unique_email("pw128"), std::string(128, 'p')).status, 201);
  expect_validation_failed(
      client().post_json(
          "/users", json_object().add("name", "Name").add("email", unique_email("nopw")).str()),
      "password");
}

// Goal: login answers the documented token shape. Method: sign up, log in with the email in
// another case, check every field and that the access token opens GET /users/{id}.
TEST_F(users_auth, login_returns_bearer_tokens_and_ignores_email_case) {
  const std::string email = unique_email("Login");
  auto created = sign_up("Login User", email, "password-login");
  ASSERT_EQ(created.status, 201);
  const int64_t id = parse_json(created.body)["id"].as_int();
  std::string upper = email;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  auto response = login(upper, "password-login");
  ASSERT_EQ(response.status, 200) << describe(response);
  auto doc = parse_json(response.body);
  EXPECT_EQ(doc["user_id"].as_int(), id);
  EXPECT_EQ(doc["token_type"].as_string(), "Bearer");
  EXPECT_EQ(doc["expires_in"].as_int(), 900);
  EXPECT_FALSE(doc["access_token"].as_string().empty());
  EXPECT_FALSE(doc["refresh_token"].as_string().empty());
  EXPECT_NE(doc["access_token"].as_string(), doc["refresh_token"].as_string());
  auto user = client().get(user_path(id), bearer(doc["access_token"].as_string()));
  ASSERT_EQ(user.status, 200) << describe(user);
  EXPECT_EQ(parse_json(user.body)["email"].as_string(), email);
}

// Goal: wrong password and unknown email get the same 401 INVALID_CREDENTIALS answer (no user
// enumeration). Method: compare status, code, title and detail of both.
TEST_F(users_auth, login_with_wrong_password_or_unknown_email_is_401_invalid_credentials) {
  auto s = sign_up_and_login(client(), "badlogin");
  auto wrong_password = login(s.email, "not-the-password");
  auto unknown_email = login(unique_email("nobody"), "not-the-password");
  expect_problem(wrong_password, 401, "INVALID_CREDENTIALS");
  expect_problem(unknown_email, 401, "INVALID_CREDENTIALS");
  auto a = parse_json(wrong_password.body);
  auto b = parse_json(unknown_email.body);
  EXPECT_EQ(a["title"].as_string(), b["title"].as_string());
  EXPECT_EQ(a["detail"].as_string(), b["detail"].as_string());
}

// Goal: login body validation. Method: missing email / missing password are 400 with the field.
TEST_F(users_auth, login_without_email_or_password_is_400_with_field) {
  expect_validation_failed(
      client().post_json("/auth/login", json_object().add("password", "password1").str()), "email");
  expect_validation_failed(
      client().post_json("/auth/login", json_object().add("email", unique_email("x")).str()),
      "password");
}

// Goal: refresh rotates the pair and retires the old refresh token. Method: refresh once,
// check a new pair that works and refreshes in turn, then reuse the old refresh token: 401
// UNAUTHENTICATED.
TEST_F(users_auth, refresh_rotates_tokens_and_old_refresh_token_is_401) {
  auto s = sign_up_and_login(client(), "refresh");
  auto response = refresh(s.refresh_token);
  ASSERT_EQ(response.status, 200) << describe(response);
  auto doc = parse_json(response.body);
  EXPECT_EQ(doc["user_id"].as_int(), s.user_id);
  EXPECT_EQ(doc["token_type"].as_string(), "Bearer");
  EXPECT_GT(doc["expires_in"].as_int(), 0);
  const std::string new_access = doc["access_token"].as_string();
  const std::string new_refresh = doc["refresh_token"].as_string();
  EXPECT_NE(new_refresh, s.refresh_token);
  EXPECT_EQ(client().get(user_path(s.user_id), bearer(new_access)).status, 200);

  EXPECT_EQ(refresh(new_refresh).status, 200);
  // The first token again is a reuse: 401, and its whole login is revoked (login_security_test).
  expect_problem(refresh(s.refresh_token), 401, "UNAUTHENTICATED");
}

// Goal: refresh input errors. Method: an unknown token is 401 UNAUTHENTICATED, a missing field
// is 400 field refresh_token, and an access token is not a refresh token (401).
TEST_F(users_auth, refresh_with_unknown_or_missing_token_fails) {
  auto s = sign_up_and_login(client(), "refreshbad");
  expect_problem(refresh("not-a-refresh-token"), 401, "UNAUTHENTICATED");
  expect_problem(refresh(s.access_token), 401, "UNAUTHENTICATED");
  expect_validation_failed(client().post_json("/auth/refresh", "{}"), "refresh_token");
}

// Goal: logout revokes the refresh token. Method: logout with the access token (204, empty
// body), then refresh with that token: 401.
TEST_F(users_auth, logout_returns_204_and_revokes_the_refresh_token) {
  auto s = sign_up_and_login(client(), "logout");
  auto response = client().request("POST", "/auth/logout",
                                   json_object().add("refresh_token", s.refresh_token).str(),
                                   json_bearer(s.access_token));
  ASSERT_EQ(response.status, 204) << describe(response);
  EXPECT_TRUE(response.body.empty());
  expect_problem(refresh(s.refresh_token), 401, "UNAUTHENTICATED");
}

// Goal: a user cannot end another user's session. Method: A calls logout with B's refresh
// token; whatever A gets, B's refresh token still works afterwards.
TEST_F(users_auth, logout_with_another_users_refresh_token_does_not_revoke_it) {
  auto a = sign_up_and_login(client(), "logout-a");
  auto b = sign_up_and_login(client(), "logout-b");
  auto response = client().request("POST", "/auth/logout",
                                   json_object().add("refresh_token", b.refresh_token).str(),
                                   json_bearer(a.access_token));
  EXPECT_NE(response.status, 0) << describe(response);
  EXPECT_EQ(refresh(b.refresh_token).status, 200)
      << "A revoked B's session: " << describe(response);
}

// Goal: logout needs an access token. Method: no Authorization → 401 with WWW-Authenticate, and
// the refresh token keeps working.
TEST_F(users_auth, logout_without_token_is_401_and_revokes_nothing) {
  auto s = sign_up_and_login(client(), "logoutnoauth");
  expect_unauthenticated(client().post_json(
      "/auth/logout", json_object().add("refresh_token", s.refresh_token).str()));
  EXPECT_EQ(refresh(s.refresh_token).status, 200);
}

// Goal: GET /users/{id} for the owner and the admin. Method: both get 200 with the sign-up
// data.
TEST_F(users_auth, get_user_returns_200_for_owner_and_admin) {
  auto s = sign_up_and_login(client(), "getuser");
  for (const std::string& token : {s.access_token, admin()}) {
    auto response = client().get(user_path(s.user_id), bearer(token));
    ASSERT_EQ(response.status, 200) << describe(response);
    auto doc = parse_json(response.body);
    EXPECT_EQ(doc["id"].as_int(), s.user_id);
    EXPECT_EQ(doc["name"].as_string(), s.name);
    EXPECT_EQ(doc["email"].as_string(), s.email);
    EXPECT_FALSE(doc.has("password"));
  }
}

// Goal: auth failures on a protected route. Method: no header, a garbage token, a non-Bearer
// scheme and a wrong admin token are each 401 UNAUTHENTICATED with WWW-Authenticate: Bearer.
TEST_F(users_auth, get_user_without_valid_token_is_401_with_www_authenticate) {
  auto s = sign_up_and_login(client(), "noauth");
  expect_unauthenticated(client().get(user_path(s.user_id)));
  expect_unauthenticated(client().get(user_path(s.user_id), bearer("garbage")));
  expect_unauthenticated(client().get(user_path(s.user_id), bearer("")));
  expect_unauthenticated(client().get(user_path(s.user_id), bearer(admin() + "x")));
  expect_unauthenticated(
      client().get(user_path(s.user_id), {{"Authorization", "Basic " + s.access_token}}));
}

// Goal: a user token on another user's resource is 403, and 403 comes before 404. Method: user
// A reads user B (403 FORBIDDEN) and a non-existent id (403, not 404); the admin gets 404
// USER_NOT_FOUND for the non-existent id.
TEST_F(users_auth, get_user_of_another_user_is_403_before_404) {
  auto a = sign_up_and_login(client(), "owner-a");
  auto b = sign_up_and_login(client(), "owner-b");
  expect_problem(client().get(user_path(b.user_id), bearer(a.access_token)), 403, "FORBIDDEN");
  const int64_t missing = 9'000'000'000'000'000'000;
  expect_problem(client().get(user_path(missing), bearer(a.access_token)), 403, "FORBIDDEN");
  expect_problem(client().get(user_path(missing), bearer(admin())), 404, "USER_NOT_FOUND");
}

// Goal: the check order 401 → 400 path id → 403. Method: a bad id without a token is 401; a
// bad id with another user's token is 400 field id.
TEST_F(users_auth, check_order_is_401_then_400_path_id_then_403) {
  auto a = sign_up_and_login(client(), "order");
  expect_unauthenticated(client().get("/users/abc"));
  expect_validation_failed(client().get("/users/abc", bearer(a.access_token)), "id");
  expect_validation_failed(client().get("/users/0", bearer(a.access_token)), "id");
}

// Goal: admin bulk creation. Method: create 5 users; 201 with 5 distinct ids and emails, each
// access token opens its own user and is refused (403) on another one.
TEST_F(users_auth, admin_bulk_creates_users_with_working_tokens) {
  auto response = client().post_json(
      "/admin/users/bulk", json_object().add("count", 5).add("name_prefix", "bulk-e2e").str(),
      bearer(admin()));
  ASSERT_EQ(response.status, 201) << describe(response);
  auto items = parse_json(response.body)["items"].elements();
  ASSERT_EQ(items.size(), 5u);
  std::set<int64_t> ids;
  std::set<std::string> emails;
  for (const auto& item : items) {
    ids.insert(item["id"].as_int());
    emails.insert(item["email"].as_string());
    auto user =
        client().get(user_path(item["id"].as_int()), bearer(item["access_token"].as_string()));
    ASSERT_EQ(user.status, 200) << describe(user);
    EXPECT_EQ(parse_json(user.body)["name"].as_string().rfind("bulk-e2e", 0), 0u) << user.body;
  }
  EXPECT_EQ(ids.size(), 5u);
  EXPECT_EQ(emails.size(), 5u);
  expect_problem(client().get(user_path(items[1]["id"].as_int()),
                              bearer(items[0]["access_token"].as_string())),
                 403, "FORBIDDEN");
}

// Goal: /admin/* refuses user tokens and anonymous callers. Method: a user token is 403
// FORBIDDEN, no token is 401.
TEST_F(users_auth, admin_bulk_with_user_token_is_403_and_without_token_401) {
  auto s = sign_up_and_login(client(), "notadmin");
  const std::string body = json_object().add("count", 1).add("name_prefix", "x").str();
  expect_problem(client().post_json("/admin/users/bulk", body, bearer(s.access_token)), 403,
                 "FORBIDDEN");
  expect_unauthenticated(client().post_json("/admin/users/bulk", body));
}

// Goal: bulk input ranges. Method: count 0, 100001, missing and "5" are 400 field count;
// name_prefix empty, 81 chars and missing are 400 field name_prefix; 80 chars is accepted.
TEST_F(users_auth, admin_bulk_validates_count_and_name_prefix) {
  auto bulk = [&](const std::string& body) {
    return client().post_json("/admin/users/bulk", body, bearer(admin()));
  };
  expect_validation_failed(bulk(R"({"count":0,"name_prefix":"p"})"), "count");
  expect_validation_failed(bulk(R"({"count":100001,"name_prefix":"p"})"), "count");
  expect_validation_failed(bulk(R"({"name_prefix":"p"})"), "count");
  expect_validation_failed(bulk(R"({"count":"5","name_prefix":"p"})"), "count");
  expect_validation_failed(bulk(R"({"count":1,"name_prefix":""})"), "name_prefix");
  expect_validation_failed(
      bulk(json_object().add("count", 1).add("name_prefix", std::string(81, 'p')).str()),
      "name_prefix");
  expect_validation_failed(bulk(R"({"count":1})"), "name_prefix");
  EXPECT_EQ(
      bulk(json_object().add("count", 1).add("name_prefix", std::string(80, 'p')).str()).status,
      201);
}

// Goal: tokens and sessions survive a restart. Method: own server; log in, rotate one refresh
// token and log out another session, restart on the same data dir; the access token still
// opens the user, the current refresh token refreshes, the logged-out one is 401, and the
// rotated-out one is 401 too (a reuse, which also revokes that login's newest token).
TEST(users_auth_restart, tokens_survive_restart_and_revocations_persist) {
  server_process server;
  http_client client(server.port());
  auto s = sign_up_and_login(client, "restart");
  auto rotated =
      client.post_json("/auth/refresh", json_object().add("refresh_token", s.refresh_token).str());
  ASSERT_EQ(rotated.status, 200) << describe(rotated);
  const std::string current_refresh = parse_json(rotated.body)["refresh_token"].as_string();
  auto second = client.post_json(
      "/auth/login", json_object().add("email", s.email).add("password", s.password).str());
  ASSERT_EQ(second.status, 200);
  const std::string logged_out_refresh = parse_json(second.body)["refresh_token"].as_string();
  ASSERT_EQ(client
                .request("POST", "/auth/logout",
                         json_object().add("refresh_token", logged_out_refresh).str(),
                         json_bearer(s.access_token))
                .status,
            204);

  server.restart();
  client.set_port(server.port());
  auto user = client.get(user_path(s.user_id), bearer(s.access_token));
  EXPECT_EQ(user.status, 200) << describe(user);
  auto refreshed =
      client.post_json("/auth/refresh", json_object().add("refresh_token", current_refresh).str());
  ASSERT_EQ(refreshed.status, 200) << describe(refreshed);
  const std::string newest_refresh = parse_json(refreshed.body)["refresh_token"].as_string();
  EXPECT_EQ(
      client
          .get(user_path(s.user_id), bearer(parse_json(refreshed.body)["access_token"].as_string()))
          .status,
      200);
  expect_problem(client.post_json("/auth/refresh",
                                  json_object().add("refresh_token", logged_out_refresh).str()),
                 401, "UNAUTHENTICATED");
  // The rotated-out token again: a reuse, which revokes its login's newest token too.
  expect_problem(
      client.post_json("/auth/refresh", json_object().add("refresh_token", s.refresh_token).str()),
      401, "UNAUTHENTICATED");
  expect_problem(
      client.post_json("/auth/refresh", json_object().add("refresh_token", newest_refresh).str()),
      401, "UNAUTHENTICATED");
}

}  // namespace
}  // namespace ecom::test
