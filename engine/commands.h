// Commands a shard accepts and the replies it sends back: plain values that cross threads.
// net/ builds commands from validated requests and renders replies; nothing here points into
// a shard's state.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "engine/catalog_types.h"
#include "engine/coupon_types.h"
#include "engine/errc.h"
#include "engine/order_types.h"
#include "engine/types.h"

namespace ecom::engine {

// ---- replies --------------------------------------------------------------------------------

struct user_view {
  entity_id id = 0;
  std::string name;
  std::string email;
  time_ms created_at = 0;
  time_ms updated_at = 0;
};

struct credentials_view {
  entity_id user_id = 0;
  std::string password_hash;  // empty: the account has no password (bulk users)
};

struct balance_view {
  entity_id user_id = 0;
  std::int64_t balance = 0;
  time_ms updated_at = 0;
};

enum class balance_entry_kind : std::uint8_t { charge = 1, use = 2, refund = 3 };

struct balance_entry {
  entity_id id = 0;
  balance_entry_kind kind = balance_entry_kind::charge;
  std::int64_t amount = 0;
  std::int64_t balance_before = 0;
  std::int64_t balance_after = 0;
  entity_id order_id = 0;  // 0: none
  time_ms created_at = 0;
};

struct history_page {
  std::vector<balance_entry> items;  // newest first
  entity_id next_before_id = 0;      // 0: no more pages
};

struct bulk_user {
  entity_id id = 0;
  std::string email;
};

struct bulk_page {
  std::vector<bulk_user> items;
};

// What an idempotent request answered the first time: replayed byte for byte.
struct stored_reply {
  std::uint16_t status = 0;
  std::string body;
};

struct shard_figures {
  shard_index shard = 0;
  std::uint64_t users = 0;
  std::uint64_t balance_entries = 0;
  std::uint64_t idempotency_entries = 0;
  std::uint64_t products = 0;
  std::uint64_t cart_lines = 0;
  std::uint64_t campaigns = 0;
  std::uint64_t user_coupons = 0;
  std::uint64_t orders = 0;       // of this shard's users
  std::uint64_t stock_holds = 0;  // payments' holds on this shard's stock (paid, not refunded)
  std::uint64_t events = 0;       // the order-event feed's length (event shard; 0 elsewhere)
  lsn_t last_lsn = 0;
};

struct product_page {
  std::vector<product_summary> items;  // active products with id > after_id, ascending
  bool more = false;                   // this shard has further active products
};

struct stock_view {
  entity_id product_id = 0;
  entity_id combination_id = 0;
  std::int64_t stock = 0;
};

struct sale_facts {
  std::vector<sale_fact> items;  // in the order asked
};

struct cart_line {
  entity_id id = 0;
  entity_id product_id = 0;
  entity_id combination_id = 0;
  std::int64_t quantity = 0;
};

// A line with the product facts it was checked against (current at the time of the answer).
struct cart_item_view {
  cart_line line;
  sale_fact fact;
};

struct cart_view {
  std::vector<cart_line> lines;  // in the order first added
};

struct campaign_list {
  std::vector<campaign_view> items;  // ascending id, at most the limit asked
  bool more = false;                 // this shard has further campaigns
};

struct user_coupon_page {
  std::vector<user_coupon_view> items;  // newest first
  entity_id next_before_id = 0;         // 0: no more pages
};

struct coupon_history_page {
  std::vector<coupon_history_entry> items;  // newest first
  entity_id next_before_id = 0;
};

struct order_page {
  std::vector<order_view> items;  // newest first
  entity_id next_before_id = 0;   // 0: no more pages
};

// What the user's shard answers when a payment may start: the order, and whether the balance
// already falls short (then the product shards only check, and take nothing).
struct payment_plan {
  order_view order;
  bool check_only = false;
};

struct popular_page {
  std::vector<popular_item> items;  // more_popular order, at most the limit asked
};

struct event_page {
  std::vector<order_event> items;  // ascending seq
  std::uint64_t last_seq = 0;      // of the last item, or `after` when there is none
};

using reply_body =
    std::variant<std::monostate, user_view, credentials_view, balance_view, history_page, bulk_page,
                 stored_reply, shard_figures, product_view, product_page, stock_view, sale_facts,
                 cart_item_view, cart_view, cart_line, coupon_template, campaign_view,
                 campaign_list, user_coupon_view, user_coupon_page, coupon_history_page, order_view,
                 order_page, payment_plan, popular_page, event_page>;

struct reply {
  errc code = errc::ok;
  reply_body body;
  bool replayed = false;  // body is a stored_reply from an earlier request with the same key
};

// ---- idempotency ----------------------------------------------------------------------------

// Renders a reply into the status and bytes that a retry with the same key must get back.
// Supplied by net/ so that the engine stays free of JSON; called on the shard thread.
using reply_renderer = stored_reply (*)(const reply&);

struct idempotency_request {
  std::string key;    // empty: no Idempotency-Key header
  std::string scope;  // method and concrete path, e.g. "POST /users/5/balance/charge"
  std::array<std::uint8_t, 32> body_sha256{};
  reply_renderer render = nullptr;
};

// ---- commands -------------------------------------------------------------------------------

// Owner: the shard of hash(lowercased email); the id is allocated there (id % N == shard).
struct create_user {
  std::string name;
  std::string email;
  std::string password_hash;
};

struct find_credentials {  // owner: shard of hash(lowercased email)
  std::string email;
};

struct open_session {
  entity_id user_id = 0;
  std::string token_sha256;  // of the refresh token; the token itself is never stored
  time_ms expires_at = 0;
};

struct rotate_session {
  entity_id user_id = 0;
  std::string old_token_sha256;
  std::string new_token_sha256;
  time_ms new_expires_at = 0;
};

struct close_session {
  entity_id user_id = 0;
  std::string token_sha256;
};

struct get_user {
  entity_id user_id = 0;
};

// Creates `count` password-less users on the receiving shard (load-test accounts).
struct bulk_create_users {
  std::uint32_t count = 0;
  std::string name_prefix;
};

struct get_balance {
  entity_id user_id = 0;
};

struct charge_balance {
  entity_id user_id = 0;
  std::int64_t amount = 0;
  idempotency_request idempotency;
};

struct list_balance_history {
  entity_id user_id = 0;
  entity_id before_id = 0;  // 0: start at the newest entry
  std::uint32_t limit = 20;
};

struct get_shard_figures {};

// ---- catalog (owner: product_id % N) --------------------------------------------------------

struct create_product {  // owner: any shard; net spreads them round-robin
  product_spec spec;
};

struct update_product {
  entity_id product_id = 0;
  std::optional<std::string> name;
  std::optional<std::string> description;
  std::optional<std::int64_t> base_price;
  std::optional<bool> is_active;
};

struct adjust_stock {
  entity_id product_id = 0;
  entity_id combination_id = 0;
  std::int64_t delta = 0;
};

struct get_product {
  entity_id product_id = 0;
};

struct list_products {
  entity_id after_id = 0;
  std::uint32_t limit = 20;
};

struct get_sale_facts {
  std::vector<std::pair<entity_id, entity_id>> items;  // (product_id, combination_id)
};

// ---- cart (owner: user_id % N) ----------------------------------------------------------------

// Adds `quantity` to the cart line for the combination (a new line, or merged). `fact` was read
// from the product's owner just before; the check of the resulting quantity uses it.
struct add_cart_item {
  entity_id user_id = 0;
  entity_id product_id = 0;
  entity_id combination_id = 0;
  std::int64_t quantity = 0;
  sale_fact fact;
  idempotency_request idempotency;
};

struct get_cart {
  entity_id user_id = 0;
  // Checkout reads the cart first: a stored answer under its key is replayed from here.
  idempotency_request checkout_key;
};

struct get_cart_line {
  entity_id user_id = 0;
  entity_id item_id = 0;
};

struct set_cart_quantity {
  entity_id user_id = 0;
  entity_id item_id = 0;
  std::int64_t quantity = 0;
  sale_fact fact;
};

struct remove_cart_item {
  entity_id user_id = 0;
  entity_id item_id = 0;
};

// ---- coupons -------------------------------------------------------------------------------

// Owner: any shard (round-robin); the template is then installed on every other shard.
struct create_coupon {
  coupon_template coupon;  // id and created_at are set by the shard
};

// A copy of a durable template for a shard that does not own it (memory only; replay
// installs it on every shard from the owner's record).
struct install_coupon {
  coupon_template coupon;
};

struct create_campaign {  // owner: any shard (round-robin)
  entity_id coupon_id = 0;
  std::int64_t total_quantity = 0;
  time_ms start_at = 0;
  time_ms end_at = 0;
};

struct get_campaign {
  entity_id campaign_id = 0;
};

struct list_campaigns {
  entity_id after_id = 0;  // campaigns with a larger id, ascending
  std::uint32_t limit = 20;
};

// On the campaign's shard: the contract's issue rules, in order; on success one unit is taken
// for the user and the reply carries the user coupon to deliver (the outbox entry).
struct take_coupon {
  entity_id campaign_id = 0;
  entity_id user_id = 0;
  // The Idempotency-Key (render unused here), recorded with the take so that a
  // re-delivery after a crash stores the 201 under the key the client will retry with.
  // Named apart from `idempotency`: this shard does not own the key.
  idempotency_request key_to_store;
};

// On the user's shard: puts a taken coupon in the wallet, at most once per campaign.
struct deliver_coupon {
  user_coupon_view coupon;
  idempotency_request idempotency;
};

// On the user's shard, before an issue with an Idempotency-Key: the stored answer, 409 in
// use, or a claim that holds the key until settle_key or deliver_coupon.
struct claim_key {
  entity_id user_id = 0;
  idempotency_request idempotency;
};

// Ends a claim without a delivery: stores `rejection` when the contract stores it (409), or
// just releases the key.
struct settle_key {
  entity_id user_id = 0;
  idempotency_request idempotency;
  errc rejection = errc::ok;
};

struct list_user_coupons {
  entity_id user_id = 0;
  std::uint8_t status = 0;  // 0: any; else a user_coupon_status
  entity_id before_id = 0;
  std::uint32_t limit = 20;
};

struct list_coupon_history {
  entity_id user_id = 0;
  entity_id before_id = 0;
  std::uint32_t limit = 20;
};

// ---- orders (owner: user_id % N; an order's id is allocated there) ---------------------------

struct order_item_input {
  entity_id product_id = 0;
  entity_id combination_id = 0;
  std::int64_t quantity = 0;  // merged per combination at the edge
  sale_fact fact;             // read from the product's owner just before
};

// Create (or check out): the contract's checks in order, then the order and the coupon USE.
struct create_order {
  entity_id user_id = 0;
  std::vector<order_item_input> items;
  entity_id user_coupon_id = 0;          // 0: none
  std::vector<entity_id> cart_item_ids;  // checkout: must still be in the cart
  time_ms ttl_ms = order_ttl_ms_default;
  idempotency_request idempotency;
};

struct get_order {
  entity_id user_id = 0;
  entity_id order_id = 0;
};

struct list_orders {
  entity_id user_id = 0;
  std::uint8_t status = 0;  // 0: any; else an order_status
  entity_id before_id = 0;
  std::uint32_t limit = 20;
};

// Payment, step 1 on the user's shard: the order must be PENDING_PAYMENT and not already being
// paid; it is then marked as being paid (in memory: what a crash leaves behind is found by the
// stock holds it took, see order_flow) and the key is held until step 3.
struct begin_payment {
  entity_id user_id = 0;
  entity_id order_id = 0;
  idempotency_request idempotency;
};

// Payment, step 3 on the user's shard: what the product shards said (ok, PRODUCT_INACTIVE or
// OUT_OF_STOCK), then the balance: PAID with the debit, or PAYMENT_FAILED with the coupon back.
struct finish_payment {
  entity_id user_id = 0;
  entity_id order_id = 0;
  errc stock_outcome = errc::ok;
  bool check_only = false;  // the balance was short at step 1: fail with INSUFFICIENT_BALANCE
  idempotency_request idempotency;
};

// PENDING_PAYMENT → CANCELLED; PAID → REFUNDED (balance, coupon here; stock, popularity and the
// event are the next hop's).
struct cancel_order {
  entity_id user_id = 0;
  entity_id order_id = 0;
  idempotency_request idempotency;
};

// On the product's owner, keyed by order id (each applies at most once):
struct take_stock {  // payment step 2: all lines of this shard, or none
  entity_id order_id = 0;
  entity_id user_id = 0;
  std::vector<stock_line> lines;
  bool check_only = false;  // only the checks: nothing is taken or written
};
struct release_stock {  // the payment failed: give back what step 2 took
  entity_id order_id = 0;
};
struct commit_sale {  // the payment succeeded: count the sale for popularity at paid_at
  entity_id order_id = 0;
  time_ms paid_at = 0;
};
struct refund_sale {  // the order was refunded: stock back, popularity reduced
  entity_id order_id = 0;
};
struct top_products {  // this shard's most popular products paid at or after `since`
  time_ms since = 0;
  std::uint32_t limit = 5;
};

// ---- order events (owner: the event shard, shard 0) -------------------------------------------

struct record_event {  // at most once per (order, type)
  order_event_type type = order_event_type::paid;
  time_ms at = 0;
  order_view order;
};

struct list_events {
  std::uint64_t after = 0;
  std::uint32_t limit = 100;
};

// A long poll: answered at once when there are events after `after`, else held by the shard
// until one is recorded. `answered` is set by whoever answers first (the shard or the
// requester's timer); the shard drops a held poll whose flag is set.
struct watch_events {
  std::uint64_t after = 0;
  std::uint32_t limit = 100;
  std::shared_ptr<std::atomic<bool>> answered;
};

// Shutdown: every parked long poll is answered now with what it has (usually nothing), so the
// drain does not wait out their wait_ms.
struct release_watches {};

using command_body =
    std::variant<create_user, find_credentials, open_session, rotate_session, close_session,
                 get_user, bulk_create_users, get_balance, charge_balance, list_balance_history,
                 get_shard_figures, create_product, update_product, adjust_stock, get_product,
                 list_products, get_sale_facts, add_cart_item, get_cart, get_cart_line,
                 set_cart_quantity, remove_cart_item, create_coupon, install_coupon,
                 create_campaign, get_campaign, list_campaigns, take_coupon, deliver_coupon,
                 claim_key, settle_key, list_user_coupons, list_coupon_history, create_order,
                 get_order, list_orders, begin_payment, finish_payment, cancel_order, take_stock,
                 release_stock, commit_sale, refund_sale, top_products, record_event, list_events,
                 watch_events, release_watches>;

// Runs once with the reply, on the WAL thread or the shard thread, after every change the
// reply could depend on is durable. It must not block.
using reply_callback = std::function<void(reply&&)>;

struct command {
  command_body body;
  reply_callback done;
  // Optional. For a successful command that wrote records: runs on the shard thread right
  // after the records are appended (not yet durable) instead of `done`, so the next hop of a
  // cross-shard operation can start at once. Its records precede, in the one log, anything the
  // next hop writes, so a reply that waits for the last hop's records covers them too.
  reply_callback applied;
  // The reply only feeds a later step that always writes, in the same log, and whose own reply
  // waits for that write: `done` then runs on the shard thread at once, whatever the outcome,
  // without waiting for durability (the later write's LSN is after everything this step saw
  // or wrote). Used by order_flow for the payment's begin and stock steps.
  bool feeds_a_write = false;
};

}  // namespace ecom::engine
