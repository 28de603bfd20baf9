// Coupons: the commands of first-come coupons and what they answer. Templates are copied to
// every shard; a campaign is owned by campaign_id % N; wallets and coupon history by the
// user's shard. coupon_flow drives the steps that cross shards (template install, issue).
#pragma once

#include <cstdint>
#include <vector>

#include "engine/coupon_types.h"
#include "engine/errc.h"
#include "engine/idempotency_key.h"
#include "engine/limits.h"
#include "engine/types.h"

namespace ecom::engine {

// ---- values -----------------------------------------------------------------------------------

struct campaign_list {
  std::vector<campaign_view> items;  // ascending id, at most the limit asked
  bool more = false;                 // one shard's page: it has further campaigns
  entity_id next_after_id = 0;       // the merged page: where the next one starts (0: none)
};

struct user_coupon_page {
  std::vector<user_coupon_view> items;  // newest first
  entity_id next_before_id = 0;         // 0: no more pages
};

struct coupon_history_page {
  std::vector<coupon_history_entry> items;  // newest first
  entity_id next_before_id = 0;
};

// ---- commands ---------------------------------------------------------------------------------

// Template flow, step 1 (on any shard, round-robin): allocates the id and records the template.
struct create_coupon {
  coupon_template coupon;  // id and created_at are set by the shard
};

// Template flow, step 2 (on every shard): a copy of the recorded template, in memory only
// (replay installs the owner's record on every shard).
struct install_coupon {
  coupon_template coupon;
};

struct create_campaign {  // owner: any shard (round-robin)
  entity_id coupon_id = 0;
  std::int64_t total_quantity = 0;  // 1..fcfs_quantity_max
  time_ms start_at = 0;
  time_ms end_at = 0;  // > start_at
};

struct get_campaign {
  entity_id campaign_id = 0;
};

struct list_campaigns {  // one shard's part of the campaign list (the list is a gather)
  entity_id after_id = 0;
  std::uint32_t limit = page_items_default;
};

// Issue flow, keyed only, step 1 (user's shard): claims the key (the kernel does; the handler
// checks nothing else).
struct claim_issue {
  entity_id user_id = 0;
};

// Issue flow (campaign's shard): the contract's rules in order; on success one unit is taken
// for the user, recorded (the outbox entry), and the reply carries the coupon to deliver.
struct take_coupon {
  entity_id campaign_id = 0;
  entity_id user_id = 0;
  // The issue's key, recorded with the take, so that a re-delivery after a crash keeps the
  // 201 under the key the client will retry with.
  key_ptr key_to_store = nullptr;
};

// Issue flow, last step (user's shard): puts a taken coupon in the wallet, at most once per
// campaign; the user coupon's id is allocated here.
struct deliver_coupon {
  user_coupon_view coupon;
};

// Issue flow, keyed, last step after a refusal (user's shard): ends the claim; the kernel keeps
// the refusal with the key when the contract does.
struct settle_issue {
  entity_id user_id = 0;
  errc refusal = errc::internal;
};

struct list_user_coupons {
  entity_id user_id = 0;
  std::uint8_t status = 0;  // 0: any; else a user_coupon_status
  entity_id before_id = 0;
  std::uint32_t limit = page_items_default;
};

struct list_coupon_history {
  entity_id user_id = 0;
  entity_id before_id = 0;
  std::uint32_t limit = page_items_default;
};

}  // namespace ecom::engine
