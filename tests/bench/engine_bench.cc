// Engine throughput without HTTP and without fsync. Figures:
//   - BM_shard_state_charge: the bare domain through the kernel's dispatch (shard_state::run on
//     this thread): decide, encode the record, apply it;
//   - BM_shard_charge: the full shard path (mailbox → shard thread → journal → reply callback)
//     with a journal durable at once;
//   - closed loops (one request in flight) on two shards with threads of their own: a charge
//     (one hop, the baseline), a coupon issue (coupon_flow: take on the campaign's shard, then
//     the delivery on the user's), and an order plus its payment (order_flow).
// Run: build/bin/engine_bench; compare items/s within one run.
#include <benchmark/benchmark.h>

#include <atomic>
#include <future>
#include <memory>

#include "engine/coupon_flow.h"
#include "engine/order_flow.h"
#include "engine/product_rules.h"
#include "engine/shard.h"
#include "engine/shard_set.h"
#include "engine/shard_state.h"
#include "tests/support/fake_journal.h"

namespace {

using namespace ecom::engine;
using ecom::test::fake_journal;

constexpr time_ms t0 = 1'800'000'000'000;

// A shard's state with 1000 users; rebuilt every million charges so history memory stays
// bounded.
void fresh_state(std::unique_ptr<shard_state>& state, std::vector<entity_id>& ids) {
  state = std::make_unique<shard_state>(0, 1);
  ids.clear();
  std::vector<record> out;
  for (int i = 0; i < 1000; ++i) {
    out.clear();
    reply r = state->run(create_user{"u", "u" + std::to_string(i) + "@x.y", "h"}, key_step::none,
                         nullptr, t0, out);
    ids.push_back(std::get<user_view>(r.body).id);
  }
}

void BM_shard_state_charge(benchmark::State& state) {
  std::unique_ptr<shard_state> shard;
  std::vector<entity_id> ids;
  fresh_state(shard, ids);
  std::vector<record> out;
  std::size_t n = 0;
  for (auto _ : state) {
    out.clear();
    reply r =
        shard->run(charge_balance{ids[n++ % ids.size()], 1}, key_step::none, nullptr, t0, out);
    if (r.code != errc::ok) state.SkipWithError("charge refused");
    benchmark::DoNotOptimize(r);
    if (n % 1'000'000 == 0) {
      state.PauseTiming();
      fresh_state(shard, ids);
      state.ResumeTiming();
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_shard_state_charge);

void BM_shard_charge(benchmark::State& state) {
  fake_journal wal;
  wal.keep_records(false);
  shard s({0, 1, 65536, 1000}, [] { return t0; });
  s.start(wal);
  std::atomic<std::int64_t> done{0};
  entity_id id = 0;
  {
    std::atomic<bool> created{false};
    command c{create_user{"u", "u@x.y", "h"}, [&](reply&& r) {
                id = std::get<user_view>(r.body).id;
                created = true;
              }};
    s.post(c);
    while (!created) std::this_thread::yield();
  }
  std::int64_t sent = 0;
  for (auto _ : state) {
    command c{charge_balance{id, 1},
              [&](reply&&) { done.fetch_add(1, std::memory_order_relaxed); }};
    while (!s.post(c)) std::this_thread::yield();
    ++sent;
  }
  while (done.load() < sent) std::this_thread::yield();
  s.stop();
  state.SetItemsProcessed(sent);
}
BENCHMARK(BM_shard_charge)->UseRealTime();

// Two shards with their own threads: the user on shard 0, the product and a campaign on 1.
struct two_shards {
  fake_journal wal;
  shard_set shards{2, 65536, [] { return t0; }};
  order_flow orders{shards};
  coupon_flow coupons{shards};
  entity_id user_id = 0;
  entity_id campaign_id = 0;
  sale_fact fact;

  reply ask(shard_index index, command_body body) {
    std::promise<reply> promise;
    auto future = promise.get_future();
    command c{std::move(body), [&promise](reply&& r) { promise.set_value(std::move(r)); }};
    while (!shards.at(index).post(c)) std::this_thread::yield();
    return future.get();
  }
  template <class Start>
  reply wait(Start start) {
    std::promise<reply> promise;
    auto future = promise.get_future();
    start([&promise](reply&& r) { promise.set_value(std::move(r)); });
    return future.get();
  }
  two_shards() {
    wal.keep_records(false);
    shards.start(wal);
    user_id = std::get<bulk_page>(ask(0, bulk_create_users{1, "b"}).body).items.at(0).id;
    ask(0, charge_balance{user_id, 10'000'000});
    product_input input;
    input.name = "bench";
    input.base_price = 1;
    input.stock = 1'000'000'000;
    product_spec spec;
    validate_product(input, spec);
    auto product = std::get<product_view>(ask(1, create_product{spec}).body);
    fact = std::get<sale_facts>(
               ask(1, get_sale_facts{{{product.id, product.combinations[0].id}}}).body)
               .items.at(0);
    coupon_template t{0, "c", coupon_kind::fixed, 1, 0, 30, 0};
    auto coupon = std::get<coupon_template>(
        wait([&](reply_callback done) { coupons.create_template(t, std::move(done)); }).body);
    // Shard 1 (the first create_campaign of a fresh set goes where it is posted).
    campaign_id =
        std::get<campaign_view>(
            ask(1, create_campaign{coupon.id, fcfs_quantity_max, t0 - 1, t0 + day_ms}).body)
            .id;
  }
  ~two_shards() { shards.stop(); }
};

void BM_closed_loop_charge(benchmark::State& state) {
  two_shards c;
  for (auto _ : state) {
    if (c.ask(0, charge_balance{c.user_id, 1}).code != errc::ok)
      state.SkipWithError("charge refused");
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_closed_loop_charge)->UseRealTime()->Iterations(50'000);

// A distinct user per issue, as in a flash sale (bulk users on shard 0 made up front).
void BM_closed_loop_issue(benchmark::State& state) {
  two_shards c;
  constexpr std::uint32_t users = 50'000;
  auto page = std::get<bulk_page>(c.ask(0, bulk_create_users{users, "i"}).body);
  std::size_t n = 0;
  for (auto _ : state) {
    entity_id user = page.items[n++ % users].id;
    reply issued = c.wait([&](reply_callback done) {
      c.coupons.issue(c.campaign_id, user, nullptr, std::move(done));
    });
    if (issued.code != errc::ok) state.SkipWithError("issue refused");
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_closed_loop_issue)->UseRealTime()->Iterations(50'000);

void BM_closed_loop_order_and_pay(benchmark::State& state) {
  two_shards c;
  for (auto _ : state) {
    create_order order;
    order.user_id = c.user_id;
    order.items.push_back({c.fact.product_id, c.fact.combination_id, 1, c.fact});
    reply created = c.ask(0, std::move(order));
    entity_id order_id = std::get<order_view>(created.body).id;
    reply paid = c.wait(
        [&](reply_callback done) { c.orders.pay(c.user_id, order_id, nullptr, std::move(done)); });
    if (paid.code != errc::ok) state.SkipWithError("payment refused");
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_closed_loop_order_and_pay)->UseRealTime()->Iterations(50'000);

}  // namespace

BENCHMARK_MAIN();
