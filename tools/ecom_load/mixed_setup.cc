// Setup of the mixed scenario through the admin API and, for the per-user calls (charge,
// coupon issue), the connection pool.
#include "tools/ecom_load/mixed_setup.h"

#include <cstdio>
#include <mutex>

#include "tools/ecom_load/retrying_script.h"

namespace ecom::load {

namespace {

using std::chrono::milliseconds;

// The campaign stays open this long past the load phase.
constexpr double campaign_open_margin_s = 3600;

struct setup_shared {
  const mixed_plan& plan;
  std::vector<user_record>& users;
  std::int64_t campaign_id;
  std::string admin_token;
  std::string key_prefix;
  std::mutex mutex;
  std::vector<std::string> errors;
};

// Charges users [index, end) and issues a coupon to those the plan chose.
class setup_script final : public retrying_script {
 public:
  setup_script(setup_shared& shared, std::size_t begin, std::size_t end)
      : shared_(shared), index_(begin), end_(end) {}

 protected:
  bool produce(http_request& request) override {
    while (index_ < end_ && step_ == 2) advance();
    if (index_ >= end_) return false;
    user_record& user = shared_.users[index_];
    std::string id = std::to_string(user.user_id);
    request.body_limit_bytes = 64 * 1024;
    request.method = http_method::post;
    if (step_ == 0) {
      request.target = "/users/" + id + "/balance/charge";
      request.body = "{\"amount\":" + std::to_string(shared_.plan.charges[index_]) + "}";
      request.bearer_token = shared_.admin_token;
      request.idempotency_key = shared_.key_prefix + "-charge-" + id;
    } else {
      request.target = "/coupons/fcfs/" + std::to_string(shared_.campaign_id) + "/issue";
      request.body.clear();
      request.bearer_token = user.access_token;
      request.idempotency_key = shared_.key_prefix + "-issue-" + id;
    }
    return true;
  }

  milliseconds consume(const http_request& request, http_reply& reply, bool) override {
    user_record& user = shared_.users[index_];
    int wanted = step_ == 0 ? 200 : 201;
    if (reply.status != wanted) {
      std::lock_guard lock(shared_.mutex);
      shared_.errors.push_back("POST " + request.target + ": " + describe_answer(reply));
      advance();
      return milliseconds(0);
    }
    if (step_ == 0) {
      user.charged = shared_.plan.charges[index_];
      step_ = shared_.plan.gets_coupon[index_] && shared_.campaign_id > 0 ? 1 : 2;
    } else {
      reply_fields fields;
      parse_reply_fields(reply.body, fields);
      user.user_coupon_id = fields.id;
      step_ = 2;
    }
    return milliseconds(0);
  }

 private:
  void advance() {
    ++index_;
    step_ = 0;
  }

  setup_shared& shared_;
  std::size_t index_;
  std::size_t end_;
  int step_ = 0;  // 0 charge, 1 issue, 2 done with this user
};

std::vector<product_info> create_products(admin_api& api, const mixed_plan& plan) {
  std::vector<product_info> products;
  for (const auto& body : plan.product_bodies) {
    http_reply reply = api.call(http_method::post, "/admin/products", body);
    if (reply.status != 201) api.fail("POST /admin/products", reply);
    product_info product;
    std::string error = parse_product(reply.body, product);
    if (!error.empty()) api.fail("POST /admin/products (" + error + ")", reply);
    products.push_back(std::move(product));
  }
  return products;
}

}  // namespace

mixed_setup_result run_mixed_setup(admin_api& api, const load_options& o, const pool_options& pool,
                                   const std::string& key_prefix) {
  const mixed_options& m = o.mixed;
  mixed_plan plan = plan_mixed_setup(m.product_count, o.user_count, m.coupon_share, m.seed,
                                     "ecom-load mixed " + rfc3339_from_now(0));
  mixed_setup_result result;
  result.catalog.products = create_products(api, plan);
  result.catalog.coupon = plan.coupon;
  std::int64_t coupon_count = 0;
  for (bool gets : plan.gets_coupon) coupon_count += gets ? 1 : 0;
  if (coupon_count > 0) {
    campaign_info campaign =
        api.create_campaign(coupon_count, o.duration_s + campaign_open_margin_s, plan.coupon_body);
    result.catalog.campaign_id = campaign.id;
  }
  std::int64_t combination_count = 0;
  for (const auto& p : result.catalog.products) {
    combination_count += static_cast<std::int64_t>(p.combinations.size());
  }
  std::fprintf(stderr,
               "setup: %zu products (%lld combinations), campaign %lld with %lld coupons; "
               "creating %lld users\n",
               result.catalog.products.size(), static_cast<long long>(combination_count),
               static_cast<long long>(result.catalog.campaign_id),
               static_cast<long long>(coupon_count), static_cast<long long>(o.user_count));
  std::vector<load_user> users = api.create_users(o.user_count, "mixed");
  result.users.resize(users.size());
  for (std::size_t i = 0; i < users.size(); ++i) {
    result.users[i].user_id = users[i].id;
    result.users[i].access_token = std::move(users[i].access_token);
  }
  setup_shared shared{plan, result.users, result.catalog.campaign_id, o.admin_token, key_prefix, {},
                      {}};
  std::size_t count =
      std::min<std::size_t>(static_cast<std::size_t>(o.connection_count), result.users.size());
  std::vector<std::unique_ptr<request_script>> scripts;
  for (std::size_t c = 0; c < count; ++c) {
    scripts.push_back(std::make_unique<setup_script>(shared, result.users.size() * c / count,
                                                     result.users.size() * (c + 1) / count));
  }
  std::size_t gave_up = run_connection_pool(pool, scripts, {});
  if (gave_up > 0) {
    throw setup_error("setup: " + std::to_string(gave_up) + " connections to " + o.url.text() +
                      " gave up while charging balances");
  }
  if (!shared.errors.empty()) {
    throw setup_error("setup: " + std::to_string(shared.errors.size()) +
                      " charges or coupon issues failed, first: " + shared.errors.front());
  }
  std::fprintf(stderr, "setup: charged %zu users, issued %lld coupons\n", result.users.size(),
               static_cast<long long>(coupon_count));
  return result;
}

}  // namespace ecom::load
