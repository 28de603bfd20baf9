// catalog_json: product and cart bodies in and out. Parsing checks JSON shape and types and
// names the field at fault; the product rules themselves live in engine/product_rules.
#pragma once

#include <optional>
#include <string>

#include "engine/reply.h"
#include "net/http_types.h"

namespace ecom::net {

std::optional<http_reply> parse_product_input(std::string_view body, engine::product_input& out);
std::optional<http_reply> parse_product_patch(std::string_view body, engine::update_product& out);

void render_product(std::string& out, const engine::product_view& product);
void render_product_summary(std::string& out,
                            const engine::product_summary& summary);  // one object
// One cart line with the product facts it is shown with.
void render_cart_item(std::string& out, const engine::cart_line& line,
                      const engine::sale_fact& fact);
std::int64_t cart_line_total(const engine::cart_line& line, const engine::sale_fact& fact);
bool cart_line_available(const engine::cart_line& line, const engine::sale_fact& fact);

}  // namespace ecom::net
