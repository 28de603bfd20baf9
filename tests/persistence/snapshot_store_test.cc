// snapshot_store: a generation exists iff its commit returned; what was put is read back in
// key order per shard with meta's digests; a flipped byte in a value, a truncated file and a
// folder whose commit never happened are each told apart and named.
#include "persistence/snapshot_store.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <map>

#include "engine/snapshot.h"
#include "tests/persistence/temp_dir.h"

namespace ecom::persistence {
namespace {

using engine::snapshot_key;
using engine::snapshot_table;
namespace fs = std::filesystem;

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Writes entities of two shards, out of key order (as a capture delivers them).
snapshot_info write_sample(const fs::path& dir) {
  generation_writer writer(dir, 42, 2);
  writer.put(1, snapshot_key(snapshot_table::users, 9).bytes(), "user nine of shard one");
  writer.put(0, snapshot_key(snapshot_table::users, 2).bytes(), "user two");
  writer.put(0, snapshot_key(snapshot_table::users, 1).bytes(), "user one");
  writer.put(0, snapshot_key(snapshot_table::issued, 1, 7).bytes(), "a unit");
  // A wallet whose value starts with its coupon count, and a user's orders likewise.
  writer.put(1, snapshot_key(snapshot_table::wallets, 9).bytes(), std::string("\x03\0\0\0", 4));
  writer.put(0, snapshot_key(snapshot_table::orders, 1).bytes(), std::string("\x02\0\0\0", 4));
  return writer.commit({45, 44}, 1'800'000'000'000);
}

TEST(snapshot_store, a_committed_generation_reads_back_in_key_order_with_its_meta) {
  testing_support::temp_dir tmp;
  const fs::path dir = tmp.path() / generation_name(42);
  snapshot_info written = write_sample(dir);
  EXPECT_EQ(written.lsn, 42u);
  EXPECT_EQ(written.min_cut(), 44u);
  EXPECT_EQ(written.max_cut(), 45u);
  EXPECT_EQ(written.counts.users, 3u);
  EXPECT_EQ(written.counts.user_coupons, 3u);
  EXPECT_EQ(written.counts.orders, 2u);
  EXPECT_GT(written.bytes, 0u);

  std::vector<std::pair<engine::shard_index, std::string>> seen;
  snapshot_check check = read_snapshot(
      dir, [&](engine::shard_index shard, std::string_view key, std::string_view value) {
        seen.emplace_back(shard, std::string(value));
        EXPECT_TRUE(snapshot_key::parse(key)) << "the shard prefix is stripped";
        return true;
      });
  ASSERT_EQ(check.state, snapshot_state::ok) << check.problem;
  ASSERT_EQ(seen.size(), 6u);
  EXPECT_EQ(seen[0].second, "user one");  // shard 0, users 1 before users 2
  EXPECT_EQ(seen[1].second, "user two");
  EXPECT_EQ(seen[4].first, 1u);
  EXPECT_EQ(check.info.shards.size(), 2u);
  EXPECT_EQ(check.info.shards[0].cut, 45u);
  EXPECT_EQ(check.info.shards[0].entities, 4u);
  EXPECT_EQ(check.info.shards[1].digest, written.shards[1].digest);
  EXPECT_EQ(check.info.created_at, 1'800'000'000'000);

  // The same entities put in another order make the same digests (canonical content).
  const fs::path again = tmp.path() / generation_name(43);
  generation_writer writer(again, 43, 2);
  writer.put(0, snapshot_key(snapshot_table::orders, 1).bytes(), std::string("\x02\0\0\0", 4));
  writer.put(0, snapshot_key(snapshot_table::users, 1).bytes(), "user one");
  writer.put(1, snapshot_key(snapshot_table::wallets, 9).bytes(), std::string("\x03\0\0\0", 4));
  writer.put(0, snapshot_key(snapshot_table::issued, 1, 7).bytes(), "a unit");
  writer.put(0, snapshot_key(snapshot_table::users, 2).bytes(), "user two");
  writer.put(1, snapshot_key(snapshot_table::users, 9).bytes(), "user nine of shard one");
  snapshot_info other = writer.commit({45, 44}, 1);
  EXPECT_EQ(other.shards[0].digest, written.shards[0].digest);
  EXPECT_EQ(other.shards[1].digest, written.shards[1].digest);

  auto listed = generation_dirs(tmp.path());
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].filename(), generation_name(43));  // newest first
}

TEST(snapshot_store, a_flipped_byte_in_a_value_is_damage_that_names_the_entity) {
  testing_support::temp_dir tmp;
  const fs::path dir = tmp.path() / generation_name(42);
  write_sample(dir);
  std::string bytes = read_all(dir / "data.mdb");
  auto at = bytes.find("user nine of shard one");
  ASSERT_NE(at, std::string::npos);
  bytes[at + 5] ^= 0x20;
  std::ofstream(dir / "data.mdb", std::ios::binary | std::ios::trunc) << bytes;
  EXPECT_EQ(read_snapshot_meta(dir).state, snapshot_state::ok) << "meta alone still reads";
  snapshot_check check = read_snapshot(dir, nullptr);
  EXPECT_EQ(check.state, snapshot_state::damaged);
  EXPECT_NE(check.problem.find("checksum"), std::string::npos) << check.problem;
  EXPECT_NE(check.problem.find("shard 1, table 2, 9"), std::string::npos) << check.problem;
}

TEST(snapshot_store, a_truncated_file_is_damage_not_a_crash) {
  testing_support::temp_dir tmp;
  const fs::path dir = tmp.path() / generation_name(42);
  write_sample(dir);
  fs::resize_file(dir / "data.mdb", fs::file_size(dir / "data.mdb") / 2);
  snapshot_check check = read_snapshot(dir, nullptr);
  EXPECT_NE(check.state, snapshot_state::ok);
  EXPECT_FALSE(check.problem.empty());
}

TEST(snapshot_store, a_generation_whose_commit_never_happened_is_incomplete) {
  testing_support::temp_dir tmp;
  const fs::path dir = tmp.path() / generation_name(7);
  {
    generation_writer writer(dir, 7, 1);
    writer.put(0, snapshot_key(snapshot_table::users, 1).bytes(), "x");
  }  // destroyed without commit: a crash or a stop
  EXPECT_EQ(read_snapshot_meta(dir).state, snapshot_state::incomplete);
  EXPECT_EQ(read_snapshot(dir, nullptr).state, snapshot_state::incomplete);
  remove_generation(dir);
  EXPECT_FALSE(fs::exists(dir));
  EXPECT_EQ(read_snapshot_meta(tmp.path() / generation_name(8)).state, snapshot_state::incomplete);
}

TEST(snapshot_store, one_entity_written_twice_is_refused) {
  testing_support::temp_dir tmp;
  generation_writer writer(tmp.path() / generation_name(1), 1, 1);
  writer.put(0, snapshot_key(snapshot_table::users, 1).bytes(), "a");
  EXPECT_THROW(writer.put(0, snapshot_key(snapshot_table::users, 1).bytes(), "b"), snapshot_error);
}

TEST(snapshot_store, a_copy_reads_back_the_same) {
  testing_support::temp_dir tmp;
  const fs::path dir = tmp.path() / generation_name(42);
  snapshot_info written = write_sample(dir);
  copy_generation(dir, tmp.path() / "copy");
  snapshot_check check = read_snapshot(tmp.path() / "copy", nullptr);
  ASSERT_EQ(check.state, snapshot_state::ok) << check.problem;
  EXPECT_EQ(check.info.shards[0].digest, written.shards[0].digest);
  EXPECT_EQ(check.info.lsn, 42u);
}

TEST(snapshot_store, names_are_twenty_digits) {
  EXPECT_EQ(generation_name(14), "00000000000000000014");
  EXPECT_EQ(parse_generation_name("00000000000000000014"), 14u);
  EXPECT_FALSE(parse_generation_name("0000000000000000014"));
  EXPECT_FALSE(parse_generation_name("0000000000000000001x"));
}

}  // namespace
}  // namespace ecom::persistence
