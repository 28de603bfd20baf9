// A blocking HTTP/1.1 keep-alive client on raw POSIX sockets, for end-to-end tests against a
// server on 127.0.0.1. It never throws on transport errors: a response with status 0 and
// transport_error set is returned instead, so tests (and crash tests in particular) can tell
// "no answer" from any HTTP status.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ecom::test {

using header_list = std::vector<std::pair<std::string, std::string>>;

struct http_response {
  int status = 0;  // 0 when no complete response was read
  std::string reason;
  header_list headers;
  std::string body;
  std::string transport_error;  // why status is 0

  // Case-insensitive lookup of the first header with that name.
  std::optional<std::string> header(std::string_view name) const;
  std::string header_or(std::string_view name, std::string_view fallback = "") const;
  bool is_2xx() const { return status >= 200 && status < 300; }
};

// One-line summary (status, headers of interest, body prefix) for assertion messages.
std::string describe(const http_response& response);

bool iequals(std::string_view a, std::string_view b);

class http_client {
 public:
  explicit http_client(uint16_t port,
                       std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));
  ~http_client();
  http_client(const http_client&) = delete;
  http_client& operator=(const http_client&) = delete;

  // Sends one request and reads its response. Adds Host and, when there is a body or the method
  // is POST/PUT/PATCH, Content-Length (unless the caller passed them). Other headers are sent
  // exactly as given. A reused connection the server had closed is reopened once.
  http_response request(std::string_view method, std::string_view target,
                        std::string_view body = {}, const header_list& headers = {});
  http_response get(std::string_view target, const header_list& headers = {});
  // POST with Content-Type: application/json added in front of headers.
  http_response post_json(std::string_view target, std::string_view body,
                          const header_list& headers = {});

  // Writes bytes as they are (no retry) and reads one response.
  http_response send_raw(std::string_view bytes);
  // Writes bytes on the current connection (opening one if needed) without reading; returns
  // false on a transport error.
  bool write_raw(std::string_view bytes);
  // Reads the next response on the current connection (after write_raw or a pipelined
  // send_raw).
  http_response read_response();

  void close();
  // Points the client at another port (after a server restart); closes the connection.
  void set_port(uint16_t port);
  uint16_t port() const { return port_; }
  int connections_opened() const { return connections_opened_; }

 private:
  struct read_result {
    http_response response;
    bool got_bytes = false;
    bool retryable = false;  // EOF/reset before any byte of the response
  };
  bool connect_(std::string& error);
  // Returns false on a hard error. Sets stopped_early when the server answered or closed before
  // the whole request was written.
  // With stop_on_input false it keeps writing while a response is pending (write_raw).
  bool send_all_(std::string_view bytes, bool& stopped_early, bool& retryable, std::string& error,
                 bool stop_on_input = true);
  read_result read_one_(bool head_request);
  // Reads more bytes into buffer_. Returns >0 bytes read, 0 on EOF, -1 on error (error set).
  long fill_(std::chrono::steady_clock::time_point deadline, std::string& error, bool& reset);

  uint16_t port_;
  std::chrono::milliseconds timeout_;
  int fd_ = -1;
  bool reused_ = false;
  std::string buffer_;
  int connections_opened_ = 0;
};

}  // namespace ecom::test
