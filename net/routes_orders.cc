// Orders, payment, popular products and the order-event feed. Create, checkout, payment and
// cancel are engine::order_flow's, popular products an engine fan-out, the long poll parks on
// the event shard; this file only validates, starts them and renders.
#include <algorithm>
#include <charconv>

#include "net/api.h"
#include "net/json_writer.h"
#include "net/limits.h"
#include "net/order_json.h"
#include "net/problem.h"

namespace ecom::net {

namespace {

const char* const id_rule = "must be a decimal integer in 1..9223372036854775807";

http_reply order_reply(std::uint16_t status, const engine::reply& answer) {
  if (auto problem = problem_reply_of(answer)) return std::move(*problem);
  std::string body;
  render_order(body, std::get<engine::order_view>(answer.body));
  return json_reply(status, std::move(body));
}

// An optional integer query parameter in [min, max]; a reply naming it when malformed.
std::optional<http_reply> integer_param(std::string_view query, std::string_view name,
                                        std::int64_t min, std::int64_t max, std::int64_t& out) {
  auto text = query_param(query, name);
  if (!text) return std::nullopt;
  std::int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  bool digits = !text->empty() && std::all_of(text->begin(), text->end(),
                                              [](char c) { return c >= '0' && c <= '9'; });
  if (!digits || ec != std::errc() || ptr != text->data() + text->size() || value < min ||
      value > max) {
    return validation_failed(
        name, "must be an integer from " + std::to_string(min) + " to " + std::to_string(max));
  }
  out = value;
  return std::nullopt;
}

std::string order_path(std::int64_t user_id, std::int64_t order_id) {
  return "/users/" + std::to_string(user_id) + "/orders/" + std::to_string(order_id);
}

// A create or checkout (201, with Location), a payment or cancel (200).
http_reply created_order_reply(const engine::reply& answer) {
  http_reply created = order_reply(201, answer);
  if (created.status == 201) {
    const auto& order = std::get<engine::order_view>(answer.body);
    created.header("Location", order_path(order.user_id, order.id));
  }
  return created;
}
http_reply changed_order_reply(const engine::reply& answer) {
  return order_reply(200, answer);
}

}  // namespace

void api::post_order(const request_ptr& request, const params& path) {
  auto user_id = authorize_user_path(request, path[0]);
  if (!user_id || !check_content_type(request)) return;
  std::vector<order_item_request> items;
  engine::create_order order;
  order.user_id = *user_id;
  if (auto problem = parse_order_request(request->body, items, order.user_coupon_id))
    return reply(request, std::move(*problem));
  auto key = idempotency_of(request, *user_id, "/users/" + std::to_string(*user_id) + "/orders");
  if (!key) return;
  for (const auto& item : items)
    order.items.push_back(
        engine::order_item_input{item.product_id, item.combination_id, item.quantity, {}});
  order.ttl_ms = options_.order_ttl_s * 1000;
  started(request,
          services_.engine.create_order(std::move(order), std::move(*key),
                                        on_io(request, [this, request](engine::reply&& answer) {
                                          reply(request, keyed_reply(answer, &created_order_reply));
                                        })));
}

void api::post_checkout(const request_ptr& request, const params& path) {
  auto user_id = authorize_user_path(request, path[0]);
  if (!user_id || !check_content_type(request)) return;
  engine::checkout_request checkout;
  checkout.user_id = *user_id;
  if (auto problem =
          parse_checkout_request(request->body, checkout.item_ids, checkout.user_coupon_id))
    return reply(request, std::move(*problem));
  auto key =
      idempotency_of(request, *user_id, "/users/" + std::to_string(*user_id) + "/cart/checkout");
  if (!key) return;
  checkout.ttl_ms = options_.order_ttl_s * 1000;
  started(request,
          services_.engine.checkout(std::move(checkout), std::move(*key),
                                    on_io(request, [this, request](engine::reply&& answer) {
                                      reply(request, keyed_reply(answer, &created_order_reply));
                                    })));
}

void api::post_payment(const request_ptr& request, const params& path) {
  auto user_id = authorize_user_path(request, path[0]);
  if (!user_id) return;
  auto order_id = parse_id(path[1]);
  if (!order_id) return reply(request, validation_failed("order_id", id_rule));
  if (!check_content_type(request)) return;
  auto key = idempotency_of(request, *user_id, order_path(*user_id, *order_id) + "/payment");
  if (!key) return;
  started(request, services_.engine.pay(*user_id, *order_id, std::move(*key),
                                        on_io(request, [this, request](engine::reply&& answer) {
                                          reply(request, keyed_reply(answer, &changed_order_reply));
                                        })));
}

void api::post_cancel(const request_ptr& request, const params& path) {
  auto user_id = authorize_user_path(request, path[0]);
  if (!user_id) return;
  auto order_id = parse_id(path[1]);
  if (!order_id) return reply(request, validation_failed("order_id", id_rule));
  if (!check_content_type(request)) return;
  auto key = idempotency_of(request, *user_id, order_path(*user_id, *order_id) + "/cancel");
  if (!key) return;
  started(request, services_.engine.cancel(*user_id, *order_id, std::move(*key),
                                           on_io(request, [this, request](engine::reply&& answer) {
                                             reply(request,
                                                   keyed_reply(answer, &changed_order_reply));
                                           })));
}

void api::get_orders(const request_ptr& request, const params& path) {
  auto user_id = authorize_user_path(request, path[0]);
  if (!user_id) return;
  page_request page;
  if (auto problem = parse_page(request->query, page)) return reply(request, std::move(*problem));
  std::uint8_t status = 0;
  if (auto text = query_param(request->query, "status")) {
    auto parsed = order_status_from(*text);
    if (!parsed) {
      return reply(request, validation_failed("status",
                                              "must be PENDING_PAYMENT, PAID, PAYMENT_FAILED, "
                                              "CANCELLED, EXPIRED or REFUNDED"));
    }
    status = static_cast<std::uint8_t>(*parsed);
  }
  auto render = [this, request](engine::reply&& answer) {
    if (auto problem = problem_reply_of(answer)) return reply(request, std::move(*problem));
    const auto& orders = std::get<engine::order_page>(answer.body);
    std::string body;
    json_writer w(body);
    w.begin_object().key("items").begin_array();
    for (const auto& order : orders.items) write_order(w, order);
    end_page(w, orders.next_before_id);
    reply(request, json_reply(200, std::move(body)));
  };
  started(request,
          services_.engine.submit(engine::list_orders{*user_id, status, page.cursor_id, page.limit},
                                  on_io(request, std::move(render))));
}

void api::get_order(const request_ptr& request, const params& path) {
  auto user_id = authorize_user_path(request, path[0]);
  if (!user_id) return;
  auto order_id = parse_id(path[1]);
  if (!order_id) return reply(request, validation_failed("order_id", id_rule));
  started(request, services_.engine.submit(engine::get_order{*user_id, *order_id},
                                           on_io(request, [this, request](engine::reply&& answer) {
                                             reply(request, order_reply(200, answer));
                                           })));
}

void api::get_popular(const request_ptr& request, const params&) {
  std::int64_t days = 3, limit = 5;
  if (auto problem = integer_param(request->query, "days", 1, engine::popular_days_max, days))
    return reply(request, std::move(*problem));
  if (auto problem = integer_param(request->query, "limit", 1, engine::popular_items_max, limit))
    return reply(request, std::move(*problem));
  auto render = [this, request, days](engine::reply&& answer) {
    std::string body;
    render_popular(body, static_cast<std::uint32_t>(days),
                   std::get<engine::popular_page>(answer.body).items);
    reply(request, json_reply(200, std::move(body)));
  };
  started(request, services_.engine.popular_products(services_.clock_ms() - days * engine::day_ms,
                                                     static_cast<std::uint32_t>(limit),
                                                     on_io(request, std::move(render))));
}

void api::get_events(const request_ptr& request, const params&) {
  if (!authorize_admin(request)) return;
  std::int64_t after = 0, limit = 100, wait_ms = 0;
  if (auto problem = integer_param(request->query, "after", 0, INT64_MAX, after))
    return reply(request, std::move(*problem));
  if (auto problem = integer_param(request->query, "limit", 1, engine::events_page_max, limit))
    return reply(request, std::move(*problem));
  if (auto problem =
          integer_param(request->query, "wait_ms", 0, engine::event_wait_ms_max, wait_ms))
    return reply(request, std::move(*problem));
  auto page_reply = on_io(request, [this, request](engine::reply&& answer) {
    std::string body;
    render_events(body, std::get<engine::event_page>(answer.body));
    reply(request, json_reply(200, std::move(body)));
  });
  auto first = static_cast<std::uint64_t>(after);
  auto count = static_cast<std::uint32_t>(limit);
  if (wait_ms == 0) {
    return started(
        request, services_.engine.submit(engine::list_events{first, count}, std::move(page_reply)));
  }
  // Long poll: parked on the event shard until an event after `after` is recorded, or wait_ms
  // passes (then an empty page), whichever comes first; the shard decides, on its own thread.
  started(request, services_.engine.watch_events(engine::watch_events{first, count, wait_ms},
                                                 std::move(page_reply)));
}

}  // namespace ecom::net
