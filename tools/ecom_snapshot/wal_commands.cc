// wal check, wal repair, wal dump, and the WAL scan the other subcommands share.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <iostream>

#include "engine/codec.h"
#include "engine/record.h"
#include "persistence/data_dir.h"
#include "persistence/file_io.h"
#include "persistence/wal_format.h"
#include "tools/ecom_snapshot/commands.h"

namespace ecom::snapshot_tool {

namespace {

using persistence::segment_file;
using persistence::wal_entry;

std::uint64_t folder_bytes(const std::vector<segment_file>& segments) {
  std::uint64_t total = 0;
  for (const auto& s : segments) total += s.bytes;
  return total;
}

}  // namespace

std::vector<fs::path> archive_of(const fs::path& data) {
  std::error_code ec;
  if (fs::is_directory(data / "archive", ec)) return {data / "archive"};
  return {};
}

wal_scan scan_wal(const fs::path& wal_dir, const std::vector<fs::path>& older,
                  const wal_visit& visit, engine::lsn_t after_lsn, progress* shown) {
  wal_scan scan;
  std::vector<segment_file> segments = persistence::list_segments(wal_dir);
  for (const auto& dir : older) {
    auto more = persistence::list_segments(dir);
    segments.insert(segments.end(), more.begin(), more.end());
  }
  std::sort(segments.begin(), segments.end(),
            [](const segment_file& a, const segment_file& b) { return a.number < b.number; });
  scan.segments = segments.size();
  scan.bytes = folder_bytes(segments);
  if (!segments.empty()) scan.first_lsn = segments.front().first_lsn;
  persistence::wal_read_options read;
  read.read_only = true;
  read.after_lsn = after_lsn;
  read.older_dirs = older;
  std::uint64_t bytes_seen = 0;
  try {
    persistence::replay_result result =
        persistence::read_wal(wal_dir, read, [&](const wal_entry& e) {
          ++scan.records;
          scan.last_lsn = e.lsn;
          bytes_seen = e.offset;
          if (shown) shown->update(bytes_seen);
          if (visit) visit(e);
        });
    scan.last_lsn = std::max(scan.last_lsn, result.last_lsn);
    if (result.tail_found) {
      scan.torn_tail = true;
      scan.tail_message = result.tail_message;
      scan.tail_segment = result.tail_segment;
      scan.tail_offset = result.tail_offset;
    }
  } catch (const persistence::wal_corruption& e) {
    scan.corruption = e.what();
    scan.corruption_segment = e.segment();
    scan.corruption_offset = e.offset();
    scan.corruption_lsn = scan.last_lsn + 1;
  }
  return scan;
}

std::string record_type_name(std::uint16_t type) {
  using engine::record_type;
  switch (static_cast<record_type>(type)) {
#define ECOM_NAME(t)   \
  case record_type::t: \
    return #t;
    ECOM_NAME(user_created)
    ECOM_NAME(users_bulk_created)
    ECOM_NAME(session_opened)
    ECOM_NAME(session_rotated)
    ECOM_NAME(session_closed)
    ECOM_NAME(session_family_revoked)
    ECOM_NAME(balance_charged)
    ECOM_NAME(idempotent_reply_stored)
    ECOM_NAME(product_created)
    ECOM_NAME(product_updated)
    ECOM_NAME(stock_adjusted)
    ECOM_NAME(cart_item_added)
    ECOM_NAME(cart_item_quantity_set)
    ECOM_NAME(cart_item_removed)
    ECOM_NAME(coupon_created)
    ECOM_NAME(campaign_created)
    ECOM_NAME(campaign_taken)
    ECOM_NAME(coupon_delivered)
    ECOM_NAME(coupon_expired)
    ECOM_NAME(order_created)
    ECOM_NAME(order_paid)
    ECOM_NAME(order_payment_failed)
    ECOM_NAME(order_cancelled)
    ECOM_NAME(order_expired)
    ECOM_NAME(order_refunded)
    ECOM_NAME(stock_taken)
    ECOM_NAME(stock_released)
    ECOM_NAME(sale_committed)
    ECOM_NAME(sale_refunded)
    ECOM_NAME(event_recorded)
#undef ECOM_NAME
  }
  return "unknown";
}

// ---- wal check ----------------------------------------------------------------------------------

int run_wal_check(const options& o) {
  require_data_dir(o.dir);
  const bool in_use = persistence::lock_holder(o.dir).has_value();
  progress shown("checking WAL", 0, "B", !o.json);
  wal_scan scan = scan_wal(o.dir / "wal", {}, nullptr, 0, &shown);
  shown.finish();
  // The segment being written by a running server may end in half a frame: a write in progress.
  const bool in_progress = in_use && scan.torn_tail;
  const bool bad = !scan.corruption.empty() || (scan.torn_tail && !in_progress);
  if (o.json) {
    json j;
    j.begin_object();
    j.key("ok").value(!bad);
    j.key("first_lsn").value(scan.first_lsn).key("last_lsn").value(scan.last_lsn);
    j.key("segments").value(scan.segments).key("records").value(scan.records);
    j.key("in_use").value(in_use).key("write_in_progress").value(in_progress);
    j.key("torn_tail");
    if (scan.torn_tail && !in_progress) {
      j.begin_object().key("segment").value(scan.tail_segment.string());
      j.key("offset").value(scan.tail_offset).key("lsn").value(scan.last_lsn + 1).end_object();
    } else {
      j.null();
    }
    j.key("corruption");
    if (!scan.corruption.empty()) {
      j.begin_object().key("segment").value(scan.corruption_segment.string());
      j.key("offset").value(scan.corruption_offset).key("lsn").value(scan.corruption_lsn);
      j.key("message").value(scan.corruption).end_object();
    } else {
      j.null();
    }
    j.end_object();
    std::cout << j.str() << "\n";
  } else {
    if (!scan.corruption.empty()) {
      std::cout << "corruption in " << scan.corruption_segment.string() << " at byte "
                << scan.corruption_offset << " (lsn " << scan.corruption_lsn << ")\n";
    } else if (scan.torn_tail && !in_progress) {
      std::cout << "torn tail in " << scan.tail_segment.string() << " at byte " << scan.tail_offset
                << " (lsn " << scan.last_lsn + 1 << "): `ecom-snapshot wal repair` truncates it\n";
    } else {
      std::cout << "WAL OK: lsn " << scan.first_lsn << ".." << scan.last_lsn << ", " << scan.records
                << " records in " << scan.segments << " segments"
                << (in_progress ? " (the last frame is being written)" : "") << "\n";
    }
  }
  return bad ? exit_problem : exit_ok;
}

// ---- wal repair ---------------------------------------------------------------------------------

namespace {

void truncate_file(const fs::path& path, std::uint64_t size) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) throw persistence::io_error(errno, "cannot open", path);
  const bool ok = ::ftruncate(fd, static_cast<off_t>(size)) == 0 && ::fsync(fd) == 0;
  const int error = errno;
  ::close(fd);
  if (!ok) throw persistence::io_error(error, "cannot truncate", path);
}

}  // namespace

int run_wal_repair(const options& o) {
  require_data_dir(o.dir);
  refuse_if_in_use(o.dir, "wal repair");
  persistence::dir_lock lock(o.dir);  // no ecomd starts while we repair
  wal_scan scan = scan_wal(o.dir / "wal", {}, nullptr);
  if (scan.corruption.empty() && !scan.torn_tail) {
    std::cout << "nothing to repair: every frame is whole (lsn " << scan.first_lsn << ".."
              << scan.last_lsn << ")\n";
    return exit_ok;
  }
  if (scan.corruption.empty()) {
    const std::uint64_t size = fs::file_size(scan.tail_segment);
    truncate_file(scan.tail_segment, scan.tail_offset);
    std::cout << "truncated the torn tail of " << scan.tail_segment.string() << ": "
              << size - scan.tail_offset << " bytes at byte " << scan.tail_offset
              << "; the log ends at lsn " << scan.last_lsn << "\n";
    return exit_ok;
  }
  if (!o.truncate_corrupt) {
    std::cout << "corruption in " << scan.corruption_segment.string() << " at byte "
              << scan.corruption_offset << " (lsn " << scan.corruption_lsn
              << "); not repaired. `--truncate-corrupt` moves that record and every later one to "
                 "wal/quarantine/ (they are then lost to the server); or restore a backup\n";
    return exit_problem;
  }
  // Everything from the bad frame on goes to wal/quarantine/, never deleted.
  const fs::path quarantine = o.dir / "wal" / "quarantine";
  persistence::create_dir(quarantine);
  const std::string bytes = read_file(scan.corruption_segment);
  const std::string name = scan.corruption_segment.filename().string();
  write_file_synced(quarantine / (name + ".from-byte-" + std::to_string(scan.corruption_offset)),
                    std::string_view(bytes).substr(scan.corruption_offset));
  truncate_file(scan.corruption_segment, scan.corruption_offset);
  std::uint64_t moved = 0;
  for (const auto& segment : persistence::list_segments(o.dir / "wal")) {
    if (segment.path.filename().string() <= name) continue;
    fs::rename(segment.path, quarantine / segment.path.filename());
    ++moved;
  }
  persistence::fsync_dir(quarantine);
  persistence::fsync_dir(o.dir / "wal");
  std::cout << "moved the record at lsn " << scan.corruption_lsn << " and everything after it ("
            << bytes.size() - scan.corruption_offset << " bytes of " << name << " and " << moved
            << " later segments) to " << quarantine.string() << "; the log ends at lsn "
            << scan.corruption_lsn - 1 << "\n";
  return exit_ok;
}

// ---- wal dump -----------------------------------------------------------------------------------

namespace {

// The fields of the records people look for most; the rest show their payload size only.
void decode_fields(json& j, engine::record_type type, std::string_view payload) {
  using engine::record_type;
  engine::payload_reader in(payload);
  auto id = [&](const char* name) {
    j.key(name).value(static_cast<std::int64_t>(in.get<engine::entity_id>()));
  };
  auto number = [&](const char* name) { j.key(name).value(in.get<std::int64_t>()); };
  auto time = [&](const char* name) { j.key(name).value(rfc3339(in.get<engine::time_ms>())); };
  auto text = [&](const char* name) { j.key(name).value(in.get_bytes()); };
  switch (type) {
    case record_type::user_created:
      id("user_id");
      time("at");
      text("name");
      text("email");
      break;
    case record_type::balance_charged:
      id("user_id");
      id("entry_id");
      number("amount");
      number("balance_before");
      number("balance_after");
      time("at");
      break;
    case record_type::campaign_taken:
      id("campaign_id");
      id("user_id");
      time("at");
      break;
    case record_type::coupon_delivered:
      id("user_id");
      id("user_coupon_id");
      id("campaign_id");
      id("coupon_id");
      time("issued_at");
      time("expires_at");
      break;
    case record_type::coupon_expired:
      id("user_id");
      id("user_coupon_id");
      break;
    case record_type::order_paid:
    case record_type::order_refunded:
      id("user_id");
      id("order_id");
      time("at");
      break;
    case record_type::order_payment_failed:
    case record_type::order_cancelled:
    case record_type::order_expired:
      id("user_id");
      id("order_id");
      time("at");
      break;
    case record_type::stock_taken:
    case record_type::stock_released:
    case record_type::sale_committed:
    case record_type::sale_refunded:
      id("order_id");
      break;
    case record_type::event_recorded:
      j.key("seq").value(in.get<std::uint64_t>());
      break;
    default:
      break;
  }
}

}  // namespace

int run_wal_dump(const options& o) {
  require_data_dir(o.dir);
  std::uint64_t shown = 0;
  wal_scan scan = scan_wal(
      o.dir / "wal", archive_of(o.dir),
      [&](const wal_entry& e) {
        if (e.lsn < o.from_lsn || shown >= o.limit) return;
        ++shown;
        json j;
        j.begin_object();
        j.key("lsn").value(e.lsn);
        j.key("shard").value(static_cast<std::uint64_t>(e.shard));
        j.key("type").value(record_type_name(static_cast<std::uint16_t>(e.type)));
        j.key("bytes").value(static_cast<std::uint64_t>(e.payload.size()));
        j.key("committed_at");
        if (e.committed_at != 0) {
          j.value(rfc3339(e.committed_at));
        } else {
          j.null();
        }
        decode_fields(j, e.type, e.payload);
        j.end_object();
        std::cout << j.str() << "\n";
      },
      o.from_lsn > 0 ? o.from_lsn - 1 : 0);
  if (!scan.corruption.empty()) {
    std::cerr << "ecom-snapshot: stopped at corruption: " << scan.corruption << "\n";
    return exit_problem;
  }
  return exit_ok;
}

}  // namespace ecom::snapshot_tool
