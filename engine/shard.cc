#include "engine/shard.h"

#include <cassert>
#include <chrono>

namespace ecom::engine {

shard::shard(shard_options options, journal& wal, clock_fn clock)
    : options_(options),
      wal_(wal),
      clock_(std::move(clock)),
      mailbox_(options.mailbox_depth_max),
      users_(options.index, options.shard_count, idempotency_),
      carts_(options.index, options.shard_count, users_, idempotency_),
      catalog_(options.index, options.shard_count),
      coupons_(options.index, options.shard_count, users_, idempotency_),
      orders_(options.index, options.shard_count, users_, coupons_, carts_, idempotency_),
      sales_(options.index, catalog_),
      events_(options.index) {
  assert(options_.shard_count > 0 && options_.shard_count <= shard_count_max);
  records_.reserve(16);
}

shard::~shard() {
  stop();
}

bool shard::replay(record_type type, std::string_view payload, lsn_t lsn) {
  assert(!thread_.joinable());
  last_lsn_.store(lsn, std::memory_order_relaxed);
  if (user_book::owns(type)) return users_.apply(type, payload);
  if (cart_book::owns(type)) return carts_.apply(type, payload);
  if (catalog_book::owns(type)) return catalog_.apply(type, payload);
  if (coupon_book::owns(type)) return coupons_.apply(type, payload);
  if (order_book::owns(type)) return orders_.apply(type, payload);
  if (sales_book::owns(type)) return sales_.apply(type, payload);
  if (event_book::owns(type)) return events_.apply(type, payload);
  return false;
}

void shard::start() {
  assert(!thread_.joinable());
  coupons_.size_for_users(users_.user_count());
  thread_ = std::thread([this] { run(); });
}

void shard::start_driven(shard_driver driver) {
  assert(!thread_.joinable() && !driver_);
  coupons_.size_for_users(users_.user_count());
  driver_ = std::move(driver);
  batch_.reserve(mailbox_.depth_max());
  mailbox_.drive([this] { driver_(std::chrono::milliseconds(0), [this] { drain(); }); });
  driver_(std::chrono::milliseconds(0), [this] { tick_driven(); });  // at once, then periodic
}

void shard::stop() {
  mailbox_.close();
  if (thread_.joinable()) thread_.join();
  if (driver_) {
    // The driver's thread has stopped: this thread owns the shard now. Run what is left.
    while (mailbox_.take_all(batch_)) {
      time_ms now = clock_();
      for (command& item : batch_) execute(item, now);
    }
  }
}

void shard::drain() {
  if (!mailbox_.take_all(batch_)) return;
  time_ms now = clock_();  // one reading per batch, as in run()
  expire_due(now);
  for (command& item : batch_) execute(item, now);
  batch_.clear();  // callbacks and their captures go now, not at the next batch
  coupons_.size_for_users(users_.user_count());
}

void shard::tick_driven() {
  time_ms now = clock_();
  tick(now);
  driver_(std::chrono::milliseconds(options_.sweep_interval_ms), [this] { tick_driven(); });
}

void shard::run() {
  std::vector<command> batch;
  batch.reserve(mailbox_.depth_max());
  time_ms last_sweep = clock_();
  tick(last_sweep);  // at once: coupons that expired while the server was down
  auto wait = std::chrono::milliseconds(options_.sweep_interval_ms);
  while (mailbox_.pop_all(batch, wait)) {
    time_ms now = clock_();  // one reading per batch: the domain sees time as an input
    expire_due(now);
    for (command& item : batch) execute(item, now);
    coupons_.size_for_users(users_.user_count());
    if (now - last_sweep >= options_.sweep_interval_ms) {
      tick(now);
      last_sweep = now;
    }
  }
}

// Periodic work that needs no request: forget old idempotency entries and old popularity,
// expire coupons and pending orders, drop long polls their requester has answered.
void shard::tick(time_ms now) {
  users_.sweep(now);
  sales_.prune(now);
  std::erase_if(watches_, [](const held_watch& w) { return w.watch.answered->load(); });
  records_.clear();
  coupons_.expire(now, records_);
  orders_.expire(now, records_);
  if (!records_.empty()) {
    last_lsn_.store(wal_.append(records_, {}), std::memory_order_relaxed);
  }
}

// Pending orders whose time is up expire before the batch that could read them runs.
void shard::expire_due(time_ms now) {
  if (!orders_.has_due(now)) return;
  records_.clear();
  orders_.expire(now, records_);
  if (!records_.empty()) last_lsn_.store(wal_.append(records_, {}), std::memory_order_relaxed);
}

reply shard::handle(const get_shard_figures&, time_ms, std::vector<record>&) {
  shard_figures figures;
  figures.shard = options_.index;
  figures.last_lsn = last_lsn_.load(std::memory_order_relaxed);
  users_.fill(figures);
  figures.products = catalog_.product_count();
  figures.cart_lines = carts_.line_count();
  figures.campaigns = coupons_.campaign_count();
  figures.user_coupons = coupons_.wallet_count();
  figures.orders = orders_.order_count();
  figures.stock_holds = sales_.hold_count();
  figures.events = events_.last_seq();
  return reply{errc::ok, figures, false};
}

void shard::execute(command& item, time_ms now) {
  records_.clear();
  idempotency_.set_durable_lsn(wal_.durable_lsn());
  // Each command type is handled by the one book that declares a handle() for it.
  reply answer = std::visit(
      [&](const auto& body) -> reply {
        if constexpr (requires { users_.handle(body, now, records_); }) {
          return users_.handle(body, now, records_);
        } else if constexpr (requires { carts_.handle(body, now, records_); }) {
          return carts_.handle(body, now, records_);
        } else if constexpr (requires { catalog_.handle(body, now, records_); }) {
          return catalog_.handle(body, now, records_);
        } else if constexpr (requires { coupons_.handle(body, now, records_); }) {
          return coupons_.handle(body, now, records_);
        } else if constexpr (requires { orders_.handle(body, now, records_); }) {
          return orders_.handle(body, now, records_);
        } else if constexpr (requires { sales_.handle(body, now, records_); }) {
          return sales_.handle(body, now, records_);
        } else if constexpr (requires { events_.handle(body, now, records_); }) {
          return events_.handle(body, now, records_);
        } else {
          return handle(body, now, records_);
        }
      },
      item.body);
  if (auto* watch = std::get_if<watch_events>(&item.body);
      watch != nullptr && std::get<event_page>(answer.body).items.empty()) {
    return hold_watch(*watch, item.done);
  }
  lsn_t lsn = 0;
  if (item.feeds_a_write) {
    if (!records_.empty()) {
      lsn = wal_.append(records_, {});
      last_lsn_.store(lsn, std::memory_order_relaxed);
    }
    item.done(std::move(answer));
  } else if (item.applied && answer.code == errc::ok && !records_.empty()) {
    // The next hop starts now; whoever answers the client waits for that hop's records,
    // which come after these in the log.
    lsn = wal_.append(records_, {});
    last_lsn_.store(lsn, std::memory_order_relaxed);
    item.applied(std::move(answer));
  } else {
    lsn = release(std::move(answer), item.done);
  }
  if (lsn != 0 && !watches_.empty() && std::holds_alternative<record_event>(item.body))
    wake_watches();
  // A keyed change stays "in use" for its key until durable (and so answered).
  if (lsn == 0) return;
  std::visit(
      [&](const auto& body) {
        if constexpr (requires {
                        body.idempotency.key;
                        body.user_id;
                      }) {
          idempotency_.mark_in_flight(body.user_id, body.idempotency, lsn);
        } else if constexpr (requires {
                               body.idempotency.key;
                               body.coupon.user_id;
                             }) {
          idempotency_.mark_in_flight(body.coupon.user_id, body.idempotency, lsn);
        }
      },
      item.body);
}

void shard::hold_watch(const watch_events& watch, reply_callback& done) {
  if (watches_.size() >= event_watches_max || watch.answered->load()) {
    // Past the bound: answered at once, empty (the poller asks again).
    return static_cast<void>(release(reply{errc::ok, events_.page(watch.after, 0), false}, done));
  }
  watches_.push_back(held_watch{watch, std::move(done)});
}

// An event was just appended: every held poll gets its page once that record is durable.
reply shard::handle(const release_watches&, time_ms, std::vector<record>&) {
  for (auto& held : watches_) {
    if (held.watch.answered->load()) continue;
    release(reply{errc::ok, events_.page(held.watch.after, held.watch.limit), false}, held.done);
  }
  watches_.clear();
  return reply{};
}

// A poll whose `after` is still at or past the last seq keeps waiting.
void shard::wake_watches() {
  std::erase_if(watches_, [this](held_watch& held) {
    if (held.watch.answered->load()) return true;
    if (held.watch.after >= events_.last_seq()) return false;
    reply answer{errc::ok, events_.page(held.watch.after, held.watch.limit), false};
    wal_.append({}, [done = std::move(held.done), answer = std::move(answer)]() mutable {
      done(std::move(answer));
    });
    return true;
  });
}

// The reply waits for the last record this shard emitted, even when this command emitted
// none: a rejection ("balance limit") must not rest on a change a crash could still undo.
lsn_t shard::release(reply&& answer, reply_callback& done) {
  if (!records_.empty()) {
    lsn_t lsn =
        wal_.append(records_, [done = std::move(done), answer = std::move(answer)]() mutable {
          done(std::move(answer));
        });
    last_lsn_.store(lsn, std::memory_order_relaxed);
    return lsn;
  }
  if (wal_.durable_lsn() >= last_lsn_.load(std::memory_order_relaxed)) {
    done(std::move(answer));
    return 0;
  }
  wal_.append({}, [done = std::move(done), answer = std::move(answer)]() mutable {
    done(std::move(answer));
  });
  return 0;
}

}  // namespace ecom::engine
