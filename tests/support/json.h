// JSON helpers for tests: a parsed document (simdjson DOM) with accessors that throw
// std::runtime_error naming the JSON path on a missing field or a wrong type (gtest reports an
// exception thrown in a test body as a failure), and a small object builder.
#pragma once

#include <simdjson.h>

#include <concepts>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace ecom::test {

class json_value {
 public:
  json_value() = default;
  json_value(simdjson::dom::element element, std::string path,
             std::shared_ptr<const simdjson::dom::parser> owner)
      : element_(element), path_(std::move(path)), owner_(std::move(owner)) {}

  json_value operator[](std::string_view key) const {
    simdjson::dom::object object;
    if (element_.get_object().get(object) != simdjson::SUCCESS) fail("is not an object");
    simdjson::dom::element child;
    if (object.at_key(key).get(child) != simdjson::SUCCESS) {
      throw std::runtime_error(path_ + "." + std::string(key) + " is missing in " + dump());
    }
    return json_value(child, path_ + "." + std::string(key), owner_);
  }
  json_value operator[](size_t index) const {
    simdjson::dom::array array;
    if (element_.get_array().get(array) != simdjson::SUCCESS) fail("is not an array");
    simdjson::dom::element child;
    if (array.at(index).get(child) != simdjson::SUCCESS) {
      throw std::runtime_error(path_ + "[" + std::to_string(index) + "] is out of range");
    }
    return json_value(child, path_ + "[" + std::to_string(index) + "]", owner_);
  }
  bool has(std::string_view key) const {
    simdjson::dom::object object;
    if (element_.get_object().get(object) != simdjson::SUCCESS) return false;
    simdjson::dom::element child;
    return object.at_key(key).get(child) == simdjson::SUCCESS;
  }

  simdjson::dom::element_type type() const { return element_.type(); }
  bool is_null() const { return element_.is_null(); }
  bool is_string() const { return element_.is_string(); }
  bool is_bool() const { return element_.is_bool(); }
  bool is_object() const { return element_.is_object(); }
  bool is_array() const { return element_.is_array(); }
  // An integer written without fraction or exponent that fits in int64.
  bool is_int() const { return element_.type() == simdjson::dom::element_type::INT64; }

  int64_t as_int() const {
    int64_t value = 0;
    if (!is_int() || element_.get_int64().get(value) != simdjson::SUCCESS) {
      fail("is not an int64 integer");
    }
    return value;
  }
  std::string as_string() const {
    std::string_view text;
    if (element_.get_string().get(text) != simdjson::SUCCESS) fail("is not a string");
    return std::string(text);
  }
  bool as_bool() const {
    bool value = false;
    if (element_.get_bool().get(value) != simdjson::SUCCESS) fail("is not a boolean");
    return value;
  }
  size_t size() const {
    simdjson::dom::array array;
    if (element_.get_array().get(array) == simdjson::SUCCESS) return array.size();
    simdjson::dom::object object;
    if (element_.get_object().get(object) == simdjson::SUCCESS) return object.size();
    fail("is neither an array nor an object");
    return 0;
  }
  std::vector<json_value> elements() const {
    simdjson::dom::array array;
    if (element_.get_array().get(array) != simdjson::SUCCESS) fail("is not an array");
    std::vector<json_value> out;
    size_t i = 0;
    for (simdjson::dom::element child : array) {
      out.emplace_back(child, path_ + "[" + std::to_string(i++) + "]", owner_);
    }
    return out;
  }
  std::vector<std::string> keys() const {
    simdjson::dom::object object;
    if (element_.get_object().get(object) != simdjson::SUCCESS) fail("is not an object");
    std::vector<std::string> out;
    for (auto field : object) out.emplace_back(field.key);
    return out;
  }
  std::string dump() const { return simdjson::minify(element_); }
  const std::string& path() const { return path_; }
  simdjson::dom::element element() const { return element_; }

 private:
  [[noreturn]] void fail(std::string_view what) const {
    throw std::runtime_error(path_ + " " + std::string(what) + ": " + dump());
  }

  simdjson::dom::element element_;
  std::string path_ = "$";
  // Keeps the parser (which owns the memory element_ points into) alive as long as any value
  // taken from the document, so `for (auto& x : parse_json(body)["items"].elements())` is safe.
  std::shared_ptr<const simdjson::dom::parser> owner_;
};

// A parsed document; values taken from it share ownership of its parser.
class json_doc {
 public:
  explicit json_doc(std::string_view text) {
    auto parser = std::make_shared<simdjson::dom::parser>();
    simdjson::dom::element root;
    auto error = parser->parse(simdjson::padded_string(text)).get(root);
    if (error != simdjson::SUCCESS) {
      throw std::runtime_error(std::string("invalid JSON (") + simdjson::error_message(error) +
                               "): " + std::string(text.substr(0, 300)));
    }
    root_ = json_value(root, "$", std::move(parser));
  }
  const json_value& root() const { return root_; }
  json_value operator[](std::string_view key) const { return root_[key]; }
  json_value operator[](size_t index) const { return root_[index]; }
  bool has(std::string_view key) const { return root_.has(key); }

 private:
  json_value root_;
};

inline json_doc parse_json(std::string_view text) {
  return json_doc(text);
}

inline bool is_valid_json(std::string_view text) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  return parser.parse(simdjson::padded_string(text)).get(root) == simdjson::SUCCESS;
}

// JSON string literal for s (quotes included); bytes >= 0x80 are copied as they are.
inline std::string json_quote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

// Builds a flat JSON object: json_object().add("amount", 100).add("name", "x").str().
class json_object {
 public:
  json_object& add(std::string_view key, std::string_view value) {
    return add_raw(key, json_quote(value));
  }
  json_object& add(std::string_view key, const char* value) {
    return add_raw(key, json_quote(value));
  }
  json_object& add(std::string_view key, const std::string& value) {
    return add_raw(key, json_quote(value));
  }
  template <typename T>
  requires std::integral<T> json_object& add(std::string_view key, T value) {
    if constexpr (std::is_same_v<T, bool>) {
      return add_raw(key, value ? "true" : "false");
    } else {
      return add_raw(key, std::to_string(value));
    }
  }
  // value is inserted as written (numbers like 1.5, nested objects, null, ...).
  json_object& add_raw(std::string_view key, std::string_view raw_json) {
    if (!body_.empty()) body_ += ",";
    body_ += json_quote(key) + ":" + std::string(raw_json);
    return *this;
  }
  std::string str() const { return "{" + body_ + "}"; }

 private:
  std::string body_;
};

}  // namespace ecom::test
