// json_reader: the edge validation every body goes through. Each malformed or mistyped input
// must come back as the contract's 400 with the right code and, for fields, the field's name.
#include "net/json_reader.h"

#include <gtest/gtest.h>

namespace ecom::net {
namespace {

struct outcome {
  std::uint16_t status = 0;
  std::string body;
};

outcome read_amount(std::string_view json, std::int64_t* amount_out = nullptr) {
  std::int64_t amount = 0;
  field_spec fields[] = {integer_field("amount", amount, 1, 10'000'000)};
  auto problem = read_json_object(json, fields);
  if (amount_out) *amount_out = amount;
  if (!problem) return {200, {}};
  return {problem->status, problem->body};
}

bool is_code(const outcome& o, std::string_view code) {
  return o.status == 400 &&
         o.body.find("\"code\":\"" + std::string(code) + "\"") != std::string::npos;
}

TEST(json_reader_test, accepts_an_integer_in_range) {
  std::int64_t amount = 0;
  EXPECT_EQ(
      read_amount(R"({"amount": 10000000, "note": {"x": [1, 2.5, "s", null, true]}})", &amount)
          .status,
      200);
  EXPECT_EQ(amount, 10'000'000);
}

TEST(json_reader_test, non_integers_are_validation_failures_naming_the_field) {
  for (const char* body :
       {R"({"amount": 1.5})", R"({"amount": 1e3})", R"({"amount": 1000.0})", R"({"amount": "100"})",
        R"({"amount": true})", R"({"amount": null})", R"({"amount": [1]})", R"({"amount": {}})"}) {
    outcome o = read_amount(body);
    EXPECT_TRUE(is_code(o, "VALIDATION_FAILED")) << body << " -> " << o.body;
    EXPECT_NE(o.body.find("\"field\":\"amount\""), std::string::npos) << body;
  }
}

TEST(json_reader_test, out_of_range_is_a_validation_failure) {
  for (const char* body :
       {R"({"amount": 0})", R"({"amount": -1})", R"({"amount": 10000001})",
        R"({"amount": 9223372036854775807})", R"({"amount": 9223372036854775808})",
        R"({"amount": 99999999999999999999})", R"({"amount": -9223372036854775809})"}) {
    EXPECT_TRUE(is_code(read_amount(body), "VALIDATION_FAILED")) << body;
  }
}

TEST(json_reader_test, missing_required_field_is_named) {
  outcome o = read_amount(R"({"amont": 5})");
  EXPECT_TRUE(is_code(o, "VALIDATION_FAILED"));
  EXPECT_NE(o.body.find("amount: is required"), std::string::npos);
}

TEST(json_reader_test, malformed_bodies_are_malformed_json) {
  for (const char* body :
       {"", "   ", "{", R"({"amount": 5)", R"({"amount" 5})", R"({"amount": 5,})",
        R"({"amount": 5} {})", R"({"amount": 01})", R"({"x": tru, "amount": 5})",
        R"({"amount": 5, "x": [1, {"a": }]})", R"([{"amount": 5}])", R"("text")", "42", "null",
        "{\"amount\": 5, \"name\": \"\xC3\x28\"}"}) {
    EXPECT_TRUE(is_code(read_amount(body), "MALFORMED_JSON")) << body;
  }
}

TEST(json_reader_test, text_length_counts_code_points) {
  std::string name;
  field_spec fields[] = {text_field("name", name, 1, 3)};
  EXPECT_FALSE(read_json_object(R"({"name": "가나다"})", fields).has_value());
  EXPECT_EQ(name, "가나다");
  auto too_long = read_json_object(R"({"name": "가나다라"})", fields);
  ASSERT_TRUE(too_long.has_value());
  EXPECT_NE(too_long->body.find("\"field\":\"name\""), std::string::npos);
  EXPECT_TRUE(read_json_object(R"({"name": ""})", fields).has_value());
  EXPECT_TRUE(read_json_object(R"({"name": "\ud800"})", fields).has_value()) << "lone surrogate";
}

}  // namespace
}  // namespace ecom::net
