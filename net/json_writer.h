// json_writer: appends compact JSON to a std::string. Written by hand because it is small and
// on the hot path (one reserve, no intermediate DOM). The caller keeps the nesting right;
// commas are inserted automatically.
#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "net/time_format.h"

namespace ecom::net {

class json_writer {
 public:
  explicit json_writer(std::string& out) : out_(out) {}

  json_writer& begin_object() { return open('{'); }
  json_writer& end_object() { return close('}'); }
  json_writer& begin_array() { return open('['); }
  json_writer& end_array() { return close(']'); }

  json_writer& key(std::string_view name) {
    comma();
    quoted(name);
    out_.push_back(':');
    after_key_ = true;
    return *this;
  }
  json_writer& value(std::string_view text) {
    comma();
    quoted(text);
    return *this;
  }
  json_writer& value(const char* text) { return value(std::string_view(text)); }
  json_writer& value(std::int64_t number) {
    comma();
    char buffer[24];
    auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, number);
    out_.append(buffer, end);
    return *this;
  }
  json_writer& value(std::uint64_t number) { return value(static_cast<std::int64_t>(number)); }
  json_writer& value(int number) { return value(static_cast<std::int64_t>(number)); }
  json_writer& value(bool flag) {
    comma();
    out_.append(flag ? "true" : "false");
    return *this;
  }
  // An RFC 3339 time (UTC, milliseconds), written in place: replies carry several per object.
  json_writer& time(std::int64_t unix_ms) {
    comma();
    out_.push_back('"');
    append_rfc3339(out_, unix_ms);
    out_.push_back('"');
    return *this;
  }
  // An id, or null for 0 (the engine's "none").
  json_writer& id_or_null(std::int64_t id) { return id == 0 ? null() : value(id); }
  json_writer& null() {
    comma();
    out_.append("null");
    return *this;
  }
  // Already-encoded JSON (e.g. a stored document).
  json_writer& raw(std::string_view json) {
    comma();
    out_.append(json);
    return *this;
  }

 private:
  json_writer& open(char c) {
    comma();
    out_.push_back(c);
    first_ = true;
    return *this;
  }
  json_writer& close(char c) {
    out_.push_back(c);
    first_ = false;
    return *this;
  }
  void comma() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (!first_) out_.push_back(',');
    first_ = false;
  }
  // A JSON string of `text`. Bytes that are not well-formed UTF-8 (a request path echoed in a
  // problem's detail may hold any byte Beast lets through) become U+FFFD, one per byte, so
  // that every reply is valid JSON (RFC 8259 8.1).
  void quoted(std::string_view text) {
    static constexpr char hex[] = "0123456789abcdef";
    out_.push_back('"');
    for (std::size_t i = 0; i < text.size();) {
      const char c = text[i];
      const auto u = static_cast<unsigned char>(c);
      if (u >= 0x80) {
        const std::size_t size = utf8_sequence_size(text, i);
        if (size == 0) {
          out_.append("\\ufffd");
          ++i;
        } else {
          out_.append(text.data() + i, size);
          i += size;
        }
        continue;
      }
      if (u == '"' || u == '\\') {
        out_.push_back('\\');
        out_.push_back(c);
      } else if (u < 0x20) {
        out_.append("\\u00");
        out_.push_back(hex[u >> 4]);
        out_.push_back(hex[u & 15]);
      } else {
        out_.push_back(c);
      }
      ++i;
    }
    out_.push_back('"');
  }
  // The size of the well-formed UTF-8 sequence that starts at text[at] (RFC 3629: no overlong
  // form, no surrogate, nothing past U+10FFFF), or 0 when the bytes there are not one.
  static std::size_t utf8_sequence_size(std::string_view text, std::size_t at) {
    const auto byte = [text](std::size_t i) { return static_cast<unsigned char>(text[i]); };
    const unsigned char lead = byte(at);
    std::size_t size = 0;
    unsigned char second_min = 0x80, second_max = 0xbf;
    if (lead >= 0xc2 && lead <= 0xdf) {
      size = 2;
    } else if (lead >= 0xe0 && lead <= 0xef) {
      size = 3;
      if (lead == 0xe0) second_min = 0xa0;  // overlong below U+0800
      if (lead == 0xed) second_max = 0x9f;  // surrogates
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      size = 4;
      if (lead == 0xf0) second_min = 0x90;  // overlong below U+10000
      if (lead == 0xf4) second_max = 0x8f;  // past U+10FFFF
    } else {
      return 0;
    }
    if (text.size() - at < size) return 0;
    if (byte(at + 1) < second_min || byte(at + 1) > second_max) return 0;
    for (std::size_t k = 2; k < size; ++k) {
      if ((byte(at + k) & 0xc0) != 0x80) return 0;
    }
    return size;
  }

  std::string& out_;
  bool first_ = true;
  bool after_key_ = false;
};

}  // namespace ecom::net
