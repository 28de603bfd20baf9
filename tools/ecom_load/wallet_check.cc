// The wallet check: GET /users/{id}/coupons (every page) for the chosen users over the pool,
// counting the coupons of the campaign each one holds.
#include <simdjson.h>

#include <algorithm>
#include <cassert>

#include "tools/ecom_load/fcfs_run.h"
#include "tools/ecom_load/mixed_types.h"

namespace ecom::load {

namespace {

using std::chrono::milliseconds;

constexpr std::size_t wallet_body_bytes_max = 4 << 20;
constexpr int transport_attempts_max = 3;
constexpr int overloaded_attempts_max = 100;
constexpr milliseconds overloaded_pause{100};

struct wallet_shared {
  const std::vector<user_result>& users;
  const std::vector<std::size_t>& chosen;
  std::vector<wallet_result>& wallets;
  std::vector<simdjson::dom::parser>& parsers;  // one per I/O thread
  std::string admin_token;
  std::int64_t campaign_id;
};

// Reads the wallets of chosen[index, end), following next_cursor to the last page.
class wallet_script final : public request_script {
 public:
  wallet_script(wallet_shared& shared, std::size_t begin, std::size_t end)
      : shared_(shared), index_(begin), end_(end) {}

  bool next(http_request& request) override {
    if (index_ >= end_) return false;
    const user_result& user = shared_.users[shared_.chosen[index_]];
    request.method = http_method::get;
    request.target = "/users/" + std::to_string(user.user_id) + "/coupons?limit=100";
    if (!cursor_.empty()) request.target += "&cursor=" + url_encode(cursor_);
    request.body.clear();
    request.bearer_token = shared_.admin_token;
    request.body_limit_bytes = wallet_body_bytes_max;
    return true;
  }

  milliseconds on_reply(const http_request&, http_reply& reply) override {
    wallet_result& wallet = shared_.wallets[shared_.chosen[index_]];
    if (reply.status == 0) {
      if (++attempts_ < transport_attempts_max) return milliseconds(50);
      return finish(wallet, "transport: " + reply.transport_error);
    }
    if (reply.status == 503) {
      if (++attempts_ < overloaded_attempts_max) return overloaded_pause;
      return finish(wallet, "503 after " + std::to_string(attempts_) + " attempts");
    }
    if (reply.status != 200) return finish(wallet, "GET answered " + std::to_string(reply.status));
    attempts_ = 0;
    std::string error = read_page(reply.body, wallet);
    if (!error.empty()) return finish(wallet, error);
    if (cursor_.empty()) return finish(wallet, "");
    return milliseconds(0);
  }

 private:
  // Counts the campaign's coupons on one page and takes next_cursor; returns an error text.
  std::string read_page(std::string& body, wallet_result& wallet) {
    auto& parser = shared_.parsers[static_cast<std::size_t>(current_worker_index())];
    body.reserve(body.size() + simdjson::SIMDJSON_PADDING);
    simdjson::dom::element root;
    simdjson::dom::array items;
    if (parser.parse(body).get(root) != simdjson::SUCCESS || root["items"].get(items)) {
      return "wallet page is not {items: [...]}";
    }
    for (simdjson::dom::element item : items) {
      std::int64_t campaign = 0;
      if (item["fcfs_coupon_id"].get(campaign) != simdjson::SUCCESS) continue;  // null: not FCFS
      if (campaign != shared_.campaign_id) continue;
      if (++wallet.campaign_coupon_count == 1 &&
          item["id"].get(wallet.first_user_coupon_id) != simdjson::SUCCESS) {
        wallet.first_user_coupon_id = 0;
      }
    }
    std::string_view cursor;
    cursor_ = root["next_cursor"].get(cursor) == simdjson::SUCCESS ? std::string(cursor) : "";
    return "";
  }

  milliseconds finish(wallet_result& wallet, std::string error) {
    wallet.checked = true;
    wallet.check_error = std::move(error);
    ++index_;
    cursor_.clear();
    attempts_ = 0;
    return milliseconds(0);
  }

  wallet_shared& shared_;
  std::size_t index_;
  std::size_t end_;
  std::string cursor_;
  int attempts_ = 0;
};

}  // namespace

std::vector<wallet_result> run_wallet_check(const pool_options& pool, int connection_count,
                                            const std::string& admin_token,
                                            std::int64_t campaign_id,
                                            const std::vector<user_result>& users,
                                            const std::vector<std::size_t>& chosen) {
  std::vector<wallet_result> wallets(users.size());
  if (chosen.empty()) return wallets;
  std::vector<simdjson::dom::parser> parsers(static_cast<std::size_t>(pool.thread_count));
  wallet_shared shared{users, chosen, wallets, parsers, admin_token, campaign_id};
  std::size_t count =
      std::min<std::size_t>(static_cast<std::size_t>(connection_count), chosen.size());
  std::vector<std::unique_ptr<request_script>> scripts;
  for (std::size_t c = 0; c < count; ++c) {
    scripts.push_back(std::make_unique<wallet_script>(shared, chosen.size() * c / count,
                                                      chosen.size() * (c + 1) / count));
  }
  std::size_t gave_up = run_connection_pool(pool, scripts, {});
  if (gave_up > 0) {
    for (std::size_t index : chosen) {
      if (!wallets[index].checked) {
        wallets[index].checked = true;
        wallets[index].check_error = "connection gave up";
      }
    }
  }
  return wallets;
}

}  // namespace ecom::load
