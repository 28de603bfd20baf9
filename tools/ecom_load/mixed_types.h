// Plain data of the mixed scenario (catalog made at setup, what the clients saw, what the audit
// read back), the audit's verdict over them, and the parsers of the server's JSON answers.
// No I/O here: everything is testable on synthetic data.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tools/ecom_load/replication_stats.h"
#include "tools/ecom_load/request_stats.h"
#include "tools/ecom_load/sale_types.h"

namespace ecom::load {

// The kinds of request a session sends; each has its own counters and histogram.
enum class mixed_op : std::uint8_t {
  browse,            // GET /products, GET /products/{id}
  add_to_cart,       // POST /users/{id}/cart/items
  checkout,          // POST /users/{id}/cart/checkout
  create_order,      // POST /users/{id}/orders
  pay,               // POST /users/{id}/orders/{oid}/payment
  cancel,            // POST /users/{id}/orders/{oid}/cancel
  popular,           // GET /products/popular
  remove_from_cart,  // DELETE /users/{id}/cart/items/{item}: lines of orders that were not paid
  restock,           // POST /admin/products/{id}/combinations/{cid}/stock (admin, one connection)
  // GET /users/{id}/orders/{oid} after the session's last change to the order, with
  // X-Ecomd-Min-Lsn (read-your-writes on a standby): sent only with --read-url.
  order_read,
};
inline constexpr std::size_t mixed_op_count = 10;
// Whether the summaries show op: every op always, except order_read only when it was sent (so
// the output without --read-url is as before).
bool op_shown(mixed_op op, const request_stats& stats);
inline constexpr std::int64_t popular_limit_max = 100;
const char* op_name(mixed_op op);
using op_table = std::array<request_stats, mixed_op_count>;

// ---- setup ----

struct combination_info {
  std::int64_t id = 0;
  std::int64_t price = 0;  // base_price + additional_price
  std::int64_t initial_stock = 0;
};

struct product_info {
  std::int64_t id = 0;
  std::vector<combination_info> combinations;
};

struct coupon_terms {
  std::string type = "FIXED";  // or "PERCENT"
  std::int64_t amount = 0;
  std::int64_t min_order_amount = 0;
};

// FIXED: min(amount, total); PERCENT: floor(total * amount / 100).
std::int64_t discount_for(const coupon_terms& coupon, std::int64_t total);

struct mixed_catalog {
  std::vector<product_info> products;
  coupon_terms coupon;
  std::int64_t campaign_id = 0;
  std::map<std::int64_t, std::int64_t> restocks;   // combination id → stock added after creation
  std::map<std::int64_t, bool> restock_uncertain;  // combinations a restock may have changed
};

// ---- what the clients saw (each user is written by the one connection that owns it) ----

enum class step_result : std::uint8_t {
  none,       // not attempted
  ok,         // 2xx
  rejected,   // 409 with an expected code (the code is kept)
  uncertain,  // no definitive answer (transport failures, or stopped while retrying)
};

struct order_record {
  std::int64_t order_id = 0;
  std::int64_t user_coupon_id = 0;  // sent with the create; 0: none
  std::int64_t final_amount = -1;   // from the 201 body
  step_result payment = step_result::none;
  std::string payment_code;  // problem code of a rejected payment
  step_result cancel = step_result::none;
  std::string cancel_status;  // "status" of the cancel's 200 body
};

struct user_record {
  std::int64_t user_id = 0;
  std::string access_token;
  std::int64_t charged = 0;         // balance charged at setup
  std::int64_t user_coupon_id = 0;  // coupon issued at setup; 0: none
  std::vector<order_record> orders;
  std::int64_t uncertain_creates = 0;  // creates/checkouts without a definitive answer
};

// ---- what the audit read back ----

struct order_line {
  std::int64_t product_id = 0;
  std::int64_t combination_id = 0;
  std::int64_t quantity = 0;
  std::int64_t unit_price = 0;
  std::int64_t line_total = 0;
};

struct server_order {
  std::int64_t id = 0;
  std::int64_t user_id = 0;
  std::string status;
  std::vector<order_line> items;
  std::int64_t total_amount = 0;
  std::int64_t discount_amount = 0;
  std::int64_t final_amount = 0;
  std::int64_t user_coupon_id = 0;  // 0: null
};

struct balance_entry {
  std::int64_t id = 0;
  std::string type;  // CHARGE, USE, REFUND
  std::int64_t amount = 0;
  std::int64_t balance_before = 0;
  std::int64_t balance_after = 0;
  std::int64_t order_id = 0;  // 0: null
};

struct server_coupon {
  std::int64_t id = 0;
  std::string status;               // AVAILABLE, USED, EXPIRED
  std::int64_t fcfs_coupon_id = 0;  // 0: null
};

struct user_snapshot {
  std::int64_t user_id = 0;
  std::string read_error;  // non-empty: the rest is incomplete
  std::int64_t balance = 0;
  std::vector<balance_entry> history;  // as listed (newest first)
  std::vector<server_order> orders;    // every page
  std::vector<server_coupon> coupons;  // every page
};

struct event_record {
  std::int64_t seq = 0;
  std::string type;  // ORDER_PAID, ORDER_REFUNDED
  std::int64_t order_id = 0;
  std::string order_status;  // the order's status in the event
};

struct popular_item {
  std::int64_t rank = 0;
  std::int64_t product_id = 0;
  std::int64_t sold_quantity = 0;
};

struct mixed_server_state {
  std::vector<user_snapshot> users;            // same order as the user records
  std::map<std::int64_t, std::int64_t> stock;  // combination id → stock now
  std::string stock_error;
  std::vector<event_record> events;  // every event from seq 1, in the order read
  std::string events_error;
  std::vector<popular_item> popular;  // GET /products/popular?days=1&limit=100 after the run
  std::string popular_error;
};

// ---- measurements and verdict ----

struct mixed_measurements {
  op_table ops;
  double duration_s = 0;
  std::uint64_t session_count = 0;
  double slot_s = 0.1;
  std::vector<std::uint64_t> requests_per_slot;
  std::vector<std::uint64_t> paid_per_slot;
};

struct mixed_verdict {
  std::int64_t users_audited = 0;
  std::int64_t orders_seen = 0;
  std::map<std::string, std::int64_t> order_status_counts;
  std::int64_t combinations_checked = 0;
  std::int64_t sold_out_combinations = 0;
  std::int64_t coupons_used = 0;
  std::int64_t events_read = 0;
  std::int64_t run_paid_events = 0;
  std::int64_t run_refunded_events = 0;
  std::vector<std::string> failures;
  bool pass() const { return failures.empty(); }
};

struct mixed_summary {
  std::string url;
  std::int64_t user_count = 0;
  std::int64_t product_count = 0;
  std::int64_t combination_count = 0;
  std::int64_t campaign_id = 0;
  int connection_count = 0;
  int thread_count = 0;
  mixed_measurements measurements;
  mixed_verdict result;
  std::optional<replication_report> replication;  // with --read-url only
  std::optional<open_loop_report> open_loop;      // with --rate or --stages only
};

// ---- setup plan (deterministic for a seed) ----

struct mixed_plan {
  std::vector<std::string> product_bodies;  // POST /admin/products bodies
  std::vector<std::int64_t> charges;        // per user index, 1..10,000,000 won
  std::vector<bool> gets_coupon;            // per user index
  coupon_terms coupon;
  std::string coupon_body;  // POST /admin/coupons body
};

// Products: base prices 1,000..30,000 won; about 40 % with options color × size (6
// combinations, additional_price by size), the others a single default combination. Stock is
// sized from the expected demand (users × 30 units, about what their balances buy): about 30 % of
// the combinations get a tenth of it or less, so they sell out during the run, the others 0.5
// to 2 times it. Each user is charged between half an average order and six average orders, so
// some payments fail on balance but not all. A share of the users (coupon_share) gets a FIXED
// 3,000 won coupon with a minimum order of 5,000 won.
mixed_plan plan_mixed_setup(std::int64_t product_count, std::int64_t user_count,
                            double coupon_share, std::uint64_t seed,
                            const std::string& coupon_name);

// What a client's answers allow its order's status to be now; empty: anything (an outcome the
// client does not know).
std::vector<std::string> allowed_statuses(const order_record& record);

// Answers no correct server gives this client, per op: "pay 409 ORDER_NOT_PAYABLE x2". 503
// OVERLOADED and 409 IDEMPOTENCY_KEY_IN_USE are retried and so expected everywhere. Problem
// codes ending in lost_answer_suffix (e.g. a DELETE repeated after a transport failure that
// gets 404) are excused, with their status.
inline constexpr std::string_view lost_answer_suffix = " after a lost answer";
std::vector<std::string> unexpected_answers(const op_table& ops);

// The audit: balances and their history, stock per combination, the clients' 2xx against the
// orders' states, coupons against orders, the event log, popular products (the run's products
// sold = quantities of PAID orders), and unexpected answers. One failure
// line per broken kind, with a few examples.
mixed_verdict judge_mixed(const mixed_catalog& catalog, const std::vector<user_record>& users,
                          const mixed_server_state& server, const op_table& ops);

// ---- parsers (simdjson inside; each returns an empty string or what is wrong) ----

// The top-level fields a session needs from an answer; missing ones keep their defaults.
struct reply_fields {
  std::int64_t id = 0;
  std::string status;
  std::int64_t final_amount = -1;
  std::string code;  // problem+json code
};
bool parse_reply_fields(const std::string& body, reply_fields& out);

std::string parse_order(const std::string& body, server_order& out);
std::string parse_orders_page(const std::string& body, std::vector<server_order>& out,
                              std::string& next_cursor);
std::string parse_balance(const std::string& body, std::int64_t& balance);
std::string parse_balance_page(const std::string& body, std::vector<balance_entry>& out,
                               std::string& next_cursor);
std::string parse_coupons_page(const std::string& body, std::vector<server_coupon>& out,
                               std::string& next_cursor);
std::string parse_events_page(const std::string& body, std::vector<event_record>& out,
                              std::int64_t& last_seq);
std::string parse_popular(const std::string& body, std::vector<popular_item>& out);
// A product object: its id and combinations (id, price, stock as initial_stock).
std::string parse_product(const std::string& body, product_info& out);

// Percent-encodes everything but RFC 3986 unreserved characters (cursors in query strings).
std::string url_encode(std::string_view text);

}  // namespace ecom::load
