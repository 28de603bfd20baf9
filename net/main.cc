// ecomd: flags, data directory, recovery, the shard set, the WAL, the HTTP front, shutdown.
//
// Start-up order: listen first (so /healthz answers and /readyz says 503 NOT_READY while the
// WAL replays), replay into the shards, open a fresh WAL segment, start the shards on the io
// threads, seed demo data once, then turn ready. Shutdown (SIGINT/SIGTERM): stop accepting,
// let in-flight requests finish, stop the io threads, drain the shards, flush and fsync the
// WAL, exit 0.
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/program_options.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <latch>
#include <mutex>
#include <thread>

#include "engine/shard_set.h"
#include "net/api.h"
#include "net/auth.h"
#include "net/http_server.h"
#include "net/limits.h"
#include "net/log.h"
#include "net/metrics.h"
#include "net/seed.h"
#include "persistence/data_dir.h"
#include "persistence/recovery.h"
#include "persistence/wal_writer.h"

namespace po = boost::program_options;
using namespace ecom;

namespace {

struct settings {
  net::server_options server;
  std::string data_dir = "./data";
  std::uint32_t shards = 0;
  std::string fsync = "always";
  std::string log_level = "info";
  bool seed_demo = false;
  std::size_t mailbox_depth_max = engine::mailbox_depth_max_default;
  std::uint32_t wal_zero_fill_kib = 4096;
  std::int64_t clock_offset_ms = 0;
  net::api_options api;
};

// Testing only (--clock-offset-ms): lets an end-to-end test jump past coupon expiries across a
// restart. Set once before any thread starts.
std::int64_t clock_offset_ms = 0;

std::int64_t wall_clock_ms() {
  return clock_offset_ms + std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
}

// Every flag can also come from ECOM_<FLAG> with dashes as underscores (ECOM_DATA_DIR). Other
// ECOM_* variables are not ours to judge and are ignored.
std::string env_to_flag(const po::options_description& flags, const std::string& variable) {
  constexpr std::string_view prefix = "ECOM_";
  if (variable.rfind(prefix, 0) != 0) return {};
  std::string flag = variable.substr(prefix.size());
  for (char& c : flag) {
    c = c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (flag == "help" || flags.find_nothrow(flag, false) == nullptr) return {};
  return flag;
}

// Returns 0 to go on, or the exit code (help printed, or bad flags).
int parse_flags(int argc, char** argv, settings& s) {
  unsigned hardware = std::max(1u, std::thread::hardware_concurrency());
  po::options_description flags(
      "ecomd flags (each also read from ECOM_<FLAG>, e.g. ECOM_DATA_DIR)");
  flags.add_options()("help", "print this help and exit")(
      "bind", po::value(&s.server.bind)->default_value("127.0.0.1"), "address to listen on")(
      "port", po::value(&s.server.port)->default_value(8080), "TCP port; 0 picks a free one")(
      "data-dir", po::value(&s.data_dir)->default_value("./data"),
      "data directory (WAL, secret, meta)")(
      "shards", po::value(&s.shards)->default_value(0),
      "shards (state partitions); 0 = the stored count, or the core count for a new data dir")(
      "io-threads", po::value(&s.server.io_threads)->default_value(hardware),
      "network threads, which also run the shards (shard i on thread i mod io-threads); "
      "default: the core count")("fsync", po::value(&s.fsync)->default_value("always"),
                                 "always | batch | off (see docs/operations.md)")(
      "admin-token", po::value(&s.api.admin_token)->default_value(""),
      "bearer token with admin rights; empty disables admin routes")(
      "seed-demo", po::bool_switch(&s.seed_demo), "seed demo data once into an empty data dir")(
      "log-level", po::value(&s.log_level)->default_value("info"),
      "debug | info | warn | error (info logs every request)")(
      "access-token-ttl-s", po::value(&s.api.access_token_ttl_s)->default_value(900),
      "access token lifetime in seconds")("kdf-iterations",
                                          po::value(&s.api.kdf_iterations)->default_value(100000),
                                          "PBKDF2 iterations for new password hashes")(
      "connections-max", po::value(&s.server.connections_max)->default_value(10000),
      "open connections beyond this get 503")(
      "read-timeout-ms", po::value(&s.server.read_timeout_ms)->default_value(15000),
      "time allowed to read one request")(
      "idle-timeout-ms", po::value(&s.server.idle_timeout_ms)->default_value(60000),
      "keep-alive connection idle limit")(
      "wal-zero-fill-kib", po::value(&s.wal_zero_fill_kib)->default_value(4096),
      "zeros kept ahead of the WAL's frames so a group commit overwrites existing blocks "
      "(0: plain appends; see docs/operations.md)")(
      "order-ttl", po::value(&s.api.order_ttl_s)->default_value(900),
      "seconds a pending order waits for payment before it expires (1..2592000)")(
      "mailbox-depth-max",
      po::value(&s.mailbox_depth_max)->default_value(engine::mailbox_depth_max_default),
      "commands queued per shard before 503 OVERLOADED")(
      "clock-offset-ms", po::value(&s.clock_offset_ms)->default_value(0),
      "testing only: add this to the wall clock (e.g. to pass coupon expiries across a restart)");
  po::variables_map values;
  try {
    po::store(po::parse_command_line(argc, argv, flags), values);
    po::store(
        po::parse_environment(flags, [&](const std::string& v) { return env_to_flag(flags, v); }),
        values);
    po::notify(values);
  } catch (const std::exception& e) {
    std::cerr << "ecomd: " << e.what() << "\n" << flags << "\n";
    return 2;
  }
  if (values.count("help")) {
    std::cout << flags << "\n";
    return 1;
  }
  net::log_level level;
  if (!net::parse_log_level(s.log_level, level)) {
    std::cerr << "ecomd: --log-level must be debug, info, warn or error\n";
    return 2;
  }
  net::set_log_level(level);
  clock_offset_ms = s.clock_offset_ms;
  if (s.fsync != "always" && s.fsync != "batch" && s.fsync != "off") {
    std::cerr << "ecomd: --fsync must be always, batch or off\n";
    return 2;
  }
  if (s.shards > engine::shard_count_max || s.server.io_threads == 0 ||
      s.server.io_threads > net::io_threads_max || s.mailbox_depth_max == 0 ||
      s.wal_zero_fill_kib > net::wal_zero_fill_kib_max || s.api.access_token_ttl_s <= 0 ||
      s.api.kdf_iterations == 0 || s.api.order_ttl_s < 1 ||
      s.api.order_ttl_s > engine::order_ttl_ms_max / 1000 ||
      s.api.kdf_iterations > net::kdf_iterations_max) {
    std::cerr << "ecomd: a numeric flag is out of range (see --help)\n";
    return 2;
  }
  return 0;
}

persistence::fsync_mode fsync_mode_of(const std::string& text) {
  if (text == "batch") return persistence::fsync_mode::batch;
  if (text == "off") return persistence::fsync_mode::off;
  return persistence::fsync_mode::always;
}

// The shards need a journal from birth, but the WAL can only be opened after replay tells
// where it ends. This forwards to it once it exists.
class deferred_journal final : public engine::journal {
 public:
  void attach(engine::journal* target) { target_ = target; }
  engine::lsn_t append(std::span<const engine::record> records, durable_callback done) override {
    return target_->append(records, std::move(done));
  }
  engine::lsn_t durable_lsn() const override { return target_ ? target_->durable_lsn() : 0; }

 private:
  engine::journal* target_ = nullptr;
};

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

void render_wal_metrics(const persistence::wal_stats& wal, std::string& out) {
  char line[256];
  auto emit = [&](const char* format, auto... args) {
    std::snprintf(line, sizeof line, format, args...);
    out += line;
  };
  out += "# TYPE ecomd_wal_records_total counter\n";
  emit("ecomd_wal_records_total %llu\n", static_cast<unsigned long long>(wal.records_total));
  out += "# TYPE ecomd_wal_bytes_total counter\n";
  emit("ecomd_wal_bytes_total %llu\n", static_cast<unsigned long long>(wal.bytes_total));
  out += "# TYPE ecomd_wal_fsyncs_total counter\n";
  emit("ecomd_wal_fsyncs_total %llu\n", static_cast<unsigned long long>(wal.fsyncs_total));
  out += "# TYPE ecomd_wal_durable_lsn gauge\n";
  emit("ecomd_wal_durable_lsn %llu\n", static_cast<unsigned long long>(wal.durable_lsn));
  out += "# HELP ecomd_wal_fsync_duration_seconds Time spent in one fdatasync of a group commit.\n";
  out += "# TYPE ecomd_wal_fsync_duration_seconds histogram\n";
  std::uint64_t cumulative = 0;
  for (std::size_t b = 0; b < wal.fsync_buckets.size(); ++b) {
    cumulative += wal.fsync_buckets[b];
    if (b < wal.fsync_bucket_bounds_s.size()) {
      emit("ecomd_wal_fsync_duration_seconds_bucket{le=\"%g\"} %llu\n",
           wal.fsync_bucket_bounds_s[b], static_cast<unsigned long long>(cumulative));
    } else {
      emit("ecomd_wal_fsync_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
           static_cast<unsigned long long>(cumulative));
    }
  }
  emit("ecomd_wal_fsync_duration_seconds_sum %.9f\n", wal.fsync_seconds_sum);
  emit("ecomd_wal_fsync_duration_seconds_count %llu\n",
       static_cast<unsigned long long>(cumulative));
}

// Coupons a campaign took before a crash whose wallet entry never became durable: the
// campaign's record is the outbox entry, delivered again now (at most once per wallet).
void redeliver_coupons(engine::shard_set& shards, std::vector<engine::deliver_coupon> deliveries) {
  if (deliveries.empty()) return;
  // A latch outlives nothing it is waited on: the last callback counts down and is done
  // touching it before wait() can return.
  std::latch delivered(static_cast<std::ptrdiff_t>(deliveries.size()));
  for (auto& delivery : deliveries) {
    // A keyed issue stores its 201 under the key now, so the client's retry gets it replayed.
    if (!delivery.idempotency.key.empty())
      delivery.idempotency.render = net::issue_reply_renderer();
    engine::shard& owner = shards.owner_of_id(delivery.coupon.user_id);
    engine::command item{
        std::move(delivery), [&delivered](engine::reply&&) { delivered.count_down(); }, {}};
    owner.post_always(item);
  }
  delivered.wait();
  net::log_line(net::log_level::warn,
                "recovery: delivered %zu coupons whose wallet entry a crash had cut off",
                deliveries.size());
}

int serve(settings& s) {
  unsigned hardware = std::max(1u, std::thread::hardware_concurrency());
  persistence::data_dir dir(s.data_dir, s.shards, std::min(hardware, engine::shard_count_max));
  net::log_line(net::log_level::info, "data dir %s: %u shards%s", dir.path().c_str(),
                dir.shard_count(), dir.created_now() ? " (new)" : "");
  std::atomic<bool> ready{false};
  deferred_journal journal;
  engine::shard_set shards(dir.shard_count(), s.mailbox_depth_max, journal, wall_clock_ms);
  engine::order_flow orders(shards, journal);
  // Set once the server exists (long-poll timers run on its threads).
  std::function<void(std::chrono::milliseconds, std::function<void()>)> run_later;
  std::unique_ptr<persistence::wal_writer> wal_owner;
  // Read by /metrics and /admin/stats from io threads while recovery is still opening it.
  std::atomic<persistence::wal_writer*> wal{nullptr};
  net::token_signer signer(dir.token_secret());
  boost::asio::thread_pool slow_work(2);
  net::metrics counters(net::api::route_labels());
  net::api_services services{
      shards,
      orders,
      signer,
      [&](std::function<void()> work) { boost::asio::post(slow_work, std::move(work)); },
      [&](std::string& out) {
        if (auto* writer = wal.load(std::memory_order_acquire))
          render_wal_metrics(writer->stats(), out);
        out += "# TYPE ecomd_shard_mailbox_depth gauge\n";
        for (engine::shard_index i = 0; i < shards.size(); ++i) {
          out += "ecomd_shard_mailbox_depth{shard=\"" + std::to_string(i) + "\"} " +
                 std::to_string(shards.at(i).mailbox_depth()) + "\n";
        }
      },
      [&](std::string& out) {
        auto* writer = wal.load(std::memory_order_acquire);
        persistence::wal_stats stats = writer ? writer->stats() : persistence::wal_stats{};
        out += "{\"durable_lsn\":" + std::to_string(stats.durable_lsn) +
               ",\"appended_lsn\":" + std::to_string(stats.appended_lsn) +
               ",\"records_total\":" + std::to_string(stats.records_total) +
               ",\"bytes_total\":" + std::to_string(stats.bytes_total) + "}";
      },
      [&](std::string& out) { counters.render(out); },
      ready,
      wall_clock_ms,
      [&](std::chrono::milliseconds delay, std::function<void()> work) {
        run_later(delay, std::move(work));
      }};
  net::api routes(s.api, services);
  net::http_server server(
      s.server, [&](const net::request_ptr& r) { routes.handle(r); }, counters);
  run_later = [&server](std::chrono::milliseconds delay, std::function<void()> work) {
    server.run_on_thread(0, delay, std::move(work));
  };
  std::uint16_t port = server.listen();
  stop_signal stop;
  server.start([&](int signal) { stop.raise(signal); });
  bool ipv6 = s.server.bind.find(':') != std::string::npos;
  std::printf("listening on http://%s%s%s:%u\n", ipv6 ? "[" : "", s.server.bind.c_str(),
              ipv6 ? "]" : "", port);
  std::fflush(stdout);

  persistence::recovery_result recovered = persistence::recover(dir, shards);
  persistence::wal_options wal_options;
  wal_options.dir = dir.wal_path();
  wal_options.mode = fsync_mode_of(s.fsync);
  wal_options.zero_fill_bytes = std::uint64_t{s.wal_zero_fill_kib} << 10;
  wal_options.next_lsn = recovered.last_lsn + 1;
  wal_options.next_segment_number = recovered.next_segment_number;
  wal_owner = std::make_unique<persistence::wal_writer>(wal_options);
  journal.attach(wal_owner.get());
  wal.store(wal_owner.get(), std::memory_order_release);
  std::vector<engine::deliver_coupon> undelivered = shards.undelivered_coupons();
  engine::order_flow::redrive_plan order_steps = orders.plan_redrive();
  // Each shard lives on an io thread: a hop between a connection and its shard, or between two
  // shards on one thread, is a queued call there instead of a thread wake-up.
  shards.start_driven([&server](engine::shard_index index) -> engine::shard_driver {
    return [&server, index](std::chrono::milliseconds delay, std::function<void()> work) {
      server.run_on_thread(index, delay, std::move(work));
    };
  });
  redeliver_coupons(shards, std::move(undelivered));
  if (std::size_t steps = order_steps.size(); steps > 0) {
    // Payments and refunds a crash cut between shards: finished, or rolled back (see order_flow).
    orders.redrive(std::move(order_steps));
    net::log_line(net::log_level::warn, "recovery: %zu order steps a crash had cut off, redone",
                  steps);
  }
  if (s.seed_demo && recovered.last_lsn == 0) net::seed_demo(shards, s.api.kdf_iterations);
  ready.store(true, std::memory_order_release);
  net::log_line(net::log_level::info, "ready: replayed %llu records up to lsn %llu",
                static_cast<unsigned long long>(recovered.records),
                static_cast<unsigned long long>(recovered.last_lsn));

  int signal = stop.wait();
  net::log_line(net::log_level::info, "signal %d: draining", signal);
  server.stop_accepting();
  {
    // Parked long polls of the event feed are answered now rather than holding the drain.
    engine::command release{engine::release_watches{}, [](engine::reply&&) {}, {}};
    shards.at(engine::event_shard).post_always(release);
  }
  auto deadline = std::chrono::steady_clock::now() + net::shutdown_drain_timeout;
  while (server.in_flight() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  slow_work.join();
  server.stop();  // the io threads end; the shards they ran are now this thread's
  shards.stop();  // what is still queued runs here
  wal_owner->stop();
  net::log_line(net::log_level::info, "stopped cleanly at lsn %llu",
                static_cast<unsigned long long>(wal_owner->durable_lsn()));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  settings s;
  if (int code = parse_flags(argc, argv, s); code != 0) return code == 1 ? 0 : code;
  try {
    return serve(s);
  } catch (const std::exception& e) {
    net::log_line(net::log_level::error, "%s", e.what());
    return 1;
  }
}
