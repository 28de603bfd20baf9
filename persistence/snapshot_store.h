// snapshot_store: the snapshot generations of a data dir, each one LMDB environment.
//
//   <data>/snapshots/<lsn, 20 digits>/data.mdb, lock.mdb
//
// A generation is written by one generation_writer: each shard's entities into a database of
// its own, in transactions of at most snapshot_txn_bytes_max (LMDB holds a transaction's pages
// in memory until it commits), without syncing, then `meta` in a final transaction that syncs
// the whole file. A file `writing` in the folder, made durable before the first byte and
// removed (durably) after the final commit, says the folder is incomplete: the snapshot exists,
// with all its content, if and only if that final commit returned; a crash anywhere before
// leaves a folder that reads as snapshot_state::incomplete, whatever LMDB's file holds.
//
// Its name `lsn` is the WAL's appended LSN when the capture began: every record at or below it
// is in the snapshot. Each shard's own cut (at or after it: the shard began its capture a little
// later) is in meta; recovery replays each shard's records after its cut.
//
// state/<i>: shard i's entities. key = [shard: u16 BE][entity key (engine/snapshot.h)];
//        value = [entity value][masked CRC-32C of key and value: u32 LE] (a checksum per
//        value block: a flipped bit names the entity). A walk's keys ascend, so they are
//        appended (MDB_APPEND: full pages, no splits); the few a change wrote ahead of the
//        walk wait in `changed/<i>` while writing and are merged in before meta.
// meta:  "format" u32 (snapshot_store_format), "entity_format" u32 (engine's
//        snapshot_format_version), "shard_count" u32, "lsn" u64, "created_at" i64 (ms),
//        "counts" 5 × u64 (users, products, campaigns, user_coupons, orders), and per shard
//        "shard/<i>" = cut u64, entities u64, digest u32 (the sum of the shard's stored value
//        checksums: two snapshots of one state have equal digests).
// Format 1 (still read): one `state` database for every shard, written in one transaction;
// its digest chains CRC-32C over the shard's keys and values in key order.
//
// LMDB settings (what its users learned): the map size is set once, generously (a sparse file
// costs nothing, and resizing with transactions open crashes); the final commit syncs; no
// MDB_WRITEMAP (a full disk would become SIGBUS). Readers of a committed generation open it
// MDB_RDONLY | MDB_NOLOCK: nothing ever writes it again; each shard is read in a read
// transaction of its own, so shards load in parallel.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "engine/types.h"

namespace ecom::persistence {

inline constexpr std::uint32_t snapshot_store_format = 2;
// Virtual address space reserved per environment; the file grows only as written.
// 256 GiB: far above a snapshot of any state that fits in this machine's memory (a snapshot
// is about 0.4 × the server's RSS), and small enough that a few maps fit in ThreadSanitizer's
// 1.5 TiB of high address space (1 TiB maps failed there with ENOMEM once threads' stacks
// fragmented it). A state beyond it fails its snapshot with MDB_MAP_FULL, named; the server
// goes on.
inline constexpr std::size_t snapshot_map_bytes = std::size_t{256} << 30;
// A writer commits (without syncing) once a transaction holds this many key and value bytes.
inline constexpr std::uint64_t snapshot_txn_bytes_max = std::uint64_t{32} << 20;  // 32 MiB

class snapshot_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct snapshot_shard {
  engine::lsn_t cut = 0;
  std::uint64_t entities = 0;
  std::uint32_t digest = 0;
};

struct snapshot_counts {
  std::uint64_t users = 0;
  std::uint64_t products = 0;
  std::uint64_t campaigns = 0;
  std::uint64_t user_coupons = 0;
  std::uint64_t orders = 0;
};

struct snapshot_info {
  std::filesystem::path dir;
  std::uint32_t format = 0;  // snapshot_store_format it was written in
  engine::lsn_t lsn = 0;
  engine::time_ms created_at = 0;
  std::uint32_t entity_format = 0;
  std::vector<snapshot_shard> shards;
  snapshot_counts counts;
  std::uint64_t bytes = 0;  // data.mdb on disk

  engine::lsn_t min_cut() const;
  engine::lsn_t max_cut() const;
};

std::string generation_name(engine::lsn_t lsn);
std::optional<engine::lsn_t> parse_generation_name(std::string_view name);
// The generation folders under `snapshots_dir` by name, newest (highest LSN) first; other
// entries are ignored. A missing folder has none.
std::vector<std::filesystem::path> generation_dirs(const std::filesystem::path& snapshots_dir);

enum class snapshot_state { ok, incomplete, damaged };

struct snapshot_check {
  snapshot_state state = snapshot_state::damaged;
  std::string problem;  // why, for incomplete and damaged
  snapshot_info info;   // meta as read (complete when state == ok)
};

// Reads meta only (cheap): incomplete when the folder has no committed meta, damaged when
// meta does not decode.
snapshot_check read_snapshot_meta(const std::filesystem::path& dir);

// Reads every shard's entities in key order, checking each value's checksum and each shard's
// count and digest against meta. on_entity(shard, key, value) may return false to stop (a load
// that failed); then the result is damaged with that entity named. Without a callback: verify
// only. With options.threads > 1 shards are read at once, each on one thread: the callbacks
// run concurrently for different shards (never for one shard).
using snapshot_entity_fn =
    std::function<bool(engine::shard_index shard, std::string_view key, std::string_view value)>;
// Called on the shard's reading thread once its entities are in and its count and digest
// match meta; false: it does not load.
using snapshot_shard_end_fn = std::function<bool(engine::shard_index shard)>;
struct snapshot_read_options {
  std::size_t threads = 1;
  snapshot_shard_end_fn on_shard_end;
};
snapshot_check read_snapshot(const std::filesystem::path& dir, const snapshot_entity_fn& on_entity,
                             const snapshot_read_options& options = {});

// One generation being written. append() takes a walk's entities (keys ascending per shard:
// they go at the end of the shard's tree, in full pages); put() takes any other, in any order
// (kept apart and merged into place at commit). Each key once across both. commit() writes
// meta with the digests and counts of what was written and makes it all durable: the
// snapshot exists once it returns. Destroying an uncommitted writer aborts (the folder is
// then incomplete; remove_generation deletes it).
class generation_writer {
 public:
  generation_writer(const std::filesystem::path& dir, engine::lsn_t lsn, std::uint32_t shard_count);
  ~generation_writer();
  generation_writer(const generation_writer&) = delete;
  generation_writer& operator=(const generation_writer&) = delete;

  void append(engine::shard_index shard, std::string_view key, std::string_view value);
  void put(engine::shard_index shard, std::string_view key, std::string_view value);
  snapshot_info commit(const std::vector<engine::lsn_t>& cuts, engine::time_ms created_at);
  std::uint64_t entities_put() const { return entities_; }

 private:
  struct handles;
  using MDB_dbi_handle = unsigned int;  // LMDB's MDB_dbi, without its header here
  void frame(engine::shard_index shard, std::string_view key, std::string_view value);
  void store(MDB_dbi_handle dbi, unsigned flags);
  void next_transaction();
  void merge_changed(engine::shard_index shard);

  std::filesystem::path dir_;
  engine::lsn_t lsn_;
  std::uint32_t shard_count_;
  std::uint64_t entities_ = 0;
  handles* h_;
};

void remove_generation(const std::filesystem::path& dir);

// LMDB's own copy of a committed generation (mdb_env_copy2 under its read transaction, not
// compacting) into the empty folder `to`.
void copy_generation(const std::filesystem::path& from, const std::filesystem::path& to);

}  // namespace ecom::persistence
