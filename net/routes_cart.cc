// Cart: the user's shard owns the lines; every stock and sale-status check reads the facts from
// the product's owner first (engine::cart_flow). This file validates, starts and renders.
#include "net/api.h"
#include "net/catalog_json.h"
#include "net/json_reader.h"
#include "net/json_writer.h"
#include "net/limits.h"
#include "net/problem.h"

namespace ecom::net {

namespace {

http_reply cart_item_reply(std::uint16_t status, const engine::reply& answer) {
  if (auto problem = problem_reply_of(answer)) return std::move(*problem);
  const auto& item = std::get<engine::cart_item_view>(answer.body);
  std::string body;
  render_cart_item(body, item.line, item.fact);
  return json_reply(status, std::move(body));
}

http_reply added_item_reply(const engine::reply& answer) {
  return cart_item_reply(201, answer);
}

const char* const id_rule = "must be a decimal integer in 1..9223372036854775807";

}  // namespace

void api::get_cart(const request_ptr& request, const params& path) {
  auto user_id = authorize_user_path(request, path[0]);
  if (!user_id) return;
  auto render = [this, request](engine::reply&& answer) {
    if (auto problem = problem_reply_of(answer)) return reply(request, std::move(*problem));
    const auto& contents = std::get<engine::cart_contents>(answer.body);
    std::string body;
    json_writer w(body);
    std::int64_t total = 0;
    w.begin_object().key("items").begin_array();
    for (const auto& item : contents.items) {
      std::string one;
      render_cart_item(one, item.line, item.fact);
      w.raw(one);
      total += cart_line_total(item.line, item.fact);
    }
    w.end_array().key("total_amount").value(total).end_object();
    reply(request, json_reply(200, std::move(body)));
  };
  started(request, services_.engine.read_cart(*user_id, on_io(request, std::move(render))));
}

void api::post_cart_item(const request_ptr& request, const params& path) {
  auto user_id = authorize_user_path(request, path[0]);
  if (!user_id || !check_content_type(request)) return;
  std::int64_t product_id = 0, combination_id = 0, quantity = 0;
  field_spec fields[] = {integer_field("product_id", product_id, 1, path_id_max),
                         integer_field("combination_id", combination_id, 1, path_id_max),
                         integer_field("quantity", quantity, 1, engine::cart_line_quantity_max)};
  if (auto problem = read_json_object(request->body, fields))
    return reply(request, std::move(*problem));
  auto key =
      idempotency_of(request, *user_id, "/users/" + std::to_string(*user_id) + "/cart/items");
  if (!key) return;
  // The product's owner tells what it knows, then the user's shard decides in the contract's
  // order (user, stored key, product, combination, quantity, sale status, cart size, stock).
  started(request, services_.engine.add_cart_item(
                       engine::add_cart_item{*user_id, product_id, combination_id, quantity, {}},
                       std::move(*key), on_io(request, [this, request](engine::reply&& answer) {
                         reply(request, keyed_reply(answer, &added_item_reply));
                       })));
}

void api::patch_cart_item(const request_ptr& request, const params& path) {
  auto user_id = authorize_user_path(request, path[0]);
  if (!user_id) return;
  auto item_id = parse_id(path[1]);
  if (!item_id) return reply(request, validation_failed("item_id", id_rule));
  if (!check_content_type(request)) return;
  std::int64_t quantity = 0;
  field_spec fields[] = {integer_field("quantity", quantity, 1, engine::cart_line_quantity_max)};
  if (auto problem = read_json_object(request->body, fields))
    return reply(request, std::move(*problem));
  started(request,
          services_.engine.set_cart_quantity(
              *user_id, *item_id, quantity, on_io(request, [this, request](engine::reply&& answer) {
                reply(request, cart_item_reply(200, answer));
              })));
}

void api::delete_cart_item(const request_ptr& request, const params& path) {
  auto user_id = authorize_user_path(request, path[0]);
  if (!user_id) return;
  auto item_id = parse_id(path[1]);
  if (!item_id) return reply(request, validation_failed("item_id", id_rule));
  auto render = [this, request](engine::reply&& answer) {
    if (auto problem = problem_reply_of(answer)) return reply(request, std::move(*problem));
    http_reply done;
    done.status = 204;
    done.content_type = {};
    reply(request, std::move(done));
  };
  started(request, services_.engine.submit(engine::remove_cart_item{*user_id, *item_id},
                                           on_io(request, std::move(render))));
}

}  // namespace ecom::net
