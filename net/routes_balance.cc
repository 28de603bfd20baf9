// Balance: read, charge (idempotent), history.
#include "net/api.h"
#include "net/json_reader.h"
#include "net/json_writer.h"
#include "net/problem.h"
#include "net/time_format.h"

namespace ecom::net {

namespace {

std::string_view kind_name(engine::balance_entry_kind kind) {
  switch (kind) {
    case engine::balance_entry_kind::charge:
      return "CHARGE";
    case engine::balance_entry_kind::use:
      return "USE";
    case engine::balance_entry_kind::refund:
      return "REFUND";
  }
  return "CHARGE";
}

http_reply balance_reply(const engine::reply& answer) {
  if (auto problem = problem_reply_of(answer)) return std::move(*problem);
  const auto& balance = std::get<engine::balance_view>(answer.body);
  std::string body;
  body.reserve(96);
  json_writer w(body);
  w.begin_object();
  w.key("user_id").value(balance.user_id);
  w.key("balance").value(balance.balance);
  w.key("updated_at").time(balance.updated_at);
  w.end_object();
  return json_reply(200, std::move(body));
}

}  // namespace

void api::get_balance(const request_ptr& request, const params& path) {
  auto id = authorize_user_path(request, path[0]);
  if (!id) return;
  started(request, services_.engine.submit(engine::get_balance{*id},
                                           on_io(request, [this, request](engine::reply&& a) {
                                             reply(request, balance_reply(a));
                                           })));
}

void api::post_charge(const request_ptr& request, const params& path) {
  auto id = authorize_user_path(request, path[0]);
  if (!id) return;
  if (!check_content_type(request)) return;
  std::int64_t amount = 0;
  field_spec fields[] = {integer_field("amount", amount, 1, engine::charge_amount_max)};
  if (auto problem = read_json_object(request->body, fields))
    return reply(request, std::move(*problem));
  auto key = idempotency_of(request, *id, "/users/" + std::to_string(*id) + "/balance/charge");
  if (!key) return;
  started(request, services_.engine.submit(engine::charge_balance{*id, amount},
                                           on_io(request,
                                                 [this, request](engine::reply&& answer) {
                                                   reply(request,
                                                         keyed_reply(answer, &balance_reply));
                                                 }),
                                           std::move(*key)));
}

void api::get_balance_history(const request_ptr& request, const params& path) {
  auto id = authorize_user_path(request, path[0]);
  if (!id) return;
  page_request page;
  if (auto problem = parse_page(request->query, page)) return reply(request, std::move(*problem));
  auto render = [this, request](engine::reply&& answer) {
    if (auto problem = problem_reply_of(answer)) return reply(request, std::move(*problem));
    const auto& history = std::get<engine::history_page>(answer.body);
    std::string body;
    body.reserve(64 + history.items.size() * 160);
    json_writer w(body);
    w.begin_object().key("items").begin_array();
    for (const auto& entry : history.items) {
      w.begin_object();
      w.key("id").value(entry.id);
      w.key("type").value(kind_name(entry.kind));
      w.key("amount").value(entry.amount);
      w.key("balance_before").value(entry.balance_before);
      w.key("balance_after").value(entry.balance_after);
      w.key("order_id").id_or_null(entry.order_id);
      w.key("created_at").time(entry.created_at);
      w.end_object();
    }
    end_page(w, history.next_before_id);
    reply(request, json_reply(200, std::move(body)));
  };
  started(request,
          services_.engine.submit(engine::list_balance_history{*id, page.cursor_id, page.limit},
                                  on_io(request, std::move(render))));
}

}  // namespace ecom::net
