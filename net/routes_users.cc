// Users and sessions: sign-up, login, refresh, logout, profile, bulk load-test accounts.
#include <memory>

#include "engine/sharding.h"

#include "net/api.h"
#include "net/json_reader.h"
#include "net/json_writer.h"
#include "net/limits.h"
#include "net/password_hash_queue.h"
#include "net/problem.h"
#include "net/time_format.h"

namespace ecom::net {

namespace {

void write_user(json_writer& w, const engine::user_view& user) {
  w.begin_object();
  w.key("id").value(user.id);
  w.key("name").value(user.name);
  w.key("email").value(user.email);
  w.key("created_at").time(user.created_at);
  w.key("updated_at").time(user.updated_at);
  w.end_object();
}

http_reply user_reply(std::uint16_t status, const engine::user_view& user) {
  std::string body;
  json_writer w(body);
  write_user(w, user);
  return json_reply(status, std::move(body));
}

// One '@', non-empty local part and domain, no spaces or control characters.
bool email_is_valid(std::string_view email) {
  if (email.size() > engine::email_length_max) return false;
  auto at = email.find('@');
  if (at == std::string_view::npos || at == 0 || at + 1 >= email.size()) return false;
  if (email.find('@', at + 1) != std::string_view::npos) return false;
  for (char c : email) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return false;
  }
  return true;
}

bool has_control_characters(std::string_view text) {
  for (char c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return true;
  }
  return false;
}

}  // namespace

http_reply api::tokens_reply(std::int64_t user_id, const std::string& refresh_token) {
  // Whole seconds, rounded up: the token lives at least expires_in seconds (rounded down, one
  // made at x.99 s with a TTL of 1 s would die 10 ms later).
  std::string access = services_.signer.sign(
      {user_id, (services_.clock_ms() + 999) / 1000 + options_.access_token_ttl_s});
  std::string body;
  json_writer w(body);
  w.begin_object();
  w.key("user_id").value(user_id);
  w.key("access_token").value(access);
  w.key("refresh_token").value(refresh_token);
  w.key("token_type").value("Bearer");
  w.key("expires_in").value(options_.access_token_ttl_s);
  w.end_object();
  return json_reply(200, std::move(body));
}

bool api::hash_off_thread(const request_ptr& request, const std::string& email,
                          std::function<void()> job) {
  if (services_.hashing == nullptr) {
    services_.offload(std::move(job));
    return true;
  }
  if (services_.hashing->try_submit(engine::email_key(email), std::move(job))) return true;
  reply(request, overloaded());
  return false;
}

void api::post_users(const request_ptr& request, const params&) {
  if (!check_content_type(request)) return;
  std::string name, email, password;
  field_spec fields[] = {
      text_field("name", name, 1, engine::user_name_length_max),
      text_field("email", email, 3, engine::email_length_max),
      text_field("password", password, password_length_min, password_length_max)};
  if (auto problem = read_json_object(request->body, fields))
    return reply(request, std::move(*problem));
  if (has_control_characters(name))
    return reply(request, validation_failed("name", "must not contain control characters"));
  if (!email_is_valid(email))
    return reply(request, validation_failed("email", "must be an address with one @"));
  // PBKDF2 is slow on purpose: run it off the network thread, then hand the hash to the shard.
  std::string key = email;
  hash_off_thread(request, key,
                  [this, request, name = std::move(name), email = std::move(email),
                   password = std::move(password)]() mutable {
                    std::string hash = hash_password(password, options_.kdf_iterations);
                    auto render = [this, request](engine::reply&& answer) {
                      if (auto problem = problem_reply_of(answer))
                        return reply(request, std::move(*problem));
                      const auto& user = std::get<engine::user_view>(answer.body);
                      http_reply created = user_reply(201, user);
                      created.header("Location", "/users/" + std::to_string(user.id));
                      reply(request, std::move(created));
                    };
                    started(request, services_.engine.submit(
                                         engine::create_user{std::move(name), std::move(email),
                                                             std::move(hash)},
                                         on_io(request, std::move(render))));
                  });
}

void api::open_session_and_reply(const request_ptr& request, std::int64_t user_id) {
  std::string family = make_refresh_family();
  std::string refresh = make_refresh_token(user_id, family);
  engine::open_session command{user_id, sha256_string(refresh),
                               services_.clock_ms() + options_.refresh_token_ttl_s * 1000,
                               sha256_string(family)};
  auto render = [this, request, user_id, refresh](engine::reply&& answer) {
    if (answer.code != engine::errc::ok) {
      return reply(request, make_problem_reply(
                                {401, "INVALID_CREDENTIALS", "email or password is wrong", {}}));
    }
    reply(request, tokens_reply(user_id, refresh));
  };
  started(request, services_.engine.submit(std::move(command), on_io(request, std::move(render))));
}

void api::fail_login(const request_ptr& request, const std::string& email) {
  auto render = [this, request](engine::reply&&) {
    reply(request, make_problem_reply(problem_of(engine::errc::invalid_credentials)));
  };
  // A failure that cannot be counted is not answered 401 (that would let a flood that fills
  // the mailbox guess without limit): 503, retry later.
  started(request, services_.engine.submit(engine::note_login_failure{email},
                                           on_io(request, std::move(render))));
}

void api::post_login(const request_ptr& request, const params&) {
  if (!check_content_type(request)) return;
  std::string email, password;
  field_spec fields[] = {text_field("email", email, 1, engine::email_length_max),
                         text_field("password", password, 1, password_length_max)};
  if (auto problem = read_json_object(request->body, fields))
    return reply(request, std::move(*problem));
  auto verify = [this, request, email,
                 password = std::move(password)](engine::reply&& answer) mutable {
    if (answer.code == engine::errc::too_many_attempts) {
      // Locked: no password is checked. Retry-After: the lock's seconds left, rounded up.
      const auto& locked = std::get<engine::login_locked>(answer.body);
      http_reply refused = make_problem_reply(problem_of(answer.code));
      refused.header("Retry-After", std::to_string((locked.retry_after_ms + 999) / 1000));
      logins_throttled_.fetch_add(1, std::memory_order_relaxed);
      return reply(request, std::move(refused));
    }
    if (answer.code != engine::errc::ok && answer.code != engine::errc::invalid_credentials) {
      return reply(request, std::move(*problem_reply_of(answer)));  // e.g. NOT_PRIMARY
    }
    bool queued = hash_off_thread(
        request, email,
        [this, request, email, password = std::move(password), answer = std::move(answer)] {
          // Unknown emails still pay for one hash, so timing does not tell which emails exist.
          static const std::string decoy = hash_password("decoy-password", options_.kdf_iterations);
          bool known = answer.code == engine::errc::ok;
          const auto* credentials = std::get_if<engine::credentials_view>(&answer.body);
          // Bulk accounts have no password: they are checked against the decoy too, so they cost
          // the same and never match.
          bool usable = known && credentials != nullptr && !credentials->password_hash.empty();
          bool matches = verify_password(password, usable ? credentials->password_hash : decoy);
          if (!usable || !matches) return fail_login(request, email);
          open_session_and_reply(request, credentials->user_id);
        });
    if (!queued) {
      // Refused before any hash: the check no longer counts in flight (best effort: a full
      // mailbox leaves it to the throttle's timeout).
      services_.engine.submit(engine::note_login_failure{email, false}, [](engine::reply&&) {});
    }
  };
  started(request, services_.engine.submit(engine::find_credentials{email},
                                           on_io(request, std::move(verify))));
}

http_reply api::refresh_refused(engine::errc code) {
  if (code == engine::errc::refresh_token_reused) {
    refresh_reuse_detected_.fetch_add(1, std::memory_order_relaxed);
    return unauthenticated(problem_of(code).detail);
  }
  return unauthenticated("the refresh token is unknown, expired, revoked or already used");
}

void api::post_refresh(const request_ptr& request, const params&) {
  if (!check_content_type(request)) return;
  std::string token;
  field_spec fields[] = {text_field("refresh_token", token, 1, refresh_token_length_max)};
  if (auto problem = read_json_object(request->body, fields))
    return reply(request, std::move(*problem));
  auto parts = parse_refresh_token(token);
  if (!parts) return reply(request, unauthenticated("the refresh token is unknown"));
  // A token from before families (r1) continues in the family derived from it.
  std::string family = refresh_family_of(*parts, token);
  std::string fresh = make_refresh_token(parts->user_id, family);
  engine::rotate_session command{parts->user_id, sha256_string(token), sha256_string(fresh),
                                 services_.clock_ms() + options_.refresh_token_ttl_s * 1000,
                                 sha256_string(family)};
  auto render = [this, request, user_id = parts->user_id, fresh](engine::reply&& answer) {
    if (answer.code != engine::errc::ok) return reply(request, refresh_refused(answer.code));
    reply(request, tokens_reply(user_id, fresh));
  };
  started(request, services_.engine.submit(std::move(command), on_io(request, std::move(render))));
}

void api::post_logout(const request_ptr& request, const params&) {
  auto who = authenticate(request);
  if (!who) return;
  if (!check_content_type(request)) return;
  std::string token;
  field_spec fields[] = {text_field("refresh_token", token, 1, refresh_token_length_max)};
  if (auto problem = read_json_object(request->body, fields))
    return reply(request, std::move(*problem));
  auto parts = parse_refresh_token(token);
  if (!parts || (!who->admin && parts->user_id != who->user_id)) {
    return reply(request, unauthenticated("the refresh token is unknown"));
  }
  std::string family_sha256 = sha256_string(refresh_family_of(*parts, token));
  auto render = [this, request](engine::reply&& answer) {
    if (answer.code != engine::errc::ok) return reply(request, refresh_refused(answer.code));
    http_reply done;
    done.status = 204;
    done.content_type = {};
    reply(request, std::move(done));
  };
  started(request,
          services_.engine.submit(
              engine::close_session{parts->user_id, sha256_string(token), std::move(family_sha256)},
              on_io(request, std::move(render))));
}

void api::get_user(const request_ptr& request, const params& path) {
  auto id = authorize_user_path(request, path[0]);
  if (!id) return;
  auto render = [this, request](engine::reply&& answer) {
    if (auto problem = problem_reply_of(answer)) return reply(request, std::move(*problem));
    reply(request, user_reply(200, std::get<engine::user_view>(answer.body)));
  };
  started(request, services_.engine.submit(engine::get_user{*id}, on_io(request, render)));
}

// Load-test accounts: split over the shards, one command each, gathered into one answer past
// the mailbox bound, so the request is never half done.
void api::post_admin_users_bulk(const request_ptr& request, const params&) {
  if (!authorize_admin(request)) return;
  if (!check_content_type(request)) return;
  std::int64_t count = 0;
  std::string prefix;
  field_spec fields[] = {integer_field("count", count, 1, engine::bulk_users_per_request_max),
                         text_field("name_prefix", prefix, 1, bulk_name_prefix_length_max)};
  if (auto problem = read_json_object(request->body, fields))
    return reply(request, std::move(*problem));
  if (has_control_characters(prefix))
    return reply(request, validation_failed("name_prefix", "must not contain control characters"));
  // One part per shard (an engine fan-out). The reply (up to 100,000 signed tokens) is built
  // on the slow-work pool, not on the thread that runs the last part's callback.
  services_.engine.bulk_create_users(
      static_cast<std::uint32_t>(count), prefix, [this, request](engine::reply&& answer) {
        services_.offload([this, request, answer = std::move(answer)] {
          if (auto problem = problem_reply_of(answer)) return reply(request, std::move(*problem));
          std::int64_t expires = now_s() + options_.bulk_token_ttl_s;
          std::string body;
          json_writer w(body);
          w.begin_object().key("items").begin_array();
          for (const auto& user : std::get<engine::bulk_page>(answer.body).items) {
            w.begin_object();
            w.key("id").value(user.id);
            w.key("email").value(user.email);
            w.key("access_token").value(services_.signer.sign({user.id, expires}));
            w.end_object();
          }
          w.end_array().end_object();
          reply(request, json_reply(201, std::move(body)));
        });
      });
}

}  // namespace ecom::net
