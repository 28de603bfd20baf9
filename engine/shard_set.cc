#include "engine/shard_set.h"

#include <cassert>

namespace ecom::engine {

shard_set::shard_set(std::uint32_t shard_count, std::size_t mailbox_depth_max, clock_fn clock,
                     std::size_t login_throttle_emails_max)
    : clock_(std::move(clock)) {
  assert(shard_count > 0 && shard_count <= shard_count_max);
  shards_.reserve(shard_count);
  for (shard_index i = 0; i < shard_count; ++i) {
    shard_options options;
    options.index = i;
    options.shard_count = shard_count;
    options.mailbox_depth_max = mailbox_depth_max;
    options.login_throttle_emails_max =
        (login_throttle_emails_max + shard_count - 1) / shard_count;  // at least 1 each
    shards_.push_back(std::make_unique<shard>(options, clock_));
  }
}

shard_set::~shard_set() {
  stop();
}

bool shard_set::replay(record_type type, shard_index index, std::string_view payload, lsn_t lsn) {
  if (index >= shards_.size()) return false;
  if (type == record_type::coupon_created) {
    for (shard_index target = 0; target < shards_.size(); ++target) {
      if (!replay_on(target, type, index, payload, lsn)) return false;
    }
    return true;
  }
  return replay_on(index, type, index, payload, lsn);
}

bool shard_set::replay_on(shard_index target, record_type type, shard_index owner,
                          std::string_view payload, lsn_t lsn) {
  shard& s = *shards_[target];
  if (type == record_type::coupon_created) {
    // Re-applied on every shard whatever its cut; only the writer's LSN moves.
    return s.replay(type, payload, target == owner ? lsn : s.last_lsn());
  }
  if (target != owner) return true;
  if (lsn <= s.snapshot_cut()) return true;
  return s.replay(type, payload, lsn);
}

void shard_set::discard_loaded_state() {
  for (auto& s : shards_) s->discard_loaded_state();
}

void shard_set::share_loaded_templates() {
  std::vector<coupon_template> all;
  for (auto& s : shards_) {
    auto made = s->state().campaigns.templates_made();
    all.insert(all.end(), made.begin(), made.end());
  }
  for (auto& s : shards_) {
    for (const auto& t : all) s->state_for_load().campaigns.install(t);
  }
}

void shard_set::start(journal& wal) {
  wal_ = &wal;
  for (auto& s : shards_) s->start(wal);
}

void shard_set::start_driven(journal& wal,
                             const std::function<shard_driver(shard_index)>& driver_of) {
  wal_ = &wal;
  for (shard_index i = 0; i < shards_.size(); ++i) shards_[i]->start_driven(wal, driver_of(i));
}

void shard_set::stop() {
  for (auto& s : shards_) s->stop();
}

}  // namespace ecom::engine
