#include "net/json_reader.h"

#include <simdjson.h>

#include <charconv>
#include <vector>

#include "net/problem.h"

namespace ecom::net {

namespace od = simdjson::ondemand;

namespace {

constexpr std::size_t json_depth_max = 64;

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
    case od::json_type::null:
      return value.is_null();
  }
  return false;
}

const char* type_name(field_spec::kind kind) {
  switch (kind) {
    case field_spec::kind::text:
      return "must be a string";
    case field_spec::kind::integer:
      return "must be an integer";
    case field_spec::kind::boolean:
      return "must be a boolean";
  }
  return "has the wrong type";
}

std::optional<http_reply> read_integer(od::value value, const field_spec& spec) {
  od::json_type type;
  if (value.type().get(type)) return malformed_json("body is not valid JSON");
  if (type != od::json_type::number) return validation_failed(spec.name, type_name(spec.type));
  std::string_view raw = trim_right(value.raw_json_token());
  switch (shape_of(raw)) {
    case number_shape::invalid:
      return malformed_json("body is not valid JSON");
    case number_shape::fractional:
      return validation_failed(spec.name, "must be an integer without fraction or exponent");
    case number_shape::integer:
      break;
  }
  std::int64_t number = 0;
  auto [ptr, ec] = std::from_chars(raw.data(), raw.data() + raw.size(), number);
  if (ec != std::errc() || ptr != raw.data() + raw.size() || number < spec.min ||
      number > spec.max) {
    return validation_failed(spec.name, "must be between " + std::to_string(spec.min) + " and " +
                                            std::to_string(spec.max));
  }
  *spec.integer_out = number;
  return std::nullopt;
}

std::optional<http_reply> read_text(od::value value, const field_spec& spec) {
  od::json_type type;
  if (value.type().get(type)) return malformed_json("body is not valid JSON");
  if (type != od::json_type::string) return validation_failed(spec.name, type_name(spec.type));
  std::string_view text;
  if (value.get_string().get(text)) {
    return validation_failed(spec.name, "is not a valid string (bad escape or UTF-8)");
  }
  auto length = static_cast<std::int64_t>(code_point_count(text));
  if (length < spec.min || length > spec.max) {
    return validation_failed(spec.name, "must be " + std::to_string(spec.min) + " to " +
                                            std::to_string(spec.max) + " characters long");
  }
  spec.text_out->assign(text);
  return std::nullopt;
}

std::optional<http_reply> read_boolean(od::value value, const field_spec& spec) {
  od::json_type type;
  if (value.type().get(type)) return malformed_json("body is not valid JSON");
  if (type != od::json_type::boolean) return validation_failed(spec.name, type_name(spec.type));
  bool flag = false;
  if (value.get_bool().get(flag)) return malformed_json("body is not valid JSON");
  *spec.boolean_out = flag;
  return std::nullopt;
}

std::optional<http_reply> read_field(od::value value, const field_spec& spec) {
  switch (spec.type) {
    case field_spec::kind::integer:
      return read_integer(value, spec);
    case field_spec::kind::text:
      return read_text(value, spec);
    case field_spec::kind::boolean:
      return read_boolean(value, spec);
  }
  return std::nullopt;
}

}  // namespace

std::size_t code_point_count(std::string_view utf8) {
  std::size_t count = 0;
  for (char c : utf8) count += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return count;
}

std::optional<http_reply> read_json_object(std::string_view body, std::span<field_spec> fields) {
  thread_local od::parser parser;
  // simdjson reads up to SIMDJSON_PADDING bytes past the end: give it a padded copy.
  thread_local std::string padded;
  padded.assign(body);
  padded.resize(body.size() + simdjson::SIMDJSON_PADDING, '\0');
  od::document doc;
  if (auto error = parser.iterate(padded.data(), body.size(), padded.size()).get(doc)) {
    return malformed_json(error == simdjson::UTF8_ERROR ? "body is not valid UTF-8"
                                                        : "body is not valid JSON");
  }
  od::json_type type;
  if (doc.type().get(type)) return malformed_json("body is not valid JSON");
  if (type != od::json_type::object) return malformed_json("body must be a JSON object");
  od::object object;
  if (doc.get_object().get(object)) return malformed_json("body is not valid JSON");
  std::vector<bool> seen(fields.size(), false);
  std::optional<http_reply> first_problem;
  for (auto member : object) {
    std::string_view key;
    if (member.unescaped_key().get(key)) return malformed_json("body is not valid JSON");
    od::value value;
    if (member.value().get(value)) return malformed_json("body is not valid JSON");
    std::size_t index = 0;
    while (index < fields.size() && fields[index].name != key) ++index;
    if (index == fields.size() || first_problem) {
      if (!validate_value(value, 1)) return malformed_json("body is not valid JSON");
      continue;
    }
    seen[index] = true;
    if (fields[index].present) *fields[index].present = true;
    // Keep walking after a field error: a syntax error later in the body outranks it.
    first_problem = read_field(value, fields[index]);
    if (first_problem && first_problem->status == 400 &&
        first_problem->body.find("MALFORMED_JSON") != std::string::npos) {
      return first_problem;
    }
  }
  // current_location() fails with OUT_OF_BOUNDS exactly when the whole input was consumed.
  const char* rest = nullptr;
  if (!doc.current_location().get(rest)) {
    return malformed_json("unexpected content after the JSON object");
  }
  if (first_problem) return first_problem;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (fields[i].required && !seen[i]) return validation_failed(fields[i].name, "is required");
  }
  return std::nullopt;
}

}  // namespace ecom::net
