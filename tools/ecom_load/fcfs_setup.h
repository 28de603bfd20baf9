// Setup and read-back through the admin API: bulk users, a coupon and its FCFS campaign, and
// reading a campaign. Failures throw setup_error (main exits 3).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "tools/ecom_load/fcfs_types.h"
#include "tools/ecom_load/http_transport.h"

namespace ecom::load {

class setup_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline constexpr std::int64_t bulk_user_count_max = 100'000;

class admin_api {
 public:
  admin_api(blocking_client& client, std::string url_text, std::string admin_token);

  // GET /healthz; throws setup_error naming the URL when the server does not answer.
  void check_reachable();
  // POST /admin/users/bulk in chunks of at most bulk_user_count_max.
  std::vector<load_user> create_users(std::int64_t count, const std::string& name_prefix);
  // POST /admin/coupons (coupon_body; empty: FIXED 1000 won, 30 days) then POST
  // /admin/fcfs-coupons open from start_at (default: now − 5 s) for open_s seconds.
  campaign_info create_campaign(
      std::int64_t quantity, double open_s, const std::string& coupon_body = "",
      std::optional<std::chrono::system_clock::time_point> start_at = std::nullopt);
  // GET /coupons/fcfs/{id}; throws setup_error on anything but 200.
  campaign_info read_campaign(std::int64_t campaign_id);

  // One request with the admin token.
  http_reply call(http_method method, const std::string& target, const std::string& body,
                  std::size_t body_limit_bytes = 1 << 20);
  // Throws setup_error: "<what> on <url> failed: <answer>" with a hint for 401/403/404/405.
  [[noreturn]] void fail(const std::string& what, const http_reply& reply) const;

 private:
  blocking_client& client_;
  std::string url_text_;
  std::string admin_token_;
};

// Parses a campaign object ({id, total_quantity, remaining_quantity, status}); false on a
// missing field.
bool parse_campaign(const std::string& body, campaign_info& out);

// "404 NOT_FOUND: detail" from a problem+json answer, or the status and a body prefix.
std::string describe_answer(const http_reply& reply);

// A JSON string literal of text (quotes and backslashes escaped, control characters dropped).
std::string json_quote(const std::string& text);

// RFC 3339 UTC with milliseconds for now + offset_s.
std::string rfc3339_from_now(double offset_s);
// The same for a given time (truncated to the millisecond).
std::string rfc3339_at(std::chrono::system_clock::time_point at);

}  // namespace ecom::load
