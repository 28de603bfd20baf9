#include "net/api.h"

#include <array>
#include <charconv>
#include <memory>

#include "net/docs_assets.h"
#include "net/json_writer.h"
#include "net/limits.h"
#include "net/log.h"
#include "net/password_hash_queue.h"
#include "net/problem.h"
#include "persistence/replication_port.h"

namespace ecom::net {

extern const std::string_view openapi_document;  // generated from net/openapi.json

api::api(api_options options, api_services services)
    : options_(std::move(options)), services_(std::move(services)) {}

const std::vector<api::route>& api::routes() {
  using m = http_method;
  static const std::vector<route> table = {
      {m::get, "/healthz", &api::get_healthz, false},
      {m::get, "/readyz", &api::get_readyz, false},
      {m::get, "/metrics", &api::get_metrics, false},
      {m::get, "/openapi.json", &api::get_openapi, false},
      {m::get, "/docs", &api::get_docs, false},
      {m::get, "/docs/{asset}", &api::get_docs_asset, false},
      {m::get, "/admin/stats", &api::get_admin_stats, true},
      {m::post, "/admin/snapshot", &api::post_admin_snapshot, true},
      {m::post, "/admin/promote", &api::post_admin_promote, true},
      {m::get, "/admin/snapshots", &api::get_admin_snapshots, true},
      {m::post, "/users", &api::post_users, true},
      {m::post, "/auth/login", &api::post_login, true},
      {m::post, "/auth/refresh", &api::post_refresh, true},
      {m::post, "/auth/logout", &api::post_logout, true},
      {m::get, "/users/{id}", &api::get_user, true},
      {m::post, "/admin/users/bulk", &api::post_admin_users_bulk, true},
      {m::get, "/users/{id}/balance", &api::get_balance, true},
      {m::post, "/users/{id}/balance/charge", &api::post_charge, true},
      {m::get, "/users/{id}/balance/history", &api::get_balance_history, true},
      {m::post, "/admin/products", &api::post_admin_products, true},
      {m::patch, "/admin/products/{id}", &api::patch_admin_product, true},
      {m::post, "/admin/products/{id}/combinations/{id}/stock", &api::post_admin_stock, true},
      {m::get, "/products", &api::get_products, true},
      {m::get, "/products/popular", &api::get_popular, true},
      {m::get, "/products/{id}", &api::get_product, true},
      {m::post, "/admin/coupons", &api::post_admin_coupons, true},
      {m::post, "/admin/fcfs-coupons", &api::post_admin_campaigns, true},
      {m::get, "/coupons/fcfs", &api::get_campaigns, true},
      {m::get, "/coupons/fcfs/{id}", &api::get_campaign, true},
      {m::post, "/coupons/fcfs/{id}/issue", &api::post_issue, true},
      {m::get, "/users/{id}/coupons", &api::get_user_coupons, true},
      {m::get, "/users/{id}/coupons/history", &api::get_user_coupon_history, true},
      {m::get, "/users/{id}/cart", &api::get_cart, true},
      {m::post, "/users/{id}/cart/items", &api::post_cart_item, true},
      {m::patch, "/users/{id}/cart/items/{id}", &api::patch_cart_item, true},
      {m::del, "/users/{id}/cart/items/{id}", &api::delete_cart_item, true},
      {m::post, "/users/{id}/cart/checkout", &api::post_checkout, true},
      {m::post, "/users/{id}/orders", &api::post_order, true},
      {m::get, "/users/{id}/orders", &api::get_orders, true},
      {m::get, "/users/{id}/orders/{id}", &api::get_order, true},
      {m::post, "/users/{id}/orders/{id}/payment", &api::post_payment, true},
      {m::post, "/users/{id}/orders/{id}/cancel", &api::post_cancel, true},
      {m::get, "/admin/events", &api::get_events, true},
  };
  return table;
}

namespace {

std::string_view method_name(http_method method) {
  switch (method) {
    case http_method::get:
      return "GET";
    case http_method::post:
      return "POST";
    case http_method::put:
      return "PUT";
    case http_method::patch:
      return "PATCH";
    case http_method::del:
      return "DELETE";
    case http_method::head:
      return "HEAD";
    case http_method::options:
      return "OPTIONS";
    case http_method::other:
      break;
  }
  return "OTHER";
}

// Matches "/users/{id}/balance" against a path; {x} takes one non-empty segment.
bool match(std::string_view pattern, std::string_view path, std::array<std::string_view, 2>& out) {
  std::size_t captured = 0;
  while (!pattern.empty() && !path.empty()) {
    if (pattern[0] != '/' || path[0] != '/') return false;
    pattern.remove_prefix(1);
    path.remove_prefix(1);
    auto pattern_end = pattern.find('/');
    auto path_end = path.find('/');
    std::string_view pattern_segment = pattern.substr(0, pattern_end);
    std::string_view path_segment = path.substr(0, path_end);
    if (pattern_segment.starts_with('{')) {
      if (path_segment.empty() || captured >= out.size()) return false;
      out[captured++] = path_segment;
    } else if (pattern_segment != path_segment) {
      return false;
    }
    pattern =
        pattern_end == std::string_view::npos ? std::string_view() : pattern.substr(pattern_end);
    path = path_end == std::string_view::npos ? std::string_view() : path.substr(path_end);
  }
  return pattern.empty() && path.empty();
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::vector<std::string> api::route_labels() {
  std::vector<std::string> labels{"unmatched"};
  for (const route& r : routes())
    labels.push_back(std::string(method_name(r.method)) + " " + std::string(r.pattern));
  return labels;
}

void api::handle(const request_ptr& request) {
  persistence::replication_port* replication = services_.replication;
  if (replication != nullptr && request->has_min_lsn &&
      (request->method == http_method::get || request->method == http_method::head)) {
    // Read-your-writes across servers: a standby waits (bounded) for the LSN the client saw.
    std::uint64_t min_lsn = 0;
    const std::string_view text = request->min_lsn;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), min_lsn);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) {
      return reply(request, validation_failed("X-Ecomd-Min-Lsn",
                                              "must be a decimal LSN (a value of X-Ecomd-Lsn)"));
    }
    if (replication->role() == persistence::replication_role::standby &&
        replication->applied_lsn() < min_lsn) {
      return replication->when_applied(
          min_lsn, persistence::replica_wait_ms_max, [this, request](bool reached) {
            request->run_on_io([this, request, reached] {
              if (reached) return dispatch(request);
              http_reply answer = make_problem_reply(
                  {503,
                   "REPLICA_BEHIND",
                   "this standby has not applied the requested LSN within 1 s: retry, or read "
                   "from the primary",
                   {}});
              answer.header("Retry-After", "1");
              reply(request, std::move(answer));
            });
          });
    }
  }
  dispatch(request);
}

void api::dispatch(const request_ptr& request) {
  const auto& table = routes();
  std::string allow;
  for (std::size_t i = 0; i < table.size(); ++i) {
    params captured{};
    if (!match(table[i].pattern, request->path, captured)) continue;
    // HEAD is GET without the body (the server drops it), as RFC 9110 requires.
    http_method method = request->method == http_method::head ? http_method::get : request->method;
    if (table[i].method != method) {
      if (!allow.empty()) allow += ", ";
      allow += method_name(table[i].method);
      if (table[i].method == http_method::get) allow += ", HEAD";
      continue;
    }
    request->route_index = i + 1;
    if (table[i].needs_ready && !services_.ready.load(std::memory_order_acquire)) {
      return reply(request, not_ready());
    }
    return (this->*table[i].fn)(request, captured);
  }
  if (!allow.empty()) {
    http_reply answer = make_problem_reply(
        {405,
         "METHOD_NOT_ALLOWED",
         std::string(request->method_text) + " is not allowed on " + std::string(request->path),
         {}});
    answer.header("Allow", allow);
    return reply(request, std::move(answer));
  }
  reply(request, not_found("NOT_FOUND", "no route for " + std::string(request->path)));
}

void api::reply(const request_ptr& request, http_reply&& answer) {
  persistence::replication_port* replication = services_.replication;
  if (replication == nullptr) return request->respond(std::move(answer));
  const bool change = request->method != http_method::get && request->method != http_method::head;
  // A change's 2xx carries (and in stream-ack mode waits for) the LSN held when the engine
  // answered: at or after the change's own. Other answers: what the server holds now.
  const engine::lsn_t lsn =
      change && request->answered_lsn != 0 ? request->answered_lsn : replication->applied_lsn();
  // Stream-ack mode: a change's success (or a replay of it) leaves once the stream holds it.
  if (change && answer.status >= 200 && answer.status < 300 && replication->acks_from_stream() &&
      request->path != "/admin/promote" && request->path != "/admin/snapshot") {
    auto held = std::make_shared<http_reply>(std::move(answer));
    return replication->when_acked(lsn, [this, request, held, lsn](bool acked) {
      request->run_on_io([this, request, held, lsn, acked] {
        if (acked) return send(request, std::move(*held), lsn);
        // Not acknowledged: fenced by another primary, or the stream silent past the timeout.
        const auto why = services_.replication->status().fenced
                             ? engine::errc::not_primary
                             : engine::errc::replication_unavailable;
        send(request, *problem_reply_of(engine::refusal(why)),
             services_.replication->applied_lsn());
      });
    });
  }
  send(request, std::move(answer), lsn);
}

void api::send(const request_ptr& request, http_reply&& answer, engine::lsn_t lsn) {
  if (services_.replication != nullptr) {
    char digits[24];
    const auto end = std::to_chars(digits, digits + sizeof digits, lsn).ptr;
    answer.header("X-Ecomd-Lsn", std::string(digits, static_cast<std::size_t>(end - digits)));
  }
  request->respond(std::move(answer));
}

// ---- auth --------------------------------------------------------------------------------------

std::optional<api::principal> api::authenticate(const request_ptr& request) {
  std::string_view header = request->authorization;
  constexpr std::string_view scheme = "bearer ";
  bool bearer = header.size() > scheme.size();
  for (std::size_t i = 0; bearer && i < scheme.size(); ++i) {
    char c = header[i];
    bearer = (c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c) == scheme[i];
  }
  if (!bearer) {
    reply(request, unauthenticated("an Authorization: Bearer token is required"));
    return std::nullopt;
  }
  std::string_view token = header.substr(scheme.size());
  if (!options_.admin_token.empty() && constant_time_equal(token, options_.admin_token)) {
    return principal{true, 0};
  }
  auto claims = services_.signer.verify(token, now_s());
  if (!claims) {
    reply(request, unauthenticated("the access token is invalid or expired"));
    return std::nullopt;
  }
  return principal{false, claims->user_id};
}

std::optional<std::int64_t> api::authorize_user_path(const request_ptr& request,
                                                     std::string_view id_text) {
  auto who = authenticate(request);
  if (!who) return std::nullopt;
  auto id = parse_id(id_text);
  if (!id) {
    reply(request, validation_failed("id", "must be a decimal integer in 1..9223372036854775807"));
    return std::nullopt;
  }
  if (!who->admin && who->user_id != *id) {
    reply(request, forbidden("this token belongs to another user"));
    return std::nullopt;
  }
  return id;
}

bool api::authorize_admin(const request_ptr& request) {
  auto who = authenticate(request);
  if (!who) return false;
  if (!who->admin) {
    reply(request, forbidden("this route needs the admin token"));
    return false;
  }
  return true;
}

// A body with a Content-Type other than application/json (parameters allowed) is 415; a
// missing Content-Type is accepted.
bool api::check_content_type(const request_ptr& request) {
  if (!request->has_body || request->content_type.empty()) return true;
  std::string_view type = request->content_type;
  type = type.substr(0, type.find(';'));
  while (!type.empty() && type.back() == ' ') type.remove_suffix(1);
  std::string lowered(type);
  for (char& c : lowered) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  if (lowered == "application/json") return true;
  reply(request, make_problem_reply(
                     {415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type must be application/json", {}}));
  return false;
}

void api::started(const request_ptr& request, bool ok) {
  if (!ok) reply(request, overloaded());
}

engine::reply_callback api::on_io(const request_ptr& request, engine::reply_callback done) const {
  return [request, done = std::move(done),
          replication = services_.replication](engine::reply&& answer) mutable {
    if (replication != nullptr) request->answered_lsn = replication->answer_lsn();
    // Called once: the callback moves on (a copy would copy everything it captured).
    request->run_on_io([done = std::move(done), answer = std::move(answer)]() mutable {
      done(std::move(answer));
    });
  };
}

std::optional<engine::key_ptr> api::idempotency_of(const request_ptr& request, std::int64_t user_id,
                                                   std::string canonical_path) {
  if (!request->has_idempotency_key) return engine::key_ptr{};
  std::string_view key = request->idempotency_key;
  if (!idempotency_key_valid(key)) {
    reply(request, validation_failed("Idempotency-Key",
                                     "must be 1 to " + std::to_string(idempotency_key_length_max) +
                                         " visible ASCII characters"));
    return std::nullopt;
  }
  auto out = std::make_shared<engine::idempotency_key>();
  out->user_id = user_id;
  out->key = key;
  out->scope = std::string(request->method_text) + " " + canonical_path;
  out->body_sha256 = sha256(request->body);
  out->kept_refusals = kept_refusals();
  return engine::key_ptr(std::move(out));
}

// ---- shared helpers
// ------------------------------------------------------------------------------

bool idempotency_key_valid(std::string_view key) {
  bool visible = !key.empty() && key.size() <= idempotency_key_length_max;
  for (char c : key) visible = visible && c >= 0x21 && c <= 0x7e;
  return visible;
}

std::optional<std::int64_t> parse_id(std::string_view text) {
  if (text.empty() || text.size() > 19) return std::nullopt;
  std::int64_t id = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || ptr != text.data() + text.size() || id < 1) return std::nullopt;
  return id;
}

std::optional<std::string> query_param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    auto eq = pair.find('=');
    if (pair.substr(0, eq) != name) continue;
    std::string_view raw = eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    std::string value;
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '%' && i + 2 < raw.size() + 0 && hex_value(raw[i + 1]) >= 0 &&
          hex_value(raw[i + 2]) >= 0) {
        value.push_back(static_cast<char>(hex_value(raw[i + 1]) * 16 + hex_value(raw[i + 2])));
        i += 2;
      } else {
        value.push_back(raw[i] == '+' ? ' ' : raw[i]);
      }
    }
    return value;
  }
  return std::nullopt;
}

void end_page(json_writer& w, std::int64_t last_id) {
  w.end_array().key("next_cursor");
  if (last_id == 0) {
    w.null();
  } else {
    w.value(make_cursor(last_id));
  }
  w.end_object();
}

std::string make_cursor(std::int64_t id) {
  return base64url_encode("c:" + std::to_string(id));
}

std::optional<http_reply> parse_page(std::string_view query, page_request& out) {
  if (auto limit = query_param(query, "limit")) {
    auto value = parse_id(*limit);
    if (!value || *value > engine::page_items_max) {
      return validation_failed(
          "limit", "must be an integer from 1 to " + std::to_string(engine::page_items_max));
    }
    out.limit = static_cast<std::uint32_t>(*value);
  }
  if (auto cursor = query_param(query, "cursor")) {
    auto raw = base64url_decode(*cursor);
    std::optional<std::int64_t> id;
    if (raw && raw->starts_with("c:")) id = parse_id(std::string_view(*raw).substr(2));
    if (!id) return validation_failed("cursor", "is not a cursor this server handed out");
    out.cursor_id = *id;
  }
  return std::nullopt;
}

http_reply json_reply(std::uint16_t status, std::string body) {
  http_reply answer;
  answer.status = status;
  answer.body = std::move(body);
  return answer;
}

std::optional<http_reply> problem_reply_of(const engine::reply& answer) {
  if (answer.code == engine::errc::ok) return std::nullopt;
  if (answer.code == engine::errc::overloaded) return overloaded();  // with Retry-After
  if (answer.code == engine::errc::not_ready) return not_ready();
  http_reply reply = make_problem_reply(problem_of(answer.code));
  if (reply.status == 503) reply.header("Retry-After", "1");
  return reply;
}

http_reply keyed_reply(const engine::reply& answer, http_reply (*render)(const engine::reply&)) {
  if (!answer.replayed) return render(answer);
  http_reply replayed;
  if (const auto* bytes = std::get_if<engine::stored_reply>(&answer.body)) {
    replayed.status = bytes->status;
    replayed.body = bytes->body;
  } else {
    http_reply first = render(answer);
    replayed.status = first.status;
    replayed.body = std::move(first.body);
  }
  if (replayed.status >= 400) replayed.content_type = "application/problem+json";
  replayed.header("Idempotent-Replayed", "true");
  return replayed;
}

// ---- operations routes
// -----------------------------------------------------------------------------

void api::get_healthz(const request_ptr& request, const params&) {
  reply(request, json_reply(200, R"({"status":"ok"})"));
}

void api::get_readyz(const request_ptr& request, const params&) {
  if (!services_.ready.load(std::memory_order_acquire)) return reply(request, not_ready());
  reply(request, json_reply(200, R"({"status":"ready"})"));
}

void api::get_metrics(const request_ptr& request, const params&) {
  http_reply answer;
  answer.content_type = "text/plain; version=0.0.4; charset=utf-8";
  services_.render_http_metrics(answer.body);
  services_.render_runtime_metrics(answer.body);
  std::string& out = answer.body;
  out +=
      "# HELP ecomd_refresh_token_reuse_detected_total Rotated refresh tokens presented again "
      "(each revoked its family).\n# TYPE ecomd_refresh_token_reuse_detected_total counter\n"
      "ecomd_refresh_token_reuse_detected_total " +
      std::to_string(refresh_reuse_detected_.load(std::memory_order_relaxed)) + "\n";
  out +=
      "# HELP ecomd_logins_throttled_total Logins answered 429 TOO_MANY_ATTEMPTS.\n"
      "# TYPE ecomd_logins_throttled_total counter\necomd_logins_throttled_total " +
      std::to_string(logins_throttled_.load(std::memory_order_relaxed)) + "\n";
  if (services_.hashing != nullptr) {
    out +=
        "# HELP ecomd_password_hash_queue_depth Password hashes waiting for a thread.\n"
        "# TYPE ecomd_password_hash_queue_depth gauge\necomd_password_hash_queue_depth " +
        std::to_string(services_.hashing->depth()) + "\n";
    out +=
        "# HELP ecomd_password_hash_refused_total Sign-ups and logins refused 503 because "
        "the hash queue or the email's share of it was full.\n"
        "# TYPE ecomd_password_hash_refused_total counter\necomd_password_hash_refused_total " +
        std::to_string(services_.hashing->refused()) + "\n";
  }
  reply(request, std::move(answer));
}

void api::get_openapi(const request_ptr& request, const params&) {
  reply(request, json_reply(200, std::string(openapi_document)));
}

void api::get_docs(const request_ptr& request, const params&) {
  http_reply answer;
  answer.content_type = "text/html; charset=utf-8";
  answer.body = std::string(docs_page_html());
  answer.header("Cache-Control", "no-cache");
  reply(request, std::move(answer));
}

void api::get_docs_asset(const request_ptr& request, const params& ids) {
  const docs_asset* asset = find_docs_asset(ids[0]);
  if (asset == nullptr) {
    return reply(request, not_found("NOT_FOUND", "no file " + std::string(ids[0]) +
                                                     " in the documentation page's assets"));
  }
  http_reply answer;
  answer.content_type = asset->content_type;
  answer.body = std::string(asset->bytes);
  answer.header("Cache-Control", "public, max-age=3600");
  answer.header("X-Content-Type-Options", "nosniff");
  reply(request, std::move(answer));
}

void api::get_admin_stats(const request_ptr& request, const params&) {
  if (!authorize_admin(request)) return;
  auto render = [this, request](engine::reply&& answer) {
    std::string body;
    json_writer w(body);
    w.begin_object().key("shards").begin_array();
    for (const auto& f : std::get<engine::shard_figures_list>(answer.body).shards) {
      w.begin_object();
      w.key("shard").value(static_cast<std::int64_t>(f.shard));
      w.key("queue_depth")
          .value(static_cast<std::uint64_t>(services_.engine.mailbox_depth(f.shard)));
      w.key("queue_depth_max")
          .value(static_cast<std::uint64_t>(services_.engine.mailbox_depth_max()));
      w.key("users").value(f.users);
      w.key("balance_entries").value(f.balance_entries);
      w.key("idempotency_entries").value(f.idempotency_entries);
      w.key("products").value(f.products);
      w.key("cart_lines").value(f.cart_lines);
      w.key("campaigns").value(f.campaigns);
      w.key("user_coupons").value(f.user_coupons);
      w.key("orders").value(f.orders);
      w.key("stock_holds").value(f.stock_holds);
      w.key("events").value(f.events);
      w.key("last_applied_lsn").value(f.last_lsn);
      w.end_object();
    }
    w.end_array();
    render_persistence_stats(w);
    render_replication_stats(w);
    w.end_object();
    reply(request, json_reply(200, std::move(body)));
  };
  started(request, services_.engine.shard_figures(on_io(request, std::move(render))));
}

}  // namespace ecom::net
