// Live progress of the issue phase on stderr: one overwritten line a second on a terminal,
// otherwise a plain line every 5 s.
#pragma once

#include <chrono>
#include <cstdint>

#include "tools/ecom_load/fcfs_run.h"

namespace ecom::load {

class progress_display {
 public:
  progress_display(const live_counters& live, std::int64_t quantity, std::int64_t user_count,
                   std::chrono::duration<double> duration, bool enabled);
  // Called about every 100 ms; prints when the interval has passed.
  void tick();
  // Ends the overwritten line on a terminal.
  void finish();

 private:
  void print_line();

  const live_counters& live_;
  std::int64_t quantity_;
  std::int64_t user_count_;
  bool enabled_;
  bool terminal_;
  std::chrono::steady_clock::duration interval_;
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::time_point deadline_;
  std::chrono::steady_clock::time_point last_print_;
  std::uint64_t last_request_count_ = 0;
  bool printed_ = false;
};

}  // namespace ecom::load
