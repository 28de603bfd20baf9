// flags: ecomd's command-line flags (each also read from ECOM_<FLAG>), their defaults and
// bounds, parsed into one settings value (Boost.Program_options; `ecomd --help` lists them).
#pragma once

#include <cstdint>
#include <string>

#include "engine/limits.h"
#include "net/api.h"
#include "net/http_server.h"
#include "net/limits.h"

namespace ecom::net {

struct settings {
  server_options server;
  std::string data_dir = "./data";
  std::uint32_t shards = 0;  // 0: the stored count, or the core count for a new data dir
  std::string fsync = "always";
  std::string log_level = "info";
  bool seed_demo = false;
  std::size_t mailbox_depth_max = engine::mailbox_depth_max_default;
  // Logins: password hashes waiting at most (beyond: 503), emails the throttle keeps at most.
  std::size_t password_hash_queue_max = password_hash_queue_max_default;
  std::size_t login_throttle_emails_max = engine::login_throttle_emails_max_default;
  std::uint32_t wal_zero_fill_kib = 4096;
  // Snapshots (OPERATIONS.md §1; persistence/snapshotter.h).
  std::uint64_t snapshot_every_records = 1'000'000;  // 0: never
  std::uint64_t snapshot_every_s = 0;                // 0: never
  std::uint32_t snapshots_keep = 2;                  // at least 1
  std::string wal_archive_dir;                       // empty: trimmed segments are deleted
  std::int64_t clock_offset_ms = 0;                  // testing only
  // Replication through NATS JetStream (OPERATIONS.md §3; persistence/replication.h).
  std::string replicate_to;  // a primary: the NATS URLs
  std::string follow;        // a standby: the NATS URLs
  std::string replication_stream = "ecomd";
  std::uint32_t replication_replicas = 1;
  std::string replication_ack = "local";
  std::uint32_t replication_timeout_ms = 2000;
  api_options api;
};

// 0: go on; 1: --help was printed (exit 0); 2: bad flags (printed; exit 2). Sets the log level.
int parse_flags(int argc, char** argv, settings& out);

}  // namespace ecom::net
