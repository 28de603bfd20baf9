// json_writer: appends compact JSON to a std::string. Written by hand because it is small and
// on the hot path (one reserve, no intermediate DOM). The caller keeps the nesting right;
// commas are inserted automatically.
#pragma once

#include <charconv>
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
  void quoted(std::string_view text) {
    static constexpr char hex[] = "0123456789abcdef";
    out_.push_back('"');
    for (char c : text) {
      auto u = static_cast<unsigned char>(c);
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
    }
    out_.push_back('"');
  }

  std::string& out_;
  bool first_ = true;
  bool after_key_ = false;
};

}  // namespace ecom::net
