// The mixed phase's admin: one random combination restocked every restock_interval, on its own
// connection (POST /admin/products/{id}/combinations/{id}/stock); what it changed, and what it
// may have changed after a lost answer, feed the audit's stock balance.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <random>

#include "tools/ecom_load/mixed_run_shared.h"
#include "tools/ecom_load/retrying_script.h"

namespace ecom::load::mixed_detail {

class restock_script final : public retrying_script {
 public:
  restock_script(run_shared& shared, std::uint64_t seed) : shared_(shared), rng_(seed) {}

  std::map<std::int64_t, std::int64_t> restocks;  // combination id -> sum of applied deltas
  std::map<std::int64_t, bool> uncertain;         // combinations with a lost answer

 protected:
  bool stopping() const override { return past_deadline(shared_); }
  bool produce(http_request& request) override;
  void observe(const http_request&, const http_reply& reply) override;
  std::chrono::milliseconds consume(const http_request&, http_reply& reply, bool earlier) override;

 private:
  static constexpr std::chrono::milliseconds restock_interval{100};

  run_shared& shared_;
  std::mt19937_64 rng_;
  std::int64_t combination_ = 0;
  std::int64_t delta_ = 0;
};

}  // namespace ecom::load::mixed_detail
