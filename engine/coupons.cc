#include "engine/coupons.h"

#include <algorithm>
#include <cassert>
#include <cstring>

#include "engine/sharding.h"

namespace ecom::engine {

namespace {

reply error(errc code) {
  return reply{code, {}, false};
}

void write_template(payload_writer& w, const coupon_template& c) {
  w.put(c.id);
  w.put_bytes(c.name);
  w.put(c.kind);
  w.put(c.amount);
  w.put(c.min_order_amount);
  w.put(c.valid_days);
  w.put(c.created_at);
}

coupon_template read_template(payload_reader& in) {
  coupon_template c;
  c.id = in.get<entity_id>();
  c.name = in.get_bytes();
  c.kind = in.get<coupon_kind>();
  c.amount = in.get<std::int64_t>();
  c.min_order_amount = in.get<std::int64_t>();
  c.valid_days = in.get<std::int64_t>();
  c.created_at = in.get<time_ms>();
  return c;
}

}  // namespace

coupon_book::coupon_book(shard_index index, std::uint32_t shard_count, user_book& users,
                         idempotency_table& idempotency)
    : index_(index), shard_count_(shard_count), users_(users), idempotency_(idempotency) {}

void coupon_book::emit(record_type type, std::string payload, std::vector<record>& out) {
  check_applied(apply(type, payload), type);
  out.push_back(record{type, index_, std::move(payload)});
}

campaign_view coupon_book::view_of(const campaign& c, time_ms now) const {
  campaign_view view{c.id,
                     templates_.at(c.coupon_id),
                     c.total_quantity,
                     c.remaining_quantity,
                     c.start_at,
                     c.end_at,
                     status_at(c.start_at, c.end_at, c.remaining_quantity, now)};
  return view;
}

// A coupon past its expiry reads EXPIRED in every answer, recorded or not.
user_coupon_view coupon_book::as_seen(const user_coupon_view& coupon, time_ms now) const {
  user_coupon_view seen = coupon;
  if (seen.status == user_coupon_status::available && now >= seen.expires_at)
    seen.status = user_coupon_status::expired;
  return seen;
}

// ---- templates and campaigns ---------------------------------------------------------------

reply coupon_book::handle(const create_coupon& command, time_ms now, std::vector<record>& out) {
  coupon_template c = command.coupon;
  c.id = make_id(coupon_sequence_ + 1, index_, shard_count_);
  c.created_at = now;
  std::string payload;
  payload_writer w(payload);
  write_template(w, c);
  emit(record_type::coupon_created, std::move(payload), out);
  return reply{errc::ok, c, false};
}

// Memory only: the owner's coupon_created record installs it on every shard at replay.
reply coupon_book::handle(const install_coupon& command, time_ms, std::vector<record>&) {
  templates_.emplace(command.coupon.id, command.coupon);
  return reply{};
}

reply coupon_book::handle(const create_campaign& command, time_ms now, std::vector<record>& out) {
  if (!templates_.contains(command.coupon_id)) return error(errc::coupon_not_found);
  assert(command.total_quantity >= 1 && command.total_quantity <= fcfs_quantity_max);
  assert(command.end_at > command.start_at);
  entity_id id = make_id(campaign_sequence_ + 1, index_, shard_count_);
  std::string payload;
  payload_writer w(payload);
  w.put(id);
  w.put(command.coupon_id);
  w.put(command.total_quantity);
  w.put(command.start_at);
  w.put(command.end_at);
  emit(record_type::campaign_created, std::move(payload), out);
  return reply{errc::ok, view_of(campaigns_.at(id), now), false};
}

reply coupon_book::handle(const get_campaign& command, time_ms now, std::vector<record>&) {
  auto it = campaigns_.find(command.campaign_id);
  if (it == campaigns_.end()) return error(errc::coupon_not_found);
  return reply{errc::ok, view_of(it->second, now), false};
}

reply coupon_book::handle(const list_campaigns& command, time_ms now, std::vector<record>&) {
  campaign_list list;
  list.items.reserve(command.limit);
  for (auto it = campaigns_.upper_bound(command.after_id); it != campaigns_.end(); ++it) {
    if (list.items.size() == command.limit) {
      list.more = true;
      break;
    }
    list.items.push_back(view_of(it->second, now));
  }
  return reply{errc::ok, std::move(list), false};
}

// The hot path: the contract's rules in order, then one unit taken. No lock: this shard's
// thread is the only one that ever reads or writes the campaign.
reply coupon_book::handle(const take_coupon& command, time_ms now, std::vector<record>& out) {
  auto it = campaigns_.find(command.campaign_id);
  if (it == campaigns_.end()) return error(errc::coupon_not_found);
  const campaign& c = it->second;
  if (now < c.start_at || now >= c.end_at) return error(errc::coupon_not_active);
  if (c.issued.contains(command.user_id)) return error(errc::coupon_already_issued);
  if (c.remaining_quantity == 0) return error(errc::coupon_sold_out);
  const coupon_template& coupon = templates_.at(c.coupon_id);
  user_coupon_view issued{0,  // allocated by the user's shard on delivery
                          command.user_id,
                          c.id,
                          coupon,
                          user_coupon_status::available,
                          now,
                          now + coupon.valid_days * day_ms,
                          0};
  std::string payload;
  payload.reserve(32);
  payload_writer w(payload);
  w.put(c.id);
  w.put(command.user_id);
  w.put(now);
  const idempotency_request& key = command.key_to_store;
  w.put<std::uint8_t>(key.key.empty() ? 0 : 1);
  if (!key.key.empty()) {
    w.put_bytes(key.scope);
    w.put_bytes(key.key);
    w.put_bytes(std::string_view(reinterpret_cast<const char*>(key.body_sha256.data()),
                                 key.body_sha256.size()));
  }
  emit(record_type::campaign_taken, std::move(payload), out);
  return reply{errc::ok, std::move(issued), false};
}

// ---- wallets ----------------------------------------------------------------------------------

reply coupon_book::handle(const deliver_coupon& command, time_ms now, std::vector<record>& out) {
  assert(users_.exists(command.coupon.user_id));
  // The template may reach this shard only after a campaign took the coupon (a campaign made
  // with the id before the template's 201); its durable record precedes this one in the log.
  templates_.try_emplace(command.coupon.coupon.id, command.coupon.coupon);
  if (auto it = wallets_.find(command.coupon.user_id);
      it != wallets_.end() && it->second.campaigns.contains(command.coupon.campaign_id)) {
    idempotency_.release(command.coupon.user_id, command.idempotency);  // nothing written
    for (const auto& held : it->second.coupons) {
      if (held.campaign_id == command.coupon.campaign_id)
        return reply{errc::ok, as_seen(held, now), false};
    }
  }
  // The user coupon's id is allocated here, by the wallet's owner, so that id % N names it.
  user_coupon_view coupon = command.coupon;
  coupon.id = make_id(user_coupon_sequence_ + 1, index_, shard_count_);
  entity_id history_id = make_id(history_sequence_ + 1, index_, shard_count_);
  reply answer{errc::ok, coupon, false};
  auto stored = make_idempotency_entry(coupon.user_id, command.idempotency, answer, now);
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
  emit(record_type::coupon_delivered, std::move(payload), out);
  return answer;
}

reply coupon_book::handle(const claim_key& command, time_ms now, std::vector<record>&) {
  if (auto early = idempotency_.screen(command.user_id, command.idempotency, now))
    return std::move(*early);
  idempotency_.claim(command.user_id, command.idempotency);
  return reply{};
}

reply coupon_book::handle(const settle_key& command, time_ms now, std::vector<record>& out) {
  if (command.rejection != errc::ok) {
    users_.store_rejection(command.user_id, command.idempotency,
                           reply{command.rejection, {}, false}, now, out);
  }
  if (out.empty()) idempotency_.release(command.user_id, command.idempotency);
  return reply{command.rejection, {}, false};
}

reply coupon_book::handle(const list_user_coupons& command, time_ms now, std::vector<record>&) {
  if (!users_.exists(command.user_id)) return error(errc::user_not_found);
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
    user_coupon_view seen = as_seen(coupons[i], now);
    if (command.status != 0 && static_cast<std::uint8_t>(seen.status) != command.status) continue;
    if (page.items.size() == command.limit) {
      page.next_before_id = page.items.back().id;
      break;
    }
    page.items.push_back(std::move(seen));
  }
  return reply{errc::ok, std::move(page), false};
}

reply coupon_book::handle(const list_coupon_history& command, time_ms, std::vector<record>&) {
  if (!users_.exists(command.user_id)) return error(errc::user_not_found);
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

void coupon_book::expire(time_ms now, std::vector<record>& out) {
  std::size_t done = 0;
  while (!expiries_.empty() && expiries_.begin()->first <= now && done < expiries_per_tick_max) {
    auto [user_id, coupon_id] = expiries_.begin()->second;
    expiries_.erase(expiries_.begin());
    const auto& coupons = wallets_[user_id].coupons;
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
}

// ---- recovery helpers --------------------------------------------------------------------------

std::vector<deliver_coupon> coupon_book::taken_coupons() const {
  std::vector<deliver_coupon> out;
  for (const auto& [id, c] : campaigns_) {
    const coupon_template& coupon = templates_.at(c.coupon_id);
    for (const auto& [user_id, t] : c.issued) {
      out.push_back(
          deliver_coupon{user_coupon_view{0, user_id, c.id, coupon, user_coupon_status::available,
                                          t.issued_at, t.issued_at + coupon.valid_days * day_ms, 0},
                         t.key ? *t.key : idempotency_request{}});
    }
  }
  return out;
}

bool coupon_book::holds(entity_id user_id, entity_id campaign_id) const {
  auto it = wallets_.find(user_id);
  return it != wallets_.end() && it->second.campaigns.contains(campaign_id);
}

std::uint64_t coupon_book::wallet_count() const {
  std::uint64_t count = 0;
  for (const auto& [user, w] : wallets_) count += w.coupons.size();
  return count;
}

// ---- apply
// ------------------------------------------------------------------------------------------

bool coupon_book::owns(record_type type) {
  switch (type) {
    case record_type::coupon_created:
    case record_type::campaign_created:
    case record_type::campaign_taken:
    case record_type::coupon_delivered:
    case record_type::coupon_expired:
      return true;
    default:
      return false;
  }
}

bool coupon_book::apply(record_type type, std::string_view payload) {
  payload_reader in(payload);
  bool ok = false;
  switch (type) {
    case record_type::coupon_created:
      ok = apply_coupon_created(in);
      break;
    case record_type::campaign_created:
      ok = apply_campaign_created(in);
      break;
    case record_type::campaign_taken:
      ok = apply_campaign_taken(in);
      break;
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

bool coupon_book::apply_coupon_created(payload_reader& in) {
  coupon_template c = read_template(in);
  if (in.failed()) return false;
  if (owner_of(c.id, shard_count_) == index_)
    coupon_sequence_ = std::max(coupon_sequence_, sequence_of(c.id, shard_count_));
  templates_[c.id] = std::move(c);
  return true;
}

void coupon_book::size_for_users(std::size_t local_users) {
  if (local_users <= sized_for_users_) return;
  sized_for_users_ = std::max<std::size_t>(local_users * 2, 1024);
  wallets_.reserve(sized_for_users_);
  for (auto& [id, c] : campaigns_) {
    if (c.remaining_quantity > 0) c.issued.reserve(issued_size_for(c.total_quantity));
  }
}

std::size_t coupon_book::issued_size_for(std::int64_t total_quantity) const {
  // A campaign issues at most one unit per user, and users are spread evenly over shards.
  const std::size_t users_everywhere = sized_for_users_ * shard_count_;
  return static_cast<std::size_t>(
      std::min<std::int64_t>(total_quantity, static_cast<std::int64_t>(users_everywhere)));
}

bool coupon_book::apply_campaign_created(payload_reader& in) {
  campaign c;
  c.id = in.get<entity_id>();
  c.coupon_id = in.get<entity_id>();
  c.total_quantity = c.remaining_quantity = in.get<std::int64_t>();
  c.start_at = in.get<time_ms>();
  c.end_at = in.get<time_ms>();
  if (in.failed() || !templates_.contains(c.coupon_id) || campaigns_.contains(c.id)) return false;
  campaign_sequence_ = std::max(campaign_sequence_, sequence_of(c.id, shard_count_));
  c.issued.reserve(issued_size_for(c.total_quantity));
  campaigns_.emplace(c.id, std::move(c));
  return true;
}

bool coupon_book::apply_campaign_taken(payload_reader& in) {
  auto campaign_id = in.get<entity_id>();
  auto user_id = in.get<entity_id>();
  taken t{in.get<time_ms>(), nullptr};
  if (in.get<std::uint8_t>() != 0) {
    t.key = std::make_unique<idempotency_request>();
    t.key->scope = in.get_bytes();
    t.key->key = in.get_bytes();
    std::string hash = in.get_bytes();
    if (hash.size() != t.key->body_sha256.size()) return false;
    std::memcpy(t.key->body_sha256.data(), hash.data(), hash.size());
  }
  auto it = campaigns_.find(campaign_id);
  // Never over-issue, never twice to one user: a record that would is corruption.
  if (in.failed() || it == campaigns_.end() || it->second.remaining_quantity <= 0 ||
      it->second.issued.contains(user_id)) {
    return false;
  }
  it->second.remaining_quantity -= 1;
  it->second.issued.emplace(user_id, std::move(t));
  return true;
}

bool coupon_book::apply_coupon_delivered(payload_reader& in) {
  user_coupon_view c;
  c.user_id = in.get<entity_id>();
  c.id = in.get<entity_id>();
  c.campaign_id = in.get<entity_id>();
  auto coupon_id = in.get<entity_id>();
  c.issued_at = in.get<time_ms>();
  c.expires_at = in.get<time_ms>();
  auto history_id = in.get<entity_id>();
  auto stored = idempotency_table::decode(in);
  auto t = templates_.find(coupon_id);
  if (in.failed() || t == templates_.end() || !users_.exists(c.user_id)) return false;
  c.coupon = t->second;
  wallet& w = wallets_[c.user_id];
  if (!w.campaigns.insert(c.campaign_id).second) return false;
  history_sequence_ = std::max(history_sequence_, sequence_of(history_id, shard_count_));
  user_coupon_sequence_ = std::max(user_coupon_sequence_, sequence_of(c.id, shard_count_));
  w.history.push_back(
      coupon_history_entry{history_id, c.id, coupon_id, coupon_action::issue, 0, c.issued_at});
  expiries_.emplace(c.expires_at, std::make_pair(c.user_id, c.id));
  w.coupons.push_back(std::move(c));
  if (stored) idempotency_.insert(std::move(*stored));
  return true;
}

bool coupon_book::apply_coupon_expired(payload_reader& in) {
  auto user_id = in.get<entity_id>();
  auto coupon_id = in.get<entity_id>();
  auto history_id = in.get<entity_id>();
  auto at = in.get<time_ms>();
  auto it = wallets_.find(user_id);
  if (in.failed() || it == wallets_.end()) return false;
  for (auto& c : it->second.coupons) {
    if (c.id != coupon_id) continue;
    if (c.status != user_coupon_status::available) return false;  // EXPIRE is recorded once
    c.status = user_coupon_status::expired;
    history_sequence_ = std::max(history_sequence_, sequence_of(history_id, shard_count_));
    it->second.history.push_back(
        coupon_history_entry{history_id, c.id, c.coupon.id, coupon_action::expire, 0, at});
    return true;
  }
  return false;
}

// ---- orders --------------------------------------------------------------------------------

user_coupon_view* coupon_book::find_held(entity_id user_id, entity_id user_coupon_id) {
  auto it = wallets_.find(user_id);
  if (it == wallets_.end()) return nullptr;
  for (auto& c : it->second.coupons) {
    if (c.id == user_coupon_id) return &c;
  }
  return nullptr;
}

const user_coupon_view* coupon_book::usable(entity_id user_id, entity_id user_coupon_id,
                                            time_ms now) const {
  auto* held = const_cast<coupon_book*>(this)->find_held(user_id, user_coupon_id);
  if (held == nullptr || held->status != user_coupon_status::available || now >= held->expires_at)
    return nullptr;
  return held;
}

entity_id coupon_book::next_history_id() const {
  return make_id(history_sequence_ + 1, index_, shard_count_);
}

void coupon_book::note_history_id(entity_id id) {
  history_sequence_ = std::max(history_sequence_, sequence_of(id, shard_count_));
}

bool coupon_book::apply_use(entity_id user_id, entity_id user_coupon_id, entity_id order_id,
                            entity_id history_id, time_ms at) {
  user_coupon_view* held = find_held(user_id, user_coupon_id);
  if (held == nullptr || held->status != user_coupon_status::available) return false;
  held->status = user_coupon_status::used;
  held->used_at = at;
  note_history_id(history_id);
  wallets_[user_id].history.push_back(coupon_history_entry{
      history_id, user_coupon_id, held->coupon.id, coupon_action::use, order_id, at});
  return true;
}

bool coupon_book::apply_restore(entity_id user_id, entity_id user_coupon_id, entity_id order_id,
                                entity_id history_id, time_ms at) {
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

}  // namespace ecom::engine
