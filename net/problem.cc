#include "net/problem.h"

#include <cassert>

#include "engine/limits.h"
#include "net/json_writer.h"

namespace ecom::net {

namespace {

std::string_view title_of(std::string_view code) {
  struct entry {
    std::string_view code, title;
  };
  static constexpr entry titles[] = {
      {"MALFORMED_JSON", "Malformed JSON"},
      {"VALIDATION_FAILED", "Validation failed"},
      {"UNAUTHENTICATED", "Unauthenticated"},
      {"INVALID_CREDENTIALS", "Invalid credentials"},
      {"TOO_MANY_ATTEMPTS", "Too many attempts"},
      {"FORBIDDEN", "Forbidden"},
      {"NOT_FOUND", "Not found"},
      {"USER_NOT_FOUND", "User not found"},
      {"PRODUCT_NOT_FOUND", "Product not found"},
      {"COMBINATION_NOT_FOUND", "Combination not found"},
      {"CART_ITEM_NOT_FOUND", "Cart item not found"},
      {"PRODUCT_INACTIVE", "Product inactive"},
      {"OUT_OF_STOCK", "Out of stock"},
      {"CART_FULL", "Cart full"},
      {"COUPON_NOT_FOUND", "Coupon not found"},
      {"COUPON_NOT_ACTIVE", "Coupon not active"},
      {"COUPON_SOLD_OUT", "Coupon sold out"},
      {"COUPON_ALREADY_ISSUED", "Coupon already issued"},
      {"COUPON_NOT_USABLE", "Coupon not usable"},
      {"MIN_ORDER_AMOUNT_NOT_MET", "Minimum order amount not met"},
      {"INSUFFICIENT_BALANCE", "Insufficient balance"},
      {"ORDER_NOT_FOUND", "Order not found"},
      {"ORDER_NOT_PAYABLE", "Order not payable"},
      {"ORDER_NOT_CANCELLABLE", "Order not cancellable"},
      {"METHOD_NOT_ALLOWED", "Method not allowed"},
      {"EMAIL_TAKEN", "Email taken"},
      {"BALANCE_LIMIT_EXCEEDED", "Balance limit exceeded"},
      {"IDEMPOTENCY_KEY_IN_USE", "Idempotency key in use"},
      {"IDEMPOTENCY_KEY_REUSED", "Idempotency key reused"},
      {"PAYLOAD_TOO_LARGE", "Payload too large"},
      {"UNSUPPORTED_MEDIA_TYPE", "Unsupported media type"},
      {"HEADERS_TOO_LARGE", "Request header fields too large"},
      {"NOT_READY", "Not ready"},
      {"OVERLOADED", "Overloaded"},
      {"INTERNAL", "Internal error"},
      {"SNAPSHOT_IN_PROGRESS", "Snapshot in progress"},
      {"SNAPSHOT_FAILED", "Snapshot failed"},
      {"NOT_PRIMARY", "Not primary"},
      {"NOT_STANDBY", "Not standby"},
      {"REPLICA_BEHIND", "Replica behind"},
      {"REPLICATION_UNAVAILABLE", "Replication unavailable"},
  };
  for (const auto& e : titles) {
    if (e.code == code) return e.title;
  }
  return "Error";
}

}  // namespace

http_reply make_problem_reply(const problem& p) {
  http_reply reply;
  reply.status = p.status;
  reply.content_type = "application/problem+json";
  std::string type = "https://ecomd.dev/problems/";
  for (char c : p.code)
    type.push_back(c == '_' ? '-' : static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c));
  json_writer w(reply.body);
  w.begin_object();
  w.key("type").value(type);
  w.key("title").value(title_of(p.code));
  w.key("status").value(static_cast<std::int64_t>(p.status));
  w.key("detail").value(p.detail);
  w.key("code").value(p.code);
  if (!p.field.empty()) w.key("field").value(p.field);
  w.end_object();
  return reply;
}

problem problem_of(engine::errc code) {
  using engine::errc;
  switch (code) {
    case errc::user_not_found:
      return {404, "USER_NOT_FOUND", "the user does not exist", {}};
    case errc::email_taken:
      return {409, "EMAIL_TAKEN", "this email is already registered", {}};
    case errc::invalid_credentials:
      return {401, "INVALID_CREDENTIALS", "email or password is wrong", {}};
    case errc::unauthenticated:
      return {401,
              "UNAUTHENTICATED",
              "the refresh token is unknown, expired, revoked or already used",
              {}};
    case errc::refresh_token_reused:
      return {401,
              "UNAUTHENTICATED",
              "the refresh token was already used: every refresh token of its login is revoked",
              {}};
    case errc::too_many_attempts:
      return {429,
              "TOO_MANY_ATTEMPTS",
              "too many failed logins for this email; retry after Retry-After seconds",
              {}};
    case errc::balance_limit_exceeded:
      return {409,
              "BALANCE_LIMIT_EXCEEDED",
              "the charge would take the balance above " + std::to_string(engine::balance_max),
              {}};
    case errc::idempotency_key_reused:
      return {
          422, "IDEMPOTENCY_KEY_REUSED", "this Idempotency-Key was used with a different body", {}};
    case errc::idempotency_key_in_use:
      return {409,
              "IDEMPOTENCY_KEY_IN_USE",
              "a request with this Idempotency-Key is still in progress",
              {}};
    case errc::product_not_found:
      return {404, "PRODUCT_NOT_FOUND", "the product does not exist", {}};
    case errc::combination_not_found:
      return {404, "COMBINATION_NOT_FOUND", "the product has no such combination", {}};
    case errc::product_inactive:
      return {409, "PRODUCT_INACTIVE", "the product is not on sale", {}};
    case errc::out_of_stock:
      return {409, "OUT_OF_STOCK", "the quantity exceeds the stock", {}};
    case errc::price_out_of_range:
      return {400, "VALIDATION_FAILED",
              "base_price: base_price + additional_price must stay between 0 and " +
                  std::to_string(engine::price_max) + " for every combination",
              "base_price"};
    case errc::stock_out_of_range:
      return {400, "VALIDATION_FAILED",
              "delta: the stock would pass " + std::to_string(engine::stock_max), "delta"};
    case errc::cart_full:
      return {409,
              "CART_FULL",
              "a cart holds at most " + std::to_string(engine::cart_lines_max) + " lines",
              {}};
    case errc::cart_item_not_found:
      return {404, "CART_ITEM_NOT_FOUND", "the cart has no such item", {}};
    case errc::checkout_empty:
      return {400, "VALIDATION_FAILED", "item_ids: the cart is empty", "item_ids"};
    case errc::cart_quantity_too_large:
      return {400, "VALIDATION_FAILED",
              "quantity: the line would hold more than " +
                  std::to_string(engine::cart_line_quantity_max),
              "quantity"};
    case errc::coupon_not_found:
      return {404, "COUPON_NOT_FOUND", "the coupon or campaign does not exist", {}};
    case errc::coupon_not_active:
      return {409,
              "COUPON_NOT_ACTIVE",
              "the campaign is not open (before start_at or from end_at on)",
              {}};
    case errc::coupon_sold_out:
      return {409, "COUPON_SOLD_OUT", "no coupon of this campaign is left", {}};
    case errc::coupon_already_issued:
      return {
          409, "COUPON_ALREADY_ISSUED", "this user already holds a coupon from this campaign", {}};
    case errc::coupon_not_usable:
      return {409, "COUPON_NOT_USABLE",
              "user_coupon_id is not an AVAILABLE, unexpired coupon of this user",
              "user_coupon_id"};
    case errc::min_order_amount_not_met:
      return {409, "MIN_ORDER_AMOUNT_NOT_MET", "the order total is below the coupon's minimum", {}};
    case errc::insufficient_balance:
      return {409, "INSUFFICIENT_BALANCE", "the balance is smaller than the amount to pay", {}};
    case errc::order_not_found:
      return {404, "ORDER_NOT_FOUND", "the order does not exist", {}};
    case errc::order_not_payable:
      return {409,
              "ORDER_NOT_PAYABLE",
              "the order is not PENDING_PAYMENT (or a payment of it is in progress)",
              {}};
    case errc::order_not_cancellable:
      return {409,
              "ORDER_NOT_CANCELLABLE",
              "the order is not PENDING_PAYMENT or PAID (or a payment of it is in progress)",
              {}};
    case errc::overloaded:
      return {503, "OVERLOADED", "a shard queue is full; retry later", {}};
    case errc::not_ready:
      return {503, "NOT_READY", "recovery is still running", {}};
    case errc::not_primary:
      return {
          503, "NOT_PRIMARY", "this server is not the primary: send changes to the primary", {}};
    case errc::replication_unavailable:
      return {503,
              "REPLICATION_UNAVAILABLE",
              "the replication stream did not acknowledge in time; the outcome is unknown: "
              "retry with the same Idempotency-Key",
              {}};
    case errc::ok:
    case errc::internal:
      break;
  }
  return {500, "INTERNAL", "internal error", {}};
}

engine::refusal_set kept_refusals() {
  static const engine::refusal_set kept = [] {
    engine::refusal_set set;
    for (unsigned code = 1; code <= static_cast<unsigned>(engine::errc::internal); ++code) {
      auto e = static_cast<engine::errc>(code);
      if (e != engine::errc::idempotency_key_in_use && problem_of(e).status == 409) set.add(e);
    }
    return set;
  }();
  return kept;
}

http_reply validation_failed(std::string_view field, std::string_view detail) {
  return make_problem_reply({400, "VALIDATION_FAILED",
                             std::string(field) + ": " + std::string(detail), std::string(field)});
}

http_reply malformed_json(std::string_view detail) {
  return make_problem_reply({400, "MALFORMED_JSON", std::string(detail), {}});
}

http_reply unauthenticated(std::string_view detail) {
  http_reply reply = make_problem_reply({401, "UNAUTHENTICATED", std::string(detail), {}});
  reply.header("WWW-Authenticate", "Bearer");
  return reply;
}

http_reply forbidden(std::string_view detail) {
  return make_problem_reply({403, "FORBIDDEN", std::string(detail), {}});
}

http_reply not_found(std::string_view code, std::string_view detail) {
  return make_problem_reply({404, code, std::string(detail), {}});
}

http_reply overloaded() {
  http_reply reply = make_problem_reply(problem_of(engine::errc::overloaded));
  reply.header("Retry-After", "1");
  return reply;
}

http_reply not_ready() {
  http_reply reply = make_problem_reply(problem_of(engine::errc::not_ready));
  reply.header("Retry-After", "1");
  return reply;
}

http_reply internal_error(std::string_view request_id) {
  return make_problem_reply(
      {500, "INTERNAL", "internal error; request id " + std::string(request_id), {}});
}

}  // namespace ecom::net
