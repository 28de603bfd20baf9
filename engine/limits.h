// limits: every bound of the domain and of the shard runtime, in one place. Names end in their
// unit or qualifier (`_max`, `_ms`, `_bytes`); relations between limits are checked at compile
// time below, next to the limits they tie together. net/limits.h holds the HTTP edge's own.
#pragma once

#include <cstddef>
#include <cstdint>

#include "engine/types.h"

namespace ecom::engine {

// ---- shards ----------------------------------------------------------------------------------
inline constexpr std::uint32_t shard_count_max = 64;
inline constexpr std::size_t mailbox_depth_max_default = 4096;    // commands queued per shard
inline constexpr std::uint32_t sweep_interval_ms_default = 1000;  // expiry, TTLs, popularity
// Records one sweep may write per book and tick (coupons, orders): a backlog after downtime
// is worked off over several ticks instead of stalling the shard.
inline constexpr std::size_t expiries_per_tick_max = 1000;
// Long polls of the event feed parked on the event shard; beyond this one is answered at once.
inline constexpr std::size_t event_watches_max = 10'000;
inline constexpr time_ms event_wait_ms_max = 30'000;
// A snapshot capture's step between two batches: positions visited (about a hash lookup and,
// when present, one entity written each: tens of microseconds), and the bytes a shard gathers
// before it hands a chunk to the snapshot writer.
inline constexpr std::size_t capture_step_visits_max = 256;
inline constexpr std::size_t capture_chunk_bytes = 256 * 1024;
// Chunks of one shard the snapshot writer may hold before that shard's walk waits: the memory
// a snapshot adds is about shards × this × capture_chunk_bytes (plus LMDB's dirty pages).
inline constexpr std::size_t capture_chunks_queued_max = 8;
// Loading a snapshot sizes its maps from the counts it holds, at most this many entries each
// (a count beyond it, from a damaged or forged snapshot, is no reason to allocate gigabytes:
// the maps still grow as entities come).
inline constexpr std::size_t load_reserve_entries_max = std::size_t{1} << 20;
// ... and only once this many entities of that map have loaded: the snapshot has then shown
// it holds a large map, and growing to here without a reservation costs little. Before, a
// header's count is only a claim (fuzz_snapshot_entities: a forged count made every load of a
// 30-byte input zero 2 × 2^20 buckets, 200 loads/s).
inline constexpr std::size_t load_reserve_after_entries = 4096;
static_assert(load_reserve_after_entries < load_reserve_entries_max);
// Recovery's parallel replay (replay_pipeline): records go to a shard's worker in batches of
// at most this many payload bytes, at most this many batches waiting per worker.
inline constexpr std::size_t replay_batch_bytes_max = 256 * 1024;
inline constexpr std::size_t replay_batch_records_max = 4096;
inline constexpr std::size_t replay_batches_queued_max = 4;

// ---- users, sessions, balance ----------------------------------------------------------------
inline constexpr std::size_t user_name_length_max = 100;       // code points
inline constexpr std::size_t email_length_max = 254;           // bytes (RFC 5321 path limit)
inline constexpr std::int64_t balance_max = 1'000'000'000;     // won; a charge may not pass it
inline constexpr std::int64_t charge_amount_max = 10'000'000;  // won per charge
inline constexpr std::uint32_t refresh_sessions_per_user_max = 64;
// Login throttling per email (login_throttle.h, API.md): the 5th failure within 15 minutes
// locks for 1 s, each failure after a lock doubles it up to 900 s. In memory, on the email's
// shard, at most login_throttle_emails_max_default emails per server (a flag changes it).
inline constexpr std::uint32_t login_failures_to_lock = 5;
inline constexpr time_ms login_failure_window_ms = 15 * minute_ms;
inline constexpr time_ms login_lock_first_ms = 1000;
inline constexpr time_ms login_lock_max_ms = 900 * 1000;
// A password check that never reported back (its reply lost) stops counting in flight after this.
inline constexpr time_ms login_check_timeout_ms = 60 * 1000;
inline constexpr std::size_t login_throttle_emails_max_default = 100'000;
inline constexpr std::size_t login_throttle_emails_max_max = 100'000'000;
inline constexpr std::uint32_t bulk_users_per_request_max = 100'000;
inline constexpr std::uint32_t bulk_users_per_record_max = 1000;
inline constexpr time_ms idempotency_ttl_ms = 24 * hour_ms;

// ---- lists -----------------------------------------------------------------------------------
inline constexpr std::uint32_t page_items_max = 100;
inline constexpr std::uint32_t page_items_default = 20;
inline constexpr std::uint32_t events_page_max = 1000;

// ---- catalog ---------------------------------------------------------------------------------
inline constexpr std::int64_t price_max = 1'000'000'000;  // won, base and combination price
inline constexpr std::int64_t stock_max = 1'000'000'000;
inline constexpr std::size_t product_name_length_max = 200;
inline constexpr std::size_t product_description_length_max = 10'000;
inline constexpr std::size_t product_options_max = 20;
inline constexpr std::size_t option_values_max = 100;
inline constexpr std::size_t product_combinations_max = 1000;
inline constexpr std::size_t product_images_max = 20;
inline constexpr std::size_t option_text_length_max = 50;
inline constexpr std::size_t image_url_length_max = 2048;
inline constexpr std::int64_t image_sort_order_max = 1'000'000;  // and -image_sort_order_max

// ---- coupons ---------------------------------------------------------------------------------
inline constexpr std::size_t coupon_name_length_max = 100;
inline constexpr std::int64_t fcfs_quantity_max = 10'000'000;
inline constexpr std::int64_t coupon_valid_days_max = 3650;
inline constexpr std::int64_t percent_max = 100;
inline constexpr std::int64_t min_order_amount_max = 1'000'000'000'000;  // won

// ---- cart and orders -------------------------------------------------------------------------
inline constexpr std::int64_t cart_line_quantity_max = 999;
inline constexpr std::size_t cart_lines_max = 100;
inline constexpr std::int64_t order_line_quantity_max = cart_line_quantity_max;
inline constexpr std::size_t order_lines_max = 50;                 // POST /users/{id}/orders
inline constexpr std::size_t checkout_lines_max = cart_lines_max;  // a whole cart
inline constexpr time_ms order_ttl_ms_default = 15 * minute_ms;
inline constexpr time_ms order_ttl_ms_max = 30 * day_ms;
inline constexpr std::uint32_t popular_days_max = 30;
inline constexpr std::uint32_t popular_items_max = 100;

// ---- how the limits relate -------------------------------------------------------------------
// An order holds at most a whole cart's lines: a checkout never makes an order too long to
// record, and every decoder of order lines can use one bound.
static_assert(order_lines_max <= checkout_lines_max);
static_assert(checkout_lines_max == cart_lines_max);
// An order's total cannot overflow: lines × quantity × unit price fits in int64.
static_assert(static_cast<double>(checkout_lines_max) * order_line_quantity_max * price_max <
              9.2e18);
// A balance at the cap plus one more charge, or plus refunds of a cart's worth, still fits.
static_assert(static_cast<double>(balance_max) + charge_amount_max +
                  static_cast<double>(checkout_lines_max) * order_line_quantity_max * price_max <
              9.2e18);
static_assert(charge_amount_max <= balance_max);
// A stock change of ±stock_max on a stock of at most stock_max cannot overflow.
static_assert(2 * stock_max < INT64_MAX / 2);
static_assert(page_items_default <= page_items_max);
static_assert(popular_items_max <= page_items_max);
static_assert(bulk_users_per_record_max <= bulk_users_per_request_max);
static_assert(percent_max == 100, "PERCENT discounts are floor(total × amount / 100)");
static_assert(event_wait_ms_max < idempotency_ttl_ms);

}  // namespace ecom::engine
