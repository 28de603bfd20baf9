#include "net/http_wire.h"

#include <boost/beast/http/status.hpp>

#include <charconv>

#include "net/problem.h"

namespace ecom::net {

namespace http = boost::beast::http;

namespace {
// "1 MiB", "16 KiB": a limit as the problem details print it.
std::string size_text(std::size_t bytes) {
  if (bytes % (1 << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
  if (bytes % (1 << 10) == 0) return std::to_string(bytes >> 10) + " KiB";
  return std::to_string(bytes) + " bytes";
}
}  // namespace

http_method method_of(http::verb verb) {
  switch (verb) {
    case http::verb::get:
      return http_method::get;
    case http::verb::post:
      return http_method::post;
    case http::verb::put:
      return http_method::put;
    case http::verb::patch:
      return http_method::patch;
    case http::verb::delete_:
      return http_method::del;
    case http::verb::head:
      return http_method::head;
    case http::verb::options:
      return http_method::options;
    default:
      return http_method::other;
  }
}

void render_reply(std::string& out, unsigned version, const http_reply& answer,
                  std::string_view request_id, bool keep_alive, bool head_request) {
  out.clear();
  out += version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  char digits[24];
  out.append(digits, std::to_chars(digits, digits + sizeof digits, answer.status).ptr);
  out += ' ';
  out += http::obsolete_reason(static_cast<http::status>(answer.status));
  out += "\r\n";
  const auto field = [&out](std::string_view name, std::string_view value) {
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  };
  if (!answer.content_type.empty()) field("Content-Type", answer.content_type);
  field("X-Request-Id", request_id);
  for (const auto& [name, value] : answer.headers) field(name, value);
  // 1xx, 204 and 304 carry no body and no Content-Length (RFC 9110 8.6).
  const bool bodiless = answer.status < 200 || answer.status == 204 || answer.status == 304;
  if (!bodiless) {
    field("Content-Length",
          std::string_view(digits,
                           std::to_chars(digits, digits + sizeof digits, answer.body.size()).ptr));
  }
  if (version == 10 && keep_alive) field("Connection", "keep-alive");
  if (version != 10 && !keep_alive) field("Connection", "close");
  out += "\r\n";
  // HEAD: the headers GET would send, Content-Length included, and no body.
  if (!bodiless && !head_request) out += answer.body;
}

buffered_parse parse_in_place(request_reader& reader, boost::asio::const_buffer bytes) {
  buffered_parse out;
  reader.eager(false);
  out.header_bytes = reader.put(bytes, out.ec);
  out.consumed = out.header_bytes;
  if (out.ec == http::error::need_more) return out;
  bytes += out.header_bytes;
  if (!out.ec && !reader.is_done() && bytes.size() > 0) {
    reader.eager(true);  // the body, as far as it is buffered
    out.consumed += reader.put(bytes, out.ec);
    if (out.ec == http::error::need_more) out.ec = {};
  }
  return out;
}

std::optional<http_reply> read_error_reply(boost::beast::error_code ec, std::size_t body_bytes_max,
                                           std::size_t header_bytes_max) {
  if (ec == http::error::body_limit) {
    return make_problem_reply(
        {413, "PAYLOAD_TOO_LARGE", "the body is larger than " + size_text(body_bytes_max), {}});
  }
  if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
    return make_problem_reply({431,
                               "HEADERS_TOO_LARGE",
                               "the header block is larger than " + size_text(header_bytes_max),
                               {}});
  }
  if (ec.category() == boost::beast::error_code(http::error::end_of_stream).category() &&
      ec != http::error::end_of_stream && ec != http::error::partial_message) {
    return make_problem_reply(
        {400, "VALIDATION_FAILED", "request: malformed HTTP request", "request"});
  }
  return std::nullopt;
}

void take_request(request_reader& reader, request_context& request) {
  request.method = method_of(reader.method);
  const bool chunked = reader.chunked();
  const auto length = reader.content_length();
  request.has_body = chunked || (length && *length != 0);
  request.body = std::move(reader.body);
  request.has_idempotency_key = reader.idempotency_key.found;
  request.has_min_lsn = reader.min_lsn.found;
  // Every header value the routes read, in one buffer taken over from the reader.
  request.text = std::move(reader.text);
  const auto view = [&text = request.text](const text_span& span) {
    return std::string_view(text).substr(span.at, span.size);
  };
  request.method_text = view(reader.method_text);
  request.target = view(reader.target);
  request.content_type = view(reader.content_type);
  request.authorization = view(reader.authorization);
  request.idempotency_key = view(reader.idempotency_key);
  request.min_lsn = view(reader.min_lsn);
  auto question = request.target.find('?');
  request.path = request.target.substr(0, question);
  if (question != std::string_view::npos) request.query = request.target.substr(question + 1);
}

}  // namespace ecom::net
