// Replication through a real `nats-server -js` (OPERATIONS.md §3, issue 13): a primary
// (--replicate-to) publishes its WAL to a JetStream stream, standbys bootstrapped from
// `ecom-snapshot backup`/`restore` follow it (--follow), POST /admin/promote turns one into the
// primary, and a primary that another one overtook is fenced. Every test starts its own NATS
// (one node, or a 3-node cluster) on loopback ports with temporary store dirs, and its own
// ecomd processes:
//   - a standby under `ecom-load mixed` equals the primary entity by entity once caught up;
//   - a standby, then a local-ack primary, killed -9 mid-stream restart from their WAL and
//     converge;
//   - kill -9 of a stream-ack primary mid-FCFS-flood and mid-payments, then promote: every 2xx
//     a client saw is on the promoted standby, nothing over-issued, balances = histories;
//   - a 3-node NATS cluster (stream replicas 3) loses the node the servers talk to, and the
//     stream leader, mid-flood: writes go on after a blip, the standby follows to the same state;
//   - NATS down: stream mode answers 503 REPLICATION_UNAVAILABLE (after the timeout, then at
//     once) and resumes when NATS is back; local mode writes on and the standby catches up;
//     servers started while NATS is down come up (and stop on SIGTERM);
//   - fencing: the old primary never acknowledges a write after the promotion, restarted it
//     serves reads and refuses writes, and re-seeded from a backup it follows the new primary;
//     a local-ack old primary refuses changes once its next append is refused; a second
//     standby follows the promoted one;
//   - refusals: another data dir's backup, another shard count, a WAL that diverged, a stream
//     that no longer holds the next LSN;
//   - the HTTP surface of a standby: /readyz, X-Ecomd-Min-Lsn, NOT_PRIMARY after 401, promote
//     on a primary.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "engine/shard_set.h"
#include "persistence/data_dir.h"
#include "persistence/recovery.h"
#include "tests/support/api.h"
#include "tests/support/commerce.h"
#include "tests/support/data_dir_tools.h"
#include "tests/support/http_client.h"
#include "tests/support/json.h"
#include "tests/support/nats_process.h"
#include "tests/support/server_process.h"

namespace ecom::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

// ---- tools and dirs ------------------------------------------------------------------------

// Both data dirs hold the same entities, shard by shard.
void expect_same_state(const fs::path& primary_dir, const fs::path& standby_dir) {
  const engine::time_ms now = now_ms();
  const auto primary = state_of(primary_dir, now);
  const auto standby = state_of(standby_dir, now);
  ASSERT_EQ(primary.size(), standby.size());
  for (size_t i = 0; i < primary.size(); ++i) {
    const auto& a = primary[i];
    const auto& b = standby[i];
    const auto at = std::mismatch(a.begin(), a.end(), b.begin(), b.end()).first - a.begin();
    EXPECT_TRUE(a == b) << "shard " << i << ": the primary's state (" << a.size()
                        << " bytes) and the standby's (" << b.size() << " bytes) differ from byte "
                        << at;
    EXPECT_GT(a.size(), 0u);
  }
}

// ---- servers -------------------------------------------------------------------------------

const std::string k_admin(k_admin_token);

json_doc stats_of(http_client& client) {
  auto response = client.get("/admin/stats", bearer(k_admin));
  if (response.status != 200) throw std::runtime_error("GET /admin/stats: " + describe(response));
  return parse_json(response.body);
}

// X-Ecomd-Lsn of an answer, -1 when it has none.
int64_t lsn_of(const http_response& response) {
  auto value = response.header("X-Ecomd-Lsn");
  if (!value || value->empty()) return -1;
  return std::stoll(*value);
}

// The value of an unlabelled Prometheus sample in GET /metrics, -1 when it is not there.
int64_t metric_of(http_client& client, const std::string& name) {
  const std::string text = client.get("/metrics").body;
  const std::string key = "\n" + name + " ";
  const auto at = text.find(key);
  if (at == std::string::npos) return -1;
  return std::stoll(text.substr(at + key.size()));
}

server_options replicating(std::vector<std::string> args) {
  server_options options;
  options.extra_args = std::move(args);
  return options;
}

server_options primary_of(const std::string& urls, std::vector<std::string> more = {}) {
  std::vector<std::string> args = {"--replicate-to", urls};
  args.insert(args.end(), more.begin(), more.end());
  return replicating(std::move(args));
}

// A backup of the running primary (ecom-snapshot backup --url) restored into dirs/name.
fs::path backup_and_restore(const server_process& primary, const scratch& dirs,
                            const std::string& name) {
  const fs::path backup = dirs / (name + "-backup");
  const fs::path restored = dirs / name;
  tool_run b = run_tool(ECOM_SNAPSHOT_BINARY,
                        "backup " + primary.data_dir() + " --out " + backup.string() +
                            " --url http://127.0.0.1:" + std::to_string(primary.port()) +
                            " --admin-token " + k_admin);
  if (b.exit != 0) throw std::runtime_error("ecom-snapshot backup: " + describe(b));
  tool_run r =
      run_tool(ECOM_SNAPSHOT_BINARY, "restore " + backup.string() + " --to " + restored.string());
  if (r.exit != 0) throw std::runtime_error("ecom-snapshot restore: " + describe(r));
  return restored;
}

server_options standby_of(const fs::path& data_dir, const std::string& urls,
                          std::vector<std::string> more = {}) {
  std::vector<std::string> args = {"--follow", urls};
  args.insert(args.end(), more.begin(), more.end());
  server_options options = replicating(std::move(args));
  options.data_dir = data_dir.string();
  return options;
}

// A standby of `primary` bootstrapped from a backup of it (ready: caught up once).
std::unique_ptr<server_process> start_standby(const server_process& primary, const scratch& dirs,
                                              const std::string& urls,
                                              std::vector<std::string> more = {},
                                              const std::string& name = "standby") {
  return std::make_unique<server_process>(
      standby_of(backup_and_restore(primary, dirs, name), urls, std::move(more)));
}

// Waits until the stream acknowledged everything the primary made durable and the standby
// applied all of it; returns that LSN. Throws with both servers' figures at the deadline.
int64_t wait_caught_up(http_client& primary, http_client& standby,
                       std::chrono::milliseconds timeout = 30s) {
  const auto deadline = steady::now() + timeout;
  std::string last;
  for (;;) {
    auto p = stats_of(primary);
    auto s = stats_of(standby);
    const int64_t durable = p["wal"]["durable_lsn"].as_int();
    const int64_t acked = p["replication"]["lsn"].as_int();
    const int64_t applied = s["replication"]["lsn"].as_int();
    if (acked == durable && applied == durable && p["wal"]["appended_lsn"].as_int() == durable)
      return durable;
    last = "primary " + p["replication"].dump() + " wal " + p["wal"].dump() + "; standby " +
           s["replication"].dump();
    if (steady::now() > deadline) throw std::runtime_error("standby not caught up: " + last);
    std::this_thread::sleep_for(20ms);
  }
}

// The start of a server that must refuse: the message of server_process's failure (with the
// server's stderr); the test fails when it started.
std::string refused_start(server_options options) {
  options.start_timeout = 20s;
  try {
    server_process server(std::move(options));
    ADD_FAILURE() << "the server started; it should have refused: " << server.stderr_text();
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

void expect_refusal_exit(const std::string& message) {
  // "exited with status N before ..." from server_process, N != 0.
  const std::string key = "exited with status ";
  const auto at = message.find(key);
  ASSERT_NE(at, std::string::npos) << message;
  const int code = std::atoi(message.c_str() + at + key.size());
  EXPECT_NE(code, 0) << message;
}

double ms_since(steady::time_point start) {
  return std::chrono::duration<double, std::milli>(steady::now() - start).count();
}

// ---- coupons and money ---------------------------------------------------------------------

// The user's wallet entries from that campaign, minified.
std::vector<std::string> held_from(http_client& client, int64_t user_id, int64_t campaign_id) {
  std::vector<std::string> out;
  for (const auto& item : list_all(client, user_path(user_id, "/coupons")))
    if (item["fcfs_coupon_id"].as_int() == campaign_id) out.push_back(item.dump());
  return out;
}

// Charges in a user's history (admin view), by amount.
std::multiset<int64_t> charges_of(http_client& client, int64_t user_id) {
  std::multiset<int64_t> out;
  for (const auto& entry : money_history(client, user_id))
    if (entry.type == "CHARGE") out.insert(entry.amount);
  return out;
}

// What a client saw of its charges: 2xx, and those whose outcome it cannot know (no answer, a
// timeout 503, or a 503 of a primary that stopped being one).
struct charge_book {
  std::set<int64_t> acknowledged;
  std::set<int64_t> unknown;
  std::set<int64_t> refused;  // answers that changed nothing (503 at once)
};

// Every acknowledged charge is in the history once, nothing else is but the unknown ones,
// and the balance equals the history.
void expect_charges_kept(http_client& client, const bulk_user& user, const charge_book& book) {
  SCOPED_TRACE("user " + std::to_string(user.id));
  const auto held = charges_of(client, user.id);
  for (int64_t amount : book.acknowledged)
    EXPECT_EQ(held.count(amount), 1u) << "acknowledged charge " << amount << " not held once";
  for (int64_t amount : held) {
    EXPECT_TRUE(book.acknowledged.count(amount) || book.unknown.count(amount))
        << "charge " << amount << " is held but was never acknowledged nor left unknown";
    EXPECT_EQ(book.refused.count(amount), 0u) << "refused charge " << amount << " is held";
  }
  const int64_t balance = fetch_balance(client, user.id, user.token);
  EXPECT_TRUE(history_consistent(fetch_history(client, user.id, user.token), balance));
}

// ============================================================================================

// Goal: a standby follows a primary under shopping traffic and, once caught up, holds the same
// state entity by entity. Method: NATS (one node); a primary (local ack, a snapshot every 3,000
// records, which the standby takes too); a standby from a backup; `ecom-load mixed` (200 users,
// 8 connections, 3 s, its own audit) on the primary, while a reader polls the standby's lag and
// two clients charge on the primary and read the balance on the standby with X-Ecomd-Min-Lsn
// (a 200 must show the charge);
// then wait until the standby applied the primary's durable LSN, compare /admin/stats counts
// per shard, stop both (SIGTERM) and compare every shard's canonical state (save()) of the two
// data dirs loaded read-only.
TEST(replication, a_standby_under_mixed_load_equals_the_primary_entity_by_entity_when_caught_up) {
  nats_cluster nats;
  scratch dirs("ecom-replication-test");
  server_process primary(primary_of(nats.url(), {"--snapshot-every-records", "3000"}));
  http_client client(primary.port());
  sign_up_and_login(client, "follow");
  auto standby = start_standby(primary, dirs, nats.url(), {"--snapshot-every-records", "3000"});
  http_client reader(standby->port());

  std::atomic<bool> done{false};
  std::atomic<int64_t> lag_max{0};
  std::thread watcher([&] {
    http_client own(standby->port());
    while (!done.load()) {
      try {
        lag_max =
            std::max<int64_t>(lag_max.load(), stats_of(own)["replication"]["lag_records"].as_int());
      } catch (const std::exception&) {
      }
      std::this_thread::sleep_for(50ms);
    }
  });
  // Read-your-writes under the load: a charge on the primary, then its user's balance on the
  // standby with X-Ecomd-Min-Lsn = the charge's X-Ecomd-Lsn: a 200 shows the charge.
  const auto ryw_users = bulk_users(client, 2, "ryw");
  std::vector<int> ryw_ok(2, 0), ryw_behind(2, 0);
  std::vector<std::string> ryw_errors(2);
  std::vector<std::thread> ryw;
  for (int t = 0; t < 2; ++t) {
    ryw.emplace_back([&, t] {
      http_client writer(primary.port());
      http_client own(standby->port());
      const bulk_user& u = ryw_users[t];
      int64_t balance = 0;
      for (int64_t amount = 1; !done.load(); ++amount) {
        auto charged = charge(writer, u.id, u.token, amount);
        if (charged.status != 200) {
          ryw_errors[t] = "charge: " + describe(charged);
          return;
        }
        balance += amount;
        const header_list min_lsn = {{"X-Ecomd-Min-Lsn", std::to_string(lsn_of(charged))}};
        auto read = own.get(user_path(u.id, "/balance"), with_headers(bearer(u.token), min_lsn));
        if (read.status == 503 && code_of(read) == "REPLICA_BEHIND") {
          ++ryw_behind[t];
        } else if (read.status != 200 || parse_json(read.body)["balance"].as_int() != balance) {
          ryw_errors[t] = "after a charge to " + std::to_string(balance) + ": " + describe(read);
          return;
        } else {
          ++ryw_ok[t];
        }
        std::this_thread::sleep_for(5ms);
      }
    });
  }
  const auto started = steady::now();
  tool_run load =
      run_tool(ECOM_LOAD_BINARY, "mixed --url http://127.0.0.1:" + std::to_string(primary.port()) +
                                     " --admin-token " + k_admin +
                                     " --users 200 --connections 8 --duration 3"
                                     " --no-progress");
  const double load_ms = ms_since(started);
  done = true;
  watcher.join();
  for (auto& thread : ryw) thread.join();
  for (int t = 0; t < 2; ++t) {
    EXPECT_EQ(ryw_errors[t], "") << "read-your-writes on the standby";
    EXPECT_GT(ryw_ok[t], 10);
  }
  std::cout << "figure: read-your-writes on the standby under the load: " << ryw_ok[0] + ryw_ok[1]
            << " x 200, " << ryw_behind[0] + ryw_behind[1] << " x 503 REPLICA_BEHIND\n";
  EXPECT_EQ(load.exit, 0) << "ecom-load mixed failed (its audit, or a request): " << describe(load);

  const auto caught_up_from = steady::now();
  const int64_t lsn = wait_caught_up(client, reader);
  const double catch_up_ms = ms_since(caught_up_from);
  std::cout << "figure: mixed load " << load_ms << " ms, lsn " << lsn << ", standby lag max "
            << lag_max.load() << " records, caught up " << catch_up_ms << " ms after the load\n";
  EXPECT_GT(lsn, 1000) << "the load wrote little";

  // The counts /admin/stats shows, shard by shard.
  auto p = stats_of(client);
  auto s = stats_of(reader);
  EXPECT_EQ(s["replication"]["role"].as_string(), "standby");
  EXPECT_EQ(s["replication"]["state"].as_string(), "following");
  EXPECT_EQ(s["replication"]["lag_records"].as_int(), 0);
  EXPECT_EQ(p["replication"]["lag_records"].as_int(), 0);
  EXPECT_EQ(s["replication"]["stream_seq"].as_int(), p["replication"]["stream_seq"].as_int());
  EXPECT_GT(s["snapshot"]["lsn"].as_int(), 3000) << "the standby takes its own snapshots";
  // The same figures in /metrics.
  EXPECT_EQ(metric_of(client, "ecomd_replication_lsn"), lsn);
  EXPECT_EQ(metric_of(client, "ecomd_replication_lag_records"), 0);
  EXPECT_EQ(metric_of(client, "ecomd_replication_fenced"), 0);
  EXPECT_GE(metric_of(client, "ecomd_replication_records_published_total"), lsn - 10);
  EXPECT_GT(metric_of(client, "ecomd_replication_messages_published_total"), 0);
  EXPECT_EQ(metric_of(reader, "ecomd_replication_lsn"), lsn);
  EXPECT_EQ(metric_of(reader, "ecomd_replication_lag_records"), 0);
  EXPECT_GE(metric_of(reader, "ecomd_replication_records_applied_total"), lsn - 10);
  EXPECT_GT(metric_of(reader, "ecomd_replication_messages_applied_total"), 0);
  const auto ps = p["shards"].elements();
  const auto ss = s["shards"].elements();
  ASSERT_EQ(ps.size(), ss.size());
  for (size_t i = 0; i < ps.size(); ++i) {
    for (const char* field :
         {"users", "balance_entries", "products", "cart_lines", "campaigns", "user_coupons",
          "orders", "stock_holds", "events", "last_applied_lsn"}) {
      EXPECT_EQ(ps[i][field].as_int(), ss[i][field].as_int()) << "shard " << i << " " << field;
    }
  }
  ASSERT_EQ(primary.terminate(), 0);
  ASSERT_EQ(standby->terminate(), 0);
  expect_same_state(primary.data_dir(), standby->data_dir());
}

// Goal: a standby killed -9 while it follows restarts from its own data dir (its WAL's tail
// may be torn) and resumes the stream where its WAL ends; a local-ack primary killed -9 restarts
// and publishes what its WAL holds past the stream's end; both end equal. Method: NATS (one
// node), a primary, a standby; 4 writers charge all along (unique amounts; an answer cut off by
// the kill counts as unknown); the standby is killed 700 ms in and started again at once (ready:
// caught up), then the primary 700 ms later, started again on its data dir; 700 ms more of
// writes; then every acknowledged charge is held once on both and the states are compared.
TEST(replication, standby_and_primary_killed_mid_stream_restart_from_their_wal_and_converge) {
  constexpr int k_writers = 4;
  nats_cluster nats;
  scratch dirs("ecom-replication-test");
  server_process primary(primary_of(nats.url()));
  http_client client(primary.port());
  const auto users = bulk_users(client, k_writers, "rresume");
  auto standby = start_standby(primary, dirs, nats.url());
  http_client reader(standby->port());
  std::vector<charge_book> books(k_writers);
  std::vector<int64_t> next_amount(k_writers, 1);
  // Writers on the primary's current port until stop, or until the primary stops answering.
  const auto write_for = [&](std::chrono::milliseconds how_long, const std::function<void()>& mid) {
    std::atomic<bool> stop{false};
    std::vector<std::thread> writers;
    for (int t = 0; t < k_writers; ++t) {
      writers.emplace_back([&, t, port = primary.port()] {
        http_client own(port, 5000ms);
        while (!stop.load()) {
          const int64_t amount = next_amount[t]++;
          auto r = charge(own, users[t].id, users[t].token, amount);
          (r.status == 200 ? books[t].acknowledged : books[t].unknown).insert(amount);
          if (r.status == 0) break;
        }
      });
    }
    std::this_thread::sleep_for(how_long);
    if (mid) mid();
    stop = true;
    for (auto& writer : writers) writer.join();
  };
  double standby_restart_ms = 0;
  write_for(700ms, [&] {
    standby->kill_hard();
    const auto restarting = steady::now();
    standby->restart();
    standby_restart_ms = ms_since(restarting);
    reader.set_port(standby->port());
    std::this_thread::sleep_for(700ms);
    primary.kill_hard();
  });
  int unknown = 0;
  for (const auto& book : books) unknown += int(book.unknown.size());
  EXPECT_LE(unknown, k_writers) << "only the answers the primary's kill cut off are unknown";
  primary.restart();
  client.set_port(primary.port());
  write_for(700ms, nullptr);
  const int64_t lsn = wait_caught_up(client, reader);
  std::cout << "figure: the killed standby was ready (caught up) " << standby_restart_ms
            << " ms after its restart; both caught up at lsn " << lsn << "\n";
  for (int t = 0; t < k_writers; ++t) {
    EXPECT_GT(books[t].acknowledged.size(), 10u);
    expect_charges_kept(client, users[t], books[t]);
    expect_charges_kept(reader, users[t], books[t]);
  }
  ASSERT_EQ(primary.terminate(), 0);
  ASSERT_EQ(standby->terminate(), 0);
  expect_same_state(primary.data_dir(), standby->data_dir());
}

// ============================================================================================

// What one user's single issue request came to during a flood.
enum class outcome { not_asked, issued, sold_out, no_answer, other };

struct ask {
  outcome result = outcome::not_asked;
  std::string body;  // the 201 body, or the unexpected answer
};

// A payer's round: charge, order, pay, and what each answer was.
struct payer_book {
  charge_book charges;
  std::vector<int64_t> orders_created;  // 201
  std::vector<int64_t> orders_paid;     // 200
};

// Goal: with --replication-ack stream, every change a client saw acknowledged survives the
// primary's kill -9 on the promoted standby; no coupon is over-issued; balances equal their
// histories. Method: NATS (one node); a stream-ack primary with 800 users, a campaign of 500
// and a product; a standby from a backup; 6 connections issue one coupon per user while 4 payers
// charge (unique amounts), order and pay in a loop; kill -9 once a random 50..450 coupons were
// issued (and some orders paid); POST /admin/promote on the standby; then every 201 coupon is in
// its user's wallet byte for byte, nobody holds two, total - remaining = wallet entries = 201s +
// unseen takes, every acknowledged charge is in its history once, every created order exists, every
// paid one is PAID, balances equal histories; and the promoted standby takes writes.
TEST(replication, kill_9_of_a_stream_ack_primary_mid_flood_then_promote_keeps_every_2xx) {
  constexpr int k_users = 800, k_quantity = 500, k_issuers = 6, k_payers = 4;
  nats_cluster nats;
  scratch dirs("ecom-replication-test");
  server_process primary(primary_of(nats.url(), {"--replication-ack", "stream"}));
  http_client client(primary.port());
  const auto users = bulk_users(client, k_users, "rflood");
  const auto payers = bulk_users(client, k_payers, "rpayer");
  const int64_t campaign = open_campaign_for(
      client, create_coupon_template(client, "Failover", "FIXED", 1000, std::nullopt, 7),
      k_quantity);
  const product_ref product = simple_product(client, "failover", 1500, 1'000'000);
  auto standby = start_standby(primary, dirs, nats.url(), {"--replication-ack", "stream"});
  http_client other(standby->port());

  std::vector<ask> asks(users.size());
  std::vector<payer_book> books(k_payers);
  std::atomic<int> issued{0}, paid{0};
  std::atomic<bool> killed{false};
  std::vector<std::thread> pool;
  for (int t = 0; t < k_issuers; ++t) {
    pool.emplace_back([&, t] {
      http_client own(primary.port(), 5000ms);
      for (size_t i = t; i < users.size() && !killed.load(); i += k_issuers) {
        auto response = issue(own, campaign, users[i].token);
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
  for (int t = 0; t < k_payers; ++t) {
    pool.emplace_back([&, t] {
      http_client own(primary.port(), 5000ms);
      payer_book& book = books[t];
      const bulk_user& me = payers[t];
      for (int64_t round = 1; !killed.load(); ++round) {
        const int64_t amount = 100'000 + round;
        auto charged = charge(own, me.id, me.token, amount);
        if (charged.status == 200) {
          book.charges.acknowledged.insert(amount);
        } else {
          book.charges.unknown.insert(amount);
          if (charged.status == 0) break;
          continue;
        }
        auto created =
            create_order(own, me.id, me.token, order_body({{product.id, product.cid(), 1}}));
        if (created.status != 201) break;
        const int64_t order = parse_json(created.body)["id"].as_int();
        book.orders_created.push_back(order);
        auto payment = pay(own, me.id, me.token, order);
        if (payment.status == 200) {
          book.orders_paid.push_back(order);
          paid.fetch_add(1);
        } else if (payment.status == 0) {
          break;
        }
      }
    });
  }
  // The kill lands after a random number of 201s (50..450 of 500), with payments under way.
  const unsigned seed = std::random_device{}();
  const int kill_after = 50 + int(seed % 401);
  std::cout << "[ info ] kill after " << kill_after << " coupons (seed " << seed << ")\n";
  const auto started = steady::now();
  while ((issued.load() < kill_after || paid.load() < 4) && steady::now() < started + 30s)
    std::this_thread::sleep_for(1ms);
  const double flood_ms = ms_since(started);
  primary.kill_hard();
  killed = true;
  for (auto& thread : pool) thread.join();
  ASSERT_GE(issued.load(), kill_after) << "the flood did not get far in 30 s";
  const auto cut_off = std::count_if(asks.begin(), asks.end(),
                                     [](const ask& a) { return a.result == outcome::no_answer; });
  EXPECT_GT(cut_off, 0) << "the kill should have cut issue requests off mid-flood";

  const auto promote_start = steady::now();
  auto promoted = other.request("POST", "/admin/promote", "", bearer(k_admin));
  const double promote_ms = ms_since(promote_start);
  ASSERT_EQ(promoted.status, 200) << describe(promoted);
  auto body = parse_json(promoted.body);
  EXPECT_EQ(body["role"].as_string(), "primary");
  const int64_t promoted_lsn = body["lsn"].as_int();
  std::cout << "figure: killed after " << flood_ms << " ms of flood (" << issued.load()
            << " coupons issued, " << paid.load() << " orders paid); promote took " << promote_ms
            << " ms, lsn " << promoted_lsn << "\n";
  EXPECT_EQ(stats_of(other)["replication"]["role"].as_string(), "primary");

  // Coupons: every 201 held as answered, none over-issued, takes = wallet entries.
  auto c = campaign_of(other, campaign);
  const int64_t remaining = c["remaining_quantity"].as_int();
  EXPECT_EQ(c["total_quantity"].as_int(), k_quantity);
  EXPECT_GE(remaining, 0);
  int64_t held_total = 0, unseen = 0, acknowledged = 0;
  for (size_t i = 0; i < users.size(); ++i) {
    const auto held = held_from(other, users[i].id, campaign);
    held_total += int64_t(held.size());
    EXPECT_LE(held.size(), 1u) << "user " << users[i].id << " holds two from one campaign";
    switch (asks[i].result) {
      case outcome::issued:
        ++acknowledged;
        EXPECT_EQ(held.size(), 1u) << "acknowledged coupon lost for user " << users[i].id;
        if (held.size() == 1) {
          EXPECT_EQ(held[0], asks[i].body) << "user " << users[i].id;
        }
        break;
      case outcome::sold_out:
      case outcome::not_asked:
        EXPECT_EQ(held.size(), 0u) << "user " << users[i].id << " was not issued one";
        break;
      case outcome::no_answer:
        unseen += int64_t(held.size());
        break;
      case outcome::other:
        ADD_FAILURE() << "user " << users[i].id << " got " << asks[i].body;
        break;
    }
  }
  EXPECT_EQ(held_total, k_quantity - remaining) << "total - remaining must equal the wallets";
  EXPECT_EQ(held_total, acknowledged + unseen);
  EXPECT_LE(held_total, k_quantity);

  // Money and orders: every acknowledged charge, order and payment.
  for (int t = 0; t < k_payers; ++t) {
    expect_charges_kept(other, payers[t], books[t].charges);
    for (int64_t order : books[t].orders_created) {
      const std::string status = status_of(other, payers[t].id, order);
      EXPECT_FALSE(status.empty()) << "order " << order;
    }
    for (int64_t order : books[t].orders_paid)
      EXPECT_EQ(status_of(other, payers[t].id, order), "PAID") << "order " << order;
  }

  // The promoted standby takes changes, with LSNs past the promotion's.
  auto charged = charge(other, payers[0].id, payers[0].token, 77);
  EXPECT_EQ(charged.status, 200) << describe(charged);
  EXPECT_GT(lsn_of(charged), promoted_lsn - 1);
  auto again = other.request("POST", "/admin/promote", "", bearer(k_admin));
  expect_problem(again, 409, "NOT_STANDBY");
}

// ============================================================================================

struct write_event {
  double sent_ms = 0;  // since the flood began
  double at_ms = 0;    // answered
  int status = 0;
  std::string code;
};

// Goal: a primary on a 3-node NATS cluster (stream replicas 3, stream ack) keeps taking writes
// when a NATS node dies: first the node both ecomd servers are connected to (the first URL),
// then, when that one did not lead the stream, after it came back, the node that leads it.
// Method: 6 writers charge unique amounts for the whole run; after each kill -9, a write sent
// after it must succeed within 12 s (NATS elects a new stream leader after its 4..9 s election
// timeout), and the answers of the last 500 ms must all be 2xx; the only refusal allowed is 503
// REPLICATION_UNAVAILABLE (outcome unknown: the charge may be held). Then every acknowledged
// charge is held once on both servers, the standby applies up to the primary's LSN and both
// data dirs hold the same state.
TEST(replication, a_nats_cluster_node_and_then_the_stream_leader_die_mid_flood_and_writes_go_on) {
  constexpr int k_writers = 6;
  nats_cluster nats(3);
  scratch dirs("ecom-replication-test");
  server_process primary(
      primary_of(nats.url(), {"--replication-ack", "stream", "--replication-replicas", "3"}));
  http_client client(primary.port());
  const auto users = bulk_users(client, k_writers, "rcluster");
  auto standby = start_standby(primary, dirs, nats.url());
  http_client reader(standby->port());
  const int leader_at_start = nats.stream_leader("ecomd");
  ASSERT_GE(leader_at_start, 0) << "no node leads stream ecomd";

  std::vector<charge_book> books(k_writers);
  std::vector<std::vector<write_event>> events(k_writers);
  std::atomic<bool> stop{false};
  std::atomic<int64_t> last_ok_sent_us{-1};  // the latest send time of a 2xx
  const auto started = steady::now();
  std::vector<std::thread> writers;
  for (int t = 0; t < k_writers; ++t) {
    writers.emplace_back([&, t] {
      http_client own(primary.port(), 10000ms);
      for (int64_t amount = 1; !stop.load(); ++amount) {
        const double sent = ms_since(started);
        auto response = charge(own, users[t].id, users[t].token, amount);
        events[t].push_back({sent, ms_since(started), response.status, code_of(response)});
        if (response.status == 200) {
          books[t].acknowledged.insert(amount);
          int64_t seen = last_ok_sent_us.load();
          const auto us = static_cast<int64_t>(sent * 1000);
          while (seen < us && !last_ok_sent_us.compare_exchange_weak(seen, us)) {
          }
        } else {
          books[t].unknown.insert(amount);
          if (response.status == 503) std::this_thread::sleep_for(20ms);
        }
      }
    });
  }
  // Waits until a write sent after `kill_ms` succeeded (at most 15 s); its delay, -1 if none.
  const auto recovered_after = [&](double kill_ms) {
    const auto deadline = steady::now() + 15s;
    while (last_ok_sent_us.load() < static_cast<int64_t>(kill_ms * 1000) &&
           steady::now() < deadline)
      std::this_thread::sleep_for(5ms);
    const double at = last_ok_sent_us.load() / 1000.0;
    return at < kill_ms ? -1.0 : at - kill_ms;
  };
  // Kill -9 of node 0 (the first URL: both servers' connection); when it did not lead the
  // stream, it comes back and the node that leads the stream now is killed too.
  struct kill_phase {
    std::string name;
    double at_ms = 0;
    double recovered_ms = -1;
  };
  std::vector<kill_phase> kills;
  std::this_thread::sleep_for(1000ms);
  const int first_leader = nats.stream_leader("ecomd");
  kills.push_back({"node " + nats.name(0) + (first_leader == 0 ? " (the stream leader)" : ""),
                   ms_since(started)});
  nats.kill_hard(0);
  kills.back().recovered_ms = recovered_after(kills.back().at_ms);
  std::this_thread::sleep_for(1000ms);
  int leader = 0;
  if (first_leader != 0) {
    nats.start(0);
    leader = nats.stream_leader("ecomd");
    if (leader >= 0) {
      kills.push_back({"stream leader " + nats.name(leader), ms_since(started)});
      nats.kill_hard(leader);
      kills.back().recovered_ms = recovered_after(kills.back().at_ms);
      std::this_thread::sleep_for(1000ms);
    }
  }
  stop = true;
  for (auto& writer : writers) writer.join();
  const double end_ms = ms_since(started);
  ASSERT_GE(leader, 0) << "no node leads stream ecomd after " << nats.name(0) << " came back";

  // What the writers saw around each kill, in 500 ms steps: 2xx/refused by send time. NATS
  // (2.9) elects a new stream leader only after its raft election timeout (4 to 9 s) when the
  // old one died without stepping down; a write then waits for the stream's answer up to the
  // replication timeout (2 s): 12 s at most.
  for (const auto& kill : kills) {
    std::string steps;
    for (double from = kill.at_ms - 500; from < kill.at_ms + 10000; from += 500) {
      int ok = 0, refused = 0;
      for (int t = 0; t < k_writers; ++t)
        for (const auto& e : events[t])
          if (e.sent_ms >= from && e.sent_ms < from + 500) (e.status == 200 ? ok : refused)++;
      steps += ' ';
      steps += std::to_string(ok);
      steps += '/';
      steps += std::to_string(refused);
    }
    std::cout << "figure: killed NATS " << kill.name << " (stream leader at start "
              << nats.name(leader_at_start) << "): a write sent after it succeeded "
              << kill.recovered_ms
              << " ms later; 2xx/refused per 500 ms from 500 ms before:" << steps << "\n";
    EXPECT_GE(kill.recovered_ms, 0)
        << "no write sent after killing " << kill.name << " succeeded in 15 s";
    EXPECT_LE(kill.recovered_ms, 12000)
        << "writes after killing " << kill.name << " took long to resume";
  }
  int ok = 0, unavailable = 0, late = 0;
  for (int t = 0; t < k_writers; ++t) {
    for (const auto& e : events[t]) {
      if (e.status == 200) {
        ++ok;
        continue;
      }
      EXPECT_TRUE(e.status == 503 && e.code == "REPLICATION_UNAVAILABLE")
          << "writer " << t << " at " << e.at_ms << " ms: " << e.status << " " << e.code;
      ++unavailable;
      if (e.sent_ms > end_ms - 500) ++late;
    }
  }
  std::cout << "figure: " << ok << " charges acknowledged, " << unavailable
            << " x 503 REPLICATION_UNAVAILABLE in " << end_ms << " ms\n";
  EXPECT_EQ(late, 0) << "refusals in the last 500 ms: writes did not go on";
  EXPECT_GT(ok, 100);

  // The standby's ordered consumer lived on the dead node. The client library would re-create
  // it only after missed heartbeats (10 to 16 s here); the standby reads again itself once
  // nothing came for resubscribe_after_ms (2 s) while the stream has more.
  const auto catching_up = steady::now();
  const int64_t lsn = wait_caught_up(client, reader, 15s);
  std::cout << "figure: standby caught up at lsn " << lsn << ", " << ms_since(catching_up)
            << " ms after the writes stopped\n";
  for (int t = 0; t < k_writers; ++t) {
    expect_charges_kept(client, users[t], books[t]);
    expect_charges_kept(reader, users[t], books[t]);
  }
  ASSERT_EQ(primary.terminate(), 0);
  ASSERT_EQ(standby->terminate(), 0);
  expect_same_state(primary.data_dir(), standby->data_dir());
}

// ============================================================================================

// Goal: in stream mode, with NATS unreachable a change answers 503 REPLICATION_UNAVAILABLE
// (Retry-After) after about --replication-timeout-ms, the following ones at once (and change
// nothing), reads go on; once nats-server is back on its port and store dir, writes succeed
// again, the timed-out change retried under its Idempotency-Key answers 200 and is held once,
// and a standby follows the stream to the same state. Method: one NATS node (its store dir
// kept across the kill), a primary with --replication-timeout-ms 500, keyed charges.
TEST(replication, stream_ack_writes_answer_503_while_nats_is_down_and_resume_when_it_is_back) {
  nats_cluster nats;
  scratch dirs("ecom-replication-test");
  server_process primary(
      primary_of(nats.url(), {"--replication-ack", "stream", "--replication-timeout-ms", "500"}));
  http_client client(primary.port());
  const auto users = bulk_users(client, 1, "rdown");
  const bulk_user& user = users[0];
  auto standby = start_standby(primary, dirs, nats.url());
  http_client reader(standby->port());
  const auto keyed = [](const char* prefix, int64_t n) {
    std::string key = prefix;
    key += std::to_string(n);
    return header_list{{"Idempotency-Key", key}};
  };
  charge_book book;
  ASSERT_EQ(charge(client, user.id, user.token, 1, keyed("c", 1)).status, 200);
  book.acknowledged.insert(1);

  nats.kill_hard(0);
  auto started = steady::now();
  auto timed_out = charge(client, user.id, user.token, 2, keyed("c", 2));
  const double first_ms = ms_since(started);
  expect_problem(timed_out, 503, "REPLICATION_UNAVAILABLE");
  EXPECT_TRUE(timed_out.header("Retry-After").has_value()) << describe(timed_out);
  EXPECT_GE(first_ms, 400) << "answered before the 500 ms timeout";
  EXPECT_LE(first_ms, 2500) << "answered long after the 500 ms timeout";
  book.unknown.insert(2);
  // Its replay under the same key waits for the stream's ack too: no 2xx while NATS is down.
  auto replayed = charge(client, user.id, user.token, 2, keyed("c", 2));
  expect_problem(replayed, 503, "REPLICATION_UNAVAILABLE");
  for (int64_t amount = 3; amount <= 5; ++amount) {
    started = steady::now();
    auto refused = charge(client, user.id, user.token, amount, keyed("c", amount));
    const double ms = ms_since(started);
    expect_problem(refused, 503, "REPLICATION_UNAVAILABLE");
    EXPECT_TRUE(refused.header("Retry-After").has_value()) << describe(refused);
    EXPECT_LT(ms, 400) << "a write while the stream is known unreachable waits";
    book.refused.insert(amount);
  }
  std::cout << "figure: first 503 after " << first_ms << " ms, the next at once\n";
  auto read = client.get(user_path(user.id, "/balance"), bearer(user.token));
  EXPECT_EQ(read.status, 200) << "reads go on: " << describe(read);
  EXPECT_EQ(stats_of(client)["replication"]["state"].as_string(), "unavailable");

  nats.start(0);
  const auto back = steady::now();
  int64_t amount = 100;
  http_response resumed;
  while (steady::now() < back + 20s) {
    ++amount;
    resumed = charge(client, user.id, user.token, amount, keyed("r", amount));
    if (resumed.status == 200) break;
    expect_problem(resumed, 503, "REPLICATION_UNAVAILABLE");
    book.unknown.insert(amount);  // refused at once, or timed out: both are possible
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_EQ(resumed.status, 200) << "writes did not resume within 20 s: " << describe(resumed);
  book.unknown.erase(amount);
  book.acknowledged.insert(amount);
  std::cout << "figure: writes resumed " << ms_since(back) << " ms after nats-server restarted\n";
  auto retried = charge(client, user.id, user.token, 2, keyed("c", 2));
  EXPECT_EQ(retried.status, 200) << "the timed-out charge retried with its key: "
                                 << describe(retried);
  book.unknown.erase(2);
  book.acknowledged.insert(2);
  EXPECT_EQ(stats_of(client)["replication"]["state"].as_string(), "publishing");

  wait_caught_up(client, reader);
  expect_charges_kept(client, user, book);
  expect_charges_kept(reader, user, book);
  ASSERT_EQ(primary.terminate(), 0);
  ASSERT_EQ(standby->terminate(), 0);
  expect_same_state(primary.data_dir(), standby->data_dir());
}

// Goal: in local mode the primary takes changes while NATS is down (its replication lag grows),
// the standby keeps serving reads and stays ready, and once NATS is back the standby catches up
// to the primary's LSN and shows the changes (X-Ecomd-Min-Lsn read). Method: one NATS node,
// kill -9, 20 charges, nats-server started again on its port and store dir.
TEST(replication, local_ack_writes_go_on_while_nats_is_down_and_the_standby_catches_up_after) {
  nats_cluster nats;
  scratch dirs("ecom-replication-test");
  server_process primary(primary_of(nats.url()));
  http_client client(primary.port());
  const auto users = bulk_users(client, 1, "rlocal");
  const bulk_user& user = users[0];
  auto standby = start_standby(primary, dirs, nats.url());
  http_client reader(standby->port());
  ASSERT_EQ(charge(client, user.id, user.token, 1).status, 200);
  const int64_t before = wait_caught_up(client, reader);

  nats.kill_hard(0);
  int64_t last_lsn = 0;
  for (int64_t amount = 2; amount <= 21; ++amount) {
    const auto started = steady::now();
    auto response = charge(client, user.id, user.token, amount);
    ASSERT_EQ(response.status, 200) << describe(response);
    EXPECT_LT(ms_since(started), 1000);
    last_lsn = lsn_of(response);
  }
  EXPECT_GT(last_lsn, before);
  auto p = stats_of(client);
  EXPECT_GT(p["replication"]["lag_records"].as_int(), 0) << p["replication"].dump();
  EXPECT_LE(p["replication"]["lsn"].as_int(), before);
  EXPECT_EQ(fetch_balance(reader, user.id, user.token), 1) << "the standby serves what it has";
  EXPECT_EQ(reader.get("/readyz").status, 200) << "a standby stays ready without the stream";
  EXPECT_LE(stats_of(reader)["replication"]["lsn"].as_int(), before);
  // A promotion needs the stream: refused, and the standby stays one.
  auto promote = reader.request("POST", "/admin/promote", "", bearer(k_admin));
  expect_problem(promote, 503, "REPLICATION_UNAVAILABLE");
  EXPECT_EQ(stats_of(reader)["replication"]["role"].as_string(), "standby");
  expect_problem(charge(reader, user.id, user.token, 99), 503, "NOT_PRIMARY");

  nats.start(0);
  const auto back = steady::now();
  const int64_t lsn = wait_caught_up(client, reader);
  std::cout << "figure: standby caught up " << ms_since(back)
            << " ms after nats-server restarted\n";
  EXPECT_GE(lsn, last_lsn);
  auto fresh =
      reader.get(user_path(user.id, "/balance"),
                 with_headers(bearer(user.token), {{"X-Ecomd-Min-Lsn", std::to_string(last_lsn)}}));
  ASSERT_EQ(fresh.status, 200) << describe(fresh);
  EXPECT_EQ(parse_json(fresh.body)["balance"].as_int(), 21 * 22 / 2);
  ASSERT_EQ(primary.terminate(), 0);
  ASSERT_EQ(standby->terminate(), 0);
  expect_same_state(primary.data_dir(), standby->data_dir());
}

// Goal: a replicating server started while no NATS server answers comes up all the same: a
// primary in local mode is ready and takes changes (they reach the stream later), a standby
// answers /readyz 503 NOT_READY and still stops at once on SIGTERM; once NATS is back the
// standby catches up. Method: one NATS node, a primary and a standby; both stopped; NATS killed;
// both started again (the primary must be ready within 8 s); SIGTERM to the standby.
TEST(replication, servers_started_while_nats_is_down_come_up_and_stop_on_sigterm) {
  nats_cluster nats;
  scratch dirs("ecom-replication-test");
  server_options options = primary_of(nats.url());
  options.start_timeout = 8s;
  server_process primary(options);
  http_client client(primary.port());
  const auto users = bulk_users(client, 1, "rcold");
  const bulk_user& user = users[0];
  auto standby = start_standby(primary, dirs, nats.url());
  http_client reader(standby->port());
  ASSERT_EQ(charge(client, user.id, user.token, 1).status, 200);
  wait_caught_up(client, reader);
  ASSERT_EQ(primary.terminate(), 0);
  ASSERT_EQ(standby->terminate(), 0);
  nats.kill_hard(0);

  bool primary_up = true;
  try {
    primary.restart();
  } catch (const std::exception& e) {
    primary_up = false;
    ADD_FAILURE() << "a local-mode primary did not become ready without NATS: " << e.what();
  }
  if (primary_up) {
    client.set_port(primary.port());
    auto charged = charge(client, user.id, user.token, 2);
    EXPECT_EQ(charged.status, 200)
        << "local mode takes changes without NATS: " << describe(charged);
  }

  standby->restart(/*wait_ready=*/false);
  reader.set_port(standby->port());
  std::this_thread::sleep_for(500ms);
  expect_problem(reader.get("/readyz"), 503, "NOT_READY");
  const auto stopping = steady::now();
  EXPECT_EQ(standby->terminate(5s), 0) << "a standby without NATS did not stop within 5 s of "
                                          "SIGTERM (-1: killed)";
  std::cout << "figure: standby without NATS stopped " << ms_since(stopping)
            << " ms after SIGTERM\n";

  standby->restart(/*wait_ready=*/false);
  reader.set_port(standby->port());
  nats.start(0);
  if (!primary_up) {
    primary.restart();
    client.set_port(primary.port());
    ASSERT_EQ(charge(client, user.id, user.token, 2).status, 200);
  }
  standby->wait_ready();
  wait_caught_up(client, reader);
  EXPECT_EQ(fetch_balance(reader, user.id, user.token), 3);
}

// ============================================================================================

// Goal: a standby promoted while the old primary still runs fences it: the old primary never
// acknowledges a change after the promotion (503 NOT_PRIMARY), the new one does; restarted on
// its data dir the old primary serves reads and still refuses changes. Method: NATS (one node),
// a stream-ack primary and a standby; promote; a charge on the old primary first (it has not
// heard of the promotion), then on the new one; then 1 s of writers on both at once; then the
// old primary restarted with the same flags; its data dir started as a standby refuses when it
// holds the change it never acknowledged; last, re-seeded from a backup of the new primary as
// its standby, it follows it to the same state.
TEST(replication, a_promoted_standby_fences_the_old_primary_which_acknowledges_no_write_after) {
  nats_cluster nats;
  scratch dirs("ecom-replication-test");
  server_process old_primary(primary_of(nats.url(), {"--replication-ack", "stream"}));
  http_client a(old_primary.port());
  const auto users = bulk_users(a, 3, "rfence");
  ASSERT_EQ(charge(a, users[0].id, users[0].token, 1).status, 200);
  auto standby = start_standby(old_primary, dirs, nats.url(), {"--replication-ack", "stream"});
  http_client b(standby->port());
  wait_caught_up(a, b);

  auto promoted = b.request("POST", "/admin/promote", "", bearer(k_admin));
  ASSERT_EQ(promoted.status, 200) << describe(promoted);

  // The old primary first: it takes the change locally and learns of the fence on publishing.
  auto on_old = charge(a, users[0].id, users[0].token, 2);
  expect_problem(on_old, 503, "NOT_PRIMARY");
  auto on_new = charge(b, users[0].id, users[0].token, 3);
  EXPECT_EQ(on_new.status, 200) << describe(on_new);

  // Both at once for a second.
  std::atomic<bool> stop{false};
  std::vector<charge_book> old_books(2), new_books(2);
  std::vector<std::string> old_answers;
  std::mutex answers_mutex;
  std::vector<std::thread> writers;
  for (int t = 0; t < 2; ++t) {
    writers.emplace_back([&, t] {
      http_client own(old_primary.port());
      for (int64_t amount = 1000; !stop.load(); ++amount) {
        auto r = charge(own, users[1 + t].id, users[1 + t].token, amount);
        if (r.is_2xx()) old_books[t].acknowledged.insert(amount);
        if (!(r.status == 503 && code_of(r) == "NOT_PRIMARY")) {
          std::lock_guard lock(answers_mutex);
          old_answers.push_back(describe(r));
        }
      }
    });
    writers.emplace_back([&, t] {
      http_client own(standby->port());
      for (int64_t amount = 1; !stop.load(); ++amount) {
        auto r = charge(own, users[1 + t].id, users[1 + t].token, amount);
        if (r.status == 200) {
          new_books[t].acknowledged.insert(amount);
        } else {
          new_books[t].unknown.insert(amount);
        }
      }
    });
  }
  std::this_thread::sleep_for(1000ms);
  stop = true;
  for (auto& writer : writers) writer.join();
  for (int t = 0; t < 2; ++t) {
    EXPECT_TRUE(old_books[t].acknowledged.empty())
        << old_books[t].acknowledged.size() << " writes acknowledged by the fenced primary";
    EXPECT_GT(new_books[t].acknowledged.size(), 10u) << "the promoted standby takes writes";
    // The new primary holds what it acknowledged and nothing the old one was sent.
    expect_charges_kept(b, users[1 + t], new_books[t]);
  }
  for (const auto& answer : old_answers) ADD_FAILURE() << "old primary answered " << answer;
  auto held = charges_of(b, users[0].id);
  EXPECT_EQ(held, (std::multiset<int64_t>{1, 3}));
  auto old_stats = stats_of(a);
  EXPECT_EQ(old_stats["replication"]["state"].as_string(), "fenced");

  // The old primary restarted on its data dir: reads yes, writes no.
  old_primary.restart();
  a.set_port(old_primary.port());
  // It serves what its data dir holds (with charge 2, never acknowledged, or without it).
  const int64_t old_balance = fetch_balance(a, users[0].id, users[0].token);
  EXPECT_TRUE(old_balance == 1 || old_balance == 3) << old_balance;
  auto after_restart = charge(a, users[0].id, users[0].token, 4);
  expect_problem(after_restart, 503, "NOT_PRIMARY");
  EXPECT_EQ(a.get("/readyz").status, 200);
  EXPECT_EQ(stats_of(a)["replication"]["state"].as_string(), "fenced");
  // The new primary is untouched by the old one's restart.
  EXPECT_EQ(charge(b, users[0].id, users[0].token, 5).status, 200);
  EXPECT_EQ(charges_of(b, users[0].id), (std::multiset<int64_t>{1, 3, 5}));

  // Its data dir as it is cannot follow the new primary when it holds charge 2 (a record the
  // stream has not, at an LSN where the new primary's records are): it refuses, saying so.
  // Without it, the data dir is a prefix of the stream and follows.
  ASSERT_EQ(old_primary.terminate(), 0);
  std::cout << "[ info ] the old primary holds charge 2: " << (old_balance == 3 ? "yes" : "no")
            << "\n";
  if (old_balance == 3) {
    const std::string message = refused_start(standby_of(old_primary.data_dir(), nats.url()));
    expect_refusal_exit(message);
    EXPECT_NE(message.find("different records at lsn"), std::string::npos) << message;
    EXPECT_NE(message.find("ecom-snapshot backup"), std::string::npos) << message;
  } else {
    server_process rejoined(standby_of(old_primary.data_dir(), nats.url()));
    http_client r(rejoined.port());
    wait_caught_up(b, r);
  }

  // The runbook's last step: the old primary re-seeded as a standby of the new one (a backup of
  // the new primary restored into a fresh dir) follows the new primary's part of the stream.
  auto reseeded = start_standby(*standby, dirs, nats.url(), {}, "reseeded");
  http_client c(reseeded->port());
  ASSERT_EQ(charge(b, users[0].id, users[0].token, 6).status, 200);
  wait_caught_up(b, c);
  EXPECT_EQ(charges_of(c, users[0].id), (std::multiset<int64_t>{1, 3, 5, 6}));
  ASSERT_EQ(standby->terminate(), 0);
  ASSERT_EQ(reseeded->terminate(), 0);
  expect_same_state(standby->data_dir(), reseeded->data_dir());
}

// Goal: with two standbys, the one not promoted follows the promoted one: after kill -9 of a
// stream-ack primary mid-flood and the promotion of standby 1, standby 2 applies the promotion
// mark and the new primary's records (its flows' recovery included) and ends equal to it.
// Method: NATS (one node), a primary and two standbys; 4 writers charge until 300 charges were
// acknowledged; kill -9; promote standby 1; 4 writers charge on it for 500 ms; standby 2 catches
// up with it; every charge acknowledged by either primary is held on both; states compared.
TEST(replication, the_other_standby_follows_the_promoted_one_after_the_primary_dies) {
  constexpr int k_writers = 4;
  nats_cluster nats;
  scratch dirs("ecom-replication-test");
  server_process primary(primary_of(nats.url(), {"--replication-ack", "stream"}));
  http_client client(primary.port());
  const auto users = bulk_users(client, k_writers, "rtwo");
  auto one = start_standby(primary, dirs, nats.url(), {"--replication-ack", "stream"}, "one");
  auto two = start_standby(primary, dirs, nats.url(), {}, "two");
  http_client c1(one->port()), c2(two->port());
  std::vector<charge_book> books(k_writers);
  std::vector<int64_t> next_amount(k_writers, 1);
  std::atomic<int> acknowledged{0};
  const auto write_until = [&](uint16_t port, const std::function<bool()>& done) {
    std::atomic<bool> stop{false};
    std::vector<std::thread> writers;
    for (int t = 0; t < k_writers; ++t) {
      writers.emplace_back([&, t] {
        http_client own(port, 5000ms);
        while (!stop.load()) {
          const int64_t amount = next_amount[t]++;
          auto r = charge(own, users[t].id, users[t].token, amount);
          if (r.status == 200) {
            books[t].acknowledged.insert(amount);
            acknowledged.fetch_add(1);
          } else {
            books[t].unknown.insert(amount);
            if (r.status == 0) break;
          }
        }
      });
    }
    const auto deadline = steady::now() + 20s;
    while (!done() && steady::now() < deadline) std::this_thread::sleep_for(1ms);
    stop = true;
    for (auto& writer : writers) writer.join();
  };
  write_until(primary.port(), [&] {
    if (acknowledged.load() < 300) return false;
    primary.kill_hard();
    return true;
  });
  ASSERT_FALSE(primary.running()) << "the writers did not get 300 charges through";
  auto promoted = c1.request("POST", "/admin/promote", "", bearer(k_admin));
  ASSERT_EQ(promoted.status, 200) << describe(promoted);
  const auto after = steady::now() + 500ms;
  write_until(one->port(), [&] { return steady::now() > after; });
  const int64_t lsn = wait_caught_up(c1, c2);
  EXPECT_GT(lsn, parse_json(promoted.body)["lsn"].as_int());
  EXPECT_EQ(stats_of(c2)["replication"]["role"].as_string(), "standby");
  for (int t = 0; t < k_writers; ++t) {
    expect_charges_kept(c1, users[t], books[t]);
    expect_charges_kept(c2, users[t], books[t]);
  }
  ASSERT_EQ(one->terminate(), 0);
  ASSERT_EQ(two->terminate(), 0);
  expect_same_state(one->data_dir(), two->data_dir());
}

// Goal: a local-ack primary that keeps running after a promotion is fenced as soon as it next
// appends to the stream: from then on every change is 503 NOT_PRIMARY (what it acknowledged
// before is the known risk of local mode: not on the new primary). Method: NATS (one node), a
// local-ack primary and a standby; promote; a writer on the old primary must see NOT_PRIMARY
// within 2 s, then only NOT_PRIMARY for 300 ms, and the old primary's stats say fenced; its
// data dir, holding what it acknowledged after the mark, refuses to follow the stream.
TEST(replication, a_local_ack_old_primary_refuses_changes_once_its_append_is_refused) {
  nats_cluster nats;
  scratch dirs("ecom-replication-test");
  server_process old_primary(primary_of(nats.url()));
  http_client a(old_primary.port());
  const auto users = bulk_users(a, 1, "rlfence");
  auto standby = start_standby(old_primary, dirs, nats.url());
  http_client b(standby->port());
  wait_caught_up(a, b);
  ASSERT_EQ(b.request("POST", "/admin/promote", "", bearer(k_admin)).status, 200);

  int acknowledged = 0;
  int64_t amount = 0;
  const auto promoted = steady::now();
  http_response last;
  while (steady::now() < promoted + 2s) {
    last = charge(a, users[0].id, users[0].token, ++amount);
    if (last.status == 503 && code_of(last) == "NOT_PRIMARY") break;
    ASSERT_EQ(last.status, 200) << describe(last);
    ++acknowledged;
  }
  const double fenced_ms = ms_since(promoted);
  expect_problem(last, 503, "NOT_PRIMARY");
  std::cout << "figure: the local-ack old primary acknowledged " << acknowledged
            << " changes after the promotion and refused from " << fenced_ms << " ms on\n";
  for (const auto until = steady::now() + 300ms; steady::now() < until;)
    expect_problem(charge(a, users[0].id, users[0].token, ++amount), 503, "NOT_PRIMARY");
  EXPECT_EQ(stats_of(a)["replication"]["state"].as_string(), "fenced");
  EXPECT_EQ(metric_of(a, "ecomd_replication_fenced"), 1);
  // The stream now ends with the promotion mark, before what the old primary acknowledged
  // since: its data dir cannot follow (it would skip the new primary's first records as held).
  if (acknowledged > 0) {
    ASSERT_EQ(old_primary.terminate(), 0);
    const std::string refusal = refused_start(standby_of(old_primary.data_dir(), nats.url()));
    expect_refusal_exit(refusal);
    EXPECT_NE(refusal.find("different records"), std::string::npos) << refusal;
  }
  auto on_new = charge(b, users[0].id, users[0].token, 1'000'000);
  EXPECT_EQ(on_new.status, 200) << describe(on_new);
  // None of the old primary's changes after the promotion is on the new one.
  EXPECT_EQ(charges_of(b, users[0].id), (std::multiset<int64_t>{1'000'000}));
}

// ============================================================================================

// Goal: a standby whose data dir is not a copy of the stream's primary refuses to start, naming
// the fingerprint and what to do: a backup of another data dir (another token secret), and a
// data dir with the primary's secret but another shard count. Method: NATS (one node), a
// primary; another plain server with its own data dir backed up and restored, started with
// --follow; a new data dir holding only the primary's `secret`, started with --shards 4 and
// --follow. Both exit non-zero.
TEST(replication, a_standby_of_another_data_dir_or_shard_count_refuses_to_start) {
  nats_cluster nats;
  scratch dirs("ecom-replication-test");
  server_process primary(primary_of(nats.url()));
  http_client client(primary.port());
  sign_up_and_login(client, "fingerprint");

  server_process another;
  http_client other(another.port());
  sign_up_and_login(other, "another");
  const fs::path copy = backup_and_restore(another, dirs, "another");
  const std::string wrong_secret = refused_start(standby_of(copy, nats.url()));
  expect_refusal_exit(wrong_secret);
  EXPECT_NE(wrong_secret.find("fingerprint"), std::string::npos) << wrong_secret;
  EXPECT_NE(wrong_secret.find("token secret or the shard count"), std::string::npos)
      << wrong_secret;
  EXPECT_NE(wrong_secret.find("ecom-snapshot backup"), std::string::npos) << wrong_secret;

  const fs::path four = dirs / "four-shards";
  fs::create_directories(four);
  fs::copy_file(fs::path(primary.data_dir()) / "secret", four / "secret");
  server_options options = standby_of(four, nats.url());
  options.shards = 4;
  const std::string wrong_shards = refused_start(options);
  expect_refusal_exit(wrong_shards);
  EXPECT_NE(wrong_shards.find("fingerprint"), std::string::npos) << wrong_shards;

  // A standby of the primary's own backup follows.
  auto standby = start_standby(primary, dirs, nats.url());
  http_client reader(standby->port());
  wait_caught_up(client, reader);
}

// Goal: a standby whose WAL diverged from the stream (a restored backup that served changes of
// its own) refuses to start and names ecom-snapshot backup/restore; a fresh restore of the same
// backup follows. Method: NATS (one node), a primary with a user; backup; restore twice; one
// copy started as a plain server that signs up a user and charges (its own records after the
// backup's LSN), while the primary writes others; then that copy with --follow.
TEST(replication, a_standby_whose_wal_diverged_from_the_stream_refuses_to_start) {
  nats_cluster nats;
  scratch dirs("ecom-replication-test");
  server_process primary(primary_of(nats.url()));
  http_client client(primary.port());
  session user = sign_up_and_login(client, "diverge");
  const fs::path backup = dirs / "b";
  ASSERT_EQ(run_tool(ECOM_SNAPSHOT_BINARY,
                     "backup " + primary.data_dir() + " --out " + backup.string() +
                         " --url http://127.0.0.1:" + std::to_string(primary.port()) +
                         " --admin-token " + k_admin)
                .exit,
            0);
  for (const char* name : {"diverged", "faithful"}) {
    tool_run r = run_tool(ECOM_SNAPSHOT_BINARY,
                          "restore " + backup.string() + " --to " + (dirs / name).string());
    ASSERT_EQ(r.exit, 0) << describe(r);
  }
  {
    server_options plain;
    plain.data_dir = (dirs / "diverged").string();
    server_process own(plain);
    http_client c(own.port());
    session stray = sign_up_and_login(c, "stray");
    ASSERT_EQ(charge(c, stray.user_id, stray.access_token, 5).status, 200);
    ASSERT_EQ(own.terminate(), 0);
  }
  for (int64_t amount = 1; amount <= 5; ++amount)
    ASSERT_EQ(charge(client, user.user_id, user.access_token, amount).status, 200);

  const std::string message = refused_start(standby_of(dirs / "diverged", nats.url()));
  expect_refusal_exit(message);
  EXPECT_NE(message.find("different records at lsn"), std::string::npos) << message;
  EXPECT_NE(message.find("ecom-snapshot backup"), std::string::npos) << message;
  EXPECT_NE(message.find("ecom-snapshot restore"), std::string::npos) << message;

  server_process faithful(standby_of(dirs / "faithful", nats.url()));
  http_client reader(faithful.port());
  wait_caught_up(client, reader);
  EXPECT_EQ(fetch_balance(reader, user.user_id, user.access_token), 15);
}

// Goal: a standby that needs an LSN the stream no longer holds refuses to start and names
// ecom-snapshot backup/restore; a new backup, as the message says, follows. Method: a server
// without replication (--snapshots-keep 1) writes; a backup at lsn L; more writes, a restart
// (a new WAL segment), more writes and a snapshot, which trims the segment holding L + 1 (checked
// in /admin/stats); the server restarted with --replicate-to to an empty stream publishes from
// its oldest WAL record, past L + 1; the backup's standby refuses.
TEST(replication, a_standby_needing_an_lsn_the_stream_no_longer_holds_refuses_to_start) {
  nats_cluster nats;
  scratch dirs("ecom-replication-test");
  server_process primary(replicating({"--snapshots-keep", "1"}));
  http_client client(primary.port());
  session user = sign_up_and_login(client, "history");
  ASSERT_EQ(charge(client, user.user_id, user.access_token, 1).status, 200);
  const fs::path old_copy = backup_and_restore(primary, dirs, "old");
  const int64_t backup_lsn = stats_of(client)["wal"]["durable_lsn"].as_int();
  for (int64_t amount = 2; amount <= 6; ++amount)
    ASSERT_EQ(charge(client, user.user_id, user.access_token, amount).status, 200);
  primary.restart();
  client.set_port(primary.port());
  for (int64_t amount = 7; amount <= 9; ++amount)
    ASSERT_EQ(charge(client, user.user_id, user.access_token, amount).status, 200);
  auto snapshot = client.request("POST", "/admin/snapshot", "", bearer(k_admin));
  ASSERT_EQ(snapshot.status, 200) << describe(snapshot);
  // /admin/stats lists the WAL folder about once a second.
  int64_t first_held = 0;
  for (const auto until = steady::now() + 5s; steady::now() < until;) {
    first_held = stats_of(client)["wal"]["first_lsn"].as_int();
    if (first_held > backup_lsn + 1) break;
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_GT(first_held, backup_lsn + 1) << "the WAL still holds what the old backup needs";

  ASSERT_EQ(primary.terminate(), 0);
  primary.append_args({"--replicate-to", nats.url()});
  primary.restart();
  client.set_port(primary.port());
  ASSERT_EQ(charge(client, user.user_id, user.access_token, 10).status, 200);

  const std::string message = refused_start(standby_of(old_copy, nats.url()));
  expect_refusal_exit(message);
  EXPECT_NE(message.find("no longer holds lsn " + std::to_string(backup_lsn + 1)),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("ecom-snapshot backup"), std::string::npos) << message;

  auto standby = start_standby(primary, dirs, nats.url(), {}, "new");
  http_client reader(standby->port());
  wait_caught_up(client, reader);
  EXPECT_EQ(fetch_balance(reader, user.user_id, user.access_token), 55);
}

// ============================================================================================

// Goal: the HTTP surface of a standby and of a primary around replication: X-Ecomd-Lsn on
// answers; read-your-writes with X-Ecomd-Min-Lsn (a primary's LSN read on the standby at once
// shows the change; an LSN far ahead waits ~1 s and answers 503 REPLICA_BEHIND with
// Retry-After; a value that is not a decimal LSN is 400 naming the header, on both); changes on
// a standby are 503 NOT_PRIMARY after the 401 and 400 checks (POST /admin/snapshot is taken);
// promote is admin-only and 409 NOT_STANDBY on a primary; /readyz of a standby restarted while NATS
// is down is 503 NOT_READY until NATS is back and it caught up, then 200, and stays 200 when NATS
// goes away again.
TEST(replication, a_standby_reads_its_writes_refuses_changes_and_is_ready_once_caught_up) {
  nats_cluster nats;
  scratch dirs("ecom-replication-test");
  server_process primary(primary_of(nats.url()));
  http_client client(primary.port());
  const auto users = bulk_users(client, 2, "rsurface");
  const bulk_user& user = users[0];
  auto standby = start_standby(primary, dirs, nats.url());
  http_client reader(standby->port());

  // Read-your-writes.
  int64_t expected = 0;
  for (int64_t amount = 1; amount <= 20; ++amount) {
    auto charged = charge(client, user.id, user.token, amount);
    ASSERT_EQ(charged.status, 200) << describe(charged);
    expected += amount;
    const int64_t lsn = lsn_of(charged);
    ASSERT_GT(lsn, 0) << describe(charged);
    auto read =
        reader.get(user_path(user.id, "/balance"),
                   with_headers(bearer(user.token), {{"X-Ecomd-Min-Lsn", std::to_string(lsn)}}));
    ASSERT_EQ(read.status, 200) << describe(read);
    EXPECT_EQ(parse_json(read.body)["balance"].as_int(), expected);
    EXPECT_GE(lsn_of(read), lsn);
  }
  const int64_t now_lsn = lsn_of(client.get("/healthz"));
  EXPECT_GT(now_lsn, 0);
  const auto far =
      with_headers(bearer(user.token), {{"X-Ecomd-Min-Lsn", std::to_string(now_lsn + 1'000'000)}});
  auto started = steady::now();
  auto behind = reader.get(user_path(user.id, "/balance"), far);
  const double behind_ms = ms_since(started);
  expect_problem(behind, 503, "REPLICA_BEHIND");
  EXPECT_TRUE(behind.header("Retry-After").has_value()) << describe(behind);
  EXPECT_GE(behind_ms, 900);
  EXPECT_LE(behind_ms, 3000);
  started = steady::now();
  auto on_primary = client.get(user_path(user.id, "/balance"), far);
  EXPECT_EQ(on_primary.status, 200) << "a primary ignores a valid X-Ecomd-Min-Lsn";
  EXPECT_LT(ms_since(started), 500);
  for (const char* bad : {"12x", "-1", "abc", "1.5", "99999999999999999999999"}) {
    SCOPED_TRACE(std::string("X-Ecomd-Min-Lsn: ") + bad);
    const auto headers = with_headers(bearer(user.token), {{"X-Ecomd-Min-Lsn", bad}});
    expect_validation_failed(reader.get(user_path(user.id, "/balance"), headers),
                             "X-Ecomd-Min-Lsn");
    expect_validation_failed(client.get(user_path(user.id, "/balance"), headers),
                             "X-Ecomd-Min-Lsn");
  }

  // Changes on the standby: 401 first, then 400, then NOT_PRIMARY.
  auto no_token = reader.post_json(user_path(user.id, "/balance/charge"), "{\"amount\":5}");
  expect_unauthenticated(no_token);
  auto bad_body = reader.post_json(user_path(user.id, "/balance/charge"), "{\"amount\":\"x\"}",
                                   bearer(user.token));
  EXPECT_EQ(bad_body.status, 400) << describe(bad_body);
  for (auto response :
       {charge(reader, user.id, user.token, 5),
        reader.post_json("/users", "{\"name\":\"x\",\"email\":\"" + unique_email("standby") +
                                       "\",\"password\":\"password-123\"}"),
        reader.post_json("/admin/products", simple_product_body("nope", 100, 1), bearer(k_admin)),
        // A login is a change (a session): refused before any password is checked, so a
        // standby tells no right password from a wrong one and keeps no throttle.
        login(reader, unique_email("standby-login"), "wrong-password")}) {
    expect_problem(response, 503, "NOT_PRIMARY");
    EXPECT_TRUE(response.header("Retry-After").has_value()) << describe(response);
    EXPECT_GE(lsn_of(response), 0) << describe(response);
  }

  // Promote: admin only; 409 on a primary.
  EXPECT_EQ(reader.request("POST", "/admin/promote").status, 401);
  EXPECT_EQ(reader.request("POST", "/admin/promote", "", bearer(user.token)).status, 403);
  expect_problem(client.request("POST", "/admin/promote", "", bearer(k_admin)), 409, "NOT_STANDBY");
  EXPECT_EQ(stats_of(reader)["replication"]["role"].as_string(), "standby");
  // A standby takes its own snapshots on request too.
  auto snapshot = reader.request("POST", "/admin/snapshot", "", bearer(k_admin));
  EXPECT_EQ(snapshot.status, 200) << describe(snapshot);

  // /readyz: a standby restarted without NATS is not ready until it caught up once.
  ASSERT_EQ(standby->terminate(), 0);
  nats.kill_hard(0);
  standby->restart(/*wait_ready=*/false);
  reader.set_port(standby->port());
  const auto until = steady::now() + 1000ms;
  int not_ready = 0;
  while (steady::now() < until) {
    auto ready = reader.get("/readyz");
    if (ready.status == 200) break;
    if (ready.status == 503 && code_of(ready) == "NOT_READY") ++not_ready;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_GT(not_ready, 5) << "/readyz of a standby without its stream";
  expect_problem(reader.get("/readyz"), 503, "NOT_READY");
  nats.start(0);
  standby->wait_ready();
  EXPECT_EQ(reader.get("/readyz").status, 200);
  nats.kill_hard(0);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(reader.get("/readyz").status, 200) << "a standby stays ready once caught up";
  nats.start(0);
}

}  // namespace
}  // namespace ecom::test
