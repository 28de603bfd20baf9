// json_reader: validates a request body with simdjson On-Demand into typed fields, in one
// pass, with errors that name the field. Integers must be written as integers (no fraction,
// no exponent) and fit in int64; anything else is VALIDATION_FAILED. A body that is not a JSON
// object is MALFORMED_JSON. Unknown fields are ignored but still checked for valid JSON.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "net/http_types.h"

namespace ecom::net {

struct field_spec {
  enum class kind : std::uint8_t { text, integer, boolean };
  std::string_view name;
  kind type = kind::text;
  bool required = true;
  std::int64_t min = 0;  // text: length in code points; integer: value
  std::int64_t max = 0;
  // Exactly one of these matches `type`.
  std::string* text_out = nullptr;
  std::int64_t* integer_out = nullptr;
  bool* boolean_out = nullptr;
  bool* present = nullptr;  // optional: set when the field was in the body
};

inline field_spec text_field(std::string_view name, std::string& out, std::int64_t min_length,
                             std::int64_t max_length, bool required = true) {
  field_spec spec{name, field_spec::kind::text, required, min_length, max_length};
  spec.text_out = &out;
  return spec;
}

inline field_spec integer_field(std::string_view name, std::int64_t& out, std::int64_t min,
                                std::int64_t max, bool required = true) {
  field_spec spec{name, field_spec::kind::integer, required, min, max};
  spec.integer_out = &out;
  return spec;
}

// Parses `body` as one JSON object and fills the fields. Returns the problem reply on failure.
std::optional<http_reply> read_json_object(std::string_view body, std::span<field_spec> fields);

// Number of Unicode code points in valid UTF-8.
std::size_t code_point_count(std::string_view utf8);

}  // namespace ecom::net
