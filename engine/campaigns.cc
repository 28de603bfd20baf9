#include "engine/campaigns.h"

#include <algorithm>
#include <cassert>
#include <cstring>

#include "engine/sharding.h"
#include "engine/value_codec.h"

namespace ecom::engine {

campaign_book::campaign_book(shard_index index, std::uint32_t shard_count)
    : index_(index), shard_count_(shard_count) {
  assert(index < shard_count);
}

void campaign_book::emit(record_type type, std::string payload, step_context& ctx) {
  emit_record(*this, type, index_, std::move(payload), ctx.out);
}

campaign_view campaign_book::view_of(const campaign& c, time_ms now) const {
  return campaign_view{c.id,
                       templates_.at(c.coupon_id),
                       c.total_quantity,
                       c.remaining_quantity,
                       c.start_at,
                       c.end_at,
                       status_at(c.start_at, c.end_at, c.remaining_quantity, now)};
}

const coupon_template* campaign_book::find_template(entity_id coupon_id) const {
  auto it = templates_.find(coupon_id);
  return it == templates_.end() ? nullptr : &it->second;
}

reply campaign_book::handle(const create_coupon& command, step_context& ctx) {
  coupon_template c = command.coupon;
  c.id = make_id(coupon_sequence_ + 1, index_, shard_count_);
  c.created_at = ctx.now;
  std::string payload;
  payload_writer w(payload);
  write_value(w, c);
  emit(record_type::coupon_created, std::move(payload), ctx);
  return reply{errc::ok, c, false};
}

// Memory only: the owner's coupon_created record installs it on every shard at replay.
reply campaign_book::handle(const install_coupon& command, step_context&) {
  install(command.coupon);
  return reply{};
}

reply campaign_book::handle(const create_campaign& command, step_context& ctx) {
  if (!templates_.contains(command.coupon_id)) return refusal(errc::coupon_not_found);
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
  emit(record_type::campaign_created, std::move(payload), ctx);
  return reply{errc::ok, view_of(campaigns_.at(id), ctx.now), false};
}

reply campaign_book::handle(const get_campaign& command, step_context& ctx) {
  auto it = campaigns_.find(command.campaign_id);
  if (it == campaigns_.end()) return refusal(errc::coupon_not_found);
  return reply{errc::ok, view_of(it->second, ctx.now), false};
}

reply campaign_book::handle(const list_campaigns& command, step_context& ctx) {
  assert(command.limit <= page_items_max);
  campaign_list list;
  list.items.reserve(command.limit);
  for (auto it = campaigns_.upper_bound(command.after_id); it != campaigns_.end(); ++it) {
    if (list.items.size() == command.limit) {
      list.more = true;
      break;
    }
    list.items.push_back(view_of(it->second, ctx.now));
  }
  return reply{errc::ok, std::move(list), false};
}

// The hot path: the contract's rules in order, then one unit taken. No lock: this shard's
// thread is the only one that ever reads or writes the campaign.
reply campaign_book::handle(const take_coupon& command, step_context& ctx) {
  auto it = campaigns_.find(command.campaign_id);
  if (it == campaigns_.end()) return refusal(errc::coupon_not_found);
  const campaign& c = it->second;
  if (ctx.now < c.start_at || ctx.now >= c.end_at) return refusal(errc::coupon_not_active);
  if (c.issued_users.contains(command.user_id)) return refusal(errc::coupon_already_issued);
  if (c.remaining_quantity == 0) return refusal(errc::coupon_sold_out);
  const coupon_template& coupon = templates_.at(c.coupon_id);
  user_coupon_view issued{0,  // allocated by the user's shard on delivery
                          command.user_id,
                          c.id,
                          coupon,
                          user_coupon_status::available,
                          ctx.now,
                          ctx.now + coupon.valid_days * day_ms,
                          0};
  std::string payload;
  payload.reserve(32);
  payload_writer w(payload);
  w.put(c.id);
  w.put(command.user_id);
  w.put(ctx.now);
  const idempotency_key* key = command.key_to_store.get();
  w.put<std::uint8_t>(key == nullptr ? 0 : 1);
  if (key != nullptr) {
    w.put_bytes(key->scope);
    w.put_bytes(key->key);
    w.put_bytes(std::string_view(reinterpret_cast<const char*>(key->body_sha256.data()),
                                 key->body_sha256.size()));
  }
  emit(record_type::campaign_taken, std::move(payload), ctx);
  return reply{errc::ok, std::move(issued), false};
}

std::vector<campaign_book::taken_unit> campaign_book::taken_units() const {
  std::vector<taken_unit> out;
  for (const auto& [id, c] : campaigns_) {
    const coupon_template& coupon = templates_.at(c.coupon_id);
    for (const auto& t : c.issued) {
      out.push_back(
          taken_unit{user_coupon_view{0, t.user_id, c.id, coupon, user_coupon_status::available,
                                      t.issued_at, t.issued_at + coupon.valid_days * day_ms, 0},
                     t.key});
    }
  }
  return out;
}

void campaign_book::size_for_users(std::size_t local_users) {
  if (local_users <= sized_for_users_) return;
  sized_for_users_ = std::max<std::size_t>(local_users * 2, 1024);
  for (auto& [id, c] : campaigns_) {
    if (c.remaining_quantity > 0) {
      c.issued.reserve(issued_size_for(c.total_quantity));
      c.issued_users.reserve(issued_size_for(c.total_quantity));
    }
  }
}

std::size_t campaign_book::issued_size_for(std::int64_t total_quantity) const {
  // A campaign issues at most one unit per user, and users are spread evenly over shards.
  const std::size_t users_everywhere = sized_for_users_ * shard_count_;
  return static_cast<std::size_t>(
      std::min<std::int64_t>(total_quantity, static_cast<std::int64_t>(users_everywhere)));
}

void campaign_book::check_invariants(std::vector<std::string>& broken) const {
  for (const auto& [id, c] : campaigns_) {
    if (c.remaining_quantity < 0 ||
        c.remaining_quantity + static_cast<std::int64_t>(c.issued.size()) != c.total_quantity) {
      broken.push_back("campaign " + std::to_string(id) + ": remaining " +
                       std::to_string(c.remaining_quantity) + " + issued " +
                       std::to_string(c.issued.size()) + " != total " +
                       std::to_string(c.total_quantity));
    }
  }
}

// ---- apply ------------------------------------------------------------------------------------

bool campaign_book::apply(record_type type, std::string_view payload) {
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
    default:
      return false;
  }
  return ok && !in.failed() && in.at_end();
}

// Applied on every shard, whichever shard made it, and unconditionally (a copy installed by
// the template flow is replaced by the same value): a shard's state never depends on whether
// the copy reached it before a crash.
bool campaign_book::apply_coupon_created(payload_reader& in) {
  coupon_template c;
  read_value(in, c);
  if (in.failed()) return false;
  if (owner_of(c.id, shard_count_) == index_)
    coupon_sequence_ = std::max(coupon_sequence_, sequence_of(c.id, shard_count_));
  templates_[c.id] = std::move(c);
  return true;
}

bool campaign_book::apply_campaign_created(payload_reader& in) {
  campaign c;
  c.id = in.get<entity_id>();
  c.coupon_id = in.get<entity_id>();
  c.total_quantity = c.remaining_quantity = in.get<std::int64_t>();
  c.start_at = in.get<time_ms>();
  c.end_at = in.get<time_ms>();
  if (in.failed() || !templates_.contains(c.coupon_id) || campaigns_.contains(c.id)) return false;
  campaign_sequence_ = std::max(campaign_sequence_, sequence_of(c.id, shard_count_));
  c.issued.reserve(issued_size_for(c.total_quantity));
  c.issued_users.reserve(issued_size_for(c.total_quantity));
  campaigns_.emplace(c.id, std::move(c));
  return true;
}

bool campaign_book::apply_campaign_taken(payload_reader& in) {
  auto campaign_id = in.get<entity_id>();
  auto user_id = in.get<entity_id>();
  taken t{user_id, in.get<time_ms>(), nullptr};
  if (in.get<std::uint8_t>() != 0) {
    auto key = std::make_shared<idempotency_key>();
    key->user_id = user_id;
    key->scope = in.get_bytes();
    key->key = in.get_bytes();
    std::string hash = in.get_bytes();
    if (hash.size() != key->body_sha256.size()) return false;
    std::memcpy(key->body_sha256.data(), hash.data(), hash.size());
    t.key = std::move(key);
  }
  campaign* c = changing(campaign_id);
  // Never over-issue, never twice to one user: a record that would is corruption.
  if (in.failed() || c == nullptr || c->remaining_quantity <= 0 ||
      !c->issued_users.insert(user_id).second) {
    return false;
  }
  c->remaining_quantity -= 1;
  c->issued.push_back(std::move(t));
  return true;
}

// ---- snapshot --------------------------------------------------------------------------------

namespace {

void write_taken_key(payload_writer& w, const key_ptr& key) {
  w.put<std::uint8_t>(key == nullptr ? 0 : 1);
  if (key == nullptr) return;
  w.put_bytes(key->scope);
  w.put_bytes(key->key);
  w.put_bytes(std::string_view(reinterpret_cast<const char*>(key->body_sha256.data()),
                               key->body_sha256.size()));
}

}  // namespace

void campaign_book::write_campaign(payload_writer& w, const campaign& c) {
  w.put(c.id);
  w.put(c.coupon_id);
  w.put(c.total_quantity);
  w.put(c.remaining_quantity);
  w.put(c.start_at);
  w.put(c.end_at);
}

campaign_book::campaign* campaign_book::changing(entity_id campaign_id) {
  auto it = campaigns_.find(campaign_id);
  campaign* c = it == campaigns_.end() ? nullptr : &it->second;
  capture_campaigns_.changing(sequence_of(campaign_id, shard_count_), c, write_campaign);
  return c;
}

void campaign_book::begin_capture(capture_buffer& out) {
  put_entity(
      out,
      snapshot_key(snapshot_table::books, static_cast<std::uint64_t>(snapshot_book::campaigns)),
      [&](payload_writer& w) {
        w.put(coupon_sequence_);
        w.put(campaign_sequence_);
      });
  capture_templates_.begin(out, coupon_sequence_);
  capture_campaigns_.begin(out, campaign_sequence_);
  capture_issued_.clear();
  for (const auto& [id, c] : campaigns_) capture_issued_.emplace_back(id, c.issued.size());
  capture_issued_campaign_ = 0;
  capture_issued_unit_ = 0;
}

bool campaign_book::capture_step(capture_buffer& out, capture_budget& budget) {
  // Templates never change once made; campaigns change by one count; units only grow.
  auto write_template = [](payload_writer& w, const coupon_template& t) { write_value(w, t); };
  if (!capture_templates_.step(out, templates_, index_, shard_count_, budget, write_template))
    return false;
  if (!capture_campaigns_.step(out, campaigns_, index_, shard_count_, budget, write_campaign))
    return false;
  while (capture_issued_campaign_ < capture_issued_.size()) {
    const auto [id, count] = capture_issued_[capture_issued_campaign_];
    const campaign& c = campaigns_.at(id);
    const std::uint64_t position = sequence_of(id, shard_count_);
    for (; capture_issued_unit_ < count; ++capture_issued_unit_) {
      if (budget.spent()) return false;
      budget.spend();
      const taken& t = c.issued[capture_issued_unit_];
      put_entity(out, snapshot_key(snapshot_table::issued, position, capture_issued_unit_),
                 [&](payload_writer& w) {
                   w.put(t.user_id);
                   w.put(t.issued_at);
                   write_taken_key(w, t.key);
                 });
    }
    ++capture_issued_campaign_;
    capture_issued_unit_ = 0;
  }
  return true;
}

void campaign_book::end_capture() {
  capture_templates_.end();
  capture_campaigns_.end();
  capture_issued_ = {};
}

std::vector<coupon_template> campaign_book::templates_made() const {
  std::vector<coupon_template> out;
  for (const auto& [id, t] : templates_) {
    if (owner_of(id, shard_count_) == index_) out.push_back(t);
  }
  return out;
}

bool campaign_book::load(const snapshot_key& key, std::string_view value) {
  payload_reader in(value);
  switch (key.table()) {
    case snapshot_table::books:
      coupon_sequence_ = in.get<std::uint64_t>();
      campaign_sequence_ = in.get<std::uint64_t>();
      break;
    case snapshot_table::templates: {
      coupon_template t;
      read_value(in, t);
      if (in.failed() || t.id != make_id(key.a(), index_, shard_count_)) return false;
      templates_[t.id] = std::move(t);
      break;
    }
    case snapshot_table::campaigns: {
      campaign c;
      c.id = in.get<entity_id>();
      c.coupon_id = in.get<entity_id>();
      c.total_quantity = in.get<std::int64_t>();
      c.remaining_quantity = in.get<std::int64_t>();
      c.start_at = in.get<time_ms>();
      c.end_at = in.get<time_ms>();
      if (in.failed() || c.id != make_id(key.a(), index_, shard_count_) || c.total_quantity < 0 ||
          c.remaining_quantity < 0 || c.remaining_quantity > c.total_quantity)
        return false;
      // No reserve from the counts here: they are the snapshot's word, and a campaign's units
      // come as entities anyway; the shard sizes what a sale fills once it starts
      // (size_for_users).
      if (!campaigns_.emplace(c.id, std::move(c)).second) return false;
      break;
    }
    case snapshot_table::issued: {
      auto it = campaigns_.find(make_id(key.a(), index_, shard_count_));
      if (it == campaigns_.end() || key.b() != it->second.issued.size()) return false;
      taken t;
      t.user_id = in.get<entity_id>();
      t.issued_at = in.get<time_ms>();
      if (in.get<std::uint8_t>() != 0) {
        auto k = std::make_shared<idempotency_key>();
        k->user_id = t.user_id;
        k->scope = in.get_bytes();
        k->key = in.get_bytes();
        std::string hash = in.get_bytes();
        if (hash.size() != k->body_sha256.size()) return false;
        std::memcpy(k->body_sha256.data(), hash.data(), hash.size());
        t.key = std::move(k);
      }
      if (in.failed() || !it->second.issued_users.insert(t.user_id).second) return false;
      it->second.issued.push_back(std::move(t));
      break;
    }
    default:
      return false;
  }
  return !in.failed() && in.at_end();
}

}  // namespace ecom::engine
