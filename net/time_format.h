// RFC 3339 timestamps in UTC with milliseconds and "Z", and parsing of any RFC 3339 offset.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ecom::net {

// 2026-11-24T04:28:33.123Z
void append_rfc3339(std::string& out, std::int64_t unix_ms);
std::string format_rfc3339(std::int64_t unix_ms);
// Accepts "YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)"; nullopt when malformed.
std::optional<std::int64_t> parse_rfc3339(std::string_view text);

}  // namespace ecom::net
