// The small values a request carries, each through the function the routes use. The first
// byte picks the check, the rest is the value (or, for round trips, the bytes of a number):
//   0  path id (parse_id): accepted only as 1..19 digits naming 1..2^63-1; prints back to the
//      same id;
//   1  a list query (parse_page: limit, cursor): accepted limits in 1..page_items_max, an
//      accepted cursor names an id >= 1, and the cursor the server hands out for that id
//      (make_cursor) parses back to it;
//   2  the cursor of any 64-bit id: parses back to the id when it is >= 1, refused otherwise;
//   3  an access token (token_signer::verify): accepted only unexpired, with a user id >= 1,
//      and only as the very token the signer makes for those claims (no second spelling);
//   4  the token of any claims: verifies to them exactly when unexpired with a user id >= 1;
//   5  a refresh token's parts (parse_refresh_token): accepted ids are >= 1, a family is 22
//      characters without a dot, and a token made for that id and family names them;
//   6  Idempotency-Key (idempotency_key_valid): accepted exactly when 1..255 visible ASCII;
//      and a query parameter's percent-decoding (query_param) on the same bytes;
//   7  an RFC 3339 time (parse_rfc3339): an accepted time prints (format_rfc3339) to one that
//      parses back to the same instant, and a time already in the printed form (UTC,
//      milliseconds, no leap second) prints back to the same text;
//   8  the printed form of any instant in years 0..9999 parses back to it.
// What must hold besides: no crash, no undefined behaviour, no leak.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "engine/limits.h"
#include "net/api.h"
#include "net/auth.h"
#include "net/limits.h"
#include "net/time_format.h"

using namespace ecom;

namespace {

constexpr std::int64_t now_s = 1'800'000'000;  // the clock the tokens are checked against
// Years 0000..9999: what the printed form can show.
constexpr std::int64_t printable_ms_min = -62'167'219'200'000;
constexpr std::int64_t printable_ms_max = 253'402'300'799'999;

[[noreturn]] void fail(const char* what, std::string_view detail = {}) {
  std::fprintf(stderr, "fuzz_request_values: %s: %.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

std::int64_t number_of(std::string_view bytes, std::size_t at = 0) {
  unsigned char raw[8] = {};
  if (at < bytes.size())
    std::memcpy(raw, bytes.data() + at, std::min<std::size_t>(8, bytes.size() - at));
  std::int64_t value;
  std::memcpy(&value, raw, 8);
  return value;
}

const net::token_signer& signer() {
  static const net::token_signer instance("fuzz-token-secret");
  return instance;
}

void check_path_id(std::string_view text) {
  auto id = net::parse_id(text);
  if (!id) return;
  if (*id < 1 || text.empty() || text.size() > 19) fail("an id accepted out of range", text);
  for (char c : text) {
    if (c < '0' || c > '9') fail("an id accepted with a non-digit", text);
  }
  if (net::parse_id(std::to_string(*id)) != id) fail("an id that does not print back", text);
}

std::int64_t cursor_id_of(const std::string& query) {
  net::page_request page;
  if (net::parse_page(query, page)) return 0;
  return page.cursor_id;
}

void check_page(std::string_view query) {
  net::page_request page;
  if (auto refusal = net::parse_page(query, page)) {
    if (refusal->status != 400 || refusal->content_type != "application/problem+json")
      fail("a page refusal that is not a 400 problem", query);
    return;
  }
  if (page.limit < 1 || page.limit > engine::page_items_max) fail("a limit out of range", query);
  if (page.cursor_id < 0) fail("a negative cursor id", query);
  if (page.cursor_id > 0 &&
      cursor_id_of("cursor=" + net::make_cursor(page.cursor_id)) != page.cursor_id)
    fail("a cursor handed out does not parse back", query);
}

void check_cursor_of(std::int64_t id) {
  const std::string query = "limit=5&cursor=" + net::make_cursor(id);
  net::page_request page;
  const bool refused = net::parse_page(query, page).has_value();
  if (id >= 1 && (refused || page.cursor_id != id || page.limit != 5))
    fail("the cursor of an id does not parse back", query);
  if (id < 1 && !refused) fail("the cursor of an id below 1 is accepted", query);
}

void check_token(std::string_view token) {
  auto claims = signer().verify(token, now_s);
  if (!claims) return;
  if (claims->user_id < 1 || claims->expires_at_s <= now_s) fail("a token accepted wrongly", token);
  if (signer().sign(*claims) != token) fail("a second spelling of a token is accepted", token);
}

void check_token_of(std::int64_t user_id, std::int64_t expires_at_s) {
  const std::string token = signer().sign({user_id, expires_at_s});
  auto claims = signer().verify(token, now_s);
  const bool valid = user_id >= 1 && expires_at_s > now_s;
  if (valid != claims.has_value()) fail("a signed token verifies wrongly", token);
  if (claims && (claims->user_id != user_id || claims->expires_at_s != expires_at_s))
    fail("a signed token verifies to other claims", token);
}

void check_refresh_token(std::string_view token) {
  auto parts = net::parse_refresh_token(token);
  if (!parts) return;
  if (parts->user_id < 1) fail("a refresh token for a user id below 1", token);
  if (!parts->family.empty() && parts->family.size() != 22)
    fail("a family of another length", token);
  if (parts->family.find('.') != std::string_view::npos) fail("a family with a dot", token);
  std::string family =
      parts->family.empty() ? net::make_refresh_family() : std::string(parts->family);
  const std::string made = net::make_refresh_token(parts->user_id, family);
  auto again = net::parse_refresh_token(made);  // its family views `made`
  if (!again || again->user_id != parts->user_id || again->family != family)
    fail("a refresh token made for a user and family does not name them", token);
}

void check_key(std::string_view key) {
  bool visible = !key.empty() && key.size() <= net::idempotency_key_length_max;
  for (char c : key) visible = visible && c > ' ' && c < 0x7f;
  if (net::idempotency_key_valid(key) != visible) fail("Idempotency-Key judged wrongly", key);
  if (auto value = net::query_param(key, "cursor"); value && value->size() > key.size())
    fail("a query parameter decoded longer than it was sent", key);
}

// "YYYY-MM-DDTHH:MM:SS.mmmZ", seconds below 60: what format_rfc3339 prints.
bool printed_form(std::string_view text) {
  static constexpr std::string_view shape = "dddd-dd-ddTdd:dd:dd.dddZ";
  if (text.size() != shape.size()) return false;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    const bool digit = text[i] >= '0' && text[i] <= '9';
    if (shape[i] == 'd' ? !digit : text[i] != shape[i]) return false;
  }
  return text.substr(17, 2) != "60";
}

void check_time(std::string_view text) {
  auto ms = net::parse_rfc3339(text);
  if (!ms) return;
  if (*ms >= printable_ms_min && *ms <= printable_ms_max) {
    const std::string printed = net::format_rfc3339(*ms);
    if (net::parse_rfc3339(printed) != ms) fail("a time does not print back to itself", text);
    if (printed_form(text) && printed != text) fail("a printed time prints differently", text);
  } else if (printed_form(text)) {
    fail("a time in the printed form is out of its range", text);
  }
}

void check_time_of(std::int64_t ms) {
  if (ms < printable_ms_min || ms > printable_ms_max) return;
  const std::string printed = net::format_rfc3339(ms);
  if (!printed_form(printed)) fail("an instant prints in another form", printed);
  if (net::parse_rfc3339(printed) != ms) fail("a printed instant parses to another", printed);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 9) {
    case 0:
      check_path_id(rest);
      break;
    case 1:
      check_page(rest);
      break;
    case 2:
      check_cursor_of(number_of(rest));
      break;
    case 3:
      check_token(rest);
      break;
    case 4:
      check_token_of(number_of(rest), number_of(rest, 8));
      break;
    case 5:
      check_refresh_token(rest);
      break;
    case 6:
      check_key(rest);
      break;
    case 7:
      check_time(rest);
      break;
    default:
      check_time_of(number_of(rest) % (printable_ms_max + 1));
      break;
  }
  return 0;
}
