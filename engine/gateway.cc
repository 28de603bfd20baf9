#include "engine/gateway.h"

#include "engine/cart_flow.h"
#include "engine/coupon_flow.h"
#include "engine/events.h"
#include "engine/fan_out.h"
#include "engine/order_flow.h"
#include "engine/shard_set.h"

namespace ecom::engine {

namespace {

// The owner of each single-owner request.
shard_index owner(const shard_set& s, const create_user& r) {
  return s.owner_of_email(r.email);
}
shard_index owner(const shard_set& s, const find_credentials& r) {
  return s.owner_of_email(r.email);
}
shard_index owner(const shard_set& s, const note_login_failure& r) {
  return s.owner_of_email(r.email);
}
shard_index owner(const shard_set& s, const open_session& r) {
  return s.owner_of_id(r.user_id);
}
shard_index owner(const shard_set& s, const rotate_session& r) {
  return s.owner_of_id(r.user_id);
}
shard_index owner(const shard_set& s, const close_session& r) {
  return s.owner_of_id(r.user_id);
}
shard_index owner(const shard_set& s, const get_user& r) {
  return s.owner_of_id(r.user_id);
}
shard_index owner(const shard_set& s, const get_balance& r) {
  return s.owner_of_id(r.user_id);
}
shard_index owner(const shard_set& s, const charge_balance& r) {
  return s.owner_of_id(r.user_id);
}
shard_index owner(const shard_set& s, const list_balance_history& r) {
  return s.owner_of_id(r.user_id);
}
shard_index owner(const shard_set& s, const update_product& r) {
  return s.owner_of_id(r.product_id);
}
shard_index owner(const shard_set& s, const adjust_stock& r) {
  return s.owner_of_id(r.product_id);
}
shard_index owner(const shard_set& s, const get_product& r) {
  return s.owner_of_id(r.product_id);
}
shard_index owner(const shard_set& s, const remove_cart_item& r) {
  return s.owner_of_id(r.user_id);
}
shard_index owner(const shard_set& s, const get_campaign& r) {
  return s.owner_of_id(r.campaign_id);
}
shard_index owner(const shard_set& s, const list_user_coupons& r) {
  return s.owner_of_id(r.user_id);
}
shard_index owner(const shard_set& s, const list_coupon_history& r) {
  return s.owner_of_id(r.user_id);
}
shard_index owner(const shard_set& s, const get_order& r) {
  return s.owner_of_id(r.user_id);
}
shard_index owner(const shard_set& s, const list_orders& r) {
  return s.owner_of_id(r.user_id);
}
shard_index owner(const shard_set&, const list_events&) {
  return event_shard;
}

// A bounded post of one command answered when durable.
bool post(shard_set& shards, shard_index owner, command_body body, reply_callback done) {
  command item{std::move(body), std::move(done)};
  return shards.at(owner).post(item);
}

}  // namespace

struct gateway::flows {
  explicit flows(shard_set& shards) : coupons(shards), carts(shards), orders(shards) {}
  coupon_flow coupons;
  cart_flow carts;
  order_flow orders;
};

gateway::gateway(shard_set& shards) : shards_(shards), flows_(std::make_unique<flows>(shards)) {}

gateway::~gateway() = default;

bool gateway::refused_by_gate(reply_callback& done) const {
  switch (current_write_gate()) {
    case write_gate::open:
      return false;
    case write_gate::not_primary:
      done(refusal(errc::not_primary));
      return true;
    case write_gate::replication_unavailable:
      done(refusal(errc::replication_unavailable));
      return true;
  }
  return false;
}

// The single-owner requests that may write (the others only read).
template <class C>
inline constexpr bool changes_state =
    std::is_same_v<C, create_user> || std::is_same_v<C, open_session> ||
    // A login is a change (it opens a session): a standby refuses it before any password is
    // checked, so it neither tells a right password from a wrong one nor keeps a throttle.
    std::is_same_v<C, find_credentials> || std::is_same_v<C, note_login_failure> ||
    std::is_same_v<C, rotate_session> || std::is_same_v<C, close_session> ||
    std::is_same_v<C, charge_balance> || std::is_same_v<C, update_product> ||
    std::is_same_v<C, adjust_stock> || std::is_same_v<C, remove_cart_item>;

template <single_owner_request C>
bool gateway::submit(C request, reply_callback done, key_ptr key) {
  if constexpr (changes_state<C>) {
    if (refused_by_gate(done)) return true;
  }
  shard_index index = owner(shards_, request);
  const key_step use = key ? key_step::check : key_step::none;
  command item{std::move(request), std::move(done), reply_mode::durable, use, std::move(key)};
  return shards_.at(index).post(item);
}

// Every single-owner request, instantiated here (the concept keeps others out at compile time).
template bool gateway::submit(create_user, reply_callback, key_ptr);
template bool gateway::submit(find_credentials, reply_callback, key_ptr);
template bool gateway::submit(note_login_failure, reply_callback, key_ptr);
template bool gateway::submit(open_session, reply_callback, key_ptr);
template bool gateway::submit(rotate_session, reply_callback, key_ptr);
template bool gateway::submit(close_session, reply_callback, key_ptr);
template bool gateway::submit(get_user, reply_callback, key_ptr);
template bool gateway::submit(get_balance, reply_callback, key_ptr);
template bool gateway::submit(charge_balance, reply_callback, key_ptr);
template bool gateway::submit(list_balance_history, reply_callback, key_ptr);
template bool gateway::submit(update_product, reply_callback, key_ptr);
template bool gateway::submit(adjust_stock, reply_callback, key_ptr);
template bool gateway::submit(get_product, reply_callback, key_ptr);
template bool gateway::submit(remove_cart_item, reply_callback, key_ptr);
template bool gateway::submit(get_campaign, reply_callback, key_ptr);
template bool gateway::submit(list_user_coupons, reply_callback, key_ptr);
template bool gateway::submit(list_coupon_history, reply_callback, key_ptr);
template bool gateway::submit(get_order, reply_callback, key_ptr);
template bool gateway::submit(list_orders, reply_callback, key_ptr);
template bool gateway::submit(list_events, reply_callback, key_ptr);

bool gateway::create_product(product_spec spec, reply_callback done) {
  if (refused_by_gate(done)) return true;
  auto index = next_product_shard_.fetch_add(1, std::memory_order_relaxed) % shards_.size();
  return post(shards_, index, engine::create_product{std::move(spec)}, std::move(done));
}

bool gateway::create_campaign(engine::create_campaign campaign, reply_callback done) {
  if (refused_by_gate(done)) return true;
  auto index = next_campaign_shard_.fetch_add(1, std::memory_order_relaxed) % shards_.size();
  return post(shards_, index, std::move(campaign), std::move(done));
}

bool gateway::create_coupon(coupon_template coupon, reply_callback done) {
  if (refused_by_gate(done)) return true;
  return flows_->coupons.create_template(std::move(coupon), std::move(done));
}

bool gateway::issue_coupon(entity_id campaign_id, entity_id user_id, key_ptr key,
                           reply_callback done) {
  if (refused_by_gate(done)) return true;
  return flows_->coupons.issue(campaign_id, user_id, std::move(key), std::move(done));
}

bool gateway::add_cart_item(engine::add_cart_item item, key_ptr key, reply_callback done) {
  if (refused_by_gate(done)) return true;
  return flows_->carts.add_item(std::move(item), std::move(key), std::move(done));
}

bool gateway::set_cart_quantity(entity_id user_id, entity_id item_id, std::int64_t quantity,
                                reply_callback done) {
  if (refused_by_gate(done)) return true;
  return flows_->carts.set_quantity(user_id, item_id, quantity, std::move(done));
}

bool gateway::read_cart(entity_id user_id, reply_callback done) {
  return flows_->carts.read(user_id, std::move(done));
}

bool gateway::create_order(engine::create_order order, key_ptr key, reply_callback done) {
  if (refused_by_gate(done)) return true;
  return flows_->orders.create(std::move(order), std::move(key), std::move(done));
}

bool gateway::checkout(checkout_request request, key_ptr key, reply_callback done) {
  if (refused_by_gate(done)) return true;
  return flows_->orders.checkout(std::move(request), std::move(key), std::move(done));
}

bool gateway::pay(entity_id user_id, entity_id order_id, key_ptr key, reply_callback done) {
  if (refused_by_gate(done)) return true;
  return flows_->orders.pay(user_id, order_id, std::move(key), std::move(done));
}

bool gateway::cancel(entity_id user_id, entity_id order_id, key_ptr key, reply_callback done) {
  if (refused_by_gate(done)) return true;
  return flows_->orders.cancel(user_id, order_id, std::move(key), std::move(done));
}

bool gateway::list_products(entity_id after_id, std::uint32_t limit, reply_callback done) {
  return list_products_everywhere(shards_, after_id, limit, std::move(done));
}

bool gateway::list_campaigns(entity_id after_id, std::uint32_t limit, reply_callback done) {
  return list_campaigns_everywhere(shards_, after_id, limit, std::move(done));
}

bool gateway::popular_products(time_ms since, std::uint32_t limit, reply_callback done) {
  return engine::popular_products(shards_, since, limit, std::move(done));
}

bool gateway::shard_figures(reply_callback done) {
  return shard_figures_everywhere(shards_, std::move(done));
}

bool gateway::bulk_create_users(std::uint32_t count, std::string name_prefix, reply_callback done) {
  if (refused_by_gate(done)) return true;
  bulk_create_users_everywhere(shards_, count, std::move(name_prefix), std::move(done));
  return true;
}

bool gateway::watch_events(engine::watch_events watch, reply_callback done) {
  return post(shards_, event_shard, std::move(watch), std::move(done));
}

void gateway::release_watches() {
  command item{engine::release_watches{}, [](reply&&) {}};
  [[maybe_unused]] bool posted = shards_.at(event_shard).post_always(item);
}

std::uint32_t gateway::shard_count() const {
  return shards_.size();
}

std::size_t gateway::mailbox_depth(shard_index index) const {
  return shards_.at(index).mailbox_depth();
}

std::size_t gateway::mailbox_depth_max() const {
  return shards_.at(0).mailbox_depth_max();
}

time_ms gateway::now() const {
  return shards_.now();
}

}  // namespace ecom::engine
