// idempotency_table: the kept answers to requests that carried an Idempotency-Key, owned by the
// shard of the key's user. An entry is written in the same record as the change it answers
// (never in a record of its own after it), so a crash can never leave a change without the
// entry that stops its retry from applying it twice; a kept refusal, which changes nothing
// else, gets a record of its own (idempotent_reply_stored, applied here).
//
// The table also knows which keys are in use right now: a request whose change is appended but
// not yet durable (so not yet answered), and a multi-step flow's claim. The shard kernel drives
// all of it around each handler (shard_state::run); books only write entries into their records.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/codec.h"
#include "engine/idempotency_key.h"
#include "engine/record.h"
#include "engine/reply.h"
#include "engine/snapshot.h"
#include "engine/types.h"

namespace ecom::engine {

struct idempotency_entry {
  entity_id user_id = 0;
  std::string scope;
  std::string key;
  std::array<std::uint8_t, 32> body_sha256{};
  time_ms created_at = 0;
  // The answer kept: its outcome and value (a stored_reply for an entry of the older format).
  errc code = errc::ok;
  reply_body body;
};

class idempotency_table {
 public:
  explicit idempotency_table(shard_index index) : index_(index) {}

  // The answer a request gets before its handler runs, or nothing when it should proceed:
  // 409 in use while the first request with the key is not yet durable (so not yet answered)
  // or a flow holds the key, the kept answer (replayed), or 422 for another body.
  std::optional<reply> screen(const idempotency_key& key, time_ms now);

  // The shard tells the table what the WAL has made durable, before each command.
  void set_durable_lsn(lsn_t lsn) { durable_lsn_ = lsn; }
  // The key's change got `lsn`: in use until that is durable.
  void mark_in_flight(const idempotency_key& key, lsn_t lsn);
  // A flow holds the key from its first step until a later step settles it.
  void claim(const idempotency_key& key);
  void release(const idempotency_key& key);

  // The entry to keep for `answer` to a request with `key`: success, or a refusal the key's
  // kept_refusals name; nothing otherwise. A replayed answer is never kept again.
  static std::optional<idempotency_entry> entry_for(const idempotency_key& key, const reply& answer,
                                                    time_ms now);

  void insert(idempotency_entry entry);
  // Forgets entries older than idempotency_ttl_ms. Entries expire in the order they were made,
  // so the work is proportional to what expires, not to the table.
  void sweep(time_ms now);
  std::size_t size() const { return entries_.size(); }

  // A kept refusal's record of its own: encoded, applied, appended to `out`.
  void emit(const idempotency_entry& entry, std::vector<record>& out);
  bool apply(record_type type, std::string_view payload);

  // An optional entry at the end of a record payload: a flag byte, then the fields.
  static void encode(payload_writer& out, const idempotency_entry* entry);
  static std::optional<idempotency_entry> decode(payload_reader& in);

  // Snapshot (snapshot.h): kept answers by insert position; claims and in-flight keys are
  // memory only (a key in flight at a crash was not answered: its retry runs again).
  void begin_capture(capture_buffer& out);
  bool capture_step(capture_buffer& out, capture_budget& budget);
  void end_capture();
  bool load(const snapshot_key& key, std::string_view value);
  void end_load();

 private:
  struct kept {
    idempotency_entry entry;
    std::uint64_t position = 0;  // insert order, from 1: the snapshot key
  };
  struct queued {
    time_ms created_at = 0;
    std::string map_key;
    std::uint64_t position = 0;
  };

  // The entry is about to be replaced or erased: its value at the cut is written first.
  void changing(const kept& entry);

  static std::string map_key(entity_id user_id, std::string_view scope, std::string_view key);
  std::optional<reply> kept_answer(const idempotency_key& key, time_ms now) const;

  shard_index index_;
  std::unordered_map<std::string, kept> entries_;
  std::deque<queued> expiry_order_;  // insert order (so created_at and position ascend)
  std::uint64_t position_ = 0;       // the last insert's position
  std::unordered_map<std::string, lsn_t> in_flight_;  // answered only after this LSN
  lsn_t durable_lsn_ = 0;
  std::size_t prune_at_ = 1024;
  capture_buffer* capture_ = nullptr;  // while a capture runs
  capture_range capture_entries_;
};

}  // namespace ecom::engine
