// The test TCP proxy: one accept loop and, per connection, three coroutines on one io_context
// thread: the client reader (chunks into a queue, each stamped with its due time), the server
// writer (the queue in order, each chunk once it is due) and the server reader (the cut rule,
// then the client). Everything but the counters is touched on the io thread only.
#include "tests/support/tcp_proxy.h"

#include <array>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <deque>
#include <list>
#include <stdexcept>
#include <thread>

namespace ecom::test {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;
constexpr auto no_throw = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t chunk_bytes_max = 64 * 1024;
// After a failed accept (e.g. out of descriptors) the loop waits this long before the next.
constexpr std::chrono::milliseconds accept_retry_pause{10};

namespace {

struct session;

}  // namespace

struct tcp_proxy_state {
  tcp_proxy_state(std::uint16_t upstream, tcp_proxy_rules r)
      : upstream_port(upstream), rules(std::move(r)) {}

  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  std::uint16_t port = 0;
  std::uint16_t upstream_port;
  tcp_proxy_rules rules;
  std::atomic<std::size_t> accepted{0};
  std::atomic<std::size_t> cuts{0};
  std::atomic<std::size_t> forwarded{0};
  // io thread only:
  std::size_t counted_responses = 0;  // chunks counted for cut_every_nth_response
  bool stopping = false;
  std::list<std::weak_ptr<session>> sessions;
  std::thread thread;
};

namespace {

struct chunk {
  steady::time_point due;
  std::string bytes;
  bool eof = false;  // the client finished sending: shut down the server's receiving side
};

struct session {
  session(tcp_proxy_state& p, tcp::socket c, std::size_t i, std::chrono::milliseconds d)
      : proxy(p),
        client(std::move(c)),
        server(p.io),
        index(i),
        delay(d),
        wake(p.io),
        hold(p.io),
        last_request_matches(p.rules.cut_only_after_request_containing.empty()) {}

  // Closes both sides and wakes every coroutine of the session (each then returns).
  void close() {
    if (closed) return;
    closed = true;
    boost::system::error_code ignored;
    client.shutdown(tcp::socket::shutdown_both, ignored);
    client.close(ignored);
    server.shutdown(tcp::socket::shutdown_both, ignored);
    server.close(ignored);
    wake.cancel();
    hold.cancel();
  }

  tcp_proxy_state& proxy;
  tcp::socket client;
  tcp::socket server;
  std::size_t index;
  std::chrono::milliseconds delay;
  asio::steady_timer wake;  // the server writer waits on it while the queue is empty
  asio::steady_timer hold;  // the server writer waits on it until a chunk is due
  std::deque<chunk> to_server;
  bool closed = false;
  bool last_request_matches;
};

// Client -> queue: every chunk read is stamped with now + delay.
asio::awaitable<void> read_client(std::shared_ptr<session> s) {
  std::array<char, chunk_bytes_max> buffer;
  for (;;) {
    auto [error, read] = co_await s->client.async_read_some(asio::buffer(buffer), no_throw);
    if (s->closed) co_return;
    if (error == asio::error::eof) {
      s->to_server.push_back({steady::now() + s->delay, {}, true});
      s->wake.cancel();
      co_return;
    }
    if (error) {
      s->close();
      co_return;
    }
    s->to_server.push_back({steady::now() + s->delay, std::string(buffer.data(), read), false});
    s->wake.cancel();
  }
}

// Queue -> server, in order, each chunk once it is due.
asio::awaitable<void> write_server(std::shared_ptr<session> s) {
  const std::string& marker = s->proxy.rules.cut_only_after_request_containing;
  for (;;) {
    while (s->to_server.empty() && !s->closed) {
      s->wake.expires_at(steady::time_point::max());
      co_await s->wake.async_wait(no_throw);
    }
    if (s->closed) co_return;
    chunk next = std::move(s->to_server.front());
    s->to_server.pop_front();
    if (next.due > steady::now()) {
      s->hold.expires_at(next.due);
      co_await s->hold.async_wait(no_throw);
      if (s->closed) co_return;
    }
    if (next.eof) {
      boost::system::error_code ignored;
      s->server.shutdown(tcp::socket::shutdown_send, ignored);
      co_return;
    }
    s->last_request_matches = marker.empty() || next.bytes.find(marker) != std::string::npos;
    auto [error, written] =
        co_await asio::async_write(s->server, asio::buffer(next.bytes), no_throw);
    if (s->closed) co_return;
    if (error) {
      s->close();
      co_return;
    }
  }
}

// Server -> client, unless the cut rule swallows the chunk (then both sides are closed). The
// server closing (or failing) ends the session.
asio::awaitable<void> read_server(std::shared_ptr<session> s) {
  std::array<char, chunk_bytes_max> buffer;
  tcp_proxy_state& proxy = s->proxy;
  for (;;) {
    auto [error, read] = co_await s->server.async_read_some(asio::buffer(buffer), no_throw);
    if (s->closed) co_return;
    if (error) {
      s->close();
      co_return;
    }
    std::size_t every = proxy.rules.cut_every_nth_response;
    if (every > 0 && s->last_request_matches && ++proxy.counted_responses % every == 0) {
      proxy.cuts.fetch_add(1, std::memory_order_relaxed);
      s->close();
      co_return;
    }
    auto [write_error, written] =
        co_await asio::async_write(s->client, asio::buffer(buffer.data(), read), no_throw);
    if (s->closed) co_return;
    if (write_error) {
      s->close();
      co_return;
    }
    proxy.forwarded.fetch_add(1, std::memory_order_relaxed);
  }
}

asio::awaitable<void> run_session(std::shared_ptr<session> s) {
  if (s->closed) co_return;
  tcp::endpoint upstream(asio::ip::address_v4::loopback(), s->proxy.upstream_port);
  auto [error] = co_await s->server.async_connect(upstream, no_throw);
  if (s->closed) co_return;
  if (error) {
    s->close();
    co_return;
  }
  boost::system::error_code ignored;
  s->client.set_option(tcp::no_delay(true), ignored);
  s->server.set_option(tcp::no_delay(true), ignored);
  auto executor = co_await asio::this_coro::executor;
  asio::co_spawn(executor, read_client(s), asio::detached);
  asio::co_spawn(executor, write_server(s), asio::detached);
  asio::co_spawn(executor, read_server(s), asio::detached);
}

asio::awaitable<void> accept_loop(tcp_proxy_state& proxy) {
  for (;;) {
    auto [error, socket] = co_await proxy.acceptor.async_accept(no_throw);
    if (proxy.stopping || !proxy.acceptor.is_open()) co_return;
    if (error) {
      asio::steady_timer pause(proxy.io, accept_retry_pause);
      co_await pause.async_wait(no_throw);
      if (proxy.stopping) co_return;
      continue;
    }
    std::size_t index = proxy.accepted.fetch_add(1, std::memory_order_relaxed);
    auto delay =
        proxy.rules.request_delay ? proxy.rules.request_delay(index) : std::chrono::milliseconds(0);
    auto s = std::make_shared<session>(proxy, std::move(socket), index, delay);
    proxy.sessions.remove_if([](const std::weak_ptr<session>& w) { return w.expired(); });
    proxy.sessions.push_back(s);
    asio::co_spawn(proxy.io, run_session(std::move(s)), asio::detached);
  }
}

}  // namespace

tcp_proxy_rules delay_requests(std::function<std::chrono::milliseconds(std::size_t)> delay) {
  tcp_proxy_rules rules;
  rules.request_delay = std::move(delay);
  return rules;
}

tcp_proxy_rules cut_answers(std::size_t every, std::string marker) {
  tcp_proxy_rules rules;
  rules.cut_every_nth_response = every;
  rules.cut_only_after_request_containing = std::move(marker);
  return rules;
}

tcp_proxy::tcp_proxy(std::uint16_t upstream_port, tcp_proxy_rules rules)
    : state_(std::make_unique<tcp_proxy_state>(upstream_port, std::move(rules))) {
  tcp::endpoint listen_at(asio::ip::address_v4::loopback(), 0);
  boost::system::error_code error;
  state_->acceptor.open(listen_at.protocol(), error);
  if (!error) state_->acceptor.set_option(tcp::acceptor::reuse_address(true), error);
  if (!error) state_->acceptor.bind(listen_at, error);
  if (!error) state_->acceptor.listen(asio::socket_base::max_listen_connections, error);
  if (error) throw std::runtime_error("tcp_proxy: cannot listen: " + error.message());
  state_->port = state_->acceptor.local_endpoint().port();
  asio::co_spawn(state_->io, accept_loop(*state_), asio::detached);
  state_->thread = std::thread([p = state_.get()] { p->io.run(); });
}

tcp_proxy::~tcp_proxy() {
  tcp_proxy_state* p = state_.get();
  asio::post(p->io, [p] {
    p->stopping = true;
    boost::system::error_code ignored;
    p->acceptor.close(ignored);
    for (auto& weak : p->sessions) {
      if (auto s = weak.lock()) s->close();
    }
  });
  // Every operation is aborted now; each coroutine returns, and run() with them.
  p->thread.join();
}

std::uint16_t tcp_proxy::port() const {
  return state_->port;
}

std::string tcp_proxy::url() const {
  return "http://127.0.0.1:" + std::to_string(state_->port);
}

std::size_t tcp_proxy::cuts() const {
  return state_->cuts.load(std::memory_order_relaxed);
}

std::size_t tcp_proxy::connections() const {
  return state_->accepted.load(std::memory_order_relaxed);
}

std::size_t tcp_proxy::responses_forwarded() const {
  return state_->forwarded.load(std::memory_order_relaxed);
}

}  // namespace ecom::test
