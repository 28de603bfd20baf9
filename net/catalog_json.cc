#include "net/catalog_json.h"

#include "net/json_walk.h"
#include "net/json_writer.h"
#include "net/problem.h"
#include "net/time_format.h"

namespace ecom::net {

namespace od = json_walk::od;
using engine::price_max;
using engine::stock_max;
using json_walk::get_array;
using json_walk::get_boolean;
using json_walk::get_integer;
using json_walk::get_object;
using json_walk::get_text;

namespace {

using maybe_problem = std::optional<http_reply>;

std::string index_field(const std::string& list, std::size_t index) {
  return list + "[" + std::to_string(index) + "]";
}

#define ECOM_TRY(expr)                           \
  do {                                           \
    if (auto problem_ = (expr)) return problem_; \
  } while (0)

maybe_problem parse_image(od::value value, const std::string& field, engine::image_input& out) {
  od::object object;
  ECOM_TRY(get_object(value, field, object));
  bool has_url = false;
  for (auto member : object) {
    std::string_view key = member.unescaped_key().value_unsafe();
    od::value inner = member.value().value_unsafe();
    if (key == "url") {
      ECOM_TRY(get_text(inner, field + ".url", 1, engine::image_url_length_max, out.url));
      has_url = true;
    } else if (key == "is_main") {
      ECOM_TRY(get_boolean(inner, field + ".is_main", out.is_main));
    } else if (key == "sort_order") {
      ECOM_TRY(get_integer(inner, field + ".sort_order", -engine::image_sort_order_max,
                           engine::image_sort_order_max, out.sort_order));
    }
  }
  if (!has_url) return validation_failed(field + ".url", "is required");
  return std::nullopt;
}

maybe_problem parse_option(od::value value, const std::string& field, engine::option_input& out) {
  od::object object;
  ECOM_TRY(get_object(value, field, object));
  bool has_name = false, has_values = false;
  for (auto member : object) {
    std::string_view key = member.unescaped_key().value_unsafe();
    od::value inner = member.value().value_unsafe();
    if (key == "name") {
      ECOM_TRY(get_text(inner, field + ".name", 1, engine::option_text_length_max, out.name));
      has_name = true;
    } else if (key == "values") {
      od::array values;
      ECOM_TRY(get_array(inner, field + ".values", values));
      for (auto element : values) {
        std::string field_i = index_field(field + ".values", out.values.size());
        if (out.values.size() >= engine::option_values_max) {
          return validation_failed(
              field + ".values",
              "at most " + std::to_string(engine::option_values_max) + " values");
        }
        std::string text;
        ECOM_TRY(
            get_text(element.value_unsafe(), field_i, 1, engine::option_text_length_max, text));
        out.values.push_back(std::move(text));
      }
      has_values = true;
    }
  }
  if (!has_name) return validation_failed(field + ".name", "is required");
  if (!has_values) return validation_failed(field + ".values", "is required");
  return std::nullopt;
}

maybe_problem parse_combination(od::value value, const std::string& field,
                                engine::combination_input& out) {
  od::object object;
  ECOM_TRY(get_object(value, field, object));
  bool has_options = false, has_stock = false;
  for (auto member : object) {
    std::string_view key = member.unescaped_key().value_unsafe();
    od::value inner = member.value().value_unsafe();
    if (key == "options") {
      od::object picks;
      ECOM_TRY(get_object(inner, field + ".options", picks));
      for (auto pick : picks) {
        if (out.picks.size() >= engine::product_options_max) {
          return validation_failed(field + ".options",
                                   "picks more options than a product may have");
        }
        std::string name(pick.unescaped_key().value_unsafe());
        std::string text;
        ECOM_TRY(get_text(pick.value().value_unsafe(), field + ".options." + name, 1,
                          engine::option_text_length_max, text));
        out.picks.emplace_back(std::move(name), std::move(text));
      }
      has_options = true;
    } else if (key == "additional_price") {
      ECOM_TRY(get_integer(inner, field + ".additional_price", -price_max, price_max,
                           out.additional_price));
    } else if (key == "stock") {
      ECOM_TRY(get_integer(inner, field + ".stock", 0, stock_max, out.stock));
      has_stock = true;
    }
  }
  if (!has_options) return validation_failed(field + ".options", "is required");
  if (!has_stock) return validation_failed(field + ".stock", "is required");
  return std::nullopt;
}

template <class T, class Parse>
maybe_problem parse_list(od::value value, const std::string& field, std::size_t count_max,
                         std::vector<T>& out, Parse parse) {
  od::array array;
  ECOM_TRY(get_array(value, field, array));
  for (auto element : array) {
    if (out.size() >= count_max) {
      return validation_failed(field, "at most " + std::to_string(count_max) + " entries");
    }
    T item;
    ECOM_TRY(parse(element.value_unsafe(), index_field(field, out.size()), item));
    out.push_back(std::move(item));
  }
  return std::nullopt;
}

}  // namespace

std::optional<http_reply> parse_product_input(std::string_view body, engine::product_input& out) {
  od::object root;
  ECOM_TRY(json_walk::open_object(body, root));
  bool has_name = false, has_base_price = false;
  for (auto member : root) {
    std::string_view key = member.unescaped_key().value_unsafe();
    od::value value = member.value().value_unsafe();
    if (key == "name") {
      ECOM_TRY(get_text(value, "name", 1, engine::product_name_length_max, out.name));
      has_name = true;
    } else if (key == "description") {
      ECOM_TRY(get_text(value, "description", 0, engine::product_description_length_max,
                        out.description));
    } else if (key == "base_price") {
      ECOM_TRY(get_integer(value, "base_price", 0, price_max, out.base_price));
      has_base_price = true;
    } else if (key == "is_active") {
      ECOM_TRY(get_boolean(value, "is_active", out.is_active));
    } else if (key == "stock") {
      ECOM_TRY(get_integer(value, "stock", 0, stock_max, out.stock));
    } else if (key == "images") {
      ECOM_TRY(parse_list(value, "images", engine::product_images_max, out.images, parse_image));
    } else if (key == "options") {
      ECOM_TRY(
          parse_list(value, "options", engine::product_options_max, out.options, parse_option));
      out.has_options = true;
    } else if (key == "combinations") {
      ECOM_TRY(parse_list(value, "combinations", engine::product_combinations_max, out.combinations,
                          parse_combination));
      out.has_combinations = true;
    }
  }
  if (!has_name) return validation_failed("name", "is required");
  if (!has_base_price) return validation_failed("base_price", "is required");
  return std::nullopt;
}

std::optional<http_reply> parse_product_patch(std::string_view body, engine::update_product& out) {
  od::object root;
  ECOM_TRY(json_walk::open_object(body, root));
  for (auto member : root) {
    std::string_view key = member.unescaped_key().value_unsafe();
    od::value value = member.value().value_unsafe();
    if (key == "name") {
      std::string name;
      ECOM_TRY(get_text(value, "name", 1, engine::product_name_length_max, name));
      out.name = std::move(name);
    } else if (key == "description") {
      std::string description;
      ECOM_TRY(
          get_text(value, "description", 0, engine::product_description_length_max, description));
      out.description = std::move(description);
    } else if (key == "base_price") {
      std::int64_t price = 0;
      ECOM_TRY(get_integer(value, "base_price", 0, price_max, price));
      out.base_price = price;
    } else if (key == "is_active") {
      bool active = false;
      ECOM_TRY(get_boolean(value, "is_active", active));
      out.is_active = active;
    }
  }
  return std::nullopt;
}

#undef ECOM_TRY

void render_product(std::string& out, const engine::product_view& p) {
  json_writer w(out);
  w.begin_object();
  w.key("id").value(p.id);
  w.key("name").value(p.name);
  w.key("description").value(p.description);
  w.key("base_price").value(p.base_price);
  w.key("is_active").value(p.is_active);
  w.key("images").begin_array();
  for (const auto& image : p.images) {
    w.begin_object();
    w.key("id").value(image.id);
    w.key("url").value(image.url);
    w.key("is_main").value(image.is_main);
    w.key("sort_order").value(image.sort_order);
    w.end_object();
  }
  w.end_array();
  w.key("options").begin_array();
  for (const auto& option : p.options) {
    for (const auto& value : option.values) {
      w.begin_object()
          .key("id")
          .value(value.id)
          .key("name")
          .value(option.name)
          .key("value")
          .value(value.value);
      w.end_object();
    }
  }
  w.end_array();
  w.key("combinations").begin_array();
  for (const auto& c : p.combinations) {
    w.begin_object();
    w.key("id").value(c.id);
    w.key("name").value(engine::combination_name(c.values));
    w.key("options").begin_object();
    for (std::size_t o = 0; o < c.values.size() && o < p.options.size(); ++o)
      w.key(p.options[o].name).value(c.values[o]);
    w.end_object();
    w.key("additional_price").value(c.additional_price);
    w.key("price").value(p.base_price + c.additional_price);
    w.key("stock").value(c.stock);
    w.end_object();
  }
  w.end_array();
  w.key("created_at").time(p.created_at);
  w.key("updated_at").time(p.updated_at);
  w.end_object();
}

void render_product_summary(std::string& out, const engine::product_summary& s) {
  json_writer w(out);
  w.begin_object();
  w.key("id").value(s.id);
  w.key("name").value(s.name);
  w.key("base_price").value(s.base_price);
  w.key("main_image_url");
  if (s.main_image_url.empty()) {
    w.null();
  } else {
    w.value(s.main_image_url);
  }
  w.key("in_stock").value(s.in_stock);
  w.end_object();
}

std::int64_t cart_line_total(const engine::cart_line& line, const engine::sale_fact& fact) {
  return fact.unit_price * line.quantity;  // at most 1e9 × 999: no overflow
}

bool cart_line_available(const engine::cart_line& line, const engine::sale_fact& fact) {
  return fact.product_found && fact.combination_found && fact.active && fact.stock >= line.quantity;
}

void render_cart_item(std::string& out, const engine::cart_line& line,
                      const engine::sale_fact& fact) {
  json_writer w(out);
  w.begin_object();
  w.key("id").value(line.id);
  w.key("product_id").value(line.product_id);
  w.key("combination_id").value(line.combination_id);
  w.key("product_name").value(fact.product_name);
  w.key("combination_name").value(fact.combination_name);
  w.key("quantity").value(line.quantity);
  w.key("unit_price").value(fact.unit_price);
  w.key("line_total").value(cart_line_total(line, fact));
  w.key("available").value(cart_line_available(line, fact));
  w.end_object();
}

}  // namespace ecom::net
