// log: leveled lines to stderr, one write() per line so lines from threads do not interleave.
// The level is set once at start-up (before threads start) and only read afterwards.
#pragma once

#include <cstdarg>
#include <string_view>

namespace ecom::net {

enum class log_level : int { debug = 0, info = 1, warn = 2, error = 3 };

void set_log_level(log_level level);
bool log_enabled(log_level level);
[[gnu::format(printf, 2, 3)]] void log_line(log_level level, const char* format, ...);
bool parse_log_level(std::string_view text, log_level& out);

}  // namespace ecom::net
