// api: the HTTP contract of ../shared/API.md on top of the engine's gateway. Routes a request,
// checks auth, validates the body at this edge, starts the engine request or flow, and renders
// its reply. It coordinates nothing: what crosses shards is an engine flow. No Beast here:
// requests come in as request_context and leave through request_context::respond.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/gateway.h"
#include "net/auth.h"
#include "net/http_types.h"

namespace ecom::persistence {
class snapshotter;
class replication_port;
}  // namespace ecom::persistence

namespace ecom::net {

class json_writer;
class password_hash_queue;

struct api_options {
  std::string admin_token;  // empty: no admin access
  std::int64_t access_token_ttl_s = 900;
  std::int64_t refresh_token_ttl_s = 30LL * 24 * 3600;
  std::int64_t bulk_token_ttl_s = 48LL * 3600;  // the contract asks for >= 24 h
  std::uint32_t kdf_iterations = 100'000;
  std::int64_t order_ttl_s = 900;  // a pending order expires this long after it was made
};

struct api_services {
  engine::gateway& engine;
  const token_signer& signer;
  // Runs slow work (password hashing) off the network threads.
  std::function<void(std::function<void()>)> offload;
  // Appends the non-HTTP metrics (WAL, shards) in Prometheus text format.
  std::function<void(std::string&)> render_runtime_metrics;
  // Fills the WAL part of /admin/stats.
  std::function<void(std::string&)> render_wal_stats;
  std::function<void(std::string&)> render_http_metrics;
  // Snapshots: null until recovery has finished (then 503 NOT_READY is what routes see first).
  const std::atomic<persistence::snapshotter*>& snapshots;
  const std::atomic<bool>& ready;
  std::function<std::int64_t()> clock_ms;
  // Replication (OPERATIONS.md §3): null when this server neither publishes nor follows.
  persistence::replication_port* replication = nullptr;
  // Password hashing for sign-up and login (bounded, fair per email); null: through offload,
  // unbounded (the fuzz harness, whose loop is single-threaded).
  password_hash_queue* hashing = nullptr;
};

class api {
 public:
  api(api_options options, api_services services);

  // Labels for metrics, indexed by request_context::route_index (0 = unmatched).
  static std::vector<std::string> route_labels();

  // Entry point from the server, on a network thread.
  void handle(const request_ptr& request);

 private:
  struct principal {
    bool admin = false;
    std::int64_t user_id = 0;
  };
  using params = std::array<std::string_view, 2>;
  using handler = void (api::*)(const request_ptr&, const params&);
  struct route {
    http_method method;
    std::string_view pattern;
    handler fn;
    bool needs_ready;
  };
  static const std::vector<route>& routes();

  // ---- shared steps (api.cc) -----------------------------------------------------------------
  void reply(const request_ptr& request, http_reply&& answer);
  std::optional<principal> authenticate(const request_ptr& request);
  // 401 / 400 / 403 in the contract's order; the user id of the path on success.
  std::optional<std::int64_t> authorize_user_path(const request_ptr& request,
                                                  std::string_view id_text);
  bool authorize_admin(const request_ptr& request);
  bool check_content_type(const request_ptr& request);
  // Wraps an engine reply callback so that it runs on the request's network thread; a
  // replicating server notes the LSN it held when the engine answered (answered_lsn).
  engine::reply_callback on_io(const request_ptr& request, engine::reply_callback done) const;
  // After starting an engine request: answers 503 OVERLOADED itself when the engine could not
  // start it (a full mailbox).
  void started(const request_ptr& request, bool ok);
  // The request's Idempotency-Key for `user_id`, scoped to `canonical_path` (the path rebuilt
  // from the parsed ids, so /users/05/... and /users/5/... share a scope): null without the
  // header; nullopt (and a 400 sent) when malformed.
  std::optional<engine::key_ptr> idempotency_of(const request_ptr& request, std::int64_t user_id,
                                                std::string canonical_path);
  std::int64_t now_s() const { return services_.clock_ms() / 1000; }

  // ---- operations (api.cc) -------------------------------------------------------------------
  void get_healthz(const request_ptr&, const params&);
  void get_readyz(const request_ptr&, const params&);
  void get_metrics(const request_ptr&, const params&);
  void get_openapi(const request_ptr&, const params&);
  void get_docs(const request_ptr&, const params&);
  void get_docs_asset(const request_ptr&, const params&);
  void get_admin_stats(const request_ptr&, const params&);
  void post_admin_snapshot(const request_ptr&, const params&);
  void get_admin_snapshots(const request_ptr&, const params&);
  void post_admin_promote(const request_ptr&, const params&);
  void render_persistence_stats(json_writer& w);
  void render_replication_stats(json_writer& w);
  // Routes the request (after a standby's X-Ecomd-Min-Lsn wait, if any).
  void dispatch(const request_ptr& request);
  // Sends the answer with X-Ecomd-Lsn: `lsn` (a replicating server only).
  void send(const request_ptr& request, http_reply&& answer, engine::lsn_t lsn);

  // ---- users and sessions (routes_users.cc) --------------------------------------------------
  void post_users(const request_ptr&, const params&);
  void post_login(const request_ptr&, const params&);
  void post_refresh(const request_ptr&, const params&);
  void post_logout(const request_ptr&, const params&);
  void get_user(const request_ptr&, const params&);
  void post_admin_users_bulk(const request_ptr&, const params&);
  // A login's new session (a new rotation family); forgets the email's failed logins.
  void open_session_and_reply(const request_ptr& request, std::int64_t user_id);
  http_reply tokens_reply(std::int64_t user_id, const std::string& refresh_token);
  // Runs `job` (a password hash) on the hashing queue under the email's key; when the queue or
  // the email's share of it is full, answers 503 OVERLOADED instead.
  // Returns false when it answered 503.
  bool hash_off_thread(const request_ptr& request, const std::string& email,
                       std::function<void()> job);
  // A login's password did not match: counted by the email's throttle, then 401.
  void fail_login(const request_ptr& request, const std::string& email);
  // 401 for a refresh token that was refused; a reused one (its family now revoked) is counted.
  http_reply refresh_refused(engine::errc code);

  // ---- balance (routes_balance.cc) -----------------------------------------------------------
  void get_balance(const request_ptr&, const params&);
  void post_charge(const request_ptr&, const params&);
  void get_balance_history(const request_ptr&, const params&);

  // ---- catalog (routes_catalog.cc) -----------------------------------------------------------
  void post_admin_products(const request_ptr&, const params&);
  void patch_admin_product(const request_ptr&, const params&);
  void post_admin_stock(const request_ptr&, const params&);
  void get_products(const request_ptr&, const params&);
  void get_product(const request_ptr&, const params&);

  // ---- cart (routes_cart.cc) -----------------------------------------------------------------
  void get_cart(const request_ptr&, const params&);
  void post_cart_item(const request_ptr&, const params&);
  void patch_cart_item(const request_ptr&, const params&);
  void delete_cart_item(const request_ptr&, const params&);

  // ---- coupons (routes_coupons.cc) -----------------------------------------------------------
  void post_admin_coupons(const request_ptr&, const params&);
  void post_admin_campaigns(const request_ptr&, const params&);
  void get_campaigns(const request_ptr&, const params&);
  void get_campaign(const request_ptr&, const params&);
  void post_issue(const request_ptr&, const params&);
  void get_user_coupons(const request_ptr&, const params&);
  void get_user_coupon_history(const request_ptr&, const params&);

  // ---- orders (routes_orders.cc) -------------------------------------------------------------
  void post_order(const request_ptr&, const params&);
  void post_checkout(const request_ptr&, const params&);
  void post_payment(const request_ptr&, const params&);
  void post_cancel(const request_ptr&, const params&);
  void get_orders(const request_ptr&, const params&);
  void get_order(const request_ptr&, const params&);
  void get_popular(const request_ptr&, const params&);
  void get_events(const request_ptr&, const params&);

  api_options options_;
  api_services services_;
  // Since start, for /metrics: rotated refresh tokens presented again (each revoked a family),
  // and logins answered 429 TOO_MANY_ATTEMPTS.
  std::atomic<std::uint64_t> refresh_reuse_detected_{0};
  std::atomic<std::uint64_t> logins_throttled_{0};
};

// ---- helpers shared by the route files (api.cc) ----------------------------------------------

// A path id: a decimal integer in 1..2^63-1.
std::optional<std::int64_t> parse_id(std::string_view text);
// An Idempotency-Key header's value: 1 to idempotency_key_length_max visible ASCII characters.
bool idempotency_key_valid(std::string_view key);
// The value of a query parameter, percent-decoded; nullopt when absent.
std::optional<std::string> query_param(std::string_view query, std::string_view name);
// limit (1..100, default 20) and an opaque cursor holding an id; a reply when either is bad.
struct page_request {
  std::uint32_t limit = engine::page_items_default;
  std::int64_t cursor_id = 0;
};
std::optional<http_reply> parse_page(std::string_view query, page_request& out);
std::string make_cursor(std::int64_t id);
class json_writer;
// Ends a list page: closes `items`, writes "next_cursor" (a cursor after `last_id`, or null
// when last_id is 0) and closes the object.
void end_page(json_writer& w, std::int64_t last_id);
http_reply json_reply(std::uint16_t status, std::string body);

// A reply's problem, or nullopt when it is ok.
std::optional<http_reply> problem_reply_of(const engine::reply& answer);
// The reply of a route that honours Idempotency-Key: `render(answer)`, or for a replayed
// answer the status and body the first request got (rendered again from the kept value, or
// the kept bytes of an older entry) with `Idempotent-Replayed: true`.
http_reply keyed_reply(const engine::reply& answer, http_reply (*render)(const engine::reply&));

}  // namespace ecom::net
