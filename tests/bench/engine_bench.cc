// Engine throughput without HTTP and without fsync: balance charges applied per second by one
// shard. Two figures: the bare domain (user_book::handle on this thread) and the full shard
// path (mailbox → shard thread → journal → reply callback) with a journal that makes every
// record durable at once. Run: build/bin/engine_bench
#include <benchmark/benchmark.h>

#include <atomic>
#include <future>
#include <memory>
#include <mutex>

#include "engine/order_flow.h"
#include "engine/product_rules.h"
#include "engine/shard.h"
#include "engine/shard_set.h"
#include "engine/user_book.h"

namespace {

using namespace ecom::engine;

constexpr time_ms t0 = 1'800'000'000'000;

// A book with 1000 users; rebuilt every million charges so history memory stays bounded.
struct book_with_keys {
  idempotency_table keys;
  user_book book{0, 1, keys};
};

void fresh_book(std::unique_ptr<book_with_keys>& holder, std::vector<entity_id>& ids) {
  holder = std::make_unique<book_with_keys>();
  user_book& book = holder->book;
  ids.clear();
  std::vector<record> out;
  for (int i = 0; i < 1000; ++i) {
    reply r = book.handle(create_user{"u", "u" + std::to_string(i) + "@x.y", "h"}, t0, out);
    ids.push_back(std::get<user_view>(r.body).id);
  }
}

void BM_user_book_charge(benchmark::State& state) {
  std::unique_ptr<book_with_keys> holder;
  std::vector<entity_id> ids;
  fresh_book(holder, ids);
  std::vector<record> out;
  std::size_t n = 0;
  for (auto _ : state) {
    out.clear();
    reply r = holder->book.handle(charge_balance{ids[n++ % ids.size()], 1, {}}, t0, out);
    if (r.code != errc::ok) state.SkipWithError("charge refused");
    benchmark::DoNotOptimize(r);
    if (n % 1'000'000 == 0) {
      state.PauseTiming();
      fresh_book(holder, ids);
      state.ResumeTiming();
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_user_book_charge);

// Durable at once: what is left is the shard's own cost.
class instant_journal final : public journal {
 public:
  lsn_t append(std::span<const record> records, durable_callback done) override {
    lsn_t lsn = last_.fetch_add(records.size()) + records.size();
    if (done) done();
    return lsn;
  }
  lsn_t durable_lsn() const override { return last_.load(); }

 private:
  std::atomic<lsn_t> last_{0};
};

void BM_shard_charge(benchmark::State& state) {
  instant_journal wal;
  shard s({0, 1, 65536, 1000}, wal, [] { return t0; });
  s.start();
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
    command c{charge_balance{id, 1, {}},
              [&](reply&&) { done.fetch_add(1, std::memory_order_relaxed); }};
    while (!s.post(c)) std::this_thread::yield();
    ++sent;
  }
  while (done.load() < sent) std::this_thread::yield();
  s.stop();
  state.SetItemsProcessed(sent);
}
BENCHMARK(BM_shard_charge)->UseRealTime();

// Closed loop (one request in flight) on two shards with their own threads: the user on shard
// 0, the product on shard 1. The charge is the baseline (one hop); an order is create (one hop,
// facts passed in) plus the payment flow (begin, take on the product's shard, finish, commit +
// event). Compare items/s of the two in the same run: the ratio is the cost of the hops.
struct two_shards {
  instant_journal wal;
  shard_set shards{2, 65536, wal, [] { return t0; }};
  order_flow flow{shards, wal};
  entity_id user_id = 0;
  sale_fact fact;

  reply ask(shard_index index, command_body body) {
    std::promise<reply> promise;
    auto future = promise.get_future();
    command c{std::move(body), [&promise](reply&& r) { promise.set_value(std::move(r)); }, {}};
    while (!shards.at(index).post(c)) std::this_thread::yield();
    return future.get();
  }
  two_shards() {
    shards.start();
    user_id = std::get<bulk_page>(ask(0, bulk_create_users{1, "b"}).body).items.at(0).id;
    ask(0, charge_balance{user_id, 10'000'000, {}});
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
  }
  ~two_shards() { shards.stop(); }
};

void BM_closed_loop_charge(benchmark::State& state) {
  two_shards c;
  for (auto _ : state) {
    if (c.ask(0, charge_balance{c.user_id, 1, {}}).code != errc::ok)
      state.SkipWithError("charge refused");
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_closed_loop_charge)->UseRealTime()->Iterations(50'000);

void BM_closed_loop_order_and_pay(benchmark::State& state) {
  two_shards c;
  for (auto _ : state) {
    create_order order;
    order.user_id = c.user_id;
    order.items.push_back({c.fact.product_id, c.fact.combination_id, 1, c.fact});
    reply created = c.ask(0, std::move(order));
    std::promise<reply> promise;
    auto future = promise.get_future();
    c.flow.pay(begin_payment{c.user_id, std::get<order_view>(created.body).id, {}},
               [&promise](reply&& r) { promise.set_value(std::move(r)); });
    if (future.get().code != errc::ok) state.SkipWithError("payment refused");
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_closed_loop_order_and_pay)->UseRealTime()->Iterations(50'000);

}  // namespace

BENCHMARK_MAIN();
