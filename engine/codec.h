// Binary encoding of record payloads: little-endian fixed-width integers and length-prefixed
// byte strings. The WAL frames and checksums payloads; this only lays out fields.
// A reader that runs past the end sets failed() instead of reading out of bounds, so a
// payload that passed its CRC but does not decode is reported, never trusted.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

namespace ecom::engine {

class payload_writer {
 public:
  explicit payload_writer(std::string& out) : out_(out) {}

  template <class T>
  requires std::is_integral_v<T> || std::is_enum_v<T>
  void put(T value) {
    char bytes[sizeof(T)];
    std::memcpy(bytes, &value, sizeof(T));  // x86-64 and aarch64 are little-endian
    out_.append(bytes, sizeof(T));
  }
  void put_bytes(std::string_view bytes) {
    put(static_cast<std::uint32_t>(bytes.size()));
    out_.append(bytes);
  }

 private:
  std::string& out_;
};

class payload_reader {
 public:
  explicit payload_reader(std::string_view in) : in_(in) {}

  template <class T>
  requires std::is_integral_v<T> || std::is_enum_v<T> T get() {
    T value{};
    if (in_.size() - pos_ < sizeof(T)) {
      failed_ = true;
      return value;
    }
    std::memcpy(&value, in_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return value;
  }
  std::string get_bytes() {
    auto size = get<std::uint32_t>();
    if (failed_ || in_.size() - pos_ < size) {
      failed_ = true;
      return {};
    }
    std::string value(in_.substr(pos_, size));
    pos_ += size;
    return value;
  }
  bool at_end() const { return pos_ == in_.size(); }
  void fail() { failed_ = true; }  // a decoded field is out of its bounds
  bool failed() const { return failed_; }

 private:
  std::string_view in_;
  std::size_t pos_ = 0;
  bool failed_ = false;
};

static_assert(std::endian::native == std::endian::little, "payloads are little-endian");

}  // namespace ecom::engine
