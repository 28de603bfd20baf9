// wal_tail: what the replication publisher reads from a live WAL. The frames it hands out are
// the writer's, byte for byte, in LSN order across segment roll-overs, never past the bound
// it is given, while the writer is still appending.
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "persistence/crc32c.h"
#include "persistence/wal_format.h"
#include "persistence/wal_reader.h"
#include "persistence/wal_tail.h"
#include "persistence/wal_writer.h"
#include "tests/persistence/temp_dir.h"

namespace ecom::persistence {
namespace {

using engine::lsn_t;
using testing_support::temp_dir;

engine::record record_of(std::uint64_t i) {
  engine::record r;
  r.type = static_cast<engine::record_type>(1 + i % 5);
  r.shard = static_cast<engine::shard_index>(i % 3);
  r.payload = "payload-" + std::to_string(i) + std::string(i % 200, 'x');
  return r;
}

struct frame {
  wal_format::frame_header header;
  std::string payload;
};

// Splits what read() appended into frames, checking each CRC.
std::vector<frame> frames_of(const std::string& bytes) {
  std::vector<frame> out;
  std::size_t at = 0;
  while (at < bytes.size()) {
    EXPECT_LE(at + wal_format::frame_header_size, bytes.size());
    frame f;
    f.header = wal_format::decode_frame_header(bytes.data() + at);
    f.payload = bytes.substr(at + wal_format::frame_header_size, f.header.payload_size);
    EXPECT_EQ(crc32c::unmask(f.header.masked_crc),
              wal_format::frame_crc(bytes.data() + at, f.payload))
        << "lsn " << f.header.lsn;
    at += wal_format::frame_header_size + f.header.payload_size;
    out.push_back(std::move(f));
  }
  return out;
}

wal_options small_segments(const std::filesystem::path& dir) {
  wal_options options;
  options.dir = dir;
  options.segment_bytes_max = 4096;  // many roll-overs
  options.zero_fill_bytes = 64 * 1024;
  options.mode = fsync_mode::off;  // durable = written: quick, and enough for a reader
  return options;
}

// Goal: every record comes out once, in LSN order, with its type, shard and payload, across
// segment roll-overs; commit-time frames are left out.
// Method: 600 records appended in groups of 1..4 into 4 KiB segments, then read from LSN 1 in
// reads of at most 1 KiB each.
TEST(wal_tail, reads_every_record_in_order_across_segments) {
  temp_dir tmp;
  wal_writer writer(small_segments(tmp.path()));
  std::uint64_t appended = 0;
  while (appended < 600) {
    std::vector<engine::record> group;
    for (std::uint64_t k = 0; k < 1 + appended % 4 && appended < 600; ++k)
      group.push_back(record_of(appended++));
    writer.append(group, {});
    // One group commit at a time, so that segments roll over between them.
    while (writer.durable_lsn() < appended) std::this_thread::yield();
  }
  writer.append({}, [] {});  // a barrier: all of it durable
  while (writer.durable_lsn() < 600) std::this_thread::yield();
  ASSERT_GT(list_segments(tmp.path()).size(), 10u);

  wal_tail tail(tmp.path());
  ASSERT_TRUE(tail.seek(1));
  std::string bytes;
  std::size_t reads = 0;
  while (tail.next_lsn() <= 600) {
    const std::size_t before = bytes.size();
    ASSERT_GT(tail.read(600, 1024, bytes), 0u);
    // At most the limit, except a single frame larger than it.
    const auto got = frames_of(bytes.substr(before));
    if (got.size() > 1) {
      EXPECT_LE(bytes.size() - before, 1024u);
    }
    ++reads;
  }
  EXPECT_GT(reads, 20u);
  const auto got = frames_of(bytes);
  ASSERT_EQ(got.size(), 600u);
  for (std::uint64_t i = 0; i < 600; ++i) {
    const engine::record want = record_of(i);
    EXPECT_EQ(got[i].header.lsn, i + 1);
    EXPECT_EQ(got[i].header.type, static_cast<std::uint16_t>(want.type));
    EXPECT_EQ(got[i].header.shard, want.shard);
    EXPECT_EQ(got[i].payload, want.payload);
  }
  writer.stop();
}

// Goal: a read never passes its bound, and picks up what the writer appended since; seek()
// lands on any LSN the folder holds, and says no for one it does not.
// Method: append, read to the durable LSN, append more, read again; seek into the middle;
// seek past the end.
TEST(wal_tail, follows_a_live_writer_up_to_the_bound) {
  temp_dir tmp;
  wal_writer writer(small_segments(tmp.path()));
  std::vector<engine::record> first;
  for (std::uint64_t i = 0; i < 50; ++i) first.push_back(record_of(i));
  writer.append(first, {});
  writer.append({}, [] {});
  while (writer.durable_lsn() < 50) std::this_thread::yield();

  wal_tail tail(tmp.path());
  ASSERT_TRUE(tail.seek(1));
  std::string bytes;
  EXPECT_EQ(tail.read(20, 1 << 20, bytes), 20u);  // the bound, not the end
  EXPECT_EQ(tail.next_lsn(), 21u);
  EXPECT_EQ(tail.read(50, 1 << 20, bytes), 30u);
  EXPECT_EQ(tail.read(50, 1 << 20, bytes), 0u);  // nothing due

  for (std::uint64_t i = 50; i < 120; ++i) {
    const engine::record r = record_of(i);
    writer.append(std::span(&r, 1), {});
  }
  writer.append({}, [] {});
  while (writer.durable_lsn() < 120) std::this_thread::yield();
  EXPECT_EQ(tail.read(120, 1 << 20, bytes), 70u);
  const auto got = frames_of(bytes);
  ASSERT_EQ(got.size(), 120u);
  EXPECT_EQ(got.back().header.lsn, 120u);

  wal_tail middle(tmp.path());
  ASSERT_TRUE(middle.seek(77));
  std::string one;
  ASSERT_EQ(middle.read(77, 1, one), 1u);
  EXPECT_EQ(frames_of(one).front().payload, record_of(76).payload);
  EXPECT_FALSE(wal_tail(tmp.path()).seek(121));

  // The stored CRC identifies a record: the frame's own, for any LSN held; none past the end.
  const auto crc = wal_tail::frame_crc_of(tmp.path(), 77);
  ASSERT_TRUE(crc.has_value());
  EXPECT_EQ(*crc, frames_of(one).front().header.masked_crc);
  EXPECT_NE(*crc, wal_tail::frame_crc_of(tmp.path(), 78).value());
  EXPECT_FALSE(wal_tail::frame_crc_of(tmp.path(), 500).has_value());
  writer.stop();
}

// Goal: damage below the bound is an error naming the place, never frames made up.
// Method: flip a payload byte of a middle record in a stopped WAL; read across it.
TEST(wal_tail, damaged_frame_below_the_bound_throws) {
  temp_dir tmp;
  {
    wal_writer writer(small_segments(tmp.path()));
    std::vector<engine::record> records;
    for (std::uint64_t i = 0; i < 10; ++i) records.push_back(record_of(i));
    writer.append(records, {});
    writer.stop();
  }
  const auto segments = list_segments(tmp.path());
  ASSERT_FALSE(segments.empty());
  std::string bytes;
  {
    std::FILE* f = std::fopen(segments.front().path.c_str(), "r+b");
    ASSERT_NE(f, nullptr);
    // Past the header, the commit-time frame and the first record frame: inside a payload.
    std::fseek(f, 16 + 28 + 20 + 30 + 20 + 5, SEEK_SET);
    std::fputc('!', f);
    std::fclose(f);
  }
  wal_tail tail(tmp.path());
  ASSERT_TRUE(tail.seek(1));
  EXPECT_THROW(tail.read(10, 1 << 20, bytes), std::runtime_error);
}

}  // namespace
}  // namespace ecom::persistence
