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
  auto render = [this, request](engine::reply&& answer) {
    http_reply created = product_reply(201, answer);
    if (answer.code == engine::errc::ok) {
      created.header("Location",
                     "/products/" + std::to_string(std::get<engine::product_view>(answer.body).id));
    }
    reply(request, std::move(created));
  };
  started(request, services_.engine.create_product(std::move(spec), on_io(request, render)));
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
  started(request, services_.engine.submit(std::move(patch),
                                           on_io(request, [this, request](engine::reply&& a) {
                                             reply(request, product_reply(200, a));
                                           })));
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
  auto render = [this, request](engine::reply&& answer) {
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
  };
  started(request,
          services_.engine.submit(engine::adjust_stock{*product_id, *combination_id, delta},
                                  on_io(request, std::move(render))));
}

void api::get_product(const request_ptr& request, const params& path) {
  auto id = parse_id(path[0]);
  if (!id)
    return reply(request,
                 validation_failed("id", "must be a decimal integer in 1..9223372036854775807"));
  started(request, services_.engine.submit(engine::get_product{*id},
                                           on_io(request, [this, request](engine::reply&& a) {
                                             reply(request, product_reply(200, a));
                                           })));
}

// Every shard returns its active products after the cursor (at most `limit`), merged by id
// (an engine fan-out).
void api::get_products(const request_ptr& request, const params&) {
  page_request page;
  if (auto problem = parse_page(request->query, page)) return reply(request, std::move(*problem));
  auto render = [this, request](engine::reply&& answer) {
    const auto& merged = std::get<engine::product_page>(answer.body);
    std::string body;
    json_writer w(body);
    w.begin_object().key("items").begin_array();
    for (const auto& summary : merged.items) {
      std::string one;
      render_product_summary(one, summary);
      w.raw(one);
    }
    end_page(w, merged.next_after_id);
    reply(request, json_reply(200, std::move(body)));
  };
  started(request, services_.engine.list_products(page.cursor_id, page.limit,
                                                  on_io(request, std::move(render))));
}

}  // namespace ecom::net
