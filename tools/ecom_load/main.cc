// ecom-load: HTTP load generator for ecomd. `ecom-load fcfs` creates users and an FCFS coupon
// campaign, lets every user ask for a coupon over keep-alive connections, then checks through
// the API that exactly min(quantity, users who asked) were issued. `ecom-load mixed` creates
// products, users with balances and coupons, runs shopping sessions (browse, cart, checkout,
// order, pay, cancel, popular) and then audits balances, stock, orders, coupons and events.
//
// Output: the human summary on stdout, ending with "invariants: PASS" or "invariants: FAIL
// <what>". With --json, stdout holds only the JSON object and the invariants line is the last
// line on stderr. Exit codes: 0 PASS, 1 FAIL, 2 bad arguments, 3 server unreachable or setup
// failed.
//
// With --read-url (repeatable), the measured run's GETs go to those standbys (writes and setup
// to --url), after a wait for them to apply setup; the summaries gain the replication figures
// (reads per server, lag in records, REPLICA_BEHIND answers, read-your-writes checks).
//
// With --rate or --stages the load phase is an open loop (requests sent on a schedule, latency
// counted from each request's intended time); fcfs --opens-in rings an opening bell; fcfs
// always reports the fairness audit and the retries.
#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <random>

#include "tools/ecom_load/fairness_audit.h"
#include "tools/ecom_load/fcfs_run.h"
#include "tools/ecom_load/fcfs_setup.h"
#include "tools/ecom_load/load_options.h"
#include "tools/ecom_load/metrics_probe.h"
#include "tools/ecom_load/mixed_run.h"
#include "tools/ecom_load/mixed_setup.h"
#include "tools/ecom_load/open_loop.h"
#include "tools/ecom_load/progress_display.h"
#include "tools/ecom_load/standby_wait.h"
#include "tools/ecom_load/summary_output.h"

namespace ecom::load {

namespace {

constexpr int exit_pass = 0;
constexpr int exit_fail = 1;
constexpr int exit_usage = 2;
constexpr int exit_setup = 3;
// The campaign stays open this long past the issue phase.
constexpr double campaign_open_margin_s = 3600;

volatile std::sig_atomic_t interrupted = 0;

void on_interrupt(int) {
  interrupted = 1;
}

// primary_lsn (may be null) collects the X-Ecomd-Lsn of the primary's answers.
pool_options make_pool_options(const load_options& o, lsn_tracker* primary_lsn) {
  pool_options pool;
  pool.host = o.url.host;
  pool.port = o.url.port;
  for (const auto& url : o.read_urls) pool.read_servers.push_back({url.host, url.port});
  pool.primary_lsn = primary_lsn;
  pool.thread_count = o.thread_count;
  pool.request_timeout =
      std::chrono::milliseconds(static_cast<std::int64_t>(o.request_timeout_s * 1000));
  return pool;
}

// The open-loop pacer of --rate or --stages; null for a closed loop.
std::unique_ptr<arrival_pacer> make_pacer(const load_options& o) {
  if (!o.open_loop()) return nullptr;
  std::string text;
  arrival_schedule schedule;
  if (o.rate_per_s) {
    schedule = arrival_schedule::constant(*o.rate_per_s, o.duration_s);
    char rate[64];
    std::snprintf(rate, sizeof rate, "%g/s", *o.rate_per_s);
    text = rate;
  } else {
    schedule = arrival_schedule::ramping(o.stages);
    text = o.stages_text;
  }
  return std::make_unique<arrival_pacer>(std::move(schedule), std::move(text), o.late_ms,
                                         o.thread_count, slot_width_s(o.duration_s));
}

// A prefix for the run's Idempotency-Keys that no earlier run on the same server used.
std::string run_key_prefix() {
  std::random_device device;
  std::uint64_t nonce =
      (std::uint64_t{device()} << 32) ^ device() ^
      static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
  char text[32];
  std::snprintf(text, sizeof text, "el-%016llx", static_cast<unsigned long long>(nonce));
  return text;
}

// "http://127.0.0.1:8080" or "http://127.0.0.1:8080 or a --read-url" for the gave-up message.
std::string servers_text(const load_options& o) {
  return o.read_urls.empty() ? o.url.text() : o.url.text() + " or a --read-url";
}

// The standbys' wait after setup (nothing without --read-url); fills what the report needs.
void wait_for_standbys(const load_options& o, const lsn_tracker& primary_lsn,
                       std::optional<replication_report>& report) {
  if (o.read_urls.empty()) return;
  report.emplace();
  for (const auto& url : o.read_urls) report->read_urls.push_back(url.text());
  report->setup_lsn = primary_lsn.get();
  report->wait_s = wait_for_read_servers(o.read_urls, report->setup_lsn);
}

// The run's reads and the primary's highest LSN into the report (when there is one).
void finish_report(std::optional<replication_report>& report, read_counts reads,
                   const lsn_tracker& primary_lsn) {
  if (!report) return;
  report->reads = std::move(reads);
  report->reads.standbys.resize(report->read_urls.size());
  report->primary_lsn_max = primary_lsn.get();
}

campaign_info prepare_campaign(admin_api& api, const load_options& o) {
  if (o.campaign_id) return api.read_campaign(*o.campaign_id);
  return api.create_campaign(o.quantity, o.duration_s + campaign_open_margin_s);
}

// The opening bell: a campaign that opens opens_in_s from now (a whole millisecond of the wall
// clock the server also reads), and that moment on the steady clock.
struct bell_campaign {
  campaign_info campaign;
  std::string start_at;
  std::chrono::steady_clock::time_point bell;
};

bell_campaign prepare_bell_campaign(admin_api& api, const load_options& o) {
  using namespace std::chrono;
  auto wall_now = system_clock::now();
  auto steady_now = steady_clock::now();
  auto start_at = ceil<milliseconds>(
      wall_now + duration_cast<system_clock::duration>(duration<double>(*o.opens_in_s)));
  bell_campaign out;
  out.campaign =
      api.create_campaign(o.quantity, o.duration_s + campaign_open_margin_s, "", start_at);
  out.start_at = rfc3339_at(start_at);
  out.bell = steady_now + duration_cast<steady_clock::duration>(start_at - wall_now);
  return out;
}

struct issue_inputs {
  const campaign_info& campaign;
  std::optional<std::chrono::steady_clock::time_point> bell;
  arrival_pacer* pacer = nullptr;
};

issue_phase_result issue(const load_options& o, const issue_inputs& in,
                         const std::vector<load_user>& users, lsn_tracker& primary_lsn) {
  const campaign_info& campaign = in.campaign;
  live_counters live;
  issue_phase_options phase;
  phase.pool = make_pool_options(o, &primary_lsn);
  phase.pool.pacer = in.pacer;
  phase.connection_count = o.connection_count;
  phase.duration = std::chrono::duration<double>(o.duration_s);
  phase.campaign_id = campaign.id;
  phase.bell = in.bell;
  phase.early_share = o.early_share;
  phase.retry_on = o.retry_on;
  if (o.idempotency) phase.idempotency_prefix = run_key_prefix();
  auto detail = [&live, quantity = campaign.total_quantity, users = o.user_count] {
    return "issued " + with_thousands(live.issued_count.load(std::memory_order_relaxed)) + "/" +
           with_thousands(static_cast<std::uint64_t>(quantity)) + ", users answered " +
           with_thousands(live.answered_user_count.load(std::memory_order_relaxed)) + "/" +
           with_thousands(static_cast<std::uint64_t>(users));
  };
  progress_display progress(live.request_count, detail, phase.duration, o.progress);
  auto tick = [&] {
    if (interrupted) live.stop_requested = true;
    progress.tick();
  };
  issue_phase_result result = run_issue_phase(phase, users, live, tick);
  progress.finish();
  if (result.connections_gave_up > 0) {
    std::fprintf(stderr, "ecom-load: %zu connections could not connect to %s and gave up\n",
                 result.connections_gave_up, servers_text(o).c_str());
  }
  return result;
}

template <typename summary_type>
void write_outputs(const load_options& o, const summary_type& summary) {
  if (!o.report_path.empty()) {
    std::ofstream report(o.report_path, std::ios::binary | std::ios::trunc);
    report << summary_html(summary);
    if (!report) std::fprintf(stderr, "ecom-load: could not write %s\n", o.report_path.c_str());
  }
  if (o.json) {
    std::cout << summary_json(summary) << std::endl;
    std::cerr << invariants_line(summary.result) << std::endl;
  } else {
    write_human_summary(std::cout, summary);
    std::cout.flush();
  }
}

int run_fcfs(const load_options& o) {
  lsn_tracker primary_lsn;
  blocking_client client(o.url.host, o.url.port,
                         std::chrono::milliseconds(static_cast<std::int64_t>(
                             std::max(o.request_timeout_s, 120.0) * 1000)));
  client.track_lsn(&primary_lsn);
  admin_api api(client, o.url.text(), o.admin_token);
  api.check_reachable();
  // With a bell the users come first: the bell is counted from when they exist.
  std::vector<load_user> users;
  if (o.opens_in_s) users = api.create_users(o.user_count, "load");
  std::optional<bell_campaign> bell;
  if (o.opens_in_s) bell = prepare_bell_campaign(api, o);
  campaign_info campaign = bell ? bell->campaign : prepare_campaign(api, o);
  std::fprintf(stderr, "setup: campaign %lld (total_quantity %lld, remaining %lld, %s%s%s)%s\n",
               static_cast<long long>(campaign.id), static_cast<long long>(campaign.total_quantity),
               static_cast<long long>(campaign.remaining_quantity), campaign.status.c_str(),
               bell ? ", opens at " : "", bell ? bell->start_at.c_str() : "",
               bell ? "" : ("; creating " + std::to_string(o.user_count) + " users").c_str());
  if (!o.opens_in_s) users = api.create_users(o.user_count, "load");
  std::optional<replication_report> replication;
  wait_for_standbys(o, primary_lsn, replication);
  std::unique_ptr<arrival_pacer> pacer = make_pacer(o);
  std::optional<metrics_probe> probe;
  if (bell) probe.emplace(o.url, o.admin_token, bell->bell);
  issue_phase_result issued =
      issue(o, {campaign, bell ? std::optional(bell->bell) : std::nullopt, pacer.get()}, users,
            primary_lsn);
  finish_report(replication, std::move(issued.reads), primary_lsn);
  auto chosen = pick_wallet_sample(issued.users, o.wallet_check_max.value_or(-1));
  auto wallets = run_wallet_check(make_pool_options(o, &primary_lsn), o.connection_count,
                                  o.admin_token, campaign.id, issued.users, chosen);
  std::optional<campaign_info> after;
  std::string after_error;
  try {
    after = api.read_campaign(campaign.id);
  } catch (const setup_error& e) {
    after_error = e.what();
  }
  fcfs_summary summary;
  summary.url = o.url.text();
  summary.campaign_id = campaign.id;
  summary.user_count = o.user_count;
  summary.connection_count = o.connection_count;
  summary.thread_count = o.thread_count;
  summary.measurements = std::move(issued.measurements);
  summary.replication = std::move(replication);
  summary.result = judge_fcfs(campaign.total_quantity, after, after_error, issued.users, wallets,
                              summary.measurements);
  summary.fairness = audit_fairness(issued.users, o.fairness_tolerance_ms);
  summary.retries = issued.retries;
  judge_retries(summary.retries, summary.result);
  if (pacer) summary.open_loop = pacer->report(issued.sending_ended);
  if (bell && issued.opening) {
    summary.opening = std::move(issued.opening);
    if (summary.result.remaining_quantity == 0) {
      summary.opening->sold_out_after_ms = summary.measurements.last_issue_after_ms;
    }
    summary.opening->start_at = bell->start_at;
    summary.opening->opens_in_s = *o.opens_in_s;
    probe->finish(*summary.opening, interrupted != 0);
  }
  write_outputs(o, summary);
  return summary.result.pass() ? exit_pass : exit_fail;
}

mixed_phase_result run_mixed_load(const load_options& o, mixed_catalog& catalog,
                                  std::vector<user_record>& users, const std::string& key_prefix,
                                  lsn_tracker& primary_lsn, arrival_pacer* pacer) {
  mixed_live live;
  mixed_phase_options phase;
  phase.pool = make_pool_options(o, &primary_lsn);
  phase.pool.pacer = pacer;
  phase.connection_count = o.connection_count;
  phase.duration = std::chrono::duration<double>(o.duration_s);
  phase.knobs = o.mixed;
  phase.key_prefix = key_prefix;
  phase.admin_token = o.admin_token;
  auto detail = [&live] {
    return "sessions " + with_thousands(live.session_count.load(std::memory_order_relaxed)) +
           ", paid " + with_thousands(live.paid_count.load(std::memory_order_relaxed)) +
           ", payments failed " +
           with_thousands(live.payment_failed_count.load(std::memory_order_relaxed));
  };
  progress_display progress(live.request_count, detail, phase.duration, o.progress);
  auto tick = [&] {
    if (interrupted) live.stop_requested = true;
    progress.tick();
  };
  if (pacer != nullptr) pacer->start(std::chrono::steady_clock::now());
  mixed_phase_result result = run_mixed_phase(phase, catalog, users, live, tick);
  progress.finish();
  if (result.connections_gave_up > 0) {
    std::fprintf(stderr, "ecom-load: %zu connections could not connect to %s and gave up\n",
                 result.connections_gave_up, servers_text(o).c_str());
  }
  return result;
}

int run_mixed(const load_options& o) {
  lsn_tracker primary_lsn;
  blocking_client client(o.url.host, o.url.port,
                         std::chrono::milliseconds(static_cast<std::int64_t>(
                             std::max(o.request_timeout_s, 120.0) * 1000)));
  client.track_lsn(&primary_lsn);
  admin_api api(client, o.url.text(), o.admin_token);
  api.check_reachable();
  std::string key_prefix = run_key_prefix();
  mixed_setup_result setup =
      run_mixed_setup(api, o, make_pool_options(o, &primary_lsn), key_prefix);
  std::optional<replication_report> replication;
  wait_for_standbys(o, primary_lsn, replication);
  if (replication) replication->own_reads_sent = true;
  std::unique_ptr<arrival_pacer> pacer = make_pacer(o);
  mixed_phase_result load =
      run_mixed_load(o, setup.catalog, setup.users, key_prefix, primary_lsn, pacer.get());
  auto load_ended = std::chrono::steady_clock::now();
  finish_report(replication, std::move(load.reads), primary_lsn);
  std::fprintf(stderr, "audit: reading %zu users, %zu products and the event log\n",
               setup.users.size(), setup.catalog.products.size());
  // The audit reads the primary: it checks what the primary acknowledged.
  mixed_server_state state =
      read_server_state(make_pool_options(o, &primary_lsn), o.connection_count, o.admin_token,
                        setup.catalog, setup.users);
  mixed_summary summary;
  summary.url = o.url.text();
  summary.user_count = o.user_count;
  summary.product_count = static_cast<std::int64_t>(setup.catalog.products.size());
  for (const auto& p : setup.catalog.products) {
    summary.combination_count += static_cast<std::int64_t>(p.combinations.size());
  }
  summary.campaign_id = setup.catalog.campaign_id;
  summary.connection_count = o.connection_count;
  summary.thread_count = o.thread_count;
  summary.measurements = std::move(load.measurements);
  if (pacer) summary.open_loop = pacer->report(load_ended);
  summary.result = judge_mixed(setup.catalog, setup.users, state, summary.measurements.ops);
  if (load.connections_gave_up > 0) {
    summary.result.failures.push_back(std::to_string(load.connections_gave_up) +
                                      " connections gave up (server unreachable)");
  }
  if (replication) {
    std::string stale = stale_reads_failure(replication->reads);
    if (!stale.empty()) summary.result.failures.push_back(stale);
  }
  summary.replication = std::move(replication);
  write_outputs(o, summary);
  return summary.result.pass() ? exit_pass : exit_fail;
}

// Raises the open-file limit to its hard maximum: every connection is a descriptor. Warns when
// even that is too few for the connections asked for.
void raise_file_limit(int connection_count) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
  constexpr rlim_t descriptors_spare = 64;
  if (limit.rlim_cur != RLIM_INFINITY &&
      limit.rlim_cur < static_cast<rlim_t>(connection_count) + descriptors_spare) {
    std::fprintf(stderr, "ecom-load: warning: open-file limit %llu is low for %d connections\n",
                 static_cast<unsigned long long>(limit.rlim_cur), connection_count);
  }
}

// Fails early (exit 2) when the report file cannot be written, before any load is sent.
void check_report_path(const load_options& o) {
  if (o.report_path.empty()) return;
  std::ofstream probe(o.report_path, std::ios::binary | std::ios::app);
  if (!probe) throw usage_error("--report " + o.report_path + ": cannot open for writing");
}

}  // namespace

int main_with_args(const std::vector<std::string>& args) {
  load_options options;
  try {
    parse_result parsed = parse_load_options(args, std::getenv("ECOM_ADMIN_TOKEN"));
    if (!parsed.options) {
      std::cout << parsed.help_text;
      return exit_pass;
    }
    options = std::move(*parsed.options);
    check_report_path(options);
  } catch (const usage_error& e) {
    std::fprintf(stderr, "ecom-load: %s\nrun 'ecom-load --help' for the options\n", e.what());
    return exit_usage;
  }
  std::signal(SIGINT, on_interrupt);
  raise_file_limit(options.connection_count);
  try {
    return options.scenario == "mixed" ? run_mixed(options) : run_fcfs(options);
  } catch (const setup_error& e) {
    std::fprintf(stderr, "ecom-load: %s\n", e.what());
    return exit_setup;
  }
}

}  // namespace ecom::load

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return ecom::load::main_with_args(args);
}
