// Crash safety: clients charge (and sign up) over several connections while the test kills the
// server with SIGKILL mid-load. After a restart on the same data dir every acknowledged change
// is present, nothing else is half applied, tokens and idempotency keys still work.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <mutex>
#include <random>
#include <thread>

#include "tests/support/api.h"
#include "tests/support/http_client.h"
#include "tests/support/json.h"
#include "tests/support/server_process.h"

namespace ecom::test {
namespace {

using namespace std::chrono_literals;

constexpr int k_workers = 8;

// One connection charging one user with amounts 1, 2, 3, ... (the next amount only after a 2xx),
// each under the Idempotency-Key "charge-<amount>", so the history of a user must read exactly
// 1..n in chronological order.
struct charge_worker {
  session user;
  int64_t acknowledged = 0;            // amounts 1..acknowledged got a 200
  std::string last_acknowledged_body;  // the 200 body of amount `acknowledged`
  bool in_flight = false;              // amount acknowledged+1 was sent without an answer
  std::string error;                   // an unexpected answer
  bool transport_error_before_kill = false;
};

// One connection signing up new users; each 201 must survive, the unanswered one must either
// exist completely or not at all.
struct sign_up_worker {
  std::vector<std::pair<int64_t, std::string>> acknowledged;  // id, email
  std::string in_flight_email;
  std::string error;
};

std::string key_for(int64_t amount) {
  return "charge-" + std::to_string(amount);
}

class crash_harness {
 public:
  crash_harness() : server_(), client_(server_.port()) {
    for (int w = 0; w < k_workers; ++w) {
      workers_[w].user = sign_up_and_login(client_, "crash" + std::to_string(w));
    }
  }

  server_process& server() { return server_; }

  // Runs load, kills the server `kill_after` after every worker got its first 200, restarts
  // and checks everything. Each entry of recovery_kills restarts the server and kills it again
  // that long after its listening line, while recovery may still run, before the final restart.
  // Can be called repeatedly on the same data dir.
  void run_cycle(std::chrono::milliseconds kill_after,
                 const std::vector<std::chrono::milliseconds>& recovery_kills = {}) {
    std::atomic<bool> killed{false};
    std::atomic<int> started{0};
    std::vector<std::thread> threads;
    for (int w = 0; w < k_workers; ++w) {
      threads.emplace_back([&, w] { charge_loop(workers_[w], killed, started); });
    }
    threads.emplace_back([&] { sign_up_loop(killed); });

    const auto wait_deadline = std::chrono::steady_clock::now() + 20s;
    while (started.load() < k_workers && std::chrono::steady_clock::now() < wait_deadline) {
      std::this_thread::sleep_for(1ms);
    }
    EXPECT_EQ(started.load(), k_workers) << "not every worker got a first 200 within 20 s";
    std::this_thread::sleep_for(kill_after);
    killed = true;
    server_.kill_hard();
    for (auto& thread : threads) thread.join();
    int64_t total = 0;
    int unanswered = 0;
    for (const auto& worker : workers_) {
      total += worker.acknowledged;
      unanswered += worker.in_flight ? 1 : 0;
    }
    std::cout << "killed after " << kill_after.count() << " ms: " << total
              << " acknowledged charges so far, " << unanswered << " unanswered, "
              << sign_ups_.acknowledged.size() << " sign-ups\n";

    for (auto delay : recovery_kills) {
      server_.restart(false);
      std::this_thread::sleep_for(delay);
      server_.kill_hard();
    }
    server_.restart(false);
    client_.set_port(server_.port());
    auto early_balances = probe_until_ready();
    server_.wait_ready();
    // During recovery a read is 503 NOT_READY or already the recovered value, never a partial one.
    const int64_t recovered =
        fetch_balance(client_, workers_[0].user.user_id, workers_[0].user.access_token);
    for (int64_t balance : early_balances) {
      EXPECT_EQ(balance, recovered) << "a balance read during recovery was partial";
    }
    verify_charges();
    verify_sign_ups();
  }

 private:
  // Reads worker 0's balance from the moment the server listens until /readyz is 200. Every
  // answer must be 200 or 503 NOT_READY; the 200 balances are returned.
  std::vector<int64_t> probe_until_ready() {
    std::vector<int64_t> balances;
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    const auto& user = workers_[0].user;
    while (std::chrono::steady_clock::now() < deadline) {
      auto response = client_.get(user_path(user.user_id, "/balance"), bearer(user.access_token));
      if (response.status == 200) {
        balances.push_back(parse_json(response.body)["balance"].as_int());
      } else if (response.status != 0) {
        expect_problem(response, 503, "NOT_READY");
      }
      if (client_.get("/readyz").status == 200) break;
    }
    return balances;
  }

  void charge_loop(charge_worker& worker, std::atomic<bool>& killed, std::atomic<int>& started) {
    http_client client(server_.port(), 5000ms);
    bool first = true;
    for (;;) {
      const int64_t amount = worker.acknowledged + 1;
      worker.in_flight = true;
      auto response = charge(client, worker.user.user_id, worker.user.access_token, amount,
                             {{"Idempotency-Key", key_for(amount)}});
      if (response.status == 0) {
        worker.transport_error_before_kill = !killed.load();
        if (worker.transport_error_before_kill) worker.error = describe(response);
        return;  // in_flight stays true: we do not know whether it was applied
      }
      if (response.status == 503) {  // OVERLOADED / NOT_READY: changed nothing, retry the same
        worker.in_flight = false;
        std::this_thread::sleep_for(10ms);
        continue;
      }
      if (response.status != 200) {
        worker.in_flight = false;
        worker.error = describe(response);
        if (first) ++started;
        return;
      }
      worker.in_flight = false;
      worker.acknowledged = amount;
      worker.last_acknowledged_body = response.body;
      if (first) {
        first = false;
        ++started;
      }
    }
  }

  void sign_up_loop(std::atomic<bool>& killed) {
    http_client client(server_.port(), 5000ms);
    for (;;) {
      const std::string email = unique_email("crash-signup");
      sign_ups_.in_flight_email = email;
      auto response = client.post_json("/users", json_object()
                                                     .add("name", "Crash")
                                                     .add("email", email)
                                                     .add("password", "password1")
                                                     .str());
      if (response.status == 0) {
        if (!killed.load()) sign_ups_.error = describe(response);
        return;
      }
      sign_ups_.in_flight_email.clear();
      if (response.status != 201) {
        sign_ups_.error = describe(response);
        return;
      }
      sign_ups_.acknowledged.emplace_back(parse_json(response.body)["id"].as_int(), email);
    }
  }

  void verify_charges() {
    for (int w = 0; w < k_workers; ++w) {
      auto& worker = workers_[w];
      SCOPED_TRACE("worker " + std::to_string(w) + ", user " + std::to_string(worker.user.user_id) +
                   ", acknowledged 1.." + std::to_string(worker.acknowledged) +
                   (worker.in_flight ? " plus one unanswered" : ""));
      EXPECT_EQ(worker.error, "");
      EXPECT_FALSE(worker.transport_error_before_kill);
      // The access token from before the crash still works.
      auto user = client_.get(user_path(worker.user.user_id), bearer(worker.user.access_token));
      EXPECT_EQ(user.status, 200) << describe(user);

      auto history = fetch_history(client_, worker.user.user_id, worker.user.access_token);
      const int64_t balance = fetch_balance(client_, worker.user.user_id, worker.user.access_token);
      EXPECT_TRUE(history_consistent(history, balance));
      // Chronologically the amounts must read 1..m, m = acknowledged or acknowledged + 1.
      std::vector<int64_t> amounts;
      for (auto it = history.rbegin(); it != history.rend(); ++it) amounts.push_back(it->amount);
      const int64_t m = static_cast<int64_t>(amounts.size());
      EXPECT_TRUE(m == worker.acknowledged || (worker.in_flight && m == worker.acknowledged + 1))
          << "history has " << m << " entries";
      for (int64_t i = 0; i < m; ++i) {
        if (amounts[i] != i + 1) {
          ADD_FAILURE() << "history entry " << i << " has amount " << amounts[i];
          break;
        }
      }

      // The key of the last acknowledged charge replays its stored answer byte for byte.
      if (worker.acknowledged > 0) {
        auto replay =
            charge(client_, worker.user.user_id, worker.user.access_token, worker.acknowledged,
                   {{"Idempotency-Key", key_for(worker.acknowledged)}});
        EXPECT_EQ(replay.status, 200) << describe(replay);
        EXPECT_EQ(replay.header_or("Idempotent-Replayed"), "true");
        EXPECT_EQ(replay.body, worker.last_acknowledged_body);
      }
      // Retrying the unanswered charge with its key applies it at most once.
      if (worker.in_flight) {
        const int64_t amount = worker.acknowledged + 1;
        auto retry = charge(client_, worker.user.user_id, worker.user.access_token, amount,
                            {{"Idempotency-Key", key_for(amount)}});
        ASSERT_EQ(retry.status, 200) << describe(retry);
        EXPECT_EQ(retry.header_or("Idempotent-Replayed") == "true", m == amount)
            << "a replay must mean the charge had been applied";
        worker.acknowledged = amount;
        worker.last_acknowledged_body = retry.body;
        worker.in_flight = false;
        auto after = fetch_history(client_, worker.user.user_id, worker.user.access_token);
        EXPECT_EQ(static_cast<int64_t>(after.size()), amount) << "the retry double-applied";
        EXPECT_TRUE(history_consistent(
            after, fetch_balance(client_, worker.user.user_id, worker.user.access_token)));
      }
      // The refresh token from before the crash still rotates.
      auto refreshed = client_.post_json(
          "/auth/refresh", json_object().add("refresh_token", worker.user.refresh_token).str());
      ASSERT_EQ(refreshed.status, 200) << describe(refreshed);
      worker.user.refresh_token = parse_json(refreshed.body)["refresh_token"].as_string();
    }
  }

  void verify_sign_ups() {
    EXPECT_EQ(sign_ups_.error, "");
    for (const auto& [id, email] : sign_ups_.acknowledged) {
      auto user = client_.get(user_path(id), bearer(k_admin_token));
      ASSERT_EQ(user.status, 200) << "acknowledged sign-up " << id << " lost: " << describe(user);
      EXPECT_EQ(parse_json(user.body)["email"].as_string(), email);
    }
    if (!sign_ups_.acknowledged.empty()) {
      const auto& email = sign_ups_.acknowledged.back().second;
      auto login = client_.post_json(
          "/auth/login", json_object().add("email", email).add("password", "password1").str());
      EXPECT_EQ(login.status, 200) << describe(login);
    }
    if (!sign_ups_.in_flight_email.empty()) {
      // All or nothing: either the user logs in and the email is taken, or neither.
      const std::string& email = sign_ups_.in_flight_email;
      auto login = client_.post_json(
          "/auth/login", json_object().add("email", email).add("password", "password1").str());
      auto again = client_.post_json("/users", json_object()
                                                   .add("name", "Crash")
                                                   .add("email", email)
                                                   .add("password", "password1")
                                                   .str());
      if (login.status == 200) {
        expect_problem(again, 409, "EMAIL_TAKEN");
      } else {
        expect_problem(login, 401, "INVALID_CREDENTIALS");
        EXPECT_EQ(again.status, 201) << "half-applied sign-up: " << describe(again);
      }
    }
    sign_ups_ = {};
  }

  server_process server_;
  http_client client_;
  charge_worker workers_[k_workers];
  sign_up_worker sign_ups_;
};

struct kill_moment {
  const char* label;
  int after_ms;  // < 0: random
  friend void PrintTo(const kill_moment& k, std::ostream* os) { *os << k.label; }
};

class sigkill : public ::testing::TestWithParam<kill_moment> {};

std::chrono::milliseconds pick_delay(int after_ms) {
  if (after_ms >= 0) return std::chrono::milliseconds(after_ms);
  std::random_device device;
  const unsigned seed = device();
  std::mt19937 rng(seed);
  const int delay = std::uniform_int_distribution<int>(0, 800)(rng);
  std::cout << "random kill delay " << delay << " ms (seed " << seed << ")\n";
  ::testing::Test::RecordProperty("kill_delay_ms", delay);
  return std::chrono::milliseconds(delay);
}

// Goal: kill -9 mid-load loses no acknowledged charge and half-applies nothing. Method: 8
// connections charge their own user 1, 2, 3, ... with idempotency keys and one more signs up
// users; SIGKILL after the given delay, restart on the same data dir, then per user: history
// reads exactly 1..n (n = acknowledged, or one more if the last was unanswered), chain and sum
// hold, the old access and refresh tokens work, the last key replays byte-identical, and the
// unanswered charge retried with its key is applied at most once.
TEST_P(sigkill, acknowledged_changes_survive_and_nothing_is_half_applied) {
  crash_harness harness;
  harness.run_cycle(pick_delay(GetParam().after_ms));
}

INSTANTIATE_TEST_SUITE_P(kill_moments, sigkill,
                         ::testing::Values(kill_moment{"after_50ms", 50},
                                           kill_moment{"after_200ms", 200},
                                           kill_moment{"after_500ms", 500},
                                           kill_moment{"after_random_delay", -1}),
                         [](const auto& info) { return std::string(info.param.label); });

// Goal: recovery of an already recovered data dir is as safe as the first. Method: three kill
// and restart cycles with random delays on one data dir, continuing the same users and amounts.
TEST(sigkill_repeated, three_kills_on_one_data_dir_keep_every_acknowledged_change) {
  crash_harness harness;
  for (int cycle = 0; cycle < 3; ++cycle) {
    SCOPED_TRACE("cycle " + std::to_string(cycle));
    harness.run_cycle(pick_delay(-1));
    if (HasFatalFailure()) return;
  }
}

// Goal: a crash during recovery loses nothing either. Method: kill mid-load, then restart and
// kill again 0, 5 and 30 ms after the listening line (recovery may still be running), then
// restart for good and check as above.
TEST(sigkill_recovery, kills_during_recovery_keep_every_acknowledged_change) {
  crash_harness harness;
  harness.run_cycle(300ms, {0ms, 5ms, 30ms});
}

// Goal: kill -9 right after an acknowledged charge keeps it and its idempotency key. Method:
// one charge with a key, SIGKILL at once, restart; balance, history and the replay all match.
TEST(sigkill_idle, charge_acknowledged_just_before_kill_survives_with_its_key) {
  server_process server;
  http_client client(server.port());
  auto s = sign_up_and_login(client, "killidle");
  auto first = charge(client, s.user_id, s.access_token, 9876, {{"Idempotency-Key", "idle-key"}});
  ASSERT_EQ(first.status, 200) << describe(first);
  server.kill_hard();
  server.restart();
  client.set_port(server.port());
  EXPECT_EQ(fetch_balance(client, s.user_id, s.access_token), 9876);
  auto replay = charge(client, s.user_id, s.access_token, 9876, {{"Idempotency-Key", "idle-key"}});
  EXPECT_EQ(replay.status, 200);
  EXPECT_EQ(replay.header_or("Idempotent-Replayed"), "true");
  EXPECT_EQ(replay.body, first.body);
  auto history = fetch_history(client, s.user_id, s.access_token);
  EXPECT_EQ(history.size(), 1u);
  EXPECT_TRUE(history_consistent(history, 9876));
}

// Goal: refresh-token families survive kill -9: a token rotated before a crash and presented
// again after it is still a reuse (the rotation was durable), and the family's revocation
// survives the next crash (it was durable too); another login of the user is untouched.
TEST(sigkill_sessions, a_reuse_across_kills_revokes_the_family_durably) {
  server_process server;
  http_client client(server.port());
  auto s = sign_up_and_login(client, "killfamily");
  auto other = client.post_json(
      "/auth/login", json_object().add("email", s.email).add("password", s.password).str());
  ASSERT_EQ(other.status, 200) << describe(other);
  auto refresh = [&](const std::string& token) {
    return client.post_json("/auth/refresh", json_object().add("refresh_token", token).str());
  };
  auto rotated = refresh(s.refresh_token);
  ASSERT_EQ(rotated.status, 200) << describe(rotated);
  const std::string newer = parse_json(rotated.body)["refresh_token"].as_string();
  server.kill_hard();
  server.restart();
  client.set_port(server.port());
  expect_problem(refresh(s.refresh_token), 401, "UNAUTHENTICATED");  // the reuse: revokes
  server.kill_hard();
  server.restart();
  client.set_port(server.port());
  expect_problem(refresh(newer), 401, "UNAUTHENTICATED");
  auto untouched = refresh(parse_json(other.body)["refresh_token"].as_string());
  EXPECT_EQ(untouched.status, 200) << describe(untouched);
}

}  // namespace
}  // namespace ecom::test
