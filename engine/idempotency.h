// idempotency_table: the stored first answers to requests that carried an Idempotency-Key,
// owned by the shard of the user in the request's scope. An entry is written in the same
// record as the change it answers (never in a record of its own after it), so a crash can
// never leave a change without the entry that stops its retry from applying it twice.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>

#include "engine/codec.h"
#include "engine/commands.h"
#include "engine/types.h"

namespace ecom::engine {

struct idempotency_entry {
  entity_id user_id = 0;
  std::string scope;
  std::string key;
  std::array<std::uint8_t, 32> body_sha256{};
  stored_reply answer;
  time_ms created_at = 0;
};

class idempotency_table {
 public:
  enum class verdict : std::uint8_t { absent, replay, key_reused };

  // What a request with this key and body gets: to proceed, the stored answer, or 422.
  verdict check(entity_id user_id, const idempotency_request& request, time_ms now,
                stored_reply* answer) const;

  // The answer a request gets before anything else is checked: 409 in use while the first
  // request with the key is not yet durable (so not yet answered), the stored reply
  // (replayed), a key_reused error, or nothing when the request should proceed.
  std::optional<reply> screen(entity_id user_id, const idempotency_request& request, time_ms now);

  // The shard tells the table, before each command, what the WAL has made durable, and after
  // each command that stored an entry, the LSN the entry's record got.
  void set_durable_lsn(lsn_t lsn) { durable_lsn_ = lsn; }
  void mark_in_flight(entity_id user_id, const idempotency_request& request, lsn_t lsn);
  // A multi-hop request holds its key from its first hop until its record is written
  // (mark_in_flight) or it ends without one (release).
  void claim(entity_id user_id, const idempotency_request& request);
  void release(entity_id user_id, const idempotency_request& request);

  void insert(idempotency_entry entry);
  // Forgets entries older than idempotency_ttl_ms. Entries expire in the order they were
  // made, so the work is proportional to what expires, not to the table.
  void sweep(time_ms now);
  std::size_t size() const { return entries_.size(); }

  // An optional entry at the end of a record payload: a flag byte, then the fields.
  static void encode(payload_writer& out, const idempotency_entry* entry);
  static std::optional<idempotency_entry> decode(payload_reader& in);

 private:
  static std::string map_key(entity_id user_id, const std::string& scope, const std::string& key);
  std::unordered_map<std::string, idempotency_entry> entries_;
  std::deque<std::pair<time_ms, std::string>> expiry_order_;  // (created_at, map key)
  std::unordered_map<std::string, lsn_t> in_flight_;          // answered only after this LSN
  lsn_t durable_lsn_ = 0;
  std::size_t prune_at_ = 1024;
};

// The entry to store for `reply` to `request`, or nothing when the contract says not to store
// it (no key, or a status other than 2xx and 409).
std::optional<idempotency_entry> make_idempotency_entry(entity_id user_id,
                                                        const idempotency_request& request,
                                                        const reply& answer, time_ms now);

}  // namespace ecom::engine
