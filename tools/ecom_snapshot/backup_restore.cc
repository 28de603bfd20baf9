// backup (hot, while a server serves) and restore (to a point in time by LSN or commit time).
#include <fcntl.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#include "persistence/crc32c.h"
#include "persistence/data_dir.h"
#include "persistence/file_io.h"
#include "persistence/recovery.h"
#include "persistence/snapshot_store.h"
#include "persistence/wal_format.h"
#include "persistence/wal_segment_sink.h"
#include "persistence/wal_writer.h"
#include "tools/ecom_snapshot/commands.h"

namespace ecom::snapshot_tool {

namespace {

using persistence::segment_file;
namespace wal_format = persistence::wal_format;

struct copied_file {
  std::string path;  // relative to the copy's root
  std::uint64_t bytes = 0;
  std::uint32_t crc = 0;
};

// Where the whole frames of a segment's bytes end (a frame being written, zeros, or a torn
// write after that are left out).
std::size_t whole_frames_end(std::string_view bytes) {
  if (bytes.size() < wal_format::segment_header_size ||
      !wal_format::decode_segment_header(bytes.data()))
    return 0;
  std::size_t at = wal_format::segment_header_size;
  while (bytes.size() - at >= wal_format::frame_header_size) {
    const auto h = wal_format::decode_frame_header(bytes.data() + at);
    if (h.lsn == 0 || h.payload_size > wal_format::frame_payload_bytes_max ||
        bytes.size() - at - wal_format::frame_header_size < h.payload_size)
      break;
    const std::string_view payload =
        bytes.substr(at + wal_format::frame_header_size, h.payload_size);
    if (persistence::crc32c::unmask(h.masked_crc) !=
        wal_format::frame_crc(bytes.data() + at, payload))
      break;
    at += wal_format::frame_header_size + h.payload_size;
  }
  return at;
}

std::string read_fd(int fd, const fs::path& path) {
  std::string out;
  char buffer[1 << 16];
  off_t at = 0;
  for (;;) {
    const ssize_t n = ::pread(fd, buffer, sizeof buffer, at);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw persistence::io_error(errno, "cannot read", path);
    if (n == 0) break;
    out.append(buffer, static_cast<std::size_t>(n));
    at += n;
  }
  return out;
}

copied_file record_file(const fs::path& root, const fs::path& path) {
  return copied_file{fs::relative(path, root).string(), fs::file_size(path), file_crc32c(path)};
}

// Every file under `root` (manifest entries), regular files only, sorted.
std::vector<copied_file> list_files(const fs::path& root) {
  std::vector<copied_file> out;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (entry.is_regular_file() && entry.path().filename() != "lock.mdb")
      out.push_back(record_file(root, entry.path()));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
  return out;
}

// A new data dir at `to` with `from`'s meta and secret (so tokens keep working on it).
void start_data_dir(const fs::path& from, const fs::path& to) {
  persistence::create_dir(to);
  persistence::create_dir(to / "wal");
  persistence::create_dir(to / "snapshots");
  write_file_synced(to / "meta", read_file(from / "meta"));
  write_file_synced(to / "secret", read_file(from / "secret"));
  ::chmod((to / "secret").c_str(), 0600);
}

// POST {url}/admin/snapshot with the admin token; the server answers once it committed.
void ask_for_snapshot(const std::string& url, const std::string& token) {
  std::string rest = url;
  if (rest.rfind("http://", 0) == 0)
    rest = rest.substr(7);
  else if (rest.find("://") != std::string::npos)
    throw refusal("--url " + url + ": only http:// is supported");
  if (auto slash = rest.find('/'); slash != std::string::npos) rest.resize(slash);
  std::string host = rest, port = "80";
  if (auto colon = rest.rfind(':'); colon != std::string::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0 || found == nullptr)
    throw refusal("--url " + url + ": cannot resolve " + host);
  const int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int connected = fd < 0 ? -1 : ::connect(fd, found->ai_addr, found->ai_addrlen);
  ::freeaddrinfo(found);
  if (connected != 0) {
    if (fd >= 0) ::close(fd);
    throw refusal("--url " + url + ": cannot connect (" + std::strerror(errno) + ")");
  }
  timeval timeout{600, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  const std::string request = "POST /admin/snapshot HTTP/1.1\r\nHost: " + host +
                              "\r\nAuthorization: Bearer " + token +
                              "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  persistence::write_all(fd, request);
  std::string answer;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n <= 0) break;
    answer.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  const auto line_end = answer.find("\r\n");
  const std::string status = answer.substr(0, line_end);
  if (status.find(" 200 ") == std::string::npos) {
    const auto body = answer.find("\r\n\r\n");
    throw std::runtime_error("the server did not take a snapshot: " + status +
                             (body == std::string::npos ? "" : " " + answer.substr(body + 4)));
  }
}

void write_manifest(const fs::path& out, const std::string& source,
                    const std::optional<persistence::snapshot_info>& snapshot,
                    engine::lsn_t lsn_from, engine::lsn_t lsn_to) {
  json j;
  j.begin_object().key("format").value(1).key("source").value(source);
  j.key("created_at").value(rfc3339(wall_clock_ms()));
  j.key("snapshot");
  if (snapshot) {
    j.value(snapshot->lsn);
  } else {
    j.null();
  }
  j.key("lsn_from").value(lsn_from).key("lsn_to").value(lsn_to);
  j.key("files").begin_array();
  for (const auto& f : list_files(out)) {
    j.begin_object().key("path").value(f.path).key("bytes").value(f.bytes);
    j.key("crc32c").value(static_cast<std::uint64_t>(f.crc)).end_object();
  }
  j.end_array().end_object();
  write_file_synced(out / "backup_manifest.json", j.str() + "\n");
}

void sync_tree(const fs::path& root) {
  for (const auto& entry : fs::recursive_directory_iterator(root))
    if (entry.is_directory()) persistence::fsync_dir(entry.path());
  persistence::fsync_dir(root);
  persistence::fsync_dir(root.has_parent_path() ? root.parent_path() : fs::path("."));
}

std::optional<persistence::snapshot_info> newest_good_meta(const fs::path& data) {
  for (const auto& dir : persistence::generation_dirs(data / "snapshots")) {
    auto check = persistence::read_snapshot_meta(dir);
    if (check.state == persistence::snapshot_state::ok) return check.info;
  }
  return std::nullopt;
}

void print_result(const options& o, const char* what, const fs::path& out,
                  const std::optional<persistence::snapshot_info>& snapshot, engine::lsn_t from,
                  engine::lsn_t to, std::uint64_t bytes) {
  if (o.json) {
    json j;
    j.begin_object().key("ok").value(true).key("out").value(out.string());
    j.key("snapshot");
    if (snapshot) {
      j.value(snapshot->lsn);
    } else {
      j.null();
    }
    j.key("lsn_from").value(from).key("lsn_to").value(to).key("bytes").value(bytes).end_object();
    std::cout << j.str() << "\n";
  } else {
    std::cout << what << " " << out.string() << ": "
              << (snapshot ? "snapshot " + std::to_string(snapshot->lsn) + " and " : std::string())
              << "WAL lsn " << from << ".." << to << ", " << bytes << " bytes\n";
  }
}

}  // namespace

// ---- backup -------------------------------------------------------------------------------------

int run_backup(const options& o) {
  require_data_dir(o.dir);
  if (o.out.empty()) throw refusal("backup needs --out DIR");
  require_empty(o.out, "--out");
  output_dir out(o.out);
  if (!o.url.empty()) {
    if (o.admin_token.empty()) throw refusal("--url needs --admin-token");
    ask_for_snapshot(o.url, o.admin_token);
  }
  // Every change acknowledged before now is in the WAL files (fsync'd) or in the snapshot.
  const std::optional<persistence::snapshot_info> snapshot = newest_good_meta(o.dir);
  const engine::lsn_t after = snapshot ? snapshot->min_cut() : 0;
  // The segments the copy needs, opened now: a retention that removes one meanwhile does not
  // take it from under us.
  std::vector<segment_file> segments = persistence::list_segments(o.dir / "wal");
  std::vector<std::pair<segment_file, int>> needed;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const bool last = i + 1 == segments.size();
    if (!last && segments[i + 1].first_lsn != 0 && segments[i + 1].first_lsn - 1 <= after) continue;
    const int fd = ::open(segments[i].path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw persistence::io_error(errno, "cannot open", segments[i].path);
    needed.emplace_back(segments[i], fd);
  }
  if (!snapshot && !needed.empty() && needed.front().first.first_lsn > 1)
    throw refusal(o.dir.string() + " has no good snapshot and its WAL starts at lsn " +
                  std::to_string(needed.front().first.first_lsn) + ": nothing to back up from");

  const bool live = persistence::lock_holder(o.dir).has_value();  // a server holds the dir
  start_data_dir(o.dir, o.out);
  std::uint64_t total = 0;
  for (const auto& [segment, fd] : needed) total += segment.bytes;
  progress shown("backup", total + (snapshot ? snapshot->bytes : 0), "B", !o.json);
  std::uint64_t done = 0;
  if (snapshot) {
    const fs::path copy = o.out / "snapshots" / snapshot->dir.filename();
    persistence::copy_generation(snapshot->dir, copy);
    // Reopened and read in full: a copy that does not check out is no backup.
    auto check = persistence::read_snapshot(copy, nullptr);
    if (check.state != persistence::snapshot_state::ok)
      throw std::runtime_error("the copy of snapshot " + snapshot->dir.filename().string() +
                               " does not check out: " + check.problem);
    done += snapshot->bytes;
    shown.update(done);
  }
  engine::lsn_t last_lsn = after;
  for (auto& [segment, fd] : needed) {
    const std::string bytes = read_fd(fd, segment.path);
    ::close(fd);
    fd = -1;
    // A server writing the last segment may be half way through a frame (or through a group
    // of frames our reads saw in pieces): that segment is cut at its last whole frame. Every
    // other byte is judged below as recovery judges it.
    const bool being_written = live && segment.path == needed.back().first.path;
    write_file_synced(o.out / "wal" / segment.path.filename(),
                      being_written ? std::string_view(bytes).substr(0, whole_frames_end(bytes))
                                    : std::string_view(bytes));
    done += segment.bytes;
    shown.update(done);
  }
  shown.finish();
  // The LSN range the copy holds, read back from it with recovery's own rules: damage before
  // the end is corruption (no backup); the last segment's zero fill or torn tail is cut.
  wal_scan copied = scan_wal(o.out / "wal", {}, nullptr);
  if (!copied.corruption.empty())
    throw std::runtime_error("the WAL copy does not check out: " + copied.corruption +
                             " (run `ecom-snapshot wal check` on " + o.dir.string() + ")");
  if (!needed.empty()) {  // the last segment's zero fill, or a frame being written, goes
    const fs::path last = o.out / "wal" / needed.back().first.path.filename();
    fs::resize_file(last, whole_frames_end(read_file(last)));
  }
  last_lsn = std::max(last_lsn, copied.last_lsn);
  write_manifest(o.out, o.dir.string(), snapshot, after + 1, last_lsn);
  sync_tree(o.out);
  std::uint64_t bytes = 0;
  for (const auto& f : list_files(o.out)) bytes += f.bytes;
  out.keep();
  print_result(o, "backup", o.out, snapshot, after + 1, last_lsn, bytes);
  return exit_ok;
}

// ---- restore ------------------------------------------------------------------------------------

int run_restore(const options& o) {
  require_data_dir(o.dir);
  refuse_if_in_use(o.dir, "restore from");
  if (o.out.empty()) throw refusal("restore needs --to DEST");
  if (fs::exists(o.out)) refuse_if_in_use(o.out, "restore into");
  require_empty(o.out, "--to");
  if (o.to_lsn && o.to_time) throw refusal("give --to-lsn or --to-time, not both");
  output_dir out(o.out);
  persistence::dir_lock lock(o.dir);
  const std::vector<fs::path> archive = archive_of(o.dir);

  // What SRC holds: the WAL's range and commit times, and its good snapshots.
  engine::lsn_t by_time = 0;  // the last LSN committed at or before --to-time
  bool timed = false;
  progress reading("reading WAL", 0, "B", !o.json);
  wal_scan scan = scan_wal(
      o.dir / "wal", archive,
      [&](const persistence::wal_entry& e) {
        if (o.to_time && (e.committed_at == 0 || e.committed_at <= *o.to_time)) {
          by_time = e.lsn;
          timed |= e.committed_at != 0;
        }
      },
      0, &reading);
  reading.finish();
  if (!scan.corruption.empty()) {
    std::cerr << "ecom-snapshot: SRC's WAL is corrupt: " << scan.corruption << "\n";
    return exit_problem;
  }
  std::vector<persistence::snapshot_info> snapshots;
  for (const auto& dir : persistence::generation_dirs(o.dir / "snapshots")) {
    auto check = persistence::read_snapshot(dir, nullptr);
    if (check.state == persistence::snapshot_state::ok) snapshots.push_back(check.info);
  }
  const engine::lsn_t wal_low = scan.first_lsn == 0 ? scan.last_lsn + 1 : scan.first_lsn;
  engine::lsn_t high = scan.last_lsn;
  engine::lsn_t low = wal_low <= 1 ? 0 : UINT64_MAX;  // the lowest LSN a restore can end at
  for (const auto& s : snapshots) {
    high = std::max(high, s.max_cut());
    if (s.min_cut() + 1 >= wal_low) low = std::min(low, s.max_cut());
  }
  engine::lsn_t target = high;
  if (o.to_lsn) target = *o.to_lsn;
  if (o.to_time) target = by_time;
  if (low == UINT64_MAX || target < low || target > high) {
    throw refusal("restore target lsn " + std::to_string(target) +
                  " is out of reach: " + o.dir.string() +
                  (low == UINT64_MAX
                       ? " can restore nothing (no snapshot the WAL continues)"
                       : " can restore lsn " + std::to_string(low) + ".." + std::to_string(high)));
  }
  // The newest snapshot at or before the target that the WAL continues.
  std::optional<persistence::snapshot_info> base;
  for (const auto& s : snapshots) {
    if (s.max_cut() <= target && s.min_cut() + 1 >= wal_low) {
      base = s;
      break;
    }
  }
  const engine::lsn_t from = base ? base->min_cut() : 0;

  start_data_dir(o.dir, o.out);
  if (base) persistence::copy_generation(base->dir, o.out / "snapshots" / base->dir.filename());
  // The records after the base up to the target, with their commit times, in segments of the
  // server's size: memory holds one at a time.
  persistence::wal_segment_sink sink(o.out / "wal", from + 1,
                                     persistence::wal_options{}.segment_bytes_max);
  progress writing("writing WAL", target - from, "records", !o.json);
  scan_wal(
      o.dir / "wal", archive,
      [&](const persistence::wal_entry& e) {
        if (e.lsn > target) return;
        sink.append(e.type, e.shard, e.lsn, e.payload, e.committed_at);
        writing.update(e.lsn - from);
      },
      from);
  writing.finish();
  sink.finish();
  sync_tree(o.out);

  // The result must load (read-only) and end where asked.
  engine::shard_set check(persistence::stored_shard_count(o.out), engine::mailbox_depth_max_default,
                          [] { return wall_clock_ms(); });
  persistence::recovery_report report;
  persistence::load_options load;
  load.read_only = true;
  persistence::loaded_state loaded = persistence::load_state(o.out, check, load, report);
  const engine::lsn_t reached = std::max(loaded.wal.last_lsn, base ? base->max_cut() : 0);
  if (reached != target) {
    std::cerr << "ecom-snapshot: the restored dir ends at lsn " << reached << ", not " << target
              << "\n";
    return exit_problem;
  }
  if (o.to_time && !timed)
    std::cerr
        << "ecom-snapshot: note: the records kept carry no commit time (an older WAL format)\n";
  std::uint64_t bytes = 0;
  for (const auto& f : list_files(o.out)) bytes += f.bytes;
  out.keep();
  print_result(o, "restored", o.out, base, from + 1, target, bytes);
  return exit_ok;
}

}  // namespace ecom::snapshot_tool
