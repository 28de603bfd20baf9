// http_wire: one request off the wire and one reply onto it, as HTTP/1.1 bytes: Beast's parser
// with the server's limits, the request_context it fills, the problem a failed parse answers,
// and the reply's bytes. No socket here: the sessions (http_server.cc) feed it what they read,
// and the HTTP fuzz target (tests/fuzz/http_request_fuzz.cc) feeds it arbitrary bytes, so both
// run the same code. Includes Beast: include it only from those two, never from a header.
#pragma once

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "net/http_types.h"
#include "net/limits.h"

namespace ecom::net {

http_method method_of(boost::beast::http::verb verb);

// The status line and headers of a reply, written by hand into one buffer with the body, so a
// reply is one write from one reused string (Beast's field list allocated per header).
// HTTP/1.0 or 1.1 as the request was; HEAD gets the headers GET would and no body.
void render_reply(std::string& out, unsigned version, const http_reply& answer,
                  std::string_view request_id, bool keep_alive, bool head_request);

// A piece of request_reader::text: offsets, because the text grows while fields arrive.
struct text_span {
  std::size_t at = 0, size = 0;
  bool found = false;
};

// Beast's HTTP/1.1 request parser (framing, Content-Length, chunked, keep-alive, limits) with
// only what ecomd reads kept: the request line, six header fields and the body. Beast's
// request_parser<string_body> stored every field in a list, one allocation per field.
class request_reader final : public boost::beast::http::basic_parser<true> {
 public:
  // The limits are the server's (server_options): 431 and 413 beyond them.
  request_reader(std::size_t header_bytes_limit, std::size_t body_bytes_limit) {
    header_limit(static_cast<std::uint32_t>(header_bytes_limit));
    body_limit(body_bytes_limit);
  }

  boost::beast::http::verb method = boost::beast::http::verb::unknown;
  unsigned version = 11;
  std::string text;  // method, target and the kept field values, one after the other
  text_span method_text, target, content_type, authorization, idempotency_key, request_id, expect,
      min_lsn;
  std::string body;

  std::string_view view(const text_span& span) const {
    return std::string_view(text).substr(span.at, span.size);
  }

 private:
  using error_code = boost::beast::error_code;
  using string_view = boost::beast::string_view;

  void keep(text_span& span, std::string_view value) {
    if (span.found) return;  // the first of repeated fields, as Beast's fields[] answered
    span = {text.size(), value.size(), true};
    text.append(value);
  }
  void on_request_impl(boost::beast::http::verb verb, string_view method_string,
                       string_view target_string, int http_version, error_code&) override {
    method = verb;
    version = static_cast<unsigned>(http_version);
    text.reserve(method_string.size() + target_string.size() + 256);
    keep(method_text, method_string);
    keep(target, target_string);
  }
  void on_response_impl(int, string_view, int, error_code&) override {}
  void on_field_impl(boost::beast::http::field name, string_view name_string, string_view value,
                     error_code&) override {
    using boost::beast::http::field;
    switch (name) {
      case field::content_type:
        return keep(content_type, value);
      case field::authorization:
        return keep(authorization, value);
      case field::expect:
        return keep(expect, value);
      case field::unknown:
        if (boost::beast::iequals(name_string, "Idempotency-Key"))
          return keep(idempotency_key, value);
        if (boost::beast::iequals(name_string, "X-Request-Id")) return keep(request_id, value);
        if (boost::beast::iequals(name_string, "X-Ecomd-Min-Lsn")) return keep(min_lsn, value);
        return;
      default:
        return;
    }
  }
  void on_header_impl(error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>& length, error_code&) override {
    // Room for the first body_reserve_bytes_max only: the rest grows as bytes arrive, so a
    // client that announces 1 MiB and stalls holds what it sent, not a 1 MiB reservation
    // (with transparent huge pages the first byte written would bring in 2 MiB).
    if (length) body.reserve(static_cast<std::size_t>(std::min(*length, body_reserve_bytes_max)));
  }
  std::size_t on_body_impl(string_view bytes, error_code&) override {
    body.append(bytes.data(), bytes.size());
    return bytes.size();
  }
  void on_chunk_header_impl(std::uint64_t, string_view, error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, string_view bytes, error_code&) override {
    body.append(bytes.data(), bytes.size());
    return bytes.size();
  }
  void on_finish_impl(error_code&) override {}
};

// What parse_in_place did with the bytes a session had buffered.
struct buffered_parse {
  std::size_t header_bytes = 0;  // the header's bytes taken (0 while it is incomplete)
  std::size_t consumed = 0;      // all bytes taken: the header's and the body's so far
  // need_more: the header is incomplete (read more, then go on with the same reader); any
  // other error: the request is refused (read_error_reply). A body cut short is no error
  // here: the reader is simply not done yet.
  boost::beast::error_code ec;
};

// Parses what `bytes` holds of one request: the header on its own, so the bytes it took are
// known (Beast's header_limit counts from where parsing resumes, so the caller checks the
// header's size against its limit itself), then the body as far as it is buffered.
buffered_parse parse_in_place(request_reader& reader, boost::asio::const_buffer bytes);

// The answer to a request that failed to parse (ec from the reader or the read): 413, 431 or
// 400 as problem+json; nullopt when there is nothing to answer (end of stream, a message cut
// off, a timeout, a reset): the connection just closes.
std::optional<http_reply> read_error_reply(boost::beast::error_code ec, std::size_t body_bytes_max,
                                           std::size_t header_bytes_max);

// Moves a finished reader's request into `request`: method, the kept header values (one
// buffer, taken over from the reader), path and query, the body. Leaves started, route_index
// and channel to the caller. Read anything else off the reader (keep-alive, version, request
// id) before: its text is gone after.
void take_request(request_reader& reader, request_context& request);

}  // namespace ecom::net
