// json_walk: value-level helpers over simdjson On-Demand for request bodies. Included only by
// the .cc files that parse bodies, so simdjson stays out of widely included headers.
//
// Bodies are read in two passes over the same padded buffer: the first walks every value to
// prove the document is well-formed JSON (MALFORMED_JSON otherwise), the second reads the
// fields and stops at the first field error, which then names the field (VALIDATION_FAILED).
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "net/http_types.h"

namespace ecom::net::json_walk {

namespace od = simdjson::ondemand;

// Parses `body` (both passes) and opens its root object for the second pass. The document
// lives in thread-local storage until the next call on this thread.
std::optional<http_reply> open_object(std::string_view body, od::object& root);

std::optional<http_reply> get_text(od::value value, const std::string& field,
                                   std::size_t length_min, std::size_t length_max,
                                   std::string& out);
std::optional<http_reply> get_integer(od::value value, const std::string& field, std::int64_t min,
                                      std::int64_t max, std::int64_t& out);
std::optional<http_reply> get_boolean(od::value value, const std::string& field, bool& out);
std::optional<http_reply> get_array(od::value value, const std::string& field, od::array& out);
std::optional<http_reply> get_object(od::value value, const std::string& field, od::object& out);

}  // namespace ecom::net::json_walk
