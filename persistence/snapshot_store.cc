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
#include "persistence/wal_format.h"

namespace ecom::persistence {

namespace fs = std::filesystem;
using wal_format::load_le;
using wal_format::store_le;

namespace {

constexpr std::size_t name_digits = 20;
constexpr std::size_t shard_prefix_bytes = 2;
constexpr std::size_t value_crc_bytes = 4;
constexpr std::uint64_t page_bytes = 4096;  // LMDB's page (the OS page here)
// Present from a writer's first byte until its final commit returned (see generation_writer).
constexpr const char* writing_marker = "writing";

[[noreturn]] void fail(int rc, const std::string& what, const fs::path& dir) {
  throw snapshot_error(what + " " + dir.string() + ": " + mdb_strerror(rc));
}

MDB_val as_val(std::string_view bytes) {
  return MDB_val{bytes.size(), const_cast<char*>(bytes.data())};
}
std::string_view as_view(const MDB_val& v) {
  return {static_cast<const char*>(v.mv_data), v.mv_size};
}

std::string shard_meta_key(engine::shard_index shard) {
  return "shard/" + std::to_string(shard);
}

template <class T>
std::string le_bytes(T value) {
  std::string out(sizeof(T), '\0');
  store_le<std::make_unsigned_t<T>>(out.data(), static_cast<std::make_unsigned_t<T>>(value));
  return out;
}

// What a stored (key, value) pair says: its checksum holds, its shard, and what it adds to the
// shard's count and digest and to the counts of meta. Shared by the writer (as it puts) and
// the readers (as they read), so both derive meta the same way.
struct shard_tally {
  snapshot_shard shard;
  snapshot_counts counts;

  // The stored pair is framed right and its checksum holds; false names why not.
  static bool check(std::string_view key, std::string_view value, std::string* why) {
    if (key.size() <= shard_prefix_bytes || value.size() < value_crc_bytes) {
      *why = "an entity shorter than its framing";
      return false;
    }
    const std::uint32_t stored =
        load_le<std::uint32_t>(value.data() + value.size() - value_crc_bytes);
    std::uint32_t crc = crc32c::value(key);
    crc = crc32c::extend(crc, value.data(), value.size() - value_crc_bytes);
    if (crc32c::mask(crc) != stored) {
      *why = "checksum mismatch";
      return false;
    }
    return true;
  }

  // Adds a checked pair. Format 2's digest is the sum of the values' stored checksums (so the
  // writer derives it in the order it puts); format 1's chained CRC-32C over keys and values
  // in key order.
  void add(std::uint32_t format, std::string_view key, std::string_view value) {
    if (format == 1) {
      shard.digest = crc32c::extend(crc32c::extend(shard.digest, key.data(), key.size()),
                                    value.data(), value.size());
    } else {
      shard.digest += load_le<std::uint32_t>(value.data() + value.size() - value_crc_bytes);
    }
    ++shard.entities;
    const std::string_view entity_value = value.substr(0, value.size() - value_crc_bytes);
    auto leading_count = [&] {
      return entity_value.size() >= 4 ? load_le<std::uint32_t>(entity_value.data()) : 0u;
    };
    switch (static_cast<engine::snapshot_table>(key[shard_prefix_bytes])) {
      case engine::snapshot_table::users:
        ++counts.users;
        break;
      case engine::snapshot_table::products:
        ++counts.products;
        break;
      case engine::snapshot_table::campaigns:
        ++counts.campaigns;
        break;
      case engine::snapshot_table::wallets:
        counts.user_coupons += leading_count();  // a wallet starts with its coupon count
        break;
      case engine::snapshot_table::orders:
        counts.orders += leading_count();  // a user's orders start with their count
        break;
      default:
        break;
    }
  }
};

void add_counts(snapshot_counts& to, const snapshot_counts& from) {
  to.users += from.users;
  to.products += from.products;
  to.campaigns += from.campaigns;
  to.user_coupons += from.user_coupons;
  to.orders += from.orders;
}

engine::shard_index shard_of(std::string_view key) {
  return static_cast<engine::shard_index>((static_cast<unsigned char>(key[0]) << 8) |
                                          static_cast<unsigned char>(key[1]));
}

std::string shard_prefix(engine::shard_index shard) {
  return {static_cast<char>(shard >> 8), static_cast<char>(shard & 0xff)};
}

// Format 2 keeps each shard's entities in a database of its own.
std::string shard_db_name(engine::shard_index shard) {
  return "state/" + std::to_string(shard);
}
// A writer's database for the entities put out of walk order, until commit merges them.
std::string changed_db_name(engine::shard_index shard) {
  return "changed/" + std::to_string(shard);
}

struct env_guard {
  MDB_env* env = nullptr;
  ~env_guard() {
    if (env != nullptr) mdb_env_close(env);
  }
};
struct txn_guard {
  MDB_txn* txn = nullptr;
  ~txn_guard() {
    if (txn != nullptr) mdb_txn_abort(txn);
  }
};

std::uint64_t file_bytes(const fs::path& path) {
  std::error_code ec;
  auto size = fs::file_size(path, ec);
  return ec ? 0 : size;
}

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

// ---- writing ---------------------------------------------------------------------------------

struct generation_writer::handles {
  MDB_env* env = nullptr;
  MDB_txn* txn = nullptr;
  std::vector<MDB_dbi> state;     // per shard
  std::vector<MDB_dbi> changed;   // per shard: put() in any order, merged at commit
  std::vector<std::string> last;  // per shard: the highest key appended so far
  std::vector<shard_tally> tallies;
  std::uint64_t txn_bytes = 0;
  std::string key;
  std::string value;
};

generation_writer::generation_writer(const fs::path& dir, engine::lsn_t lsn,
                                     std::uint32_t shard_count)
    : dir_(dir), lsn_(lsn), shard_count_(shard_count), h_(new handles) {
  auto give_up = [&](int rc) {
    if (h_->txn != nullptr) mdb_txn_abort(h_->txn);
    if (h_->env != nullptr) mdb_env_close(h_->env);
    delete h_;
    fail(rc, "cannot create snapshot", dir);
  };
  create_dir(dir);
  try {
    write_file_atomically(dir, writing_marker, "a snapshot is being written here\n", 0644);
  } catch (...) {
    delete h_;
    throw;
  }
  h_->last.resize(shard_count);
  h_->tallies.resize(shard_count);
  // MDB_NOSYNC until the final commit: that one syncs the file, and until then the marker
  // says the folder is incomplete whatever a crash left in it.
  int rc = mdb_env_create(&h_->env);
  if (rc == 0) rc = mdb_env_set_maxdbs(h_->env, 2 * shard_count + 1);
  if (rc == 0) rc = mdb_env_set_mapsize(h_->env, snapshot_map_bytes);
  if (rc == 0) rc = mdb_env_open(h_->env, dir.c_str(), MDB_NOSYNC, 0644);
  if (rc == 0) rc = mdb_txn_begin(h_->env, nullptr, 0, &h_->txn);
  for (engine::shard_index i = 0; rc == 0 && i < shard_count; ++i) {
    MDB_dbi state, changed;
    rc = mdb_dbi_open(h_->txn, shard_db_name(i).c_str(), MDB_CREATE, &state);
    if (rc == 0) rc = mdb_dbi_open(h_->txn, changed_db_name(i).c_str(), MDB_CREATE, &changed);
    h_->state.push_back(state);
    h_->changed.push_back(changed);
  }
  if (rc != 0) give_up(rc);
}

generation_writer::~generation_writer() {
  if (h_->txn != nullptr) mdb_txn_abort(h_->txn);
  if (h_->env != nullptr) mdb_env_close(h_->env);
  delete h_;
}

void generation_writer::frame(engine::shard_index shard, std::string_view key,
                              std::string_view value) {
  if (h_->txn == nullptr) throw snapshot_error("snapshot written after its commit");
  if (shard >= shard_count_) throw snapshot_error("an entity of a shard beyond the shard count");
  h_->key.clear();
  h_->key.push_back(static_cast<char>(shard >> 8));
  h_->key.push_back(static_cast<char>(shard & 0xff));
  h_->key.append(key);
  h_->value.assign(value);
  std::uint32_t crc = crc32c::extend(crc32c::value(h_->key), value.data(), value.size());
  h_->value.append(le_bytes<std::uint32_t>(crc32c::mask(crc)));
}

void generation_writer::store(MDB_dbi_handle dbi, unsigned flags) {
  MDB_val k = as_val(h_->key), v = as_val(h_->value);
  int rc = mdb_put(h_->txn, static_cast<MDB_dbi>(dbi), &k, &v, flags);
  if (rc == MDB_KEYEXIST) throw snapshot_error("a capture wrote one entity twice (a bug)");
  if (rc != 0) fail(rc, "cannot write snapshot", dir_);
  // Bounded memory: LMDB holds a transaction's pages in memory until it commits. An append
  // fills pages; an insert in place may dirty a page of its own (counted as one).
  h_->txn_bytes += h_->key.size() + h_->value.size() + (flags == MDB_APPEND ? 0 : page_bytes);
  if (h_->txn_bytes >= snapshot_txn_bytes_max) next_transaction();
}

void generation_writer::next_transaction() {
  h_->txn_bytes = 0;
  int rc = mdb_txn_commit(h_->txn);  // MDB_NOSYNC: written, not yet synced
  h_->txn = nullptr;
  if (rc == 0) rc = mdb_txn_begin(h_->env, nullptr, 0, &h_->txn);
  if (rc != 0) fail(rc, "cannot write snapshot", dir_);
}

void generation_writer::append(engine::shard_index shard, std::string_view key,
                               std::string_view value) {
  frame(shard, key, value);
  std::string& last = h_->last[shard];
  if (std::string_view(h_->key) == std::string_view(last))
    throw snapshot_error("a capture wrote one entity twice (a bug)");
  if (!last.empty() && std::string_view(h_->key) < std::string_view(last)) {
    // Not above the walk so far: not a walk's key after all; kept apart like a change's.
    store(h_->changed[shard], MDB_NOOVERWRITE);
  } else {
    // At the end of the shard's tree: MDB_APPEND fills its pages instead of splitting them.
    store(h_->state[shard], MDB_APPEND);
    last = h_->key;
  }
  h_->tallies[shard].add(snapshot_store_format, h_->key, h_->value);
  ++entities_;
}

void generation_writer::put(engine::shard_index shard, std::string_view key,
                            std::string_view value) {
  frame(shard, key, value);
  store(h_->changed[shard], MDB_NOOVERWRITE);
  h_->tallies[shard].add(snapshot_store_format, h_->key, h_->value);
  ++entities_;
}

// Moves a shard's `changed` entities into its state database (each lands in a full page and
// splits it: one page per entity a change wrote early), in bounded transactions, then drops
// the `changed` database.
void generation_writer::merge_changed(engine::shard_index shard) {
  std::string after;  // the last key moved (resumed past it after a transaction ends)
  bool more = true;
  while (more) {
    MDB_cursor* cursor = nullptr;
    int rc = mdb_cursor_open(h_->txn, h_->changed[shard], &cursor);
    if (rc != 0) fail(rc, "cannot read snapshot", dir_);
    MDB_val key = as_val(after), value;
    rc = mdb_cursor_get(cursor, &key, &value, after.empty() ? MDB_FIRST : MDB_SET_RANGE);
    if (rc == 0 && !after.empty() && as_view(key) == after)
      rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT);
    more = false;
    for (; rc == 0; rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)) {
      h_->key.assign(as_view(key));
      h_->value.assign(as_view(value));
      MDB_val k = as_val(h_->key), v = as_val(h_->value);
      int put = mdb_put(h_->txn, h_->state[shard], &k, &v, MDB_NOOVERWRITE);
      if (put == MDB_KEYEXIST) {
        mdb_cursor_close(cursor);
        throw snapshot_error("a capture wrote one entity twice (a bug)");
      }
      if (put != 0) {
        mdb_cursor_close(cursor);
        fail(put, "cannot write snapshot", dir_);
      }
      // Into a full page: it splits, two dirty pages.
      h_->txn_bytes += h_->key.size() + h_->value.size() + 2 * page_bytes;
      if (h_->txn_bytes >= snapshot_txn_bytes_max) {
        after = h_->key;
        more = true;
        break;
      }
    }
    mdb_cursor_close(cursor);
    if (rc != 0 && rc != MDB_NOTFOUND) fail(rc, "cannot read snapshot", dir_);
    if (more) next_transaction();
  }
  if (int rc = mdb_drop(h_->txn, h_->changed[shard], 1); rc != 0)
    fail(rc, "cannot write snapshot", dir_);
}

snapshot_info generation_writer::commit(const std::vector<engine::lsn_t>& cuts,
                                        engine::time_ms created_at) {
  if (h_->txn == nullptr) throw snapshot_error("snapshot committed twice");
  if (cuts.size() != shard_count_) throw snapshot_error("a cut per shard is needed");
  snapshot_info info;
  info.dir = dir_;
  info.format = snapshot_store_format;
  info.lsn = lsn_;
  info.created_at = created_at;
  info.entity_format = engine::snapshot_format_version;
  for (const shard_tally& t : h_->tallies) add_counts(info.counts, t.counts);
  for (engine::shard_index i = 0; i < shard_count_; ++i) merge_changed(i);
  // The last entities, then meta in a transaction of its own that syncs the whole file
  // first (LMDB's commit: data pages, fdatasync, meta page).
  int rc = mdb_txn_commit(h_->txn);
  h_->txn = nullptr;
  if (rc == 0) rc = mdb_env_set_flags(h_->env, MDB_NOSYNC, 0);
  if (rc == 0) rc = mdb_txn_begin(h_->env, nullptr, 0, &h_->txn);
  MDB_dbi meta = 0;
  if (rc == 0) rc = mdb_dbi_open(h_->txn, "meta", MDB_CREATE, &meta);
  if (rc != 0) fail(rc, "cannot write snapshot meta", dir_);
  auto put_meta = [&](std::string_view name, std::string_view bytes) {
    MDB_val k = as_val(name), v = as_val(bytes);
    if (int err = mdb_put(h_->txn, meta, &k, &v, 0); err != 0)
      fail(err, "cannot write snapshot meta", dir_);
  };
  put_meta("format", le_bytes<std::uint32_t>(snapshot_store_format));
  put_meta("entity_format", le_bytes<std::uint32_t>(engine::snapshot_format_version));
  put_meta("shard_count", le_bytes<std::uint32_t>(shard_count_));
  put_meta("lsn", le_bytes<std::uint64_t>(lsn_));
  put_meta("created_at", le_bytes<std::int64_t>(created_at));
  put_meta("counts", le_bytes(info.counts.users) + le_bytes(info.counts.products) +
                         le_bytes(info.counts.campaigns) + le_bytes(info.counts.user_coupons) +
                         le_bytes(info.counts.orders));
  for (std::uint32_t i = 0; i < shard_count_; ++i) {
    snapshot_shard s = h_->tallies[i].shard;
    s.cut = cuts[i];
    put_meta(shard_meta_key(i), le_bytes<std::uint64_t>(s.cut) +
                                    le_bytes<std::uint64_t>(s.entities) +
                                    le_bytes<std::uint32_t>(s.digest));
    info.shards.push_back(s);
  }
  rc = mdb_txn_commit(h_->txn);  // fsyncs (the default durability again)
  h_->txn = nullptr;
  if (rc != 0) fail(rc, "cannot commit snapshot", dir_);
  mdb_env_close(h_->env);
  h_->env = nullptr;
  // The snapshot exists from here: the marker goes, and that is made durable.
  std::error_code ec;
  fs::remove(dir_ / writing_marker, ec);
  if (ec) throw io_error(ec.value(), "cannot finish snapshot", dir_ / writing_marker);
  fsync_dir(dir_);
  fsync_dir(dir_.parent_path());
  info.bytes = file_bytes(dir_ / "data.mdb");
  return info;
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
