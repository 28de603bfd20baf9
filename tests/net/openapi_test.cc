// The OpenAPI document served at /openapi.json must describe every route the router has, with
// its method, and nothing the router lacks. Method: compare api::route_labels() with the
// document's paths, path parameters normalized to {} on both sides.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <regex>
#include <set>

#include "net/api.h"

namespace ecom::net {

extern const std::string_view openapi_document;

namespace {

std::string normalized(const std::string& route) {
  return std::regex_replace(route, std::regex("\\{[^}]*\\}"), "{}");
}

TEST(openapi_test, document_describes_exactly_the_routes_the_router_has) {
  std::set<std::string> routed;
  for (const auto& label : api::route_labels()) {
    if (label != "unmatched") routed.insert(normalized(label));
  }
  simdjson::dom::parser parser;
  simdjson::padded_string text(openapi_document);
  simdjson::dom::element doc = parser.parse(text);
  std::set<std::string> documented;
  for (auto [path, item] : doc["paths"].get_object()) {
    for (auto [method, operation] : item.get_object()) {
      std::string m(method);
      if (m == "parameters") continue;
      for (char& c : m) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      documented.insert(normalized(m + " " + std::string(path)));
    }
  }
  for (const auto& route : routed)
    EXPECT_TRUE(documented.contains(route)) << "undocumented: " << route;
  for (const auto& route : documented)
    EXPECT_TRUE(routed.contains(route)) << "documented but not routed: " << route;
  EXPECT_EQ(std::string(doc["openapi"].get_string().value()).substr(0, 2), "3.");
}

}  // namespace
}  // namespace ecom::net
