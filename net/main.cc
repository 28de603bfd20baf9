// ecomd: flags, wiring and signals. The start-up sequence itself is persistence::recover's
// (shared with offline tools); the engine is reached through engine::gateway only.
//
// Start-up order: listen first (so /healthz answers and /readyz says 503 NOT_READY while the
// data dir recovers), recover (replay, open the WAL, start the shards on the io threads, redo
// what a crash cut off, expire what expired while down), seed demo data once, then turn ready.
// Shutdown (SIGINT/SIGTERM): stop accepting, answer parked long polls, let in-flight requests
// finish, stop the io threads, drain the shards, flush and fsync the WAL, exit 0.
#include <sys/resource.h>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include "engine/gateway.h"
#include "engine/shard_set.h"
#include "net/api.h"
#include "net/auth.h"
#include "net/flags.h"
#include "net/http_server.h"
#include "net/limits.h"
#include "net/log.h"
#include "net/metrics.h"
#include "net/password_hash_queue.h"
#include "net/seed.h"
#include "net/wal_metrics.h"
#include "persistence/data_dir.h"
#include "persistence/nats_stream.h"
#include "persistence/recovery.h"
#include "persistence/replication.h"
#include "persistence/snapshotter.h"
#include "persistence/wal_writer.h"

using namespace ecom;

namespace {

// Testing only (--clock-offset-ms): lets an end-to-end test jump past expiries across a
// restart. Set once before any thread starts.
std::int64_t clock_offset_ms = 0;

std::int64_t wall_clock_ms() {
  return clock_offset_ms + std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
}

persistence::fsync_mode fsync_mode_of(const std::string& text) {
  if (text == "batch") return persistence::fsync_mode::batch;
  if (text == "off") return persistence::fsync_mode::off;
  return persistence::fsync_mode::always;
}

// The soft limit on open files is often 1,024 while the hard one is far higher: raised here to
// the hard limit, or else accept fails with EMFILE long before the cap and connections past it
// wait unanswered in the backlog instead of getting 503. The whole hard limit, not just
// --connections-max + descriptors_reserved: connections refused over the cap hold a descriptor
// too until they are drained.
void raise_open_files_limit(std::uint32_t connections_max) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  const rlim_t wanted = rlim_t{connections_max} + net::descriptors_reserved;
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    // An unlimited hard limit still has the kernel's per-process cap (fs.nr_open): ask for room
    // to refuse as many connections again as the cap lets in.
    raised.rlim_cur = limit.rlim_max == RLIM_INFINITY ? 2 * wanted : limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < wanted) {
    net::log_line(net::log_level::warn,
                  "open-file limit %llu is below --connections-max %u + %u: connections past it "
                  "wait unanswered instead of getting 503 (raise the hard limit: ulimit -Hn)",
                  static_cast<unsigned long long>(limit.rlim_cur), connections_max,
                  net::descriptors_reserved);
  }
}

// Prometheus lines for the replication figures (OPERATIONS.md §3).
void render_replication_metrics(const persistence::replication_status& r, std::string& out) {
  const auto line = [&out](const char* type, const char* name, std::uint64_t value) {
    out += "# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
    out += name;
    out += ' ';
    out += std::to_string(value);
    out += '\n';
  };
  line("gauge", "ecomd_replication_lag_records", r.lag_records);
  line("gauge", "ecomd_replication_lsn", r.lsn);
  line("gauge", "ecomd_replication_fenced", r.fenced ? 1 : 0);
  line("counter", "ecomd_replication_messages_published_total", r.messages_published);
  line("counter", "ecomd_replication_records_published_total", r.records_published);
  line("counter", "ecomd_replication_publish_errors_total", r.publish_errors);
  line("counter", "ecomd_replication_messages_applied_total", r.messages_applied);
  line("counter", "ecomd_replication_records_applied_total", r.records_applied);
}

// The signal handler runs on an io thread and must not block: it hands the signal to main.
class stop_signal {
 public:
  void raise(int signal) {
    {
      std::lock_guard lock(mutex_);
      signal_ = signal;
    }
    raised_.notify_all();
  }
  int wait() {
    std::unique_lock lock(mutex_);
    raised_.wait(lock, [&] { return signal_ != 0; });
    return signal_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable raised_;
  int signal_ = 0;
};

int serve(net::settings& s) {
  raise_open_files_limit(s.server.connections_max);
  unsigned hardware = std::max(1u, std::thread::hardware_concurrency());
  persistence::data_dir dir(s.data_dir, s.shards, std::min(hardware, engine::shard_count_max));
  net::log_line(net::log_level::info, "data dir %s: %u shards%s", dir.path().c_str(),
                dir.shard_count(), dir.created_now() ? " (new)" : "");
  std::atomic<bool> ready{false};
  engine::shard_set shards(dir.shard_count(), s.mailbox_depth_max, wall_clock_ms,
                           s.login_throttle_emails_max);
  engine::gateway engine(shards);
  // Read by /metrics and /admin/stats from io threads while recovery is still opening it.
  std::atomic<persistence::wal_writer*> wal{nullptr};
  std::atomic<persistence::snapshotter*> snapshots{nullptr};
  auto wal_stats = [&wal] {
    auto* writer = wal.load(std::memory_order_acquire);
    return writer ? writer->stats() : persistence::wal_stats{};
  };
  net::token_signer signer(dir.token_secret());
  // Replication: a primary (--replicate-to) or a standby (--follow), or neither.
  persistence::replication_options replication_options;
  if (!s.replicate_to.empty() || !s.follow.empty()) {
    replication_options.role = s.follow.empty() ? persistence::replication_role::primary
                                                : persistence::replication_role::standby;
    replication_options.urls = s.follow.empty() ? s.replicate_to : s.follow;
    replication_options.stream = s.replication_stream;
    replication_options.replicas = s.replication_replicas;
    replication_options.ack = s.replication_ack == "stream" ? persistence::replication_ack::stream
                                                            : persistence::replication_ack::local;
    replication_options.timeout_ms = s.replication_timeout_ms;
    replication_options.fingerprint =
        persistence::replication_fingerprint(dir.token_secret(), dir.shard_count());
    replication_options.wal_dir = dir.wal_path();
    replication_options.data_dir = dir.path();
    replication_options.log_info = [](const std::string& line) {
      net::log_line(net::log_level::info, "%s", line.c_str());
    };
    replication_options.log_warn = [](const std::string& line) {
      net::log_line(net::log_level::warn, "%s", line.c_str());
    };
  }
  const bool standby = replication_options.role == persistence::replication_role::standby;
  stop_signal stop;
  std::atomic<bool> failed{false};
  replication_options.fatal = [&stop, &failed](const std::string& line) {
    net::log_line(net::log_level::error, "%s", line.c_str());
    failed.store(true);
    stop.raise(-1);
  };
  replication_options.caught_up = [&ready] { ready.store(true, std::memory_order_release); };
  persistence::replicator replicator(replication_options, shards, engine);
  boost::asio::thread_pool slow_work(2);
  net::password_hash_queue hashing(net::password_hash_threads, s.password_hash_queue_max,
                                   net::password_hash_per_email_max);
  net::metrics counters(net::api::route_labels());
  net::api_services services{
      engine,
      signer,
      [&](std::function<void()> work) { boost::asio::post(slow_work, std::move(work)); },
      [&](std::string& out) {
        if (wal.load(std::memory_order_acquire) != nullptr)
          net::render_wal_metrics(wal_stats(), out);
        if (replicator.active()) render_replication_metrics(replicator.status(), out);
        out += "# TYPE ecomd_shard_mailbox_depth gauge\n";
        for (engine::shard_index i = 0; i < engine.shard_count(); ++i) {
          out += "ecomd_shard_mailbox_depth{shard=\"" + std::to_string(i) + "\"} " +
                 std::to_string(engine.mailbox_depth(i)) + "\n";
        }
      },
      [&](std::string& out) { net::render_wal_stats_json(wal_stats(), out); },
      [&](std::string& out) { counters.render(out); },
      snapshots,
      ready,
      wall_clock_ms,
      replicator.active() ? &replicator : nullptr,
      &hashing};
  net::api routes(s.api, services);
  net::http_server server(
      s.server, [&](const net::request_ptr& r) { routes.handle(r); }, counters);
  std::uint16_t port = server.listen();
  server.start([&](int signal) { stop.raise(signal); });
  bool ipv6 = s.server.bind.find(':') != std::string::npos;
  std::printf("listening on http://%s%s%s:%u\n", ipv6 ? "[" : "", s.server.bind.c_str(),
              ipv6 ? "]" : "", port);
  std::fflush(stdout);

  persistence::recovery_options recovery;
  recovery.fsync = fsync_mode_of(s.fsync);
  recovery.wal_zero_fill_bytes = std::uint64_t{s.wal_zero_fill_kib} << 10;
  recovery.clock = wall_clock_ms;
  recovery.follower = standby;
  if (replicator.active()) {
    recovery.on_wal_durable = [&replicator](engine::lsn_t lsn) { replicator.wal_durable(lsn); };
  }
  // Each shard lives on an io thread: a hop between a connection and its shard, or between two
  // shards on one thread, is a queued call there instead of a thread wake-up.
  persistence::recovered recovered =
      persistence::recover(dir, shards, recovery, [&](engine::journal& journal) {
        shards.start_driven(journal, [&server](engine::shard_index index) -> engine::shard_driver {
          return [&server, index](std::chrono::milliseconds delay, std::function<void()> work) {
            server.run_on_thread(index, delay, std::move(work));
          };
        });
      });
  wal.store(recovered.wal.get(), std::memory_order_release);
  const persistence::recovery_report& report = recovered.report;
  bool repaired = !report.torn_tail.empty() || report.flows.coupons_redelivered > 0 ||
                  report.flows.order_steps_redone > 0;
  net::log_line(repaired ? net::log_level::warn : net::log_level::info, "recovery: %s",
                report.summary().c_str());
  persistence::snapshot_options snapshot_options;
  snapshot_options.snapshots_dir = dir.snapshots_path();
  snapshot_options.wal_dir = dir.wal_path();
  snapshot_options.archive_dir = s.wal_archive_dir;
  snapshot_options.keep = s.snapshots_keep;
  snapshot_options.every_records = s.snapshot_every_records;
  snapshot_options.every_s = s.snapshot_every_s;
  if (replicator.active()) {
    snapshot_options.wal_needed_after = [&replicator] { return replicator.wal_needed_after(); };
  }
  persistence::snapshotter snapshotter(
      snapshot_options, shards, *recovered.wal, wall_clock_ms,
      [](const std::string& line) { net::log_line(net::log_level::info, "%s", line.c_str()); },
      report.snapshots_damaged, report.snapshot_lsn);
  snapshotter.start();
  snapshots.store(&snapshotter, std::memory_order_release);
  try {
    replicator.start(*recovered.wal, recovered.wal->appended_lsn());
  } catch (const std::exception& e) {
    net::log_line(net::log_level::error, "replication: %s", e.what());
    failed.store(true);
    stop.raise(-1);
  }
  if (s.seed_demo && !standby && report.last_lsn == 0 && report.snapshot_lsn == 0)
    net::seed_demo(engine, s.api.kdf_iterations);
  // A standby turns ready once it has caught up with the stream once (and stays so).
  if (!standby) ready.store(true, std::memory_order_release);
  net::log_line(net::log_level::info, "%s: replayed %llu records up to lsn %llu",
                standby ? "standby" : "ready",
                static_cast<unsigned long long>(report.records_replayed),
                static_cast<unsigned long long>(report.last_lsn));

  int signal = stop.wait();
  if (signal == -1) {
    net::log_line(net::log_level::error, "stopping: replication cannot go on (see above)");
  } else {
    net::log_line(net::log_level::info, "signal %d: draining", signal);
  }
  server.stop_accepting();
  engine.release_watches();  // parked long polls answer now rather than hold the drain
  auto deadline = std::chrono::steady_clock::now() + net::shutdown_drain_timeout;
  while (server.in_flight() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  slow_work.join();
  hashing.stop();     // what has not started is dropped; its connections close with the server
  replicator.stop();  // waits end: a change waiting for the stream's ack answers 503
  server.stop();      // the io threads end; the shards they ran are now this thread's
  shards.stop();      // what is still queued runs here
  snapshots.store(nullptr, std::memory_order_release);
  snapshotter.stop();  // a snapshot still being taken is abandoned (the WAL holds everything)
  recovered.wal->stop();
  net::log_line(net::log_level::info, "stopped cleanly at lsn %llu",
                static_cast<unsigned long long>(recovered.wal->durable_lsn()));
  return failed.load() ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  net::settings s;
  if (int code = net::parse_flags(argc, argv, s); code != 0) return code == 1 ? 0 : code;
  clock_offset_ms = s.clock_offset_ms;
  int code = 1;
  try {
    code = serve(s);
  } catch (const std::exception& e) {
    net::log_line(net::log_level::error, "%s", e.what());
  }
  persistence::nats_stream::close_library();  // after the replicator is gone
  return code;
}
