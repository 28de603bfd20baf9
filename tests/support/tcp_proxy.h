// A TCP proxy for end-to-end tests: listens on 127.0.0.1 (ephemeral port) and forwards each
// accepted connection to 127.0.0.1:<upstream_port>, with rules that make the network misbehave
// on purpose: every client->server chunk of a connection can be held back for a while (order
// kept), and every n-th server->client chunk can be swallowed, both sides of its connection
// then closed (the server did the work, the client loses the answer). Boost.Asio on its own
// io_context and one thread; the destructor closes every connection and joins the thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace ecom::test {

struct tcp_proxy_rules {
  // How long each client->server chunk of the connection with this index (accepted
  // connections counted from 0) is held before it is forwarded; empty: not held.
  std::function<std::chrono::milliseconds(std::size_t connection_index)> request_delay;
  // 0: never. Else every n-th server->client chunk (counted over all connections) is not
  // forwarded; both sides of its connection are closed instead.
  std::size_t cut_every_nth_response = 0;
  // When not empty, only server->client chunks that answer a client->server chunk containing
  // this text (the last one forwarded on that connection, e.g. "/issue") are counted for
  // cut_every_nth_response; the others pass untouched.
  std::string cut_only_after_request_containing;
};

// Rules that hold every request of a connection for delay(connection index).
tcp_proxy_rules delay_requests(std::function<std::chrono::milliseconds(std::size_t)> delay);

// Rules that cut every n-th answer (to requests containing marker, when not empty).
tcp_proxy_rules cut_answers(std::size_t every, std::string marker = "");

struct tcp_proxy_state;  // tcp_proxy.cc

class tcp_proxy {
 public:
  // Listens at once; throws std::runtime_error when it cannot.
  explicit tcp_proxy(std::uint16_t upstream_port, tcp_proxy_rules rules = {});
  ~tcp_proxy();
  tcp_proxy(const tcp_proxy&) = delete;
  tcp_proxy& operator=(const tcp_proxy&) = delete;

  std::uint16_t port() const;
  // "http://127.0.0.1:<port>"
  std::string url() const;
  // Server->client chunks swallowed so far (each closed its connection).
  std::size_t cuts() const;
  // Connections accepted so far.
  std::size_t connections() const;
  // Server->client chunks forwarded so far.
  std::size_t responses_forwarded() const;

 private:
  std::unique_ptr<tcp_proxy_state> state_;
};

}  // namespace ecom::test
