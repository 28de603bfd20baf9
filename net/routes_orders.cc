// Orders, payment, popular products and the order-event feed.
//
// Create: the products' owners tell their facts (hop 1); the user's shard decides in the
// contract's order and records the order with its coupon USE (hop 2). Checkout reads the cart
// first. Payment and cancel are engine::order_flow's (user shard, product shards, event shard);
// this file only validates, starts them and renders. Popular products scatter to every shard;
// the event feed is one shard's, with a long poll that a timer here ends.
#include <algorithm>
#include <atomic>
#include <charconv>

#include "engine/events.h"
#include "engine/order_flow.h"
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

// What a create or checkout answered (201), and a payment or cancel (200), for the key.
engine::stored_reply render_created(const engine::reply& answer) {
  http_reply rendered = order_reply(201, answer);
  return engine::stored_reply{rendered.status, std::move(rendered.body)};
}
engine::stored_reply render_changed(const engine::reply& answer) {
  http_reply rendered = order_reply(200, answer);
  return engine::stored_reply{rendered.status, std::move(rendered.body)};
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

}  // namespace

void api::reply_order_created(const request_ptr& request, engine::reply&& answer) {
  if (answer.replayed)
    return reply(request, stored_reply_to_http(std::get<engine::stored_reply>(answer.body)));
  http_reply created = order_reply(201, answer);
  if (created.status == 201) {
    const auto& order = std::get<engine::order_view>(answer.body);
    created.header("Location", order_path(order.user_id, order.id));
  }
  reply(request, std::move(created));
}

void api::create_order_from(const request_ptr& request, engine::create_order order) {
  std::vector<std::pair<std::int64_t, std::int64_t>> asks;
  for (const auto& item : order.items) asks.emplace_back(item.product_id, item.combination_id);
  read_sale_facts(
      request, std::move(asks),
      [this, request, order = std::move(order)](std::vector<engine::sale_fact>&& facts) mutable {
        for (std::size_t i = 0; i < facts.size(); ++i) order.items[i].fact = std::move(facts[i]);
        order.ttl_ms = options_.order_ttl_s * 1000;
        engine::shard& owner = services_.shards.owner_of_id(order.user_id);
        send(request, owner, std::move(order), [this, request](engine::reply&& answer) {
          reply_order_created(request, std::move(answer));
        });
      });
}

void api::post_order(const request_ptr& request, const params& path) {
  auto user_id = authorize_user_path(request, path[0]);
  if (!user_id || !check_content_type(request)) return;
  std::vector<order_item_request> items;
  engine::create_order order;
  order.user_id = *user_id;
  if (auto problem = parse_order_request(request->body, items, order.user_coupon_id))
    return reply(request, std::move(*problem));
  auto key =
      idempotency_of(request, &render_created, "/users/" + std::to_string(*user_id) + "/orders");
  if (!key) return;
  order.idempotency = std::move(*key);
  for (const auto& item : items)
    order.items.push_back(
        engine::order_item_input{item.product_id, item.combination_id, item.quantity, {}});
  create_order_from(request, std::move(order));
}

void api::post_checkout(const request_ptr& request, const params& path) {
  auto user_id = authorize_user_path(request, path[0]);
  if (!user_id || !check_content_type(request)) return;
  std::optional<std::vector<std::int64_t>> item_ids;
  std::int64_t user_coupon_id = 0;
  if (auto problem = parse_checkout_request(request->body, item_ids, user_coupon_id))
    return reply(request, std::move(*problem));
  auto key = idempotency_of(request, &render_created,
                            "/users/" + std::to_string(*user_id) + "/cart/checkout");
  if (!key) return;
  // Hop 1: the cart (and a stored answer for the key); then as create, with the lines chosen.
  engine::get_cart read{*user_id, *key};
  send(
      request, services_.shards.owner_of_id(*user_id), std::move(read),
      [this, request, user_id = *user_id, item_ids = std::move(item_ids), user_coupon_id,
       key = std::move(*key)](engine::reply&& answer) mutable {
        if (answer.replayed)
          return reply(request, stored_reply_to_http(std::get<engine::stored_reply>(answer.body)));
        if (auto problem = problem_reply_of(answer)) return reply(request, std::move(*problem));
        const auto& lines = std::get<engine::cart_view>(answer.body).lines;
        if (lines.empty())
          return reply(request, validation_failed("item_ids", "the cart is empty"));
        engine::create_order order;
        order.user_id = user_id;
        order.user_coupon_id = user_coupon_id;
        order.idempotency = std::move(key);
        for (const auto& line : lines) {
          if (item_ids && std::find(item_ids->begin(), item_ids->end(), line.id) == item_ids->end())
            continue;
          order.items.push_back(
              engine::order_item_input{line.product_id, line.combination_id, line.quantity, {}});
          order.cart_item_ids.push_back(line.id);
        }
        if (item_ids && order.cart_item_ids.size() != item_ids->size()) {
          return reply(request, make_problem_reply(problem_of(engine::errc::cart_item_not_found)));
        }
        create_order_from(request, std::move(order));
      });
}

void api::post_payment(const request_ptr& request, const params& path) {
  auto user_id = authorize_user_path(request, path[0]);
  if (!user_id) return;
  auto order_id = parse_id(path[1]);
  if (!order_id) return reply(request, validation_failed("order_id", id_rule));
  if (!check_content_type(request)) return;
  auto key = idempotency_of(request, &render_changed, order_path(*user_id, *order_id) + "/payment");
  if (!key) return;
  bool started = services_.orders.pay(
      engine::begin_payment{*user_id, *order_id, std::move(*key)},
      on_io(request, [this, request](engine::reply&& answer) {
        if (answer.replayed)
          return reply(request, stored_reply_to_http(std::get<engine::stored_reply>(answer.body)));
        reply(request, order_reply(200, answer));
      }));
  if (!started) reply(request, overloaded());
}

void api::post_cancel(const request_ptr& request, const params& path) {
  auto user_id = authorize_user_path(request, path[0]);
  if (!user_id) return;
  auto order_id = parse_id(path[1]);
  if (!order_id) return reply(request, validation_failed("order_id", id_rule));
  if (!check_content_type(request)) return;
  auto key = idempotency_of(request, &render_changed, order_path(*user_id, *order_id) + "/cancel");
  if (!key) return;
  bool started = services_.orders.cancel(
      engine::cancel_order{*user_id, *order_id, std::move(*key)},
      on_io(request, [this, request](engine::reply&& answer) {
        if (answer.replayed)
          return reply(request, stored_reply_to_http(std::get<engine::stored_reply>(answer.body)));
        reply(request, order_reply(200, answer));
      }));
  if (!started) reply(request, overloaded());
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
  send(request, services_.shards.owner_of_id(*user_id),
       engine::list_orders{*user_id, status, page.cursor_id, page.limit},
       [this, request](engine::reply&& answer) {
         if (auto problem = problem_reply_of(answer)) return reply(request, std::move(*problem));
         const auto& orders = std::get<engine::order_page>(answer.body);
         std::string body;
         json_writer w(body);
         w.begin_object().key("items").begin_array();
         for (const auto& order : orders.items) write_order(w, order);
         end_page(w, orders.next_before_id);
         reply(request, json_reply(200, std::move(body)));
       });
}

void api::get_order(const request_ptr& request, const params& path) {
  auto user_id = authorize_user_path(request, path[0]);
  if (!user_id) return;
  auto order_id = parse_id(path[1]);
  if (!order_id) return reply(request, validation_failed("order_id", id_rule));
  send(request, services_.shards.owner_of_id(*user_id), engine::get_order{*user_id, *order_id},
       [this, request](engine::reply&& answer) { reply(request, order_reply(200, answer)); });
}

void api::get_popular(const request_ptr& request, const params&) {
  std::int64_t days = 3, limit = 5;
  if (auto problem = integer_param(request->query, "days", 1, engine::popular_days_max, days))
    return reply(request, std::move(*problem));
  if (auto problem = integer_param(request->query, "limit", 1, engine::popular_items_max, limit))
    return reply(request, std::move(*problem));
  engine::top_products ask{services_.clock_ms() - days * engine::day_ms,
                           static_cast<std::uint32_t>(limit)};
  std::vector<std::pair<engine::shard_index, engine::command_body>> asks;
  for (engine::shard_index i = 0; i < services_.shards.size(); ++i) asks.emplace_back(i, ask);
  // Each shard's top `limit` holds every product of the overall top `limit`.
  scatter(request, std::move(asks),
          [this, request, days, limit](std::vector<engine::reply>&& replies) {
            std::vector<engine::popular_item> items;
            for (auto& answer : replies) {
              auto& part = std::get<engine::popular_page>(answer.body).items;
              std::move(part.begin(), part.end(), std::back_inserter(items));
            }
            std::sort(items.begin(), items.end(), engine::more_popular);
            if (items.size() > static_cast<std::size_t>(limit)) items.resize(limit);
            std::string body;
            render_popular(body, static_cast<std::uint32_t>(days), items);
            reply(request, json_reply(200, std::move(body)));
          });
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
  engine::shard& owner = services_.shards.at(engine::event_shard);
  auto page_reply = [this, request](engine::reply&& answer) {
    std::string body;
    render_events(body, std::get<engine::event_page>(answer.body));
    reply(request, json_reply(200, std::move(body)));
  };
  auto first = static_cast<std::uint64_t>(after);
  auto count = static_cast<std::uint32_t>(limit);
  if (wait_ms == 0) return send(request, owner, engine::list_events{first, count}, page_reply);
  // Long poll: whichever comes first answers, the shard (an event) or the timer (nothing new).
  auto answered = std::make_shared<std::atomic<bool>>(false);
  engine::command watch{engine::watch_events{first, count, answered},
                        on_io(request,
                              [answered, page_reply](engine::reply&& answer) mutable {
                                if (!answered->exchange(true)) page_reply(std::move(answer));
                              }),
                        {}};
  if (!owner.post(watch)) return reply(request, overloaded());
  services_.run_later(std::chrono::milliseconds(wait_ms), [answered, page_reply, first]() mutable {
    if (answered->exchange(true)) return;
    engine::event_page empty;
    empty.last_seq = first;
    page_reply(engine::reply{engine::errc::ok, std::move(empty), false});
  });
}

}  // namespace ecom::net
