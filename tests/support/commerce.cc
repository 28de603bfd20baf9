// Shop helpers shared by the end-to-end and crash tests.
#include "tests/support/commerce.h"

#include <cstdio>
#include <ctime>
#include <stdexcept>

namespace ecom::test {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string rfc3339(int64_t unix_ms) {
  std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm parts{};
  ::gmtime_r(&seconds, &parts);
  char text[64];
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", parts.tm_year + 1900,
                parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec,
                static_cast<int>(unix_ms % 1000));
  return text;
}

int64_t parse_utc_millis(const std::string& text) {
  if (!is_rfc3339_utc_millis(text)) throw std::runtime_error("not RFC 3339 UTC millis: " + text);
  std::tm parts{};
  parts.tm_year = std::stoi(text.substr(0, 4)) - 1900;
  parts.tm_mon = std::stoi(text.substr(5, 2)) - 1;
  parts.tm_mday = std::stoi(text.substr(8, 2));
  parts.tm_hour = std::stoi(text.substr(11, 2));
  parts.tm_min = std::stoi(text.substr(14, 2));
  parts.tm_sec = std::stoi(text.substr(17, 2));
  return static_cast<int64_t>(::timegm(&parts)) * 1000 + std::stoi(text.substr(20, 3));
}

std::string code_of(const http_response& response) {
  try {
    auto doc = parse_json(response.body);
    return doc.has("code") && doc["code"].is_string() ? doc["code"].as_string() : "";
  } catch (const std::exception&) {
    return "";
  }
}

header_list with_headers(header_list headers, const header_list& extra) {
  headers.insert(headers.end(), extra.begin(), extra.end());
  return headers;
}

std::vector<json_value> list_all(http_client& client, const std::string& path, int limit,
                                 std::string_view token) {
  std::vector<json_value> out;
  std::string cursor;
  const char joiner = path.find('?') == std::string::npos ? '?' : '&';
  for (int page = 0; page < 10000; ++page) {
    std::string target = path + joiner + "limit=" + std::to_string(limit);
    if (!cursor.empty()) target += "&cursor=" + cursor;
    auto response = client.get(target, bearer(token));
    if (response.status != 200)
      throw std::runtime_error("GET " + target + ": " + describe(response));
    auto doc = parse_json(response.body);
    for (const auto& item : doc["items"].elements()) out.push_back(item);
    auto next = doc["next_cursor"];
    if (next.is_null()) return out;
    cursor = next.as_string();
    if (cursor.empty()) throw std::runtime_error("empty next_cursor: " + response.body);
  }
  throw std::runtime_error("pagination of " + path + " does not end");
}

std::vector<bulk_user> bulk_users(http_client& client, int count, std::string_view name_prefix) {
  auto response = client.post_json(
      "/admin/users/bulk", json_object().add("count", count).add("name_prefix", name_prefix).str(),
      bearer(k_admin_token));
  if (response.status != 201) throw std::runtime_error("bulk users: " + describe(response));
  std::vector<bulk_user> out;
  for (const auto& item : parse_json(response.body)["items"].elements())
    out.push_back({item["id"].as_int(), item["access_token"].as_string()});
  if (out.size() != size_t(count)) throw std::runtime_error("bulk users: wrong count");
  return out;
}

product_ref create_product_from(http_client& client, const std::string& body) {
  auto response = client.post_json("/admin/products", body, bearer(k_admin_token));
  if (response.status != 201) throw std::runtime_error("create product: " + describe(response));
  auto doc = parse_json(response.body);
  product_ref ref;
  ref.id = doc["id"].as_int();
  ref.name = doc["name"].as_string();
  for (const auto& c : doc["combinations"].elements()) {
    ref.cids.push_back(c["id"].as_int());
    ref.prices.push_back(c["price"].as_int());
    ref.cnames.push_back(c["name"].as_string());
    ref.stocks.push_back(c["stock"].as_int());
  }
  return ref;
}

std::string simple_product_body(std::string_view name, int64_t price, int64_t stock, bool active) {
  return json_object()
      .add("name", name)
      .add("base_price", price)
      .add("stock", stock)
      .add("is_active", active)
      .str();
}

std::string sized_product_body(std::string_view name, int64_t base_price,
                               const std::vector<int64_t>& additional, int64_t stock) {
  std::string body = R"({"name":)" + json_quote(name) + R"(,"base_price":)" +
                     std::to_string(base_price) + R"(,"options":[{"name":"size","values":[)";
  for (size_t i = 0; i < additional.size(); ++i)
    body += (i ? "," : "") + json_quote("s" + std::to_string(i));
  body += R"(]}],"combinations":[)";
  for (size_t i = 0; i < additional.size(); ++i) {
    body += (i ? "," : "");
    body += R"({"options":{"size":"s)" + std::to_string(i) + R"("},"additional_price":)" +
            std::to_string(additional[i]) + R"(,"stock":)" + std::to_string(stock) + "}";
  }
  return body + "]}";
}

product_ref simple_product(http_client& client, std::string_view name, int64_t price, int64_t stock,
                           bool active) {
  return create_product_from(client, simple_product_body(name, price, stock, active));
}

product_ref sized_product(http_client& client, std::string_view name, int64_t base_price,
                          const std::vector<int64_t>& additional, int64_t stock) {
  return create_product_from(client, sized_product_body(name, base_price, additional, stock));
}

product_ref product_with_parity(http_client& client, int parity, const std::string& body) {
  for (int i = 0; i < 16; ++i) {
    auto p = create_product_from(client, body);
    if (p.id % 2 == parity) return p;
  }
  throw std::runtime_error("no product id of parity " + std::to_string(parity));
}

http_response patch_product(http_client& client, int64_t id, std::string_view body) {
  return client.request("PATCH", "/admin/products/" + std::to_string(id), body,
                        json_bearer(k_admin_token));
}

http_response adjust_stock(http_client& client, int64_t product_id, int64_t combination_id,
                           int64_t delta) {
  return client.post_json("/admin/products/" + std::to_string(product_id) + "/combinations/" +
                              std::to_string(combination_id) + "/stock",
                          json_object().add("delta", delta).str(), bearer(k_admin_token));
}

int64_t stock_of(http_client& client, int64_t product_id, size_t index) {
  auto response = client.get("/products/" + std::to_string(product_id));
  if (response.status != 200) throw std::runtime_error("GET product: " + describe(response));
  return parse_json(response.body)["combinations"][index]["stock"].as_int();
}

int64_t create_coupon_template(http_client& client, std::string_view name, std::string_view type,
                               int64_t amount, std::optional<int64_t> min_order_amount,
                               int64_t valid_days) {
  json_object body;
  body.add("name", name).add("type", type).add("amount", amount);
  if (min_order_amount) body.add("min_order_amount", *min_order_amount);
  body.add("valid_days", valid_days);
  auto response = client.post_json("/admin/coupons", body.str(), bearer(k_admin_token));
  if (response.status != 201) throw std::runtime_error("create coupon: " + describe(response));
  return parse_json(response.body)["id"].as_int();
}

int64_t create_campaign_over(http_client& client, int64_t coupon_id, int64_t quantity,
                             int64_t start_ms, int64_t end_ms) {
  auto response = client.post_json("/admin/fcfs-coupons",
                                   json_object()
                                       .add("coupon_id", coupon_id)
                                       .add("total_quantity", quantity)
                                       .add("start_at", rfc3339(start_ms))
                                       .add("end_at", rfc3339(end_ms))
                                       .str(),
                                   bearer(k_admin_token));
  if (response.status != 201) throw std::runtime_error("create campaign: " + describe(response));
  return parse_json(response.body)["id"].as_int();
}

int64_t open_campaign_for(http_client& client, int64_t coupon_id, int64_t quantity) {
  const int64_t now = now_ms();
  return create_campaign_over(client, coupon_id, quantity, now - 60'000, now + 7'200'000);
}

std::string campaign_path(int64_t campaign_id, std::string_view suffix) {
  return "/coupons/fcfs/" + std::to_string(campaign_id) + std::string(suffix);
}

http_response issue(http_client& client, int64_t campaign_id, std::string_view token,
                    const header_list& extra) {
  return client.request("POST", campaign_path(campaign_id, "/issue"), {},
                        with_headers(bearer(token), extra));
}

int64_t issue_coupon(http_client& client, int64_t campaign_id, std::string_view token) {
  auto response = issue(client, campaign_id, token);
  if (response.status != 201) throw std::runtime_error("issue coupon: " + describe(response));
  return parse_json(response.body)["id"].as_int();
}

json_doc campaign_of(http_client& client, int64_t campaign_id) {
  auto response = client.get(campaign_path(campaign_id));
  if (response.status != 200) throw std::runtime_error("GET campaign: " + describe(response));
  return parse_json(response.body);
}

std::string coupon_status(http_client& client, int64_t user_id, int64_t user_coupon_id) {
  for (const auto& item : list_all(client, user_path(user_id, "/coupons")))
    if (item["id"].as_int() == user_coupon_id) return item["status"].as_string();
  return "";
}

std::vector<money_entry> money_history(http_client& client, int64_t user_id) {
  std::vector<money_entry> out;
  for (const auto& item : list_all(client, user_path(user_id, "/balance/history"))) {
    out.push_back({item["id"].as_int(), item["type"].as_string(), item["amount"].as_int(),
                   item["balance_before"].as_int(), item["balance_after"].as_int(),
                   item["order_id"].is_null() ? 0 : item["order_id"].as_int()});
  }
  return out;
}

std::string cart_item_body(int64_t product_id, int64_t combination_id, int64_t quantity) {
  return json_object()
      .add("product_id", product_id)
      .add("combination_id", combination_id)
      .add("quantity", quantity)
      .str();
}

http_response add_to_cart(http_client& client, int64_t user_id, std::string_view token,
                          int64_t product_id, int64_t combination_id, int64_t quantity,
                          const header_list& extra) {
  return client.request("POST", user_path(user_id, "/cart/items"),
                        cart_item_body(product_id, combination_id, quantity),
                        with_headers(json_bearer(token), extra));
}

std::string lines_json(const std::vector<order_line>& lines) {
  std::string out = "[";
  for (size_t i = 0; i < lines.size(); ++i) {
    out += (i ? "," : "") +
           cart_item_body(lines[i].product_id, lines[i].combination_id, lines[i].quantity);
  }
  return out + "]";
}

std::string order_body(const std::vector<order_line>& lines, std::optional<int64_t> coupon) {
  json_object body;
  body.add_raw("items", lines_json(lines));
  if (coupon) body.add("user_coupon_id", *coupon);
  return body.str();
}

std::string order_path(int64_t user_id, int64_t order_id, std::string_view suffix) {
  return user_path(user_id, "/orders/" + std::to_string(order_id) + std::string(suffix));
}

http_response create_order(http_client& client, int64_t user_id, std::string_view token,
                           std::string_view body, const header_list& extra) {
  return client.request("POST", user_path(user_id, "/orders"), body,
                        with_headers(json_bearer(token), extra));
}

http_response checkout(http_client& client, int64_t user_id, std::string_view token,
                       std::string_view body, const header_list& extra) {
  return client.request("POST", user_path(user_id, "/cart/checkout"), body,
                        with_headers(json_bearer(token), extra));
}

http_response pay(http_client& client, int64_t user_id, std::string_view token, int64_t order_id,
                  const header_list& extra) {
  return client.request("POST", order_path(user_id, order_id, "/payment"), {},
                        with_headers(bearer(token), extra));
}

http_response cancel(http_client& client, int64_t user_id, std::string_view token, int64_t order_id,
                     const header_list& extra) {
  return client.request("POST", order_path(user_id, order_id, "/cancel"), {},
                        with_headers(bearer(token), extra));
}

json_doc order_of(http_client& client, int64_t user_id, int64_t order_id) {
  auto response = client.get(order_path(user_id, order_id), bearer(k_admin_token));
  if (response.status != 200) throw std::runtime_error("GET order: " + describe(response));
  return parse_json(response.body);
}

std::string status_of(http_client& client, int64_t user_id, int64_t order_id) {
  return order_of(client, user_id, order_id)["status"].as_string();
}

event_page events_after(http_client& client, int64_t after, int limit, int wait_ms) {
  std::string target =
      "/admin/events?after=" + std::to_string(after) + "&limit=" + std::to_string(limit);
  if (wait_ms >= 0) target += "&wait_ms=" + std::to_string(wait_ms);
  auto response = client.get(target, bearer(k_admin_token));
  if (response.status != 200) throw std::runtime_error("GET events: " + describe(response));
  auto doc = parse_json(response.body);
  event_page page;
  for (const auto& item : doc["items"].elements()) {
    page.items.push_back({item["seq"].as_int(), item["type"].as_string(), item["at"].as_string(),
                          item["order"]["id"].as_int(), item["order"]["status"].as_string(),
                          item["order"].dump()});
  }
  page.last_seq = doc["last_seq"].as_int();
  return page;
}

std::vector<event> all_events(http_client& client, int64_t after, int limit) {
  std::vector<event> out;
  for (int page = 0; page < 100000; ++page) {
    auto p = events_after(client, after, limit);
    if (p.items.empty()) return out;
    out.insert(out.end(), p.items.begin(), p.items.end());
    after = p.last_seq;
  }
  throw std::runtime_error("event paging does not end");
}

}  // namespace ecom::test
