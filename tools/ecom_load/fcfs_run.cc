// The FCFS issue phase and wallet check as request scripts on the connection pool; responses
// are parsed with a simdjson DOM parser per I/O thread.
#include "tools/ecom_load/fcfs_run.h"

#include <simdjson.h>

#include <algorithm>
#include <cassert>

#include "tools/ecom_load/request_stats.h"

namespace ecom::load {

namespace {

using steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::size_t issue_body_bytes_max = 64 * 1024;
constexpr int transport_attempts_max = 3;
constexpr milliseconds retry_after_pause_max{1000};
constexpr milliseconds overloaded_pause_default{100};
constexpr milliseconds transport_failure_pause{50};
constexpr milliseconds campaign_read_interval{10};

// Counters of one I/O thread; merged after the pool stopped.
struct worker_stats {
  latency_histogram latency;
  std::map<int, std::uint64_t> status_counts;
  std::map<std::string, std::uint64_t, std::less<>> problem_codes;
  std::vector<std::uint64_t> requests_per_slot;
  std::vector<std::uint64_t> issued_per_slot;
  std::uint64_t request_count = 0;
  std::uint64_t transport_error_count = 0;
  simdjson::dom::parser parser;
  read_counts reads;
};

// Parses a body in place (padding is reserved in the string); false when it is not JSON.
bool parse_body(simdjson::dom::parser& parser, std::string& body, simdjson::dom::element& root) {
  body.reserve(body.size() + simdjson::SIMDJSON_PADDING);
  return parser.parse(body).get(root) == simdjson::SUCCESS;
}

milliseconds overloaded_pause(const http_reply& reply) {
  if (reply.retry_after_s < 0) return overloaded_pause_default;
  return std::min<milliseconds>(milliseconds(1000LL * reply.retry_after_s), retry_after_pause_max);
}

struct issue_shared {
  const std::vector<load_user>& users;
  std::vector<user_result>& results;
  std::vector<worker_stats>& stats;
  live_counters& live;
  std::string target;
  steady::time_point started;
  steady::time_point deadline;
  double slot_s;
  std::atomic<std::size_t> issuers_running{0};  // issue scripts not done yet
};

// Issues for users [index, end) one after the other. A user that got 201 is never asked
// again; one whose request failed in transport is asked again (at most 3 times), and a
// COUPON_ALREADY_ISSUED then means the earlier 201 was lost on the way.
class issue_script final : public request_script {
 public:
  issue_script(issue_shared& shared, std::size_t begin, std::size_t end)
      : shared_(shared), index_(begin), end_(end) {}

  bool next(http_request& request) override {
    if (index_ >= end_ || shared_.live.stop_requested.load(std::memory_order_relaxed) ||
        steady::now() >= shared_.deadline) {
      shared_.issuers_running.fetch_sub(1, std::memory_order_relaxed);
      return false;
    }
    request.method = http_method::post;
    request.target = shared_.target;
    request.body.clear();
    request.bearer_token = shared_.users[index_].access_token;
    request.body_limit_bytes = issue_body_bytes_max;
    return true;
  }

  milliseconds on_reply(const http_request&, http_reply& reply) override {
    worker_stats& stats = shared_.stats[static_cast<std::size_t>(current_worker_index())];
    std::size_t slot = static_cast<std::size_t>(
        std::chrono::duration<double>(steady::now() - shared_.started).count() / shared_.slot_s);
    ++stats.request_count;
    bump_slot(stats.requests_per_slot, slot);
    shared_.live.request_count.fetch_add(1, std::memory_order_relaxed);
    if (reply.status == 0) return on_transport_failure(stats);
    stats.latency.record(static_cast<std::uint64_t>(reply.latency.count() / 1000));
    ++stats.status_counts[reply.status];
    if (reply.status == 503) {
      shared_.results[index_].outcome = issue_outcome::overloaded;
      return overloaded_pause(reply);
    }
    user_result& result = shared_.results[index_];
    result.outcome = classify(stats, reply, result.user_coupon_id);
    if (result.outcome == issue_outcome::issued) {
      bump_slot(stats.issued_per_slot, slot);
      shared_.live.issued_count.fetch_add(1, std::memory_order_relaxed);
    }
    advance();
    return milliseconds(0);
  }

 private:
  milliseconds on_transport_failure(worker_stats& stats) {
    ++stats.transport_error_count;
    ++stats.status_counts[0];
    transport_failed_ = true;
    if (++transport_attempts_ < transport_attempts_max) return transport_failure_pause;
    shared_.results[index_].outcome = issue_outcome::uncertain;
    advance();
    return transport_failure_pause;
  }

  issue_outcome classify(worker_stats& stats, http_reply& reply, std::int64_t& user_coupon_id) {
    simdjson::dom::element root;
    bool parsed = parse_body(stats.parser, reply.body, root);
    if (reply.status == 201) {
      if (parsed && root["id"].get(user_coupon_id) != simdjson::SUCCESS) user_coupon_id = 0;
      return issue_outcome::issued;
    }
    if (reply.status != 409) return issue_outcome::unexpected;
    std::string_view code = "(none)";
    if (parsed && root["code"].get(code) != simdjson::SUCCESS) code = "(none)";
    auto it = stats.problem_codes.find(code);
    if (it == stats.problem_codes.end()) it = stats.problem_codes.emplace(code, 0).first;
    ++it->second;
    if (code == "COUPON_SOLD_OUT") return issue_outcome::sold_out;
    if (code == "COUPON_NOT_ACTIVE") return issue_outcome::not_active;
    if (code == "COUPON_ALREADY_ISSUED") {
      return transport_failed_ ? issue_outcome::issued_reply_lost : issue_outcome::already_issued;
    }
    return issue_outcome::unexpected;
  }

  void advance() {
    ++index_;
    transport_attempts_ = 0;
    transport_failed_ = false;
    shared_.live.answered_user_count.fetch_add(1, std::memory_order_relaxed);
  }

  issue_shared& shared_;
  std::size_t index_;
  std::size_t end_;
  int transport_attempts_ = 0;
  bool transport_failed_ = false;
};

// Reads the campaign from one read server every campaign_read_interval while issue scripts
// run: its answers' X-Ecomd-Lsn against the primary's give the lag under the flood.
class campaign_read_script final : public request_script {
 public:
  campaign_read_script(issue_shared& shared, std::size_t server, std::string target)
      : shared_(shared), server_(server), target_(std::move(target)) {}

  bool next(http_request& request) override {
    if (shared_.issuers_running.load(std::memory_order_relaxed) == 0 ||
        shared_.live.stop_requested.load(std::memory_order_relaxed) ||
        steady::now() >= shared_.deadline) {
      return false;
    }
    request.method = http_method::get;
    request.target = target_;
    request.server = server_;
    request.body_limit_bytes = issue_body_bytes_max;
    return true;
  }

  milliseconds on_reply(const http_request&, http_reply& reply) override {
    worker_stats& stats = shared_.stats[static_cast<std::size_t>(current_worker_index())];
    stats.reads.record_standby(server_ - 1, reply.status, reply.body, reply.lsn,
                               reply.primary_lsn_at_send);
    if (reply.status == 503) return std::max(campaign_read_interval, overloaded_pause(reply));
    return campaign_read_interval;
  }

 private:
  issue_shared& shared_;
  std::size_t server_;
  std::string target_;
};

void merge_stats(const std::vector<worker_stats>& stats, issue_measurements& out) {
  for (const auto& s : stats) {
    out.request_count += s.request_count;
    out.transport_error_count += s.transport_error_count;
    out.latency.merge(s.latency);
    for (const auto& [status, count] : s.status_counts) out.status_counts[status] += count;
    for (const auto& [code, count] : s.problem_codes) out.problem_codes[code] += count;
    add_slots(out.requests_per_slot, s.requests_per_slot);
    add_slots(out.issued_per_slot, s.issued_per_slot);
  }
  out.issued_per_slot.resize(out.requests_per_slot.size(), 0);
}

}  // namespace

issue_phase_result run_issue_phase(const issue_phase_options& options,
                                   const std::vector<load_user>& users, live_counters& live,
                                   const std::function<void()>& tick) {
  assert(options.connection_count >= 1);
  issue_phase_result result;
  result.users.resize(users.size());
  for (std::size_t i = 0; i < users.size(); ++i) result.users[i].user_id = users[i].id;
  std::vector<worker_stats> stats(static_cast<std::size_t>(options.pool.thread_count));
  auto started = steady::now();
  double slot_s = slot_width_s(options.duration.count());
  issue_shared shared{users,
                      result.users,
                      stats,
                      live,
                      "/coupons/fcfs/" + std::to_string(options.campaign_id) + "/issue",
                      started,
                      started + std::chrono::duration_cast<steady::duration>(options.duration),
                      slot_s};
  std::size_t connection_count =
      std::min<std::size_t>(static_cast<std::size_t>(options.connection_count), users.size());
  std::vector<std::unique_ptr<request_script>> scripts;
  for (std::size_t c = 0; c < connection_count; ++c) {
    std::size_t begin = users.size() * c / connection_count;
    std::size_t end = users.size() * (c + 1) / connection_count;
    scripts.push_back(std::make_unique<issue_script>(shared, begin, end));
  }
  shared.issuers_running = scripts.size();
  std::size_t read_server_count = options.pool.read_servers.size();
  for (std::size_t k = 1; k <= read_server_count; ++k) {
    scripts.push_back(std::make_unique<campaign_read_script>(
        shared, k, "/coupons/fcfs/" + std::to_string(options.campaign_id)));
  }
  result.connections_gave_up = run_connection_pool(options.pool, scripts, tick);
  result.measurements.duration_s = std::chrono::duration<double>(steady::now() - started).count();
  result.measurements.slot_s = slot_s;
  merge_stats(stats, result.measurements);
  result.reads = read_counts(read_server_count);
  for (const auto& s : stats) result.reads.merge(s.reads);
  return result;
}

}  // namespace ecom::load
