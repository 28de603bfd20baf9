#include "engine/idempotency.h"

#include <cassert>
#include <limits>

namespace ecom::engine {

std::string idempotency_table::map_key(entity_id user_id, const std::string& scope,
                                       const std::string& key) {
  std::string out;
  out.reserve(scope.size() + key.size() + 24);
  out.append(std::to_string(user_id)).append(1, '\n').append(scope).append(1, '\n').append(key);
  return out;
}

idempotency_table::verdict idempotency_table::check(entity_id user_id,
                                                    const idempotency_request& request, time_ms now,
                                                    stored_reply* answer) const {
  if (request.key.empty()) return verdict::absent;
  auto it = entries_.find(map_key(user_id, request.scope, request.key));
  if (it == entries_.end()) return verdict::absent;
  const idempotency_entry& entry = it->second;
  if (now - entry.created_at >= idempotency_ttl_ms) return verdict::absent;
  if (entry.body_sha256 != request.body_sha256) return verdict::key_reused;
  *answer = entry.answer;
  return verdict::replay;
}

std::optional<reply> idempotency_table::screen(entity_id user_id,
                                               const idempotency_request& request, time_ms now) {
  if (request.key.empty()) return std::nullopt;
  if (!in_flight_.empty()) {
    auto it = in_flight_.find(map_key(user_id, request.scope, request.key));
    if (it != in_flight_.end()) {
      if (it->second > durable_lsn_) return reply{errc::idempotency_key_in_use, {}, false};
      in_flight_.erase(it);
    }
  }
  stored_reply stored;
  switch (check(user_id, request, now, &stored)) {
    case verdict::replay:
      return reply{errc::ok, std::move(stored), true};
    case verdict::key_reused:
      return reply{errc::idempotency_key_reused, {}, false};
    case verdict::absent:
      break;
  }
  return std::nullopt;
}

void idempotency_table::mark_in_flight(entity_id user_id, const idempotency_request& request,
                                       lsn_t lsn) {
  if (request.key.empty()) return;
  if (lsn <= durable_lsn_) {
    in_flight_.erase(map_key(user_id, request.scope, request.key));  // a claim, now done
    return;
  }
  // Keep it small: entries whose LSN is durable by now are done. Pruned only when the map has
  // doubled since the last prune, so the cost per request stays constant (claims, which hold
  // the largest LSN, survive it).
  if (in_flight_.size() >= prune_at_) {
    std::erase_if(in_flight_, [&](const auto& item) { return item.second <= durable_lsn_; });
    prune_at_ = std::max<std::size_t>(1024, in_flight_.size() * 2);
  }
  in_flight_[map_key(user_id, request.scope, request.key)] = lsn;
}

void idempotency_table::claim(entity_id user_id, const idempotency_request& request) {
  if (request.key.empty()) return;
  in_flight_[map_key(user_id, request.scope, request.key)] = std::numeric_limits<lsn_t>::max();
}

void idempotency_table::release(entity_id user_id, const idempotency_request& request) {
  if (request.key.empty()) return;
  in_flight_.erase(map_key(user_id, request.scope, request.key));
}

void idempotency_table::insert(idempotency_entry entry) {
  std::string key = map_key(entry.user_id, entry.scope, entry.key);
  expiry_order_.emplace_back(entry.created_at, key);
  entries_.insert_or_assign(std::move(key), std::move(entry));
}

void idempotency_table::sweep(time_ms now) {
  while (!expiry_order_.empty() && now - expiry_order_.front().first >= idempotency_ttl_ms) {
    auto it = entries_.find(expiry_order_.front().second);
    // A key stored again after it expired once has a newer entry: keep that one.
    if (it != entries_.end() && it->second.created_at == expiry_order_.front().first) {
      entries_.erase(it);
    }
    expiry_order_.pop_front();
  }
}

void idempotency_table::encode(payload_writer& out, const idempotency_entry* entry) {
  out.put<std::uint8_t>(entry ? 1 : 0);
  if (!entry) return;
  out.put(entry->user_id);
  out.put_bytes(entry->scope);
  out.put_bytes(entry->key);
  out.put_bytes(std::string_view(reinterpret_cast<const char*>(entry->body_sha256.data()),
                                 entry->body_sha256.size()));
  out.put(entry->answer.status);
  out.put_bytes(entry->answer.body);
  out.put(entry->created_at);
}

std::optional<idempotency_entry> idempotency_table::decode(payload_reader& in) {
  if (in.get<std::uint8_t>() == 0) return std::nullopt;
  idempotency_entry entry;
  entry.user_id = in.get<entity_id>();
  entry.scope = in.get_bytes();
  entry.key = in.get_bytes();
  std::string hash = in.get_bytes();
  if (hash.size() == entry.body_sha256.size()) {
    std::memcpy(entry.body_sha256.data(), hash.data(), hash.size());
  }
  entry.answer.status = in.get<std::uint16_t>();
  entry.answer.body = in.get_bytes();
  entry.created_at = in.get<time_ms>();
  if (in.failed()) return std::nullopt;
  return entry;
}

std::optional<idempotency_entry> make_idempotency_entry(entity_id user_id,
                                                        const idempotency_request& request,
                                                        const reply& answer, time_ms now) {
  if (request.key.empty() || request.render == nullptr) return std::nullopt;
  stored_reply rendered = request.render(answer);
  bool storable = (rendered.status >= 200 && rendered.status < 300) || rendered.status == 409;
  if (!storable) return std::nullopt;
  assert(!answer.replayed);
  return idempotency_entry{
      user_id, request.scope, request.key, request.body_sha256, std::move(rendered), now};
}

}  // namespace ecom::engine
