// Shop helpers shared by the end-to-end and crash tests: wall-clock time and its RFC 3339 text,
// retries after 503, bulk users, catalog products and stock, first-come coupon templates,
// campaigns and issues, paging through list routes, order bodies and the order, payment and cart
// calls, balance history and the admin event feed. Helpers that return parsed data throw
// std::runtime_error (a test failure) when the server does not answer with the expected success.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tests/support/api.h"
#include "tests/support/http_client.h"
#include "tests/support/json.h"
#include "tests/support/server_process.h"

namespace ecom::test {

// --- time -----------------------------------------------------------------------------------

// Milliseconds since the Unix epoch, from the system clock.
int64_t now_ms();
// 2026-11-24T04:28:33.123Z
std::string rfc3339(int64_t unix_ms);
// Inverse of rfc3339 for the server's own output; throws on anything else.
int64_t parse_utc_millis(const std::string& text);

// --- responses ------------------------------------------------------------------------------

// Sends until the answer is not 503 OVERLOADED (which changed nothing), for up to 10 s; returns
// the last response.
template <class Send>
http_response until_answered(Send send) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    auto response = send();
    if (response.status != 503 || std::chrono::steady_clock::now() > deadline) return response;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// The problem "code" of a response, "" when the body has none.
std::string code_of(const http_response& response);

// headers followed by extra.
header_list with_headers(header_list headers, const header_list& extra);

// Every page of a list route (items + next_cursor), items in order; throws unless each page is
// 200 and on an empty next_cursor.
std::vector<json_value> list_all(http_client& client, const std::string& path, int limit = 100,
                                 std::string_view token = k_admin_token);

// --- users ----------------------------------------------------------------------------------

struct bulk_user {
  int64_t id = 0;
  std::string token;
};

// POST /admin/users/bulk; throws unless 201 with exactly count users.
std::vector<bulk_user> bulk_users(http_client& client, int count, std::string_view name_prefix);

// --- catalog --------------------------------------------------------------------------------

// A product as the tests need it: id, name and per combination its id, price, name and stock at
// creation.
struct product_ref {
  int64_t id = 0;
  std::string name;
  std::vector<int64_t> cids;
  std::vector<int64_t> prices;
  std::vector<std::string> cnames;
  std::vector<int64_t> stocks;
  int64_t cid(size_t i = 0) const { return cids.at(i); }
  int64_t price(size_t i = 0) const { return prices.at(i); }
};

// POST /admin/products with that body; throws unless 201.
product_ref create_product_from(http_client& client, const std::string& body);
// Body of a product with one "default" combination.
std::string simple_product_body(std::string_view name, int64_t price, int64_t stock,
                                bool active = true);
// Body of a product with one option "size" whose value i costs additional[i] extra; every
// combination gets that stock.
std::string sized_product_body(std::string_view name, int64_t base_price,
                               const std::vector<int64_t>& additional, int64_t stock);
product_ref simple_product(http_client& client, std::string_view name, int64_t price, int64_t stock,
                           bool active = true);
product_ref sized_product(http_client& client, std::string_view name, int64_t base_price,
                          const std::vector<int64_t>& additional, int64_t stock);
// Creates products from body until one's id is odd (parity 1) or even (parity 0), at most 16
// times: with 2 shards these live on different shards. Products of the other parity made on the
// way are harmless.
product_ref product_with_parity(http_client& client, int parity, const std::string& body);

http_response patch_product(http_client& client, int64_t id, std::string_view body);
http_response adjust_stock(http_client& client, int64_t product_id, int64_t combination_id,
                           int64_t delta);
// Stock of the index-th combination as GET /products/{id} shows it; throws unless 200.
int64_t stock_of(http_client& client, int64_t product_id, size_t index = 0);

// --- coupons --------------------------------------------------------------------------------

// A coupon template (min_order_amount left out when not given); returns its id.
int64_t create_coupon_template(http_client& client, std::string_view name, std::string_view type,
                               int64_t amount, std::optional<int64_t> min_order_amount,
                               int64_t valid_days);
// A campaign of that coupon over [start_ms, end_ms); returns its id.
int64_t create_campaign_over(http_client& client, int64_t coupon_id, int64_t quantity,
                             int64_t start_ms, int64_t end_ms);
// A campaign of that coupon open from a minute ago for two hours; returns its id.
int64_t open_campaign_for(http_client& client, int64_t coupon_id, int64_t quantity = 100000);

std::string campaign_path(int64_t campaign_id, std::string_view suffix = "");
// POST /coupons/fcfs/{id}/issue with the token (and extra headers).
http_response issue(http_client& client, int64_t campaign_id, std::string_view token,
                    const header_list& extra = {});
// Issues a coupon of that campaign to the token's user; returns the user coupon id, throws
// unless 201.
int64_t issue_coupon(http_client& client, int64_t campaign_id, std::string_view token);
// GET /coupons/fcfs/{id}; throws unless 200.
json_doc campaign_of(http_client& client, int64_t campaign_id);
// The status of one user coupon as its wallet shows it ("" when it is not there).
std::string coupon_status(http_client& client, int64_t user_id, int64_t user_coupon_id);

// --- balance --------------------------------------------------------------------------------

struct money_entry {
  int64_t id = 0;
  std::string type;
  int64_t amount = 0;
  int64_t before = 0;
  int64_t after = 0;
  int64_t order_id = 0;  // 0 when null
};

// Balance history read with the admin token, newest first.
std::vector<money_entry> money_history(http_client& client, int64_t user_id);

// --- cart and orders ------------------------------------------------------------------------

// {"product_id", "combination_id", "quantity"}
std::string cart_item_body(int64_t product_id, int64_t combination_id, int64_t quantity);
// POST /users/{id}/cart/items with the token (and extra headers).
http_response add_to_cart(http_client& client, int64_t user_id, std::string_view token,
                          int64_t product_id, int64_t combination_id, int64_t quantity,
                          const header_list& extra = {});

struct order_line {
  int64_t product_id = 0;
  int64_t combination_id = 0;
  int64_t quantity = 0;
};

// The JSON array of the lines.
std::string lines_json(const std::vector<order_line>& lines);
// {"items": lines, "user_coupon_id": coupon when given}
std::string order_body(const std::vector<order_line>& lines, std::optional<int64_t> coupon = {});
std::string order_path(int64_t user_id, int64_t order_id, std::string_view suffix = "");

http_response create_order(http_client& client, int64_t user_id, std::string_view token,
                           std::string_view body, const header_list& extra = {});
http_response checkout(http_client& client, int64_t user_id, std::string_view token,
                       std::string_view body, const header_list& extra = {});
http_response pay(http_client& client, int64_t user_id, std::string_view token, int64_t order_id,
                  const header_list& extra = {});
http_response cancel(http_client& client, int64_t user_id, std::string_view token, int64_t order_id,
                     const header_list& extra = {});
// GET order with the admin token; throws unless 200.
json_doc order_of(http_client& client, int64_t user_id, int64_t order_id);
std::string status_of(http_client& client, int64_t user_id, int64_t order_id);

// --- events ---------------------------------------------------------------------------------

struct event {
  int64_t seq = 0;
  std::string type;
  std::string at;
  int64_t order_id = 0;
  std::string order_status;
  std::string order;  // minified
};

struct event_page {
  std::vector<event> items;
  int64_t last_seq = 0;
};

// One page of GET /admin/events (with wait_ms when >= 0); throws unless 200.
event_page events_after(http_client& client, int64_t after, int limit = 1000, int wait_ms = -1);
// Every event after `after`, following pages of `limit`.
std::vector<event> all_events(http_client& client, int64_t after = 0, int limit = 1000);

}  // namespace ecom::test
