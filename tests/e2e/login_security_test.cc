// Login security against a real ecomd (API.md, Users and sessions): throttling per email (the
// lock sequence and its Retry-After, any case, unregistered emails alike, other accounts
// untouched, reset on success), the bounded password-hash queue (503 past it), refresh-token
// families (a reused token revokes its whole login; across kill -9: crash_test). Timing with the
// real password hash (stuffing, enumeration) is in login_stuffing_test.cc, which runs alone.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <thread>

#include "tests/e2e/e2e_fixture.h"

namespace ecom::test {
namespace {

using std::chrono::milliseconds;
using steady = std::chrono::steady_clock;

http_response refresh(http_client& client, std::string_view token) {
  return client.post_json("/auth/refresh", json_object().add("refresh_token", token).str());
}

http_response sign_up(http_client& client, std::string_view email, std::string_view password) {
  return client.post_json(
      "/users",
      json_object().add("name", "Kim").add("email", email).add("password", password).str());
}

// 429 TOO_MANY_ATTEMPTS with Retry-After between 1 and lock_s seconds (lock_s when the request
// came at once; less when the box was slow).
void expect_locked(const http_response& answer, int lock_s) {
  expect_problem(answer, 429, "TOO_MANY_ATTEMPTS");
  int retry_after_s = std::atoi(answer.header_or("Retry-After", "0").c_str());
  EXPECT_GE(retry_after_s, 1) << describe(answer);
  EXPECT_LE(retry_after_s, lock_s) << describe(answer);
}

// A counter of /metrics (0 when absent).
int64_t metric(http_client& client, std::string_view name) {
  std::string text = client.get("/metrics").body;
  std::string line_start = "\n";  // appended: "\n" + name trips GCC 12's -Wrestrict
  line_start.append(name).append(" ");
  auto at = text.find(line_start);
  if (at == std::string::npos) return 0;
  return std::stoll(text.substr(at + line_start.size()));
}

class login_throttling : public shared_server_test {};

// Goal: the lock sequence: 5 failures lock for 1 s, each failure after a lock ends locks for
// twice as long (1, 2, 4 s); while locked even the right password gets 429 and no password is
// checked; a success resets the count. Method: one registered user; the Retry-After values are
// read, the locks waited out.
TEST_F(login_throttling, lock_sequence_doubles_and_success_resets) {
  auto user = sign_up_and_login(client(), "throttle");
  int64_t throttled_before = metric(client(), "ecomd_logins_throttled_total");
  for (int i = 0; i < 5; ++i) {
    expect_problem(login(client(), user.email, "wrong-password"), 401, "INVALID_CREDENTIALS");
  }
  expect_locked(login(client(), user.email, user.password), 1);
  for (int lock_s : {1, 2}) {
    std::this_thread::sleep_for(milliseconds(lock_s * 1000 + 50));
    expect_problem(login(client(), user.email, "wrong-password"), 401, "INVALID_CREDENTIALS");
    auto locked = login(client(), user.email, user.password);
    expect_locked(locked, lock_s * 2);
    EXPECT_EQ(locked.header_or("Retry-After"), std::to_string(lock_s * 2))
        << "asked at once: the whole lock is left";
  }
  EXPECT_EQ(metric(client(), "ecomd_logins_throttled_total") - throttled_before, 3);
  std::this_thread::sleep_for(milliseconds(4050));
  ASSERT_EQ(login(client(), user.email, user.password).status, 200);
  // The success forgot the failures: 4 more are 401, the 5th locks for 1 s again.
  for (int i = 0; i < 5; ++i) {
    expect_problem(login(client(), user.email, "wrong-password"), 401, "INVALID_CREDENTIALS");
  }
  expect_locked(login(client(), user.email, user.password), 1);
}

// Goal: failures count per email whatever its case, lock it in every case, and leave another
// account alone.
TEST_F(login_throttling, any_case_counts_and_other_accounts_are_unaffected) {
  auto user = sign_up_and_login(client(), "case");
  auto other = sign_up_and_login(client(), "bystander");
  std::string upper = user.email;
  std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
  for (int i = 0; i < 5; ++i) {
    const std::string& email = i % 2 == 0 ? upper : user.email;
    expect_problem(login(client(), email, "wrong-password"), 401, "INVALID_CREDENTIALS");
  }
  expect_locked(login(client(), user.email, user.password), 1);
  expect_locked(login(client(), upper, user.password), 1);
  EXPECT_EQ(login(client(), other.email, other.password).status, 200);
}

// Goal: an unregistered email gets exactly what a registered one gets (no enumeration by code):
// 401 INVALID_CREDENTIALS four times and on the 5th, then 429 with Retry-After 1.
TEST_F(login_throttling, unregistered_emails_are_throttled_the_same) {
  std::string nobody = unique_email("nobody");
  auto user = sign_up_and_login(client(), "registered");
  for (const std::string& email : {nobody, user.email}) {
    for (int i = 0; i < 5; ++i) {
      expect_problem(login(client(), email, "wrong-password"), 401, "INVALID_CREDENTIALS");
    }
    expect_locked(login(client(), email, "wrong-password"), 1);
  }
}

// Goal: a refresh token used a second time revokes every token of its login (the thief's newer
// one too), counts a reuse detection, and leaves the user's other logins alone; logout with the
// current token ends the family.
TEST_F(login_throttling, a_reused_refresh_token_revokes_its_family) {
  auto user = sign_up_and_login(client(), "family");
  auto second_login = login(client(), user.email, user.password);
  ASSERT_EQ(second_login.status, 200);
  std::string other_family = parse_json(second_login.body)["refresh_token"].as_string();
  int64_t reuses_before = metric(client(), "ecomd_refresh_token_reuse_detected_total");
  auto rotated = refresh(client(), user.refresh_token);
  ASSERT_EQ(rotated.status, 200) << describe(rotated);
  std::string thief = parse_json(rotated.body)["refresh_token"].as_string();
  EXPECT_NE(thief.substr(0, thief.rfind('.')), other_family.substr(0, other_family.rfind('.')))
      << "each login has its own family";
  auto reused = refresh(client(), user.refresh_token);
  expect_problem(reused, 401, "UNAUTHENTICATED");
  EXPECT_NE(reused.body.find("already used"), std::string::npos) << reused.body;
  expect_problem(refresh(client(), thief), 401, "UNAUTHENTICATED");
  EXPECT_EQ(metric(client(), "ecomd_refresh_token_reuse_detected_total") - reuses_before, 1);
  auto untouched = refresh(client(), other_family);
  ASSERT_EQ(untouched.status, 200) << describe(untouched);
  std::string current = parse_json(untouched.body)["refresh_token"].as_string();
  auto out =
      client().request("POST", "/auth/logout", json_object().add("refresh_token", current).str(),
                       json_bearer(user.access_token));
  EXPECT_EQ(out.status, 204) << describe(out);
  expect_problem(refresh(client(), current), 401, "UNAUTHENTICATED");
  expect_problem(refresh(client(), other_family), 401, "UNAUTHENTICATED");
}

// ---- the hash queue's bound: one hashing thread pair, a queue of 1, slow hashes ----

class hash_queue_bound : public shared_server_test {
 public:
  static void SetUpTestSuite() {
    start_shared_server({"--password-hash-queue-max", "1", "--kdf-iterations", "400000"});
  }
};

// Goal: past the hash queue's bound a login (or sign-up) is 503 OVERLOADED with Retry-After and
// changes nothing. Method: 12 concurrent logins for different unknown emails against a queue of
// 1 behind 2 threads: some are refused with 503, the others are 401; afterwards the server
// answers a login normally.
TEST_F(hash_queue_bound, logins_past_the_queue_are_503_overloaded) {
  constexpr int clients = 12;
  std::vector<http_response> answers(clients);
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      http_client own(server().port());
      answers[i] = login(own, unique_email("flood"), "wrong-password");
    });
  }
  for (auto& t : threads) t.join();
  int refused = 0, unauthorized = 0;
  for (const auto& answer : answers) {
    if (answer.status == 503) {
      ++refused;
      expect_problem(answer, 503, "OVERLOADED");
      EXPECT_EQ(answer.header_or("Retry-After"), "1");
    } else {
      ++unauthorized;
      expect_problem(answer, 401, "INVALID_CREDENTIALS");
    }
  }
  std::printf("figure: hash queue of 1: %d of %d concurrent logins refused 503\n", refused,
              clients);
  EXPECT_GT(refused, 0);
  // At least one was hashed (how many depends on when the threads take the queued job: up to
  // two in the threads and one waiting).
  EXPECT_GE(unauthorized, 1);
  EXPECT_LE(unauthorized, clients - 1);
  EXPECT_GT(metric(client(), "ecomd_password_hash_refused_total"), 0);
  auto user = sign_up(client(), unique_email("after"), "password-1");
  EXPECT_EQ(user.status, 201) << describe(user);
}

}  // namespace
}  // namespace ecom::test
