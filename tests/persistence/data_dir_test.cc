// data_dir: layout, exclusive lock, fixed shard count, stable secret.
#include "persistence/data_dir.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

#include <gtest/gtest.h>

#include "tests/persistence/temp_dir.h"

namespace ecom::persistence {
namespace {

namespace fs = std::filesystem;
using testing_support::temp_dir;

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// Goal: a new folder gets meta, a private 32-byte secret, LOCK and wal/. Method: open a fresh
// path with no requested count and inspect the files.
TEST(data_dir, creates_meta_secret_lock_and_wal_folder) {
  temp_dir tmp;
  const fs::path dir = tmp.path() / "data";
  data_dir d(dir, 0, 4);
  EXPECT_TRUE(d.created_now());
  EXPECT_EQ(d.shard_count(), 4u);
  EXPECT_EQ(d.path(), dir);
  EXPECT_EQ(read_text(dir / "meta"), "ecomd-data 1\nshards 4\n");
  EXPECT_EQ(d.token_secret().size(), 32u);
  EXPECT_EQ(read_text(dir / "secret"), d.token_secret());
  struct stat st {};
  ASSERT_EQ(::stat((dir / "secret").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_TRUE(fs::exists(dir / "LOCK"));
  EXPECT_TRUE(fs::is_directory(d.wal_path()));
}

// Goal: two owners of one folder are refused, even inside one process (flock is per open file).
// Method: open twice; the second throws; after the first closes, opening works again.
TEST(data_dir, second_open_while_locked_throws) {
  temp_dir tmp;
  {
    data_dir first(tmp.path(), 2, 2);
    EXPECT_THROW(data_dir(tmp.path(), 2, 2), std::runtime_error);
    try {
      data_dir second(tmp.path(), 0, 2);
      ADD_FAILURE() << "a second open of a locked folder succeeded";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("LOCK"), std::string::npos) << e.what();
    }
  }
  EXPECT_NO_THROW(data_dir(tmp.path(), 2, 2));
}

// Goal: the shard count is fixed at creation. Method: create with 4; a request for 8 throws,
// 0 ("whatever is stored") and 4 succeed and report 4, and a different default is ignored.
TEST(data_dir, shard_count_mismatch_throws) {
  temp_dir tmp;
  { data_dir created(tmp.path(), 4, 16); }
  EXPECT_THROW(data_dir(tmp.path(), 8, 16), std::runtime_error);
  {
    data_dir stored(tmp.path(), 0, 16);
    EXPECT_FALSE(stored.created_now());
    EXPECT_EQ(stored.shard_count(), 4u);
  }
  data_dir same(tmp.path(), 4, 1);
  EXPECT_EQ(same.shard_count(), 4u);
}

// Goal: tokens signed before a restart stay valid. Method: reopen and compare secrets; a second
// folder gets a different one.
TEST(data_dir, secret_is_stable_across_reopen) {
  temp_dir tmp;
  std::string secret;
  { secret = data_dir(tmp.path() / "a", 0, 2).token_secret(); }
  EXPECT_EQ(data_dir(tmp.path() / "a", 0, 2).token_secret(), secret);
  EXPECT_NE(data_dir(tmp.path() / "b", 0, 2).token_secret(), secret);
}

// Goal: damaged settings are reported, not guessed. Method: garbage meta, short secret.
TEST(data_dir, bad_meta_or_secret_throws) {
  temp_dir tmp;
  { data_dir created(tmp.path(), 2, 2); }
  std::ofstream(tmp.path() / "meta", std::ios::trunc) << "shards=2\n";
  EXPECT_THROW(data_dir(tmp.path(), 0, 2), std::runtime_error);
  std::ofstream(tmp.path() / "meta", std::ios::trunc) << "ecomd-data 1\nshards 2\n";
  std::ofstream(tmp.path() / "secret", std::ios::trunc) << "short";
  EXPECT_THROW(data_dir(tmp.path(), 0, 2), std::runtime_error);
}

}  // namespace
}  // namespace ecom::persistence
