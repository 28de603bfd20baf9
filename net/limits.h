// net/limits.h: the HTTP edge's own bounds, in one place (the domain's are engine/limits.h,
// which the edge also checks requests against). Names end in their unit or qualifier.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

#include "engine/limits.h"

namespace ecom::net {

// ---- one request -----------------------------------------------------------------------------
inline constexpr std::size_t body_bytes_max = 1 << 20;          // 413 beyond (API.md: 1 MiB)
inline constexpr std::size_t header_bytes_max = 16 << 10;       // 431 beyond (API.md: 16 KiB)
inline constexpr std::size_t json_depth_max = 64;               // nesting of a request body
inline constexpr std::size_t idempotency_key_length_max = 255;  // visible ASCII
inline constexpr std::size_t request_id_length_max = 128;       // X-Request-Id echoed
inline constexpr std::size_t password_length_min = 8;           // code points
inline constexpr std::size_t password_length_max = 128;
inline constexpr std::size_t refresh_token_length_max = 512;
inline constexpr std::size_t bulk_name_prefix_length_max = 80;
inline constexpr std::int64_t path_id_max = INT64_MAX;

// ---- one connection --------------------------------------------------------------------------
inline constexpr std::size_t read_chunk_bytes = 4096;  // a request's first read; drain reads
// A connection going idle keeps its reply buffer for the next reply up to this capacity; a
// larger one (a long list) is freed, so idle connections do not each hold their largest reply.
inline constexpr std::size_t idle_reply_capacity_bytes_max = 1 << 10;
// A body's buffer is reserved up to this from its Content-Length; beyond, it grows with the bytes.
inline constexpr std::uint64_t body_reserve_bytes_max = 16 << 10;
// After a 413 or 431 the rest of the request is read and dropped (up to this much, for up to
// drain_timeout) so that closing does not reset the connection before the client reads it.
inline constexpr std::size_t drain_bytes_max = 64 << 20;
inline constexpr auto drain_timeout = std::chrono::seconds(5);
inline constexpr auto shutdown_drain_timeout = std::chrono::seconds(10);

// ---- the process -----------------------------------------------------------------------------
// Open files beyond --connections-max: the WAL's segments, snapshots' LMDB files, the listener,
// epoll and timer descriptors. ecomd raises its soft open-file limit to the hard one at
// start-up and warns when that is below connections_max plus this.
inline constexpr std::uint32_t descriptors_reserved = 256;

// ---- password hashing (password_hash_queue.h) -------------------------------------------------
// Threads that hash passwords (PBKDF2); jobs waiting for them at most (--password-hash-queue-max,
// beyond: 503 OVERLOADED), of which one email holds at most password_hash_per_email_max.
inline constexpr std::size_t password_hash_threads = 2;
inline constexpr std::size_t password_hash_queue_max_default = 64;
inline constexpr std::size_t password_hash_queue_max_max = 100'000;
inline constexpr std::size_t password_hash_per_email_max = 2;

// ---- flags' bounds ---------------------------------------------------------------------------
inline constexpr std::uint32_t io_threads_max = 256;
inline constexpr std::uint32_t kdf_iterations_max = 10'000'000;
inline constexpr std::uint32_t snapshots_keep_max = 1000;  // --snapshots-keep
// Replication flags (OPERATIONS.md §3). JetStream allows at most 5 replicas of a stream.
inline constexpr std::uint32_t replication_replicas_max = 5;          // --replication-replicas
inline constexpr std::size_t replication_stream_name_max = 64;        // --replication-stream
inline constexpr std::uint32_t replication_timeout_ms_max = 600'000;  // --replication-timeout-ms
inline constexpr std::uint32_t wal_zero_fill_kib_max = 1u << 20;      // 1 GiB

static_assert(body_bytes_max % (1 << 10) == 0, "problem details print it in KiB/MiB");
static_assert(header_bytes_max < body_bytes_max);
static_assert(read_chunk_bytes <= header_bytes_max);

}  // namespace ecom::net
