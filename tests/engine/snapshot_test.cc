// Snapshots of one shard's books (engine/snapshot.h), as properties over seeded random
// workloads that touch every book and every record type:
//   - load(save(x)) saves to the same bytes, for states at many cut points;
//   - a capture started at a cut and walked in small steps while the workload goes on (every
//     change in between) writes exactly the state at the cut: each key once, byte-equal to
//     save() at the cut ("serialize before mutate");
//   - the snapshot plus the log after its cut replays to the state a full replay builds.
#include <gtest/gtest.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <set>

#include "engine/shard.h"
#include "tests/support/fake_journal.h"
#include "tests/support/shard_books.h"

namespace ecom::engine {
namespace {

using test::t0;

// Entities of a capture, by key; fails the test on a key written twice.
std::map<std::string, std::string> entities_of(std::string_view bytes) {
  std::map<std::string, std::string> out;
  bool whole = for_each_captured(bytes, [&](std::string_view key, std::string_view value) {
    auto [at, inserted] = out.emplace(std::string(key), std::string(value));
    EXPECT_TRUE(inserted) << "a capture wrote key " << testing::PrintToString(key) << " twice";
  });
  EXPECT_TRUE(whole) << "capture bytes are not whole frames";
  return out;
}

std::string describe_key(std::string_view bytes) {
  auto key = snapshot_key::parse(bytes);
  if (!key) return "<bad key>";
  return "(table " + std::to_string(static_cast<int>(key->table())) + ", " +
         std::to_string(key->a()) + ", " + std::to_string(key->b()) + ")";
}

// The keys whose values differ between two saves (readable, unlike the bytes).
::testing::AssertionResult same_state(std::string_view actual, std::string_view expected) {
  if (actual == expected) return ::testing::AssertionSuccess();
  auto a = entities_of(actual), e = entities_of(expected);
  auto failure = ::testing::AssertionFailure();
  int shown = 0;
  for (const auto& [key, value] : e) {
    auto it = a.find(key);
    if (it == a.end()) {
      if (shown++ < 8) failure << "missing " << describe_key(key) << "; ";
    } else if (it->second != value) {
      if (shown++ < 8) failure << "differs " << describe_key(key) << "; ";
    }
  }
  for (const auto& [key, value] : a) {
    if (!e.contains(key) && shown++ < 8) failure << "extra " << describe_key(key) << "; ";
  }
  if (shown == 0) failure << "same entities in another order";
  return failure;
}

// Loads `bytes` (a capture) into `target`, then the templates and derived indexes.
::testing::AssertionResult load_into(std::string_view bytes, shard_state& target) {
  std::string failed;
  bool whole = for_each_captured(bytes, [&](std::string_view key, std::string_view value) {
    if (failed.empty() && !target.load(key, value))
      failed = "entity " + testing::PrintToString(std::string(key)) + " does not load";
  });
  if (!whole) return ::testing::AssertionFailure() << "not whole frames";
  if (!failed.empty()) return ::testing::AssertionFailure() << failed;
  target.end_load();
  return ::testing::AssertionSuccess();
}

// A workload over every book: users and sessions, balances (some keyed), products and stock,
// carts, coupons issued through campaigns (some keyed), orders paid, failed, cancelled,
// refunded and expired, and the sweep. `long_gaps` lets time jump past the key TTL and the
// popularity window, so the sweep forgets (which a replay does not: only capture-vs-save
// comparisons use it).
class workload {
 public:
  workload(std::uint32_t seed, bool long_gaps) : rng_(seed), long_gaps_(long_gaps) {}

  test::shard_books b;

  void step() {
    ++steps_;
    switch (pick(14)) {
      case 0:
      case 1:
        make_user();
        break;
      case 2:
        if (!users_.empty()) charge();
        break;
      case 3:
        if (!users_.empty()) sessions();
        break;
      case 4:
        make_product();
        break;
      case 5:
        if (!products_.empty()) change_product();
        break;
      case 6:
        if (!users_.empty() && !products_.empty()) cart();
        break;
      case 7:
        make_campaign();
        break;
      case 8:
      case 9:
        if (!users_.empty() && !campaigns_.empty()) issue();
        break;
      case 10:
      case 11:
        if (!users_.empty() && !products_.empty()) order();
        break;
      case 12:
        if (!orders_.empty()) close_order();
        break;
      case 13:
        advance_time();
        break;
    }
  }
  time_ms now() const { return now_; }

 private:
  std::size_t pick(std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_);
  }
  template <class T>
  const T& any(const std::vector<T>& v) {
    return v[pick(v.size())];
  }
  reply run(const command_body& body) { return b.shard.run(body, now_); }
  reply run_keyed(const command_body& body, entity_id user_id, std::string scope) {
    // Few distinct keys, so replays and reuse with another body happen too.
    idempotency_key key = test::make_key(user_id, named('k', pick(3)), std::move(scope),
                                         {errc::coupon_already_issued});
    key.body_sha256[0] = static_cast<std::uint8_t>(pick(2));
    return b.shard.run(body, now_, key_step::check, &key);
  }

  // "t3" and the like (GCC 12 warns falsely on "t" + std::to_string(n), PR 105651).
  static std::string named(char prefix, std::uint64_t n) {
    std::string name(1, prefix);
    name += std::to_string(n);
    return name;
  }
  std::string token_name() { return named('t', pick(4)); }
  void make_user() {
    std::string email = named('u', steps_);
    email += "@x.y";
    reply r = run(create_user{"u", email, "h"});
    ASSERT_EQ(r.code, errc::ok);
    users_.push_back(std::get<user_view>(r.body).id);
  }
  void charge() {
    entity_id user = any(users_);
    charge_balance c{user, static_cast<std::int64_t>(1 + pick(50'000))};
    if (pick(3) == 0) {
      run_keyed(c, user, "charge");
    } else {
      run(c);
    }
  }
  void sessions() {
    entity_id user = any(users_);
    std::string token = token_name();
    switch (pick(3)) {
      case 0: {
        // Half the sessions with a rotation family (snapshots carry it), half without.
        std::string family;
        if (pick(2) == 0) family.append("f").append(token);  // not "f" + token: GCC 12 -Wrestrict
        run(open_session{user, token, now_ + day_ms, family});
      } break;
      case 1:
        run(rotate_session{user, token, token_name(), now_ + day_ms, ""});
        break;
      default:
        run(close_session{user, token, ""});
    }
  }
  void make_product() {
    products_.push_back(b.product(static_cast<std::int64_t>(100 + pick(5'000)),
                                  static_cast<std::int64_t>(pick(20)), pick(5) != 0));
  }
  void change_product() {
    const product_view& p = any(products_);
    if (pick(2) == 0) {
      update_product u;
      u.product_id = p.id;
      u.name = "renamed " + std::to_string(steps_);
      u.is_active = pick(4) != 0;
      run(u);
    } else {
      run(adjust_stock{p.id, p.combinations[0].id, static_cast<std::int64_t>(pick(10))});
    }
  }
  void cart() {
    entity_id user = any(users_);
    const product_view& p = any(products_);
    reply view = run(get_cart{user});
    const auto* lines = std::get_if<cart_view>(&view.body);
    if (lines == nullptr || lines->lines.empty() || pick(2) == 0) {
      add_cart_item add{user, p.id, p.combinations[0].id, static_cast<std::int64_t>(1 + pick(3)),
                        b.fact(p)};
      run(add);
      return;
    }
    entity_id item = lines->lines[pick(lines->lines.size())].id;
    if (pick(2) == 0) {
      run(set_cart_quantity{user, item, static_cast<std::int64_t>(1 + pick(5)), b.fact(p)});
    } else {
      run(remove_cart_item{user, item});
    }
  }
  void make_campaign() {
    coupon_template t{0,
                      "c",
                      pick(2) == 0 ? coupon_kind::fixed : coupon_kind::percent,
                      static_cast<std::int64_t>(1 + pick(50)),
                      0,
                      static_cast<std::int64_t>(1 + pick(2)),
                      0};
    reply made = run(create_coupon{t});
    ASSERT_EQ(made.code, errc::ok);
    entity_id coupon = std::get<coupon_template>(made.body).id;
    reply campaign = run(create_campaign{coupon, static_cast<std::int64_t>(1 + pick(8)), now_ - 1,
                                         now_ + 30 * day_ms});
    ASSERT_EQ(campaign.code, errc::ok);
    campaigns_.push_back(std::get<campaign_view>(campaign.body).id);
  }
  void issue() {
    entity_id user = any(users_);
    take_coupon take{any(campaigns_), user, nullptr};
    reply taken;
    if (pick(3) == 0) {
      auto key =
          std::make_shared<idempotency_key>(test::make_key(user, named('i', pick(3)), "issue"));
      take.key_to_store = key;
      taken = run(take);
    } else {
      taken = run(take);
    }
    if (taken.code != errc::ok) return;
    reply delivered = run(deliver_coupon{std::get<user_coupon_view>(taken.body)});
    ASSERT_EQ(delivered.code, errc::ok);
    coupons_.emplace_back(user, std::get<user_coupon_view>(delivered.body).id);
  }
  void order() {
    entity_id user = any(users_);
    entity_id coupon = 0;
    if (!coupons_.empty() && pick(2) == 0) {
      const auto& [holder, id] = any(coupons_);
      user = holder;
      coupon = id;
    }
    reply created =
        b.order(user, {{any(products_), static_cast<std::int64_t>(1 + pick(2))}}, coupon, now_);
    if (created.code != errc::ok) return;
    entity_id order_id = std::get<order_view>(created.body).id;
    orders_.emplace_back(user, order_id);
    if (pick(3) != 0) b.pay(user, order_id, now_);
  }
  void close_order() {
    const auto& [user, order_id] = any(orders_);
    reply cancelled = run(cancel_order{user, order_id});
    if (cancelled.code != errc::ok) return;
    const auto& o = std::get<order_view>(cancelled.body);
    if (o.status == order_status::refunded) {
      run(refund_sale{order_id});
      run(record_event{order_event_type::refunded, now_, o});
    }
  }
  void advance_time() {
    time_ms gap = long_gaps_ && pick(4) == 0 ? static_cast<time_ms>(pick(40)) * day_ms
                                             : static_cast<time_ms>(pick(20)) * minute_ms;
    now_ += gap;
    b.shard.tick(now_);
  }

  std::mt19937 rng_;
  bool long_gaps_;
  std::uint64_t steps_ = 0;
  time_ms now_ = t0;
  std::vector<entity_id> users_;
  std::vector<product_view> products_;
  std::vector<entity_id> campaigns_;
  std::vector<std::pair<entity_id, entity_id>> coupons_;  // (user, user coupon)
  std::vector<std::pair<entity_id, entity_id>> orders_;   // (user, order)
};

TEST(snapshot_test, keys_sort_numerically_and_parse_back) {
  snapshot_key a(snapshot_table::users, 2), b(snapshot_table::users, 256);
  EXPECT_LT(a.bytes(), b.bytes());
  snapshot_key c(snapshot_table::issued, 7, 1'000'000);
  auto parsed = snapshot_key::parse(c.bytes());
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->table(), snapshot_table::issued);
  EXPECT_EQ(parsed->a(), 7u);
  EXPECT_EQ(parsed->b(), 1'000'000u);
  EXPECT_FALSE(snapshot_key::parse(std::string_view("\x02\x00", 2)));
  EXPECT_FALSE(snapshot_key::parse(std::string(9, '\x63')));  // no such table
}

// Kept answers an older build stored as bytes (still read from its WAL) save and load as such.
TEST(snapshot_test, a_kept_answer_of_the_older_byte_format_saves_and_loads) {
  shard_state state(0, 1);
  idempotency_entry entry;
  entry.user_id = 1;
  entry.scope = "POST /users/1/balance/charge";
  entry.key = "k1";
  entry.created_at = t0;
  entry.body = stored_reply{200, "{\"balance\":5}"};
  state.keys.insert(entry);
  const std::string saved = state.save();
  shard_state loaded(0, 1);
  ASSERT_TRUE(load_into(saved, loaded));
  EXPECT_EQ(loaded.save(), saved);
}

// Loading sizes the user maps from the books header only once load_reserve_after_entries
// users have come (a forged count alone sizes nothing: fuzz_snapshot_entities); past that
// point, and with a header that claims far more users than follow, the state loads whole.
TEST(snapshot_test, users_past_the_sizing_point_and_a_forged_count_load_whole) {
  test::state_runner runner;
  const auto count = static_cast<std::uint32_t>(load_reserve_after_entries + 100);
  ASSERT_EQ(runner.run(bulk_create_users{count, "u"}).code, errc::ok);
  const std::string saved = runner.state.save();
  shard_state loaded(0, 1);
  ASSERT_TRUE(load_into(saved, loaded));
  EXPECT_EQ(loaded.save(), saved);
  EXPECT_TRUE(loaded.check_invariants().empty());

  // The same users under a books header claiming 2^40 of them.
  std::string forged;
  for_each_captured(saved, [&](std::string_view key, std::string_view value) {
    std::string v(value);
    auto parsed = snapshot_key::parse(key);
    if (parsed && parsed->table() == snapshot_table::books &&
        parsed->a() == static_cast<std::uint64_t>(snapshot_book::users)) {
      const std::uint64_t claimed = std::uint64_t{1} << 40;
      v.replace(0, 8, reinterpret_cast<const char*>(&claimed), 8);
    }
    forged += static_cast<char>(key.size());
    forged += key;
    const auto size = static_cast<std::uint32_t>(v.size());
    forged.append(reinterpret_cast<const char*>(&size), 4);
    forged += v;
  });
  shard_state from_forged(0, 1);
  EXPECT_TRUE(load_into(forged, from_forged));
}

TEST(snapshot_test, a_save_loads_back_to_the_same_bytes_at_every_cut) {
  for (std::uint32_t seed = 1; seed <= 4; ++seed) {
    workload w(seed, true);
    for (int i = 0; i < 600; ++i) {
      w.step();
      if (i % 50 != 49) continue;
      std::string saved = w.b.shard.state.save();
      entities_of(saved);
      shard_state loaded(0, 1);
      ASSERT_TRUE(load_into(saved, loaded)) << "seed " << seed << " step " << i;
      EXPECT_TRUE(same_state(loaded.save(), saved)) << "seed " << seed << " step " << i;
      EXPECT_TRUE(loaded.check_invariants().empty());
    }
  }
}

TEST(snapshot_test, a_capture_walked_while_serving_writes_the_state_at_its_cut) {
  for (std::uint32_t seed = 11; seed <= 18; ++seed) {
    workload w(seed, true);
    std::mt19937 rng(seed);
    for (int i = 0; i < 200; ++i) w.step();
    for (int round = 0; round < 4; ++round) {
      shard_state& live = w.b.shard.state;
      const std::string at_cut = live.save();
      capture_buffer out;
      live.begin_capture(out);
      bool done = false;
      int changes = 0;
      while (!done) {
        w.step();  // a change between steps of the walk
        ++changes;
        capture_budget budget{1 + rng() % 4};
        done = live.capture_step(out, budget);
      }
      live.end_capture();
      EXPECT_GT(changes, 10);
      auto captured = entities_of(out.bytes());
      auto expected = entities_of(at_cut);
      EXPECT_EQ(captured.size(), expected.size()) << "seed " << seed << " round " << round;
      for (const auto& [key, value] : expected) {
        auto it = captured.find(key);
        if (it == captured.end()) {
          ADD_FAILURE() << "seed " << seed << ": missing " << testing::PrintToString(key);
        } else if (it->second != value) {
          ADD_FAILURE() << "seed " << seed << ": key " << testing::PrintToString(key)
                        << " holds a value from after the cut";
        }
      }
      for (const auto& [key, value] : captured) {
        if (!expected.contains(key))
          ADD_FAILURE() << "seed " << seed << ": " << testing::PrintToString(key)
                        << " was made after the cut";
      }
    }
  }
}

TEST(snapshot_test, a_snapshot_plus_the_log_after_it_replays_to_the_full_replay) {
  for (std::uint32_t seed = 21; seed <= 26; ++seed) {
    workload w(seed, false);
    std::vector<std::pair<std::size_t, std::string>> cuts;  // (log size at the cut, capture)
    for (int i = 0; i < 500; ++i) {
      w.step();
      if (i % 100 == 0) cuts.emplace_back(w.b.log.size(), w.b.shard.state.save());
    }
    shard_state full(0, 1);
    ASSERT_TRUE(test::replay(w.b.log, full));
    const std::string expected = full.save();
    EXPECT_TRUE(same_state(w.b.shard.state.save(), expected)) << "live and replayed state differ";
    for (const auto& [at, bytes] : cuts) {
      shard_state from_snapshot(0, 1);
      ASSERT_TRUE(load_into(bytes, from_snapshot));
      std::vector<record> tail(w.b.log.begin() + static_cast<std::ptrdiff_t>(at), w.b.log.end());
      ASSERT_TRUE(test::replay(tail, from_snapshot)) << "seed " << seed << " cut " << at;
      EXPECT_TRUE(same_state(from_snapshot.save(), expected)) << "seed " << seed << " cut " << at;
    }
  }
}

// Collects what a shard hands over, per snapshot id.
class collecting_port : public snapshot_port {
 public:
  void deliver(shard_index, std::uint64_t id, capture_stream stream, std::string chunk) override {
    std::lock_guard lock(mutex_);
    bytes_[id] += chunk;
    if (stream == capture_stream::walk) walk_[id] += chunk;
  }
  // The walk's stream of snapshot `id` (keys ascending).
  std::string walk(std::uint64_t id) {
    std::lock_guard lock(mutex_);
    return walk_[id];
  }
  bool has_room(shard_index) const override { return true; }
  void finished(shard_index, std::uint64_t id, lsn_t cut) override {
    std::lock_guard lock(mutex_);
    cuts_[id] = cut;
    done_.notify_all();
  }
  // The bytes of snapshot `id` once its capture finished (empty after 5 s).
  std::string wait_for(std::uint64_t id) {
    std::unique_lock lock(mutex_);
    if (!done_.wait_for(lock, std::chrono::seconds(5), [&] { return cuts_.contains(id); }))
      return {};
    return bytes_[id];
  }

 private:
  std::mutex mutex_;
  std::condition_variable done_;
  std::map<std::uint64_t, std::string> bytes_;
  std::map<std::uint64_t, std::string> walk_;
  std::map<std::uint64_t, lsn_t> cuts_;
};

// A snapshot that began while the walk of one given up still ran (the snapshotter abandons a
// snapshot that failed and may begin the next at once): the shard drops the old walk and the
// new capture is the whole state, every key once.
TEST(snapshot_test, a_capture_begun_over_an_abandoned_one_starts_over_and_is_whole) {
  workload w(31, false);
  for (int i = 0; i < 400; ++i) w.step();
  shard s(shard_options{0, 1, 4096, 1000}, [] { return t0; });
  lsn_t lsn = 0;
  for (const auto& r : w.b.log) ASSERT_TRUE(s.replay(r.type, r.payload, ++lsn));
  test::fake_journal wal;
  s.start(wal);
  collecting_port port;
  command first{begin_snapshot{&port, 1}, [](reply&&) {}};
  command second{begin_snapshot{&port, 2}, [](reply&&) {}};
  ASSERT_TRUE(s.post_always(first));
  ASSERT_TRUE(s.post_always(second));
  const std::string captured = port.wait_for(2);
  s.stop();
  ASSERT_FALSE(captured.empty()) << "the second capture never finished";
  EXPECT_EQ(entities_of(captured), entities_of(w.b.shard.state.save()));
  // Nothing changed during it: every entity came by the walk, keys ascending.
  std::string previous;
  std::size_t walked = 0;
  for_each_captured(port.walk(2), [&](std::string_view key, std::string_view) {
    EXPECT_LT(previous, key) << "walk keys ascend";
    previous = key;
    ++walked;
  });
  EXPECT_EQ(walked, entities_of(captured).size());
}

}  // namespace
}  // namespace ecom::engine
