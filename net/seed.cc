#include "net/seed.h"

#include <chrono>
#include <future>
#include <string>
#include <thread>

#include "engine/product_rules.h"
#include "net/auth.h"
#include "net/log.h"

namespace ecom::net {

namespace {

// Runs one engine request and waits for its answer (seeding runs before the server is ready,
// so a full mailbox only means "try again").
template <class Start>
engine::reply call(Start start) {
  for (;;) {
    auto promise = std::make_shared<std::promise<engine::reply>>();
    auto future = promise->get_future();
    if (start([promise](engine::reply&& answer) { promise->set_value(std::move(answer)); }))
      return future.get();
    std::this_thread::yield();
  }
}

struct demo_user {
  const char* name;
  const char* email;
  const char* password;
  std::int64_t balance;
};

engine::combination_input pick(std::vector<std::pair<std::string, std::string>> picks,
                               std::int64_t extra, std::int64_t stock) {
  return engine::combination_input{std::move(picks), extra, stock};
}

engine::product_input tshirt() {
  engine::product_input p;
  p.name = "Basic Cotton T-shirt";
  p.description = "Heavyweight 100% cotton tee. Runs true to size.";
  p.base_price = 19'000;
  p.images = {{"https://img.ecomd.dev/tshirt/front.jpg", true, 1},
              {"https://img.ecomd.dev/tshirt/back.jpg", false, 2}};
  p.options = {{"color", {"white", "black", "navy"}}, {"size", {"S", "M", "L"}}};
  p.has_options = p.has_combinations = true;
  std::int64_t stocks[3][3] = {{12, 30, 8}, {0, 25, 14}, {5, 0, 3}};
  for (int c = 0; c < 3; ++c) {
    for (int z = 0; z < 3; ++z) {
      p.combinations.push_back(
          pick({{"color", p.options[0].values[c]}, {"size", p.options[1].values[z]}},
               z == 2 ? 1'000 : 0, stocks[c][z]));
    }
  }
  return p;
}

engine::product_input sneakers() {
  engine::product_input p;
  p.name = "Running Sneakers";
  p.description = "Light mesh upper, cushioned sole.";
  p.base_price = 89'000;
  p.images = {{"https://img.ecomd.dev/sneakers/side.jpg", true, 1}};
  p.options = {{"color", {"red", "gray"}}, {"size", {"250", "260", "270"}}};
  p.has_options = p.has_combinations = true;
  for (const auto& color : p.options[0].values) {
    for (const auto& size : p.options[1].values) {
      p.combinations.push_back(pick({{"color", color}, {"size", size}}, color == "red" ? 5'000 : 0,
                                    size == "270" ? 2 : 10));
    }
  }
  return p;
}

engine::product_input simple(std::string name, std::int64_t price, std::int64_t stock,
                             std::string image, bool active) {
  engine::product_input p;
  p.name = std::move(name);
  p.base_price = price;
  p.stock = stock;
  p.is_active = active;
  if (!image.empty()) p.images = {{std::move(image), true, 1}};
  return p;
}

engine::product_input parka() {
  engine::product_input p =
      simple("Winter Parka", 159'000, 0, "https://img.ecomd.dev/parka/front.jpg", false);
  p.description = "Back in autumn.";
  p.options = {{"size", {"M", "L"}}};
  p.has_options = p.has_combinations = true;
  p.combinations = {pick({{"size", "M"}}, 0, 3), pick({{"size", "L"}}, 0, 3)};
  return p;
}

void seed_catalog(engine::gateway& engine) {
  std::vector<engine::product_input> products = {
      tshirt(), simple("Ceramic Mug", 12'000, 40, "https://img.ecomd.dev/mug/mug.jpg", true),
      sneakers(), simple("Canvas Tote Bag", 15'000, 0, "https://img.ecomd.dev/tote/tote.jpg", true),
      parka()};
  for (std::size_t i = 0; i < products.size(); ++i) {
    engine::product_spec spec;
    auto violation = engine::validate_product(products[i], spec);
    if (violation) {
      log_line(log_level::error, "demo product %s is invalid: %s %s", products[i].name.c_str(),
               violation->field.c_str(), violation->detail.c_str());
      continue;
    }
    engine::reply created =
        call([&](engine::reply_callback done) { return engine.create_product(spec, done); });
    if (created.code == engine::errc::ok) {
      log_line(log_level::info, "seeded product %lld %s",
               static_cast<long long>(std::get<engine::product_view>(created.body).id),
               products[i].name.c_str());
    }
  }
}

// Two coupons and their first-come campaigns: one open now, one opening tomorrow.
void seed_coupons(engine::gateway& engine, std::int64_t now_ms) {
  struct demo_campaign {
    engine::coupon_template coupon;
    std::int64_t quantity;
    std::int64_t start_in_ms;
  };
  demo_campaign campaigns[] = {
      {{0, "3,000 won off orders over 30,000", engine::coupon_kind::fixed, 3'000, 30'000, 30, 0},
       100,
       -60'000},
      {{0, "10% off, flash sale", engine::coupon_kind::percent, 10, 0, 7, 0},
       50,
       24LL * 3600 * 1000},
  };
  for (auto& c : campaigns) {
    // The same template flow as POST /admin/coupons: installed on every shard before the answer.
    engine::reply created =
        call([&](engine::reply_callback done) { return engine.create_coupon(c.coupon, done); });
    if (created.code != engine::errc::ok) continue;
    auto coupon = std::get<engine::coupon_template>(created.body);
    std::int64_t start = now_ms + c.start_in_ms;
    engine::create_campaign campaign_input{coupon.id, c.quantity, start,
                                           start + 30 * engine::day_ms};
    engine::reply campaign = call(
        [&](engine::reply_callback done) { return engine.create_campaign(campaign_input, done); });
    if (campaign.code == engine::errc::ok) {
      log_line(log_level::info, "seeded coupon %lld and campaign %lld (%s)",
               static_cast<long long>(coupon.id),
               static_cast<long long>(std::get<engine::campaign_view>(campaign.body).id),
               coupon.name.c_str());
    }
  }
}

}  // namespace

void seed_demo(engine::gateway& engine, std::uint32_t kdf_iterations) {
  static constexpr demo_user users[] = {
      {"Demo Shopper", "demo@ecomd.dev", "demo-password", 500'000},
      {"Kim Minji", "minji@ecomd.dev", "demo-password", 120'000},
      {"Lee Jun", "jun@ecomd.dev", "demo-password", 0},
  };
  for (const auto& u : users) {
    engine::create_user user{u.name, u.email, hash_password(u.password, kdf_iterations)};
    engine::reply created =
        call([&](engine::reply_callback done) { return engine.submit(user, done); });
    if (created.code != engine::errc::ok) continue;
    auto id = std::get<engine::user_view>(created.body).id;
    if (u.balance > 0) {
      call([&](engine::reply_callback done) {
        return engine.submit(engine::charge_balance{id, u.balance}, done);
      });
    }
    log_line(log_level::info, "seeded user %lld <%s> (password \"%s\")", static_cast<long long>(id),
             u.email, u.password);
  }
  seed_catalog(engine);
  seed_coupons(engine, engine.now());
}

}  // namespace ecom::net
