#include "engine/wallets.h"

#include <algorithm>
#include <cassert>

#include "engine/sharding.h"
#include "engine/value_codec.h"

namespace ecom::engine {

wallet_book::wallet_book(shard_index index, std::uint32_t shard_count, const user_book& users,
                         campaign_book& campaigns, idempotency_table& keys)
    : index_(index), shard_count_(shard_count), users_(users), campaigns_(campaigns), keys_(keys) {}

void wallet_book::emit(record_type type, std::string payload, std::vector<record>& out) {
  emit_record(*this, type, index_, std::move(payload), out);
}

// A coupon past its expiry reads EXPIRED in every answer, recorded or not.
user_coupon_view wallet_book::as_seen(const user_coupon_view& coupon, time_ms now) const {
  user_coupon_view seen = coupon;
  if (seen.status == user_coupon_status::available && now >= seen.expires_at)
    seen.status = user_coupon_status::expired;
  return seen;
}

// Issue flow, keyed: the kernel screens and claims the key; the user must exist before a
// unit is taken for it (a signed token can name a user this state does not hold: one made
// after the point a data dir was restored to, say).
reply wallet_book::handle(const claim_issue& command, step_context&) {
  if (!users_.exists(command.user_id)) return refusal(errc::user_not_found);
  return reply{};
}

reply wallet_book::handle(const deliver_coupon& command, step_context& ctx) {
  // Without a key the take came first (one hop: the hot path), so a user that does not exist
  // is found only here: no wallet for it; the unit it took stays spent (fuzz_http_request:
  // this was an assert, and without assertions a wallet for no user).
  if (!users_.exists(command.coupon.user_id)) return refusal(errc::user_not_found);
  campaigns_.install(command.coupon.coupon);
  if (auto it = wallets_.find(command.coupon.user_id);
      it != wallets_.end() && it->second.campaigns.contains(command.coupon.campaign_id)) {
    // Delivered before (a re-delivery): nothing is written, the coupon held is the answer.
    for (const auto& held : it->second.coupons) {
      if (held.campaign_id == command.coupon.campaign_id)
        return reply{errc::ok, as_seen(held, ctx.now), false};
    }
  }
  // The user coupon's id is allocated here, by the wallet's owner, so that id % N names it.
  user_coupon_view coupon = command.coupon;
  coupon.id = make_id(user_coupon_sequence_ + 1, index_, shard_count_);
  entity_id history_id = make_id(history_sequence_ + 1, index_, shard_count_);
  reply answer{errc::ok, coupon, false};
  auto stored = ctx.entry_for(answer);
  std::string payload;
  payload_writer w(payload);
  w.put(coupon.user_id);
  w.put(coupon.id);
  w.put(coupon.campaign_id);
  w.put(coupon.coupon.id);
  w.put(coupon.issued_at);
  w.put(coupon.expires_at);
  w.put(history_id);
  idempotency_table::encode(w, stored ? &*stored : nullptr);
  emit(record_type::coupon_delivered, std::move(payload), ctx.out);
  return answer;
}

// Issue flow, keyed, after a refusal: the kernel keeps the refusal with the key (when the
// contract does) and ends the claim.
reply wallet_book::handle(const settle_issue& command, step_context&) {
  assert(command.refusal != errc::ok);
  return refusal(command.refusal);
}

reply wallet_book::handle(const list_user_coupons& command, step_context& ctx) {
  if (!users_.exists(command.user_id)) return refusal(errc::user_not_found);
  user_coupon_page page;
  auto it = wallets_.find(command.user_id);
  if (it == wallets_.end()) return reply{errc::ok, std::move(page), false};
  const auto& coupons = it->second.coupons;
  // Newest first; the cursor is the id of the last coupon already shown.
  std::size_t end = coupons.size();
  if (command.before_id != 0) {
    end = 0;
    for (std::size_t i = 0; i < coupons.size(); ++i) {
      if (coupons[i].id == command.before_id) end = i;
    }
  }
  for (std::size_t i = end; i-- > 0;) {
    user_coupon_view seen = as_seen(coupons[i], ctx.now);
    if (command.status != 0 && static_cast<std::uint8_t>(seen.status) != command.status) continue;
    if (page.items.size() == command.limit) {
      page.next_before_id = page.items.back().id;
      break;
    }
    page.items.push_back(std::move(seen));
  }
  return reply{errc::ok, std::move(page), false};
}

reply wallet_book::handle(const list_coupon_history& command, step_context&) {
  if (!users_.exists(command.user_id)) return refusal(errc::user_not_found);
  coupon_history_page page;
  auto it = wallets_.find(command.user_id);
  if (it == wallets_.end()) return reply{errc::ok, std::move(page), false};
  const auto& history = it->second.history;
  auto end =
      command.before_id == 0
          ? history.end()
          : std::lower_bound(history.begin(), history.end(), command.before_id,
                             [](const coupon_history_entry& e, entity_id id) { return e.id < id; });
  auto available = static_cast<std::size_t>(end - history.begin());
  std::size_t take = std::min<std::size_t>(available, command.limit);
  for (std::size_t i = 0; i < take; ++i)
    page.items.push_back(*(end - 1 - static_cast<std::ptrdiff_t>(i)));
  if (take < available && take > 0) page.next_before_id = page.items.back().id;
  return reply{errc::ok, std::move(page), false};
}

std::size_t wallet_book::expire(time_ms now, std::vector<record>& out) {
  std::size_t done = 0;
  while (!expiries_.empty() && expiries_.begin()->first <= now && done < expiries_per_tick_max) {
    // Named copies, not a structured binding: the lambda below captures it (clang 14, which
    // builds the fuzz targets, cannot capture structured bindings).
    const entity_id user_id = expiries_.begin()->second.first;
    const entity_id coupon_id = expiries_.begin()->second.second;
    expiries_.erase(expiries_.begin());
    auto wallet_at = wallets_.find(user_id);
    if (wallet_at == wallets_.end()) continue;
    const auto& coupons = wallet_at->second.coupons;
    auto held = std::find_if(coupons.begin(), coupons.end(),
                             [&](const auto& c) { return c.id == coupon_id; });
    if (held == coupons.end() || held->status != user_coupon_status::available) continue;
    std::string payload;
    payload_writer w(payload);
    w.put(user_id);
    w.put(coupon_id);
    w.put(make_id(history_sequence_ + 1, index_, shard_count_));
    w.put(held->expires_at);  // recorded at the expiry instant, whenever the sweep runs
    emit(record_type::coupon_expired, std::move(payload), out);
    ++done;
  }
  return done;
}

bool wallet_book::holds(entity_id user_id, entity_id campaign_id) const {
  auto it = wallets_.find(user_id);
  return it != wallets_.end() && it->second.campaigns.contains(campaign_id);
}

std::unordered_map<entity_id, std::uint64_t> wallet_book::coupons_by_campaign() const {
  std::unordered_map<entity_id, std::uint64_t> out;
  for (const auto& [user, w] : wallets_) {
    for (const auto& c : w.coupons) ++out[c.campaign_id];
  }
  return out;
}

std::uint64_t wallet_book::coupon_count() const {
  std::uint64_t count = 0;
  for (const auto& [user, w] : wallets_) count += w.coupons.size();
  return count;
}

// ---- apply ------------------------------------------------------------------------------------

bool wallet_book::apply(record_type type, std::string_view payload) {
  payload_reader in(payload);
  bool ok = false;
  switch (type) {
    case record_type::coupon_delivered:
      ok = apply_coupon_delivered(in);
      break;
    case record_type::coupon_expired:
      ok = apply_coupon_expired(in);
      break;
    default:
      return false;
  }
  return ok && !in.failed() && in.at_end();
}

void wallet_book::size_for_users(std::size_t local_users) {
  if (local_users <= sized_for_users_) return;
  sized_for_users_ = std::max<std::size_t>(local_users * 2, 1024);
  wallets_.reserve(sized_for_users_);
}

void wallet_book::check_invariants(std::vector<std::string>& broken) const {
  for (const auto& [user_id, w] : wallets_) {
    if (w.campaigns.size() != w.coupons.size()) {
      broken.push_back("user " + std::to_string(user_id) + " holds " +
                       std::to_string(w.coupons.size()) + " coupons of " +
                       std::to_string(w.campaigns.size()) + " campaigns");
    }
  }
}

bool wallet_book::apply_coupon_delivered(payload_reader& in) {
  user_coupon_view c;
  c.user_id = in.get<entity_id>();
  c.id = in.get<entity_id>();
  c.campaign_id = in.get<entity_id>();
  auto coupon_id = in.get<entity_id>();
  c.issued_at = in.get<time_ms>();
  c.expires_at = in.get<time_ms>();
  auto history_id = in.get<entity_id>();
  auto stored = idempotency_table::decode(in);
  const coupon_template* coupon = campaigns_.find_template(coupon_id);
  if (in.failed() || coupon == nullptr || !users_.exists(c.user_id)) return false;
  c.coupon = *coupon;
  wallet& w = *changing(c.user_id, true);
  if (!w.campaigns.insert(c.campaign_id).second) return false;
  history_sequence_ = std::max(history_sequence_, sequence_of(history_id, shard_count_));
  user_coupon_sequence_ = std::max(user_coupon_sequence_, sequence_of(c.id, shard_count_));
  w.history.push_back(
      coupon_history_entry{history_id, c.id, coupon_id, coupon_action::issue, 0, c.issued_at});
  expiries_.emplace(c.expires_at, std::make_pair(c.user_id, c.id));
  w.coupons.push_back(std::move(c));
  if (stored) keys_.insert(std::move(*stored));
  return true;
}

bool wallet_book::apply_coupon_expired(payload_reader& in) {
  auto user_id = in.get<entity_id>();
  auto coupon_id = in.get<entity_id>();
  auto history_id = in.get<entity_id>();
  auto at = in.get<time_ms>();
  wallet* changed = changing(user_id, false);
  if (in.failed() || changed == nullptr) return false;
  for (auto& c : changed->coupons) {
    if (c.id != coupon_id) continue;
    if (c.status != user_coupon_status::available) return false;  // EXPIRE is recorded once
    c.status = user_coupon_status::expired;
    history_sequence_ = std::max(history_sequence_, sequence_of(history_id, shard_count_));
    changed->history.push_back(
        coupon_history_entry{history_id, c.id, c.coupon.id, coupon_action::expire, 0, at});
    return true;
  }
  return false;
}

// ---- orders --------------------------------------------------------------------------------

user_coupon_view* wallet_book::find_held(entity_id user_id, entity_id user_coupon_id) {
  auto it = wallets_.find(user_id);
  if (it == wallets_.end()) return nullptr;
  for (auto& c : it->second.coupons) {
    if (c.id == user_coupon_id) return &c;
  }
  return nullptr;
}

const user_coupon_view* wallet_book::usable(entity_id user_id, entity_id user_coupon_id,
                                            time_ms now) const {
  auto* held = const_cast<wallet_book*>(this)->find_held(user_id, user_coupon_id);
  if (held == nullptr || held->status != user_coupon_status::available || now >= held->expires_at)
    return nullptr;
  return held;
}

entity_id wallet_book::next_history_id() const {
  return make_id(history_sequence_ + 1, index_, shard_count_);
}

void wallet_book::note_history_id(entity_id id) {
  history_sequence_ = std::max(history_sequence_, sequence_of(id, shard_count_));
}

bool wallet_book::apply_use(entity_id user_id, entity_id user_coupon_id, entity_id order_id,
                            entity_id history_id, time_ms at) {
  changing(user_id, false);
  user_coupon_view* held = find_held(user_id, user_coupon_id);
  if (held == nullptr || held->status != user_coupon_status::available) return false;
  held->status = user_coupon_status::used;
  held->used_at = at;
  note_history_id(history_id);
  wallets_[user_id].history.push_back(coupon_history_entry{
      history_id, user_coupon_id, held->coupon.id, coupon_action::use, order_id, at});
  return true;
}

bool wallet_book::apply_restore(entity_id user_id, entity_id user_coupon_id, entity_id order_id,
                                entity_id history_id, time_ms at) {
  changing(user_id, false);
  user_coupon_view* held = find_held(user_id, user_coupon_id);
  if (held == nullptr || held->status != user_coupon_status::used) return false;
  held->status = user_coupon_status::available;
  held->used_at = 0;
  note_history_id(history_id);
  wallets_[user_id].history.push_back(coupon_history_entry{
      history_id, user_coupon_id, held->coupon.id, coupon_action::restore, order_id, at});
  // Its expiry may have been swept while it was used: the sweep sees it again. (Before its
  // expiry the sweep has not reached it yet, and its entry is still there.)
  if (at >= held->expires_at)
    expiries_.emplace(held->expires_at, std::make_pair(user_id, user_coupon_id));
  return true;
}

// ---- snapshot --------------------------------------------------------------------------------

wallet_book::wallet* wallet_book::changing(entity_id user_id, bool create) {
  auto it = wallets_.find(user_id);
  const std::uint64_t position = sequence_of(user_id, shard_count_);
  capture_wallets_.changing(position, it == wallets_.end() ? nullptr : &it->second, write_wallet);
  if (it != wallets_.end()) return &it->second;
  return create ? &wallets_[user_id] : nullptr;
}

void wallet_book::write_wallet(payload_writer& w, const wallet& wallet) {
  w.put(static_cast<std::uint32_t>(wallet.coupons.size()));
  for (const auto& c : wallet.coupons) write_value(w, c);
  w.put(static_cast<std::uint32_t>(wallet.history.size()));
  for (const auto& h : wallet.history) {
    w.put(h.id);
    w.put(h.user_coupon_id);
    w.put(h.coupon_id);
    w.put(h.action);
    w.put(h.order_id);
    w.put(h.created_at);
  }
}

void wallet_book::begin_capture(capture_buffer& out) {
  put_entity(
      out, snapshot_key(snapshot_table::books, static_cast<std::uint64_t>(snapshot_book::wallets)),
      [&](payload_writer& w) {
        w.put(user_coupon_sequence_);
        w.put(history_sequence_);
      });
  capture_wallets_.begin(out, users_.user_sequence());
}

bool wallet_book::capture_step(capture_buffer& out, capture_budget& budget) {
  return capture_wallets_.step(out, wallets_, index_, shard_count_, budget, write_wallet);
}

void wallet_book::end_capture() {
  capture_wallets_.end();
}

bool wallet_book::load(const snapshot_key& key, std::string_view value) {
  payload_reader in(value);
  if (key.table() == snapshot_table::books) {
    user_coupon_sequence_ = in.get<std::uint64_t>();
    history_sequence_ = in.get<std::uint64_t>();
    // At most one wallet per coupon made here: the map is sized for them once enough have
    // come (below), so that loading does not rehash, and a forged count costs nothing.
    load_expected_wallets_ = static_cast<std::size_t>(
        std::min<std::uint64_t>(user_coupon_sequence_, load_reserve_entries_max));
    return !in.failed() && in.at_end();
  }
  if (key.table() != snapshot_table::wallets) return false;
  const entity_id user_id = make_id(key.a(), index_, shard_count_);
  wallet loaded;
  auto coupons = in.get<std::uint32_t>();
  for (std::uint32_t i = 0; i < coupons && !in.failed(); ++i) {
    user_coupon_view c;
    read_value(in, c);
    if (c.user_id != user_id || !loaded.campaigns.insert(c.campaign_id).second) return false;
    loaded.coupons.push_back(std::move(c));
  }
  auto history = in.get<std::uint32_t>();
  for (std::uint32_t i = 0; i < history && !in.failed(); ++i) {
    coupon_history_entry h;
    h.id = in.get<entity_id>();
    h.user_coupon_id = in.get<entity_id>();
    h.coupon_id = in.get<entity_id>();
    h.action = in.get<coupon_action>();
    h.order_id = in.get<entity_id>();
    h.created_at = in.get<time_ms>();
    loaded.history.push_back(h);
  }
  if (in.failed() || !in.at_end()) return false;
  if (!wallets_.emplace(user_id, std::move(loaded)).second) return false;
  if (wallets_.size() == load_reserve_after_entries && load_expected_wallets_ > wallets_.size())
    wallets_.reserve(load_expected_wallets_);
  return true;
}

// The expiry queue holds every coupon that may still expire: live, it keeps entries for used
// coupons too (the sweep skips them, and a restore past expiry adds one again).
void wallet_book::end_load() {
  for (const auto& [user_id, wallet] : wallets_) {
    for (const auto& c : wallet.coupons) {
      if (c.status != user_coupon_status::expired)
        expiries_.emplace(c.expires_at, std::make_pair(user_id, c.id));
    }
  }
}

}  // namespace ecom::engine
