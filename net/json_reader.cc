#include "net/json_reader.h"

#include <simdjson.h>

#include <charconv>
#include <vector>

#include "net/json_walk.h"
#include "net/limits.h"
#include "net/problem.h"

namespace ecom::net {

namespace od = simdjson::ondemand;

namespace {

std::string_view trim_right(std::string_view text) {
  while (!text.empty() && (text.back() == ' ' || text.back() == '\n' || text.back() == '\r' ||
                           text.back() == '\t')) {
    text.remove_suffix(1);
  }
  return text;
}

enum class number_shape : std::uint8_t { invalid, integer, fractional };

// JSON number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
number_shape shape_of(std::string_view text) {
  std::size_t i = 0;
  auto digits = [&] {
    std::size_t start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
    return i - start;
  };
  if (i < text.size() && text[i] == '-') ++i;
  if (i < text.size() && text[i] == '0') {
    ++i;
  } else if (digits() == 0) {
    return number_shape::invalid;
  }
  bool fractional = false;
  if (i < text.size() && text[i] == '.') {
    ++i;
    if (digits() == 0) return number_shape::invalid;
    fractional = true;
  }
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
    if (digits() == 0) return number_shape::invalid;
    fractional = true;
  }
  if (i != text.size()) return number_shape::invalid;
  return fractional ? number_shape::fractional : number_shape::integer;
}

// Walks a value we do not use, so that a syntax error anywhere in the body is still caught.
bool validate_value(od::value value, std::size_t depth) {
  if (depth > json_depth_max) return false;
  od::json_type type;
  if (value.type().get(type)) return false;
  switch (type) {
    case od::json_type::object: {
      od::object object;
      if (value.get_object().get(object)) return false;
      for (auto field : object) {
        std::string_view key;
        if (field.unescaped_key().get(key)) return false;
        od::value inner;
        if (field.value().get(inner)) return false;
        if (!validate_value(inner, depth + 1)) return false;
      }
      return true;
    }
    case od::json_type::array: {
      od::array array;
      if (value.get_array().get(array)) return false;
      for (auto element : array) {
        od::value inner;
        if (element.get(inner)) return false;
        if (!validate_value(inner, depth + 1)) return false;
      }
      return true;
    }
    case od::json_type::number: {
      std::string_view raw = trim_right(value.raw_json_token());
      return shape_of(raw) != number_shape::invalid;
    }
    case od::json_type::string: {
      std::string_view text;
      return !value.get_string().get(text);
    }
    case od::json_type::boolean: {
      bool flag;
      return !value.get_bool().get(flag);
    }
    case od::json_type::null: {
      // The type comes from the first byte only: "nul" or "n\bll" is typed null too. Read as
      // a result (never converted to bool: that throws on a bad literal).
      bool is_null = false;
      return !value.is_null().get(is_null) && is_null;
    }
  }
  return false;
}

}  // namespace

namespace json_walk {

namespace {
// After pass one the document is known to be valid JSON, so a failure to read a value as its
// expected type can only mean the type is wrong.
std::optional<http_reply> wrong_type(const std::string& field, const char* expected) {
  return validation_failed(field, std::string("must be ") + expected);
}

struct thread_buffers {
  od::parser parser;
  std::string padded;
  od::document doc;
};
}  // namespace

std::optional<http_reply> open_object(std::string_view body, od::object& root) {
  thread_local thread_buffers buffers;
  // simdjson reads up to SIMDJSON_PADDING bytes past the end: give it a padded copy.
  buffers.padded.assign(body);
  buffers.padded.resize(body.size() + simdjson::SIMDJSON_PADDING, '\0');
  auto iterate = [&]() -> simdjson::error_code {
    return buffers.parser.iterate(buffers.padded.data(), body.size(), buffers.padded.size())
        .get(buffers.doc);
  };
  if (auto error = iterate()) {
    return malformed_json(error == simdjson::UTF8_ERROR ? "body is not valid UTF-8"
                                                        : "body is not valid JSON");
  }
  od::value whole;
  od::json_type type;
  if (buffers.doc.get_value().get(whole) || whole.type().get(type))
    return malformed_json("body is not valid JSON");
  if (type != od::json_type::object) return malformed_json("body must be a JSON object");
  if (!validate_value(whole, 0)) return malformed_json("body is not valid JSON");
  // current_location() fails with OUT_OF_BOUNDS exactly when the whole input was consumed.
  const char* rest = nullptr;
  if (!buffers.doc.current_location().get(rest))
    return malformed_json("unexpected content after the JSON object");
  if (iterate() || buffers.doc.get_object().get(root))
    return malformed_json("body is not valid JSON");
  return std::nullopt;
}

std::optional<http_reply> get_text(od::value value, const std::string& field,
                                   std::size_t length_min, std::size_t length_max,
                                   std::string& out) {
  od::json_type type;
  if (value.type().get(type) || type != od::json_type::string) return wrong_type(field, "a string");
  std::string_view text;
  if (value.get_string().get(text))
    return validation_failed(field, "is not a valid string (bad escape or UTF-8)");
  std::size_t length = code_point_count(text);
  if (length < length_min || length > length_max) {
    return validation_failed(field, "must be " + std::to_string(length_min) + " to " +
                                        std::to_string(length_max) + " characters long");
  }
  out.assign(text);
  return std::nullopt;
}

std::optional<http_reply> get_integer(od::value value, const std::string& field, std::int64_t min,
                                      std::int64_t max, std::int64_t& out) {
  od::json_type type;
  if (value.type().get(type) || type != od::json_type::number)
    return wrong_type(field, "an integer");
  std::string_view raw = trim_right(value.raw_json_token());
  if (shape_of(raw) != number_shape::integer) {
    return validation_failed(field, "must be an integer without fraction or exponent");
  }
  std::int64_t number = 0;
  auto [ptr, ec] = std::from_chars(raw.data(), raw.data() + raw.size(), number);
  if (ec != std::errc() || ptr != raw.data() + raw.size() || number < min || number > max) {
    return validation_failed(
        field, "must be between " + std::to_string(min) + " and " + std::to_string(max));
  }
  out = number;
  return std::nullopt;
}

std::optional<http_reply> get_boolean(od::value value, const std::string& field, bool& out) {
  od::json_type type;
  if (value.type().get(type) || type != od::json_type::boolean || value.get_bool().get(out)) {
    return wrong_type(field, "true or false");
  }
  return std::nullopt;
}

std::optional<http_reply> get_array(od::value value, const std::string& field, od::array& out) {
  od::json_type type;
  if (value.type().get(type) || type != od::json_type::array || value.get_array().get(out)) {
    return wrong_type(field, "an array");
  }
  return std::nullopt;
}

std::optional<http_reply> get_object(od::value value, const std::string& field, od::object& out) {
  od::json_type type;
  if (value.type().get(type) || type != od::json_type::object || value.get_object().get(out)) {
    return wrong_type(field, "an object");
  }
  return std::nullopt;
}

}  // namespace json_walk

std::size_t code_point_count(std::string_view utf8) {
  std::size_t count = 0;
  for (char c : utf8) count += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return count;
}

std::optional<http_reply> read_json_object(std::string_view body, std::span<field_spec> fields) {
  json_walk::od::object object;
  if (auto problem = json_walk::open_object(body, object)) return problem;
  std::vector<bool> seen(fields.size(), false);
  for (auto member : object) {
    std::string_view key;
    json_walk::od::value value;
    if (member.unescaped_key().get(key) || member.value().get(value))
      return malformed_json("body is not valid JSON");
    std::size_t index = 0;
    while (index < fields.size() && fields[index].name != key) ++index;
    if (index == fields.size()) continue;  // unknown fields are ignored (already validated)
    const field_spec& spec = fields[index];
    std::string name(spec.name);
    std::optional<http_reply> problem;
    switch (spec.type) {
      case field_spec::kind::integer:
        problem = json_walk::get_integer(value, name, spec.min, spec.max, *spec.integer_out);
        break;
      case field_spec::kind::text:
        problem = json_walk::get_text(value, name, static_cast<std::size_t>(spec.min),
                                      static_cast<std::size_t>(spec.max), *spec.text_out);
        break;
      case field_spec::kind::boolean:
        problem = json_walk::get_boolean(value, name, *spec.boolean_out);
        break;
    }
    if (problem) return problem;
    seen[index] = true;
    if (spec.present) *spec.present = true;
  }
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (fields[i].required && !seen[i]) return validation_failed(fields[i].name, "is required");
  }
  return std::nullopt;
}

}  // namespace ecom::net
