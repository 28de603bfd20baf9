#include "persistence/data_dir.h"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <optional>
#include <string_view>
#include <system_error>
#include <utility>

#include "engine/limits.h"
#include "persistence/file_io.h"

namespace ecom::persistence {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t secret_bytes = 32;
constexpr std::string_view meta_format_line = "ecomd-data 1";
constexpr std::size_t small_file_bytes_max = 4096;  // meta and secret are tiny; refuse more

std::optional<std::string> read_small_file(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    throw io_error(errno, "cannot open", path);
  }
  // One byte more than allowed, to tell "too large" from "exactly the limit".
  std::string bytes(small_file_bytes_max + 1, '\0');
  std::size_t done = 0;
  int error = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) error = errno;
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  if (error != 0) throw io_error(error, "cannot read", path);
  if (done > small_file_bytes_max) {
    throw std::runtime_error("data_dir: " + path.string() + " is larger than expected");
  }
  bytes.resize(done);
  return bytes;
}

// Takes LOCK with flock(): released by the kernel when the process dies, so a crash never
// leaves a stale lock behind.
int acquire_lock(const fs::path& dir) {
  const fs::path path = dir / "LOCK";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) throw io_error(errno, "cannot open", path);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    ::close(fd);
    if (error == EWOULDBLOCK) {
      throw std::runtime_error("data_dir: " + dir.string() +
                               " is in use by another ecomd (LOCK is held); stop it first");
    }
    throw io_error(error, "cannot lock", path);
  }
  // The holder's pid, for whoever wonders who holds it; not needed for correctness.
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) == 0) (void)write_all(fd, pid);
  return fd;
}

std::uint32_t parse_meta(const std::string& text, const fs::path& path) {
  const std::string prefix = std::string(meta_format_line) + "\nshards ";
  const auto bad = [&](const std::string& why) {
    return std::runtime_error("data_dir: " + path.string() + " is not a valid meta file (" + why +
                              "); expected \"" + std::string(meta_format_line) +
                              "\\nshards N\\n\"");
  };
  if (!text.starts_with(prefix) || !text.ends_with("\n")) throw bad("unknown format");
  const std::string_view digits(text.data() + prefix.size(), text.size() - prefix.size() - 1);
  std::uint32_t shards = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), shards);
  if (ec != std::errc{} || end != digits.data() + digits.size()) throw bad("bad shard count");
  if (shards < 1 || shards > engine::shard_count_max) throw bad("shard count out of range");
  return shards;
}

void check_shard_count(std::uint32_t count, const char* what) {
  if (count > engine::shard_count_max) {
    throw std::invalid_argument(std::string("data_dir: ") + what + " " + std::to_string(count) +
                                " above shard_count_max " +
                                std::to_string(engine::shard_count_max));
  }
}

std::string load_or_create_secret(const fs::path& dir) {
  const fs::path path = dir / "secret";
  if (std::optional<std::string> stored = read_small_file(path)) {
    if (stored->size() != secret_bytes) {
      throw std::runtime_error("data_dir: " + path.string() + " has " +
                               std::to_string(stored->size()) + " bytes, expected " +
                               std::to_string(secret_bytes));
    }
    return std::move(*stored);
  }
  std::string secret(secret_bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(secret.data()),
                 static_cast<int>(secret.size())) != 1) {
    char reason[256];
    ERR_error_string_n(ERR_get_error(), reason, sizeof reason);
    throw std::runtime_error(std::string("data_dir: RAND_bytes failed: ") + reason);
  }
  write_file_atomically(dir, "secret", secret, 0600);
  return secret;
}

}  // namespace

data_dir::data_dir(std::filesystem::path dir, std::uint32_t shard_count_requested,
                   std::uint32_t shard_count_default)
    : dir_(std::move(dir)) {
  check_shard_count(shard_count_requested, "requested shard count");
  check_shard_count(shard_count_default, "default shard count");
  create_dir(dir_);
  lock_fd_ = acquire_lock(dir_);
  try {
    // The secret goes first and meta last: meta marks a finished creation, and a creation cut
    // short by a crash is simply redone (keeping the secret if it was written).
    secret_ = load_or_create_secret(dir_);
    const fs::path meta_path = dir_ / "meta";
    if (std::optional<std::string> meta = read_small_file(meta_path)) {
      shard_count_ = parse_meta(*meta, meta_path);
      if (shard_count_requested != 0 && shard_count_requested != shard_count_) {
        throw std::runtime_error("data_dir: " + dir_.string() + " was created with " +
                                 std::to_string(shard_count_) + " shards; " +
                                 std::to_string(shard_count_requested) +
                                 " requested. The shard count is fixed for a data directory "
                                 "(ids name their owner shard); drop the flag or use another "
                                 "directory");
      }
    } else {
      shard_count_ = shard_count_requested != 0 ? shard_count_requested : shard_count_default;
      if (shard_count_ < 1) throw std::invalid_argument("data_dir: shard count must be >= 1");
      write_file_atomically(
          dir_, "meta",
          std::string(meta_format_line) + "\nshards " + std::to_string(shard_count_) + "\n", 0644);
      created_now_ = true;
    }
    create_dir(wal_path());
  } catch (...) {
    ::close(lock_fd_);
    lock_fd_ = -1;
    throw;
  }
  assert(shard_count_ >= 1 && shard_count_ <= engine::shard_count_max);
  assert(secret_.size() == secret_bytes);
}

data_dir::~data_dir() {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // closing the last fd releases the flock
}

std::uint32_t stored_shard_count(const std::filesystem::path& dir) {
  const fs::path meta_path = dir / "meta";
  std::optional<std::string> meta = read_small_file(meta_path);
  if (!meta) throw std::runtime_error(dir.string() + " is not a data dir (it has no meta)");
  return parse_meta(*meta, meta_path);
}

std::optional<long> lock_holder(const std::filesystem::path& dir) {
  const fs::path path = dir / "LOCK";
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;  // no LOCK: nobody ever held it
  std::optional<long> holder;
  if (::flock(fd, LOCK_SH | LOCK_NB) != 0) {
    holder = 0;
    char text[32] = {};
    if (::pread(fd, text, sizeof text - 1, 0) > 0) holder = std::strtol(text, nullptr, 10);
  } else {
    ::flock(fd, LOCK_UN);
  }
  ::close(fd);
  return holder;
}

dir_lock::dir_lock(const std::filesystem::path& dir) : fd_(acquire_lock(dir)) {}

dir_lock::~dir_lock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace ecom::persistence
