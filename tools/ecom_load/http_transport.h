// HTTP/1.1 client side of ecom-load without Beast in the header: a blocking client for setup
// and checks, and a pool of keep-alive connections driven by per-connection request scripts.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace ecom::load {

enum class http_method { get, post, del };

struct http_request {
  http_method method = http_method::get;
  std::string target;
  std::string body;  // sent as application/json when not empty
  std::string bearer_token;
  std::size_t body_limit_bytes = 1 << 20;  // largest response body accepted
  std::string idempotency_key;             // sent as Idempotency-Key when not empty
  // Pool only: 0 the pool's server (--url), k >= 1 pool_options::read_servers[k - 1].
  std::size_t server = 0;
  std::int64_t min_lsn = -1;  // sent as X-Ecomd-Min-Lsn when >= 0 (read-your-writes)
};

class arrival_pacer;

struct http_reply {
  int status = 0;  // 0: no complete response (transport_error says why)
  std::string body;
  int retry_after_s = -1;  // Retry-After in seconds, -1 when absent
  bool keep_alive = true;
  std::string transport_error;
  // Write start to full response; with a pacer (open loop), from the request's intended send
  // time instead (coordinated omission corrected), and service_latency is write start to full
  // response.
  std::chrono::nanoseconds latency{0};
  std::chrono::nanoseconds service_latency{0};
  std::chrono::steady_clock::time_point sent_at{};  // when the request's write started
  bool replayed = false;                            // Idempotent-Replayed: true
  std::int64_t lsn = -1;  // X-Ecomd-Lsn of a replicating server; -1 when absent or not decimal
  // The highest X-Ecomd-Lsn of the primary (lsn_tracker) when the request was sent; -1: none
  // seen yet, or no tracker.
  std::int64_t primary_lsn_at_send = -1;
};

// The highest X-Ecomd-Lsn seen on the primary's answers (-1: none), shared by every client
// and pool talking to the primary.
struct lsn_tracker {
  std::atomic<std::int64_t> highest{-1};
  void observe(std::int64_t lsn) {
    std::int64_t seen = highest.load(std::memory_order_relaxed);
    while (lsn > seen && !highest.compare_exchange_weak(seen, lsn, std::memory_order_relaxed)) {
    }
  }
  std::int64_t get() const { return highest.load(std::memory_order_relaxed); }
};

// One blocking keep-alive connection (reconnects when the server closed it).
class blocking_client {
 public:
  blocking_client(std::string host, std::uint16_t port, std::chrono::milliseconds timeout);
  ~blocking_client();
  blocking_client(const blocking_client&) = delete;
  blocking_client& operator=(const blocking_client&) = delete;

  http_reply send(const http_request& request);
  // Every answer's X-Ecomd-Lsn goes into tracker (this client talks to the primary).
  void track_lsn(lsn_tracker* tracker);

 private:
  struct state;
  std::unique_ptr<state> state_;
};

// What one pooled connection does. Calls for one connection never overlap, but may run on
// any I/O thread (current_worker_index() tells which).
class request_script {
 public:
  virtual ~request_script() = default;
  // Fills the next request; false when this connection is done.
  virtual bool next(http_request& request) = 0;
  // With a pacer: whether the next request waits for a send time of the schedule (false for
  // requests outside it, e.g. a warm-up), and whether the script has nothing more to send (a
  // connection waiting for its send time stops early then).
  virtual bool next_is_paced() const { return true; }
  virtual bool finished() const { return false; }
  // The connection stops running the script, for whatever reason: next() returned false, the
  // schedule ended, finished() turned true while it waited, or connecting failed too often.
  virtual void on_stop() {}
  // The answer to the request last filled by next() (status 0 on a transport failure; the
  // connection is reopened before the next request). Returns a pause before next(), waited in
  // slices that end early once finished() is true.
  virtual std::chrono::milliseconds on_reply(const http_request& request, http_reply& reply) = 0;
};

struct server_address {
  std::string host;
  std::uint16_t port = 0;
};

struct pool_options {
  std::string host;
  std::uint16_t port = 0;
  // Further servers a request can name (http_request::server = index + 1); each connection
  // opens its own keep-alive connection to a server when it first sends there.
  std::vector<server_address> read_servers;
  // Answers of host:port (server 0) update it; every reply gets primary_lsn_at_send from it.
  lsn_tracker* primary_lsn = nullptr;
  // Open loop: every paced request waits for the next send time of this schedule.
  arrival_pacer* pacer = nullptr;
  int thread_count = 2;
  std::chrono::milliseconds request_timeout{30000};
  // A connection that failed to connect this many times in a row gives up its script.
  int connect_failures_max = 5;
};

// Index 0..thread_count-1 of the pool thread running the caller; 0 outside the pool.
int current_worker_index();

// Runs every script on its own connection until all are done; calls tick about every 100 ms on
// the calling thread meanwhile. Returns the number of connections that gave up.
std::size_t run_connection_pool(const pool_options& options,
                                std::vector<std::unique_ptr<request_script>>& scripts,
                                const std::function<void()>& tick);

}  // namespace ecom::load
