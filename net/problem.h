// problem+json (RFC 9457) replies, and the one place where engine::errc becomes an HTTP
// status and a stable `code`.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "engine/errc.h"
#include "engine/idempotency_key.h"
#include "net/http_types.h"

namespace ecom::net {

struct problem {
  std::uint16_t status = 500;
  std::string_view code = "INTERNAL";
  std::string detail;
  std::string field;  // set for VALIDATION_FAILED: the request field at fault
};

http_reply make_problem_reply(const problem& p);

problem problem_of(engine::errc code);  // errc::ok is a bug here

// The refusals the contract keeps as an Idempotency-Key's answer (API.md: 2xx and 409 are
// stored): every code rendered 409, except IDEMPOTENCY_KEY_IN_USE. Computed once from
// problem_of, so the rule follows the mapping.
engine::refusal_set kept_refusals();

// Shorthands for the replies the HTTP layer builds itself.
http_reply validation_failed(std::string_view field, std::string_view detail);
http_reply malformed_json(std::string_view detail);
http_reply unauthenticated(std::string_view detail);
http_reply forbidden(std::string_view detail);
http_reply not_found(std::string_view code, std::string_view detail);
http_reply overloaded();
http_reply not_ready();
http_reply internal_error(std::string_view request_id);

}  // namespace ecom::net
