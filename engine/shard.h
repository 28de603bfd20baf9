// shard: one thread, one mailbox, and the state it alone touches (its user_book; later
// catalog, campaigns, ...). Commands arrive by message; records go to the journal; a reply is
// released only when everything it could depend on is durable.
//
// Which thread: a shard exists once per shard index and runs either on its own std::thread
// (start()) or on one thread of an event loop the caller owns (start_driven(): in ecomd, the
// io thread that also serves its connections, so a hop to a busy shard costs no wake-up).
// Nothing outside that thread may read or write its books; others only try_push() into the
// mailbox.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>
#include <vector>

#include "engine/cart.h"
#include "engine/catalog.h"
#include "engine/commands.h"
#include "engine/coupons.h"
#include "engine/events.h"
#include "engine/idempotency.h"
#include "engine/journal.h"
#include "engine/mailbox.h"
#include "engine/orders.h"
#include "engine/record.h"
#include "engine/sales.h"
#include "engine/user_book.h"

namespace ecom::engine {

using clock_fn = std::function<time_ms()>;
// Runs `work` once, after `delay`, on the one thread that drives a shard; never inline.
using shard_driver =
    std::function<void(std::chrono::milliseconds delay, std::function<void()> work)>;

struct shard_options {
  shard_index index = 0;
  std::uint32_t shard_count = 1;
  std::size_t mailbox_depth_max = mailbox_depth_max_default;
  std::uint32_t sweep_interval_ms = sweep_interval_ms_default;
};

class shard {
 public:
  shard(shard_options options, journal& wal, clock_fn clock);
  ~shard();
  shard(const shard&) = delete;
  shard& operator=(const shard&) = delete;

  // Before start(): rebuild state from one WAL record. False when it does not decode or does
  // not fit the state (the caller reports corruption).
  bool replay(record_type type, std::string_view payload, lsn_t lsn);

  void start();
  // Instead of start(): the shard runs on the driver's thread (see shard_driver).
  void start_driven(shard_driver driver);
  // Any thread. False when the mailbox is full or the shard is stopping: answer OVERLOADED.
  bool post(command& item) { return mailbox_.try_push(item); }
  // Past the mailbox bound: only for messages whose number is bounded by their sender.
  bool post_always(command& item) { return mailbox_.push_always(item); }
  // Drains what is queued, then joins the thread. Driven: call it once the driver's thread has
  // stopped; the rest of the mailbox is then executed on the calling thread.
  void stop();

  // Recovery, before start(): the coupon takes of this shard's campaigns, and whether this
  // shard's wallets already hold one (to re-drive deliveries a crash cut off).
  std::vector<deliver_coupon> taken_coupons() const { return coupons_.taken_coupons(); }
  bool holds_coupon(entity_id user_id, entity_id campaign_id) const {
    return coupons_.holds(user_id, campaign_id);
  }

  // Recovery, before start(): the orders of this shard's users, the hold an order has on this
  // shard's stock, and whether the event feed (event shard only) has an order's event.
  void for_each_order(const std::function<void(const order_view&)>& visit) const {
    orders_.for_each_order(visit);
  }
  hold_state hold_of(entity_id order_id) const { return sales_.state_of(order_id); }
  bool has_event(entity_id order_id, order_event_type type) const {
    return events_.has(order_id, type);
  }

  std::size_t mailbox_depth() const { return mailbox_.depth(); }
  std::size_t mailbox_depth_max() const { return mailbox_.depth_max(); }
  lsn_t last_lsn() const { return last_lsn_.load(std::memory_order_relaxed); }

 private:
  void run();
  void drain();        // driven: one batch from the mailbox, and the tick when due
  void tick_driven();  // driven: the periodic tick, rescheduled every sweep interval
  void execute(command& item, time_ms now);
  // Hands the reply over once durable; returns the LSN of this command's records (0: none).
  lsn_t release(reply&& answer, reply_callback& done);
  void tick(time_ms now);
  void expire_due(time_ms now);
  reply handle(const get_shard_figures&, time_ms now, std::vector<record>& out);
  // Long polls of the event feed wait here until an event is recorded (event shard only).
  void hold_watch(const watch_events& watch, reply_callback& done);
  reply handle(const release_watches&, time_ms now, std::vector<record>& out);
  void wake_watches();

  shard_options options_;
  journal& wal_;
  clock_fn clock_;
  mailbox<command> mailbox_;
  idempotency_table idempotency_;
  user_book users_;
  cart_book carts_;
  catalog_book catalog_;
  coupon_book coupons_;
  order_book orders_;
  sales_book sales_;
  event_book events_;
  struct held_watch {
    watch_events watch;
    reply_callback done;
  };
  std::vector<held_watch> watches_;
  std::vector<record> records_;     // reused per command: no allocation once warm
  std::atomic<lsn_t> last_lsn_{0};  // the last LSN this shard's records got (or replayed)
  std::thread thread_;
  shard_driver driver_;         // driven mode only
  std::vector<command> batch_;  // driven mode: reused per drain
};

}  // namespace ecom::engine
