// Command line of ecom-load: the options struct, URL parsing and validation (exit 2 on misuse).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "tools/ecom_load/arrival_schedule.h"

namespace ecom::load {

// Thrown for any bad argument; main prints "ecom-load: <what>" and exits 2.
class usage_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct server_url {
  std::string host;  // without brackets for IPv6
  std::uint16_t port = 80;
  std::string text() const;  // http://host:port
};

// Knobs of the mixed scenario (shares are probabilities in 0..1).
struct mixed_options {
  std::int64_t product_count = 20;
  double coupon_share = 0.3;    // users who get a coupon of the run's campaign
  double cancel_share = 0.1;    // orders cancelled (half before payment, half refunded after)
  double direct_share = 0.2;    // orders made with POST /users/{id}/orders instead of the cart
  double popular_share = 0.1;   // sessions that also read GET /products/popular
  double abandon_share = 0.05;  // orders left PENDING_PAYMENT
  std::uint64_t seed = 1;
};

struct load_options {
  std::string scenario;  // "fcfs" or "mixed"
  server_url url;
  // --read-url (repeatable): standbys that get the measured run's GETs; writes and setup go to
  // url. Empty: every request goes to url.
  std::vector<server_url> read_urls;
  std::string admin_token;
  std::int64_t user_count = 1000;
  std::int64_t quantity = 100;
  std::optional<std::int64_t> campaign_id;
  mixed_options mixed;
  int connection_count = 64;
  double duration_s = 30;
  int thread_count = 2;
  double request_timeout_s = 30;
  std::optional<std::int64_t> wallet_check_max;
  bool json = false;
  std::string report_path;
  bool allow_remote = false;
  bool progress = true;
  // Open loop (both scenarios): --rate, or --stages (then stages holds them and duration_s is
  // their total length). Neither: closed loop.
  std::optional<double> rate_per_s;
  std::string stages_text;
  std::vector<arrival_stage> stages;
  double late_ms = 10;
  // fcfs only.
  std::optional<double> opens_in_s;  // the opening bell
  double early_share = 0.1;
  double fairness_tolerance_ms = 1;
  std::vector<int> retry_on{503};
  bool idempotency = false;
  bool open_loop() const { return rate_per_s.has_value() || !stages.empty(); }
};

inline constexpr std::int64_t user_count_max = 10'000'000;
inline constexpr std::int64_t quantity_max = 10'000'000;
inline constexpr std::int64_t product_count_max = 10'000;
inline constexpr int connection_count_max = 10'000;
inline constexpr int thread_count_max = 64;
inline constexpr double duration_s_max = 86'400;
inline constexpr std::size_t read_urls_max = 16;
inline constexpr double late_ms_max = 60'000;
inline constexpr double opens_in_s_max = 3600;
inline constexpr double opens_in_s_min = 0.5;
inline constexpr double fairness_tolerance_ms_max = 60'000;

// Parses http://HOST[:PORT][/]; throws usage_error whose message starts with flag (the option
// the text came from). Loopback hosts only unless allow_remote.
server_url parse_server_url(const std::string& text, bool allow_remote,
                            const std::string& flag = "--url");
bool is_loopback_host(const std::string& host);

struct parse_result {
  std::optional<load_options> options;  // empty when help was printed
  std::string help_text;
};

// Parses argv; throws usage_error with a message naming the option. admin_token_env is
// ECOM_ADMIN_TOKEN (used when --admin-token is absent).
parse_result parse_load_options(const std::vector<std::string>& args, const char* admin_token_env);

}  // namespace ecom::load
