// replication_port: what the HTTP layer asks of replication (persistence/replication.h),
// without linking it: a server's role, the LSN it holds, the waits of read-your-writes and of
// stream acknowledgements, promotion and the figures. Null in a server that does not replicate.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "engine/types.h"

namespace ecom::persistence {

// How long a standby holds a read for X-Ecomd-Min-Lsn before 503 REPLICA_BEHIND.
inline constexpr std::uint32_t replica_wait_ms_max = 1000;

enum class replication_role : std::uint8_t { none, primary, standby };
enum class replication_ack : std::uint8_t { local, stream };

struct replication_status {
  replication_role role = replication_role::none;
  std::string stream;
  const char* state = "off";  // off, connecting, publishing, following, unavailable, fenced
  engine::lsn_t lsn = 0;      // primary: acked by the stream; standby: applied
  engine::lsn_t lag_records =
      0;                         // primary: durable, not acked; standby: in the stream, not applied
  std::uint64_t stream_seq = 0;  // the last sequence appended (primary) or read (standby)
  std::uint64_t messages_published = 0;
  std::uint64_t records_published = 0;
  std::uint64_t publish_errors = 0;
  std::uint64_t messages_applied = 0;
  std::uint64_t records_applied = 0;
  bool fenced = false;
};

enum class promote_outcome : std::uint8_t { promoted, not_standby, unavailable };
using promote_callback = std::function<void(promote_outcome, engine::lsn_t)>;

class replication_port {
 public:
  virtual ~replication_port() = default;
  virtual replication_role role() const = 0;
  // What this server holds, for X-Ecomd-Lsn: applied (standby), or durable here (primary).
  virtual engine::lsn_t applied_lsn() const = 0;
  // Read when the engine hands an answer over (on the WAL writer's or a shard's thread): at or
  // past the LSN of every change the answer rests on, and close to it (a primary: the WAL's
  // written LSN; a standby: applied). What a change's 2xx waits on and carries.
  virtual engine::lsn_t answer_lsn() const = 0;
  // A primary that answers a change only once the stream acknowledged it.
  virtual bool acks_from_stream() const = 0;
  // done(true) once the stream acknowledged `lsn` (stream-ack mode; at once otherwise);
  // done(false) when it did not in time, or this server is fenced. done runs on any thread.
  virtual void when_acked(engine::lsn_t lsn, std::function<void(bool)> done) = 0;
  // A standby: done(true) once it applied `lsn`; done(false) after `wait_ms`.
  virtual void when_applied(engine::lsn_t lsn, std::uint32_t wait_ms,
                            std::function<void(bool)> done) = 0;
  // POST /admin/promote; done runs on any thread.
  virtual void promote(promote_callback done) = 0;
  virtual replication_status status() const = 0;
};

}  // namespace ecom::persistence
