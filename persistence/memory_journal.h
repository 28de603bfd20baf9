// memory_journal: a journal that writes nothing and is durable at once: for offline tools that
// run recovery's flow steps on a state loaded from a data dir they must not change
// (`ecom-snapshot verify`). LSNs continue from where the loaded log ended.
#pragma once

#include <mutex>

#include "engine/journal.h"

namespace ecom::persistence {

class memory_journal final : public engine::journal {
 public:
  explicit memory_journal(engine::lsn_t last_lsn) : last_(last_lsn) {}

  engine::lsn_t append(std::span<const engine::record> records,
                       durable_callback on_durable) override {
    engine::lsn_t lsn;
    {
      std::lock_guard lock(mutex_);
      lsn = last_ += records.size();
      records_ += records.size();
    }
    if (on_durable) on_durable();
    return lsn;
  }
  engine::lsn_t durable_lsn() const override { return appended_lsn(); }
  engine::lsn_t appended_lsn() const override {
    std::lock_guard lock(mutex_);
    return last_;
  }
  std::uint64_t records() const {
    std::lock_guard lock(mutex_);
    return records_;
  }

 private:
  mutable std::mutex mutex_;
  engine::lsn_t last_;
  std::uint64_t records_ = 0;
};

}  // namespace ecom::persistence
