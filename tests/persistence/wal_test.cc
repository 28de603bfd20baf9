// The WAL contract, test by test: what the writer puts on disk, what replay gives back, which
// damage is a torn tail (truncated, reported) and which is corruption (refuse to start).
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "persistence/wal_format.h"
#include "persistence/wal_reader.h"
#include "persistence/wal_segment_sink.h"
#include "persistence/wal_writer.h"
#include "tests/persistence/temp_dir.h"

namespace ecom::persistence {
namespace {

namespace fs = std::filesystem;
using engine::lsn_t;
using engine::record;
using engine::record_type;
using testing_support::temp_dir;

struct replayed {
  record_type type{};
  engine::shard_index shard = 0;
  lsn_t lsn = 0;
  std::string payload;
};

struct replay_output {
  replay_result result;
  std::vector<replayed> entries;
};

replay_output replay(const fs::path& dir, lsn_t after_lsn = 0) {
  replay_output out;
  out.result = replay_wal(dir, after_lsn, [&](const wal_entry& e) {
    out.entries.push_back({e.type, e.shard, e.lsn, std::string(e.payload)});
  });
  return out;
}

// Record i: every type and shard in turn, payloads of 0..300 bytes, content names i.
record make_record(std::uint64_t i) {
  record r;
  r.type = static_cast<record_type>(1 + i % 7);
  r.shard = static_cast<engine::shard_index>(i % 8);
  const std::size_t size = (i * 37) % 301;
  r.payload.resize(size);
  for (std::size_t k = 0; k < size; ++k) r.payload[k] = static_cast<char>('a' + (i + k) % 26);
  if (size >= 8) r.payload.replace(0, 8, "rec#" + std::to_string(i % 10000).substr(0, 4));
  return r;
}

std::vector<record> make_records(std::uint64_t count) {
  std::vector<record> records;
  for (std::uint64_t i = 0; i < count; ++i) records.push_back(make_record(i));
  return records;
}

wal_options options_for(const fs::path& dir, fsync_mode mode = fsync_mode::always) {
  wal_options options;
  options.dir = dir;
  options.mode = mode;
  return options;
}

// Appends each record in its own call and stops (which flushes and syncs).
void write_records(const wal_options& options, const std::vector<record>& records) {
  wal_writer writer(options);
  for (const record& r : records) writer.append(std::span(&r, 1), [] {});
  writer.stop();
}

fs::path segment(const fs::path& dir, std::uint64_t number) {
  return dir / wal_format::segment_file_name(number);
}

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// Byte offset of the `index`-th record's frame in a segment (commit-time frames, one per group
// commit, are passed over: how many there are depends on the writer's timing).
std::uint64_t frame_offset(const fs::path& segment_path, std::size_t index) {
  const std::string bytes = read_bytes(segment_path);
  std::uint64_t offset = wal_format::segment_header_size;
  std::size_t seen = 0;
  while (offset + wal_format::frame_header_size <= bytes.size()) {
    const auto h = wal_format::decode_frame_header(bytes.data() + offset);
    if (h.type != wal_format::commit_time_frame_type) {
      if (seen == index) return offset;
      ++seen;
    }
    offset += wal_format::frame_header_size + h.payload_size;
  }
  ADD_FAILURE() << "no record " << index << " in " << segment_path;
  return offset;
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

void flip_bit(const fs::path& path, std::uint64_t offset) {
  std::string bytes = read_bytes(path);
  ASSERT_LT(offset, bytes.size());
  bytes[offset] = static_cast<char>(bytes[offset] ^ 0x10);
  write_bytes(path, bytes);
}

void expect_records(const std::vector<replayed>& got, const std::vector<record>& want,
                    lsn_t first_lsn = 1) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i].lsn, first_lsn + i);
    EXPECT_EQ(got[i].type, want[i].type) << "lsn " << got[i].lsn;
    EXPECT_EQ(got[i].shard, want[i].shard) << "lsn " << got[i].lsn;
    EXPECT_EQ(got[i].payload, want[i].payload) << "lsn " << got[i].lsn;
  }
}

// Counts callbacks and lets a test wait for a number of them.
class completions {
 public:
  void done() {
    std::lock_guard lock(mutex_);
    ++count_;
    cv_.notify_all();
  }
  void wait_for(std::uint64_t count) {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return count_ >= count; });
  }
  std::uint64_t count() {
    std::lock_guard lock(mutex_);
    return count_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::uint64_t count_ = 0;
};

// Goal: what goes in comes out: type, shard, payload (also empty), in LSN order from 1.
// Method: 500 records appended in groups of 1..5, then replay and compare field by field.
TEST(wal, round_trip_keeps_type_shard_payload_and_lsn_order) {
  temp_dir tmp;
  const std::vector<record> records = make_records(500);
  {
    wal_writer writer(options_for(tmp.path()));
    std::size_t i = 0;
    lsn_t last = 0;
    while (i < records.size()) {
      const std::size_t group = std::min<std::size_t>(1 + i % 5, records.size() - i);
      last = writer.append(std::span(records).subspan(i, group), [] {});
      i += group;
      EXPECT_EQ(last, i);
    }
    writer.stop();
    EXPECT_EQ(writer.durable_lsn(), 500u);
    EXPECT_EQ(writer.stats().records_total, 500u);
  }
  const replay_output out = replay(tmp.path());
  expect_records(out.entries, records);
  EXPECT_EQ(out.result.last_lsn, 500u);
  EXPECT_EQ(out.result.records, 500u);
  EXPECT_EQ(out.result.segments, 1u);
  EXPECT_EQ(out.result.next_segment_number, 2u);
  EXPECT_FALSE(out.result.tail_truncated);
  EXPECT_TRUE(out.result.tail_message.empty());
}

// Goal: a crash while writing a frame header leaves a torn tail that replay truncates and
// reports. Method: append 7 bytes of a real frame header after 5 good records.
TEST(wal, torn_frame_header_at_tail_is_truncated_and_reported) {
  temp_dir tmp;
  const std::vector<record> records = make_records(5);
  write_records(options_for(tmp.path()), records);
  const fs::path path = segment(tmp.path(), 1);
  const std::uint64_t good_size = fs::file_size(path);
  std::string frame;
  wal_format::append_frame(frame, record_type::user_created, 0, 6, "lost");
  write_bytes(path, read_bytes(path) + frame.substr(0, 7));

  const replay_output out = replay(tmp.path());
  expect_records(out.entries, records);
  EXPECT_TRUE(out.result.tail_truncated);
  EXPECT_NE(out.result.tail_message.find(path.filename().string()), std::string::npos);
  EXPECT_NE(out.result.tail_message.find("at byte " + std::to_string(good_size)), std::string::npos)
      << out.result.tail_message;
  EXPECT_NE(out.result.tail_message.find("7 bytes dropped"), std::string::npos);
  EXPECT_EQ(fs::file_size(path), good_size);
  EXPECT_FALSE(replay(tmp.path()).result.tail_truncated);  // the second replay finds it clean
}

// Goal: a crash in the middle of a payload is a torn tail too. Method: cut 10 bytes off the
// last record; replay yields the first four and truncates at the fifth frame.
TEST(wal, torn_payload_at_tail_is_truncated) {
  temp_dir tmp;
  std::vector<record> records = make_records(5);
  records[4].payload.assign(100, 'x');
  write_records(options_for(tmp.path()), records);
  const fs::path path = segment(tmp.path(), 1);
  const std::uint64_t fifth = frame_offset(path, 4);
  fs::resize_file(path, fs::file_size(path) - 10);

  const replay_output out = replay(tmp.path());
  expect_records(out.entries, std::vector(records.begin(), records.begin() + 4));
  EXPECT_TRUE(out.result.tail_truncated);
  EXPECT_EQ(out.result.last_lsn, 4u);
  EXPECT_EQ(fs::file_size(path), fifth);
}

// Goal: damage with good data after it is corruption, never silently dropped. Method: flip one
// payload bit in record 5 of 10; replay throws wal_corruption naming the file and the frame's
// offset, points at ecom-snapshot, and leaves the file untouched.
TEST(wal, flipped_bit_in_middle_record_throws_corruption_naming_segment_and_offset) {
  temp_dir tmp;
  const std::vector<record> records = make_records(10);
  write_records(options_for(tmp.path()), records);
  const fs::path path = segment(tmp.path(), 1);
  const std::uint64_t offset = frame_offset(path, 4);
  flip_bit(path, offset + wal_format::frame_header_size + 1);
  const std::string before = read_bytes(path);

  try {
    replay(tmp.path());
    FAIL() << "replay accepted a corrupt middle record";
  } catch (const wal_corruption& e) {
    EXPECT_EQ(e.segment(), path);
    EXPECT_EQ(e.offset(), offset);
    const std::string what = e.what();
    EXPECT_NE(what.find(path.filename().string()), std::string::npos) << what;
    EXPECT_NE(what.find("byte " + std::to_string(offset)), std::string::npos) << what;
    EXPECT_NE(what.find("ecom-snapshot"), std::string::npos) << what;
  }
  EXPECT_EQ(read_bytes(path), before);
}

// Goal: a bad CRC on the frame that ends exactly at EOF of the last segment is a torn write.
// Method: flip a bit in the last record's payload; replay keeps 9 records and truncates.
TEST(wal, flipped_bit_in_last_record_reaching_eof_is_torn_tail) {
  temp_dir tmp;
  const std::vector<record> records = make_records(10);
  write_records(options_for(tmp.path()), records);
  const fs::path path = segment(tmp.path(), 1);
  const std::uint64_t tenth = frame_offset(path, 9);
  flip_bit(path, fs::file_size(path) - 1);

  const replay_output out = replay(tmp.path());
  expect_records(out.entries, std::vector(records.begin(), records.begin() + 9));
  EXPECT_TRUE(out.result.tail_truncated);
  EXPECT_EQ(fs::file_size(path), tenth);
}

// Goal: zeros after the last good frame (the writer's zero fill, or an extent allocated but
// never written) are a clean end, in the last segment and in earlier ones. Method: append 100
// zero bytes to a good segment; then the same with a later segment after it.
TEST(wal, zero_filled_tail_is_a_clean_end) {
  temp_dir tmp;
  const std::vector<record> records = make_records(3);
  write_records(options_for(tmp.path()), records);
  const fs::path path = segment(tmp.path(), 1);
  const std::uint64_t good_size = fs::file_size(path);
  write_bytes(path, read_bytes(path) + std::string(100, '\0'));

  const replay_output out = replay(tmp.path());
  expect_records(out.entries, records);
  EXPECT_FALSE(out.result.tail_truncated);
  EXPECT_EQ(fs::file_size(path), good_size + 100) << "nothing to truncate";

  wal_options next = options_for(tmp.path());
  next.next_lsn = out.result.last_lsn + 1;
  next.next_segment_number = out.result.next_segment_number;
  const std::vector<record> more = make_records(2);
  write_records(next, more);
  const replay_output both = replay(tmp.path());
  EXPECT_EQ(both.entries.size(), records.size() + more.size());
}

// Goal: the writer's zero fill is what a crash leaves after the frames, and replay takes it as
// the end. Method: append records without stop() (as a kill would leave them: the segment is
// not trimmed), copy the folder while the writer is alive, replay the copy.
TEST(wal, segment_left_by_a_crash_ends_at_its_zero_fill) {
  temp_dir tmp;
  const std::vector<record> records = make_records(5);
  wal_options options = options_for(tmp.path());
  options.zero_fill_bytes = 64 << 10;
  auto writer = std::make_unique<wal_writer>(options);
  std::atomic<int> durable{0};
  writer->append(records, [&] { durable = 1; });
  for (int i = 0; i < 500 && durable == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ASSERT_EQ(durable, 1);
  temp_dir copy;
  fs::copy(tmp.path(), copy.path(),
           fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  writer->stop();
  const fs::path crashed = segment(copy.path(), 1);
  ASSERT_GE(fs::file_size(crashed), 64u << 10) << "the zero fill is on disk";
  EXPECT_LT(fs::file_size(segment(tmp.path(), 1)), 64u << 10) << "stop() trims it";

  const replay_output out = replay(copy.path());
  expect_records(out.entries, records);
  EXPECT_FALSE(out.result.tail_truncated);
}

// Goal: a segment whose creation crashed is harmless. Method: a missing folder, a 0-byte
// segment, a 0-byte segment followed by a good one, and a partial header at the tail (which
// is truncated to 0 bytes).
TEST(wal, empty_segment_file_is_an_empty_log) {
  temp_dir tmp;
  const replay_output missing = replay(tmp.path() / "nope");
  EXPECT_EQ(missing.result.segments, 0u);
  EXPECT_EQ(missing.result.next_segment_number, 1u);
  EXPECT_FALSE(fs::exists(tmp.path() / "nope"));  // replay creates nothing

  write_bytes(segment(tmp.path(), 1), "");
  replay_output out = replay(tmp.path());
  EXPECT_TRUE(out.entries.empty());
  EXPECT_EQ(out.result.last_lsn, 0u);
  EXPECT_EQ(out.result.segments, 1u);
  EXPECT_EQ(out.result.next_segment_number, 2u);
  EXPECT_FALSE(out.result.tail_truncated);

  wal_options options = options_for(tmp.path());
  options.next_segment_number = 2;
  const std::vector<record> records = make_records(3);
  write_records(options, records);
  write_bytes(segment(tmp.path(), 3), std::string(wal_format::segment_magic.substr(0, 5)));
  out = replay(tmp.path());
  expect_records(out.entries, records);
  EXPECT_TRUE(out.result.tail_truncated);
  EXPECT_EQ(fs::file_size(segment(tmp.path(), 3)), 0u);
  EXPECT_EQ(out.result.next_segment_number, 4u);
}

// Goal: segments roll over at segment_bytes_max and replay reads across them. Method: 1 KiB
// segments, one record per batch (wait for each callback); then a second writer continues at
// the reported next segment number and LSN.
TEST(wal, segment_roll_over_spans_segments_on_replay) {
  temp_dir tmp;
  wal_options options = options_for(tmp.path());
  options.segment_bytes_max = 1024;
  std::vector<record> records = make_records(200);
  {
    wal_writer writer(options);
    completions done;
    for (const record& r : records) {
      writer.append(std::span(&r, 1), [&] { done.done(); });
      done.wait_for(writer.stats().appended_lsn);
    }
  }
  replay_output out = replay(tmp.path());
  expect_records(out.entries, records);
  EXPECT_GT(out.result.segments, 10u);
  EXPECT_EQ(out.result.next_segment_number, out.result.segments + 1);
  for (std::uint64_t n = 1; n < out.result.segments; ++n) {
    EXPECT_GE(fs::file_size(segment(tmp.path(), n)), 1024u) << "segment " << n;
  }

  options.next_lsn = out.result.last_lsn + 1;
  options.next_segment_number = out.result.next_segment_number;
  const std::vector<record> more = make_records(20);
  write_records(options, more);
  records.insert(records.end(), more.begin(), more.end());
  out = replay(tmp.path());
  expect_records(out.entries, records);
}

// Goal: a missing stretch of LSNs is corruption, whether it shows in a segment header or in a
// frame. Method: segment 1 holds LSNs 1..3; segment 2 starts at 10 (a lost segment), and
// separately a hand-built segment with header first_lsn 0 and a frame with LSN 10.
TEST(wal, lsn_gap_across_segments_is_corruption) {
  temp_dir tmp;
  write_records(options_for(tmp.path()), make_records(3));
  wal_options options = options_for(tmp.path());
  options.next_lsn = 10;
  options.next_segment_number = 2;
  write_records(options, make_records(2));
  try {
    replay(tmp.path());
    FAIL() << "replay accepted an LSN gap";
  } catch (const wal_corruption& e) {
    EXPECT_EQ(e.segment(), segment(tmp.path(), 2));
    EXPECT_NE(std::string(e.what()).find("gap"), std::string::npos) << e.what();
  }

  std::string bytes = wal_format::encode_segment_header(0);
  wal_format::append_frame(bytes, record_type::user_created, 0, 10, "x");
  write_bytes(segment(tmp.path(), 2), bytes);
  try {
    replay(tmp.path());
    FAIL() << "replay accepted an LSN gap";
  } catch (const wal_corruption& e) {
    EXPECT_EQ(e.segment(), segment(tmp.path(), 2));
    EXPECT_EQ(e.offset(), wal_format::segment_header_size);
  }
}

// Goal: a bad frame at the end of an earlier segment is corruption: only the last segment can
// have a torn tail, because the writer syncs a segment before starting the next.
TEST(wal, bad_frame_in_earlier_segment_is_corruption) {
  temp_dir tmp;
  write_records(options_for(tmp.path()), make_records(3));
  wal_options options = options_for(tmp.path());
  options.next_lsn = 4;
  options.next_segment_number = 2;
  write_records(options, make_records(3));
  const fs::path first = segment(tmp.path(), 1);
  flip_bit(first, fs::file_size(first) - 1);
  EXPECT_THROW(replay(tmp.path()), wal_corruption);
}

// Goal: after recovery truncates a torn tail, a new writer continues the LSN sequence in a new
// segment. Method: tear record 5, replay, reopen at last_lsn + 1 and next_segment_number.
TEST(wal, reopen_after_truncate_appends_with_next_lsn) {
  temp_dir tmp;
  std::vector<record> records = make_records(5);
  records[4].payload = "torn away";
  write_records(options_for(tmp.path()), records);
  fs::resize_file(segment(tmp.path(), 1), fs::file_size(segment(tmp.path(), 1)) - 3);
  const replay_output recovered = replay(tmp.path());
  ASSERT_TRUE(recovered.result.tail_truncated);
  ASSERT_EQ(recovered.result.last_lsn, 4u);

  wal_options options = options_for(tmp.path());
  options.next_lsn = recovered.result.last_lsn + 1;
  options.next_segment_number = recovered.result.next_segment_number;
  records.resize(4);
  const std::vector<record> more = make_records(3);
  {
    wal_writer writer(options);
    EXPECT_EQ(writer.durable_lsn(), 4u);
    EXPECT_EQ(writer.append(more, [] {}), 7u);
  }
  records.insert(records.end(), more.begin(), more.end());
  const replay_output out = replay(tmp.path());
  expect_records(out.entries, records);
  EXPECT_FALSE(out.result.tail_truncated);
  EXPECT_EQ(out.result.segments, 2u);
}

// Goal: in mode always no callback runs before its records are fdatasync'd. Method: 300
// appends without waiting; each callback notes durable_lsn() as it runs; afterwards every
// noted value is >= the LSN that append returned. Also: fsyncs are counted in the histogram.
TEST(wal, callbacks_fire_only_after_durable_in_mode_always) {
  temp_dir tmp;
  constexpr std::size_t count = 300;
  std::vector<lsn_t> returned(count, 0);
  std::vector<std::atomic<lsn_t>> seen(count);
  std::vector<std::atomic<int>> calls(count);
  const std::vector<record> records = make_records(count);
  wal_writer writer(options_for(tmp.path()));
  for (std::size_t i = 0; i < count; ++i) {
    returned[i] = writer.append(std::span(&records[i], 1), [&, i] {
      seen[i] = writer.durable_lsn();
      calls[i] += 1;
    });
  }
  writer.stop();
  for (std::size_t i = 0; i < count; ++i) {
    EXPECT_EQ(returned[i], i + 1);
    EXPECT_EQ(calls[i].load(), 1) << i;
    EXPECT_GE(seen[i].load(), returned[i]) << i;
  }
  const wal_stats stats = writer.stats();
  EXPECT_GE(stats.fsyncs_total, 1u);
  EXPECT_LE(stats.fsyncs_total, stats.batches_total);
  std::uint64_t bucketed = 0;
  for (std::uint64_t n : stats.fsync_buckets) bucketed += n;
  EXPECT_EQ(bucketed, stats.fsyncs_total);
  EXPECT_EQ(stats.durable_lsn, count);
  EXPECT_EQ(stats.appended_lsn, count);
}

// Goal: an append of no records waits only for what was appended before it. Method: with
// nothing pending its callback runs inline, before append returns; right after a record it
// runs only once that record is durable.
TEST(wal, empty_append_waits_only_for_earlier_records) {
  temp_dir tmp;
  wal_writer writer(options_for(tmp.path()));
  bool ran = false;
  EXPECT_EQ(writer.append({}, [&] { ran = true; }), 0u);
  EXPECT_TRUE(ran);

  const record r = make_record(1);
  writer.append(std::span(&r, 1), [] {});
  std::atomic<lsn_t> seen{0};
  completions done;
  EXPECT_EQ(writer.append({},
                          [&] {
                            seen = writer.durable_lsn();
                            done.done();
                          }),
            1u);
  done.wait_for(1);
  EXPECT_GE(seen.load(), 1u);
}

// Goal: appends from many threads get unique consecutive LSNs and each callback runs once.
// Method: 8 threads x 400 appends of 1..3 records; payloads name thread and sequence; replay
// gives LSNs 1..N and each thread's records in its own order.
TEST(wal, concurrent_appenders_from_8_threads) {
  temp_dir tmp;
  constexpr int threads = 8;
  constexpr int appends = 400;
  std::vector<std::atomic<int>> calls(threads * appends);
  std::atomic<std::uint64_t> records_appended{0};
  {
    wal_writer writer(options_for(tmp.path()));
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        for (int a = 0; a < appends; ++a) {
          std::vector<record> group(1 + (a + t) % 3);
          for (std::size_t k = 0; k < group.size(); ++k) {
            group[k].shard = static_cast<engine::shard_index>(t);
            group[k].type = record_type::balance_charged;
            group[k].payload = std::to_string(a * 3 + static_cast<int>(k));
          }
          records_appended += group.size();
          const int index = t * appends + a;
          writer.append(group, [&calls, index] { calls[index] += 1; });
        }
      });
    }
    for (std::thread& w : workers) w.join();
    writer.stop();
    EXPECT_EQ(writer.durable_lsn(), records_appended.load());
  }
  for (std::size_t i = 0; i < calls.size(); ++i) ASSERT_EQ(calls[i].load(), 1) << i;
  const replay_output out = replay(tmp.path());
  ASSERT_EQ(out.entries.size(), records_appended.load());
  std::vector<int> last_seq(threads, -1);
  for (std::size_t i = 0; i < out.entries.size(); ++i) {
    const replayed& e = out.entries[i];
    ASSERT_EQ(e.lsn, i + 1);
    const int seq = std::stoi(e.payload);
    ASSERT_GT(seq, last_seq[e.shard]) << "thread " << e.shard << " out of order";
    last_seq[e.shard] = seq;
  }
}

// Goal: stop() writes and syncs everything whatever the mode, and is idempotent; appending
// after it is a bug that throws. Method: for each mode, 100 appends, stop twice, replay.
TEST(wal, stop_flushes_everything) {
  for (fsync_mode mode : {fsync_mode::always, fsync_mode::batch, fsync_mode::off}) {
    temp_dir tmp;
    wal_options options = options_for(tmp.path(), mode);
    options.batch_interval_ms = 60'000;  // batch mode would not sync on its own during the test
    const std::vector<record> records = make_records(100);
    std::atomic<int> calls{0};
    wal_writer writer(options);
    for (const record& r : records) writer.append(std::span(&r, 1), [&] { calls += 1; });
    writer.stop();
    writer.stop();
    EXPECT_EQ(calls.load(), 100);
    EXPECT_EQ(writer.durable_lsn(), 100u);
    EXPECT_EQ(writer.stats().fsyncs_total >= 1, true);
    EXPECT_THROW(writer.append(std::span(&records[0], 1), [] {}), std::logic_error);
    expect_records(replay(tmp.path()).entries, records);
  }
}

// Goal: in batch mode the durable LSN catches up on the timer, without stop() or new appends.
// Method: 5 ms interval; append, then poll durable_lsn for up to 5 s.
std::uintmax_t directory_bytes(const std::filesystem::path& dir) {
  std::uintmax_t total = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.is_regular_file()) total += entry.file_size();
  }
  return total;
}

TEST(wal, batch_mode_syncs_on_its_interval) {
  temp_dir tmp;
  wal_options options = options_for(tmp.path(), fsync_mode::batch);
  options.batch_interval_ms = 5;
  wal_writer writer(options);
  const std::vector<record> records = make_records(10);
  // batch mode: the callback waits for the write(2), not for a sync.
  std::atomic<bool> called{false};
  std::atomic<std::uintmax_t> size_when_called{0};
  writer.append(records, [&] {
    size_when_called = directory_bytes(tmp.path());
    called = true;
  });
  for (int i = 0; i < 5000 && !called; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_TRUE(called);
  EXPECT_GT(size_when_called.load(), 16u * 10)
      << "the records were in the file when the callback ran";
  for (int i = 0; i < 5000 && writer.durable_lsn() < 10; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(writer.durable_lsn(), 10u);
  EXPECT_GE(writer.stats().fsyncs_total, 1u);
}

// Goal: recovery can skip what a snapshot already holds. Method: 50 records, replay after 20:
// on_record sees 21..50, while last_lsn still reports the end of the log.
TEST(wal, after_lsn_filter_skips_earlier_records) {
  temp_dir tmp;
  const std::vector<record> records = make_records(50);
  write_records(options_for(tmp.path()), records);
  const replay_output out = replay(tmp.path(), 20);
  expect_records(out.entries, std::vector(records.begin() + 20, records.end()), 21);
  EXPECT_EQ(out.result.records, 30u);
  EXPECT_EQ(out.result.last_lsn, 50u);
}

// Goal: a log whose segments hold no record still says where its LSNs had got to. Method: a
// writer opened at LSN 101 (say, after a snapshot) that appends nothing; replay reports 100.
TEST(wal, header_only_segment_reports_lsn_before_its_first) {
  temp_dir tmp;
  wal_options options = options_for(tmp.path());
  options.next_lsn = 101;
  write_records(options, {});
  const replay_output out = replay(tmp.path());
  EXPECT_EQ(out.result.last_lsn, 100u);
  EXPECT_EQ(out.result.records, 0u);
  EXPECT_FALSE(out.result.tail_truncated);
}

// Goal: the writer never overwrites a segment. Method: a second writer on the same number
// throws std::system_error naming the file.
TEST(wal, writer_refuses_an_existing_segment) {
  temp_dir tmp;
  write_records(options_for(tmp.path()), make_records(1));
  try {
    wal_writer writer(options_for(tmp.path()));
    FAIL() << "opened an existing segment";
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find(wal_format::segment_file_name(1)), std::string::npos);
  }
}

// Goal: every group commit carries its commit time, read back with each of its records.
// Method: a writer with a clock the test sets; records appended at two clock readings.
TEST(wal, records_carry_the_commit_time_of_their_group_commit) {
  temp_dir tmp;
  std::atomic<engine::time_ms> now{1'000};
  wal_options options = options_for(tmp.path());
  options.clock = [&] { return now.load(); };
  const std::vector<record> records = make_records(4);
  {
    wal_writer writer(options);
    std::atomic<int> durable{0};
    writer.append(std::span(records.data(), 2), [&] { ++durable; });
    while (durable.load() < 1) std::this_thread::yield();
    now = 2'000;
    writer.append(std::span(records.data() + 2, 2), [&] { ++durable; });
    writer.stop();
  }
  std::vector<engine::time_ms> times;
  replay_wal(tmp.path(), 0, [&](const wal_entry& e) { times.push_back(e.committed_at); });
  EXPECT_EQ(times, (std::vector<engine::time_ms>{1'000, 1'000, 2'000, 2'000}));
}

// Goal: a log written by the previous format (ECOMWAL1, no commit times) is still read.
// Method: rewrite a segment's magic to version 1 and drop its commit-time frames.
TEST(wal, a_version_1_segment_is_still_read_without_commit_times) {
  temp_dir tmp;
  const std::vector<record> records = make_records(3);
  std::string v1(wal_format::segment_magic_v1);
  v1.append(8, '\0');
  wal_format::store_le<std::uint64_t>(v1.data() + 8, 1);
  for (std::size_t i = 0; i < records.size(); ++i)
    wal_format::append_frame(v1, records[i].type, records[i].shard, i + 1, records[i].payload);
  fs::create_directories(tmp.path());
  write_bytes(segment(tmp.path(), 1), v1);
  std::vector<engine::time_ms> times;
  const replay_output out = replay(tmp.path());
  expect_records(out.entries, records);
  replay_wal(tmp.path(), 0, [&](const wal_entry& e) { times.push_back(e.committed_at); });
  EXPECT_EQ(times, (std::vector<engine::time_ms>{0, 0, 0}));
}

// Goal: tools read a log without changing it: a torn tail is reported, not truncated.
TEST(wal, a_read_only_read_reports_a_torn_tail_and_changes_nothing) {
  temp_dir tmp;
  write_records(options_for(tmp.path()), make_records(5));
  const fs::path path = segment(tmp.path(), 1);
  write_bytes(path, read_bytes(path) + std::string("\x12\x34\x56", 3));
  const std::string before = read_bytes(path);
  wal_read_options options;
  options.read_only = true;
  std::size_t seen = 0;
  replay_result result = read_wal(tmp.path(), options, [&](const wal_entry&) { ++seen; });
  EXPECT_EQ(seen, 5u);
  EXPECT_TRUE(result.tail_found);
  EXPECT_FALSE(result.tail_truncated);
  EXPECT_EQ(result.tail_segment, path);
  EXPECT_EQ(result.tail_lsn, 6u);
  EXPECT_EQ(read_bytes(path), before);
}

// Goal: a WAL a tool builds (ecom-snapshot restore) is the server's layout: several segments
// when it passes the segment size, each naming its first LSN, commit times kept record by
// record, and read back whole by the reader recovery uses.
TEST(wal, a_segment_sink_writes_segments_the_reader_reads_back_with_their_commit_times) {
  temp_dir tmp;
  const std::vector<engine::record> records = make_records(60);
  {
    wal_segment_sink sink(tmp.path(), 41, 300);  // a few records per segment
    for (std::size_t i = 0; i < records.size(); ++i) {
      sink.append(records[i].type, records[i].shard, 41 + i, records[i].payload,
                  i < 10 ? 0 : 1'700'000'000'000 + static_cast<engine::time_ms>(i / 7));
    }
    EXPECT_GT(sink.finish(), 5u);
  }
  const std::vector<segment_file> segments = list_segments(tmp.path());
  ASSERT_GT(segments.size(), 5u);
  EXPECT_EQ(segments.front().first_lsn, 41u);
  std::size_t frame_max = 0;  // a segment passes the size by at most its last frame
  for (const auto& r : records) frame_max = std::max(frame_max, r.payload.size());
  frame_max += wal_format::frame_header_size + wal_format::commit_time_frame_size;
  for (const auto& s : segments) EXPECT_LT(s.bytes, 300u + frame_max) << s.path;
  std::vector<wal_entry> seen;
  std::vector<std::string> payloads;
  replay_result result = read_wal(tmp.path(), wal_read_options{}, [&](const wal_entry& e) {
    seen.push_back(e);
    payloads.emplace_back(e.payload);
  });
  ASSERT_EQ(seen.size(), records.size());
  EXPECT_EQ(result.last_lsn, 100u);
  for (std::size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].lsn, 41 + i);
    EXPECT_EQ(payloads[i], records[i].payload);
    EXPECT_EQ(seen[i].committed_at,
              i < 10 ? 0 : 1'700'000'000'000 + static_cast<engine::time_ms>(i / 7))
        << "lsn " << seen[i].lsn;
  }
  // No record: one segment whose header says where the log goes on.
  temp_dir empty;
  EXPECT_EQ(wal_segment_sink(empty.path(), 77, 300).finish(), 1u);
  ASSERT_EQ(list_segments(empty.path()).size(), 1u);
  EXPECT_EQ(list_segments(empty.path()).front().first_lsn, 77u);
}

}  // namespace
}  // namespace ecom::persistence
