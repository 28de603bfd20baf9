// nats_stream: the replication stream on NATS JetStream, as the rest of ecomd sees it: a
// numbered sequence of messages, each holding consecutive WAL frames, that one primary
// appends to (each append stating the sequence it follows) and standbys read. The only file
// that includes the NATS C client (cnats). One object per thread; it reconnects by itself.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "engine/types.h"

namespace ecom::persistence {

struct nats_stream_options {
  std::string urls;    // "nats://host:port[,nats://host:port...]"
  std::string stream;  // the stream's name; its one subject is `<stream>.wal`
  std::uint32_t replicas = 1;
  std::string description;          // set when create() makes the stream
  std::uint32_t timeout_ms = 2000;  // each request (info, get, follow) waits at most this long
  // One publish waits at most this long for its ack; the replicator retries the same append
  // (de-duplicated) and judges the overall timeout itself, between tries.
  std::uint32_t publish_wait_ms = 500;
};

// One message of the stream: the frames of LSNs first_lsn .. last_lsn (wal_format.h).
struct stream_message {
  std::uint64_t seq = 0;
  engine::lsn_t first_lsn = 0;
  engine::lsn_t last_lsn = 0;
  std::string fingerprint;  // of the data dir that wrote it (token secret, shard count)
  std::string data;
  std::uint64_t pending = 0;  // following: messages after this one, as the server counted
};

struct stream_state {
  std::uint64_t first_seq = 0;  // 0 with last_seq 0: empty
  std::uint64_t last_seq = 0;
  std::uint64_t messages = 0;
  std::string description;
};

enum class nats_result : std::uint8_t {
  ok,
  not_found,       // no such stream, or no message at that sequence, or none within the wait
  wrong_last_seq,  // publish: the stream's last message is not the one this append follows
  unavailable,     // no answer in time, no connection, or an error (see `error`)
};

class nats_stream {
 public:
  explicit nats_stream(nats_stream_options options);
  ~nats_stream();
  nats_stream(const nats_stream&) = delete;
  nats_stream& operator=(const nats_stream&) = delete;

  // Connects (the first time: waits at most timeout_ms; afterwards the client keeps
  // reconnecting in the background). `ok` once connected; `unavailable` while not.
  nats_result connect(std::string& error);
  bool connected() const;
  const nats_stream_options& options() const { return options_; }

  nats_result info(stream_state& out, std::string& error);
  // Makes the stream (file storage, `replicas`, `description`) if it is missing.
  nats_result create(std::string& error);
  nats_result get(std::uint64_t seq, stream_message& out, std::string& error);
  // Appends `frames` (LSNs first..last) if the stream's last sequence is `expect_last_seq`
  // (0: empty). `msg_id` makes a retry of the same append a no-op (JetStream's de-duplication
  // window): the retry answers `ok` with the first one's sequence.
  nats_result publish(std::string_view frames, engine::lsn_t first, engine::lsn_t last,
                      const std::string& fingerprint, std::uint64_t expect_last_seq,
                      const std::string& msg_id, std::uint64_t& seq, std::string& error);
  // Reading in order from `from_seq` (an ordered consumer: it re-creates itself after a
  // reconnect or a gap). next(): `not_found` when nothing came within `wait_ms`.
  nats_result follow(std::uint64_t from_seq, std::string& error);
  nats_result next(std::uint32_t wait_ms, stream_message& out, std::string& error);
  void unfollow();

  // Any thread: closes the connection, so that a request in progress on another thread ends
  // now (stopping) instead of at its timeout. Later requests fail at once.
  void interrupt();

  // At the process's end, once every nats_stream is gone: the client's threads and memory
  // (nothing to do when none was made). Waits at most 1 s.
  static void close_library();

  // A thread that used the client calls this before it ends (the client's per-thread memory).
  static void release_thread();

  // The largest message the server takes (its max_payload), once connected; else 1 MiB.
  std::size_t max_payload() const;

 private:
  struct handles;
  nats_stream_options options_;
  std::string subject_;
  std::unique_ptr<handles> h_;
  std::atomic<void*> interruptible_{nullptr};  // the connection, once made (for interrupt())
};

}  // namespace ecom::persistence
