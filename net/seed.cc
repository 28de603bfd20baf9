#include "net/seed.h"

#include <future>
#include <string>
#include <thread>

#include "net/auth.h"
#include "net/log.h"

namespace ecom::net {

namespace {

engine::reply call(engine::shard& owner, engine::command_body body) {
  std::promise<engine::reply> promise;
  auto future = promise.get_future();
  engine::command item{std::move(body), [&promise](engine::reply&& answer) {
                         promise.set_value(std::move(answer));
                       }};
  while (!owner.post(item)) std::this_thread::yield();
  return future.get();
}

struct demo_user {
  const char* name;
  const char* email;
  const char* password;
  std::int64_t balance;
};

}  // namespace

void seed_demo(engine::shard_set& shards, std::uint32_t kdf_iterations) {
  static constexpr demo_user users[] = {
      {"Demo Shopper", "demo@ecomd.dev", "demo-password", 500'000},
      {"Kim Minji", "minji@ecomd.dev", "demo-password", 120'000},
      {"Lee Jun", "jun@ecomd.dev", "demo-password", 0},
  };
  for (const auto& u : users) {
    engine::reply created =
        call(shards.owner_of_email(u.email),
             engine::create_user{u.name, u.email, hash_password(u.password, kdf_iterations)});
    if (created.code != engine::errc::ok) continue;
    auto id = std::get<engine::user_view>(created.body).id;
    if (u.balance > 0) call(shards.owner_of_id(id), engine::charge_balance{id, u.balance, {}});
    log_line(log_level::info, "seeded user %lld <%s> (password \"%s\")", static_cast<long long>(id),
             u.email, u.password);
  }
}

}  // namespace ecom::net
