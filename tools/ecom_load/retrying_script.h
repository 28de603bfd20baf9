// A request_script that sends the requests a subclass produces one at a time and retries an
// answer that changed nothing (503 with Retry-After, 409 IDEMPOTENCY_KEY_IN_USE) and transport
// failures (the same request, so a POST needs an Idempotency-Key to be safe to repeat).
#pragma once

#include <algorithm>
#include <chrono>
#include <string>

#include "tools/ecom_load/http_transport.h"

namespace ecom::load {

// 503, or 409 IDEMPOTENCY_KEY_IN_USE: nothing changed, the same request may be repeated.
inline bool retrying_script_busy(const http_reply& reply) {
  if (reply.status == 503) return true;
  return reply.status == 409 && reply.body.find("\"IDEMPOTENCY_KEY_IN_USE\"") != std::string::npos;
}

class retrying_script : public request_script {
 public:
  bool next(http_request& request) final {
    if (!pending_) {
      if (!produce(current_)) return false;
      pending_ = true;
      transport_failures_ = 0;
      busy_answers_ = 0;
    }
    request = current_;
    return true;
  }

  bool finished() const final { return stopping(); }

  std::chrono::milliseconds on_reply(const http_request&, http_reply& reply) final {
    observe(current_, reply);
    if (reply.status == 0) {
      if (++transport_failures_ < transport_attempts_max && !stopping()) return failure_pause;
    } else if (is_busy(reply) && ++busy_answers_ < busy_attempts_max && !stopping()) {
      if (reply.retry_after_s < 0) return busy_pause_default;
      return std::min<std::chrono::milliseconds>(
          std::chrono::milliseconds(1000LL * reply.retry_after_s), busy_pause_max);
    }
    pending_ = false;
    return consume(current_, reply, transport_failures_ > 0);
  }

 protected:
  static constexpr int transport_attempts_max = 3;
  static constexpr int busy_attempts_max = 200;
  static constexpr std::chrono::milliseconds failure_pause{50};
  static constexpr std::chrono::milliseconds busy_pause_default{100};
  static constexpr std::chrono::milliseconds busy_pause_max{1000};

  // Fills the next request; false when the script is done.
  virtual bool produce(http_request& request) = 0;
  // The final answer to the request: not a retried one, unless retries ran out or stopping()
  // (status 0 after transport failures, or the last 503/409 busy answer). earlier_transport_failure
  // says an earlier attempt of this request may have been applied. Returns a pause.
  virtual std::chrono::milliseconds consume(const http_request& request, http_reply& reply,
                                            bool earlier_transport_failure) = 0;
  // Every answer, retried or not (for counters).
  virtual void observe(const http_request&, const http_reply&) {}
  // True when retrying should end (deadline, interrupt).
  virtual bool stopping() const { return false; }
  // True while the current request is repeated after a transport failure (so an earlier
  // attempt may have been applied); observe() can use it.
  bool after_transport_failure() const { return transport_failures_ > 0; }

  static bool is_busy(const http_reply& reply) { return retrying_script_busy(reply); }

 private:
  http_request current_;
  bool pending_ = false;
  int transport_failures_ = 0;
  int busy_answers_ = 0;
};

}  // namespace ecom::load
