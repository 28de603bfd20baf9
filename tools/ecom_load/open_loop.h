// The open-loop pacer shared by a pool's connections (--rate, --stages): hands out the
// schedule's send times in order, and records per I/O thread when requests were sent and
// answered, how late, and the uncorrected latency. No I/O; the transport calls it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "tools/ecom_load/arrival_schedule.h"
#include "tools/ecom_load/sale_types.h"

namespace ecom::load {

class arrival_pacer {
 public:
  using clock = std::chrono::steady_clock;

  arrival_pacer(arrival_schedule schedule, std::string target_text, double late_threshold_ms,
                int worker_count, double slot_s);

  // The schedule's start; set before any take().
  void start(clock::time_point t0) { t0_ = t0; }
  clock::time_point t0() const { return t0_; }
  // The next request's send time, in schedule order; nullopt once the schedule has ended.
  std::optional<clock::time_point> take();
  // A taken send time its connection did not use because its script had nothing more to send
  // (at most once per connection); one due after the run's end is not subtracted from what was
  // due. A request that could not be sent (e.g. no connection) is not abandoned: it is unsent.
  void abandon(clock::time_point due);
  // One paced request: written at write_start, answered (or failed) at answered.
  void record(int worker, clock::time_point intended, clock::time_point write_start,
              clock::time_point answered, std::chrono::nanoseconds service_latency);
  // The figures, for a run whose sending ended at end.
  open_loop_report report(clock::time_point end) const;

 private:
  struct worker_figures {
    std::uint64_t sent = 0;
    std::uint64_t sent_late = 0;
    latency_histogram service_latency;
    latency_histogram send_delay;
    std::vector<std::uint64_t> sent_per_slot;
    std::vector<std::uint64_t> answered_per_slot;
  };

  arrival_schedule schedule_;
  std::string target_text_;
  double late_threshold_ms_;
  double slot_s_;
  clock::time_point t0_{};
  std::atomic<std::uint64_t> next_{0};
  mutable std::mutex abandoned_mutex_;
  std::vector<clock::time_point> abandoned_;  // under abandoned_mutex_
  std::vector<worker_figures> workers_;
};

}  // namespace ecom::load
