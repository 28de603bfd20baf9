// HTTP-layer conventions: unknown routes, wrong methods, media types, request ids, keep-alive,
// pipelining, body and header limits (and that the client can read those early answers).
#include <gtest/gtest.h>

#include "tests/e2e/e2e_fixture.h"

namespace ecom::test {
namespace {

class http_conventions : public shared_server_test {};

constexpr size_t k_mib = 1024 * 1024;

// Goal: unknown routes are 404 NOT_FOUND problem documents. Method: several paths that match no
// route, with and without a token.
TEST_F(http_conventions, unknown_route_is_404_not_found) {
  expect_problem(client().get("/nope"), 404, "NOT_FOUND");
  expect_problem(client().get("/users/1/nope", bearer(admin())), 404, "NOT_FOUND");
  expect_problem(client().get("/users/1/balance/extra", bearer(admin())), 404, "NOT_FOUND");
  expect_problem(client().post_json("/auth/nope", "{}"), 404, "NOT_FOUND");
}

// Goal: a known path with the wrong method is 405 METHOD_NOT_ALLOWED with an Allow header that
// lists the right method. Method: one request per route family.
TEST_F(http_conventions, wrong_method_is_405_with_allow_header) {
  struct route_case {
    const char* method;
    const char* target;
    const char* allowed;
  };
  for (const auto& c : std::vector<route_case>{{"DELETE", "/users", "POST"},
                                               {"GET", "/auth/login", "POST"},
                                               {"POST", "/healthz", "GET"},
                                               {"PUT", "/users/1/balance", "GET"},
                                               {"GET", "/users/1/balance/charge", "POST"},
                                               {"DELETE", "/users/1/balance/history", "GET"},
                                               {"GET", "/admin/users/bulk", "POST"}}) {
    SCOPED_TRACE(std::string(c.method) + " " + c.target);
    auto response = client().request(c.method, c.target, {}, bearer(admin()));
    expect_problem(response, 405, "METHOD_NOT_ALLOWED");
    EXPECT_NE(response.header_or("Allow").find(c.allowed), std::string::npos)
        << "Allow: " << response.header_or("Allow", "<missing>");
  }
}

// Goal: a body with a non-JSON Content-Type is 415 and changes nothing. Method: sign-up and
// charge with text/plain: 415 UNSUPPORTED_MEDIA_TYPE; the email stays free and the balance 0.
TEST_F(http_conventions, non_json_content_type_is_415_and_changes_nothing) {
  auto s = sign_up_and_login(client(), "media");
  const std::string email = unique_email("plain");
  const std::string user_body =
      json_object().add("name", "Plain").add("email", email).add("password", "password1").str();
  expect_problem(client().request("POST", "/users", user_body, {{"Content-Type", "text/plain"}}),
                 415, "UNSUPPORTED_MEDIA_TYPE");
  expect_problem(
      client().request(
          "POST", user_path(s.user_id, "/balance/charge"), R"({"amount":100})",
          {{"Content-Type", "text/plain"}, {"Authorization", "Bearer " + s.access_token}}),
      415, "UNSUPPORTED_MEDIA_TYPE");
  expect_problem(
      client().request("POST", user_path(s.user_id, "/balance/charge"), R"({"amount":100})",
                       {{"Content-Type", "application/x-www-form-urlencoded"},
                        {"Authorization", "Bearer " + s.access_token}}),
      415, "UNSUPPORTED_MEDIA_TYPE");
  EXPECT_EQ(fetch_balance(client(), s.user_id, s.access_token), 0);
  EXPECT_EQ(client().post_json("/users", user_body).status, 201) << "email was taken by the 415";
}

// Goal: JSON with parameters and a missing Content-Type are accepted. Method: sign-up with
// `application/json; charset=utf-8` and a charge without Content-Type both succeed.
TEST_F(http_conventions, json_with_charset_and_missing_content_type_are_accepted) {
  const std::string body = json_object()
                               .add("name", "Charset")
                               .add("email", unique_email("charset"))
                               .add("password", "password1")
                               .str();
  auto created = client().request("POST", "/users", body,
                                  {{"Content-Type", "application/json; charset=utf-8"}});
  EXPECT_EQ(created.status, 201) << describe(created);
  auto s = sign_up_and_login(client(), "nocontenttype");
  auto charged = client().request("POST", user_path(s.user_id, "/balance/charge"),
                                  R"({"amount":42})", bearer(s.access_token));
  EXPECT_EQ(charged.status, 200) << describe(charged);
  EXPECT_EQ(fetch_balance(client(), s.user_id, s.access_token), 42);
}

// Goal: X-Request-Id is echoed when sent and generated otherwise, on successes and errors.
// Method: send one and compare; omit it on two requests and check distinct non-empty ids.
TEST_F(http_conventions, request_id_is_echoed_or_generated) {
  auto echoed = client().get("/healthz", {{"X-Request-Id", "e2e-request-0042"}});
  EXPECT_EQ(echoed.header_or("X-Request-Id"), "e2e-request-0042");
  auto error = client().get("/nope", {{"X-Request-Id", "e2e-request-404"}});
  EXPECT_EQ(error.status, 404);
  EXPECT_EQ(error.header_or("X-Request-Id"), "e2e-request-404");
  auto first = client().get("/healthz");
  auto second = client().get("/nope");
  ASSERT_TRUE(first.header("X-Request-Id").has_value());
  ASSERT_TRUE(second.header("X-Request-Id").has_value());
  EXPECT_FALSE(first.header("X-Request-Id")->empty());
  EXPECT_NE(*first.header("X-Request-Id"), *second.header("X-Request-Id"));
}

// Goal: connections are kept alive. Method: 20 requests (successes and errors) through one
// client open a single connection.
TEST_F(http_conventions, keep_alive_serves_many_requests_on_one_connection) {
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(client().get("/healthz").status, 200);
    ASSERT_EQ(client().get("/nope").status, 404);
  }
  EXPECT_EQ(client().connections_opened(), 1);
}

// Goal: pipelined requests are answered in order. Method: write two requests in one send and
// read two responses: /healthz (200) then an unknown route (404).
TEST_F(http_conventions, pipelined_requests_are_answered_in_order) {
  auto first = client().send_raw(
      "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(first.status, 200) << describe(first);
  auto second = client().read_response();
  EXPECT_EQ(second.status, 404) << describe(second);
}

// Goal: a body over 1 MiB is 413 PAYLOAD_TOO_LARGE, readable by the client, and changes
// nothing; a body of exactly 1 MiB is processed. Method: a charge padded with JSON whitespace
// to 1 MiB + 1 byte, then to exactly 1 MiB.
TEST_F(http_conventions, body_over_1_mib_is_413_and_exactly_1_mib_is_accepted) {
  auto s = sign_up_and_login(client(), "bodylimit");
  const std::string json = R"({"amount":10})";
  std::string over = json + std::string(k_mib + 1 - json.size(), ' ');
  ASSERT_EQ(over.size(), k_mib + 1);
  expect_problem(client().request("POST", user_path(s.user_id, "/balance/charge"), over,
                                  json_bearer(s.access_token)),
                 413, "PAYLOAD_TOO_LARGE");
  EXPECT_EQ(fetch_balance(client(), s.user_id, s.access_token), 0);
  std::string exact = json + std::string(k_mib - json.size(), ' ');
  auto ok = client().request("POST", user_path(s.user_id, "/balance/charge"), exact,
                             json_bearer(s.access_token));
  EXPECT_EQ(ok.status, 200) << describe(ok);
  EXPECT_EQ(fetch_balance(client(), s.user_id, s.access_token), 10);
}

// Goal: a declared Content-Length over the limit is refused without waiting for the body.
// Method: send only the headers with Content-Length 2 MiB; the 413 must arrive (the client
// would time out otherwise).
TEST_F(http_conventions, declared_content_length_over_limit_is_413_before_the_body) {
  http_client quick(server().port(), std::chrono::milliseconds(5000));
  auto response = quick.send_raw(
      "POST /users HTTP/1.1\r\nHost: x\r\nContent-Type: "
      "application/json\r\nContent-Length: 2097152\r\n\r\n{");
  expect_problem(response, 413, "PAYLOAD_TOO_LARGE");
}

// Goal: a header block over 16 KiB is 431 HEADERS_TOO_LARGE and the client can read it; a
// large but allowed header block works. Method: one 17 KiB header, then an 8 KiB one.
TEST_F(http_conventions, header_block_over_16_kib_is_431) {
  expect_problem(client().get("/healthz", {{"X-Filler", std::string(17 * 1024, 'h')}}), 431,
                 "HEADERS_TOO_LARGE");
  auto ok = client().get("/healthz", {{"X-Filler", std::string(8 * 1024, 'h')}});
  EXPECT_EQ(ok.status, 200) << describe(ok);
}

// Goal: after a 413 or 431 the client can go on (a new connection if the server closed it).
// Method: 431 then a normal request through the same client.
TEST_F(http_conventions, requests_after_a_limit_error_succeed) {
  EXPECT_EQ(client().get("/healthz", {{"X-Filler", std::string(20 * 1024, 'h')}}).status, 431);
  EXPECT_EQ(client().get("/healthz").status, 200);
  EXPECT_EQ(client().post_json("/users", std::string(k_mib + 10, ' ')).status, 413);
  EXPECT_EQ(client().get("/healthz").status, 200);
}

// Goal: a malformed request line gets a 400 problem document, not a dropped connection.
// Method: send garbage bytes as a request.
TEST_F(http_conventions, malformed_request_line_is_400_problem) {
  auto response = client().send_raw("THIS IS NOT HTTP\r\n\r\n");
  ASSERT_EQ(response.status, 400) << describe(response);
  EXPECT_EQ(response.header_or("Content-Type").rfind("application/problem+json", 0), 0u);
  auto doc = parse_json(response.body);
  EXPECT_EQ(doc["status"].as_int(), 400);
  EXPECT_TRUE(doc["code"].is_string());
}

// Goal: a query string does not change route matching. Method: GET /healthz?probe=1 is 200.
TEST_F(http_conventions, query_string_does_not_affect_routing) {
  EXPECT_EQ(client().get("/healthz?probe=1").status, 200);
}

}  // namespace
}  // namespace ecom::test
