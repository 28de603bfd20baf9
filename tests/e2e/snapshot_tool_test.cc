// ecom-snapshot against real data dirs written by the real ecomd (OPERATIONS.md §2):
//   - a hot backup under traffic verifies, and ecomd starts on it holding every change
//     acknowledged before the backup began;
//   - point-in-time restore by LSN and by commit time equals, entity by entity, a copy of the
//     data dir of a server stopped at that point;
//   - wal check / repair on a torn tail and on corruption in the middle (quarantine);
//   - verify finds a damaged snapshot and a backup file that does not match its manifest;
//   - every refusal is exit 2 with its one line; a dir held by a server is read, never written.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include "engine/shard_set.h"
#include "persistence/data_dir.h"
#include "persistence/recovery.h"
#include "tests/support/api.h"
#include "tests/support/commerce.h"
#include "tests/support/data_dir_tools.h"
#include "tests/support/server_process.h"

namespace ecom::test {
namespace {

namespace fs = std::filesystem;

// Runs build/bin/ecom-snapshot with `args` (paths without spaces), capturing its output.
tool_run run_tool(const std::string& args) {
  return test::run_tool(ECOM_SNAPSHOT_BINARY, args);
}

std::int64_t appended_lsn(http_client& client) {
  auto r = client.get("/admin/stats", bearer(k_admin_token));
  return parse_json(r.body)["wal"]["appended_lsn"].as_int();
}

// Some of everything: users, charges, a campaign and its coupons, a product, an order paid.
void shop_a_little(http_client& client, const session& user, int round) {
  ASSERT_EQ(charge(client, user.user_id, user.access_token, 100'000 + round).status, 200);
  const std::int64_t campaign =
      open_campaign_for(client,
                        create_coupon_template(client, "pitr" + std::to_string(round), "FIXED", 100,
                                               std::nullopt, 30),
                        5);
  issue_coupon(client, campaign, user.access_token);
  product_ref product = simple_product(client, "pitr" + std::to_string(round), 1'000, 50);
  auto order = client.post_json(
      user_path(user.user_id, "/orders"),
      json_object()
          .add_raw("items", "[{\"product_id\":" + std::to_string(product.id) +
                                ",\"combination_id\":" + std::to_string(product.cid()) +
                                ",\"quantity\":2}]")
          .str(),
      json_bearer(user.access_token));
  ASSERT_EQ(order.status, 201) << order.body;
  const std::int64_t order_id = parse_json(order.body)["id"].as_int();
  auto paid =
      client.post_json(user_path(user.user_id, "/orders/" + std::to_string(order_id) + "/payment"),
                       "{}", json_bearer(user.access_token));
  ASSERT_EQ(paid.status, 200) << paid.body;
}

TEST(snapshot_tool,
     a_hot_backup_under_traffic_verifies_and_serves_every_change_acknowledged_before_it) {
  server_process server;
  http_client client(server.port());
  session user = sign_up_and_login(client, "hotbackup");
  // Shopping traffic of every kind (ecom-load mixed, with its own audit) around the backup.
  std::thread shoppers([&] {
    const std::string command =
        std::string(ECOM_LOAD_BINARY) +
        " mixed --url http://127.0.0.1:" + std::to_string(server.port()) + " --admin-token " +
        std::string(k_admin_token) +
        " --users 300 --connections 8 --duration 2 --no-progress >/dev/null 2>&1";
    EXPECT_EQ(std::system(command.c_str()), 0) << "ecom-load mixed failed its audit";
  });
  std::atomic<bool> stop{false};
  std::atomic<std::int64_t> acked{0};
  std::thread traffic([&] {
    http_client own(server.port());
    for (std::int64_t amount = 1; !stop.load(); ++amount) {
      if (charge(own, user.user_id, user.access_token, amount).status == 200) acked += amount;
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  scratch copies("ecom-snapshot-test");
  const std::int64_t acknowledged_before = acked.load();
  tool_run backup =
      run_tool("backup " + server.data_dir() + " --out " + (copies / "backup").string() +
               " --url http://127.0.0.1:" + std::to_string(server.port()) + " --admin-token " +
               std::string(k_admin_token) + " --json");
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  stop = true;
  traffic.join();
  shoppers.join();
  ASSERT_EQ(backup.exit, 0) << describe(backup);
  EXPECT_TRUE(parse_json(backup.out)["ok"].as_bool());
  EXPECT_TRUE(fs::exists(copies / "backup" / "backup_manifest.json"));
  tool_run verify = run_tool("verify " + (copies / "backup").string());
  EXPECT_EQ(verify.exit, 0) << describe(verify);
  EXPECT_NE(verify.out.find("verify: OK"), std::string::npos) << verify.out;

  server_options on_backup;
  on_backup.data_dir = (copies / "backup").string();
  server_process restored(on_backup);
  http_client restored_client(restored.port());
  // The server's tokens work on the copy (it carries the secret).
  const std::int64_t balance = fetch_balance(restored_client, user.user_id, user.access_token);
  EXPECT_GE(balance, acknowledged_before);
  EXPECT_TRUE(
      history_consistent(fetch_history(restored_client, user.user_id, user.access_token), balance));
}

TEST(snapshot_tool, restore_to_an_lsn_and_to_a_time_equals_the_server_stopped_there) {
  server_options options;
  options.extra_args = {"--snapshots-keep", "3"};
  server_process server(options);
  http_client client(server.port());
  session user = sign_up_and_login(client, "pitr");
  shop_a_little(client, user, 1);
  ASSERT_EQ(
      parse_json(client.request("POST", "/admin/snapshot", "", bearer(k_admin_token)).body)["lsn"]
              .as_int() > 0,
      true);
  shop_a_little(client, user, 2);
  const std::int64_t point = appended_lsn(client);
  ASSERT_EQ(server.terminate(), 0);
  // The reference: the data dir as the server left it at that point.
  scratch copies("ecom-snapshot-test");
  fs::copy(server.data_dir(), copies / "reference", fs::copy_options::recursive);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const std::int64_t point_time = now_ms();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  server.restart();
  client.set_port(server.port());
  shop_a_little(client, user, 3);
  client.request("POST", "/admin/snapshot", "", bearer(k_admin_token));
  shop_a_little(client, user, 4);
  ASSERT_EQ(server.terminate(), 0);

  const engine::time_ms now = now_ms();
  const auto reference = state_of(copies / "reference", now);
  tool_run by_lsn = run_tool("restore " + server.data_dir() + " --to " +
                             (copies / "by_lsn").string() + " --to-lsn " + std::to_string(point));
  ASSERT_EQ(by_lsn.exit, 0) << describe(by_lsn);
  EXPECT_EQ(state_of(copies / "by_lsn", now), reference) << "restore --to-lsn " << point;
  tool_run by_time = run_tool("restore " + server.data_dir() + " --to " +
                              (copies / "by_time").string() + " --to-time " + rfc3339(point_time));
  ASSERT_EQ(by_time.exit, 0) << describe(by_time);
  EXPECT_EQ(state_of(copies / "by_time", now), reference)
      << "restore --to-time " << rfc3339(point_time);
  // Everything, and a time after the last commit keeps everything too.
  tool_run all = run_tool("restore " + server.data_dir() + " --to " + (copies / "all").string());
  ASSERT_EQ(all.exit, 0) << describe(all);
  tool_run late = run_tool("restore " + server.data_dir() + " --to " + (copies / "late").string() +
                           " --to-time " + rfc3339(now + 60'000));
  ASSERT_EQ(late.exit, 0) << describe(late);
  const auto everything = state_of(server.data_dir(), now);
  EXPECT_EQ(state_of(copies / "all", now), everything);
  EXPECT_EQ(state_of(copies / "late", now), everything);
  EXPECT_NE(everything, reference);
  // Out of reach: exit 2 naming the range.
  tool_run far = run_tool("restore " + server.data_dir() + " --to " + (copies / "far").string() +
                          " --to-lsn 999999999");
  EXPECT_EQ(far.exit, 2) << describe(far);
  EXPECT_NE(far.err.find("can restore lsn"), std::string::npos) << far.err;
  // A restored dir serves.
  server_options on_restored;
  on_restored.data_dir = (copies / "by_lsn").string();
  server_process restored(on_restored);
  http_client restored_client(restored.port());
  EXPECT_GT(fetch_balance(restored_client, user.user_id, user.access_token), 0);
}

TEST(snapshot_tool, wal_check_and_repair_a_torn_tail_and_quarantine_corruption) {
  server_process server;
  http_client client(server.port());
  session user = sign_up_and_login(client, "walrepair");
  for (int i = 1; i <= 5; ++i)
    ASSERT_EQ(charge(client, user.user_id, user.access_token, i).status, 200);
  ASSERT_EQ(server.terminate(), 0);
  const fs::path wal = fs::path(server.data_dir()) / "wal";
  fs::path segment;
  for (const auto& e : fs::directory_iterator(wal))
    if (e.path().extension() == ".wal" && fs::file_size(e.path()) > 16) segment = e.path();
  ASSERT_FALSE(segment.empty());
  tool_run clean = run_tool("wal check " + server.data_dir());
  EXPECT_EQ(clean.exit, 0) << describe(clean);
  // A torn tail: half a frame header after the last frame.
  const std::uint64_t good = fs::file_size(segment);
  { std::ofstream(segment, std::ios::binary | std::ios::app).write("\x12\x34\x56\x78\x09", 5); }
  tool_run torn = run_tool("wal check " + server.data_dir() + " --json");
  EXPECT_EQ(torn.exit, 1) << describe(torn);
  auto report = parse_json(torn.out);
  EXPECT_EQ(report["torn_tail"]["offset"].as_int(), static_cast<std::int64_t>(good));
  EXPECT_NE(report["torn_tail"]["segment"].as_string().find(segment.filename().string()),
            std::string::npos);
  tool_run repair = run_tool("wal repair " + server.data_dir());
  EXPECT_EQ(repair.exit, 0) << describe(repair);
  EXPECT_NE(repair.out.find("5 bytes"), std::string::npos) << repair.out;
  EXPECT_EQ(fs::file_size(segment), good);
  EXPECT_EQ(run_tool("wal check " + server.data_dir()).exit, 0);
  // Corruption in the middle: a flipped payload byte of the second frame.
  {
    std::fstream file(segment, std::ios::binary | std::ios::in | std::ios::out);
    file.seekg(16 + 28 + 20 + 3);  // commit-time frame, then the first record's payload
    char byte = 0;
    file.read(&byte, 1);
    file.seekp(16 + 28 + 20 + 3);
    file.put(static_cast<char>(byte ^ 0x10));
  }
  tool_run corrupt = run_tool("wal check " + server.data_dir());
  EXPECT_EQ(corrupt.exit, 1) << describe(corrupt);
  EXPECT_NE(corrupt.out.find("corruption"), std::string::npos) << corrupt.out;
  // A backup of it fails its own check, and leaves nothing half built behind.
  scratch copies("ecom-snapshot-test");
  tool_run backup = run_tool("backup " + server.data_dir() + " --out " + (copies / "b").string());
  EXPECT_EQ(backup.exit, 1) << describe(backup);
  EXPECT_NE(backup.err.find("does not check out"), std::string::npos) << describe(backup);
  EXPECT_FALSE(fs::exists(copies / "b")) << "a failed backup removes what it wrote";
  fs::create_directories(copies / "empty");
  EXPECT_EQ(run_tool("backup " + server.data_dir() + " --out " + (copies / "empty").string()).exit,
            1);
  EXPECT_TRUE(fs::exists(copies / "empty") && fs::is_empty(copies / "empty"))
      << "a folder that was there stays, emptied";
  tool_run refused = run_tool("wal repair " + server.data_dir());
  EXPECT_EQ(refused.exit, 1) << describe(refused);
  tool_run cut = run_tool("wal repair " + server.data_dir() + " --truncate-corrupt");
  EXPECT_EQ(cut.exit, 0) << describe(cut);
  EXPECT_FALSE(fs::is_empty(wal / "quarantine")) << "the cut records are kept, never deleted";
  EXPECT_EQ(run_tool("wal check " + server.data_dir()).exit, 0);
  server.restart();  // the log now ends before the damage, and the server starts on it
}

TEST(snapshot_tool, verify_finds_a_damaged_snapshot_and_a_backup_file_that_fails_its_manifest) {
  server_process server;
  http_client client(server.port());
  session user = sign_up_and_login(client, "verifydamage");
  ASSERT_EQ(charge(client, user.user_id, user.access_token, 7).status, 200);
  client.request("POST", "/admin/snapshot", "", bearer(k_admin_token));
  scratch copies("ecom-snapshot-test");
  tool_run backup = run_tool("backup " + server.data_dir() + " --out " + (copies / "b").string());
  ASSERT_EQ(backup.exit, 0) << describe(backup);
  ASSERT_EQ(server.terminate(), 0);
  EXPECT_EQ(run_tool("verify " + server.data_dir()).exit, 0);
  // A flipped byte inside the user's entity in the snapshot.
  fs::path generation = *fs::directory_iterator(fs::path(server.data_dir()) / "snapshots");
  std::string bytes = slurp(generation / "data.mdb");
  auto at = bytes.find(user.email);
  ASSERT_NE(at, std::string::npos);
  bytes[at + 2] ^= 0x01;
  std::ofstream(generation / "data.mdb", std::ios::binary | std::ios::trunc) << bytes;
  tool_run damaged = run_tool("verify " + server.data_dir() + " --json");
  EXPECT_EQ(damaged.exit, 1) << describe(damaged);
  auto report = parse_json(damaged.out);
  EXPECT_FALSE(report["ok"].as_bool());
  EXPECT_NE(report["problems"].dump().find("checksum"), std::string::npos) << damaged.out;
  // The backup's WAL copy changed after it was made.
  fs::path copied_segment;
  for (const auto& e : fs::directory_iterator(copies / "b" / "wal")) copied_segment = e.path();
  { std::ofstream(copied_segment, std::ios::binary | std::ios::app).put('\0'); }
  tool_run manifest = run_tool("verify " + (copies / "b").string());
  EXPECT_EQ(manifest.exit, 1) << describe(manifest);
  EXPECT_NE(manifest.out.find("manifest"), std::string::npos) << manifest.out;
  EXPECT_NE(manifest.out.find("verify: FAILED"), std::string::npos) << manifest.out;
}

TEST(snapshot_tool, refusals_are_exit_2_and_a_held_dir_is_only_read) {
  server_process server;
  http_client client(server.port());
  session user = sign_up_and_login(client, "refusals");
  ASSERT_EQ(charge(client, user.user_id, user.access_token, 3).status, 200);
  const std::string dir = server.data_dir();
  scratch copies("ecom-snapshot-test");
  fs::create_directories(copies / "full");
  std::ofstream(copies / "full" / "something") << "x";

  // Read-only subcommands work on a dir the server holds.
  tool_run inspect = run_tool("inspect " + dir + " --json");
  EXPECT_EQ(inspect.exit, 0) << describe(inspect);
  EXPECT_TRUE(parse_json(inspect.out)["in_use"].as_bool());
  EXPECT_EQ(parse_json(inspect.out)["holder_pid"].as_int(), server.pid());
  EXPECT_EQ(run_tool("wal check " + dir).exit, 0);
  EXPECT_EQ(run_tool("wal dump " + dir + " --limit 2").exit, 0);
  // Writers and full reads refuse, naming the holder and suggesting backup.
  for (const std::string& args : {"verify " + dir, "wal repair " + dir,
                                  "restore " + dir + " --to " + (copies / "r").string()}) {
    tool_run r = run_tool(args);
    EXPECT_EQ(r.exit, 2) << args << "\n" << describe(r);
    EXPECT_NE(r.err.find("pid " + std::to_string(server.pid())), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("backup"), std::string::npos) << r.err;
  }
  EXPECT_FALSE(fs::exists(copies / "r")) << "a refused restore wrote nothing";
  // Bad arguments and targets.
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "usage"},
      {"frobnicate " + dir, "unknown command"},
      {"inspect /nonexistent/dir", "not a folder"},
      {"inspect " + (copies / "full").string(), "not a data dir"},
      {"backup " + dir, "--out"},
      {"backup " + dir + " --out " + (copies / "full").string(), "not empty"},
      {"restore " + dir, ""},
      {"wal frob " + dir, "check, repair or dump"},
      {"inspect " + dir + " --bogus", "bogus"},
      {"restore " + dir + " --to " + (copies / "t").string() + " --to-time yesterday", "RFC 3339"},
  };
  for (const auto& [args, says] : cases) {
    tool_run r = run_tool(args);
    EXPECT_EQ(r.exit, 2) << args << "\n" << describe(r);
    EXPECT_NE(r.err.find(says), std::string::npos) << args << "\n" << r.err;
  }
  ASSERT_EQ(charge(client, user.user_id, user.access_token, 4).status, 200)
      << "the server is unharmed";
}

}  // namespace
}  // namespace ecom::test
