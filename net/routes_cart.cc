// Cart: the user's shard owns the lines; every stock and sale-status check reads the facts from
// the product's owner by message first (nothing is cached or reserved).
#include <map>
#include <mutex>

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

// What an added cart item answered, for the idempotency entry stored with it.
engine::stored_reply render_added_item(const engine::reply& answer) {
  http_reply rendered = cart_item_reply(201, answer);
  return engine::stored_reply{rendered.status, std::move(rendered.body)};
}

const char* const id_rule = "must be a decimal integer in 1..9223372036854775807";

}  // namespace

void api::read_sale_facts(const request_ptr& request,
                          std::vector<std::pair<std::int64_t, std::int64_t>> items,
                          facts_callback done) {
  // Group the pairs by owner shard, remembering where each answer goes.
  std::map<engine::shard_index, std::vector<std::size_t>> by_shard;
  for (std::size_t i = 0; i < items.size(); ++i) {
    by_shard[engine::owner_of(items[i].first, services_.shards.size())].push_back(i);
  }
  std::vector<std::pair<engine::shard_index, engine::command_body>> asks;
  std::vector<std::vector<std::size_t>> positions;
  for (auto& [shard, where] : by_shard) {
    engine::get_sale_facts ask;
    for (std::size_t position : where) ask.items.push_back(items[position]);
    asks.emplace_back(shard, std::move(ask));
    positions.push_back(std::move(where));
  }
  scatter(request, std::move(asks),
          [count = items.size(), positions = std::move(positions),
           done = std::move(done)](std::vector<engine::reply>&& replies) {
            std::vector<engine::sale_fact> facts(count);
            for (std::size_t s = 0; s < replies.size(); ++s) {
              auto& part = std::get<engine::sale_facts>(replies[s].body).items;
              for (std::size_t k = 0; k < positions[s].size() && k < part.size(); ++k) {
                facts[positions[s][k]] = std::move(part[k]);
              }
            }
            done(std::move(facts));
          });
}

void api::get_cart(const request_ptr& request, const params& path) {
  auto user_id = authorize_user_path(request, path[0]);
  if (!user_id) return;
  send(request, services_.shards.owner_of_id(*user_id), engine::get_cart{*user_id, {}},
       [this, request](engine::reply&& answer) {
         if (auto problem = problem_reply_of(answer)) return reply(request, std::move(*problem));
         auto lines = std::make_shared<std::vector<engine::cart_line>>(
             std::move(std::get<engine::cart_view>(answer.body).lines));
         std::vector<std::pair<std::int64_t, std::int64_t>> asks;
         for (const auto& line : *lines) asks.emplace_back(line.product_id, line.combination_id);
         read_sale_facts(request, std::move(asks),
                         [this, request, lines](std::vector<engine::sale_fact>&& facts) {
                           std::string body;
                           json_writer w(body);
                           std::int64_t total = 0;
                           w.begin_object().key("items").begin_array();
                           for (std::size_t i = 0; i < lines->size(); ++i) {
                             std::string one;
                             render_cart_item(one, (*lines)[i], facts[i]);
                             w.raw(one);
                             total += cart_line_total((*lines)[i], facts[i]);
                           }
                           w.end_array().key("total_amount").value(total).end_object();
                           reply(request, json_reply(200, std::move(body)));
                         });
       });
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
  auto idempotency = idempotency_of(request, &render_added_item,
                                    "/users/" + std::to_string(*user_id) + "/cart/items");
  if (!idempotency) return;
  // Hop 1: the product's owner tells what it knows; hop 2: the user's shard decides, in the
  // contract's order (user, stored key, product, combination, quantity, sale status, cart
  // size, stock), against those facts.
  read_sale_facts(
      request, {{product_id, combination_id}},
      [this, request, user_id = *user_id, product_id, combination_id, quantity,
       idempotency = std::move(*idempotency)](std::vector<engine::sale_fact>&& facts) mutable {
        engine::add_cart_item add{user_id,  product_id,          combination_id,
                                  quantity, std::move(facts[0]), std::move(idempotency)};
        send(request, services_.shards.owner_of_id(user_id), std::move(add),
             [this, request](engine::reply&& answer) {
               if (answer.replayed) {
                 return reply(request,
                              stored_reply_to_http(std::get<engine::stored_reply>(answer.body)));
               }
               reply(request, cart_item_reply(201, answer));
             });
      });
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
  engine::shard& owner = services_.shards.owner_of_id(*user_id);
  // Hop 1: which combination the line holds; hop 2: its facts; hop 3: set the quantity.
  send(request, owner, engine::get_cart_line{*user_id, *item_id},
       [this, request, &owner, user_id = *user_id, item_id = *item_id,
        quantity](engine::reply&& answer) {
         if (auto problem = problem_reply_of(answer)) return reply(request, std::move(*problem));
         const auto& line = std::get<engine::cart_line>(answer.body);
         read_sale_facts(
             request, {{line.product_id, line.combination_id}},
             [this, request, &owner, user_id, item_id,
              quantity](std::vector<engine::sale_fact>&& facts) {
               send(request, owner,
                    engine::set_cart_quantity{user_id, item_id, quantity, std::move(facts[0])},
                    [this, request](engine::reply&& answer) {
                      reply(request, cart_item_reply(200, answer));
                    });
             });
       });
}

void api::delete_cart_item(const request_ptr& request, const params& path) {
  auto user_id = authorize_user_path(request, path[0]);
  if (!user_id) return;
  auto item_id = parse_id(path[1]);
  if (!item_id) return reply(request, validation_failed("item_id", id_rule));
  send(request, services_.shards.owner_of_id(*user_id),
       engine::remove_cart_item{*user_id, *item_id}, [this, request](engine::reply&& answer) {
         if (auto problem = problem_reply_of(answer)) return reply(request, std::move(*problem));
         http_reply done;
         done.status = 204;
         done.content_type = {};
         reply(request, std::move(done));
       });
}

}  // namespace ecom::net
