// net/: the HTTP front. Beast sessions (http_server.cc only), routing, auth, JSON in and out,
// problem+json, metrics, and the ecomd main. The rest of net/ sees only these plain types,
// so Beast stays in one translation unit.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ecom::net {

enum class http_method : std::uint8_t { get, post, put, patch, del, head, options, other };

struct http_reply {
  std::uint16_t status = 200;
  std::string_view content_type = "application/json";  // always a string literal
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers

  http_reply& header(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
    return *this;
  }
};

// Where a request's reply goes: implemented by the server's connection (session). Held by
// shared_ptr from the request, so the connection outlives every callback that may answer.
class reply_channel {
 public:
  // Any thread, exactly once per request: hands the reply to the connection's thread.
  virtual void respond(http_reply&& answer) = 0;
  // Any thread: runs `work` on the connection's thread. Shard replies come back through it so
  // that rendering JSON happens on a network thread, not on the WAL or a shard thread.
  virtual void run_on_io(std::function<void()> work) = 0;

 protected:
  ~reply_channel() = default;
};

// One request, from the moment it is read until its reply is handed back. Shared between the
// session and the shard callbacks; respond() may be called from any thread, exactly once.
struct request_context {
  request_context() = default;
  // Not copied or moved: the views below point into this object's own `text`.
  request_context(const request_context&) = delete;
  request_context& operator=(const request_context&) = delete;

  http_method method = http_method::other;
  // Views into `text` (one allocation per request holds every header value the routes read).
  std::string_view method_text;
  std::string_view target;  // path and query as sent
  std::string_view path;
  std::string_view query;
  std::string_view content_type;
  std::string_view authorization;
  std::string_view idempotency_key;
  bool has_idempotency_key = false;
  std::string_view min_lsn;  // X-Ecomd-Min-Lsn (read-your-writes on a standby)
  bool has_min_lsn = false;
  // A replicating server: the LSN it held when the engine answered (api::on_io); 0 before.
  std::uint64_t answered_lsn = 0;
  std::string body;
  bool has_body = false;
  std::chrono::steady_clock::time_point started;
  std::size_t route_index = 0;             // for metrics; set by the router
  std::shared_ptr<reply_channel> channel;  // set by the server
  std::string text;                        // what the views above point into

  void respond(http_reply&& answer) const { channel->respond(std::move(answer)); }
  void run_on_io(std::function<void()> work) const { channel->run_on_io(std::move(work)); }
};

using request_ptr = std::shared_ptr<request_context>;

}  // namespace ecom::net
