// data_dir: the on-disk home of one ecomd: layout, exclusive lock, and the settings fixed for
// its lifetime.
//
//   <dir>/LOCK       flock()ed while a process has the directory open
//   <dir>/meta       "ecomd-data 1\nshards N\n" written once at creation (shard count is fixed)
//   <dir>/secret     32 random bytes (OpenSSL RAND_bytes), HMAC key for access tokens, mode 0600
//   <dir>/wal/       numbered WAL segments (wal_writer / wal_reader)
//   <dir>/snapshots/ one LMDB environment per snapshot generation (snapshot_store)
//
// Files are written to a temp name, fsync'd, renamed, and the folder fsync'd.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>

namespace ecom::persistence {

class data_dir {
 public:
  // Creates the folder if missing. shard_count_requested == 0 means "whatever is stored, or
  // shard_count_default for a new folder". A stored count that differs from a non-zero request
  // throws std::runtime_error with a clear message. Throws if another process holds LOCK.
  data_dir(std::filesystem::path dir, std::uint32_t shard_count_requested,
           std::uint32_t shard_count_default);
  ~data_dir();  // releases LOCK
  data_dir(const data_dir&) = delete;
  data_dir& operator=(const data_dir&) = delete;

  const std::filesystem::path& path() const { return dir_; }
  std::filesystem::path wal_path() const { return dir_ / "wal"; }
  std::filesystem::path snapshots_path() const { return dir_ / "snapshots"; }
  std::uint32_t shard_count() const { return shard_count_; }
  bool created_now() const { return created_now_; }  // true when the folder had no meta yet
  const std::string& token_secret() const { return secret_; }  // 32 raw bytes

 private:
  std::filesystem::path dir_;
  std::uint32_t shard_count_ = 0;
  bool created_now_ = false;
  std::string secret_;
  int lock_fd_ = -1;
};

// For offline tools (they never create a data dir):
// The shard count in <dir>/meta; throws when it is missing or malformed.
std::uint32_t stored_shard_count(const std::filesystem::path& dir);
// The pid of the process holding <dir>/LOCK (0 when it wrote none), or nothing when none does.
std::optional<long> lock_holder(const std::filesystem::path& dir);
// Holds <dir>/LOCK while a tool writes into the dir, so no ecomd starts on it meanwhile;
// throws when a process holds it.
class dir_lock {
 public:
  explicit dir_lock(const std::filesystem::path& dir);
  ~dir_lock();
  dir_lock(const dir_lock&) = delete;
  dir_lock& operator=(const dir_lock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace ecom::persistence
