// idempotency_table: the stored first answers to requests that carried an Idempotency-Key,
// owned by the shard of the user in the request's scope. An entry is written in the same
// record as the change it answers (never in a record of its own after it), so a crash can
// never leave a change without the entry that stops its retry from applying it twice.
#pragma once

#include <cstdint>
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

  // The answer a request gets before anything else is checked: the stored reply (replayed), a
  // key_reused error, or nothing when the request should proceed.
  std::optional<reply> screen(entity_id user_id, const idempotency_request& request, time_ms now) const;

  void insert(idempotency_entry entry);
  void sweep(time_ms now);  // forgets entries older than idempotency_ttl_ms
  std::size_t size() const { return entries_.size(); }

  // An optional entry at the end of a record payload: a flag byte, then the fields.
  static void encode(payload_writer& out, const idempotency_entry* entry);
  static std::optional<idempotency_entry> decode(payload_reader& in);

 private:
  static std::string map_key(entity_id user_id, const std::string& scope, const std::string& key);
  std::unordered_map<std::string, idempotency_entry> entries_;
};

// The entry to store for `reply` to `request`, or nothing when the contract says not to store
// it (no key, or a status other than 2xx and 409).
std::optional<idempotency_entry> make_idempotency_entry(entity_id user_id,
                                                        const idempotency_request& request,
                                                        const reply& answer, time_ms now);

}  // namespace ecom::engine
