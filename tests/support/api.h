// Common API flows and assertions for the end-to-end tests: sign-up + login, charges, reading
// the whole balance history, problem+json checks and the history invariants.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <source_location>
#include <string>
#include <string_view>
#include <vector>

#include "tests/support/http_client.h"
#include "tests/support/json.h"

namespace ecom::test {

header_list bearer(std::string_view token);
// Content-Type: application/json plus the bearer token.
header_list json_bearer(std::string_view token);
std::string user_path(int64_t user_id, std::string_view suffix = "");

// An email no other test in this process (or a concurrent process) has used.
std::string unique_email(std::string_view tag);

struct session {
  int64_t user_id = 0;
  std::string name;
  std::string email;
  std::string password;
  std::string access_token;
  std::string refresh_token;
};

// POST /auth/login with this email and password.
http_response login(http_client& client, std::string_view email, std::string_view password);

// POST /users then POST /auth/login; throws std::runtime_error when either is not a success.
session sign_up_and_login(http_client& client, std::string_view tag = "user");

http_response charge(http_client& client, int64_t user_id, std::string_view token, int64_t amount,
                     const header_list& extra_headers = {});
// GET balance; throws unless 200.
int64_t fetch_balance(http_client& client, int64_t user_id, std::string_view token);

struct history_entry {
  int64_t id = 0;
  std::string type;
  int64_t amount = 0;
  int64_t balance_before = 0;
  int64_t balance_after = 0;
  bool order_id_null = false;
  std::string created_at;
};
// Every page of GET /users/{id}/balance/history, newest first; throws unless each page is 200.
std::vector<history_entry> fetch_history(http_client& client, int64_t user_id,
                                         std::string_view token, int limit = 100);
// balance = sum of amounts, balance_after = balance_before + amount for every entry, and in
// chronological order each entry starts where the previous one ended (the first from 0).
::testing::AssertionResult history_consistent(const std::vector<history_entry>& newest_first,
                                              int64_t balance);

// Status, Content-Type application/problem+json and the {type,title,status,detail,code} shape.
::testing::AssertionResult is_problem(const http_response& response, int status,
                                      std::string_view code);
// 400 VALIDATION_FAILED with "field": field and a detail that mentions the field.
::testing::AssertionResult is_validation_problem(const http_response& response,
                                                 std::string_view field);
// Non-fatal gtest failures reported at the caller's line.
void expect_problem(const http_response& response, int status, std::string_view code,
                    std::source_location where = std::source_location::current());
void expect_validation_failed(const http_response& response, std::string_view field,
                              std::source_location where = std::source_location::current());
// 401 UNAUTHENTICATED with WWW-Authenticate: Bearer.
void expect_unauthenticated(const http_response& response,
                            std::source_location where = std::source_location::current());

// RFC 3339 UTC with milliseconds and Z: 2026-11-24T04:28:33.123Z.
bool is_rfc3339_utc_millis(std::string_view text);

}  // namespace ecom::test
