// shard_set: all shards of the process, the routing from keys to shards, and the fan-out of
// replayed records. Passed explicitly to whoever needs it (flows, recovery); there is no
// global instance. net/ never sees it: it goes through engine::gateway.
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "engine/shard.h"
#include "engine/sharding.h"

namespace ecom::engine {

class shard_set {
 public:
  // login_throttle_emails_max: the login throttle's bound for the whole set, shared out.
  shard_set(std::uint32_t shard_count, std::size_t mailbox_depth_max, clock_fn clock,
            std::size_t login_throttle_emails_max = login_throttle_emails_max_default);
  ~shard_set();

  std::uint32_t size() const { return static_cast<std::uint32_t>(shards_.size()); }
  shard& at(shard_index index) { return *shards_[index]; }
  const shard& at(shard_index index) const { return *shards_[index]; }
  shard_index owner_of_id(entity_id id) const { return owner_of(id, size()); }
  shard_index owner_of_email(std::string_view email) const { return shard_of_email(email, size()); }

  // Recovery, before start: hands a record to the shard that wrote it. A template
  // (coupon_created) is applied on every shard, whichever wrote it (templates are copied
  // everywhere; see campaign_book).
  // After a snapshot load, a shard's records at or below its cut are skipped (it holds them);
  // templates are applied everywhere regardless (installing one again changes nothing).
  bool replay(record_type type, shard_index index, std::string_view payload, lsn_t lsn);
  // The part of replay() that touches shard `target` only (replay_pipeline runs shards on
  // threads of their own): a record of `owner` applied to `target` if it belongs there.
  bool replay_on(shard_index target, record_type type, shard_index owner, std::string_view payload,
                 lsn_t lsn);
  // After every shard loaded its snapshot entities: copies each template to every shard
  // (a snapshot holds a template once, in the shard that made it).
  void share_loaded_templates();
  // Forgets a partly loaded snapshot on every shard (see shard::discard_loaded_state).
  void discard_loaded_state();

  // Every shard writes to `wal` from now on; on threads of their own, or, with start_driven,
  // shard i on the thread driver_of(i) drives (see shard_driver).
  void start(journal& wal);
  void start_driven(journal& wal, const std::function<shard_driver(shard_index)>& driver_of);
  // A standby's shards follow another server's log (see shard::set_following). Any thread.
  void set_following(bool following) {
    for (auto& s : shards_) s->set_following(following);
  }
  void stop();  // drains every mailbox and joins; idempotent (driven: after the drivers stop)

  // After start: the journal the shards write to, and the clock they read.
  journal& wal() const { return *wal_; }
  time_ms now() const { return clock_(); }

 private:
  clock_fn clock_;
  journal* wal_ = nullptr;
  std::vector<std::unique_ptr<shard>> shards_;
};

}  // namespace ecom::engine
