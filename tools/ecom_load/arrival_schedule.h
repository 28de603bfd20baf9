// The open-loop arrival schedule of ecom-load (--rate, --stages): when each request is due, as
// seconds from the schedule's start. Stages ramp the rate linearly from the previous stage's
// target (0 before the first), like k6's ramping-arrival-rate. Pure arithmetic, no clock.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace ecom::load {

struct arrival_stage {
  double duration_s = 0;
  double target_per_s = 0;  // the rate at the stage's end
};

inline constexpr std::size_t arrival_stages_max = 100;
inline constexpr double arrival_rate_per_s_max = 1'000'000;

// Thrown by parse_arrival_stages with a message naming what is wrong.
class stages_error : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// "30s:1000,60s:20000,30s:0": DURATION:RATE pairs; a duration is a number with ms, s, m or h.
// At most arrival_stages_max stages, rates in 0..arrival_rate_per_s_max, durations > 0 and in
// all at most duration_s_max.
std::vector<arrival_stage> parse_arrival_stages(const std::string& text, double duration_s_max);

class arrival_schedule {
 public:
  // A constant rate for duration_s.
  static arrival_schedule constant(double rate_per_s, double duration_s);
  // Ramping stages, starting from 0 requests/s.
  static arrival_schedule ramping(const std::vector<arrival_stage>& stages);

  double duration_s() const { return duration_s_; }
  // Requests due in [0, t_s): the integral of the rate from 0 to t_s, rounded up.
  std::uint64_t due_before(double t_s) const;
  // When request index (0-based) is due, in seconds from the start; a value >= duration_s()
  // when it is not due within the schedule.
  double due_s(std::uint64_t index) const;

 private:
  struct segment {
    double start_s = 0;
    double duration_s = 0;
    double rate_start_per_s = 0;
    double rate_end_per_s = 0;
    double due_before_start = 0;  // the integral up to start_s
  };
  std::vector<segment> segments_;
  double duration_s_ = 0;
};

}  // namespace ecom::load
