// Scrapes the server's /metrics on its own thread around the opening bell (every 50 ms from
// 100 ms before it to 1 s after) for the opening report's server figures.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tools/ecom_load/load_options.h"
#include "tools/ecom_load/sale_types.h"

namespace ecom::load {

class metrics_probe {
 public:
  metrics_probe(server_url url, std::string admin_token,
                std::chrono::steady_clock::time_point bell);
  ~metrics_probe();
  metrics_probe(const metrics_probe&) = delete;
  metrics_probe& operator=(const metrics_probe&) = delete;

  // Waits for the probe's end (bell + 1 s, or now when stop_now is true) and moves its samples
  // and error into report.
  void finish(opening_report& report, bool stop_now);

 private:
  void run();
  void stop();  // wakes the probe's thread, which then returns

  server_url url_;
  std::string admin_token_;
  std::chrono::steady_clock::time_point bell_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;  // under mutex_
  std::vector<metrics_sample> samples_;
  std::string error_;
  std::thread thread_;
};

}  // namespace ecom::load
