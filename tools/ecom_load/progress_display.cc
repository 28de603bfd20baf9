// Live progress of a load phase: rate over the last interval, the scenario's figures, time left.
#include "tools/ecom_load/progress_display.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "tools/ecom_load/summary_output.h"

namespace ecom::load {

namespace {

std::string rate_text(double per_s) {
  char text[32];
  if (per_s >= 1e6) {
    std::snprintf(text, sizeof text, "%.2fM", per_s / 1e6);
  } else if (per_s >= 1e3) {
    std::snprintf(text, sizeof text, "%.1fk", per_s / 1e3);
  } else {
    std::snprintf(text, sizeof text, "%.0f", per_s);
  }
  return text;
}

}  // namespace

progress_display::progress_display(const std::atomic<std::uint64_t>& request_count,
                                   std::function<std::string()> detail,
                                   std::chrono::duration<double> duration, bool enabled)
    : request_count_(request_count),
      detail_(std::move(detail)),
      enabled_(enabled),
      terminal_(::isatty(STDERR_FILENO) == 1),
      interval_(terminal_ ? std::chrono::seconds(1) : std::chrono::seconds(5)),
      started_(std::chrono::steady_clock::now()),
      deadline_(started_ +
                std::chrono::duration_cast<std::chrono::steady_clock::duration>(duration)),
      last_print_(started_) {}

void progress_display::tick() {
  if (!enabled_) return;
  if (std::chrono::steady_clock::now() - last_print_ < interval_) return;
  print_line();
}

void progress_display::print_line() {
  auto now = std::chrono::steady_clock::now();
  double elapsed_s = std::chrono::duration<double>(now - last_print_).count();
  std::uint64_t requests = request_count_.load(std::memory_order_relaxed);
  double rate = elapsed_s > 0 ? static_cast<double>(requests - last_request_count_) / elapsed_s : 0;
  double left_s = std::max(0.0, std::chrono::duration<double>(deadline_ - now).count());
  std::string line = rate_text(rate) + " req/s, " + (detail_ ? detail_() : std::string()) + ", " +
                     std::to_string(static_cast<long>(left_s + 0.5)) + " s left";
  if (terminal_) {
    std::fprintf(stderr, "\r\033[K%s", line.c_str());
  } else {
    std::fprintf(stderr, "progress: %s\n", line.c_str());
  }
  std::fflush(stderr);
  last_print_ = now;
  last_request_count_ = requests;
  printed_ = true;
}

void progress_display::finish() {
  if (enabled_ && terminal_ && printed_) {
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
  }
}

}  // namespace ecom::load
