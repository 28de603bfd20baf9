// idempotency_key: what net tells the engine about a request's Idempotency-Key (whose entry it
// is, the key, its scope, the body's hash, and which refusals the contract keeps with the key)
// and what a flow step does with it. The shard kernel does the screening and the bookkeeping
// (shard_state::run); a book only writes the entry into the record of its change.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "engine/errc.h"
#include "engine/types.h"

namespace ecom::engine {

// A set of refusals (errc values).
class refusal_set {
 public:
  constexpr void add(errc code) { bits_ |= std::uint64_t{1} << static_cast<unsigned>(code); }
  constexpr bool contains(errc code) const { return (bits_ >> static_cast<unsigned>(code)) & 1; }

 private:
  std::uint64_t bits_ = 0;
};
static_assert(static_cast<unsigned>(errc::internal) < 64, "refusal_set holds every errc");

struct idempotency_key {
  entity_id user_id = 0;  // the user of the path (coupon issue: the token's user) owns the entry
  std::string key;        // 1..255 visible ASCII, checked by net
  std::string scope;      // method and concrete path, e.g. "POST /users/5/balance/charge"
  std::array<std::uint8_t, 32> body_sha256{};
  // Besides success, which refusals are kept as the key's answer (net: those it renders 409).
  refusal_set kept_refusals;
};

// Shared by the steps of one flow (immutable once made).
using key_ptr = std::shared_ptr<const idempotency_key>;

// What a command's step does with the request's key. The kernel acts on it around the handler:
enum class key_step : std::uint8_t {
  none,
  // Answer from the key first (stored answer: replayed; first request still in flight: 409 in
  // use; other body: 422), else run the handler; its answer is kept with its change, and the
  // key stays "in use" until that change is durable.
  check,
  // As check, and on success the key stays "in use" until a later step of the flow settles it.
  claim,
  // No screening (the flow claimed the key): the answer is kept with the change, and the
  // claim ends (with the change's durability, or at once when nothing was written).
  settle,
};

// An answer stored before answers were kept typed: the status and the bytes first sent.
// Replayed verbatim by net.
struct stored_reply {
  std::uint16_t status = 0;
  std::string body;
};

}  // namespace ecom::engine
