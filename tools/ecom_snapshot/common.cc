#include "tools/ecom_snapshot/common.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iterator>

#include "persistence/crc32c.h"
#include "persistence/data_dir.h"
#include "persistence/file_io.h"

namespace ecom::snapshot_tool {

// ---- json ---------------------------------------------------------------------------------------

void json::separate() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!first_) out_ += ',';
  first_ = false;
}

json& json::begin_object() {
  separate();
  out_ += '{';
  first_ = true;
  return *this;
}
json& json::end_object() {
  out_ += '}';
  first_ = false;
  return *this;
}
json& json::begin_array() {
  separate();
  out_ += '[';
  first_ = true;
  return *this;
}
json& json::end_array() {
  out_ += ']';
  first_ = false;
  return *this;
}
json& json::key(std::string_view name) {
  value(name);
  out_ += ':';
  after_key_ = true;
  return *this;
}
json& json::value(std::string_view text) {
  separate();
  out_ += '"';
  for (char c : text) {
    switch (c) {
      case '"':
        out_ += "\\\"";
        break;
      case '\\':
        out_ += "\\\\";
        break;
      case '\n':
        out_ += "\\n";
        break;
      case '\t':
        out_ += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned char>(c));
          out_ += escaped;
        } else {
          out_ += c;
        }
    }
  }
  out_ += '"';
  return *this;
}
json& json::value(std::uint64_t number) {
  separate();
  out_ += std::to_string(number);
  return *this;
}
json& json::value(std::int64_t number) {
  separate();
  out_ += std::to_string(number);
  return *this;
}
json& json::value(bool flag) {
  separate();
  out_ += flag ? "true" : "false";
  return *this;
}
json& json::null() {
  separate();
  out_ += "null";
  return *this;
}

// ---- progress -----------------------------------------------------------------------------------

bool stderr_is_terminal() {
  return ::isatty(STDERR_FILENO) == 1;
}

progress::progress(std::string what, std::uint64_t total, std::string unit, bool enabled)
    : what_(std::move(what)),
      total_(total),
      unit_(std::move(unit)),
      enabled_(enabled && stderr_is_terminal()),
      started_(std::chrono::steady_clock::now()),
      shown_(started_) {}

progress::~progress() {
  finish();
}

void progress::update(std::uint64_t done) {
  done_ = done;
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (now - shown_ < std::chrono::milliseconds(200)) return;
  shown_ = now;
  print(false);
}

void progress::finish() {
  if (!enabled_ || !printed_) return;
  print(true);
  std::fputc('\n', stderr);
  printed_ = false;
  enabled_ = false;
}

namespace {
std::string amount(double value, const std::string& unit) {
  char text[64];
  if (unit == "B") {
    const char* units[] = {"B", "KB", "MB", "GB", "TB"};
    int i = 0;
    while (value >= 1000 && i < 4) {
      value /= 1000;
      ++i;
    }
    std::snprintf(text, sizeof text, "%.1f %s", value, units[i]);
  } else {
    std::snprintf(text, sizeof text, "%.0f %s", value, unit.c_str());
  }
  return text;
}
}  // namespace

void progress::print(bool last) {
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  const double rate = seconds > 0 ? static_cast<double>(done_) / seconds : 0;
  std::string line = "\r" + what_ + ": " + amount(static_cast<double>(done_), unit_);
  if (total_ > 0) {
    line += " of " + amount(static_cast<double>(total_), unit_) + " (" +
            std::to_string(std::min<std::uint64_t>(100, done_ * 100 / total_)) + "%)";
  }
  line += ", " + amount(rate, unit_) + "/s";
  if (!last && total_ > done_ && rate > 0) {
    char left[32];
    std::snprintf(left, sizeof left, ", %.1f s left", static_cast<double>(total_ - done_) / rate);
    line += left;
  }
  line += "   ";
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
  printed_ = true;
}

// ---- time ---------------------------------------------------------------------------------------

std::string rfc3339(engine::time_ms unix_ms) {
  const std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  ::gmtime_r(&seconds, &tm);
  char text[40];
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(unix_ms % 1000));
  return text;
}

// YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)
std::optional<engine::time_ms> parse_rfc3339(std::string_view text) {
  auto digits = [&](std::size_t at, std::size_t count) -> std::optional<int> {
    if (at + count > text.size()) return std::nullopt;
    int value = 0;
    for (std::size_t i = at; i < at + count; ++i) {
      if (text[i] < '0' || text[i] > '9') return std::nullopt;
      value = value * 10 + (text[i] - '0');
    }
    return value;
  };
  auto year = digits(0, 4), month = digits(5, 2), day = digits(8, 2), hour = digits(11, 2),
       minute = digits(14, 2), second = digits(17, 2);
  if (!year || !month || !day || !hour || !minute || !second || text.size() < 20 ||
      text[4] != '-' || text[7] != '-' || (text[10] != 'T' && text[10] != 't') || text[13] != ':' ||
      text[16] != ':' || *month < 1 || *month > 12 || *day < 1 || *day > 31 || *hour > 23 ||
      *minute > 59 || *second > 60)
    return std::nullopt;
  std::size_t at = 19;
  engine::time_ms millis = 0;
  if (text[at] == '.') {
    std::size_t start = ++at;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9') ++at;
    if (at == start) return std::nullopt;
    std::string fraction(text.substr(start, std::min<std::size_t>(3, at - start)));
    while (fraction.size() < 3) fraction += '0';
    millis = std::stoi(fraction);
  }
  if (at >= text.size()) return std::nullopt;
  std::int64_t offset_s = 0;
  if (text[at] == 'Z' || text[at] == 'z') {
    ++at;
  } else if (text[at] == '+' || text[at] == '-') {
    auto oh = digits(at + 1, 2), om = digits(at + 4, 2);
    if (!oh || !om || text.size() < at + 6 || text[at + 3] != ':') return std::nullopt;
    offset_s = (*oh * 3600 + *om * 60) * (text[at] == '+' ? 1 : -1);
    at += 6;
  } else {
    return std::nullopt;
  }
  if (at != text.size()) return std::nullopt;
  std::tm tm{};
  tm.tm_year = *year - 1900;
  tm.tm_mon = *month - 1;
  tm.tm_mday = *day;
  tm.tm_hour = *hour;
  tm.tm_min = *minute;
  tm.tm_sec = *second;
  const std::time_t seconds = ::timegm(&tm);
  return (static_cast<engine::time_ms>(seconds) - offset_s) * 1000 + millis;
}

engine::time_ms wall_clock_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// ---- data dirs ----------------------------------------------------------------------------------

void require_data_dir(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw refusal(dir.string() + " is not a folder");
  if (!fs::exists(dir / "meta")) throw refusal(dir.string() + " is not a data dir (no meta file)");
}

void refuse_if_in_use(const fs::path& dir, std::string_view what) {
  if (auto holder = persistence::lock_holder(dir)) {
    throw refusal(std::string(what) + " refused: " + dir.string() + " is in use by ecomd" +
                  (*holder > 0 ? " (pid " + std::to_string(*holder) + ")" : "") +
                  "; stop it first, or take a hot copy with `ecom-snapshot backup " + dir.string() +
                  " --out DIR`");
  }
}

void require_empty(const fs::path& dest, std::string_view what) {
  std::error_code ec;
  if (!fs::exists(dest, ec)) return;
  if (!fs::is_directory(dest, ec))
    throw refusal(std::string(what) + " " + dest.string() + " is not a folder");
  if (!fs::is_empty(dest, ec))
    throw refusal(std::string(what) + " " + dest.string() + " is not empty");
}

output_dir::output_dir(fs::path dir) : dir_(std::move(dir)), existed_(fs::exists(dir_)) {}

output_dir::~output_dir() {
  if (kept_) return;
  std::error_code ec;
  if (!existed_) {
    fs::remove_all(dir_, ec);
    return;
  }
  for (const auto& entry : fs::directory_iterator(dir_, ec)) fs::remove_all(entry.path(), ec);
}

void write_file_synced(const fs::path& path, std::string_view bytes) {
  const int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) throw persistence::io_error(errno, "cannot create", path);
  const bool ok = persistence::write_all(fd, bytes) && ::fsync(fd) == 0;
  const int error = errno;
  ::close(fd);
  if (!ok) throw persistence::io_error(error, "cannot write", path);
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::uint32_t file_crc32c(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::uint32_t crc = 0;
  char buffer[1 << 16];
  while (in) {
    in.read(buffer, sizeof buffer);
    crc = persistence::crc32c::extend(crc, buffer, static_cast<std::size_t>(in.gcount()));
  }
  return crc;
}

}  // namespace ecom::snapshot_tool
