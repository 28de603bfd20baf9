#include <lmdb.h>

#include "persistence/file_io.h"
#include "persistence/snapshot_layout.h"
#include "persistence/snapshot_store.h"

namespace ecom::persistence {

namespace fs = std::filesystem;
using namespace snapshot_layout;

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

}  // namespace ecom::persistence
