// Snapshots on the real ecomd (OPERATIONS.md §1), with real LMDB files and kill -9:
//   - a restart loads the newest snapshot and replays only the WAL after it;
//   - kill -9 before, during and right after a snapshot: every acknowledged change is back and
//     the log goes on without reusing an LSN (a later restart reads it whole);
//   - a damaged newest generation is passed over for the older one (and kept, unlisted); with
//     every generation damaged and the WAL trimmed, the server refuses to start and names
//     `ecom-snapshot inspect`;
//   - retention keeps --snapshots-keep generations and deletes or archives the WAL behind them;
//     a generation of another entity format is neither used, nor counted, nor deleted;
//   - POST /admin/snapshot: 409 SNAPSHOT_IN_PROGRESS while one runs, admin token only.
#include <gtest/gtest.h>
#include <lmdb.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <thread>

#include "persistence/snapshot_store.h"
#include "tests/support/api.h"
#include "tests/support/commerce.h"
#include "tests/support/server_process.h"

namespace ecom::test {
namespace {

namespace fs = std::filesystem;

json_doc take_snapshot(http_client& client) {
  auto response = client.request("POST", "/admin/snapshot", "", bearer(k_admin_token));
  if (response.status != 200)
    throw std::runtime_error("POST /admin/snapshot: " + std::to_string(response.status) + " " +
                             response.body);
  return parse_json(response.body);
}

json_doc admin_get(http_client& client, const std::string& path) {
  auto response = client.get(path, bearer(k_admin_token));
  if (response.status != 200)
    throw std::runtime_error("GET " + path + ": " + std::to_string(response.status));
  return parse_json(response.body);
}

std::vector<fs::path> files_in(const fs::path& dir, std::string_view extension = "") {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (extension.empty() || entry.path().extension() == extension) out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Flips one byte of `needle` inside a generation's data.mdb: its entity's checksum then fails.
void damage_value(const fs::path& generation, const std::string& needle) {
  const fs::path file = generation / "data.mdb";
  std::ifstream in(file, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  in.close();
  auto at = bytes.find(needle);
  ASSERT_NE(at, std::string::npos) << needle << " is not in " << file;
  std::fstream out(file, std::ios::binary | std::ios::in | std::ios::out);
  out.seekp(static_cast<std::streamoff>(at + 1));
  out.put(static_cast<char>(bytes[at + 1] ^ 0x01));
}

// The number after `prefix` in the server's log (its last occurrence), or -1.
std::int64_t number_after(const std::string& log, const std::string& prefix) {
  auto at = log.rfind(prefix);
  if (at == std::string::npos) return -1;
  return std::stoll(log.substr(at + prefix.size()));
}

server_options with_log(std::vector<std::string> extra_args = {}) {
  server_options options;
  options.log_level = "info";
  options.extra_args = std::move(extra_args);
  return options;
}

TEST(snapshots, a_restart_loads_the_snapshot_and_replays_only_the_tail) {
  server_process server(with_log());
  http_client client(server.port());
  bulk_users(client, 500, "snaptail");
  session user = sign_up_and_login(client, "snaptail");
  for (int i = 1; i <= 5; ++i)
    ASSERT_EQ(charge(client, user.user_id, user.access_token, i).status, 200);
  const std::int64_t campaign = open_campaign_for(
      client, create_coupon_template(client, "tail", "FIXED", 100, std::nullopt, 30), 10);
  issue_coupon(client, campaign, user.access_token);
  json_doc snapshot = take_snapshot(client);
  const std::int64_t lsn = snapshot["lsn"].as_int();
  EXPECT_GT(lsn, 0);
  EXPECT_GT(snapshot["bytes"].as_int(), 0);
  for (int i = 6; i <= 8; ++i)
    ASSERT_EQ(charge(client, user.user_id, user.access_token, i).status, 200);
  const std::int64_t appended = admin_get(client, "/admin/stats")["wal"]["appended_lsn"].as_int();

  server.kill_hard();
  server.restart();
  client.set_port(server.port());
  const std::string log = server.stderr_text();
  EXPECT_EQ(number_after(log, "loaded snapshot "), lsn) << log;
  // The three charges after it and nothing before (each charge is one record).
  EXPECT_GE(number_after(log, "); replayed "), 3) << log;
  EXPECT_LE(number_after(log, "); replayed "), 6) << log;
  EXPECT_EQ(fetch_balance(client, user.user_id, user.access_token), 36);
  EXPECT_TRUE(history_consistent(fetch_history(client, user.user_id, user.access_token), 36));
  EXPECT_EQ(campaign_of(client, campaign)["remaining_quantity"].as_int(), 9);
  EXPECT_EQ(issue(client, campaign, user.access_token).status, 409) << "one per user, still";
  ASSERT_EQ(charge(client, user.user_id, user.access_token, 100).status, 200);
  EXPECT_GT(admin_get(client, "/admin/stats")["wal"]["appended_lsn"].as_int(), appended);
  auto stats = admin_get(client, "/admin/stats");
  EXPECT_EQ(stats["snapshot"]["lsn"].as_int(), lsn);
}

// A snapshot of 30k users takes long enough to be killed in the middle of it.
TEST(snapshots, kill_9_before_during_and_after_a_snapshot_loses_nothing_acknowledged) {
  server_process server(with_log());
  http_client client(server.port());
  for (int i = 0; i < 3; ++i) bulk_users(client, 10'000, "snapkill" + std::to_string(i));
  session user = sign_up_and_login(client, "snapkill");
  std::int64_t acknowledged = 0;
  for (int delay_ms : {0, 1, 3, 8, 20, 60, 200}) {
    std::atomic<bool> stop{false};
    std::int64_t acked_here = 0;
    std::atomic<std::int64_t> in_flight{0};
    std::thread charger([&] {
      http_client own(server.port());
      // Until the kill: the one charge without an answer may or may not have been applied.
      for (std::int64_t amount = 1; !stop.load(); ++amount) {
        if (charge(own, user.user_id, user.access_token, amount).status != 200) {
          in_flight = amount;
          break;
        }
        acked_here += amount;
      }
    });
    std::thread snapshotter([&] {
      http_client own(server.port());
      own.request("POST", "/admin/snapshot", "", bearer(k_admin_token));
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    server.kill_hard();
    stop = true;
    charger.join();
    snapshotter.join();
    acknowledged += acked_here;
    server.restart();
    client.set_port(server.port());
    const std::int64_t balance = fetch_balance(client, user.user_id, user.access_token);
    EXPECT_GE(balance, acknowledged)
        << "an acknowledged charge is lost (delay " << delay_ms << " ms)";
    EXPECT_LE(balance, acknowledged + in_flight.load()) << "delay " << delay_ms << " ms";
    EXPECT_TRUE(
        history_consistent(fetch_history(client, user.user_id, user.access_token), balance));
    acknowledged = balance;  // an unacknowledged charge that made it counts from now on
  }
  // Some kill landed in the middle of a snapshot: the next start removed what it left.
  const std::string log = server.stderr_text();
  EXPECT_NE(log.find("its writer never finished"), std::string::npos) << log;
  // The log goes on: a clean restart reads everything written since (a reused LSN would be
  // corruption there).
  ASSERT_EQ(charge(client, user.user_id, user.access_token, 1).status, 200);
  ASSERT_EQ(server.terminate(), 0);
  server.restart();
  client.set_port(server.port());
  EXPECT_EQ(fetch_balance(client, user.user_id, user.access_token), acknowledged + 1);
}

TEST(snapshots, a_damaged_newest_generation_is_passed_over_for_the_older_one) {
  server_process server(with_log());
  http_client client(server.port());
  session first = sign_up_and_login(client, "olderfallback");
  ASSERT_EQ(charge(client, first.user_id, first.access_token, 11).status, 200);
  const std::int64_t older = take_snapshot(client)["lsn"].as_int();
  session second = sign_up_and_login(client, "newerfallback");
  ASSERT_EQ(charge(client, second.user_id, second.access_token, 22).status, 200);
  const std::int64_t newer = take_snapshot(client)["lsn"].as_int();
  ASSERT_GT(newer, older);
  ASSERT_EQ(charge(client, first.user_id, first.access_token, 33).status, 200);
  ASSERT_EQ(server.terminate(), 0);

  auto generations = files_in(fs::path(server.data_dir()) / "snapshots");
  ASSERT_EQ(generations.size(), 2u);
  damage_value(generations.back(), second.email);  // the newer one holds the second user
  server.restart();
  client.set_port(server.port());
  const std::string log = server.stderr_text();
  EXPECT_NE(log.find("passed over snapshot " + generations.back().filename().string()),
            std::string::npos)
      << log;
  EXPECT_EQ(number_after(log, "loaded snapshot "), older) << log;
  EXPECT_EQ(fetch_balance(client, first.user_id, first.access_token), 44);
  EXPECT_EQ(fetch_balance(client, second.user_id, second.access_token), 22);
  auto listed = admin_get(client, "/admin/snapshots")["items"].elements();
  ASSERT_EQ(listed.size(), 1u) << "a damaged generation is not listed";
  EXPECT_EQ(listed[0]["lsn"].as_int(), older);
  // A new snapshot: the damaged one does not count toward retention and stays on disk.
  take_snapshot(client);
  EXPECT_TRUE(fs::exists(generations.back())) << "the server never deletes a damaged generation";
}

TEST(snapshots, every_generation_damaged_and_the_wal_trimmed_refuses_to_start) {
  server_process server(with_log({"--snapshots-keep", "1"}));
  http_client client(server.port());
  session user = sign_up_and_login(client, "allbroken");
  ASSERT_EQ(charge(client, user.user_id, user.access_token, 5).status, 200);
  server.restart();  // a new segment: the first one can now be trimmed behind a snapshot
  client.set_port(server.port());
  ASSERT_EQ(charge(client, user.user_id, user.access_token, 6).status, 200);
  take_snapshot(client);
  auto wal = admin_get(client, "/admin/stats")["wal"];
  ASSERT_EQ(server.terminate(), 0);
  auto segments = files_in(fs::path(server.data_dir()) / "wal", ".wal");
  ASSERT_FALSE(segments.empty());
  ASSERT_NE(segments.front().filename().string(), "00000000000000000001.wal")
      << "retention trimmed the first segment";
  auto generations = files_in(fs::path(server.data_dir()) / "snapshots");
  ASSERT_EQ(generations.size(), 1u);
  damage_value(generations.front(), user.email);
  std::string message;
  try {
    server.restart();
  } catch (const std::runtime_error& e) {
    message = e.what();
  }
  ASSERT_FALSE(message.empty()) << "the server started without the records the WAL lost";
  const std::string log = server.stderr_text();
  EXPECT_NE(log.find("ecom-snapshot inspect"), std::string::npos) << log;
  EXPECT_NE(log.find("refusing to start"), std::string::npos) << log;
}

TEST(snapshots, retention_keeps_the_newest_and_archives_the_wal_behind_them) {
  server_process server(with_log({"--snapshots-keep", "1"}));
  const fs::path archive = fs::path(server.data_dir()).parent_path() / "archive";
  server.append_args({"--wal-archive-dir", archive.string()});
  http_client client(server.port());
  session user = sign_up_and_login(client, "archive");
  std::int64_t total = 0;
  for (int round = 1; round <= 3; ++round) {
    server.restart();  // a new segment each time
    client.set_port(server.port());
    ASSERT_EQ(charge(client, user.user_id, user.access_token, round).status, 200);
    total += round;
    take_snapshot(client);
    auto listed = admin_get(client, "/admin/snapshots")["items"].elements();
    EXPECT_EQ(listed.size(), 1u);
  }
  EXPECT_EQ(files_in(fs::path(server.data_dir()) / "snapshots").size(), 1u);
  EXPECT_FALSE(files_in(archive, ".wal").empty()) << "trimmed segments are moved, not deleted";
  // The stats say where the log starts now; the snapshots folder's figures follow within 1 s.
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  auto wal = admin_get(client, "/admin/stats")["wal"];
  EXPECT_GT(wal["first_lsn"].as_int(), 1);
  EXPECT_GE(wal["segments"].as_int(), 1);
  server.kill_hard();
  server.restart();
  client.set_port(server.port());
  EXPECT_EQ(fetch_balance(client, user.user_id, user.access_token), total);
}

// Sets meta's "entity_format" of a committed generation (as another build would have written).
void set_entity_format(const fs::path& generation, std::uint32_t format) {
  MDB_env* env = nullptr;
  MDB_txn* txn = nullptr;
  MDB_dbi meta;
  ASSERT_EQ(mdb_env_create(&env), 0);
  ASSERT_EQ(mdb_env_set_maxdbs(env, 8), 0);
  ASSERT_EQ(mdb_env_set_mapsize(env, persistence::snapshot_map_bytes), 0);
  ASSERT_EQ(mdb_env_open(env, generation.c_str(), 0, 0644), 0);
  ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
  ASSERT_EQ(mdb_dbi_open(txn, "meta", 0, &meta), 0);
  char bytes[4] = {static_cast<char>(format), static_cast<char>(format >> 8),
                   static_cast<char>(format >> 16), static_cast<char>(format >> 24)};
  MDB_val key{std::strlen("entity_format"), const_cast<char*>("entity_format")};
  MDB_val value{sizeof bytes, bytes};
  ASSERT_EQ(mdb_put(txn, meta, &key, &value, 0), 0);
  ASSERT_EQ(mdb_txn_commit(txn), 0);
  mdb_env_close(env);
}

// A generation this build cannot load (another entity format; the same holds for another shard
// count) must not count toward --snapshots-keep: counted, it could be the "oldest kept" that
// the WAL is trimmed behind, or push out a generation that serves. It stays on disk.
TEST(snapshots, a_generation_of_another_format_is_not_used_not_counted_and_not_deleted) {
  server_process server(with_log({"--snapshots-keep", "2"}));
  http_client client(server.port());
  session user = sign_up_and_login(client, "otherformat");
  ASSERT_EQ(charge(client, user.user_id, user.access_token, 7).status, 200);
  const std::int64_t first = take_snapshot(client)["lsn"].as_int();
  ASSERT_EQ(server.terminate(), 0);
  const fs::path snapshots = fs::path(server.data_dir()) / "snapshots";
  const fs::path foreign =
      snapshots / persistence::generation_name(static_cast<engine::lsn_t>(first) + 1'000'000);
  fs::copy(snapshots / persistence::generation_name(static_cast<engine::lsn_t>(first)), foreign);
  set_entity_format(foreign, 999);

  server.restart();
  client.set_port(server.port());
  std::string log = server.stderr_text();
  EXPECT_NE(log.find("not used and not counted"), std::string::npos) << log;
  EXPECT_EQ(number_after(log, "loaded snapshot "), first) << log;
  EXPECT_EQ(fetch_balance(client, user.user_id, user.access_token), 7);
  for (std::int64_t amount : {8, 9}) {
    ASSERT_EQ(charge(client, user.user_id, user.access_token, amount).status, 200);
    take_snapshot(client);
  }
  auto listed = admin_get(client, "/admin/snapshots")["items"].elements();
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_TRUE(fs::exists(foreign)) << "retention deleted a generation it does not use";
  EXPECT_EQ(files_in(snapshots).size(), 3u) << "the two newest good ones and the foreign one";
  server.kill_hard();
  server.restart();
  client.set_port(server.port());
  EXPECT_EQ(fetch_balance(client, user.user_id, user.access_token), 24);
}

TEST(snapshots, a_request_while_one_is_taken_is_409_and_only_the_admin_may_ask) {
  server_process server;
  http_client client(server.port());
  bulk_users(client, 100'000, "snapbusy");
  session user = sign_up_and_login(client, "snapbusy");
  auto as_user = client.request("POST", "/admin/snapshot", "", bearer(user.access_token));
  EXPECT_EQ(as_user.status, 403) << as_user.body;
  EXPECT_EQ(client.request("POST", "/admin/snapshot", "").status, 401);
  EXPECT_EQ(client.get("/admin/snapshots", bearer(user.access_token)).status, 403);

  std::vector<std::future<http_response>> asked;
  for (int i = 0; i < 6; ++i) {
    asked.push_back(std::async(std::launch::async, [&] {
      http_client own(server.port());
      return own.request("POST", "/admin/snapshot", "", bearer(k_admin_token));
    }));
  }
  int taken = 0, busy = 0;
  for (auto& f : asked) {
    http_response r = f.get();
    if (r.status == 200) ++taken;
    if (r.status == 409) {
      ++busy;
      EXPECT_EQ(code_of(r), "SNAPSHOT_IN_PROGRESS");
      EXPECT_EQ(r.header_or("Retry-After"), "1");
    }
  }
  EXPECT_GE(taken, 1);
  EXPECT_GE(busy, 1);
  EXPECT_EQ(taken + busy, 6);
}

}  // namespace
}  // namespace ecom::test
