// http_server: Boost.Beast HTTP/1.1 listener and sessions on --io-threads threads, each with
// an event loop of its own (connections are spread round-robin). Other work can live on those
// threads too (run_on_thread: ecomd's shards do). Keep-alive, header/body limits, read and idle
// timeouts, a connection cap, and an orderly drain on shutdown. The only place in the project that
// includes Beast; everything else sees request_context and http_reply.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "net/http_types.h"
#include "net/limits.h"

namespace ecom::net {

class metrics;

struct server_options {
  std::string bind = "127.0.0.1";
  std::uint16_t port = 8080;
  std::uint32_t io_threads = 2;
  std::uint32_t connections_max = 10'000;
  std::uint32_t read_timeout_ms = 15'000;            // from the first byte of a request to its end
  std::uint32_t idle_timeout_ms = 60'000;            // keep-alive connection with no request
  std::size_t body_bytes_max = net::body_bytes_max;  // 413 beyond
  std::size_t header_bytes_max = net::header_bytes_max;  // 431 beyond
  bool access_log = true;
};

class http_server {
 public:
  using handler = std::function<void(const request_ptr&)>;

  http_server(server_options options, handler on_request, metrics& counters);
  ~http_server();

  // Binds and listens; returns the port (useful with port 0). Throws on failure.
  std::uint16_t listen();
  // Starts the io threads and returns. Calls on_signal(signal) on an io thread at SIGINT or
  // SIGTERM; it must not block (hand the work to another thread).
  void start(std::function<void(int)> on_signal);
  // Stops accepting; idle keep-alive connections close; in-flight requests finish.
  void stop_accepting();
  // Runs `work` once on io thread `thread % io_threads`, after `delay` (0: as soon as that
  // thread is free; never inline). Before start() it waits for the threads to start.
  void run_on_thread(std::size_t thread, std::chrono::milliseconds delay,
                     std::function<void()> work);
  std::size_t in_flight() const;
  std::size_t connections() const;
  void stop();  // stops and joins the io threads; idempotent

  struct impl;  // public name so the sessions in http_server.cc can see it; defined there

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace ecom::net
