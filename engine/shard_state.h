// shard_state: everything one shard owns (its books) and the single dispatch from a command to
// the one book that handles it and from a record to the one book that applies it, with the
// Idempotency-Key bookkeeping around the handler. Pure and single-threaded: the shard runs it
// on its own thread, replay feeds it records before the shard starts, and the engine tests
// drive it directly, so tests and production share one dispatch.
//
//   run(command):  key screening (key_step check/claim) → the book's handle() → a record of
//                  its own for a kept refusal that wrote nothing → reply
//   apply(record): the book that owns the record type → apply() (false: does not decode or
//                  does not fit the state; replay reports corruption)
//
// Every command type has exactly one handler and every record type exactly one owner; both
// are checked at compile time (command) and by an exhaustive switch (record).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/campaigns.h"
#include "engine/cart.h"
#include "engine/catalog.h"
#include "engine/command.h"
#include "engine/events.h"
#include "engine/idempotency.h"
#include "engine/orders.h"
#include "engine/sales.h"
#include "engine/user_book.h"
#include "engine/wallets.h"

namespace ecom::engine {

// The commands the shard runtime answers itself (see control_commands.h), not a book.
template <class C>
inline constexpr bool is_control_command =
    std::is_same_v<C, get_shard_figures> || std::is_same_v<C, watch_events> ||
    std::is_same_v<C, release_watches> || std::is_same_v<C, catch_up_expiry> ||
    std::is_same_v<C, begin_snapshot> || std::is_same_v<C, apply_log>;

// The book that applies each record type (shard_state::book_of).
enum class record_book : std::uint8_t {
  users,
  keys,
  catalog,
  carts,
  campaigns,
  wallets,
  orders,
  sales,
  events,
};

class shard_state {
 public:
  shard_state(shard_index index, std::uint32_t shard_count,
              std::size_t login_throttle_emails_max = login_throttle_emails_max_default);
  shard_state(const shard_state&) = delete;
  shard_state& operator=(const shard_state&) = delete;

  // Runs one (book) command: the key's screening, the handler, a kept refusal's record.
  // Records go to `out`. After the caller appended them it calls settle_key with their LSN.
  reply run(const command_body& body, key_step use, const idempotency_key* key, time_ms now,
            std::vector<record>& out);
  // The key's bookkeeping once the command's records have an LSN (0: it wrote none), given
  // the outcome of run().
  void settle_key(key_step use, const idempotency_key* key, errc code, bool replayed, lsn_t lsn);

  bool apply(record_type type, std::string_view payload);
  // The one book that applies records of `type` (an exhaustive switch: a new record type
  // without an owner does not compile). nullopt: a type this build does not know.
  static std::optional<record_book> book_of(record_type type);

  // Periodic work that needs no request: forget old idempotency entries and old popularity,
  // expire coupons and pending orders (bounded per call). Returns what expired.
  expiry_counts tick(time_ms now, std::vector<record>& out);
  // The part of tick that writes no record (old idempotency entries, old popularity): also
  // what a following shard (a standby) does, whose expiries come in the primary's log.
  void forget_old(time_ms now);
  shard_figures figures() const;
  // Every invariant the books keep (balance = history, campaign counts, one coupon per
  // campaign and user, stock within bounds, a gap-free feed); empty when all hold.
  std::vector<std::string> check_invariants() const;
  // Sizes the hash maps that a flash sale fills for the shard's user count (see
  // campaign_book::size_for_users); cheap unless the user count doubled.
  void size_for_users();

  // Snapshot (snapshot.h). begin_capture: the state now is the state at the cut; each book
  // writes its header and notes what it holds. capture_step walks the books in table order
  // (true when all are done); end_capture forgets the marks. Between them every change writes
  // an entity's value at the cut first (the books' changing()).
  void begin_capture(capture_buffer& out);
  bool capture_step(capture_buffer& out, capture_budget& budget);
  void end_capture();
  bool capturing() const { return capturing_; }
  // The whole state at once (tests and tools): entities in key order.
  std::string save();
  // Loads one entity into a shard that has not started (false: it does not decode or does not
  // fit); end_load rebuilds the derived indexes once every entity is in. Templates made by
  // other shards are installed by the caller (campaign_book::templates_made).
  bool load(std::string_view key, std::string_view value);
  void end_load();

  shard_index index() const { return index_; }

  // The books. Public for the shard runtime, recovery planning (before the shard runs) and
  // tests; nothing outside the shard's thread may touch them once it runs.
  idempotency_table keys;
  user_book users;
  catalog_book catalog;
  cart_book carts;
  campaign_book campaigns;
  wallet_book wallets;
  order_book orders;
  sales_book sales;
  event_book events;

 private:
  template <class C>
  reply dispatch(const C& command, step_context& ctx);

  shard_index index_;
  bool capturing_ = false;
  std::size_t capture_book_ = 0;  // the book capture_step is walking
};

}  // namespace ecom::engine
