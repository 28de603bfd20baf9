#include "engine/user_book.h"

#include <algorithm>
#include <cassert>

#include "engine/sharding.h"
#include "engine/value_codec.h"

namespace ecom::engine {

user_book::user_book(shard_index index, std::uint32_t shard_count, idempotency_table& keys,
                     std::size_t throttle_emails_max)
    : index_(index), shard_count_(shard_count), keys_(keys), throttle_(throttle_emails_max) {
  assert(shard_count > 0);
  assert(index < shard_count);
}

user_book::user_state* user_book::changing(entity_id id) {
  auto it = users_.find(id);
  user_state* user = it == users_.end() ? nullptr : &it->second;
  capture_users_.changing(sequence_of(id, shard_count_), user, write_user);
  return user;
}

const user_book::user_state* user_book::find(entity_id id) const {
  auto it = users_.find(id);
  return it == users_.end() ? nullptr : &it->second;
}

balance_view user_book::balance_of(const user_state& user) const {
  return balance_view{user.profile.id, user.balance, user.balance_updated_at};
}

void user_book::emit(record_type type, std::string payload, step_context& ctx) {
  emit_record(*this, type, index_, std::move(payload), ctx.out);
}

// ---- handlers: decide, encode, emit --------------------------------------------------------

reply user_book::handle(const create_user& command, step_context& ctx) {
  std::string key = email_key(command.email);
  assert(shard_of_email(key, shard_count_) == index_);
  if (email_index_.contains(key)) return refusal(errc::email_taken);
  entity_id id = make_id(user_sequence_ + 1, index_, shard_count_);
  std::string payload;
  payload_writer w(payload);
  w.put(id);
  w.put(ctx.now);
  w.put_bytes(command.name);
  w.put_bytes(command.email);
  w.put_bytes(command.password_hash);
  emit(record_type::user_created, std::move(payload), ctx);
  return reply{errc::ok, find(id)->profile, false};
}

reply user_book::handle(const find_credentials& command, step_context& ctx) {
  std::string key = email_key(command.email);
  if (time_ms wait = throttle_.begin_check(key, ctx.now); wait > 0) {
    return reply{errc::too_many_attempts, login_locked{wait}, false};
  }
  auto it = email_index_.find(key);
  if (it == email_index_.end()) return refusal(errc::invalid_credentials);
  const user_state* user = find(it->second);
  assert(user != nullptr);
  return reply{errc::ok, credentials_view{user->profile.id, user->password_hash}, false};
}

reply user_book::handle(const note_login_failure& command, step_context& ctx) {
  if (command.password_checked) {
    throttle_.note_failure(email_key(command.email), ctx.now);
  } else {
    throttle_.end_check(email_key(command.email), ctx.now);
  }
  return reply{};
}

reply user_book::handle(const open_session& command, step_context& ctx) {
  const user_state* user = find(command.user_id);
  if (user == nullptr) return refusal(errc::user_not_found);
  throttle_.note_success(email_key(user->profile.email));  // sessions open on a good login
  std::string payload;
  payload_writer w(payload);
  w.put(command.user_id);
  w.put_bytes(command.token_sha256);
  w.put(command.expires_at);
  w.put_bytes(command.family_sha256);
  emit(record_type::session_opened, std::move(payload), ctx);
  return reply{};
}

reply user_book::revoke_family_on_reuse(const user_state& user, const std::string& family_sha256,
                                        step_context& ctx) {
  bool live = !family_sha256.empty() &&
              std::any_of(user.sessions.begin(), user.sessions.end(), [&](const session& s) {
                return s.family_sha256 == family_sha256 && s.expires_at > ctx.now;
              });
  if (!live) return refusal(errc::unauthenticated);
  std::string payload;
  payload_writer w(payload);
  w.put(user.profile.id);
  w.put_bytes(family_sha256);
  emit(record_type::session_family_revoked, std::move(payload), ctx);
  return refusal(errc::refresh_token_reused);
}

reply user_book::handle(const rotate_session& command, step_context& ctx) {
  const user_state* user = find(command.user_id);
  if (user == nullptr) return refusal(errc::unauthenticated);
  auto it = std::find_if(user->sessions.begin(), user->sessions.end(), [&](const session& s) {
    return s.token_sha256 == command.old_token_sha256;
  });
  if (it == user->sessions.end() || it->expires_at <= ctx.now)
    return revoke_family_on_reuse(*user, command.family_sha256, ctx);
  std::string payload;
  payload_writer w(payload);
  w.put(command.user_id);
  w.put_bytes(command.old_token_sha256);
  w.put_bytes(command.new_token_sha256);
  w.put(command.new_expires_at);
  w.put_bytes(command.family_sha256);
  emit(record_type::session_rotated, std::move(payload), ctx);
  return reply{};
}

reply user_book::handle(const close_session& command, step_context& ctx) {
  const user_state* user = find(command.user_id);
  if (user == nullptr) return refusal(errc::unauthenticated);
  auto it = std::find_if(user->sessions.begin(), user->sessions.end(),
                         [&](const session& s) { return s.token_sha256 == command.token_sha256; });
  if (it == user->sessions.end() || it->expires_at <= ctx.now)
    return revoke_family_on_reuse(*user, command.family_sha256, ctx);
  std::string payload;
  payload_writer w(payload);
  w.put(command.user_id);
  w.put_bytes(command.token_sha256);
  emit(record_type::session_closed, std::move(payload), ctx);
  return reply{};
}

reply user_book::handle(const get_user& command, step_context&) {
  const user_state* user = find(command.user_id);
  if (user == nullptr) return refusal(errc::user_not_found);
  return reply{errc::ok, user->profile, false};
}

// Bulk users get an email that hashes to this shard, so the email index stays on the shard
// that owns the user: the slugged prefix, the id, and a counter tried until the hash fits.
std::string user_book::bulk_email(std::string_view prefix, entity_id id) const {
  std::string slug;
  for (char c : prefix) {
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) slug.push_back(c);
    if (c >= 'A' && c <= 'Z') slug.push_back(static_cast<char>(c - 'A' + 'a'));
    if (slug.size() >= 32) break;
  }
  if (slug.empty()) slug = "user";
  std::string base = slug + "." + std::to_string(id);
  for (std::uint32_t attempt = 0;; ++attempt) {
    std::string email = base;
    if (attempt != 0) (email += '.') += std::to_string(attempt);
    email += "@bulk.ecomd.test";
    if (shard_of_email(email, shard_count_) == index_ && !email_index_.contains(email))
      return email;
    assert(attempt < 100000);
  }
}

reply user_book::handle(const bulk_create_users& command, step_context& ctx) {
  bulk_page page;
  page.items.reserve(command.count);
  std::uint32_t left = command.count;
  while (left > 0) {
    std::uint32_t chunk = std::min(left, bulk_users_per_record_max);
    std::string payload;
    payload_writer w(payload);
    w.put(ctx.now);
    w.put(chunk);
    for (std::uint32_t i = 0; i < chunk; ++i) {
      entity_id id = make_id(user_sequence_ + 1 + i, index_, shard_count_);
      std::string email = bulk_email(command.name_prefix, id);
      w.put(id);
      w.put_bytes(command.name_prefix + "-" + std::to_string(id));
      w.put_bytes(email);
      page.items.push_back(bulk_user{id, std::move(email)});
    }
    emit(record_type::users_bulk_created, std::move(payload), ctx);
    left -= chunk;
  }
  return reply{errc::ok, std::move(page), false};
}

reply user_book::handle(const get_balance& command, step_context&) {
  const user_state* user = find(command.user_id);
  if (user == nullptr) return refusal(errc::user_not_found);
  return reply{errc::ok, balance_of(*user), false};
}

reply user_book::handle(const charge_balance& command, step_context& ctx) {
  const user_state* user = find(command.user_id);
  if (user == nullptr) return refusal(errc::user_not_found);
  assert(command.amount > 0 && command.amount <= charge_amount_max);
  if (command.amount > balance_max - user->balance) return refusal(errc::balance_limit_exceeded);
  balance_entry entry{make_id(entry_sequence_ + 1, index_, shard_count_),
                      balance_entry_kind::charge,
                      command.amount,
                      user->balance,
                      user->balance + command.amount,
                      0,
                      ctx.now};
  reply answer{errc::ok, balance_view{command.user_id, entry.balance_after, ctx.now}, false};
  auto stored_entry = ctx.entry_for(answer);
  std::string payload;
  payload_writer w(payload);
  w.put(command.user_id);
  w.put(entry.id);
  w.put(entry.amount);
  w.put(entry.balance_before);
  w.put(entry.balance_after);
  w.put(ctx.now);
  idempotency_table::encode(w, stored_entry ? &*stored_entry : nullptr);
  emit(record_type::balance_charged, std::move(payload), ctx);
  return answer;
}

reply user_book::handle(const list_balance_history& command, step_context&) {
  const user_state* user = find(command.user_id);
  if (user == nullptr) return refusal(errc::user_not_found);
  const auto& history = user->history;
  // Entries are in ascending id order; start just below before_id and walk back.
  auto end = command.before_id == 0
                 ? history.end()
                 : std::lower_bound(history.begin(), history.end(), command.before_id,
                                    [](const balance_entry& e, entity_id id) { return e.id < id; });
  history_page page;
  std::size_t available = static_cast<std::size_t>(end - history.begin());
  std::size_t take = std::min<std::size_t>(available, command.limit);
  page.items.reserve(take);
  for (std::size_t i = 0; i < take; ++i)
    page.items.push_back(*(end - 1 - static_cast<std::ptrdiff_t>(i)));
  if (take < available && take > 0) page.next_before_id = page.items.back().id;
  return reply{errc::ok, std::move(page), false};
}

void user_book::fill(shard_figures& figures) const {
  figures.users = users_.size();
  figures.balance_entries = entry_count_;
  figures.idempotency_entries = keys_.size();
}

// ---- apply: the only code that changes state -----------------------------------------------

bool user_book::apply(record_type type, std::string_view payload) {
  payload_reader in(payload);
  bool ok = false;
  switch (type) {
    case record_type::user_created:
      ok = apply_user_created(in);
      break;
    case record_type::users_bulk_created:
      ok = apply_users_bulk_created(in);
      break;
    case record_type::session_opened:
      ok = apply_session_opened(in);
      break;
    case record_type::session_rotated:
      ok = apply_session_rotated(in);
      break;
    case record_type::session_closed:
      ok = apply_session_closed(in);
      break;
    case record_type::session_family_revoked:
      ok = apply_session_family_revoked(in);
      break;
    case record_type::balance_charged:
      ok = apply_balance_charged(in);
      break;
    default:
      return false;
  }
  return ok && !in.failed() && in.at_end();
}

void user_book::note_user_id(entity_id id) {
  user_sequence_ = std::max(user_sequence_, sequence_of(id, shard_count_));
}

void user_book::note_entry_id(entity_id id) {
  entry_sequence_ = std::max(entry_sequence_, sequence_of(id, shard_count_));
}

bool user_book::apply_user_created(payload_reader& in) {
  user_state user;
  user.profile.id = in.get<entity_id>();
  user.profile.created_at = user.profile.updated_at = in.get<time_ms>();
  user.profile.name = in.get_bytes();
  user.profile.email = in.get_bytes();
  user.password_hash = in.get_bytes();
  user.balance_updated_at = user.profile.created_at;
  if (in.failed() || users_.contains(user.profile.id)) return false;
  note_user_id(user.profile.id);
  email_index_.emplace(email_key(user.profile.email), user.profile.id);
  users_.emplace(user.profile.id, std::move(user));
  return true;
}

bool user_book::apply_users_bulk_created(payload_reader& in) {
  auto at = in.get<time_ms>();
  auto count = in.get<std::uint32_t>();
  if (in.failed() || count > bulk_users_per_record_max) return false;
  for (std::uint32_t i = 0; i < count; ++i) {
    user_state user;
    user.profile.id = in.get<entity_id>();
    user.profile.name = in.get_bytes();
    user.profile.email = in.get_bytes();
    user.profile.created_at = user.profile.updated_at = user.balance_updated_at = at;
    if (in.failed() || users_.contains(user.profile.id)) return false;
    note_user_id(user.profile.id);
    email_index_.emplace(email_key(user.profile.email), user.profile.id);
    users_.emplace(user.profile.id, std::move(user));
  }
  return true;
}

bool user_book::apply_session_opened(payload_reader& in) {
  auto user_id = in.get<entity_id>();
  session s{in.get_bytes(), in.get<time_ms>(), {}};
  if (!in.at_end()) s.family_sha256 = in.get_bytes();  // records from before families end here
  user_state* user = changing(user_id);
  if (in.failed() || user == nullptr) return false;
  // A bounded list: the oldest session is revoked when a user opens one too many.
  if (user->sessions.size() >= refresh_sessions_per_user_max)
    user->sessions.erase(user->sessions.begin());
  user->sessions.push_back(std::move(s));
  return true;
}

bool user_book::apply_session_rotated(payload_reader& in) {
  auto user_id = in.get<entity_id>();
  std::string old_hash = in.get_bytes();
  session fresh{in.get_bytes(), in.get<time_ms>(), {}};
  if (!in.at_end()) fresh.family_sha256 = in.get_bytes();  // records from before families end here
  user_state* user = changing(user_id);
  if (in.failed() || user == nullptr) return false;
  std::erase_if(user->sessions, [&](const session& s) { return s.token_sha256 == old_hash; });
  user->sessions.push_back(std::move(fresh));
  return true;
}

bool user_book::apply_session_closed(payload_reader& in) {
  auto user_id = in.get<entity_id>();
  std::string hash = in.get_bytes();
  user_state* user = changing(user_id);
  if (in.failed() || user == nullptr) return false;
  // The token's whole family goes (one session per family; older sessions have no family).
  std::string family;
  for (const auto& s : user->sessions) {
    if (s.token_sha256 == hash) family = s.family_sha256;
  }
  std::erase_if(user->sessions, [&](const session& s) {
    return s.token_sha256 == hash || (!family.empty() && s.family_sha256 == family);
  });
  return true;
}

bool user_book::apply_session_family_revoked(payload_reader& in) {
  auto user_id = in.get<entity_id>();
  std::string family = in.get_bytes();
  user_state* user = changing(user_id);
  if (in.failed() || user == nullptr || family.empty()) return false;
  std::erase_if(user->sessions, [&](const session& s) { return s.family_sha256 == family; });
  return true;
}

bool user_book::apply_balance_charged(payload_reader& in) {
  balance_entry entry;
  auto user_id = in.get<entity_id>();
  entry.id = in.get<entity_id>();
  entry.kind = balance_entry_kind::charge;
  entry.amount = in.get<std::int64_t>();
  entry.balance_before = in.get<std::int64_t>();
  entry.balance_after = in.get<std::int64_t>();
  entry.created_at = in.get<time_ms>();
  auto stored = idempotency_table::decode(in);
  user_state* user = changing(user_id);
  if (in.failed() || user == nullptr) return false;
  // The chain invariant, checked on every apply: a record that breaks it is a bug or corruption.
  if (entry.balance_before != user->balance ||
      entry.balance_after != entry.balance_before + entry.amount) {
    return false;
  }
  note_entry_id(entry.id);
  user->balance = entry.balance_after;
  user->balance_updated_at = entry.created_at;
  user->history.push_back(entry);
  ++entry_count_;
  if (stored) keys_.insert(std::move(*stored));
  return true;
}

std::optional<std::int64_t> user_book::balance(entity_id user_id) const {
  const user_state* user = find(user_id);
  if (user == nullptr) return std::nullopt;
  return user->balance;
}

entity_id user_book::next_entry_id() const {
  return make_id(entry_sequence_ + 1, index_, shard_count_);
}

bool user_book::apply_order_entry(entity_id user_id, const balance_entry& entry) {
  user_state* user = changing(user_id);
  if (user == nullptr || entry.kind == balance_entry_kind::charge) return false;
  if (entry.balance_before != user->balance ||
      entry.balance_after != entry.balance_before + entry.amount || entry.balance_after < 0) {
    return false;
  }
  note_entry_id(entry.id);
  user->balance = entry.balance_after;
  user->balance_updated_at = entry.created_at;
  user->history.push_back(entry);
  ++entry_count_;
  return true;
}

// ---- snapshot --------------------------------------------------------------------------------

void user_book::write_user(payload_writer& w, const user_state& user) {
  w.put(user.profile.id);
  w.put_bytes(user.profile.name);
  w.put_bytes(user.profile.email);
  w.put(user.profile.created_at);
  w.put(user.profile.updated_at);
  w.put_bytes(user.password_hash);
  w.put(static_cast<std::uint32_t>(user.sessions.size()));
  for (const auto& s : user.sessions) {
    w.put_bytes(s.token_sha256);
    w.put(s.expires_at);
  }
  w.put(user.balance);
  w.put(user.balance_updated_at);
  w.put(static_cast<std::uint32_t>(user.history.size()));
  for (const auto& entry : user.history) write_value(w, entry);
  // Appended after the history so that values written before families still read: each
  // session's family, in the sessions' order.
  for (const auto& s : user.sessions) w.put_bytes(s.family_sha256);
}

bool user_book::read_user(payload_reader& in, user_state& user) {
  user.profile.id = in.get<entity_id>();
  user.profile.name = in.get_bytes();
  user.profile.email = in.get_bytes();
  user.profile.created_at = in.get<time_ms>();
  user.profile.updated_at = in.get<time_ms>();
  user.password_hash = in.get_bytes();
  auto sessions = in.get<std::uint32_t>();
  if (in.failed() || sessions > refresh_sessions_per_user_max) return false;
  for (std::uint32_t i = 0; i < sessions; ++i) {
    session s;
    s.token_sha256 = in.get_bytes();
    s.expires_at = in.get<time_ms>();
    user.sessions.push_back(std::move(s));
  }
  user.balance = in.get<std::int64_t>();
  user.balance_updated_at = in.get<time_ms>();
  auto entries = in.get<std::uint32_t>();
  for (std::uint32_t i = 0; i < entries && !in.failed(); ++i) {
    balance_entry entry;
    read_value(in, entry);
    user.history.push_back(entry);
  }
  if (!in.at_end()) {
    for (auto& s : user.sessions) s.family_sha256 = in.get_bytes();
  }
  return !in.failed() && in.at_end();
}

void user_book::begin_capture(capture_buffer& out) {
  put_entity(out,
             snapshot_key(snapshot_table::books, static_cast<std::uint64_t>(snapshot_book::users)),
             [&](payload_writer& w) {
               w.put(user_sequence_);
               w.put(entry_sequence_);
               w.put(entry_count_);
             });
  capture_users_.begin(out, user_sequence_);
}

bool user_book::capture_step(capture_buffer& out, capture_budget& budget) {
  return capture_users_.step(out, users_, index_, shard_count_, budget, write_user);
}

void user_book::end_capture() {
  capture_users_.end();
}

bool user_book::load(const snapshot_key& key, std::string_view value) {
  payload_reader in(value);
  if (key.table() == snapshot_table::books) {
    user_sequence_ = in.get<std::uint64_t>();
    entry_sequence_ = in.get<std::uint64_t>();
    entry_count_ = in.get<std::uint64_t>();
    // At most this many users follow: the maps are sized for them once enough have come
    // (below), so that loading a million does not rehash, and a forged count costs nothing.
    load_expected_users_ =
        static_cast<std::size_t>(std::min<std::uint64_t>(user_sequence_, load_reserve_entries_max));
    return !in.failed() && in.at_end();
  }
  user_state user;
  if (key.table() != snapshot_table::users || !read_user(in, user)) return false;
  entity_id id = user.profile.id;
  if (id != make_id(key.a(), index_, shard_count_)) return false;
  // The email index is filled as users come (the user's bytes are in cache now).
  if (!email_index_.try_emplace(email_key(user.profile.email), id).second) return false;
  if (!users_.try_emplace(id, std::move(user)).second) return false;
  if (users_.size() == load_reserve_after_entries && load_expected_users_ > users_.size()) {
    users_.reserve(load_expected_users_);
    email_index_.reserve(load_expected_users_);
  }
  return true;
}

void user_book::end_load() {}

std::unordered_map<entity_id, int> user_book::entries_by_order(entity_id user_id,
                                                               balance_entry_kind kind) const {
  std::unordered_map<entity_id, int> out;
  if (const user_state* user = find(user_id)) {
    for (const auto& entry : user->history) {
      if (entry.kind == kind && entry.order_id != 0) ++out[entry.order_id];
    }
  }
  return out;
}

void user_book::check_invariants(std::vector<std::string>& broken) const {
  for (const auto& [id, user] : users_) {
    std::int64_t balance = 0;
    for (const auto& entry : user.history) {
      // Checked arithmetic: the check runs on any loaded state (verify reads damaged ones).
      std::int64_t after = 0;
      if (entry.balance_before != balance ||
          __builtin_add_overflow(entry.balance_before, entry.amount, &after) ||
          entry.balance_after != after) {
        broken.push_back("user " + std::to_string(id) + ": balance entry " +
                         std::to_string(entry.id) + " breaks the chain");
      }
      balance = entry.balance_after;
    }
    if (balance != user.balance || user.balance < 0) {
      broken.push_back("user " + std::to_string(id) + ": balance " + std::to_string(user.balance) +
                       " is not the sum of its history (" + std::to_string(balance) + ")");
    }
  }
}

}  // namespace ecom::engine
