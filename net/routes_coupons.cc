// First-come coupons: templates, campaigns, the issue hot path, wallets and their history.
// Template install and issue are engine::coupon_flow's; the campaign list an engine fan-out;
// this file only validates, starts them and renders.
#include <algorithm>

#include "net/api.h"
#include "net/json_reader.h"
#include "net/json_writer.h"
#include "net/limits.h"
#include "net/problem.h"
#include "net/time_format.h"

namespace ecom::net {

namespace {

const char* const id_rule = "must be a decimal integer in 1..9223372036854775807";

std::string_view kind_name(engine::coupon_kind kind) {
  return kind == engine::coupon_kind::percent ? "PERCENT" : "FIXED";
}

std::string_view campaign_status_name(engine::campaign_status status) {
  switch (status) {
    case engine::campaign_status::upcoming:
      return "UPCOMING";
    case engine::campaign_status::open:
      return "OPEN";
    case engine::campaign_status::sold_out:
      return "SOLD_OUT";
    case engine::campaign_status::closed:
      return "CLOSED";
  }
  return "CLOSED";
}

std::string_view coupon_status_name(engine::user_coupon_status status) {
  switch (status) {
    case engine::user_coupon_status::available:
      return "AVAILABLE";
    case engine::user_coupon_status::used:
      return "USED";
    case engine::user_coupon_status::expired:
      return "EXPIRED";
  }
  return "AVAILABLE";
}

std::string_view action_name(engine::coupon_action action) {
  switch (action) {
    case engine::coupon_action::issue:
      return "ISSUE";
    case engine::coupon_action::use:
      return "USE";
    case engine::coupon_action::restore:
      return "RESTORE";
    case engine::coupon_action::expire:
      return "EXPIRE";
  }
  return "ISSUE";
}

void write_coupon(json_writer& w, const engine::coupon_template& c) {
  w.begin_object();
  w.key("id").value(c.id);
  w.key("name").value(c.name);
  w.key("type").value(kind_name(c.kind));
  w.key("amount").value(c.amount);
  w.key("min_order_amount").value(c.min_order_amount);
  w.key("valid_days").value(c.valid_days);
  w.key("created_at").time(c.created_at);
  w.end_object();
}

void write_campaign(json_writer& w, const engine::campaign_view& c) {
  w.begin_object();
  w.key("id").value(c.id);
  w.key("coupon_id").value(c.coupon.id);
  w.key("coupon");
  write_coupon(w, c.coupon);
  w.key("total_quantity").value(c.total_quantity);
  w.key("remaining_quantity").value(c.remaining_quantity);
  w.key("start_at").time(c.start_at);
  w.key("end_at").time(c.end_at);
  w.key("status").value(campaign_status_name(c.status));
  w.end_object();
}

void write_user_coupon(json_writer& w, const engine::user_coupon_view& c) {
  w.begin_object();
  w.key("id").value(c.id);
  w.key("user_id").value(c.user_id);
  w.key("coupon_id").value(c.coupon.id);
  w.key("fcfs_coupon_id").value(c.campaign_id);
  w.key("coupon");
  write_coupon(w, c.coupon);
  w.key("status").value(coupon_status_name(c.status));
  w.key("issued_at").time(c.issued_at);
  w.key("expires_at").time(c.expires_at);
  w.key("used_at");
  if (c.used_at == 0) {
    w.null();
  } else {
    w.time(c.used_at);
  }
  w.end_object();
}

http_reply issued_reply(const engine::reply& answer) {
  if (auto problem = problem_reply_of(answer)) return std::move(*problem);
  std::string body;
  body.reserve(512);
  json_writer w(body);
  write_user_coupon(w, std::get<engine::user_coupon_view>(answer.body));
  return json_reply(201, std::move(body));
}

std::optional<http_reply> read_time(std::string_view field, const std::string& text,
                                    std::int64_t& out) {
  auto parsed = parse_rfc3339(text);
  if (!parsed)
    return validation_failed(field, "must be an RFC 3339 time, e.g. 2026-11-24T04:28:33Z");
  out = *parsed;
  return std::nullopt;
}

}  // namespace

void api::post_admin_coupons(const request_ptr& request, const params&) {
  if (!authorize_admin(request) || !check_content_type(request)) return;
  engine::coupon_template c;
  std::string type;
  field_spec fields[] = {
      text_field("name", c.name, 1, engine::coupon_name_length_max),
      text_field("type", type, 1, 16), integer_field("amount", c.amount, 1, engine::price_max),
      integer_field("min_order_amount", c.min_order_amount, 0, engine::min_order_amount_max, false),
      integer_field("valid_days", c.valid_days, 1, engine::coupon_valid_days_max)};
  if (auto problem = read_json_object(request->body, fields))
    return reply(request, std::move(*problem));
  if (type == "FIXED") {
    c.kind = engine::coupon_kind::fixed;
  } else if (type == "PERCENT") {
    c.kind = engine::coupon_kind::percent;
    if (c.amount > engine::percent_max)
      return reply(request, validation_failed("amount", "a PERCENT amount must be 1 to 100"));
  } else {
    return reply(request, validation_failed("type", "must be FIXED or PERCENT"));
  }
  // The engine installs the template on every shard before it answers, so that any campaign
  // created after this 201 finds it wherever it lands.
  auto render = [this, request](engine::reply&& answer) {
    if (auto problem = problem_reply_of(answer)) return reply(request, std::move(*problem));
    const auto& coupon = std::get<engine::coupon_template>(answer.body);
    std::string body;
    json_writer w(body);
    write_coupon(w, coupon);
    http_reply created = json_reply(201, std::move(body));
    created.header("Location", "/admin/coupons/" + std::to_string(coupon.id));
    reply(request, std::move(created));
  };
  started(request, services_.engine.create_coupon(std::move(c), on_io(request, render)));
}

void api::post_admin_campaigns(const request_ptr& request, const params&) {
  if (!authorize_admin(request) || !check_content_type(request)) return;
  std::int64_t coupon_id = 0;
  std::int64_t quantity = 0;
  std::string start_text, end_text;
  field_spec fields[] = {integer_field("coupon_id", coupon_id, 1, path_id_max),
                         integer_field("total_quantity", quantity, 1, engine::fcfs_quantity_max),
                         text_field("start_at", start_text, 1, 64),
                         text_field("end_at", end_text, 1, 64)};
  if (auto problem = read_json_object(request->body, fields))
    return reply(request, std::move(*problem));
  engine::create_campaign command{coupon_id, quantity, 0, 0};
  if (auto problem = read_time("start_at", start_text, command.start_at))
    return reply(request, std::move(*problem));
  if (auto problem = read_time("end_at", end_text, command.end_at))
    return reply(request, std::move(*problem));
  if (command.end_at <= command.start_at)
    return reply(request, validation_failed("end_at", "must be after start_at"));
  auto render = [this, request](engine::reply&& answer) {
    if (auto problem = problem_reply_of(answer)) return reply(request, std::move(*problem));
    const auto& campaign = std::get<engine::campaign_view>(answer.body);
    std::string body;
    json_writer w(body);
    write_campaign(w, campaign);
    http_reply created = json_reply(201, std::move(body));
    created.header("Location", "/coupons/fcfs/" + std::to_string(campaign.id));
    reply(request, std::move(created));
  };
  started(request, services_.engine.create_campaign(command, on_io(request, std::move(render))));
}

void api::get_campaign(const request_ptr& request, const params& path) {
  auto id = parse_id(path[0]);
  if (!id) return reply(request, validation_failed("id", id_rule));
  auto render = [this, request](engine::reply&& answer) {
    if (auto problem = problem_reply_of(answer)) return reply(request, std::move(*problem));
    std::string body;
    json_writer w(body);
    write_campaign(w, std::get<engine::campaign_view>(answer.body));
    reply(request, json_reply(200, std::move(body)));
  };
  started(request,
          services_.engine.submit(engine::get_campaign{*id}, on_io(request, std::move(render))));
}

// Every shard lists its campaigns; merged by id, paged like every list.
void api::get_campaigns(const request_ptr& request, const params&) {
  page_request page;
  if (auto problem = parse_page(request->query, page)) return reply(request, std::move(*problem));
  auto render = [this, request](engine::reply&& answer) {
    const auto& merged = std::get<engine::campaign_list>(answer.body);
    std::string body;
    json_writer w(body);
    w.begin_object().key("items").begin_array();
    for (const auto& c : merged.items) write_campaign(w, c);
    end_page(w, merged.next_after_id);
    reply(request, json_reply(200, std::move(body)));
  };
  started(request, services_.engine.list_campaigns(page.cursor_id, page.limit,
                                                   on_io(request, std::move(render))));
}

void api::post_issue(const request_ptr& request, const params& path) {
  auto who = authenticate(request);
  if (!who) return;
  auto campaign_id = parse_id(path[0]);
  if (!campaign_id) return reply(request, validation_failed("id", id_rule));
  if (who->admin) {
    return reply(request, forbidden("coupon issue needs a user's token, not the admin token"));
  }
  if (!check_content_type(request)) return;
  // Scope: the token's user, the method and the concrete path.
  auto key = idempotency_of(request, who->user_id,
                            "/coupons/fcfs/" + std::to_string(*campaign_id) + "/issue");
  if (!key) return;
  started(request, services_.engine.issue_coupon(*campaign_id, who->user_id, std::move(*key),
                                                 on_io(request, [this, request](engine::reply&& a) {
                                                   reply(request, keyed_reply(a, &issued_reply));
                                                 })));
}

void api::get_user_coupons(const request_ptr& request, const params& path) {
  auto user_id = authorize_user_path(request, path[0]);
  if (!user_id) return;
  page_request page;
  if (auto problem = parse_page(request->query, page)) return reply(request, std::move(*problem));
  std::uint8_t status = 0;
  if (auto text = query_param(request->query, "status")) {
    if (*text == "AVAILABLE") {
      status = static_cast<std::uint8_t>(engine::user_coupon_status::available);
    } else if (*text == "USED") {
      status = static_cast<std::uint8_t>(engine::user_coupon_status::used);
    } else if (*text == "EXPIRED") {
      status = static_cast<std::uint8_t>(engine::user_coupon_status::expired);
    } else {
      return reply(request, validation_failed("status", "must be AVAILABLE, USED or EXPIRED"));
    }
  }
  auto render = [this, request](engine::reply&& answer) {
    if (auto problem = problem_reply_of(answer)) return reply(request, std::move(*problem));
    const auto& coupons = std::get<engine::user_coupon_page>(answer.body);
    std::string body;
    json_writer w(body);
    w.begin_object().key("items").begin_array();
    for (const auto& c : coupons.items) write_user_coupon(w, c);
    end_page(w, coupons.next_before_id);
    reply(request, json_reply(200, std::move(body)));
  };
  started(request, services_.engine.submit(
                       engine::list_user_coupons{*user_id, status, page.cursor_id, page.limit},
                       on_io(request, std::move(render))));
}

void api::get_user_coupon_history(const request_ptr& request, const params& path) {
  auto user_id = authorize_user_path(request, path[0]);
  if (!user_id) return;
  page_request page;
  if (auto problem = parse_page(request->query, page)) return reply(request, std::move(*problem));
  auto render = [this, request](engine::reply&& answer) {
    if (auto problem = problem_reply_of(answer)) return reply(request, std::move(*problem));
    const auto& history = std::get<engine::coupon_history_page>(answer.body);
    std::string body;
    json_writer w(body);
    w.begin_object().key("items").begin_array();
    for (const auto& e : history.items) {
      w.begin_object();
      w.key("id").value(e.id);
      w.key("user_coupon_id").value(e.user_coupon_id);
      w.key("coupon_id").value(e.coupon_id);
      w.key("action").value(action_name(e.action));
      w.key("order_id").id_or_null(e.order_id);
      w.key("created_at").time(e.created_at);
      w.end_object();
    }
    end_page(w, history.next_before_id);
    reply(request, json_reply(200, std::move(body)));
  };
  started(request,
          services_.engine.submit(engine::list_coupon_history{*user_id, page.cursor_id, page.limit},
                                  on_io(request, std::move(render))));
}

}  // namespace ecom::net
