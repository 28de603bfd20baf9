// The FCFS issue phase as request scripts on the connection pool: users are taken in order by
// whichever connection is free; with a bell, connections warm up and wait for it; responses are
// parsed with a simdjson DOM parser per I/O thread.
#include "tools/ecom_load/fcfs_run.h"

#include <simdjson.h>

#include <algorithm>
#include <cassert>
#include <cmath>
#include <random>

#include "tools/ecom_load/open_loop.h"
#include "tools/ecom_load/request_stats.h"

namespace ecom::load {

namespace {

using steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::size_t issue_body_bytes_max = 64 * 1024;
constexpr int transport_attempts_max = 3;
constexpr milliseconds retry_after_pause_max{60'000};
constexpr milliseconds busy_pause_default{100};
constexpr milliseconds key_in_use_pause{50};
constexpr milliseconds not_active_pause{10};
// After the bell a user told "not active yet" this many times (the server's clock behind ours)
// is decided as not active.
constexpr int not_active_answers_max = 500;
// Retry-After is honoured with at least this pause, plus up to a tenth more (jitter, so that
// the users refused together do not come back in one wave).
constexpr milliseconds retry_pause_min{10};
constexpr int retry_jitter_divisor = 10;
constexpr milliseconds transport_failure_pause{50};
constexpr milliseconds campaign_read_interval{10};
// A connection's last warm-up GET goes at most this long before the bell.
constexpr milliseconds warm_lead{2000};
// Early refreshes go this long before the bell: spread over [min, max).
constexpr milliseconds early_lead_min{100};
constexpr milliseconds early_lead_max{1000};
constexpr std::size_t opening_slot_count = 100;  // the opening second in slots of 10 ms
constexpr auto opening_slot = milliseconds(10);

// The opening second as one I/O thread saw it; merged after the pool stopped.
struct opening_figures {
  std::uint64_t warmed = 0;
  std::uint64_t early_requests = 0;
  std::uint64_t early_not_active = 0;
  std::uint64_t not_active_after_bell = 0;
  latency_histogram release_spread;
  std::vector<std::uint64_t> sent = std::vector<std::uint64_t>(opening_slot_count);
  std::vector<std::uint64_t> issued = std::vector<std::uint64_t>(opening_slot_count);
  std::vector<std::uint64_t> sold_out = std::vector<std::uint64_t>(opening_slot_count);
  std::vector<std::uint64_t> overloaded = std::vector<std::uint64_t>(opening_slot_count);
  std::vector<std::uint64_t> other = std::vector<std::uint64_t>(opening_slot_count);
};

// Counters of one I/O thread; merged after the pool stopped.
struct worker_stats {
  latency_histogram latency;
  std::map<int, std::uint64_t> status_counts;
  std::map<std::string, std::uint64_t, std::less<>> problem_codes;
  std::vector<std::uint64_t> requests_per_slot;
  std::vector<std::uint64_t> issued_per_slot;
  std::uint64_t request_count = 0;
  std::uint64_t transport_error_count = 0;
  std::uint64_t replayed = 0;
  // The race from the bell (or the phase's start): issues sent in its first second, and when
  // the last 201 arrived.
  latency_histogram first_second_latency;
  steady::duration last_issued_after{-1};
  opening_figures opening;
  steady::time_point last_answer{};
  simdjson::dom::parser parser;
  read_counts reads;
};

// Parses a body in place (padding is reserved in the string); false when it is not JSON.
bool parse_body(simdjson::dom::parser& parser, std::string& body, simdjson::dom::element& root) {
  body.reserve(body.size() + simdjson::SIMDJSON_PADDING);
  return parser.parse(body).get(root) == simdjson::SUCCESS;
}

// The problem+json code of an answer ("(none)" when it has none).
std::string_view problem_code(worker_stats& stats, http_reply& reply) {
  simdjson::dom::element root;
  std::string_view code = "(none)";
  if (!parse_body(stats.parser, reply.body, root) || root["code"].get(code) != simdjson::SUCCESS) {
    code = "(none)";
  }
  return code;
}

milliseconds retry_after_pause(const http_reply& reply) {
  if (reply.retry_after_s < 0) return busy_pause_default;
  return std::clamp<milliseconds>(milliseconds(1000LL * reply.retry_after_s), retry_pause_min,
                                  retry_after_pause_max);
}

// pause plus a random share of up to 1/retry_jitter_divisor of it.
milliseconds jittered(milliseconds pause) {
  thread_local std::minstd_rand random{std::random_device{}()};
  auto spread = pause.count() / retry_jitter_divisor;
  if (spread <= 0) return pause;
  return pause + milliseconds(std::uniform_int_distribution<std::int64_t>(0, spread)(random));
}

// The pause until at, rounded up to a whole millisecond (at least 0).
milliseconds pause_until(steady::time_point at) {
  auto left = at - steady::now();
  if (left <= steady::duration::zero()) return milliseconds(0);
  return std::chrono::ceil<milliseconds>(left);
}

std::size_t opening_slot_of(steady::duration since_bell) {
  if (since_bell < steady::duration::zero()) return opening_slot_count;
  return static_cast<std::size_t>(since_bell / opening_slot);
}

std::uint64_t micros(steady::duration d) {
  return static_cast<std::uint64_t>(
      std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::microseconds>(d).count()));
}

struct issue_shared {
  const issue_phase_options& options;
  const std::vector<load_user>& users;
  std::vector<user_result>& results;
  std::vector<worker_stats>& stats;
  live_counters& live;
  std::string target;
  std::string campaign_target;
  steady::time_point reference;  // sent_us counts from here: the bell, or the phase's start
  steady::time_point deadline;
  double slot_s;
  std::atomic<std::size_t> next_user{0};
  std::atomic<std::size_t> issuers_running{0};  // issue scripts not done yet

  bool retries(int status) const {
    return std::find(options.retry_on.begin(), options.retry_on.end(), status) !=
           options.retry_on.end();
  }
};

// One connection's users, one after the other, each taken from the shared queue when the
// previous one is decided. A user that got 201 is never asked again; one whose request failed
// in transport is asked again (at most 3 times; with --idempotency the same key, so the server
// replays the first answer), and a COUPON_ALREADY_ISSUED then means an earlier 201 was lost on
// the way. With a bell the connection first warms up (GET of the campaign), maybe refreshes
// early, and waits for the bell.
class issue_script final : public request_script {
 public:
  enum class phase { warm, early, issue, done };

  issue_script(issue_shared& shared, bool early_refresher, milliseconds early_lead)
      : shared_(shared),
        phase_(shared.options.bell ? phase::warm : phase::issue),
        early_refresher_(early_refresher),
        early_lead_(early_lead) {}

  bool next_is_paced() const override { return phase_ == phase::issue; }
  bool finished() const override {
    return phase_ == phase::done || shared_.live.stop_requested.load(std::memory_order_relaxed) ||
           steady::now() >= shared_.deadline ||
           (!has_user_ &&
            shared_.next_user.load(std::memory_order_relaxed) >= shared_.users.size());
  }

  void on_stop() override { finish(); }

  bool next(http_request& request) override {
    if (shared_.live.stop_requested.load(std::memory_order_relaxed) ||
        steady::now() >= shared_.deadline ||
        (phase_ == phase::issue && !has_user_ && !take_user())) {
      finish();
      return false;
    }
    if (phase_ == phase::done) return false;
    request.body.clear();
    request.body_limit_bytes = issue_body_bytes_max;
    if (phase_ == phase::warm) {
      request.method = http_method::get;
      request.target = shared_.campaign_target;
      request.bearer_token.clear();
      request.idempotency_key.clear();
      return true;
    }
    request.method = http_method::post;
    request.target = shared_.target;
    request.bearer_token = shared_.users[index_].access_token;
    request.idempotency_key.clear();
    if (!shared_.options.idempotency_prefix.empty()) {
      request.idempotency_key = shared_.options.idempotency_prefix + "-" +
                                std::to_string(shared_.users[index_].id) + "-" +
                                std::to_string(phase_ == phase::early ? 0 : click_);
    }
    return true;
  }

  milliseconds on_reply(const http_request&, http_reply& reply) override {
    worker_stats& stats = shared_.stats[static_cast<std::size_t>(current_worker_index())];
    if (phase_ == phase::warm) return on_warm_reply(stats, reply);
    auto now = steady::now();
    std::size_t slot = static_cast<std::size_t>(
        std::max(0.0, std::chrono::duration<double>(now - shared_.reference).count()) /
        shared_.slot_s);
    ++stats.request_count;
    bump_slot(stats.requests_per_slot, slot);
    shared_.live.request_count.fetch_add(1, std::memory_order_relaxed);
    if (phase_ == phase::early) return on_early_reply(stats, reply);
    ++shared_.results[index_].attempts;
    if (ask_sent_at_ == steady::time_point{}) ask_sent_at_ = reply.sent_at;
    note_opening_send(stats, reply);
    if (reply.status == 0) return on_transport_failure(stats);
    stats.latency.record(static_cast<std::uint64_t>(reply.latency.count() / 1000));
    ++stats.status_counts[reply.status];
    stats.last_answer = now;
    user_result& result = shared_.results[index_];
    if (reply.status == 503 || reply.status == 429) {
      count_problem(stats, problem_code(stats, reply));
      note_opening_answer(stats, now, &opening_figures::overloaded);
      result.outcome = issue_outcome::overloaded;
      if (shared_.retries(reply.status)) {
        // Refused before it was processed: the retry is the request that counts, unless an
        // earlier attempt of this key was lost on the way (it may have been applied).
        if (!transport_failed_) ask_sent_at_ = {};
        return jittered(retry_after_pause(reply));
      }
      decide(stats, reply);
      return milliseconds(0);
    }
    issue_outcome outcome = classify(stats, reply, result.user_coupon_id);
    if (outcome == issue_outcome::unexpected && last_code_ == "IDEMPOTENCY_KEY_IN_USE") {
      return key_in_use_pause;  // the first request with this key is still being processed
    }
    if (outcome == issue_outcome::not_active && shared_.options.bell &&
        ++not_active_answers_ < not_active_answers_max) {
      ++stats.opening.not_active_after_bell;
      note_opening_answer(stats, now, &opening_figures::other);
      // The server's clock is not there yet: ask again, with a new key (the server keeps this
      // answer for the old one).
      ++click_;
      ask_sent_at_ = {};
      return not_active_pause;
    }
    result.outcome = outcome;
    if (outcome == issue_outcome::issued) {
      bump_slot(stats.issued_per_slot, slot);
      shared_.live.issued_count.fetch_add(1, std::memory_order_relaxed);
      note_opening_answer(stats, now, &opening_figures::issued);
      stats.last_issued_after = std::max(stats.last_issued_after, now - shared_.reference);
    } else {
      note_opening_answer(stats, now,
                          outcome == issue_outcome::sold_out ? &opening_figures::sold_out
                                                             : &opening_figures::other);
    }
    decide(stats, reply);
    return milliseconds(0);
  }

 private:
  milliseconds on_warm_reply(worker_stats& stats, const http_reply& reply) {
    // Far from the bell the connection is opened now and warmed again shortly before it, so
    // that the server's idle timeout cannot close it in between.
    if (*shared_.options.bell - steady::now() > warm_lead) {
      return pause_until(*shared_.options.bell - warm_lead);
    }
    if (reply.status == 200 && steady::now() < *shared_.options.bell) ++stats.opening.warmed;
    if (early_refresher_ && take_user()) {
      phase_ = phase::early;
      return pause_until(*shared_.options.bell - early_lead_);
    }
    phase_ = phase::issue;
    return shared_.options.pool.pacer != nullptr ? milliseconds(0)
                                                 : pause_until(*shared_.options.bell);
  }

  // The early refresh: normally 409 COUPON_NOT_ACTIVE; an answer that decides (the request
  // reached a server already past the bell) counts like any issue.
  milliseconds on_early_reply(worker_stats& stats, http_reply& reply) {
    ++stats.opening.early_requests;
    phase_ = phase::issue;
    if (reply.status == 0) {
      ++stats.transport_error_count;
      ++stats.status_counts[0];
    } else {
      stats.latency.record(static_cast<std::uint64_t>(reply.latency.count() / 1000));
      ++stats.status_counts[reply.status];
      user_result& result = shared_.results[index_];
      issue_outcome outcome = reply.status == 503 ? issue_outcome::overloaded
                                                  : classify(stats, reply, result.user_coupon_id);
      if (outcome == issue_outcome::not_active) {
        ++stats.opening.early_not_active;
      } else if (outcome == issue_outcome::issued || outcome == issue_outcome::sold_out) {
        ++result.attempts;
        result.outcome = outcome;
        if (outcome == issue_outcome::issued) {
          shared_.live.issued_count.fetch_add(1, std::memory_order_relaxed);
        }
        decide(stats, reply);
      }
    }
    return shared_.options.pool.pacer != nullptr ? milliseconds(0)
                                                 : pause_until(*shared_.options.bell);
  }

  milliseconds on_transport_failure(worker_stats& stats) {
    ++stats.transport_error_count;
    ++stats.status_counts[0];
    transport_failed_ = true;
    shared_.results[index_].answer_lost = true;
    if (++transport_attempts_ < transport_attempts_max) return transport_failure_pause;
    shared_.results[index_].outcome = issue_outcome::uncertain;
    advance();
    return transport_failure_pause;
  }

  void count_problem(worker_stats& stats, std::string_view code) {
    auto it = stats.problem_codes.find(code);
    if (it == stats.problem_codes.end()) it = stats.problem_codes.emplace(code, 0).first;
    ++it->second;
  }

  issue_outcome classify(worker_stats& stats, http_reply& reply, std::int64_t& user_coupon_id) {
    last_code_.clear();
    if (reply.status == 201) {
      simdjson::dom::element root;
      if (!parse_body(stats.parser, reply.body, root) ||
          root["id"].get(user_coupon_id) != simdjson::SUCCESS) {
        user_coupon_id = 0;
      }
      return issue_outcome::issued;
    }
    if (reply.status != 409) return issue_outcome::unexpected;
    std::string_view code = problem_code(stats, reply);
    count_problem(stats, code);
    last_code_ = code;
    if (code == "COUPON_SOLD_OUT") return issue_outcome::sold_out;
    if (code == "COUPON_NOT_ACTIVE") return issue_outcome::not_active;
    if (code == "COUPON_ALREADY_ISSUED") {
      return transport_failed_ ? issue_outcome::issued_reply_lost : issue_outcome::already_issued;
    }
    return issue_outcome::unexpected;
  }

  // Issues sent in the race's first second; with a bell also this connection's first issue
  // after it and the opening timeline.
  void note_opening_send(worker_stats& stats, const http_reply& reply) {
    if (reply.sent_at == steady::time_point{}) return;
    auto since_start = reply.sent_at - shared_.reference;
    std::size_t slot = opening_slot_of(since_start);
    if (slot < opening_slot_count && reply.status != 0) {
      stats.first_second_latency.record(static_cast<std::uint64_t>(reply.latency.count() / 1000));
    }
    if (!shared_.options.bell) return;
    if (!released_) {
      released_ = true;
      stats.opening.release_spread.record(micros(since_start));
    }
    if (slot < opening_slot_count) ++stats.opening.sent[slot];
  }

  void note_opening_answer(worker_stats& stats, steady::time_point now,
                           std::vector<std::uint64_t> opening_figures::*kind) {
    if (!shared_.options.bell) return;
    std::size_t slot = opening_slot_of(now - *shared_.options.bell);
    if (slot < opening_slot_count) ++(stats.opening.*kind)[slot];
  }

  // The user's answer is final: the send time of the request that decided (for the fairness
  // audit: the first of this ask, when later ones only learnt its answer) and on to the next.
  void decide(worker_stats& stats, const http_reply& reply) {
    user_result& result = shared_.results[index_];
    steady::time_point sent_at =
        ask_sent_at_ != steady::time_point{} ? ask_sent_at_ : reply.sent_at;
    if (sent_at != steady::time_point{}) {
      result.sent_us =
          std::chrono::duration_cast<std::chrono::microseconds>(sent_at - shared_.reference)
              .count();
    }
    result.replayed = reply.replayed;
    if (reply.replayed) ++stats.replayed;
    advance();
  }

  bool take_user() {
    std::size_t index = shared_.next_user.fetch_add(1, std::memory_order_relaxed);
    if (index >= shared_.users.size()) return false;
    index_ = index;
    has_user_ = true;
    transport_attempts_ = 0;
    transport_failed_ = false;
    click_ = 1;
    not_active_answers_ = 0;
    ask_sent_at_ = {};
    return true;
  }

  void advance() {
    has_user_ = false;
    shared_.live.answered_user_count.fetch_add(1, std::memory_order_relaxed);
  }

  void finish() {
    if (phase_ == phase::done) return;
    phase_ = phase::done;
    shared_.issuers_running.fetch_sub(1, std::memory_order_relaxed);
  }

  issue_shared& shared_;
  phase phase_;
  bool early_refresher_;
  milliseconds early_lead_;
  bool has_user_ = false;
  bool released_ = false;
  std::size_t index_ = 0;
  int transport_attempts_ = 0;
  bool transport_failed_ = false;
  int click_ = 1;  // the user's ask after the bell: the Idempotency-Key's last part
  int not_active_answers_ = 0;
  steady::time_point ask_sent_at_{};  // the first attempt of this ask (key) was sent then
  std::string last_code_;
};

// Reads the campaign from one read server every campaign_read_interval while issue scripts
// run: its answers' X-Ecomd-Lsn against the primary's give the lag under the flood.
class campaign_read_script final : public request_script {
 public:
  campaign_read_script(issue_shared& shared, std::size_t server)
      : shared_(shared), server_(server) {}

  bool next_is_paced() const override { return false; }

  bool next(http_request& request) override {
    if (shared_.issuers_running.load(std::memory_order_relaxed) == 0 ||
        shared_.live.stop_requested.load(std::memory_order_relaxed) ||
        steady::now() >= shared_.deadline) {
      return false;
    }
    request.method = http_method::get;
    request.target = shared_.campaign_target;
    request.server = server_;
    request.body_limit_bytes = issue_body_bytes_max;
    return true;
  }

  milliseconds on_reply(const http_request&, http_reply& reply) override {
    worker_stats& stats = shared_.stats[static_cast<std::size_t>(current_worker_index())];
    stats.reads.record_standby(server_ - 1, reply.status, reply.body, reply.lsn,
                               reply.primary_lsn_at_send);
    if (reply.status == 503) return std::max(campaign_read_interval, retry_after_pause(reply));
    return campaign_read_interval;
  }

 private:
  issue_shared& shared_;
  std::size_t server_;
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
    out.first_second_latency.merge(s.first_second_latency);
    if (s.last_issued_after >= steady::duration::zero()) {
      out.last_issue_after_ms =
          std::max(out.last_issue_after_ms,
                   std::chrono::duration<double, std::milli>(s.last_issued_after).count());
    }
  }
  out.issued_per_slot.resize(out.requests_per_slot.size(), 0);
}

opening_report merge_opening(const std::vector<worker_stats>& stats, std::size_t connections) {
  opening_report r;
  r.connections = connections;
  r.sent.assign(opening_slot_count, 0);
  r.issued.assign(opening_slot_count, 0);
  r.sold_out.assign(opening_slot_count, 0);
  r.overloaded.assign(opening_slot_count, 0);
  r.other.assign(opening_slot_count, 0);
  r.slot_ms = static_cast<double>(opening_slot.count());
  for (const auto& s : stats) {
    const opening_figures& o = s.opening;
    r.connections_warmed += o.warmed;
    r.early_requests += o.early_requests;
    r.early_not_active += o.early_not_active;
    r.not_active_after_bell += o.not_active_after_bell;
    r.release_spread.merge(o.release_spread);
    add_slots(r.sent, o.sent);
    add_slots(r.issued, o.issued);
    add_slots(r.sold_out, o.sold_out);
    add_slots(r.overloaded, o.overloaded);
    add_slots(r.other, o.other);
  }
  return r;
}

retry_report count_retries(const issue_phase_options& options,
                           const std::vector<user_result>& users,
                           const std::vector<worker_stats>& stats) {
  retry_report r;
  r.retry_on = options.retry_on;
  r.idempotency = !options.idempotency_prefix.empty();
  for (const auto& u : users) {
    if (u.attempts > 1) {
      ++r.retried_users;
      r.retries += u.attempts - 1;
    }
  }
  for (const auto& s : stats) r.replayed += s.replayed;
  return r;
}

// Connection c refreshes early when it is one of an evenly spread early_share of them; its lead
// before the bell is spread over [early_lead_min, early_lead_max).
bool refreshes_early(std::size_t c, double early_share) {
  return std::floor(static_cast<double>(c + 1) * early_share) >
         std::floor(static_cast<double>(c) * early_share);
}

milliseconds early_lead(std::size_t c) {
  auto span = static_cast<std::size_t>((early_lead_max - early_lead_min).count());
  return early_lead_min + milliseconds((c * 7919) % span);
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
  auto reference = options.bell.value_or(started);
  double slot_s = slot_width_s(options.duration.count());
  std::string campaign_target = "/coupons/fcfs/" + std::to_string(options.campaign_id);
  issue_shared shared{options,
                      users,
                      result.users,
                      stats,
                      live,
                      campaign_target + "/issue",
                      campaign_target,
                      reference,
                      reference + std::chrono::duration_cast<steady::duration>(options.duration),
                      slot_s};
  if (options.pool.pacer != nullptr) options.pool.pacer->start(reference);
  std::size_t connection_count =
      std::min<std::size_t>(static_cast<std::size_t>(options.connection_count), users.size());
  std::vector<std::unique_ptr<request_script>> scripts;
  for (std::size_t c = 0; c < connection_count; ++c) {
    scripts.push_back(std::make_unique<issue_script>(
        shared, options.bell && refreshes_early(c, options.early_share), early_lead(c)));
  }
  shared.issuers_running = scripts.size();
  std::size_t read_server_count = options.pool.read_servers.size();
  for (std::size_t k = 1; k <= read_server_count; ++k) {
    scripts.push_back(std::make_unique<campaign_read_script>(shared, k));
  }
  result.connections_gave_up = run_connection_pool(options.pool, scripts, tick);
  // Throughput counts from the bell (or the start): the wait before it is not load.
  result.measurements.duration_s =
      std::max(0.0, std::chrono::duration<double>(steady::now() - reference).count());
  result.measurements.slot_s = slot_s;
  merge_stats(stats, result.measurements);
  result.reads = read_counts(read_server_count);
  result.sending_ended = started;
  for (const auto& s : stats) {
    result.reads.merge(s.reads);
    result.sending_ended = std::max(result.sending_ended, s.last_answer);
  }
  if (options.bell) {
    result.opening = merge_opening(stats, connection_count);
    result.opening->first_second_latency = result.measurements.first_second_latency;
  }
  result.retries = count_retries(options, result.users, stats);
  return result;
}

}  // namespace ecom::load
