#include "net/http_server.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <csignal>
#include <optional>
#include <thread>
#include <vector>

#include "net/auth.h"
#include "net/http_wire.h"
#include "net/log.h"
#include "net/metrics.h"
#include "net/problem.h"

namespace ecom::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
// Sessions run on one io_context each and name its executor type directly: the default
// any_io_executor is type-erased and was copied, compared and destroyed on every operation.
using io_executor = asio::io_context::executor_type;
using session_socket = asio::basic_stream_socket<tcp, io_executor>;
using session_timer =
    asio::basic_waitable_timer<std::chrono::steady_clock,
                               asio::wait_traits<std::chrono::steady_clock>, io_executor>;
using steady_time = std::chrono::steady_clock::time_point;

namespace {
bool valid_request_id(std::string_view id) {
  bool ok = !id.empty() && id.size() <= request_id_length_max;
  for (char c : id) ok = ok && c >= 0x21 && c <= 0x7e;
  return ok;
}
}  // namespace

struct http_server::impl {
  impl(server_options o, handler h, metrics& m)
      : options(std::move(o)), on_request(std::move(h)), counters(m) {
    // One io_context per thread, each run by exactly that thread: a connection's handlers
    // never race, so no strand is needed, and the hint lets Asio skip most of its locking.
    for (std::uint32_t i = 0; i < options.io_threads; ++i) {
      contexts.push_back(std::make_unique<asio::io_context>(1));
      keep_running.push_back(asio::make_work_guard(*contexts.back()));
    }
    acceptor.emplace(*contexts.front());
    signals.emplace(*contexts.front(), SIGINT, SIGTERM);
    accept_backoff.emplace(*contexts.front());
    std::string raw = random_bytes(4);
    static constexpr char hex[] = "0123456789abcdef";
    for (char c : raw) {
      request_id_prefix.push_back(hex[static_cast<unsigned char>(c) >> 4]);
      request_id_prefix.push_back(hex[static_cast<unsigned char>(c) & 15]);
    }
  }

  void do_accept();
  void on_accept(beast::error_code ec, session_socket socket);
  // Writes the next generated request id into `id` (its capacity is reused).
  void next_request_id(std::string& id) {
    id.clear();
    id += request_id_prefix;
    id += '-';
    char digits[20];
    auto end = std::to_chars(digits, digits + sizeof digits,
                             request_counter.fetch_add(1, std::memory_order_relaxed))
                   .ptr;
    id.append(digits, end);
  }

  server_options options;
  handler on_request;
  metrics& counters;
  // Declared before the contexts: sessions destroyed inside ~io_context still count themselves out.
  std::atomic<std::size_t> in_flight{0};  // from dispatch until the reply is written
  std::atomic<std::size_t> connections{0};
  std::atomic<bool> draining{false};
  std::atomic<std::uint64_t> request_counter{1};
  std::string request_id_prefix;
  // The shortest timeout a session can set (read, idle, drain): a session's watchdog looks at
  // its deadline at least this often (see session::watch).
  std::chrono::steady_clock::duration watch_period = std::min(
      {std::chrono::steady_clock::duration(std::chrono::milliseconds(options.read_timeout_ms)),
       std::chrono::steady_clock::duration(std::chrono::milliseconds(options.idle_timeout_ms)),
       std::chrono::steady_clock::duration(drain_timeout)});
  std::vector<std::unique_ptr<asio::io_context>> contexts;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> keep_running;
  std::size_t next_context = 0;  // acceptor's thread only: new connections go round-robin
  std::optional<tcp::acceptor> acceptor;
  std::optional<asio::signal_set> signals;
  std::optional<asio::steady_timer> accept_backoff;
  std::vector<std::thread> threads;
};

namespace {

class session final : public std::enable_shared_from_this<session>, public reply_channel {
 public:
  session(session_socket&& socket, http_server::impl& server)
      : socket_(std::move(socket)), watchdog_(socket_.get_executor()), server_(server) {
    server_.connections.fetch_add(1, std::memory_order_relaxed);
  }
  ~session() { server_.connections.fetch_sub(1, std::memory_order_relaxed); }

  void start() {
    asio::dispatch(socket_.get_executor(), [self = shared_from_this()] {
      beast::error_code ignored;
      self->socket_.non_blocking(true, ignored);  // on_readable's read must never wait
      self->watch();
      self->do_read();
    });
  }

  // Over the connection cap: one 503 and close.
  void reject() {
    asio::dispatch(socket_.get_executor(), [self = shared_from_this()] {
      self->watch();
      self->keep_alive_ = false;
      self->server_.next_request_id(self->request_id_);
      self->started_ = std::chrono::steady_clock::now();
      std::string detail = std::to_string(self->server_.options.connections_max) +
                           " connections are open, the most this server takes; retry later";
      http_reply refusal = make_problem_reply({503, "OVERLOADED", std::move(detail), {}});
      refusal.header("Retry-After", "1");
      self->write(std::move(refusal), true);
    });
  }

  void respond(http_reply&& answer) override {
    asio::dispatch(socket_.get_executor(),
                   [self = shared_from_this(), answer = std::move(answer)]() mutable {
                     self->write(std::move(answer), false);
                   });
  }

  void run_on_io(std::function<void()> work) override {
    asio::post(socket_.get_executor(), std::move(work));
  }

 private:
  void do_read() {
    if (server_.draining.load(std::memory_order_acquire)) return do_close();
    if (buffer_.size() > 0) return parse_buffered();  // pipelined: the next request is here
    // A new connection's first request must arrive whole within the read timeout of its accept
    // (one that connects and says nothing is a slowloris too); a keep-alive connection waits
    // for its next request's first byte under the idle timeout, then the read timeout runs
    // from that byte (parse_buffered).
    expire_after(std::chrono::milliseconds(requests_read_ == 0 ? server_.options.read_timeout_ms
                                                               : server_.options.idle_timeout_ms));
    if (out_.capacity() > idle_reply_capacity_bytes_max) std::string().swap(out_);
    wait_readable();
  }

  // Waits for the socket to be readable holding no read buffer and no parser: an idle
  // connection costs its session and the socket (docs/performance.md, idle connections).
  void wait_readable() {
    buffer_.shrink_to_fit();  // empty here: frees it
    parser_.reset();
    socket_.async_wait(tcp::socket::wait_read, [self = shared_from_this()](beast::error_code ec) {
      // A wait that completed in the same pass as the watchdog's close is a timeout too: a
      // request must not run when its reply cannot be written.
      if (ec || self->timed_out_) return self->do_close();
      self->on_readable();
    });
  }

  void on_readable() {
    beast::error_code ec;
    const std::size_t n = socket_.read_some(buffer_.prepare(read_chunk_bytes), ec);
    // Woken with nothing to read: wait again (under the same deadline).
    if (ec == asio::error::would_block) return wait_readable();
    if (ec) return do_close();  // end of stream, reset
    buffer_.commit(n);
    parse_buffered();
  }

  // A request usually arrives whole in one read: parse it from the buffer right here, and go
  // through Beast's read operations (an extra post per request) only when bytes are missing.
  void parse_buffered() {
    parser_.emplace(server_.options.header_bytes_max, server_.options.body_bytes_max);
    started_ = std::chrono::steady_clock::now();
    // The first request keeps the deadline its connection got at accept (do_read).
    if (requests_read_ > 0)
      expire_after(std::chrono::milliseconds(server_.options.read_timeout_ms));
    // The header first, on its own, so the bytes it took are known (see parse_in_place); the
    // session counts the header's bytes itself (on_header).
    const buffered_parse parsed = parse_in_place(*parser_, buffer_.data());
    header_bytes_ = parsed.header_bytes;
    buffer_.consume(parsed.consumed);
    if (parsed.ec == http::error::need_more) return read_header();  // read_header adds the rest
    on_header(parsed.ec, header_bytes_);
  }

  void read_header() {
    http::async_read_header(socket_, buffer_, *parser_,
                            [self = shared_from_this()](beast::error_code ec, std::size_t bytes) {
                              self->on_header(ec, self->header_bytes_ + bytes);
                            });
  }

  void on_header(beast::error_code ec, std::size_t header_bytes) {
    if (timed_out_) return do_close();  // the watchdog closed the socket: nothing to answer
    if (ec) return on_read_error(ec);
    // Beast's own header_limit does not always fire when the block arrives in pieces; the
    // count of bytes the header took is exact, so enforce the limit on it as well.
    if (header_bytes > server_.options.header_bytes_max)
      return on_read_error(http::error::header_limit);
    if (parser_->is_done()) return on_request();
    auto expect = parser_->view(parser_->expect);
    if (beast::iequals(expect, "100-continue")) {
      static constexpr std::string_view go_on = "HTTP/1.1 100 Continue\r\n\r\n";
      return asio::async_write(socket_, asio::buffer(go_on.data(), go_on.size()),
                               [self = shared_from_this()](beast::error_code ec, std::size_t) {
                                 if (ec) return self->do_close();
                                 self->read_body();
                               });
    }
    read_body();
  }

  void read_body() {
    http::async_read(socket_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       if (self->timed_out_) return self->do_close();
                       if (ec) return self->on_read_error(ec);
                       self->on_request();
                     });
  }

  void on_read_error(beast::error_code ec) {
    // A 413 decided from Content-Length has the whole header: echo its request id. (The
    // parser keeps every field it completed, even when the message fails afterwards.)
    std::string_view rid;
    if (parser_) rid = parser_->view(parser_->request_id);
    take_request_id(rid);
    head_request_ = false;
    keep_alive_ = false;
    if (auto answer = read_error_reply(ec, server_.options.body_bytes_max,
                                       server_.options.header_bytes_max)) {
      return write(std::move(*answer), true);
    }
    do_close();  // end of stream, timeout, reset: nothing to answer
  }

  // The client's X-Request-Id when it is a usable one, else a generated one; the session's
  // string keeps its capacity from request to request.
  void take_request_id(std::string_view sent) {
    if (valid_request_id(sent)) {
      request_id_.assign(sent);
    } else {
      server_.next_request_id(request_id_);
    }
  }

  void on_request() {
    auto request = std::make_shared<request_context>();
    request_reader& reader = *parser_;
    ++requests_read_;
    request->started = std::chrono::steady_clock::now();
    take_request_id(reader.view(reader.request_id));
    keep_alive_ = reader.keep_alive();
    version_ = reader.version;
    take_request(reader, *request);
    head_request_ = request->method == http_method::head;
    started_ = request->started;
    // Counted in before draining is checked (both seq_cst), so shutdown either sees this
    // request in flight or this request sees the drain: it is never dispatched unseen.
    server_.in_flight.fetch_add(1);
    counted_ = true;
    current_ = request;
    expire_never();
    if (server_.draining.load()) {
      keep_alive_ = false;
      http_reply closing =
          make_problem_reply({503, "NOT_READY", "the server is shutting down", {}});
      closing.header("Retry-After", "1");
      return write(std::move(closing), false);
    }
    request->channel = shared_from_this();
    try {
      server_.on_request(request);
    } catch (const std::exception& e) {
      log_line(log_level::error, "request %.*s %.*s failed: %s (request id %s)",
               static_cast<int>(request->method_text.size()), request->method_text.data(),
               static_cast<int>(request->target.size()), request->target.data(), e.what(),
               request_id_.c_str());
      request->respond(internal_error(request_id_));
    }
  }

  void write(http_reply&& answer, bool drain_after) {
    std::size_t route_index = current_ ? current_->route_index : 0;
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    server_.counters.observe(route_index, answer.status, seconds);
    if (server_.options.access_log && log_enabled(log_level::info)) {
      std::string_view method = current_ ? current_->method_text : "-";
      std::string_view target = current_ ? current_->target : "-";
      log_line(log_level::info, "access %.*s %.*s %u %.3fms rid=%s",
               static_cast<int>(method.size()), method.data(), static_cast<int>(target.size()),
               target.data(), answer.status, seconds * 1e3, request_id_.c_str());
    }
    current_.reset();
    bool keep = keep_alive_ && !drain_after && !server_.draining.load(std::memory_order_acquire);
    render_reply(out_, version_, answer, request_id_, keep, head_request_);
    expire_after(std::chrono::milliseconds(server_.options.read_timeout_ms));
    asio::async_write(
        socket_, asio::buffer(out_),
        [self = shared_from_this(), keep, drain_after](beast::error_code ec, std::size_t) {
          // Counted out only once the reply is written: shutdown waits for that.
          if (std::exchange(self->counted_, false)) self->server_.in_flight.fetch_sub(1);
          if (ec) return self->do_close();
          if (drain_after) return self->do_drain();
          if (!keep) return self->do_close();
          self->do_read();
        });
  }

  // Half-close, then swallow what the client still sends, so its pending writes do not turn
  // into a reset that destroys our reply in its receive buffer.
  void do_drain() {
    beast::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    expire_after(drain_timeout);  // one deadline for the whole drain
    drain_some();
  }

  void drain_some() {
    if (drained_bytes_ >= drain_bytes_max) return do_close();
    buffer_.consume(buffer_.size());
    // Small reads: a connection refused over the cap sits here for up to drain_timeout, and a
    // flood of them must not each hold a large buffer (64 KiB ones measured 11 KiB of RSS each).
    socket_.async_read_some(buffer_.prepare(read_chunk_bytes),
                            [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                              if (ec) return self->do_close();
                              self->drained_bytes_ += n;
                              self->drain_some();
                            });
  }

  void do_close() {
    beast::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    closed_ = true;
    watchdog_.cancel();  // its wait holds the session: let it go
  }

  // Timeouts. An operation on the socket sets a deadline (a store, no timer operation); the
  // session's watchdog closes the socket once the deadline has passed, so the pending read or
  // write ends with an error. Beast's basic_stream instead armed and cancelled a timer around
  // every read and write (two timer operations, an aborted completion and the reactor's lock
  // each time).
  void expire_after(std::chrono::steady_clock::duration timeout) {
    deadline_ = std::chrono::steady_clock::now() + timeout;
  }
  void expire_never() { deadline_ = steady_time::max(); }  // waiting on the engine, not the peer

  // The watchdog wakes at the deadline or after watch_period, whichever is first. A deadline
  // set later is at least watch_period after it was set, so the watchdog is never armed past
  // one: a timeout fires on time, and a connection waiting on a long deadline (or on the
  // engine) costs one wake-up per watch_period (5 s on the defaults).
  void watch() {
    watchdog_.expires_at(
        std::min(deadline_, std::chrono::steady_clock::now() + server_.watch_period));
    watchdog_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->closed_) return;
      if (std::chrono::steady_clock::now() < self->deadline_) return self->watch();
      beast::error_code ignored;
      self->timed_out_ = true;
      self->socket_.close(ignored);  // the pending operation completes with an error
    });
  }

  session_socket socket_;
  session_timer watchdog_;
  steady_time deadline_ = steady_time::max();
  bool closed_ = false;
  bool timed_out_ = false;        // the watchdog closed the socket
  std::size_t header_bytes_ = 0;  // of the request being read, parsed in place so far
  beast::flat_buffer buffer_;
  std::optional<request_reader> parser_;
  std::string out_;  // the rendered reply; its capacity is reused across requests
  http_server::impl& server_;
  request_ptr current_;
  std::string request_id_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool counted_ = false;  // this request is in server_.in_flight
  bool head_request_ = false;
  std::size_t drained_bytes_ = 0;
  std::uint64_t requests_read_ = 0;  // on this connection, the one being answered included
};

}  // namespace

void http_server::impl::do_accept() {
  asio::io_context& target = *contexts[next_context++ % contexts.size()];
  acceptor->async_accept(target, [this](beast::error_code ec, session_socket socket) {
    on_accept(ec, std::move(socket));
  });
}

void http_server::impl::on_accept(beast::error_code ec, session_socket socket) {
  if (ec == asio::error::operation_aborted || !acceptor->is_open()) return;
  if (!ec) {
    socket.set_option(tcp::no_delay(true), ec);
    auto s = std::make_shared<session>(std::move(socket), *this);
    if (connections.load(std::memory_order_relaxed) > options.connections_max) {
      s->reject();
    } else {
      s->start();
    }
  } else {
    // EMFILE and friends: wait a little instead of spinning on accept.
    log_line(log_level::warn, "accept failed: %s", ec.message().c_str());
    accept_backoff->expires_after(std::chrono::milliseconds(50));
    accept_backoff->async_wait([this](beast::error_code) { do_accept(); });
    return;
  }
  do_accept();
}

http_server::http_server(server_options options, handler on_request, metrics& counters)
    : impl_(std::make_unique<impl>(std::move(options), std::move(on_request), counters)) {}

http_server::~http_server() {
  stop();
}

std::uint16_t http_server::listen() {
  auto address = asio::ip::make_address(impl_->options.bind);
  tcp::endpoint endpoint(address, impl_->options.port);
  tcp::acceptor& acceptor = *impl_->acceptor;
  acceptor.open(endpoint.protocol());
  acceptor.set_option(asio::socket_base::reuse_address(true));
  acceptor.bind(endpoint);
  acceptor.listen(asio::socket_base::max_listen_connections);
  impl_->do_accept();
  return acceptor.local_endpoint().port();
}

void http_server::start(std::function<void(int)> on_signal) {
  impl_->signals->async_wait([on_signal = std::move(on_signal)](beast::error_code ec, int signal) {
    if (!ec) on_signal(signal);
  });
  for (std::uint32_t i = 0; i < impl_->options.io_threads; ++i) {
    impl_->threads.emplace_back([this, i] { impl_->contexts[i]->run(); });
  }
}

void http_server::stop_accepting() {
  impl_->draining.store(true, std::memory_order_release);
  asio::post(impl_->acceptor->get_executor(), [this] {
    beast::error_code ignored;
    impl_->acceptor->close(ignored);
  });
}

void http_server::run_on_thread(std::size_t thread, std::chrono::milliseconds delay,
                                std::function<void()> work) {
  asio::io_context& context = *impl_->contexts[thread % impl_->contexts.size()];
  if (delay.count() <= 0) return asio::post(context, std::move(work));
  auto timer = std::make_shared<asio::steady_timer>(context, delay);
  timer->async_wait([timer, work = std::move(work)](beast::error_code ec) {
    if (!ec) work();
  });
}

std::size_t http_server::in_flight() const {
  return impl_->in_flight.load(std::memory_order_relaxed);
}
std::size_t http_server::connections() const {
  return impl_->connections.load(std::memory_order_relaxed);
}

void http_server::stop() {
  for (auto& context : impl_->contexts) context->stop();
  for (auto& t : impl_->threads) {
    if (t.joinable()) t.join();
  }
  impl_->threads.clear();
}

}  // namespace ecom::net
