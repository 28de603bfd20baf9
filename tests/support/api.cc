// Common API flows and assertions for the end-to-end tests.
#include "tests/support/api.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <regex>
#include <stdexcept>

namespace ecom::test {

header_list bearer(std::string_view token) {
  return {{"Authorization", "Bearer " + std::string(token)}};
}

header_list json_bearer(std::string_view token) {
  return {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + std::string(token)}};
}

std::string user_path(int64_t user_id, std::string_view suffix) {
  return "/users/" + std::to_string(user_id) + std::string(suffix);
}

std::string unique_email(std::string_view tag) {
  static std::atomic<int> counter{0};
  static const auto start = std::chrono::system_clock::now().time_since_epoch().count();
  return std::string(tag) + "." + std::to_string(::getpid()) + "." +
         std::to_string(start % 1000000007) + "." + std::to_string(counter.fetch_add(1)) +
         "@e2e.example.com";
}

http_response login(http_client& client, std::string_view email, std::string_view password) {
  return client.post_json("/auth/login",
                          json_object().add("email", email).add("password", password).str());
}

session sign_up_and_login(http_client& client, std::string_view tag) {
  session s;
  s.name = "E2E " + std::string(tag);
  s.email = unique_email(tag);
  s.password = "correct horse battery";
  auto created = client.post_json(
      "/users",
      json_object().add("name", s.name).add("email", s.email).add("password", s.password).str());
  if (created.status != 201) throw std::runtime_error("sign-up failed: " + describe(created));
  s.user_id = parse_json(created.body)["id"].as_int();
  auto login = ecom::test::login(client, s.email, s.password);
  if (login.status != 200) throw std::runtime_error("login failed: " + describe(login));
  auto doc = parse_json(login.body);
  s.access_token = doc["access_token"].as_string();
  s.refresh_token = doc["refresh_token"].as_string();
  if (doc["user_id"].as_int() != s.user_id) {
    throw std::runtime_error("login user_id differs from sign-up id: " + login.body);
  }
  return s;
}

http_response charge(http_client& client, int64_t user_id, std::string_view token, int64_t amount,
                     const header_list& extra_headers) {
  header_list headers = json_bearer(token);
  headers.insert(headers.end(), extra_headers.begin(), extra_headers.end());
  return client.request("POST", user_path(user_id, "/balance/charge"),
                        json_object().add("amount", amount).str(), headers);
}

int64_t fetch_balance(http_client& client, int64_t user_id, std::string_view token) {
  auto response = client.get(user_path(user_id, "/balance"), bearer(token));
  if (response.status != 200) throw std::runtime_error("GET balance: " + describe(response));
  return parse_json(response.body)["balance"].as_int();
}

std::vector<history_entry> fetch_history(http_client& client, int64_t user_id,
                                         std::string_view token, int limit) {
  std::vector<history_entry> out;
  std::string cursor;
  for (int page = 0;; ++page) {
    if (page > 100000) throw std::runtime_error("history pagination does not end");
    std::string target = user_path(user_id, "/balance/history?limit=" + std::to_string(limit));
    if (!cursor.empty()) target += "&cursor=" + cursor;
    auto response = client.get(target, bearer(token));
    if (response.status != 200) throw std::runtime_error("GET history: " + describe(response));
    auto doc = parse_json(response.body);
    for (const auto& item : doc["items"].elements()) {
      history_entry entry;
      entry.id = item["id"].as_int();
      entry.type = item["type"].as_string();
      entry.amount = item["amount"].as_int();
      entry.balance_before = item["balance_before"].as_int();
      entry.balance_after = item["balance_after"].as_int();
      entry.order_id_null = item["order_id"].is_null();
      entry.created_at = item["created_at"].as_string();
      out.push_back(std::move(entry));
    }
    auto next = doc["next_cursor"];
    if (next.is_null()) return out;
    cursor = next.as_string();
    if (cursor.empty()) throw std::runtime_error("empty next_cursor: " + response.body);
  }
}

::testing::AssertionResult history_consistent(const std::vector<history_entry>& newest_first,
                                              int64_t balance) {
  int64_t sum = 0;
  int64_t previous_after = 0;
  for (size_t i = newest_first.size(); i-- > 0;) {
    const auto& e = newest_first[i];
    sum += e.amount;
    if (e.balance_after != e.balance_before + e.amount) {
      return ::testing::AssertionFailure()
             << "entry id " << e.id << ": balance_after " << e.balance_after
             << " != balance_before " << e.balance_before << " + amount " << e.amount;
    }
    if (e.balance_before != previous_after) {
      return ::testing::AssertionFailure()
             << "entry id " << e.id << ": balance_before " << e.balance_before
             << " != previous entry's balance_after " << previous_after;
    }
    previous_after = e.balance_after;
  }
  if (sum != balance) {
    return ::testing::AssertionFailure() << "sum of " << newest_first.size() << " history amounts "
                                         << sum << " != balance " << balance;
  }
  if (!newest_first.empty() && newest_first.front().balance_after != balance) {
    return ::testing::AssertionFailure()
           << "newest entry balance_after " << newest_first.front().balance_after << " != balance "
           << balance;
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult is_problem(const http_response& response, int status,
                                      std::string_view code) {
  auto failure = [&]() {
    return ::testing::AssertionFailure()
           << "expected " << status << " " << code << ", got " << describe(response) << ": ";
  };
  if (response.status != status) return failure() << "status differs";
  const std::string content_type = response.header_or("Content-Type");
  if (content_type.rfind("application/problem+json", 0) != 0) {
    return failure() << "Content-Type is not application/problem+json";
  }
  try {
    auto doc = parse_json(response.body);
    if (!doc.root().is_object()) return failure() << "body is not an object";
    for (const char* key : {"type", "title", "detail", "code"}) {
      if (!doc.has(key) || !doc[key].is_string()) return failure() << key << " is not a string";
    }
    if (!doc.has("status") || !doc["status"].is_int() || doc["status"].as_int() != status) {
      return failure() << "status field differs from the HTTP status";
    }
    if (doc["code"].as_string() != code) return failure() << "code differs";
  } catch (const std::exception& e) {
    return failure() << e.what();
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult is_validation_problem(const http_response& response,
                                                 std::string_view field) {
  auto result = is_problem(response, 400, "VALIDATION_FAILED");
  if (!result) return result;
  auto doc = parse_json(response.body);
  if (!doc.has("field") || !doc["field"].is_string() || doc["field"].as_string() != field) {
    return ::testing::AssertionFailure()
           << "expected \"field\": \"" << field << "\" in " << response.body;
  }
  if (doc["detail"].as_string().find(field) == std::string::npos) {
    return ::testing::AssertionFailure()
           << "detail does not mention " << field << ": " << response.body;
  }
  return ::testing::AssertionSuccess();
}

void expect_problem(const http_response& response, int status, std::string_view code,
                    std::source_location where) {
  if (auto result = is_problem(response, status, code); !result) {
    ADD_FAILURE_AT(where.file_name(), where.line()) << result.message();
  }
}

void expect_validation_failed(const http_response& response, std::string_view field,
                              std::source_location where) {
  if (auto result = is_validation_problem(response, field); !result) {
    ADD_FAILURE_AT(where.file_name(), where.line()) << result.message();
  }
}

void expect_unauthenticated(const http_response& response, std::source_location where) {
  if (auto result = is_problem(response, 401, "UNAUTHENTICATED"); !result) {
    ADD_FAILURE_AT(where.file_name(), where.line()) << result.message();
  }
  const std::string challenge = response.header_or("WWW-Authenticate", "<missing>");
  if (challenge.size() < 6 || !iequals(challenge.substr(0, 6), "Bearer")) {
    ADD_FAILURE_AT(where.file_name(), where.line())
        << "WWW-Authenticate is " << challenge << ", expected Bearer";
  }
}

bool is_rfc3339_utc_millis(std::string_view text) {
  static const std::regex pattern(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)");
  return std::regex_match(text.begin(), text.end(), pattern);
}

}  // namespace ecom::test
