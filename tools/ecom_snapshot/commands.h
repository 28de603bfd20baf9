// ecom-snapshot's subcommands (OPERATIONS.md §2). Each returns its exit status; a refusal
// (exit 2) is thrown as snapshot_tool::refusal and printed by main.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "engine/types.h"
#include "persistence/wal_reader.h"
#include "tools/ecom_snapshot/common.h"

namespace ecom::snapshot_tool {

struct options {
  fs::path dir;  // DIR or SRC
  bool json = false;
  fs::path out;  // backup --out, restore --to
  std::string url;
  std::string admin_token;
  std::optional<engine::lsn_t> to_lsn;
  std::optional<engine::time_ms> to_time;
  bool truncate_corrupt = false;
  engine::lsn_t from_lsn = 0;
  std::uint64_t limit = UINT64_MAX;
};

int run_inspect(const options& o);
int run_verify(const options& o);
int run_backup(const options& o);
int run_restore(const options& o);
int run_wal_check(const options& o);
int run_wal_repair(const options& o);
int run_wal_dump(const options& o);

// ---- shared by the subcommands (wal_scan.cc) ---------------------------------------------------

// What reading a WAL folder (and the archive before it) found, read-only.
struct wal_scan {
  engine::lsn_t first_lsn = 0;  // the first segment's first_lsn (0: no segment)
  engine::lsn_t last_lsn = 0;
  std::uint64_t segments = 0;
  std::uint64_t bytes = 0;
  std::uint64_t records = 0;
  bool torn_tail = false;  // an incomplete or bad last frame
  std::string tail_message;
  fs::path tail_segment;
  std::uint64_t tail_offset = 0;
  std::string corruption;  // corruption before the end ("" when none)
  fs::path corruption_segment;
  std::uint64_t corruption_offset = 0;
  engine::lsn_t corruption_lsn = 0;  // the LSN that should have been there
};
using wal_visit = std::function<void(const persistence::wal_entry&)>;
// Reads every frame (CRC-checked) of <data>/wal, after the segments of `older` (an archive).
wal_scan scan_wal(const fs::path& wal_dir, const std::vector<fs::path>& older,
                  const wal_visit& visit, engine::lsn_t after_lsn = 0, progress* shown = nullptr);
// <data>/archive when it exists (where --wal-archive-dir usually points).
std::vector<fs::path> archive_of(const fs::path& data);

// The record type's name ("balance_charged"), or "unknown".
std::string record_type_name(std::uint16_t type);

}  // namespace ecom::snapshot_tool
