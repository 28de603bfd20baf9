// state_runner: drives one engine::shard_state the way a shard does (shard_state::run, the
// records get LSNs, shard_state::settle_key), through the same kernel dispatch, without threads
// or a journal: every record is durable at once. It keeps the log so a test can replay it into
// a fresh state and compare.
#pragma once

#include <initializer_list>
#include <string>
#include <vector>

#include "engine/shard_state.h"

namespace ecom::test {

inline constexpr engine::time_ms t0 = 1'800'000'000'000;  // some instant in 2027

class state_runner {
 public:
  explicit state_runner(engine::shard_index index = 0, std::uint32_t shard_count = 1)
      : state(index, shard_count) {}

  engine::reply run(const engine::command_body& body, engine::time_ms now = t0) {
    return run(body, now, engine::key_step::none, nullptr);
  }
  // With an Idempotency-Key, as the step of a flow that uses it that way.
  engine::reply run(const engine::command_body& body, engine::time_ms now, engine::key_step use,
                    const engine::idempotency_key* key) {
    std::vector<engine::record> out;
    state.keys.set_durable_lsn(lsn_);  // everything before is durable by now
    engine::reply answer = state.run(body, use, key, now, out);
    lsn_ += out.size();
    state.settle_key(use, key, answer.code, answer.replayed, out.empty() ? 0 : lsn_);
    log.insert(log.end(), out.begin(), out.end());
    return answer;
  }
  // The periodic sweep, as the shard runs it.
  engine::expiry_counts tick(engine::time_ms now) {
    std::vector<engine::record> out;
    engine::expiry_counts counts = state.tick(now, out);
    lsn_ += out.size();
    log.insert(log.end(), out.begin(), out.end());
    return counts;
  }

  engine::shard_state state;
  std::vector<engine::record> log;

 private:
  engine::lsn_t lsn_ = 0;
};

// Replays `log` into `target` through shard_state::apply; false at the first record that does
// not apply.
inline bool replay(const std::vector<engine::record>& log, engine::shard_state& target) {
  for (const auto& r : log) {
    if (!target.apply(r.type, r.payload)) return false;
  }
  return true;
}

// A key for `user_id` whose kept refusals are `kept` (net keeps every 409).
inline engine::idempotency_key make_key(engine::entity_id user_id, std::string key,
                                        std::string scope,
                                        std::initializer_list<engine::errc> kept = {}) {
  engine::idempotency_key out;
  out.user_id = user_id;
  out.key = std::move(key);
  out.scope = std::move(scope);
  for (engine::errc code : kept) out.kept_refusals.add(code);
  return out;
}

}  // namespace ecom::test
