#include "net/log.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>

#include "net/time_format.h"

namespace ecom::net {

namespace {
std::atomic<int> current_level{static_cast<int>(log_level::info)};
const char* name_of(log_level level) {
  switch (level) {
    case log_level::debug:
      return "debug";
    case log_level::info:
      return "info";
    case log_level::warn:
      return "warn";
    case log_level::error:
      return "error";
  }
  return "?";
}
}  // namespace

void set_log_level(log_level level) {
  current_level.store(static_cast<int>(level));
}

bool log_enabled(log_level level) {
  return static_cast<int>(level) >= current_level.load(std::memory_order_relaxed);
}

void log_line(log_level level, const char* format, ...) {
  if (!log_enabled(level)) return;
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  std::string line = format_rfc3339(now);
  line += ' ';
  line += name_of(level);
  line += ' ';
  char buffer[2048];
  va_list args;
  va_start(args, format);
  int n = std::vsnprintf(buffer, sizeof buffer, format, args);
  va_end(args);
  if (n > 0) line.append(buffer, static_cast<std::size_t>(std::min<int>(n, sizeof buffer - 1)));
  line += '\n';
  [[maybe_unused]] auto written = ::write(STDERR_FILENO, line.data(), line.size());
}

bool parse_log_level(std::string_view text, log_level& out) {
  for (auto level : {log_level::debug, log_level::info, log_level::warn, log_level::error}) {
    if (text == name_of(level)) {
      out = level;
      return true;
    }
  }
  return false;
}

}  // namespace ecom::net
