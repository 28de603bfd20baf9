#include "engine/shard_set.h"

#include <cassert>

namespace ecom::engine {

shard_set::shard_set(std::uint32_t shard_count, std::size_t mailbox_depth_max, journal& wal,
                     clock_fn clock) {
  assert(shard_count > 0 && shard_count <= shard_count_max);
  shards_.reserve(shard_count);
  for (shard_index i = 0; i < shard_count; ++i) {
    shard_options options;
    options.index = i;
    options.shard_count = shard_count;
    options.mailbox_depth_max = mailbox_depth_max;
    shards_.push_back(std::make_unique<shard>(options, wal, clock));
  }
}

shard_set::~shard_set() {
  stop();
}

bool shard_set::replay(record_type type, shard_index index, std::string_view payload, lsn_t lsn) {
  if (index >= shards_.size()) return false;
  if (type == record_type::coupon_created) {
    // Templates are copied to every shard; the owner's record installs them everywhere.
    for (auto& s : shards_) {
      if (!s->replay(type, payload, s.get() == shards_[index].get() ? lsn : s->last_lsn()))
        return false;
    }
    return true;
  }
  return shards_[index]->replay(type, payload, lsn);
}

std::vector<deliver_coupon> shard_set::undelivered_coupons() const {
  std::vector<deliver_coupon> out;
  for (const auto& s : shards_) {
    for (auto& delivery : s->taken_coupons()) {
      const user_coupon_view& coupon = delivery.coupon;
      if (!at(owner_of(coupon.user_id, size())).holds_coupon(coupon.user_id, coupon.campaign_id)) {
        out.push_back(std::move(delivery));
      }
    }
  }
  return out;
}

void shard_set::start() {
  for (auto& s : shards_) s->start();
}

void shard_set::start_driven(const std::function<shard_driver(shard_index)>& driver_of) {
  for (shard_index i = 0; i < shards_.size(); ++i) shards_[i]->start_driven(driver_of(i));
}

void shard_set::stop() {
  for (auto& s : shards_) s->stop();
}

}  // namespace ecom::engine
