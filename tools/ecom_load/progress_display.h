// Live progress of a load phase on stderr: one overwritten line a second on a terminal,
// otherwise a plain line every 5 s: "<rate> req/s, <scenario's detail>, <n> s left".
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace ecom::load {

class progress_display {
 public:
  // request_count is read at every print; detail() gives the scenario's own figures.
  progress_display(const std::atomic<std::uint64_t>& request_count,
                   std::function<std::string()> detail, std::chrono::duration<double> duration,
                   bool enabled);
  // Called about every 100 ms; prints when the interval has passed.
  void tick();
  // Ends the overwritten line on a terminal.
  void finish();

 private:
  void print_line();

  const std::atomic<std::uint64_t>& request_count_;
  std::function<std::string()> detail_;
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
