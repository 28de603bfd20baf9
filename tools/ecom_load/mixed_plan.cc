// The mixed scenario's setup plan: product bodies with stock sized from the expected demand,
// balances to charge, and who gets a coupon. Deterministic for a seed.
#include <algorithm>
#include <random>

#include "tools/ecom_load/mixed_types.h"

namespace ecom::load {

namespace {

constexpr std::int64_t base_price_min = 1'000;
constexpr std::int64_t base_price_max = 30'000;
constexpr double options_share = 0.4;
constexpr double scarce_share = 0.3;
constexpr std::int64_t units_per_user = 30;  // about what a user's balance buys over a run
constexpr std::int64_t average_order = 4 * (base_price_min + base_price_max) / 2;
constexpr std::int64_t charge_max = 10'000'000;

const char* const colors[] = {"red", "blue"};
const char* const sizes[] = {"S", "M", "L"};
constexpr std::int64_t size_extra[] = {0, 500, 1000};
constexpr std::int64_t combinations_with_options = 6;

std::int64_t uniform(std::mt19937_64& rng, std::int64_t low, std::int64_t high) {
  return std::uniform_int_distribution<std::int64_t>(low, high)(rng);
}

double unit(std::mt19937_64& rng) {
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

std::int64_t stock_for(std::mt19937_64& rng, std::int64_t per_combination) {
  if (unit(rng) < scarce_share) {
    return std::max<std::int64_t>(1, per_combination * uniform(rng, 2, 10) / 100);
  }
  return std::max<std::int64_t>(1, per_combination * uniform(rng, 50, 200) / 100);
}

}  // namespace

mixed_plan plan_mixed_setup(std::int64_t product_count, std::int64_t user_count,
                            double coupon_share, std::uint64_t seed,
                            const std::string& coupon_name) {
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ULL + 17);
  mixed_plan plan;
  std::vector<bool> with_options(static_cast<std::size_t>(product_count));
  std::int64_t combination_count = 0;
  for (std::size_t i = 0; i < with_options.size(); ++i) {
    with_options[i] = unit(rng) < options_share;
    combination_count += with_options[i] ? combinations_with_options : 1;
  }
  std::int64_t per_combination =
      std::max<std::int64_t>(10, user_count * units_per_user / combination_count);
  for (std::size_t i = 0; i < with_options.size(); ++i) {
    std::int64_t base = uniform(rng, base_price_min / 100, base_price_max / 100) * 100;
    std::string body = "{\"name\":\"ecom-load mixed " + std::to_string(i + 1) +
                       "\",\"base_price\":" + std::to_string(base);
    if (!with_options[i]) {
      body += ",\"stock\":" + std::to_string(stock_for(rng, per_combination)) + "}";
    } else {
      body +=
          ",\"options\":[{\"name\":\"color\",\"values\":[\"red\",\"blue\"]},"
          "{\"name\":\"size\",\"values\":[\"S\",\"M\",\"L\"]}],\"combinations\":[";
      bool first = true;
      for (const char* color : colors) {
        for (std::size_t s = 0; s < std::size(sizes); ++s) {
          body += std::string(first ? "" : ",") + "{\"options\":{\"color\":\"" + color +
                  "\",\"size\":\"" + sizes[s] +
                  "\"},\"additional_price\":" + std::to_string(size_extra[s]) +
                  ",\"stock\":" + std::to_string(stock_for(rng, per_combination)) + "}";
          first = false;
        }
      }
      body += "]}";
    }
    plan.product_bodies.push_back(std::move(body));
  }
  plan.charges.resize(static_cast<std::size_t>(user_count));
  plan.gets_coupon.resize(static_cast<std::size_t>(user_count));
  for (std::size_t u = 0; u < plan.charges.size(); ++u) {
    plan.charges[u] =
        std::min(charge_max, uniform(rng, average_order / 200, average_order * 6 / 100) * 100);
    plan.gets_coupon[u] = unit(rng) < coupon_share;
  }
  plan.coupon = coupon_terms{"FIXED", 3'000, 5'000};
  plan.coupon_body = "{\"name\":\"" + coupon_name + "\",\"type\":\"" + plan.coupon.type +
                     "\",\"amount\":" + std::to_string(plan.coupon.amount) +
                     ",\"min_order_amount\":" + std::to_string(plan.coupon.min_order_amount) +
                     ",\"valid_days\":30}";
  return plan;
}

}  // namespace ecom::load
