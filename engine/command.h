// command: the message a shard takes from its mailbox: a body (one of the command structs of
// the domain headers), the reply callback, and the two things the kernel acts on around the
// handler: the request's Idempotency-Key (key_step, see idempotency_key.h) and the reply mode.
#pragma once

#include <variant>

#include "engine/reply.h"

namespace ecom::engine {

using command_body = std::variant<
    // users and balances (user_book)
    create_user, find_credentials, note_login_failure, open_session, rotate_session, close_session,
    get_user, bulk_create_users, get_balance, charge_balance, list_balance_history,
    // catalog (catalog_book)
    create_product, update_product, adjust_stock, get_product, list_products, get_sale_facts,
    // cart (cart_book)
    add_cart_item, get_cart, get_cart_line, set_cart_quantity, remove_cart_item,
    // templates and campaigns (campaign_book)
    create_coupon, install_coupon, create_campaign, get_campaign, list_campaigns, take_coupon,
    // wallets (wallet_book)
    claim_issue, deliver_coupon, settle_issue, list_user_coupons, list_coupon_history,
    // orders (order_book)
    create_order, get_order, list_orders, begin_payment, finish_payment, cancel_order,
    // stock holds and popularity (sales_book)
    take_stock, release_stock, commit_sale, refund_sale, top_products,
    // the event feed (event_book)
    record_event, list_events,
    // the shard runtime itself (shard)
    get_shard_figures, watch_events, release_watches, catch_up_expiry, begin_snapshot, apply_log>;

// When and where a command's `done` runs. This is the one place these promises are stated.
enum class reply_mode : std::uint8_t {
  // The answer may leave the engine: `done` runs once everything it rests on is durable: the
  // command's own records, or, when it wrote none, the shard's last record (a refusal must not
  // rest on a change a crash could still take back), and the command's `rests_on`. It runs on
  // the WAL writer's thread, or inline on the shard's thread when that is already durable.
  durable,
  // The answer feeds a later step of the same flow: `done` runs on the shard's thread right
  // after the command, whatever the outcome, before durability; the command's records are
  // appended (so they precede, in the one log, whatever a later step writes). reply.rests_on
  // is the LSN the flow's own answer must wait for (max of the command's rests_on, its records
  // and the shard's last record). A flow answers through finish_flow (answer.h), after its
  // last steps (finish_after, fan_out.h), or with a durable last step.
  feeds_next_step,
};

struct command {
  command_body body;
  reply_callback done;
  reply_mode mode = reply_mode::durable;
  key_step key_use = key_step::none;
  key_ptr key = nullptr;  // set iff key_use != none
  lsn_t rests_on = 0;     // what earlier steps of the flow rest on (see reply_mode)
};

}  // namespace ecom::engine
