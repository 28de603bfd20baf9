#include "net/flags.h"

#include <boost/program_options.hpp>

#include <algorithm>
#include <iostream>
#include <thread>

#include "net/limits.h"
#include "net/log.h"

namespace po = boost::program_options;

namespace ecom::net {

namespace {

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

}  // namespace

int parse_flags(int argc, char** argv, settings& s) {
  unsigned hardware = std::max(1u, std::thread::hardware_concurrency());
  const std::string hash_queue_help =
      "password hashes (sign-up, login) waiting for a hashing thread before 503 OVERLOADED; one "
      "email holds at most " +
      std::to_string(password_hash_per_email_max) + " of them";
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
      "open connections; the one past it gets 503 OVERLOADED and is closed")(
      "read-timeout-ms", po::value(&s.server.read_timeout_ms)->default_value(15000),
      "milliseconds to read one request, from its first byte (a new connection's first request: "
      "from the accept); at least 1")(
      "idle-timeout-ms", po::value(&s.server.idle_timeout_ms)->default_value(60000),
      "milliseconds a keep-alive connection may wait for its next request; at least 1")(
      "wal-zero-fill-kib", po::value(&s.wal_zero_fill_kib)->default_value(4096),
      "zeros kept ahead of the WAL's frames so a group commit overwrites existing blocks "
      "(0: plain appends; see docs/operations.md)")(
      "snapshot-every-records", po::value(&s.snapshot_every_records)->default_value(1'000'000),
      "take a snapshot once this many WAL records were written since the last one (0: never)")(
      "snapshot-every-s", po::value(&s.snapshot_every_s)->default_value(0),
      "take a snapshot once this many seconds passed since the last one (0: never)")(
      "snapshots-keep", po::value(&s.snapshots_keep)->default_value(2),
      "snapshot generations kept (at least 1); WAL segments older than the oldest are trimmed")(
      "wal-archive-dir", po::value(&s.wal_archive_dir)->default_value(""),
      "move trimmed WAL segments here instead of deleting them (for point-in-time restore)")(
      "order-ttl", po::value(&s.api.order_ttl_s)->default_value(900),
      "seconds a pending order waits for payment before it expires (1..2592000)")(
      "mailbox-depth-max",
      po::value(&s.mailbox_depth_max)->default_value(engine::mailbox_depth_max_default),
      "commands queued per shard before 503 OVERLOADED")(
      "password-hash-queue-max",
      po::value(&s.password_hash_queue_max)->default_value(password_hash_queue_max_default),
      hash_queue_help.c_str())(
      "login-throttle-emails-max",
      po::value(&s.login_throttle_emails_max)
          ->default_value(engine::login_throttle_emails_max_default),
      "emails whose failed logins are remembered (in memory; past it the least recently failed "
      "is forgotten)")(
      "clock-offset-ms", po::value(&s.clock_offset_ms)->default_value(0),
      "testing only: add this to the wall clock (e.g. to pass coupon expiries across a restart)")(
      "replicate-to", po::value(&s.replicate_to)->default_value(""),
      "nats://host:port[,...]: this server is a primary and publishes its WAL to the stream")(
      "follow", po::value(&s.follow)->default_value(""),
      "nats://host:port[,...]: this server is a standby of the stream")(
      "replication-stream", po::value(&s.replication_stream)->default_value("ecomd"),
      "JetStream stream name (subject NAME.wal); the primary makes it if missing")(
      "replication-replicas", po::value(&s.replication_replicas)->default_value(1),
      "the stream's replicas when the primary makes it (1..5)")(
      "replication-ack", po::value(&s.replication_ack)->default_value("local"),
      "local: a 2xx after the local fsync; stream: also after the stream's ack")(
      "replication-timeout-ms", po::value(&s.replication_timeout_ms)->default_value(2000),
      "stream mode: a change not acked by then answers 503 REPLICATION_UNAVAILABLE");
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
  log_level level;
  if (!parse_log_level(s.log_level, level)) {
    std::cerr << "ecomd: --log-level must be debug, info, warn or error\n";
    return 2;
  }
  set_log_level(level);
  if (s.fsync != "always" && s.fsync != "batch" && s.fsync != "off") {
    std::cerr << "ecomd: --fsync must be always, batch or off\n";
    return 2;
  }
  if (!s.replicate_to.empty() && !s.follow.empty()) {
    std::cerr << "ecomd: --replicate-to and --follow exclude each other (a standby is promoted "
                 "with POST /admin/promote)\n";
    return 2;
  }
  for (const std::string* urls : {&s.replicate_to, &s.follow}) {
    if (!urls->empty() && urls->rfind("nats://", 0) != 0) {
      std::cerr << "ecomd: --replicate-to and --follow take nats://host:port[,nats://...]\n";
      return 2;
    }
  }
  if (s.replication_ack != "local" && s.replication_ack != "stream") {
    std::cerr << "ecomd: --replication-ack must be local or stream\n";
    return 2;
  }
  if (s.replication_stream.empty() || s.replication_stream.size() > replication_stream_name_max ||
      s.replication_stream.find_first_of(" .*>\t") != std::string::npos) {
    std::cerr << "ecomd: --replication-stream must be 1.." << replication_stream_name_max
              << " characters without spaces, dots, * or >\n";
    return 2;
  }
  if (s.replication_replicas < 1 || s.replication_replicas > replication_replicas_max ||
      s.replication_timeout_ms < 1 || s.replication_timeout_ms > replication_timeout_ms_max) {
    std::cerr << "ecomd: --replication-replicas (1.." << replication_replicas_max
              << ") or --replication-timeout-ms (1.." << replication_timeout_ms_max
              << ") is out of range\n";
    return 2;
  }
  if (s.shards > engine::shard_count_max || s.server.io_threads == 0 ||
      s.server.io_threads > io_threads_max || s.mailbox_depth_max == 0 ||
      s.password_hash_queue_max == 0 || s.password_hash_queue_max > password_hash_queue_max_max ||
      s.login_throttle_emails_max == 0 ||
      s.login_throttle_emails_max > engine::login_throttle_emails_max_max ||
      s.wal_zero_fill_kib > wal_zero_fill_kib_max || s.api.access_token_ttl_s <= 0 ||
      s.api.kdf_iterations == 0 || s.api.order_ttl_s < 1 || s.server.read_timeout_ms == 0 ||
      s.server.idle_timeout_ms == 0 || s.api.order_ttl_s > engine::order_ttl_ms_max / 1000 ||
      s.api.kdf_iterations > kdf_iterations_max || s.snapshots_keep == 0 ||
      s.snapshots_keep > snapshots_keep_max) {
    std::cerr << "ecomd: a numeric flag is out of range (see --help)\n";
    return 2;
  }
  return 0;
}

}  // namespace ecom::net
