// Durability of first-come coupons: kill -9 in the middle of an issue flood (many users, many
// connections, several kill moments) loses no acknowledged coupon, over-issues none and leaves
// no take without its wallet entry (total - remaining = wallet entries after the restart);
// keyed issues survive kill -9 (stored 201 and 409 replayed, a retry of a lost answer issues
// at most once); and a restart shows campaigns, wallets and histories byte-identical.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <functional>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "tests/support/api.h"
#include "tests/support/commerce.h"
#include "tests/support/http_client.h"
#include "tests/support/json.h"
#include "tests/support/server_process.h"

namespace ecom::test {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view k_bulk_prefix = "crash";

// A new FIXED coupon (7 days) and a campaign of it open from a minute ago for two hours.
int64_t open_campaign(http_client& client, int64_t quantity) {
  return open_campaign_for(
      client, create_coupon_template(client, "Crash", "FIXED", 3000, std::nullopt, 7), quantity);
}

// Every page of a list route read with the admin token, as the raw page bodies.
std::vector<std::string> pages_of(http_client& client, const std::string& path, int limit = 100) {
  std::vector<std::string> out;
  std::string cursor;
  const char joiner = path.find('?') == std::string::npos ? '?' : '&';
  for (int page = 0; page < 10000; ++page) {
    std::string target = path + joiner + "limit=" + std::to_string(limit);
    if (!cursor.empty()) target += "&cursor=" + cursor;
    auto response = client.get(target, bearer(k_admin_token));
    if (response.status != 200)
      throw std::runtime_error("GET " + target + ": " + describe(response));
    out.push_back(response.body);
    auto next = parse_json(response.body)["next_cursor"];
    if (next.is_null()) return out;
    cursor = next.as_string();
  }
  throw std::runtime_error("pagination of " + path + " does not end");
}

// The user's wallet entries from that campaign, minified.
std::vector<std::string> held_from(http_client& client, int64_t user_id, int64_t campaign_id) {
  std::vector<std::string> out;
  for (const auto& page : pages_of(client, user_path(user_id, "/coupons"))) {
    for (const auto& item : parse_json(page)["items"].elements())
      if (item["fcfs_coupon_id"].as_int() == campaign_id) out.push_back(item.dump());
  }
  return out;
}

// held_from for every user, read over 8 connections.
std::vector<std::vector<std::string>> wallets_of(uint16_t port, const std::vector<bulk_user>& users,
                                                 int64_t campaign_id) {
  constexpr int k_readers = 8;
  std::vector<std::vector<std::string>> out(users.size());
  std::vector<std::string> errors(k_readers);
  std::vector<std::thread> readers;
  for (int t = 0; t < k_readers; ++t) {
    readers.emplace_back([&, t] {
      http_client own(port);
      try {
        for (size_t i = t; i < users.size(); i += k_readers)
          out[i] = held_from(own, users[i].id, campaign_id);
      } catch (const std::exception& e) {
        errors[t] = e.what();
      }
    });
  }
  for (auto& reader : readers) reader.join();
  for (const auto& error : errors)
    if (!error.empty()) throw std::runtime_error(error);
  return out;
}

// What one user's single issue request came to during a flood.
enum class outcome { not_asked, issued, sold_out, no_answer, other };

struct ask {
  outcome result = outcome::not_asked;
  std::string body;  // the 201 body, or the unexpected answer
};

// When to kill: after a delay from the start of the flood, or once `after_issued` 201s or
// `after_answers` answers of any kind were seen (those land mid-flood on any machine speed).
struct kill_moment {
  std::string name;
  std::chrono::milliseconds delay{0};
  int after_issued = 0;
  int after_answers = 0;
  bool mid_flood() const { return after_issued > 0 || after_answers > 0; }
};

// Floods `campaign` with one issue per user over `connections` connections (user i on
// connection i % n, keyed when key_prefix is set) and kills the server at `moment`. Returns what
// each user saw.
std::vector<ask> flood_and_kill(server_process& server, int connections, int64_t campaign,
                                const std::vector<bulk_user>& users, const kill_moment& moment,
                                const std::string& key_prefix = "") {
  std::vector<ask> asks(users.size());
  std::atomic<int> ready{0}, issued{0}, answered{0};
  std::atomic<bool> go{false}, killed{false};
  std::vector<std::thread> pool;
  const uint16_t port = server.port();
  for (int t = 0; t < connections; ++t) {
    pool.emplace_back([&, t] {
      http_client own(port, 5000ms);
      own.get("/healthz");
      ready.fetch_add(1);
      const auto deadline = std::chrono::steady_clock::now() + 20s;
      while (!go.load() && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
      for (size_t i = t; i < users.size() && !killed.load(); i += connections) {
        header_list extra;
        if (!key_prefix.empty())
          extra.emplace_back("Idempotency-Key", key_prefix + std::to_string(i));
        auto response = issue(own, campaign, users[i].token, extra);
        if (response.status != 0) answered.fetch_add(1);
        ask& a = asks[i];
        if (response.status == 201) {
          a.result = outcome::issued;
          a.body = response.body;
          issued.fetch_add(1);
        } else if (response.status == 409 && code_of(response) == "COUPON_SOLD_OUT") {
          a.result = outcome::sold_out;
        } else if (response.status == 0) {
          a.result = outcome::no_answer;  // the kill: may or may not have been taken
          break;
        } else {
          a.result = outcome::other;
          a.body = describe(response);
        }
      }
    });
  }
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (ready.load() < connections && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(1ms);
  go = true;
  const auto started = std::chrono::steady_clock::now();
  if (moment.mid_flood()) {
    auto reached = [&] {
      return moment.after_issued > 0 ? issued.load() >= moment.after_issued
                                     : answered.load() >= moment.after_answers;
    };
    while (!reached() && std::chrono::steady_clock::now() < started + 10s)
      std::this_thread::yield();
  } else {
    std::this_thread::sleep_for(moment.delay);
  }
  server.kill_hard();
  killed = true;
  for (auto& thread : pool) thread.join();
  return asks;
}

struct tally {
  int issued = 0, sold_out = 0, no_answer = 0, not_asked = 0, other = 0;
};

tally count(const std::vector<ask>& asks) {
  tally t;
  for (const auto& a : asks) {
    switch (a.result) {
      case outcome::issued:
        ++t.issued;
        break;
      case outcome::sold_out:
        ++t.sold_out;
        break;
      case outcome::no_answer:
        ++t.no_answer;
        break;
      case outcome::not_asked:
        ++t.not_asked;
        break;
      case outcome::other:
        ++t.other;
        break;
    }
  }
  return t;
}

// After the restart: every 201 is in its user's wallet byte for byte, total - remaining equals
// the wallet entries of all users, nobody holds two, users answered SOLD_OUT or never asked hold
// none, only requests without an answer may have been taken unseen, nothing is over-issued.
// Returns the remaining quantity.
int64_t expect_consistent_after_restart(server_process& server, http_client& client,
                                        int64_t campaign, int64_t total,
                                        const std::vector<bulk_user>& users,
                                        const std::vector<ask>& asks) {
  SCOPED_TRACE("campaign " + std::to_string(campaign));
  auto c = campaign_of(client, campaign);
  const int64_t remaining = c["remaining_quantity"].as_int();
  EXPECT_EQ(c["total_quantity"].as_int(), total);
  EXPECT_GE(remaining, 0);
  const int64_t taken = total - remaining;
  auto wallets = wallets_of(server.port(), users, campaign);
  int64_t held_total = 0;
  int unseen = 0;
  for (size_t i = 0; i < users.size(); ++i) {
    const auto& held = wallets[i];
    const ask& a = asks[i];
    held_total += int64_t(held.size());
    EXPECT_LE(held.size(), 1u) << "user " << users[i].id << " holds two from one campaign";
    switch (a.result) {
      case outcome::issued:
        EXPECT_EQ(held.size(), 1u) << "acknowledged coupon lost for user " << users[i].id;
        if (held.size() == 1) {
          EXPECT_EQ(held[0], a.body) << "user " << users[i].id;
        }
        break;
      case outcome::sold_out:
      case outcome::not_asked:
        EXPECT_EQ(held.size(), 0u) << "user " << users[i].id << " was not issued one";
        break;
      case outcome::no_answer:
        unseen += held.size() == 1;
        break;
      case outcome::other:
        ADD_FAILURE() << "user " << users[i].id << " got " << a.body;
        break;
    }
  }
  const tally t = count(asks);
  EXPECT_EQ(held_total, taken) << "total - remaining must equal the wallet entries";
  EXPECT_LE(taken, total);
  EXPECT_EQ(taken, t.issued + unseen);
  if (t.sold_out > 0) {
    EXPECT_EQ(remaining, 0) << "SOLD_OUT was answered";
  }
  EXPECT_EQ(c["status"].as_string(), remaining == 0 ? "SOLD_OUT" : "OPEN");
  std::cout << "campaign " << campaign << ": " << t.issued << " x 201, " << t.sold_out
            << " x SOLD_OUT, " << t.no_answer << " unanswered (" << unseen << " of them taken), "
            << t.not_asked << " never asked; taken " << taken << " of " << total << "\n";
  return remaining;
}

// Goal: kill -9 in the middle of an issue flood loses no acknowledged coupon, over-issues none,
// and leaves no take without its wallet entry. Method: one server (2 shards), 2,000 bulk users;
// eight rounds, each a new campaign of 600 flooded by all users over 32 connections and killed
// 30 ms / a random 0..100 ms after the start, after the 50th 201, after 150, 280 and 400
// answers, after 620 answers (just past sold out), after a random number of answers (those six
// must cut requests off); restart on the same data dir (ready only after re-delivery) and check
// every wallet against what the clients saw (total - remaining = wallet entries exactly, every 201
// present byte for byte, nobody holds two, SOLD_OUT answered means remaining 0). After the last
// round a user holding none can still ask: 201 while units remain, SOLD_OUT otherwise.
TEST(coupon_crash, kill_9_mid_issue_flood_keeps_every_acknowledged_coupon_and_over_issues_none) {
  constexpr int k_users = 2000, k_quantity = 600, k_connections = 32;
  server_process server;
  http_client client(server.port());
  auto users = bulk_users(client, k_users, k_bulk_prefix);
  const unsigned seed = std::random_device{}();
  std::mt19937 random(seed);
  // The whole flood takes ~150 ms on a 2-core box, so the timed kills are early ones.
  const int random_ms = std::uniform_int_distribution<int>(0, 100)(random);
  const int random_answers = std::uniform_int_distribution<int>(1, k_users - 100)(random);
  std::cout << "[ info ] seed " << seed << "\n";
  const std::vector<kill_moment> moments = {
      {"30 ms in", 30ms, 0, 0},
      {"a random " + std::to_string(random_ms) + " ms in", std::chrono::milliseconds(random_ms), 0,
       0},
      {"after the 50th 201", 0ms, 50, 0},
      {"after 150 answers", 0ms, 0, 150},
      {"after 280 answers", 0ms, 0, 280},
      {"after 400 answers", 0ms, 0, 400},
      {"after 620 answers (just past sold out)", 0ms, 0, 620},
      {"after a random " + std::to_string(random_answers) + " answers", 0ms, 0, random_answers}};
  int64_t last_campaign = 0, last_remaining = 0;
  std::vector<ask> last_asks;
  for (const auto& moment : moments) {
    SCOPED_TRACE("kill " + moment.name);
    const int64_t campaign = open_campaign(client, k_quantity);
    auto asks = flood_and_kill(server, k_connections, campaign, users, moment);
    server.restart();
    client.set_port(server.port());
    std::cout << "[ info ] kill " << moment.name << ": ";
    last_remaining =
        expect_consistent_after_restart(server, client, campaign, k_quantity, users, asks);
    if (moment.mid_flood()) {
      EXPECT_GT(count(asks).no_answer, 0) << "the kill should have cut requests off mid-flood";
    }
    last_campaign = campaign;
    last_asks = std::move(asks);
  }
  // The campaign keeps working after the restarts.
  auto wallets = wallets_of(server.port(), users, last_campaign);
  for (size_t i = 0; i < users.size(); ++i) {
    if (!wallets[i].empty() || last_asks[i].result == outcome::sold_out) continue;
    auto response = issue(client, last_campaign, users[i].token);
    if (last_remaining > 0) {
      ASSERT_EQ(response.status, 201) << describe(response);
      EXPECT_EQ(campaign_of(client, last_campaign)["remaining_quantity"].as_int(),
                last_remaining - 1);
      EXPECT_EQ(held_from(client, users[i].id, last_campaign),
                std::vector<std::string>{response.body});
    } else {
      EXPECT_TRUE(is_problem(response, 409, "COUPON_SOLD_OUT"));
    }
    break;
  }
}

// Goal: keyed issues survive kill -9 mid-flood: after the restart every acknowledged 201
// replays byte for byte under its key, a stored SOLD_OUT replays too, and a client whose answer
// the kill cut off retries with the same key and ends with exactly what its wallet shows (201:
// that coupon; ALREADY_ISSUED: one coupon; SOLD_OUT: none), never a second coupon. Method:
// 1,000 users, campaign of 300, 32 connections with a key per user, kill after 200 answers;
// restart;
// replay every answered key, retry every unanswered one, then check the wallets and that total -
// remaining equals the wallet entries.
TEST(coupon_crash, keyed_issue_flood_replays_and_retries_exactly_once_after_kill_9) {
  constexpr int k_users = 1000, k_quantity = 300, k_connections = 32;
  server_process server;
  http_client client(server.port());
  auto users = bulk_users(client, k_users, k_bulk_prefix);
  const int64_t campaign = open_campaign(client, k_quantity);
  auto asks = flood_and_kill(server, k_connections, campaign, users,
                             {"after 200 answers", 0ms, 0, 200}, "k-");
  server.restart();
  client.set_port(server.port());
  // Before any retry: the state the crash left is consistent on its own.
  expect_consistent_after_restart(server, client, campaign, k_quantity, users, asks);
  int retried = 0;
  for (size_t i = 0; i < users.size(); ++i) {
    if (asks[i].result == outcome::not_asked) continue;
    SCOPED_TRACE("user " + std::to_string(users[i].id));
    const std::string key = "k-" + std::to_string(i);
    auto again = issue(client, campaign, users[i].token, {{"Idempotency-Key", key}});
    auto held = held_from(client, users[i].id, campaign);
    switch (asks[i].result) {
      case outcome::issued:
        EXPECT_EQ(again.status, 201) << describe(again);
        EXPECT_EQ(again.header_or("Idempotent-Replayed"), "true");
        EXPECT_EQ(again.body, asks[i].body);
        break;
      case outcome::sold_out:
        EXPECT_TRUE(is_problem(again, 409, "COUPON_SOLD_OUT"));
        EXPECT_EQ(again.header_or("Idempotent-Replayed"), "true");
        EXPECT_TRUE(held.empty());
        break;
      case outcome::no_answer:
        ++retried;
        if (again.status == 201) {
          EXPECT_EQ(held, std::vector<std::string>{again.body});
        } else if (code_of(again) == "COUPON_ALREADY_ISSUED") {
          EXPECT_EQ(held.size(), 1u);
        } else {
          EXPECT_TRUE(is_problem(again, 409, "COUPON_SOLD_OUT")) << describe(again);
          EXPECT_TRUE(held.empty());
        }
        break;
      default:
        break;
    }
    EXPECT_LE(held.size(), 1u);
  }
  auto c = campaign_of(client, campaign);
  auto wallets = wallets_of(server.port(), users, campaign);
  int64_t held_total = 0;
  for (const auto& held : wallets) held_total += int64_t(held.size());
  EXPECT_EQ(held_total, k_quantity - c["remaining_quantity"].as_int());
  EXPECT_GT(retried, 0) << "the kill should have cut keyed requests off";
  std::cout << "[ info ] retried " << retried << " unanswered keyed requests\n";
}

// Everything the coupon routes show: the campaign list pages, each campaign, and each user's
// wallet and history pages (admin token), as raw bodies.
std::map<std::string, std::vector<std::string>> coupon_state(http_client& client,
                                                             const std::vector<int64_t>& campaigns,
                                                             const std::vector<bulk_user>& users) {
  std::map<std::string, std::vector<std::string>> state;
  for (int limit : {1, 100}) {
    std::string cursor;
    for (int page = 0; page < 100; ++page) {
      std::string target = "/coupons/fcfs?limit=" + std::to_string(limit);
      if (!cursor.empty()) target += "&cursor=" + cursor;
      auto response = client.get(target);
      if (response.status != 200) throw std::runtime_error("GET list: " + describe(response));
      state["list " + std::to_string(limit)].push_back(response.body);
      auto next = parse_json(response.body)["next_cursor"];
      if (next.is_null()) break;
      cursor = next.as_string();
    }
  }
  for (int64_t id : campaigns) state["campaign"].push_back(client.get(campaign_path(id)).body);
  for (const auto& u : users) {
    state["wallet " + std::to_string(u.id)] = pages_of(client, user_path(u.id, "/coupons"), 2);
    state["history " + std::to_string(u.id)] =
        pages_of(client, user_path(u.id, "/coupons/history"), 2);
  }
  return state;
}

::testing::AssertionResult same_state(const std::map<std::string, std::vector<std::string>>& a,
                                      const std::map<std::string, std::vector<std::string>>& b) {
  if (a == b) return ::testing::AssertionSuccess();
  for (const auto& [name, bodies] : a) {
    auto it = b.find(name);
    if (it == b.end() || it->second != bodies) {
      auto failure = ::testing::AssertionFailure() << name << " differs:\nbefore";
      for (const auto& body : bodies) failure << " " << body;
      failure << "\nafter ";
      if (it != b.end())
        for (const auto& body : it->second) failure << " " << body;
      return failure;
    }
  }
  return ::testing::AssertionFailure() << "states differ";
}

// Goal: a graceful restart and a kill -9 both show campaigns, wallets and histories
// byte-identical, and issue keeps deciding from the recovered state. Method: 3 campaigns (one
// sold out, one on each shard), 6 users with coupons from several campaigns; read everything;
// SIGTERM (exit 0) + restart → identical; kill -9 right after the last acknowledged issue +
// restart → identical; then a holder gets ALREADY_ISSUED, SOLD_OUT stays, a new user issues 201
// with a fresh user coupon id.
TEST(coupon_crash, restart_keeps_campaigns_wallets_and_history_byte_identical) {
  server_process server;
  http_client client(server.port());
  auto users = bulk_users(client, 7, k_bulk_prefix);
  std::vector<bulk_user> holders(users.begin(), users.begin() + 6);
  const std::vector<int64_t> campaigns = {open_campaign(client, 2), open_campaign(client, 50),
                                          open_campaign(client, 50)};
  std::set<int64_t> coupon_ids;
  for (size_t u = 0; u < holders.size(); ++u) {
    for (size_t c = 0; c < campaigns.size(); ++c) {
      if ((u + c) % 2 == 1 && c != 0) continue;
      auto response = issue(client, campaigns[c], holders[u].token);
      if (c == 0 && u >= 2) {
        ASSERT_TRUE(is_problem(response, 409, "COUPON_SOLD_OUT"));
      } else {
        ASSERT_EQ(response.status, 201) << describe(response);
        coupon_ids.insert(parse_json(response.body)["id"].as_int());
      }
    }
  }
  auto before = coupon_state(client, campaigns, holders);
  EXPECT_EQ(server.terminate(), 0);
  server.restart();
  client.set_port(server.port());
  EXPECT_TRUE(same_state(before, coupon_state(client, campaigns, holders)));

  // One more acknowledged issue, then kill -9 at once.
  auto late = issue(client, campaigns[1], holders[0].token);
  ASSERT_EQ(late.status, 201) << describe(late);
  coupon_ids.insert(parse_json(late.body)["id"].as_int());
  auto second_before = coupon_state(client, campaigns, holders);
  server.kill_hard();
  server.restart();
  client.set_port(server.port());
  EXPECT_TRUE(same_state(second_before, coupon_state(client, campaigns, holders)));

  EXPECT_TRUE(
      is_problem(issue(client, campaigns[1], holders[0].token), 409, "COUPON_ALREADY_ISSUED"));
  EXPECT_TRUE(is_problem(issue(client, campaigns[0], users[6].token), 409, "COUPON_SOLD_OUT"));
  auto fresh = issue(client, campaigns[2], users[6].token);
  ASSERT_EQ(fresh.status, 201) << describe(fresh);
  EXPECT_EQ(coupon_ids.count(parse_json(fresh.body)["id"].as_int()), 0u) << "user coupon id reused";
}

}  // namespace
}  // namespace ecom::test
