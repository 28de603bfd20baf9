// The wait for the read servers after setup, with the blocking client.
#include "tools/ecom_load/standby_wait.h"

#include <algorithm>
#include <cstdio>
#include <string>
#include <thread>

#include "tools/ecom_load/fcfs_setup.h"
#include "tools/ecom_load/http_transport.h"

namespace ecom::load {

namespace {

using steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds standby_poll_pause{200};
constexpr milliseconds standby_retry_after_max{1000};
// The standby itself waits up to 1 s for X-Ecomd-Min-Lsn before answering REPLICA_BEHIND.
constexpr milliseconds standby_request_timeout{5000};
constexpr std::chrono::seconds standby_progress_every{2};
constexpr std::size_t standby_probe_body_bytes_max = 1 << 20;

double seconds_since(steady::time_point start) {
  return std::chrono::duration<double>(steady::now() - start).count();
}

std::string lsn_text(std::int64_t lsn) {
  return lsn < 0 ? "none" : std::to_string(lsn);
}

// "503 REPLICA_BEHIND: ... (X-Ecomd-Lsn 12)" or the transport error.
std::string answer_text(const http_reply& reply) {
  std::string text = describe_answer(reply);
  if (reply.status != 0) text += " (X-Ecomd-Lsn " + lsn_text(reply.lsn) + ")";
  return text;
}

// Waits for one read server until deadline; throws setup_error when it passes.
void wait_for_one(const server_url& url, std::int64_t lsn, steady::time_point started,
                  steady::time_point deadline) {
  blocking_client client(url.host, url.port, standby_request_timeout);
  std::string name = url.text();
  // "" when the primary sent no X-Ecomd-Lsn: then only readiness is waited for.
  std::string at_lsn = lsn < 0 ? "" : " at LSN " + std::to_string(lsn);
  std::fprintf(stderr, "replicas: waiting for %s to be ready%s (at most %lld s in all)\n",
               name.c_str(), at_lsn.c_str(), static_cast<long long>(standby_wait_max.count()));
  bool ready = false;
  std::string last = "no answer yet";
  auto next_progress = steady::now() + standby_progress_every;
  for (;;) {
    http_request request;
    request.method = http_method::get;
    request.target = ready ? "/products?limit=1" : "/readyz";
    request.body_limit_bytes = standby_probe_body_bytes_max;
    if (ready) request.min_lsn = lsn;
    http_reply reply = client.send(request);
    if (!ready && reply.status == 200) {
      ready = true;
      continue;
    }
    if (ready && reply.status == 200 && (lsn < 0 || reply.lsn < 0 || reply.lsn >= lsn)) {
      std::string answered_at = reply.lsn < 0 ? "" : " at LSN " + std::to_string(reply.lsn);
      std::fprintf(stderr, "replicas: %s ready%s after %.1f s\n", name.c_str(), answered_at.c_str(),
                   seconds_since(started));
      return;
    }
    last = std::string(ready ? "GET /products?limit=1: " : "GET /readyz: ") + answer_text(reply);
    auto now = steady::now();
    if (now >= deadline) {
      throw setup_error("--read-url " + name + " was not ready" + at_lsn + " within " +
                        std::to_string(standby_wait_max.count()) + " s; last answer: " + last);
    }
    if (now >= next_progress) {
      std::fprintf(stderr, "replicas: still waiting for %s (%.0f s): %s\n", name.c_str(),
                   seconds_since(started), last.c_str());
      next_progress = now + standby_progress_every;
    }
    milliseconds pause = standby_poll_pause;
    if (reply.status == 503 && reply.retry_after_s > 0) {
      pause = std::min(milliseconds(1000LL * reply.retry_after_s), standby_retry_after_max);
    }
    auto left = std::chrono::duration_cast<milliseconds>(deadline - now);
    std::this_thread::sleep_for(std::clamp(left, milliseconds(0), pause));
  }
}

}  // namespace

double wait_for_read_servers(const std::vector<server_url>& read_urls, std::int64_t lsn) {
  auto started = steady::now();
  auto deadline = started + standby_wait_max;
  for (const auto& url : read_urls) wait_for_one(url, lsn, started, deadline);
  return seconds_since(started);
}

}  // namespace ecom::load
