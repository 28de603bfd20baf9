// shard_set: all shards of the process, the routing from keys to shards, and the fan-out of
// replayed records. Passed explicitly to whoever needs it; there is no global instance.
#pragma once

#include <memory>
#include <vector>

#include "engine/shard.h"
#include "engine/sharding.h"

namespace ecom::engine {

class shard_set {
 public:
  shard_set(std::uint32_t shard_count, std::size_t mailbox_depth_max, journal& wal, clock_fn clock);
  ~shard_set();

  std::uint32_t size() const { return static_cast<std::uint32_t>(shards_.size()); }
  shard& at(shard_index index) { return *shards_[index]; }
  const shard& at(shard_index index) const { return *shards_[index]; }
  shard& owner_of_id(entity_id id) { return at(owner_of(id, size())); }
  shard& owner_of_email(std::string_view email) { return at(shard_of_email(email, size())); }

  // Recovery, before start(): hands a record to the shard that wrote it.
  bool replay(record_type type, shard_index index, std::string_view payload, lsn_t lsn);

  // Recovery, before start(): coupons a campaign took whose wallet entry never became durable
  // (the crash fell between the two steps). Deliver them before serving.
  // Each carries the key, if any (its render is left for the caller to set).
  std::vector<deliver_coupon> undelivered_coupons() const;

  void start();
  // Instead of start(): shard i runs on the thread driver_of(i) drives (see shard_driver).
  void start_driven(const std::function<shard_driver(shard_index)>& driver_of);
  void stop();  // drains every mailbox and joins; idempotent (driven: after the drivers stop)

 private:
  std::vector<std::unique_ptr<shard>> shards_;
};

}  // namespace ecom::engine
