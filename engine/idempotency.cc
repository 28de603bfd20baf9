#include "engine/idempotency.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <limits>

#include "engine/check.h"
#include "engine/limits.h"
#include "engine/value_codec.h"

namespace ecom::engine {

namespace {

// How an entry sits at the end of a record payload (the flag byte).
enum entry_format : std::uint8_t {
  entry_none = 0,
  entry_bytes = 1,  // older format: the rendered status and bytes of the first answer
  entry_typed = 2,  // the outcome and the value, rendered again by net on replay
};

// Which value a typed entry holds.
enum value_tag : std::uint8_t {
  value_none = 0,
  value_balance = 1,
  value_cart_item = 2,
  value_user_coupon = 3,
  value_order = 4,
};

void write_kept_value(payload_writer& w, const reply_body& body) {
  if (const auto* v = std::get_if<balance_view>(&body)) {
    w.put(value_balance);
    write_value(w, *v);
  } else if (const auto* v = std::get_if<cart_item_view>(&body)) {
    w.put(value_cart_item);
    write_value(w, *v);
  } else if (const auto* v = std::get_if<user_coupon_view>(&body)) {
    w.put(value_user_coupon);
    write_value(w, *v);
  } else if (const auto* v = std::get_if<order_view>(&body)) {
    w.put(value_order);
    write_value(w, *v);
  } else {
    ECOM_CHECK(std::holds_alternative<std::monostate>(body),
               "a kept answer of a type no route keeps");
    w.put(value_none);
  }
}

template <class T>
reply_body read_kept(payload_reader& in) {
  T value{};
  read_value(in, value);
  return value;
}

reply_body read_kept_value(payload_reader& in) {
  switch (in.get<std::uint8_t>()) {
    case value_none:
      return std::monostate{};
    case value_balance:
      return read_kept<balance_view>(in);
    case value_cart_item:
      return read_kept<cart_item_view>(in);
    case value_user_coupon:
      return read_kept<user_coupon_view>(in);
    case value_order:
      return read_kept<order_view>(in);
    default:
      in.fail();
      return std::monostate{};
  }
}

}  // namespace

std::string idempotency_table::map_key(entity_id user_id, std::string_view scope,
                                       std::string_view key) {
  std::string out;
  out.reserve(scope.size() + key.size() + 24);
  out.append(std::to_string(user_id)).append(1, '\n').append(scope).append(1, '\n').append(key);
  return out;
}

std::optional<reply> idempotency_table::kept_answer(const idempotency_key& key, time_ms now) const {
  auto it = entries_.find(map_key(key.user_id, key.scope, key.key));
  if (it == entries_.end()) return std::nullopt;
  const idempotency_entry& entry = it->second.entry;
  if (now - entry.created_at >= idempotency_ttl_ms) return std::nullopt;
  if (entry.body_sha256 != key.body_sha256) return refusal(errc::idempotency_key_reused);
  return reply{entry.code, entry.body, true, 0};
}

std::optional<reply> idempotency_table::screen(const idempotency_key& key, time_ms now) {
  if (!in_flight_.empty()) {
    auto it = in_flight_.find(map_key(key.user_id, key.scope, key.key));
    if (it != in_flight_.end()) {
      if (it->second > durable_lsn_) return refusal(errc::idempotency_key_in_use);
      in_flight_.erase(it);
    }
  }
  return kept_answer(key, now);
}

void idempotency_table::mark_in_flight(const idempotency_key& key, lsn_t lsn) {
  assert(lsn != 0);
  if (lsn <= durable_lsn_) {
    in_flight_.erase(map_key(key.user_id, key.scope, key.key));  // a claim, now done
    return;
  }
  // Keep it small: entries whose LSN is durable by now are done. Pruned only when the map has
  // doubled since the last prune, so the cost per request stays constant (claims, which hold
  // the largest LSN, survive it).
  if (in_flight_.size() >= prune_at_) {
    std::erase_if(in_flight_, [&](const auto& item) { return item.second <= durable_lsn_; });
    prune_at_ = std::max<std::size_t>(1024, in_flight_.size() * 2);
  }
  in_flight_[map_key(key.user_id, key.scope, key.key)] = lsn;
}

void idempotency_table::claim(const idempotency_key& key) {
  in_flight_[map_key(key.user_id, key.scope, key.key)] = std::numeric_limits<lsn_t>::max();
}

void idempotency_table::release(const idempotency_key& key) {
  in_flight_.erase(map_key(key.user_id, key.scope, key.key));
}

std::optional<idempotency_entry> idempotency_table::entry_for(const idempotency_key& key,
                                                              const reply& answer, time_ms now) {
  assert(!answer.replayed);
  if (answer.replayed) return std::nullopt;
  if (answer.code != errc::ok && !key.kept_refusals.contains(answer.code)) return std::nullopt;
  return idempotency_entry{key.user_id,
                           key.scope,
                           key.key,
                           key.body_sha256,
                           now,
                           answer.code,
                           answer.code == errc::ok ? answer.body : reply_body{}};
}

void idempotency_table::insert(idempotency_entry entry) {
  std::string key = map_key(entry.user_id, entry.scope, entry.key);
  const std::uint64_t position = ++position_;
  expiry_order_.push_back(queued{entry.created_at, key, position});
  auto [it, inserted] = entries_.try_emplace(std::move(key));
  if (!inserted) changing(it->second);
  it->second = kept{std::move(entry), position};
}

void idempotency_table::sweep(time_ms now) {
  while (!expiry_order_.empty() && now - expiry_order_.front().created_at >= idempotency_ttl_ms) {
    auto it = entries_.find(expiry_order_.front().map_key);
    // A key stored again after it expired once has a newer entry: keep that one.
    if (it != entries_.end() && it->second.position == expiry_order_.front().position) {
      changing(it->second);
      entries_.erase(it);
    }
    expiry_order_.pop_front();
  }
}

// ---- snapshot --------------------------------------------------------------------------------

void idempotency_table::changing(const kept& entry) {
  if (capture_ != nullptr && capture_entries_.claim(entry.position)) {
    put_entity(*capture_, snapshot_key(snapshot_table::keys, entry.position),
               [&](payload_writer& w) { encode(w, &entry.entry); });
  }
}

void idempotency_table::begin_capture(capture_buffer& out) {
  put_entity(out,
             snapshot_key(snapshot_table::books, static_cast<std::uint64_t>(snapshot_book::keys)),
             [&](payload_writer& w) { w.put(position_); });
  capture_ = &out;
  capture_entries_.start(1, position_);
}

bool idempotency_table::capture_step(capture_buffer& out, capture_budget& budget) {
  // The queue holds every live entry in position order (and stale positions, skipped).
  auto at = std::lower_bound(
      expiry_order_.begin(), expiry_order_.end(), capture_entries_.cursor(),
      [](const queued& q, std::uint64_t position) { return q.position < position; });
  while (!budget.spent()) {
    if (at == expiry_order_.end() || at->position > capture_entries_.last()) {
      capture_entries_.advance_to(capture_entries_.last() + 1);
      return true;
    }
    budget.spend();
    const std::uint64_t position = at->position;
    capture_entries_.advance_to(position + 1);
    if (!capture_entries_.written_early(position)) {
      auto it = entries_.find(at->map_key);
      if (it != entries_.end() && it->second.position == position) {
        put_entity(out, snapshot_key(snapshot_table::keys, position),
                   [&](payload_writer& w) { encode(w, &it->second.entry); });
      }
    }
    ++at;
  }
  return capture_entries_.done();
}

void idempotency_table::end_capture() {
  capture_ = nullptr;
  capture_entries_.stop();
}

bool idempotency_table::load(const snapshot_key& key, std::string_view value) {
  payload_reader in(value);
  if (key.table() == snapshot_table::books) {
    position_ = in.get<std::uint64_t>();
    return !in.failed() && in.at_end();
  }
  auto entry = decode(in);
  if (key.table() != snapshot_table::keys || !entry || in.failed() || !in.at_end()) return false;
  if (key.a() == 0 || (!expiry_order_.empty() && key.a() <= expiry_order_.back().position))
    return false;  // positions ascend
  std::string map = map_key(entry->user_id, entry->scope, entry->key);
  expiry_order_.push_back(queued{entry->created_at, map, key.a()});
  return entries_.try_emplace(std::move(map), kept{std::move(*entry), key.a()}).second;
}

void idempotency_table::end_load() {
  if (!expiry_order_.empty() && expiry_order_.back().position > position_)
    position_ = expiry_order_.back().position;
}

void idempotency_table::emit(const idempotency_entry& entry, std::vector<record>& out) {
  std::string payload;
  payload_writer w(payload);
  encode(w, &entry);
  ECOM_CHECK(apply(record_type::idempotent_reply_stored, payload),
             "a freshly encoded kept answer does not apply");
  out.push_back(record{record_type::idempotent_reply_stored, index_, std::move(payload)});
}

bool idempotency_table::apply(record_type type, std::string_view payload) {
  if (type != record_type::idempotent_reply_stored) return false;
  payload_reader in(payload);
  auto stored = decode(in);
  if (!stored || in.failed() || !in.at_end()) return false;
  insert(std::move(*stored));
  return true;
}

void idempotency_table::encode(payload_writer& out, const idempotency_entry* entry) {
  if (entry != nullptr) {
    if (const auto* bytes = std::get_if<stored_reply>(&entry->body)) {
      // An entry an older build kept as bytes (read back from its WAL) is written the same
      // way again, e.g. into a snapshot.
      out.put(entry_bytes);
      out.put(entry->user_id);
      out.put_bytes(entry->scope);
      out.put_bytes(entry->key);
      out.put_bytes(std::string_view(reinterpret_cast<const char*>(entry->body_sha256.data()),
                                     entry->body_sha256.size()));
      out.put(bytes->status);
      out.put_bytes(bytes->body);
      out.put(entry->created_at);
      return;
    }
  }
  out.put(entry ? entry_typed : entry_none);
  if (!entry) return;
  out.put(entry->user_id);
  out.put_bytes(entry->scope);
  out.put_bytes(entry->key);
  out.put_bytes(std::string_view(reinterpret_cast<const char*>(entry->body_sha256.data()),
                                 entry->body_sha256.size()));
  out.put(entry->created_at);
  out.put(entry->code);
  write_kept_value(out, entry->body);
}

std::optional<idempotency_entry> idempotency_table::decode(payload_reader& in) {
  auto format = in.get<std::uint8_t>();
  if (format == entry_none) return std::nullopt;
  idempotency_entry entry;
  entry.user_id = in.get<entity_id>();
  entry.scope = in.get_bytes();
  entry.key = in.get_bytes();
  std::string hash = in.get_bytes();
  if (hash.size() != entry.body_sha256.size()) in.fail();
  if (!in.failed()) std::memcpy(entry.body_sha256.data(), hash.data(), hash.size());
  if (format == entry_bytes) {
    stored_reply bytes;
    bytes.status = in.get<std::uint16_t>();
    bytes.body = in.get_bytes();
    entry.created_at = in.get<time_ms>();
    entry.body = std::move(bytes);
  } else if (format == entry_typed) {
    entry.created_at = in.get<time_ms>();
    entry.code = in.get<errc>();
    entry.body = read_kept_value(in);
    if (static_cast<unsigned>(entry.code) > static_cast<unsigned>(errc::internal)) in.fail();
  } else {
    in.fail();
  }
  if (in.failed()) return std::nullopt;
  return entry;
}

}  // namespace ecom::engine
