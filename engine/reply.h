// reply: what a shard, or a flow, answers: a typed outcome and a value. Plain values that
// cross threads; nothing here points into a shard's state. net/ renders them.
#pragma once

#include <functional>
#include <variant>

#include "engine/cart_commands.h"
#include "engine/catalog_commands.h"
#include "engine/control_commands.h"
#include "engine/coupon_commands.h"
#include "engine/errc.h"
#include "engine/idempotency_key.h"
#include "engine/order_commands.h"
#include "engine/types.h"
#include "engine/user_commands.h"

namespace ecom::engine {

using reply_body =
    std::variant<std::monostate, user_view, credentials_view, login_locked, balance_view,
                 history_page, bulk_page, stored_reply, shard_figures, shard_figures_list,
                 expiry_counts, product_view, product_page, stock_view, sale_facts, cart_item_view,
                 cart_view, cart_line, cart_contents, coupon_template, campaign_view, campaign_list,
                 user_coupon_view, user_coupon_page, coupon_history_page, order_view, order_page,
                 payment_plan, popular_page, event_page>;

struct reply {
  errc code = errc::ok;
  reply_body body;
  // The answer an earlier request with the same Idempotency-Key got, replayed: `code` and
  // `body` are that answer (a stored_reply body: its bytes, from an older entry).
  bool replayed = false;
  // For a reply that feeds a later step of a flow (reply_mode::feeds_next_step): the LSN the
  // flow's answer must not go out before, because this step's answer rests on it.
  lsn_t rests_on = 0;
};

inline reply refusal(errc code) {
  return reply{code, {}, false, 0};
}

// Runs once with the reply. Where and when: see reply_mode (engine/command.h). It must not
// block.
using reply_callback = std::function<void(reply&&)>;

}  // namespace ecom::engine
