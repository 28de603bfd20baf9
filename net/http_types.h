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
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers

  http_reply& header(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
    return *this;
  }
};

// One request, from the moment it is read until its reply is handed back. Shared between the
// session and the shard callbacks; respond() may be called from any thread, exactly once.
struct request_context {
  http_method method = http_method::other;
  std::string method_text;
  std::string target;  // path and query as sent
  std::string_view path;
  std::string_view query;
  std::string body;
  bool has_body = false;
  std::string content_type;
  std::string authorization;
  std::string idempotency_key;
  bool has_idempotency_key = false;
  std::string request_id;
  std::chrono::steady_clock::time_point started;
  std::size_t route_index = 0;  // for metrics; set by the router

  // Set by the server: hands the reply to the session's executor (inline when already there).
  std::function<void(http_reply&&)> respond;
  // Set by the server: runs `work` on the session's executor. Shard replies come back through
  // it so that rendering JSON happens on a network thread, not on the WAL or a shard thread.
  std::function<void(std::function<void()>)> run_on_io;
};

using request_ptr = std::shared_ptr<request_context>;

}  // namespace ecom::net
