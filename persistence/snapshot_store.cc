#include "persistence/snapshot_store.h"

#include <lmdb.h>

#include <algorithm>
#include <cstring>

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

// What commit() and read_snapshot() both derive from the state database in key order.
struct tally {
  std::vector<snapshot_shard> shards;
  snapshot_counts counts;

  explicit tally(std::size_t shard_count) : shards(shard_count) {}

  // False when the stored pair is not one this format writes.
  bool add(std::string_view key, std::string_view value, std::string* why) {
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
    const std::size_t shard =
        (static_cast<unsigned char>(key[0]) << 8) | static_cast<unsigned char>(key[1]);
    if (shard >= shards.size()) {
      *why = "an entity of shard " + std::to_string(shard) + " beyond the shard count";
      return false;
    }
    snapshot_shard& s = shards[shard];
    s.digest = crc32c::extend(crc32c::extend(s.digest, key.data(), key.size()), value.data(),
                              value.size());
    ++s.entities;
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
    return true;
  }
};

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
  if (rc == 0) rc = mdb_env_set_maxdbs(guard.env, 2);
  if (rc == 0) rc = mdb_env_set_mapsize(guard.env, snapshot_map_bytes);
  if (rc == 0) rc = mdb_env_open(guard.env, dir.c_str(), MDB_RDONLY | MDB_NOLOCK, 0644);
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
  if (load_le<std::uint32_t>(format->data()) != snapshot_store_format) {
    check.problem = "meta format " + std::to_string(load_le<std::uint32_t>(format->data())) +
                    " is not " + std::to_string(snapshot_store_format);
    return false;
  }
  snapshot_info& info = check.info;
  info.dir = dir;
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

snapshot_check read_snapshot(const fs::path& dir, const snapshot_entity_fn& on_entity) {
  snapshot_check check = read_snapshot_meta(dir);
  if (check.state != snapshot_state::ok) return check;
  check.state = snapshot_state::damaged;
  env_guard env;
  txn_guard txn;
  MDB_dbi state;
  MDB_cursor* cursor = nullptr;
  int rc = open_read_only(dir, env);
  if (rc == 0) rc = mdb_txn_begin(env.env, nullptr, MDB_RDONLY, &txn.txn);
  if (rc == 0) rc = mdb_dbi_open(txn.txn, "state", 0, &state);
  if (rc == 0) rc = mdb_cursor_open(txn.txn, state, &cursor);
  if (rc != 0) {
    check.problem = std::string("cannot read state: ") + mdb_strerror(rc);
    return check;
  }
  tally seen(check.info.shards.size());
  MDB_val key, value;
  std::string why;
  for (rc = mdb_cursor_get(cursor, &key, &value, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)) {
    const std::string_view k = as_view(key), v = as_view(value);
    if (!seen.add(k, v, &why)) break;
    const auto shard = static_cast<engine::shard_index>((static_cast<unsigned char>(k[0]) << 8) |
                                                        static_cast<unsigned char>(k[1]));
    if (on_entity &&
        !on_entity(shard, k.substr(shard_prefix_bytes), v.substr(0, v.size() - value_crc_bytes))) {
      why = "does not load into the state";
      break;
    }
  }
  if (!why.empty()) {
    const std::string_view k = as_view(key);
    auto entity = engine::snapshot_key::parse(k.substr(std::min(k.size(), shard_prefix_bytes)));
    check.problem =
        "entity " +
        (entity ? "(shard " +
                      std::to_string((static_cast<unsigned char>(k[0]) << 8) |
                                     static_cast<unsigned char>(k[1])) +
                      ", table " + std::to_string(static_cast<int>(entity->table())) + ", " +
                      std::to_string(entity->a()) + ", " + std::to_string(entity->b()) + ")"
                : std::string("with a malformed key")) +
        ": " + why;
    mdb_cursor_close(cursor);
    return check;
  }
  mdb_cursor_close(cursor);
  if (rc != MDB_NOTFOUND) {
    check.problem = std::string("cannot read state: ") + mdb_strerror(rc);
    return check;
  }
  for (std::size_t i = 0; i < seen.shards.size(); ++i) {
    const snapshot_shard& want = check.info.shards[i];
    if (seen.shards[i].entities != want.entities || seen.shards[i].digest != want.digest) {
      check.problem =
          "shard " + std::to_string(i) + " holds " + std::to_string(seen.shards[i].entities) +
          " entities (digest " + std::to_string(seen.shards[i].digest) + "), meta says " +
          std::to_string(want.entities) + " (digest " + std::to_string(want.digest) + ")";
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
  MDB_dbi state = 0;
  MDB_dbi meta = 0;
  std::string key;
  std::string value;
};

generation_writer::generation_writer(const fs::path& dir, engine::lsn_t lsn,
                                     std::uint32_t shard_count)
    : dir_(dir), lsn_(lsn), shard_count_(shard_count), h_(new handles) {
  create_dir(dir);
  int rc = mdb_env_create(&h_->env);
  if (rc == 0) rc = mdb_env_set_maxdbs(h_->env, 2);
  if (rc == 0) rc = mdb_env_set_mapsize(h_->env, snapshot_map_bytes);
  if (rc == 0) rc = mdb_env_open(h_->env, dir.c_str(), 0, 0644);
  if (rc == 0) rc = mdb_txn_begin(h_->env, nullptr, 0, &h_->txn);
  if (rc == 0) rc = mdb_dbi_open(h_->txn, "state", MDB_CREATE, &h_->state);
  if (rc == 0) rc = mdb_dbi_open(h_->txn, "meta", MDB_CREATE, &h_->meta);
  if (rc != 0) {
    if (h_->txn != nullptr) mdb_txn_abort(h_->txn);
    if (h_->env != nullptr) mdb_env_close(h_->env);
    delete h_;
    fail(rc, "cannot create snapshot", dir);
  }
}

generation_writer::~generation_writer() {
  if (h_->txn != nullptr) mdb_txn_abort(h_->txn);
  if (h_->env != nullptr) mdb_env_close(h_->env);
  delete h_;
}

void generation_writer::put(engine::shard_index shard, std::string_view key,
                            std::string_view value) {
  h_->key.clear();
  h_->key.push_back(static_cast<char>(shard >> 8));
  h_->key.push_back(static_cast<char>(shard & 0xff));
  h_->key.append(key);
  h_->value.assign(value);
  std::uint32_t crc = crc32c::extend(crc32c::value(h_->key), value.data(), value.size());
  h_->value.append(le_bytes<std::uint32_t>(crc32c::mask(crc)));
  MDB_val k = as_val(h_->key), v = as_val(h_->value);
  int rc = mdb_put(h_->txn, h_->state, &k, &v, MDB_NOOVERWRITE);
  if (rc == MDB_KEYEXIST) throw snapshot_error("a capture wrote one entity twice (a bug)");
  if (rc != 0) fail(rc, "cannot write snapshot", dir_);
  ++entities_;
}

snapshot_info generation_writer::commit(const std::vector<engine::lsn_t>& cuts,
                                        engine::time_ms created_at) {
  if (h_->txn == nullptr) throw snapshot_error("snapshot committed twice");
  if (cuts.size() != shard_count_) throw snapshot_error("a cut per shard is needed");
  // The digests and counts, from what the transaction holds, in key order.
  tally seen(shard_count_);
  MDB_cursor* cursor = nullptr;
  int rc = mdb_cursor_open(h_->txn, h_->state, &cursor);
  if (rc != 0) fail(rc, "cannot read back snapshot", dir_);
  MDB_val key, value;
  std::string why;
  for (rc = mdb_cursor_get(cursor, &key, &value, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)) {
    if (!seen.add(as_view(key), as_view(value), &why)) break;
  }
  mdb_cursor_close(cursor);
  if (!why.empty()) throw snapshot_error("snapshot read back wrong: " + why);
  if (rc != MDB_NOTFOUND) fail(rc, "cannot read back snapshot", dir_);

  snapshot_info info;
  info.dir = dir_;
  info.lsn = lsn_;
  info.created_at = created_at;
  info.entity_format = engine::snapshot_format_version;
  info.counts = seen.counts;
  auto put_meta = [&](std::string_view name, std::string_view bytes) {
    MDB_val k = as_val(name), v = as_val(bytes);
    if (int err = mdb_put(h_->txn, h_->meta, &k, &v, 0); err != 0)
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
    snapshot_shard s = seen.shards[i];
    s.cut = cuts[i];
    put_meta(shard_meta_key(i), le_bytes<std::uint64_t>(s.cut) +
                                    le_bytes<std::uint64_t>(s.entities) +
                                    le_bytes<std::uint32_t>(s.digest));
    info.shards.push_back(s);
  }
  rc = mdb_txn_commit(h_->txn);  // fsyncs (default durability)
  h_->txn = nullptr;
  if (rc != 0) fail(rc, "cannot commit snapshot", dir_);
  mdb_env_close(h_->env);
  h_->env = nullptr;
  fsync_dir(dir_);  // data.mdb's entry
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
