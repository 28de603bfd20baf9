// ecom-load: HTTP load generator for ecomd. `ecom-load fcfs` creates users and an FCFS coupon
// campaign, lets every user ask for a coupon over keep-alive connections, then checks through
// the API that exactly min(quantity, users who asked) were issued.
//
// Output: the human summary on stdout, ending with "invariants: PASS" or "invariants: FAIL
// <what>". With --json, stdout holds only the JSON object and the invariants line is the last
// line on stderr. Exit codes: 0 PASS, 1 FAIL, 2 bad arguments, 3 server unreachable or setup
// failed.
#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>

#include "tools/ecom_load/fcfs_run.h"
#include "tools/ecom_load/fcfs_setup.h"
#include "tools/ecom_load/load_options.h"
#include "tools/ecom_load/progress_display.h"
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

pool_options make_pool_options(const load_options& o) {
  pool_options pool;
  pool.host = o.url.host;
  pool.port = o.url.port;
  pool.thread_count = o.thread_count;
  pool.request_timeout =
      std::chrono::milliseconds(static_cast<std::int64_t>(o.request_timeout_s * 1000));
  return pool;
}

campaign_info prepare_campaign(admin_api& api, const load_options& o) {
  if (o.campaign_id) return api.read_campaign(*o.campaign_id);
  return api.create_campaign(o.quantity, o.duration_s + campaign_open_margin_s);
}

issue_phase_result issue(const load_options& o, const campaign_info& campaign,
                         const std::vector<load_user>& users) {
  live_counters live;
  issue_phase_options phase;
  phase.pool = make_pool_options(o);
  phase.connection_count = o.connection_count;
  phase.duration = std::chrono::duration<double>(o.duration_s);
  phase.campaign_id = campaign.id;
  progress_display progress(live, campaign.total_quantity, o.user_count, phase.duration,
                            o.progress);
  auto tick = [&] {
    if (interrupted) live.stop_requested = true;
    progress.tick();
  };
  issue_phase_result result = run_issue_phase(phase, users, live, tick);
  progress.finish();
  if (result.connections_gave_up > 0) {
    std::fprintf(stderr, "ecom-load: %zu connections could not connect to %s and gave up\n",
                 result.connections_gave_up, o.url.text().c_str());
  }
  return result;
}

void write_outputs(const load_options& o, const fcfs_summary& summary) {
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
  blocking_client client(o.url.host, o.url.port,
                         std::chrono::milliseconds(static_cast<std::int64_t>(
                             std::max(o.request_timeout_s, 120.0) * 1000)));
  admin_api api(client, o.url.text(), o.admin_token);
  api.check_reachable();
  campaign_info campaign = prepare_campaign(api, o);
  std::fprintf(
      stderr,
      "setup: campaign %lld (total_quantity %lld, remaining %lld, %s); creating %lld users\n",
      static_cast<long long>(campaign.id), static_cast<long long>(campaign.total_quantity),
      static_cast<long long>(campaign.remaining_quantity), campaign.status.c_str(),
      static_cast<long long>(o.user_count));
  std::vector<load_user> users = api.create_users(o.user_count, "load");
  issue_phase_result issued = issue(o, campaign, users);
  auto chosen = pick_wallet_sample(issued.users, o.wallet_check_max.value_or(-1));
  auto wallets = run_wallet_check(make_pool_options(o), o.connection_count, o.admin_token,
                                  campaign.id, issued.users, chosen);
  std::optional<campaign_info> after;
  std::string after_error;
  try {
    after = api.read_campaign(campaign.id);
  } catch (const setup_error& e) {
    after_error = e.what();
  }
  fcfs_summary summary{o.url.text(),
                       campaign.id,
                       o.user_count,
                       o.connection_count,
                       o.thread_count,
                       std::move(issued.measurements),
                       {}};
  summary.result = judge_fcfs(campaign.total_quantity, after, after_error, issued.users, wallets,
                              summary.measurements);
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
    return run_fcfs(options);
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
