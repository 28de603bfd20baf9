// Catalog: admin product creation, update and stock; public product list and detail.
#include <algorithm>

#include "engine/product_rules.h"
#include "net/api.h"
#include "net/catalog_json.h"
#include "net/json_reader.h"
#include "net/json_writer.h"
#include "net/problem.h"

namespace ecom::net {

namespace {

http_reply product_reply(std::uint16_t status, const engine::reply& answer) {
  if (auto problem = problem_reply_of(answer)) return std::move(*problem);
  std::string body;
  render_product(body, std::get<engine::product_view>(answer.body));
  return json_reply(status, std::move(body));
}

}  // namespace

void api::post_admin_products(const request_ptr& request, const params&) {
  if (!authorize_admin(request) || !check_content_type(request)) return;
  engine::product_input input;
  if (auto problem = parse_product_input(request->body, input))
    return reply(request, std::move(*problem));
  engine::product_spec spec;
  if (auto violation = engine::validate_product(input, spec)) {
    return reply(request, validation_failed(violation->field, violation->detail));
  }
  // Products are spread over the shards round-robin; the shard allocates an id it owns.
  auto index =
      next_product_shard_.fetch_add(1, std::memory_order_relaxed) % services_.shards.size();
  send(request, services_.shards.at(index), engine::create_product{std::move(spec)},
       [this, request](engine::reply&& answer) {
         http_reply created = product_reply(201, answer);
         if (answer.code == engine::errc::ok) {
           created.header(
               "Location",
               "/products/" + std::to_string(std::get<engine::product_view>(answer.body).id));
         }
         reply(request, std::move(created));
       });
}

void api::patch_admin_product(const request_ptr& request, const params& path) {
  if (!authorize_admin(request)) return;
  auto id = parse_id(path[0]);
  if (!id)
    return reply(request,
                 validation_failed("id", "must be a decimal integer in 1..9223372036854775807"));
  if (!check_content_type(request)) return;
  engine::update_product patch;
  if (auto problem = parse_product_patch(request->body, patch))
    return reply(request, std::move(*problem));
  patch.product_id = *id;
  send(request, services_.shards.owner_of_id(*id), std::move(patch),
       [this, request](engine::reply&& answer) { reply(request, product_reply(200, answer)); });
}

void api::post_admin_stock(const request_ptr& request, const params& path) {
  if (!authorize_admin(request)) return;
  auto product_id = parse_id(path[0]);
  if (!product_id)
    return reply(request,
                 validation_failed("id", "must be a decimal integer in 1..9223372036854775807"));
  auto combination_id = parse_id(path[1]);
  if (!combination_id) {
    return reply(request,
                 validation_failed("cid", "must be a decimal integer in 1..9223372036854775807"));
  }
  if (!check_content_type(request)) return;
  std::int64_t delta = 0;
  field_spec fields[] = {integer_field("delta", delta, -engine::stock_max, engine::stock_max)};
  if (auto problem = read_json_object(request->body, fields))
    return reply(request, std::move(*problem));
  send(request, services_.shards.owner_of_id(*product_id),
       engine::adjust_stock{*product_id, *combination_id, delta},
       [this, request](engine::reply&& answer) {
         if (auto problem = problem_reply_of(answer)) return reply(request, std::move(*problem));
         const auto& stock = std::get<engine::stock_view>(answer.body);
         std::string body;
         json_writer w(body);
         w.begin_object();
         w.key("product_id").value(stock.product_id);
         w.key("combination_id").value(stock.combination_id);
         w.key("stock").value(stock.stock);
         w.end_object();
         reply(request, json_reply(200, std::move(body)));
       });
}

void api::get_product(const request_ptr& request, const params& path) {
  auto id = parse_id(path[0]);
  if (!id)
    return reply(request,
                 validation_failed("id", "must be a decimal integer in 1..9223372036854775807"));
  send(request, services_.shards.owner_of_id(*id), engine::get_product{*id},
       [this, request](engine::reply&& answer) { reply(request, product_reply(200, answer)); });
}

// Every shard returns its active products after the cursor (at most `limit`); merged by id.
void api::get_products(const request_ptr& request, const params&) {
  page_request page;
  if (auto problem = parse_page(request->query, page)) return reply(request, std::move(*problem));
  std::vector<std::pair<engine::shard_index, engine::command_body>> asks;
  for (engine::shard_index i = 0; i < services_.shards.size(); ++i) {
    asks.emplace_back(i, engine::list_products{page.cursor_id, page.limit});
  }
  scatter(request, std::move(asks),
          [this, request, limit = page.limit](std::vector<engine::reply>&& replies) {
            std::int64_t last_id = 0;
            auto items = merge_pages<engine::product_page>(replies, limit, last_id);
            std::string body;
            json_writer w(body);
            w.begin_object().key("items").begin_array();
            for (const auto& summary : items) {
              std::string one;
              render_product_summary(one, summary);
              w.raw(one);
            }
            end_page(w, last_id);
            reply(request, json_reply(200, std::move(body)));
          });
}

}  // namespace ecom::net
