// snapshot_store: a generation exists iff its commit returned; what was put is read back in
// key order per shard with meta's digests; a flipped byte in a value, a truncated file and a
// folder whose commit never happened are each told apart and named.
#include "persistence/snapshot_store.h"

#include <gtest/gtest.h>

#include <lmdb.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <tuple>

#include "engine/snapshot.h"
#include "persistence/crc32c.h"
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
  // Every copy: one written apart, then merged into place, leaves its first copy in a free
  // page.
  std::size_t flipped = 0;
  for (auto at = bytes.find("user nine of shard one"); at != std::string::npos;
       at = bytes.find("user nine of shard one", at + 1), ++flipped) {
    bytes[at + 5] ^= 0x20;
  }
  ASSERT_GT(flipped, 0u);
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
  {
    generation_writer writer(tmp.path() / generation_name(1), 1, 1);
    writer.put(0, snapshot_key(snapshot_table::users, 1).bytes(), "a");
    EXPECT_THROW(writer.put(0, snapshot_key(snapshot_table::users, 1).bytes(), "b"),
                 snapshot_error);
  }
  {
    generation_writer writer(tmp.path() / generation_name(2), 2, 1);
    writer.append(0, snapshot_key(snapshot_table::users, 1).bytes(), "a");
    EXPECT_THROW(writer.append(0, snapshot_key(snapshot_table::users, 1).bytes(), "b"),
                 snapshot_error);
  }
  {
    // Once by a walk and once by a change: found when the two are merged.
    generation_writer writer(tmp.path() / generation_name(3), 3, 1);
    writer.append(0, snapshot_key(snapshot_table::users, 1).bytes(), "a");
    writer.put(0, snapshot_key(snapshot_table::users, 1).bytes(), "b");
    EXPECT_THROW(writer.commit({3}, 1), snapshot_error);
  }
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

// Entities of about `bytes` in all, both shards interleaved, as two walks deliver them (keys
// ascending, appended), with every 50th one written ahead of its walk (as a change does, put).
void put_many(generation_writer& writer, std::uint64_t bytes) {
  const std::string value(200, 'v');
  const std::uint64_t per_shard = bytes / value.size() / 2;
  for (std::uint64_t i = 1; i <= per_shard; ++i) {
    for (engine::shard_index shard = 0; shard < 2; ++shard) {
      if (i % 50 == 0) {
        writer.put(shard, snapshot_key(snapshot_table::users, per_shard + i).bytes(), value);
      } else {
        writer.append(shard, snapshot_key(snapshot_table::users, i).bytes(), value);
      }
    }
  }
  // A walk's key that is not above what it appended is kept apart too (not refused).
  writer.append(0, snapshot_key(snapshot_table::users, per_shard * 3).bytes(), value);
  writer.append(0, snapshot_key(snapshot_table::users, per_shard * 3 - 1).bytes(), value);
}

TEST(snapshot_store, a_generation_of_many_transactions_reads_back_whole_on_every_shard_at_once) {
  testing_support::temp_dir tmp;
  const fs::path dir = tmp.path() / generation_name(9);
  const std::uint64_t bytes = snapshot_txn_bytes_max + snapshot_txn_bytes_max / 4;
  snapshot_info written;
  {
    generation_writer writer(dir, 9, 2);
    put_many(writer, bytes);
    EXPECT_EQ(read_snapshot_meta(dir).state, snapshot_state::incomplete)
        << "a transaction committed, the snapshot does not exist yet";
    written = writer.commit({9, 10}, 5);
  }
  EXPECT_EQ(written.format, snapshot_store_format);
  EXPECT_LT(written.bytes, bytes + bytes * 3 / 10) << "appended pages are packed, not split";
  for (std::size_t threads : {1, 2}) {
    std::mutex mutex;
    std::vector<std::vector<std::string>> keys(2);
    snapshot_read_options options;
    options.threads = threads;
    std::vector<int> ended(2, 0);
    options.on_shard_end = [&](engine::shard_index shard) {
      std::lock_guard lock(mutex);
      ++ended[shard];
      return true;
    };
    snapshot_check check = read_snapshot(
        dir,
        [&](engine::shard_index shard, std::string_view key, std::string_view) {
          std::lock_guard lock(mutex);
          keys[shard].emplace_back(key);
          return true;
        },
        options);
    ASSERT_EQ(check.state, snapshot_state::ok) << check.problem;
    for (engine::shard_index shard = 0; shard < 2; ++shard) {
      EXPECT_EQ(keys[shard].size(), written.shards[shard].entities);
      EXPECT_TRUE(std::is_sorted(keys[shard].begin(), keys[shard].end())) << "key order";
      EXPECT_EQ(std::adjacent_find(keys[shard].begin(), keys[shard].end()), keys[shard].end());
      EXPECT_EQ(ended[shard], 1);
    }
    EXPECT_EQ(check.info.counts.users, keys[0].size() + keys[1].size());
  }
}

TEST(snapshot_store, a_writer_stopped_after_a_transaction_committed_leaves_an_incomplete_folder) {
  testing_support::temp_dir tmp;
  const fs::path dir = tmp.path() / generation_name(3);
  {
    generation_writer writer(dir, 3, 2);
    put_many(writer, snapshot_txn_bytes_max + 4096 * 1000);
  }  // a crash or a stop before the final commit
  EXPECT_EQ(read_snapshot_meta(dir).state, snapshot_state::incomplete);
  EXPECT_NE(read_snapshot_meta(dir).problem.find("never finished"), std::string::npos);
  EXPECT_EQ(read_snapshot(dir, nullptr).state, snapshot_state::incomplete);
}

TEST(snapshot_store, a_shard_that_does_not_load_fails_the_read_on_its_thread) {
  testing_support::temp_dir tmp;
  const fs::path dir = tmp.path() / generation_name(42);
  write_sample(dir);
  snapshot_read_options options;
  options.threads = 2;
  snapshot_check check = read_snapshot(
      dir,
      [&](engine::shard_index shard, std::string_view, std::string_view value) {
        return !(shard == 0 && value == "user two");
      },
      options);
  EXPECT_EQ(check.state, snapshot_state::damaged);
  EXPECT_NE(check.problem.find("shard 0, table 2, 2"), std::string::npos) << check.problem;
  EXPECT_NE(check.problem.find("does not load"), std::string::npos) << check.problem;
}

// Format 1 (one `state` database for every shard, a digest chained in key order), as the
// first snapshot build wrote it, written here with LMDB directly.
TEST(snapshot_store, a_format_1_generation_is_still_read) {
  testing_support::temp_dir tmp;
  const fs::path dir = tmp.path() / generation_name(42);
  fs::create_directories(dir);
  const std::vector<std::tuple<engine::shard_index, std::string, std::string>> entities{
      {0, std::string(snapshot_key(snapshot_table::users, 1).bytes()), "one"},
      {0, std::string(snapshot_key(snapshot_table::users, 2).bytes()), "two"},
      {1, std::string(snapshot_key(snapshot_table::users, 9).bytes()), "nine"}};
  MDB_env* env = nullptr;
  MDB_txn* txn = nullptr;
  MDB_dbi state, meta;
  ASSERT_EQ(mdb_env_create(&env), 0);
  ASSERT_EQ(mdb_env_set_maxdbs(env, 2), 0);
  ASSERT_EQ(mdb_env_open(env, dir.c_str(), 0, 0644), 0);
  ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
  ASSERT_EQ(mdb_dbi_open(txn, "state", MDB_CREATE, &state), 0);
  ASSERT_EQ(mdb_dbi_open(txn, "meta", MDB_CREATE, &meta), 0);
  auto put = [&](MDB_dbi db, std::string key, std::string value) {
    MDB_val k{key.size(), key.data()}, v{value.size(), value.data()};
    ASSERT_EQ(mdb_put(txn, db, &k, &v, 0), 0);
  };
  auto le = [](std::uint64_t value, int bytes) {
    std::string out;
    for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>(value >> (8 * i)));
    return out;
  };
  std::vector<std::uint32_t> digest(2, 0);
  for (const auto& [shard, key, value] : entities) {
    const std::string stored_key = std::string{'\0', static_cast<char>(shard)} + key;
    const std::string stored_value =
        value +
        le(crc32c::mask(crc32c::extend(crc32c::value(stored_key), value.data(), value.size())), 4);
    digest[shard] =
        crc32c::extend(crc32c::extend(digest[shard], stored_key.data(), stored_key.size()),
                       stored_value.data(), stored_value.size());
    put(state, stored_key, stored_value);
  }
  put(meta, "format", le(1, 4));
  put(meta, "entity_format", le(engine::snapshot_format_version, 4));
  put(meta, "shard_count", le(2, 4));
  put(meta, "lsn", le(42, 8));
  put(meta, "created_at", le(7, 8));
  put(meta, "counts", le(3, 8) + le(0, 8) + le(0, 8) + le(0, 8) + le(0, 8));
  put(meta, "shard/0", le(42, 8) + le(2, 8) + le(digest[0], 4));
  put(meta, "shard/1", le(43, 8) + le(1, 8) + le(digest[1], 4));
  ASSERT_EQ(mdb_txn_commit(txn), 0);
  mdb_env_close(env);

  std::map<engine::shard_index, std::vector<std::string>> seen;
  snapshot_read_options options;
  options.threads = 2;
  std::mutex mutex;
  snapshot_check check = read_snapshot(
      dir,
      [&](engine::shard_index shard, std::string_view, std::string_view value) {
        std::lock_guard lock(mutex);
        seen[shard].emplace_back(value);
        return true;
      },
      options);
  ASSERT_EQ(check.state, snapshot_state::ok) << check.problem;
  EXPECT_EQ(check.info.format, 1u);
  EXPECT_EQ(seen[0], (std::vector<std::string>{"one", "two"}));
  EXPECT_EQ(seen[1], (std::vector<std::string>{"nine"}));
  EXPECT_EQ(check.info.shards[1].cut, 43u);
}

TEST(snapshot_store, names_are_twenty_digits) {
  EXPECT_EQ(generation_name(14), "00000000000000000014");
  EXPECT_EQ(parse_generation_name("00000000000000000014"), 14u);
  EXPECT_FALSE(parse_generation_name("0000000000000000014"));
  EXPECT_FALSE(parse_generation_name("0000000000000000001x"));
}

}  // namespace
}  // namespace ecom::persistence
