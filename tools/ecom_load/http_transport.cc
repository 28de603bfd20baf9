// The only Beast translation unit of ecom-load: one request/response exchange as a coroutine,
// the blocking client built on it, and the pool of keep-alive connections.
#include "tools/ecom_load/http_transport.h"

#include "tools/ecom_load/open_loop.h"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <cassert>
#include <charconv>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

namespace ecom::load {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
constexpr auto no_throw = asio::as_tuple(asio::use_awaitable);

namespace {

thread_local int worker_index_of_thread = 0;

constexpr std::uint32_t response_header_bytes_max = 16 * 1024;

http::request<http::string_body> make_beast_request(const http_request& request,
                                                    const std::string& host_header) {
  auto verb = request.method == http_method::get    ? http::verb::get
              : request.method == http_method::post ? http::verb::post
                                                    : http::verb::delete_;
  http::request<http::string_body> out{verb, request.target, 11};
  out.set(http::field::host, host_header);
  out.set(http::field::user_agent, "ecom-load");
  if (!request.bearer_token.empty()) {
    out.set(http::field::authorization, "Bearer " + request.bearer_token);
  }
  if (!request.idempotency_key.empty()) out.set("Idempotency-Key", request.idempotency_key);
  if (request.min_lsn >= 0) out.set("X-Ecomd-Min-Lsn", std::to_string(request.min_lsn));
  if (!request.body.empty()) {
    out.set(http::field::content_type, "application/json");
    out.body() = request.body;
  }
  out.keep_alive(true);
  out.prepare_payload();
  return out;
}

// Retry-After in delay-seconds (RFC 9110 10.2.3); -1 for anything else (an HTTP-date too).
int parse_retry_after_s(beast::string_view text) {
  int value = -1;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc{} || end != text.data() + text.size() || value < 0) {
    return -1;
  }
  return value;
}

// X-Ecomd-Lsn: a decimal LSN; -1 when it is anything else.
std::int64_t parse_lsn(beast::string_view text) {
  std::int64_t value = -1;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc{} || end != text.data() + text.size() || value < 0) {
    return -1;
  }
  return value;
}

// Sends one request on an open stream and reads its response; the timeout is re-armed before
// the write and before the read. A transport failure gives status 0 with the reason.
asio::awaitable<http_reply> exchange(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                     const http_request& request, const std::string& host_header,
                                     std::chrono::milliseconds timeout) {
  http_reply reply;
  auto message = make_beast_request(request, host_header);
  auto started = std::chrono::steady_clock::now();
  stream.expires_after(timeout);
  // Sent when the write starts: a small request goes out in the initiating call (a speculative
  // send), while its completion runs only after the handlers queued before it.
  reply.sent_at = std::chrono::steady_clock::now();
  auto [write_error, written] = co_await http::async_write(stream, message, no_throw);
  if (write_error) {
    reply.transport_error = "write: " + write_error.message();
    co_return reply;
  }
  http::response_parser<http::string_body> parser;
  parser.body_limit(request.body_limit_bytes);
  parser.header_limit(response_header_bytes_max);
  stream.expires_after(timeout);
  auto [read_error, read] = co_await http::async_read(stream, buffer, parser, no_throw);
  reply.latency = std::chrono::steady_clock::now() - started;
  reply.service_latency = reply.latency;
  if (read_error) {
    reply.transport_error = "read: " + read_error.message();
    co_return reply;
  }
  auto& response = parser.get();
  reply.status = static_cast<int>(response.result_int());
  reply.keep_alive = response.keep_alive();
  if (auto it = response.find(http::field::retry_after); it != response.end()) {
    reply.retry_after_s = parse_retry_after_s(it->value());
  }
  if (auto it = response.find("X-Ecomd-Lsn"); it != response.end()) {
    reply.lsn = parse_lsn(it->value());
  }
  if (auto it = response.find("Idempotent-Replayed"); it != response.end()) {
    reply.replayed = it->value() == "true";
  }
  reply.body = std::move(response.body());
  co_return reply;
}

std::string host_header_of(const std::string& host, std::uint16_t port) {
  bool ipv6 = host.find(':') != std::string::npos;
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

void close_stream(beast::tcp_stream& stream, beast::flat_buffer& buffer) {
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream.socket().close(ignored);
  buffer.clear();
}

}  // namespace

int current_worker_index() {
  return worker_index_of_thread;
}

// ---- blocking client ----

struct blocking_client::state {
  asio::io_context io;
  beast::tcp_stream stream{io};
  beast::flat_buffer buffer;
  std::string host;
  std::uint16_t port;
  std::string host_header;
  std::chrono::milliseconds timeout;
  lsn_tracker* tracker = nullptr;
};

blocking_client::blocking_client(std::string host, std::uint16_t port,
                                 std::chrono::milliseconds timeout)
    : state_(std::make_unique<state>()) {
  state_->host = std::move(host);
  state_->port = port;
  state_->host_header = host_header_of(state_->host, port);
  state_->timeout = timeout;
}

blocking_client::~blocking_client() = default;

void blocking_client::track_lsn(lsn_tracker* tracker) {
  state_->tracker = tracker;
}

namespace {

// Opens the stream when it is closed; returns an empty string or the reason it failed.
asio::awaitable<std::string> connect_if_closed(beast::tcp_stream& stream,
                                               const tcp::resolver::results_type& endpoints,
                                               std::chrono::milliseconds timeout) {
  if (stream.socket().is_open()) co_return std::string();
  stream.expires_after(timeout);
  auto [error, endpoint] = co_await stream.async_connect(endpoints, no_throw);
  if (error) {
    beast::error_code ignored;
    stream.socket().close(ignored);
    co_return "connect: " + error.message();
  }
  stream.socket().set_option(tcp::no_delay(true));
  co_return std::string();
}

// Resolves host:port; empty results and the reason on failure.
tcp::resolver::results_type resolve(asio::io_context& io, const std::string& host,
                                    std::uint16_t port, std::string& error) {
  tcp::resolver resolver(io);
  beast::error_code ec;
  auto results = resolver.resolve(host, std::to_string(port), ec);
  if (ec) error = "resolve " + host + ": " + ec.message();
  return results;
}

}  // namespace

http_reply blocking_client::send(const http_request& request) {
  state& s = *state_;
  http_reply reply;
  std::string error;
  auto endpoints = resolve(s.io, s.host, s.port, error);
  if (!error.empty()) {
    reply.transport_error = error;
    return reply;
  }
  auto run = [&]() -> asio::awaitable<void> {
    // A kept-alive connection the server closed meanwhile fails before any byte of the
    // response; such an exchange is tried once more on a new connection.
    for (int attempt = 0; attempt < 2; ++attempt) {
      bool reused = s.stream.socket().is_open();
      std::string connect_error = co_await connect_if_closed(s.stream, endpoints, s.timeout);
      if (!connect_error.empty()) {
        reply.transport_error = connect_error;
        co_return;
      }
      reply = co_await exchange(s.stream, s.buffer, request, s.host_header, s.timeout);
      if (reply.status == 0 || !reply.keep_alive) close_stream(s.stream, s.buffer);
      if (reply.status != 0 || !reused) co_return;
    }
  };
  s.io.restart();
  asio::co_spawn(s.io, run(), asio::detached);
  s.io.run();
  if (s.tracker != nullptr && reply.lsn >= 0) s.tracker->observe(reply.lsn);
  return reply;
}

// ---- connection pool ----

namespace {

// One server a pooled request can go to: index 0 is pool_options::host, k the read server k - 1.
struct pool_server {
  tcp::resolver::results_type endpoints;
  std::string host_header;
};

struct pool_state {
  const pool_options& options;
  std::vector<pool_server> servers;
  std::mutex mutex;
  std::condition_variable all_done;
  std::size_t running = 0;
  std::size_t gave_up = 0;
};

asio::awaitable<void> pause_for(std::chrono::milliseconds pause) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  timer.expires_after(pause);
  co_await timer.async_wait(no_throw);
}

// Waits until at, in slices so that a script that finished meanwhile stops waiting; false then.
asio::awaitable<bool> wait_until(std::chrono::steady_clock::time_point at, request_script& script) {
  constexpr auto slice = std::chrono::milliseconds(50);
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (std::chrono::steady_clock::now() < at) {
    if (script.finished()) co_return false;
    timer.expires_at(std::min(at, std::chrono::steady_clock::now() + slice));
    co_await timer.async_wait(no_throw);
  }
  co_return true;
}

// A script's keep-alive connection to one server.
struct server_link {
  explicit server_link(const asio::any_io_executor& executor) : stream(executor) {}
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
};

// One script: sends its requests one at a time (no pipelining), each on its connection to the
// server the request names (opened when first needed), reopening a connection after a
// transport failure or a "Connection: close" answer.
asio::awaitable<void> run_connection(pool_state& pool, request_script& script) {
  auto executor = co_await asio::this_coro::executor;
  std::vector<std::unique_ptr<server_link>> links(pool.servers.size());
  http_request request;
  int connect_failures = 0;
  bool gave_up = false;
  arrival_pacer* pacer = pool.options.pacer;
  std::chrono::steady_clock::time_point paused_until{};
  while (true) {
    std::optional<std::chrono::steady_clock::time_point> intended;
    if (pacer != nullptr && script.next_is_paced()) {
      if (script.finished()) break;
      intended = pacer->take();
      if (!intended) break;
      if (!co_await wait_until(*intended, script)) {
        pacer->abandon(*intended);
        break;
      }
      // The request the script chose to pause for (Retry-After) is not due before the pause
      // ended; the ones after it count from their own send times again.
      *intended = std::max(*intended, paused_until);
      paused_until = {};
    }
    if (!script.next(request)) {
      if (intended) pacer->abandon(*intended);
      break;
    }
    assert(request.server < pool.servers.size());
    std::size_t server = std::min(request.server, pool.servers.size() - 1);
    if (!links[server]) links[server] = std::make_unique<server_link>(executor);
    beast::tcp_stream& stream = links[server]->stream;
    beast::flat_buffer& buffer = links[server]->buffer;
    std::string connect_error = co_await connect_if_closed(stream, pool.servers[server].endpoints,
                                                           pool.options.request_timeout);
    if (!connect_error.empty()) {  // a due request not sent: unsent
      if (++connect_failures >= pool.options.connect_failures_max) {
        gave_up = true;
        break;
      }
      co_await pause_for(std::chrono::milliseconds(100 * connect_failures));
      continue;
    }
    connect_failures = 0;
    lsn_tracker* tracker = pool.options.primary_lsn;
    std::int64_t primary_lsn = tracker != nullptr ? tracker->get() : -1;
    auto write_start = std::chrono::steady_clock::now();
    http_reply reply = co_await exchange(stream, buffer, request, pool.servers[server].host_header,
                                         pool.options.request_timeout);
    reply.primary_lsn_at_send = primary_lsn;
    if (intended) {
      // wrk2's correction: the answer's latency counts from when the request was due.
      auto answered = std::chrono::steady_clock::now();
      pacer->record(current_worker_index(), *intended, write_start, answered,
                    answered - write_start);
      reply.latency = answered - std::min(*intended, write_start);
    }
    if (tracker != nullptr && server == 0 && reply.lsn >= 0) tracker->observe(reply.lsn);
    if (reply.status == 0 || !reply.keep_alive) close_stream(stream, buffer);
    auto pause = script.on_reply(request, reply);
    if (pause.count() > 0) {
      co_await wait_until(std::chrono::steady_clock::now() + pause, script);
      paused_until = std::chrono::steady_clock::now();
    }
  }
  script.on_stop();
  for (auto& link : links) {
    if (link) close_stream(link->stream, link->buffer);
  }
  std::lock_guard lock(pool.mutex);
  if (gave_up) ++pool.gave_up;
  assert(pool.running > 0);
  if (--pool.running == 0) pool.all_done.notify_all();
}

}  // namespace

std::size_t run_connection_pool(const pool_options& options,
                                std::vector<std::unique_ptr<request_script>>& scripts,
                                const std::function<void()>& tick) {
  assert(options.thread_count >= 1);
  asio::io_context io(options.thread_count);
  pool_state pool{options, {}, {}, {}, 0, 0};
  std::vector<server_address> addresses{{options.host, options.port}};
  addresses.insert(addresses.end(), options.read_servers.begin(), options.read_servers.end());
  for (const auto& address : addresses) {
    std::string error;
    auto endpoints = resolve(io, address.host, address.port, error);
    if (!error.empty()) return scripts.size();
    pool.servers.push_back({std::move(endpoints), host_header_of(address.host, address.port)});
  }
  pool.running = scripts.size();
  for (auto& script : scripts) asio::co_spawn(io, run_connection(pool, *script), asio::detached);
  std::vector<std::thread> threads;
  for (int i = 0; i < options.thread_count; ++i) {
    threads.emplace_back([&io, i] {
      worker_index_of_thread = i;
      io.run();
    });
  }
  {
    std::unique_lock lock(pool.mutex);
    while (pool.running > 0) {
      pool.all_done.wait_for(lock, std::chrono::milliseconds(100));
      lock.unlock();
      if (tick) tick();
      lock.lock();
    }
  }
  for (auto& thread : threads) thread.join();
  return pool.gave_up;
}

}  // namespace ecom::load
