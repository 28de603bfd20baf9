// The OpenAPI document served at /openapi.json must describe every route the router has, with
// its method, and nothing the router lacks. Method: compare api::route_labels() with the
// document's paths, path parameters normalized to {} on both sides.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <regex>
#include <set>

#include "net/api.h"
#include "net/docs_assets.h"

namespace ecom::net {

extern const std::string_view openapi_document;
extern const std::string_view docs_fallback_page;

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

// Goal: /docs is Swagger UI when it was built in, and otherwise a page that says what is missing
// and how to get it. Method: this build has swagger-ui-dist (tools/setup.sh installs it), so the
// page loads the embedded bundle; the fallback page names the folder and the set-up script.
TEST(docs_assets_test, swagger_ui_is_embedded_and_the_fallback_says_what_is_missing) {
  EXPECT_FALSE(swagger_ui_version().empty()) << "swagger-ui-dist was missing at build time";
  EXPECT_NE(docs_page_html().find("swagger-ui-bundle.js"), std::string_view::npos);
  const docs_asset* bundle = find_docs_asset("swagger-ui-bundle.js");
  ASSERT_NE(bundle, nullptr);
  EXPECT_NE(bundle->bytes.find("SwaggerUIBundle"), std::string_view::npos);
  EXPECT_EQ(find_docs_asset("../package.json"), nullptr);
  EXPECT_EQ(find_docs_asset(""), nullptr);
  EXPECT_NE(docs_fallback_page.find("web/node_modules/swagger-ui-dist"), std::string_view::npos);
  EXPECT_NE(docs_fallback_page.find("tools/setup.sh"), std::string_view::npos);
  EXPECT_NE(docs_fallback_page.find("/openapi.json"), std::string_view::npos);
}

}  // namespace
}  // namespace ecom::net
