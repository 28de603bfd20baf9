// Recovery from the WAL on start-up, on the real ecomd: a torn tail (a crash in the middle of
// an append) is truncated and logged and every acknowledged change is back; damage in the
// middle of the log stops the start with a message naming the segment and byte offset, and
// the server does not serve a state that silently lost records.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include "tests/support/api.h"
#include "tests/support/server_process.h"

namespace ecom::test {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> segments(const std::string& data_dir) {
  std::vector<fs::path> out;
  for (const auto& entry : fs::directory_iterator(fs::path(data_dir) / "wal")) {
    if (entry.path().extension() == ".wal") out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Where a segment's frames end: the writer keeps zeros after them (a frame's LSN is never 0),
// and the file may end there too.
std::uint64_t frames_end(const fs::path& segment) {
  std::ifstream in(segment, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::uint64_t offset = 16;
  while (offset + 20 <= bytes.size()) {
    std::uint32_t payload_size = 0;
    std::uint64_t lsn = 0;
    std::memcpy(&payload_size, bytes.data() + offset + 4, 4);
    std::memcpy(&lsn, bytes.data() + offset + 12, 8);
    if (lsn == 0) break;
    offset += 20 + payload_size;
  }
  return offset;
}

// The newest segment that holds a frame.
fs::path segment_with_records(const std::string& data_dir) {
  auto all = segments(data_dir);
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    if (frames_end(*it) > 16) return *it;
  }
  throw std::runtime_error("no segment with records");
}

TEST(recovery, torn_tail_is_truncated_and_acknowledged_charges_survive) {
  server_process server;
  http_client client(server.port());
  session user = sign_up_and_login(client, "torn");
  for (int i = 1; i <= 5; ++i)
    ASSERT_EQ(charge(client, user.user_id, user.access_token, i).status, 200);
  server.kill_hard();
  // A crash in the middle of an append: half a frame header right after the last frame of the
  // live segment, where the writer's zero fill was.
  fs::path live = segment_with_records(server.data_dir());
  const std::uint64_t good_end = frames_end(live);
  {
    std::fstream out(live, std::ios::binary | std::ios::in | std::ios::out);
    out.seekp(static_cast<std::streamoff>(good_end));
    out.write("\x12\x34\x56\x78\x09\x00\x00", 7);
  }
  server.restart();
  EXPECT_NE(server.stderr_text().find("torn"), std::string::npos) << server.stderr_text();
  EXPECT_EQ(fs::file_size(live), good_end) << "the torn bytes are cut off";
  client.set_port(server.port());
  EXPECT_EQ(fetch_balance(client, user.user_id, user.access_token), 15);
  auto history = fetch_history(client, user.user_id, user.access_token);
  EXPECT_EQ(history.size(), 5u);
  EXPECT_TRUE(history_consistent(history, 15));
  // And the server keeps writing after the truncation.
  EXPECT_EQ(charge(client, user.user_id, user.access_token, 100).status, 200);
  server.restart();
  client.set_port(server.port());
  EXPECT_EQ(fetch_balance(client, user.user_id, user.access_token), 115);
}

TEST(recovery, corruption_in_the_middle_refuses_to_start_and_names_segment_and_offset) {
  server_process server;
  http_client client(server.port());
  session user = sign_up_and_login(client, "corrupt");
  for (int i = 1; i <= 5; ++i)
    ASSERT_EQ(charge(client, user.user_id, user.access_token, i).status, 200);
  ASSERT_EQ(server.terminate(), 0);
  // Flip one payload byte of the first frame: later frames follow it, so this is not a torn tail.
  fs::path damaged = segment_with_records(server.data_dir());
  {
    std::fstream file(damaged, std::ios::binary | std::ios::in | std::ios::out);
    file.seekg(16 + 20 + 3);
    char byte = 0;
    file.read(&byte, 1);
    byte = static_cast<char>(byte ^ 0x40);
    file.seekp(16 + 20 + 3);
    file.write(&byte, 1);
  }
  std::string message;
  try {
    server.restart();
  } catch (const std::runtime_error& e) {
    message = e.what();
  }
  ASSERT_FALSE(message.empty()) << "the server started on a corrupt log";
  std::string log = server.stderr_text();
  EXPECT_NE(log.find(damaged.filename().string()), std::string::npos) << log;
  EXPECT_NE(log.find("at byte"), std::string::npos) << log;
  EXPECT_NE(log.find("refusing to start"), std::string::npos) << log;
}

}  // namespace
}  // namespace ecom::test
