// Raw HTTP bytes through what a connection runs: Beast's parser with the server's limits
// (net/http_wire: parse_in_place, the same header-size check as a session, read_error_reply),
// the router and the routes (net::api), against a real engine of two shards over an in-memory
// journal, with every reply rendered by render_reply. The input is what a client sends on one
// connection: requests one after another (pipelined), as long as the answers keep it alive.
//
// Everything runs on this thread, in a small event loop of its own: the shards are driven
// (shard_set::start_driven) by it, replies come back through it (reply_channel::run_on_io),
// and the clock is virtual: it starts at a fixed instant, moves 1 ms per request, and jumps to
// the next timer only when a request waits on one (a long poll). So an input always does the
// same thing. (Password salts and refresh tokens are still random; nothing branches on them.)
//
// What must hold for every request: exactly one answer, rendered as one well-formed HTTP/1.x
// response (Beast's response parser takes it whole, status and length as sent); never a 5xx
// but 503; a 4xx or 503 is application/problem+json with that status in its body; a JSON
// body is valid JSON. After the input: every shard's invariants hold.
//
// No socket, no disk. The admin token is "fuzz-admin-token"; the corpus uses it, and the
// access tokens of users it creates are deterministic (fixed secret and clock).
#include <simdjson.h>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "engine/gateway.h"
#include "engine/shard_set.h"
#include "net/api.h"
#include "net/auth.h"
#include "net/http_wire.h"
#include "net/limits.h"
#include "net/metrics.h"
#include "tests/support/fake_journal.h"

namespace http = boost::beast::http;
using namespace ecom;

namespace {

constexpr std::int64_t clock_start_ms = 1'800'000'000'000;  // in 2027, as the engine tests
constexpr std::size_t requests_per_input_max = 24;
// Timers fired while one request waits (a long poll waits at most its wait_ms; the shards'
// sweep ticks every second meanwhile): far more than any request needs.
constexpr std::size_t timer_steps_per_request_max = 10'000;
constexpr std::size_t mailbox_depth_max = 64;  // small: a burst of pipelined requests may 503

// ECOM_FUZZ_HTTP_PRINT=1: print every request's answer (for writing seed inputs).
const bool print_answers = std::getenv("ECOM_FUZZ_HTTP_PRINT") != nullptr;

[[noreturn]] void fail(const char* what, std::string_view detail = {}) {
  std::fprintf(stderr, "fuzz_http_request: %s: %.*s\n", what,
               static_cast<int>(std::min<std::size_t>(detail.size(), 2000)), detail.data());
  std::abort();
}

// The one thread's event loop: work to run now, and work due at a time of the virtual clock.
struct event_loop {
  std::int64_t now_ms = clock_start_ms;
  std::deque<std::function<void()>> ready;
  std::multimap<std::int64_t, std::function<void()>> timers;

  void post(std::chrono::milliseconds delay, std::function<void()> work) {
    if (delay.count() <= 0) return ready.push_back(std::move(work));
    timers.emplace(now_ms + delay.count(), std::move(work));
  }
  void run_ready() {
    while (!ready.empty()) {
      auto work = std::move(ready.front());
      ready.pop_front();
      work();
    }
  }
  // Moves the clock to the next timer and runs it; false when none is set.
  bool fire_next_timer() {
    if (timers.empty()) return false;
    auto next = timers.begin();
    now_ms = std::max(now_ms, next->first);
    auto work = std::move(next->second);
    timers.erase(next);
    work();
    return true;
  }
};

// The connection's side of a request: keeps the one answer (a second one is a finding).
class answer_channel final : public net::reply_channel {
 public:
  explicit answer_channel(event_loop& loop) : loop_(loop) {}
  void respond(net::http_reply&& answer) override {
    if (answer_) fail("a request was answered twice");
    answer_ = std::move(answer);
  }
  void run_on_io(std::function<void()> work) override {
    loop_.post(std::chrono::milliseconds(0), std::move(work));
  }
  std::optional<net::http_reply>& answer() { return answer_; }

 private:
  event_loop& loop_;
  std::optional<net::http_reply> answer_;
};

// A server with nothing around it: the engine, the token signer and the routes, as main.cc
// wires them (no WAL, no snapshots: /admin/snapshot answers 503).
struct server {
  event_loop loop;
  test::fake_journal wal;
  engine::shard_set shards{2, mailbox_depth_max, [this] { return loop.now_ms; }};
  engine::gateway engine{shards};
  net::token_signer signer{"fuzz-token-secret"};
  net::metrics counters{net::api::route_labels()};
  std::atomic<persistence::snapshotter*> snapshots{nullptr};
  std::atomic<bool> ready{true};
  net::api routes{options(), services()};

  server() {
    wal.keep_records(false);
    shards.start_driven(wal, [this](engine::shard_index) -> engine::shard_driver {
      return [this](std::chrono::milliseconds delay, std::function<void()> work) {
        loop.post(delay, std::move(work));
      };
    });
  }

  static net::api_options options() {
    net::api_options o;
    o.admin_token = "fuzz-admin-token";
    o.kdf_iterations = 1;  // PBKDF2 is slow on purpose; here it would only slow the fuzzer
    return o;
  }
  net::api_services services() {
    return net::api_services{
        engine,
        signer,
        [this](std::function<void()> work) {
          loop.post(std::chrono::milliseconds(0), std::move(work));
        },
        [](std::string& out) { out += "# runtime metrics\n"; },
        [](std::string& out) { out += "{\"durable_lsn\":0}"; },  // as wal_metrics.cc
        [this](std::string& out) { counters.render(out); },
        snapshots,
        ready,
        [this] { return loop.now_ms; }};
  }

  // Stops the shards (what is queued runs here, then each checks its invariants, fail-stop in
  // this build) and checks them once more; drops what the loop still holds.
  void stop() {
    loop.run_ready();
    shards.stop();
    for (engine::shard_index i = 0; i < shards.size(); ++i) {
      auto broken = shards.at(i).state().check_invariants();
      if (!broken.empty()) fail("a shard's invariant is broken", broken.front());
    }
    loop.ready.clear();
    loop.timers.clear();
  }
};

bool is_json(std::string_view content_type) {
  return content_type == "application/json" || content_type == "application/problem+json";
}

// The checks on one answer and the bytes it was rendered to.
void check_answer(const net::http_reply& answer, const std::string& wire, bool head_request) {
  if (answer.status < 100 || answer.status > 599) fail("status out of range", wire);
  if (answer.status >= 500 && answer.status != 503) fail("a 5xx other than 503", wire);
  const bool problem = (answer.status >= 400 && answer.status < 500) || answer.status == 503;
  if (problem && answer.content_type != "application/problem+json")
    fail("a 4xx or 503 that is not problem+json", wire);
  static simdjson::dom::parser json;
  if (is_json(answer.content_type) && !answer.body.empty()) {
    simdjson::dom::element document;
    if (json.parse(answer.body).get(document)) fail("a JSON body that does not parse", wire);
    if (problem) {
      std::int64_t status = 0;
      if (document["status"].get(status) || status != answer.status)
        fail("a problem whose status is not the reply's", wire);
      std::string_view code;
      if (document["code"].get(code) || code.empty()) fail("a problem without a code", wire);
    }
  }
  // One whole response, as a client would read it.
  http::response_parser<http::string_body> reader;
  reader.body_limit(boost::none);
  reader.skip(head_request);
  reader.eager(true);
  boost::beast::error_code ec;
  std::size_t taken = reader.put(boost::asio::buffer(wire), ec);
  if (!ec && !reader.is_done()) reader.put_eof(ec);
  if (ec || !reader.is_done()) fail("a response Beast cannot read", wire);
  if (taken != wire.size()) fail("bytes after the response", wire);
  const auto& message = reader.get();
  if (message.result_int() != answer.status) fail("the status line is not the reply's", wire);
  if (!head_request && message.body() != answer.body) fail("the body is not the reply's", wire);
}

// One request, parsed and answered; false when the connection ends after it.
bool serve_one(server& s, std::string_view& input, std::string& wire) {
  net::request_reader reader(net::header_bytes_max, net::body_bytes_max);
  const net::buffered_parse parsed =
      net::parse_in_place(reader, boost::asio::buffer(input.data(), input.size()));
  input.remove_prefix(parsed.consumed);
  boost::beast::error_code ec = parsed.ec;
  if (print_answers)
    std::fprintf(stderr, "parsed %zu bytes (header %zu): %s, %s\n", parsed.consumed,
                 parsed.header_bytes, ec.message().c_str(), reader.is_done() ? "done" : "not done");
  // The rest would come from the socket: there is none, so the peer closed mid-request and a
  // session closes without an answer.
  if (ec == http::error::need_more) return false;
  if (!ec && parsed.header_bytes > net::header_bytes_max) ec = http::error::header_limit;
  if (!ec && !reader.is_done()) return false;
  if (ec) {
    auto refusal = net::read_error_reply(ec, net::body_bytes_max, net::header_bytes_max);
    if (refusal) {
      net::render_reply(wire, 11, *refusal, "fuzz", false, false);
      if (print_answers)
        std::fprintf(stderr, "---- %.*s\n", static_cast<int>(wire.size()), wire.data());
      check_answer(*refusal, wire, false);
    }
    return false;
  }

  auto request = std::make_shared<net::request_context>();
  const bool keep_alive = reader.keep_alive();
  const unsigned version = reader.version;
  net::take_request(reader, *request);
  auto channel = std::make_shared<answer_channel>(s.loop);
  request->channel = channel;
  const bool head_request = request->method == net::http_method::head;
  try {
    s.routes.handle(request);
  } catch (const std::exception& e) {
    fail("a route threw (the server answers 500)", e.what());
  }
  s.loop.run_ready();
  for (std::size_t step = 0; !channel->answer() && step < timer_steps_per_request_max; ++step) {
    if (!s.loop.fire_next_timer()) break;
    s.loop.run_ready();
  }
  if (!channel->answer()) fail("a request got no answer", request->target);
  const net::http_reply& answer = *channel->answer();
  s.counters.observe(request->route_index, answer.status, 0.0);
  net::render_reply(wire, version, answer, "fuzz", keep_alive, head_request);
  if (print_answers)
    std::fprintf(stderr, "---- %.*s\n", static_cast<int>(wire.size()), wire.data());
  check_answer(answer, wire, head_request);
  s.loop.now_ms += 1;
  return keep_alive;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  server s;
  std::string wire;
  for (std::size_t i = 0; i < requests_per_input_max && !input.empty(); ++i) {
    if (!serve_one(s, input, wire)) break;
  }
  s.stop();
  return 0;
}
