// Setup and read-back through the admin API with the blocking client; responses are parsed
// with the simdjson DOM.
#include "tools/ecom_load/fcfs_setup.h"

#include <simdjson.h>

#include <algorithm>
#include <cassert>
#include <chrono>
#include <ctime>

namespace ecom::load {

namespace {

// A bulk answer holds up to 100,000 users with signed tokens: a few tens of MB.
constexpr std::size_t bulk_body_bytes_max = std::size_t{512} << 20;

}  // namespace

std::string json_quote(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) out += c;
  }
  return out + "\"";
}

std::string describe_answer(const http_reply& reply) {
  if (reply.status == 0) return reply.transport_error;
  std::string text = std::to_string(reply.status);
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(reply.body).get(root) == simdjson::SUCCESS) {
    std::string_view code, detail;
    if (root["code"].get(code) == simdjson::SUCCESS) text.append(" ").append(code);
    if (root["detail"].get(detail) == simdjson::SUCCESS) text.append(": ").append(detail);
    return text;
  }
  return text + ": " + reply.body.substr(0, 200);
}

namespace {

std::int64_t int_field(simdjson::dom::element object, const char* key) {
  std::int64_t value = 0;
  if (object[key].get(value) != simdjson::SUCCESS) return -1;
  return value;
}

}  // namespace

std::string rfc3339_from_now(double offset_s) {
  using namespace std::chrono;
  return rfc3339_at(system_clock::now() +
                    duration_cast<system_clock::duration>(duration<double>(offset_s)));
}

std::string rfc3339_at(std::chrono::system_clock::time_point at) {
  using namespace std::chrono;
  auto ms = duration_cast<milliseconds>(at.time_since_epoch()).count();
  std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[40];
  std::size_t n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(text + n, sizeof text - n, ".%03dZ", static_cast<int>(ms % 1000));
  return text;
}

bool parse_campaign(const std::string& body, campaign_info& out) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(body).get(root) != simdjson::SUCCESS) return false;
  out.id = int_field(root, "id");
  out.total_quantity = int_field(root, "total_quantity");
  out.remaining_quantity = int_field(root, "remaining_quantity");
  std::string_view status;
  if (root["status"].get(status) != simdjson::SUCCESS) return false;
  out.status = std::string(status);
  return out.id > 0 && out.total_quantity >= 0 && out.remaining_quantity >= 0;
}

admin_api::admin_api(blocking_client& client, std::string url_text, std::string admin_token)
    : client_(client), url_text_(std::move(url_text)), admin_token_(std::move(admin_token)) {}

http_reply admin_api::call(http_method method, const std::string& target, const std::string& body,
                           std::size_t body_limit_bytes) {
  http_request request{method, target, body, admin_token_, body_limit_bytes, {}};
  return client_.send(request);
}

void admin_api::fail(const std::string& what, const http_reply& reply) const {
  std::string hint;
  if (reply.status == 401 || reply.status == 403) hint = " (check --admin-token)";
  if (reply.status == 404 || reply.status == 405) hint = " (does this server have the route?)";
  throw setup_error(what + " on " + url_text_ + " failed: " + describe_answer(reply) + hint);
}

void admin_api::check_reachable() {
  http_reply reply = call(http_method::get, "/healthz", "");
  if (reply.status == 0) {
    throw setup_error("cannot reach " + url_text_ + ": " + reply.transport_error);
  }
  if (reply.status != 200) fail("GET /healthz", reply);
}

std::vector<load_user> admin_api::create_users(std::int64_t count, const std::string& name_prefix) {
  std::vector<load_user> users;
  users.reserve(static_cast<std::size_t>(count));
  simdjson::dom::parser parser;
  while (static_cast<std::int64_t>(users.size()) < count) {
    std::int64_t chunk =
        std::min(bulk_user_count_max, count - static_cast<std::int64_t>(users.size()));
    std::string body =
        "{\"count\":" + std::to_string(chunk) + ",\"name_prefix\":" + json_quote(name_prefix) + "}";
    http_reply reply = call(http_method::post, "/admin/users/bulk", body, bulk_body_bytes_max);
    if (reply.status != 201) fail("POST /admin/users/bulk", reply);
    simdjson::dom::array items;
    if (parser.parse(reply.body)["items"].get(items) != simdjson::SUCCESS) {
      fail("POST /admin/users/bulk (no items array)", reply);
    }
    for (simdjson::dom::element item : items) {
      std::string_view token;
      std::int64_t id = int_field(item, "id");
      if (id <= 0 || item["access_token"].get(token) != simdjson::SUCCESS) {
        fail("POST /admin/users/bulk (item without id or access_token)", reply);
      }
      users.push_back({id, std::string(token)});
    }
    if (items.size() != static_cast<std::size_t>(chunk)) {
      fail("POST /admin/users/bulk (wrong item count)", reply);
    }
  }
  return users;
}

campaign_info admin_api::create_campaign(
    std::int64_t quantity, double open_s, const std::string& coupon_body_in,
    std::optional<std::chrono::system_clock::time_point> start_at) {
  std::string coupon_body =
      !coupon_body_in.empty()
          ? coupon_body_in
          : "{\"name\":\"ecom-load " + rfc3339_from_now(0) +
                "\",\"type\":\"FIXED\",\"amount\":1000,\"min_order_amount\":0,\"valid_days\":30}";
  http_reply coupon = call(http_method::post, "/admin/coupons", coupon_body);
  if (coupon.status != 201) fail("POST /admin/coupons", coupon);
  simdjson::dom::parser parser;
  std::int64_t coupon_id = -1;
  simdjson::dom::element root;
  if (parser.parse(coupon.body).get(root) == simdjson::SUCCESS) coupon_id = int_field(root, "id");
  if (coupon_id <= 0) fail("POST /admin/coupons (no id)", coupon);
  using namespace std::chrono;
  std::string start_text = start_at ? rfc3339_at(*start_at) : rfc3339_from_now(-5);
  std::string end_text =
      start_at
          ? rfc3339_at(*start_at + duration_cast<system_clock::duration>(duration<double>(open_s)))
          : rfc3339_from_now(open_s);
  std::string campaign_body = "{\"coupon_id\":" + std::to_string(coupon_id) +
                              ",\"total_quantity\":" + std::to_string(quantity) +
                              ",\"start_at\":\"" + start_text + "\",\"end_at\":\"" + end_text +
                              "\"}";
  http_reply campaign = call(http_method::post, "/admin/fcfs-coupons", campaign_body);
  if (campaign.status != 201) fail("POST /admin/fcfs-coupons", campaign);
  campaign_info info;
  if (!parse_campaign(campaign.body, info))
    fail("POST /admin/fcfs-coupons (bad campaign)", campaign);
  return info;
}

campaign_info admin_api::read_campaign(std::int64_t campaign_id) {
  std::string target = "/coupons/fcfs/" + std::to_string(campaign_id);
  http_reply reply = call(http_method::get, target, "");
  if (reply.status != 200) fail("GET " + target, reply);
  campaign_info info;
  if (!parse_campaign(reply.body, info)) fail("GET " + target + " (bad campaign)", reply);
  return info;
}

}  // namespace ecom::load
