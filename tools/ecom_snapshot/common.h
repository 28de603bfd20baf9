// ecom-snapshot's shared pieces: exit statuses and refusals, a small JSON writer for --json,
// progress on a terminal, RFC 3339 times, and the data-dir checks every subcommand makes.
// Links engine/ and persistence/ only (no net/).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "engine/types.h"

namespace ecom::snapshot_tool {

namespace fs = std::filesystem;

// OPERATIONS.md §2: 0 all good; 1 ran and found a problem; 2 could not or would not run.
enum exit_status : int { exit_ok = 0, exit_problem = 1, exit_refused = 2 };

// Thrown for an exit 2: one line on stderr says why.
class refusal : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Builds one JSON document (no pretty printing). Keys and strings are escaped.
class json {
 public:
  json& begin_object();
  json& end_object();
  json& begin_array();
  json& end_array();
  json& key(std::string_view name);
  json& value(std::string_view text);
  json& value(const char* text) { return value(std::string_view(text)); }
  json& value(const std::string& text) { return value(std::string_view(text)); }
  json& value(std::uint64_t number);
  json& value(std::int64_t number);
  json& value(int number) { return value(static_cast<std::int64_t>(number)); }
  json& value(bool flag);
  json& null();
  const std::string& str() const { return out_; }

 private:
  void separate();
  std::string out_;
  bool first_ = true;
  bool after_key_ = false;
};

// "\r<what>: 12.3 MB of 40.0 MB (30%), 95.1 MB/s, 0.3 s left" on stderr when it is a terminal
// and --json is not set; at most every 200 ms. unit "B" prints bytes, else counts.
class progress {
 public:
  progress(std::string what, std::uint64_t total, std::string unit, bool enabled);
  ~progress();
  void update(std::uint64_t done);
  void finish();

 private:
  void print(bool last);
  std::string what_;
  std::uint64_t total_;
  std::uint64_t done_ = 0;
  std::string unit_;
  bool enabled_;
  bool printed_ = false;
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::time_point shown_;
};
bool stderr_is_terminal();

std::string rfc3339(engine::time_ms unix_ms);
std::optional<engine::time_ms> parse_rfc3339(std::string_view text);
engine::time_ms wall_clock_ms();

// DIR holds a data dir (meta): else a refusal.
void require_data_dir(const fs::path& dir);
// A refusal naming the pid that holds DIR's LOCK and suggesting `backup`, when one does.
void refuse_if_in_use(const fs::path& dir, std::string_view what);
// DEST does not exist or is an empty folder: else a refusal.
void require_empty(const fs::path& dest, std::string_view what);

// The output folder of a backup or a restore (empty or missing when it starts): unless keep()
// was called, it is removed again (or emptied, when it was there before), so a command that
// fails leaves nothing half built that could be taken for a good copy.
class output_dir {
 public:
  explicit output_dir(fs::path dir);
  ~output_dir();
  output_dir(const output_dir&) = delete;
  output_dir& operator=(const output_dir&) = delete;
  void keep() { kept_ = true; }

 private:
  fs::path dir_;
  bool existed_;
  bool kept_ = false;
};

// Writes a file and fsyncs it (and not its folder: the caller fsyncs folders once).
void write_file_synced(const fs::path& path, std::string_view bytes);
std::string read_file(const fs::path& path);
std::uint32_t file_crc32c(const fs::path& path);

}  // namespace ecom::snapshot_tool
