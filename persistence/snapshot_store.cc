#include "persistence/snapshot_store.h"

#include <lmdb.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <thread>

#include "engine/limits.h"
#include "engine/snapshot.h"
#include "persistence/crc32c.h"
#include "persistence/file_io.h"
#include "persistence/snapshot_layout.h"
#include "persistence/wal_format.h"

namespace ecom::persistence {

namespace fs = std::filesystem;
using namespace snapshot_layout;

namespace {

constexpr std::size_t name_digits = 20;

// Opens a committed generation read-only (MDB_NOLOCK: nothing writes it any more). A file
// shorter than the pages its meta names is refused here: reading a mapped page past the end
// of a file is SIGBUS, not an error code.
int open_read_only(const fs::path& dir, env_guard& guard) {
  int rc = mdb_env_create(&guard.env);
  if (rc == 0) rc = mdb_env_set_maxdbs(guard.env, engine::shard_count_max + 2);
  if (rc == 0) rc = mdb_env_set_mapsize(guard.env, snapshot_map_bytes);
  // MDB_NOTLS: a reader per shard, each on a thread of its own.
  if (rc == 0) rc = mdb_env_open(guard.env, dir.c_str(), MDB_RDONLY | MDB_NOLOCK | MDB_NOTLS, 0644);
  if (rc != 0) return rc;
  MDB_envinfo info;
  MDB_stat stat;
  if ((rc = mdb_env_info(guard.env, &info)) != 0 || (rc = mdb_env_stat(guard.env, &stat)) != 0)
    return rc;
  const std::uint64_t needed = (static_cast<std::uint64_t>(info.me_last_pgno) + 1) * stat.ms_psize;
  if (file_bytes(dir / "data.mdb") < needed) return MDB_CORRUPTED;
  return 0;
}

// Reads meta in `txn`; fills check.info and returns true, or sets state and problem.
bool read_meta(MDB_txn* txn, const fs::path& dir, snapshot_check& check) {
  MDB_dbi meta;
  int rc = mdb_dbi_open(txn, "meta", 0, &meta);
  if (rc == MDB_NOTFOUND) {
    check.state = snapshot_state::incomplete;
    check.problem = "no committed meta (a snapshot a crash or a stop cut short)";
    return false;
  }
  if (rc != 0) {
    check.problem = std::string("cannot open meta: ") + mdb_strerror(rc);
    return false;
  }
  auto get = [&](std::string_view name, std::size_t size) -> std::optional<std::string_view> {
    MDB_val key = as_val(name), value;
    if (mdb_get(txn, meta, &key, &value) != 0 || value.mv_size != size) return std::nullopt;
    return as_view(value);
  };
  auto format = get("format", 4);
  auto entity_format = get("entity_format", 4);
  auto shard_count = get("shard_count", 4);
  auto lsn = get("lsn", 8);
  auto created_at = get("created_at", 8);
  auto counts = get("counts", 40);
  if (!format || !entity_format || !shard_count || !lsn || !created_at || !counts) {
    check.problem = "meta lacks a field";
    return false;
  }
  const std::uint32_t store_format = load_le<std::uint32_t>(format->data());
  if (store_format != 1 && store_format != snapshot_store_format) {
    check.problem = "meta format " + std::to_string(store_format) +
                    " is not one this build reads (1 or " + std::to_string(snapshot_store_format) +
                    ")";
    return false;
  }
  snapshot_info& info = check.info;
  info.dir = dir;
  info.format = store_format;
  info.entity_format = load_le<std::uint32_t>(entity_format->data());
  info.lsn = load_le<std::uint64_t>(lsn->data());
  info.created_at = static_cast<engine::time_ms>(load_le<std::uint64_t>(created_at->data()));
  info.counts.users = load_le<std::uint64_t>(counts->data());
  info.counts.products = load_le<std::uint64_t>(counts->data() + 8);
  info.counts.campaigns = load_le<std::uint64_t>(counts->data() + 16);
  info.counts.user_coupons = load_le<std::uint64_t>(counts->data() + 24);
  info.counts.orders = load_le<std::uint64_t>(counts->data() + 32);
  const std::uint32_t shards = load_le<std::uint32_t>(shard_count->data());
  if (shards == 0 || shards > 0xffff) {
    check.problem = "meta names " + std::to_string(shards) + " shards";
    return false;
  }
  for (std::uint32_t i = 0; i < shards; ++i) {
    auto shard = get(shard_meta_key(i), 20);
    if (!shard) {
      check.problem = "meta lacks shard " + std::to_string(i);
      return false;
    }
    info.shards.push_back(snapshot_shard{load_le<std::uint64_t>(shard->data()),
                                         load_le<std::uint64_t>(shard->data() + 8),
                                         load_le<std::uint32_t>(shard->data() + 16)});
  }
  info.bytes = file_bytes(dir / "data.mdb");
  return true;
}

}  // namespace

engine::lsn_t snapshot_info::min_cut() const {
  engine::lsn_t out = UINT64_MAX;
  for (const auto& s : shards) out = std::min(out, s.cut);
  return shards.empty() ? lsn : out;
}

engine::lsn_t snapshot_info::max_cut() const {
  engine::lsn_t out = lsn;
  for (const auto& s : shards) out = std::max(out, s.cut);
  return out;
}

std::string generation_name(engine::lsn_t lsn) {
  char name[name_digits + 1];
  std::snprintf(name, sizeof name, "%020llu", static_cast<unsigned long long>(lsn));
  return name;
}

std::optional<engine::lsn_t> parse_generation_name(std::string_view name) {
  // Same digits as a WAL segment's number.
  if (name.size() != name_digits) return std::nullopt;
  return wal_format::parse_segment_file_name(std::string(name) + ".wal");
}

std::vector<fs::path> generation_dirs(const fs::path& snapshots_dir) {
  std::vector<std::pair<engine::lsn_t, fs::path>> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(snapshots_dir, ec)) {
    auto lsn = parse_generation_name(entry.path().filename().string());
    if (lsn && entry.is_directory()) found.emplace_back(*lsn, entry.path());
  }
  std::sort(found.begin(), found.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<fs::path> out;
  for (auto& [lsn, path] : found) out.push_back(std::move(path));
  return out;
}

snapshot_check read_snapshot_meta(const fs::path& dir) {
  snapshot_check check;
  check.info.dir = dir;
  if (!fs::exists(dir / "data.mdb")) {
    check.state = snapshot_state::incomplete;
    check.problem = "no data.mdb";
    return check;
  }
  if (fs::exists(dir / writing_marker)) {
    check.state = snapshot_state::incomplete;
    check.problem = "its writer never finished (a snapshot a crash or a stop cut short)";
    return check;
  }
  env_guard env;
  if (int rc = open_read_only(dir, env); rc != 0) {
    check.problem = std::string("cannot open: ") + mdb_strerror(rc);
    return check;
  }
  txn_guard txn;
  if (int rc = mdb_txn_begin(env.env, nullptr, MDB_RDONLY, &txn.txn); rc != 0) {
    check.problem = std::string("cannot read: ") + mdb_strerror(rc);
    return check;
  }
  if (read_meta(txn.txn, dir, check)) check.state = snapshot_state::ok;
  return check;
}

namespace {

struct shard_read {
  shard_tally tally;
  std::string problem;  // empty: read whole and every callback accepted
};

std::string entity_name(std::string_view stored_key) {
  auto entity = engine::snapshot_key::parse(
      stored_key.substr(std::min(stored_key.size(), shard_prefix_bytes)));
  if (!entity || stored_key.size() < shard_prefix_bytes) return "entity with a malformed key";
  return "entity (shard " + std::to_string(shard_of(stored_key)) + ", table " +
         std::to_string(static_cast<int>(entity->table())) + ", " + std::to_string(entity->a()) +
         ", " + std::to_string(entity->b()) + ")";
}

// Reads one shard's entities in key order in a read transaction of its own.
// `dbi` was opened before (LMDB: one transaction at a time may open database handles).
void read_shard(MDB_env* env, MDB_dbi dbi, const snapshot_info& info, engine::shard_index shard,
                const snapshot_entity_fn& on_entity, const snapshot_shard_end_fn& on_shard_end,
                shard_read& out) {
  txn_guard txn;
  MDB_cursor* cursor = nullptr;
  int rc = mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn.txn);
  if (rc == 0) rc = mdb_cursor_open(txn.txn, dbi, &cursor);
  if (rc != 0) {
    out.problem = "cannot read shard " + std::to_string(shard) + ": " + mdb_strerror(rc);
    return;
  }
  const std::string prefix = shard_prefix(shard);
  MDB_val key = as_val(prefix), value;
  std::string why;
  for (rc = mdb_cursor_get(cursor, &key, &value, MDB_SET_RANGE); rc == 0;
       rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)) {
    const std::string_view k = as_view(key), v = as_view(value);
    if (k.size() < shard_prefix_bytes || k.substr(0, shard_prefix_bytes) != prefix) {
      if (info.format == 1) break;  // the next shard's range
      why = "an entity of another shard";
    } else if (shard_tally::check(k, v, &why)) {
      out.tally.add(info.format, k, v);
      if (on_entity && !on_entity(shard, k.substr(shard_prefix_bytes),
                                  v.substr(0, v.size() - value_crc_bytes))) {
        why = "does not load into the state";
      }
    }
    if (!why.empty()) {
      out.problem = entity_name(k) + ": " + why;
      break;
    }
  }
  mdb_cursor_close(cursor);
  if (!out.problem.empty()) return;
  if (rc != 0 && rc != MDB_NOTFOUND) {
    out.problem = "cannot read shard " + std::to_string(shard) + ": " + mdb_strerror(rc);
    return;
  }
  const snapshot_shard& want = info.shards[shard];
  if (out.tally.shard.entities != want.entities || out.tally.shard.digest != want.digest) {
    out.problem = "shard " + std::to_string(shard) + " holds " +
                  std::to_string(out.tally.shard.entities) + " entities (digest " +
                  std::to_string(out.tally.shard.digest) + "), meta says " +
                  std::to_string(want.entities) + " (digest " + std::to_string(want.digest) + ")";
    return;
  }
  if (on_shard_end && !on_shard_end(shard))
    out.problem = "shard " + std::to_string(shard) + " does not load";
}

}  // namespace

snapshot_check read_snapshot(const fs::path& dir, const snapshot_entity_fn& on_entity,
                             const snapshot_read_options& options) {
  snapshot_check check = read_snapshot_meta(dir);
  if (check.state != snapshot_state::ok) return check;
  check.state = snapshot_state::damaged;
  env_guard env;
  if (int rc = open_read_only(dir, env); rc != 0) {
    check.problem = std::string("cannot read state: ") + mdb_strerror(rc);
    return check;
  }
  const std::size_t shard_count = check.info.shards.size();
  // Every shard's database handle, opened once in a transaction of its own: LMDB lets only one
  // transaction at a time open handles (concurrent opens corrupt its table of names); a
  // committed transaction's handles stay open for the readers.
  std::vector<MDB_dbi> dbis(shard_count);
  {
    MDB_txn* txn = nullptr;
    int rc = mdb_txn_begin(env.env, nullptr, MDB_RDONLY, &txn);
    for (std::size_t i = 0; rc == 0 && i < shard_count; ++i) {
      const std::string name =
          check.info.format == 1 ? "state" : shard_db_name(static_cast<engine::shard_index>(i));
      rc = mdb_dbi_open(txn, name.c_str(), 0, &dbis[i]);
    }
    if (rc == 0) {
      rc = mdb_txn_commit(txn);
    } else if (txn != nullptr) {
      mdb_txn_abort(txn);
    }
    if (rc != 0) {
      check.problem = std::string("cannot read state: ") + mdb_strerror(rc);
      return check;
    }
  }
  std::vector<shard_read> read(shard_count);
  const std::size_t threads = std::clamp<std::size_t>(options.threads, 1, shard_count);
  std::atomic<std::size_t> next{0};
  auto worker = [&]() noexcept {
    for (std::size_t i; (i = next.fetch_add(1)) < shard_count;) {
      try {
        read_shard(env.env, dbis[i], check.info, static_cast<engine::shard_index>(i), on_entity,
                   options.on_shard_end, read[i]);
      } catch (const std::exception& e) {  // e.g. out of memory while loading
        read[i].problem = "shard " + std::to_string(i) + " failed to load: " + e.what();
      } catch (...) {
        read[i].problem = "shard " + std::to_string(i) + " failed to load";
      }
    }
  };
  {
    std::vector<std::jthread> helpers;
    try {
      for (std::size_t t = 1; t < threads; ++t) helpers.emplace_back(worker);
    } catch (const std::system_error&) {
      // No more threads: the ones started and this one read every shard all the same.
    }
    worker();
  }  // joined
  for (const shard_read& r : read) {
    if (!r.problem.empty()) {
      check.problem = r.problem;
      return check;
    }
  }
  check.state = snapshot_state::ok;
  return check;
}

void remove_generation(const fs::path& dir) {
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (ec) throw io_error(ec.value(), "cannot remove snapshot", dir);
  fsync_dir(dir.parent_path());
}

void copy_generation(const fs::path& from, const fs::path& to) {
  env_guard env;
  if (int rc = open_read_only(from, env); rc != 0) fail(rc, "cannot open snapshot", from);
  create_dir(to);
  if (int rc = mdb_env_copy2(env.env, to.c_str(), 0); rc != 0)
    fail(rc, "cannot copy snapshot", from);
  fsync_dir(to);
}

}  // namespace ecom::persistence
