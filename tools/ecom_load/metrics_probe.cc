// The probe's loop: one blocking keep-alive client, a scrape per period, a sample per scrape
// after the first.
#include "tools/ecom_load/metrics_probe.h"

#include "tools/ecom_load/http_transport.h"
#include "tools/ecom_load/server_metrics.h"

namespace ecom::load {

namespace {

constexpr auto probe_period = std::chrono::milliseconds(50);
constexpr auto probe_lead = std::chrono::milliseconds(100);
constexpr auto probe_span = std::chrono::milliseconds(1000);
constexpr auto probe_timeout = std::chrono::milliseconds(1000);
constexpr std::size_t metrics_body_bytes_max = 4 << 20;

}  // namespace

metrics_probe::metrics_probe(server_url url, std::string admin_token,
                             std::chrono::steady_clock::time_point bell)
    : url_(std::move(url)), admin_token_(std::move(admin_token)), bell_(bell) {
  thread_ = std::thread([this] { run(); });
}

metrics_probe::~metrics_probe() {
  stop();
  if (thread_.joinable()) thread_.join();
}

void metrics_probe::stop() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
}

void metrics_probe::finish(opening_report& report, bool stop_now) {
  if (stop_now) stop();
  if (thread_.joinable()) thread_.join();
  report.server_metrics = std::move(samples_);
  report.metrics_error = std::move(error_);
}

void metrics_probe::run() {
  using steady = std::chrono::steady_clock;
  blocking_client client(url_.host, url_.port, probe_timeout);
  http_request request;
  request.target = "/metrics";
  request.bearer_token = admin_token_;
  request.body_limit_bytes = metrics_body_bytes_max;
  std::optional<metrics_scrape> before;
  for (auto at = bell_ - probe_lead; at <= bell_ + probe_span; at += probe_period) {
    {
      std::unique_lock lock(mutex_);
      if (wake_.wait_until(lock, at, [this] { return stop_; })) return;
    }
    http_reply reply = client.send(request);
    if (reply.status != 200) {
      error_ = reply.status == 0 ? "GET /metrics: " + reply.transport_error
                                 : "GET /metrics answered " + std::to_string(reply.status);
      continue;
    }
    metrics_scrape now = parse_metrics_text(reply.body);
    if (before) {
      double t_ms = std::chrono::duration<double, std::milli>(steady::now() - bell_).count();
      samples_.push_back(sample_between(*before, now, t_ms));
    }
    before = now;
  }
}

}  // namespace ecom::load
