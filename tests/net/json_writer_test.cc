// json_writer: strings come out as valid JSON whatever their bytes: escapes for quotes,
// backslashes and control characters, well-formed UTF-8 kept as it is, and every byte that is
// not part of a well-formed sequence replaced by U+FFFD (a finding of fuzz_http_request: a
// request path echoed in a problem made the reply invalid JSON).
#include "net/json_writer.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>

namespace ecom::net {
namespace {

std::string written(std::string_view text) {
  std::string out;
  json_writer(out).value(text);
  return out;
}

TEST(json_writer_test, escapes_quotes_backslashes_and_control_characters) {
  EXPECT_EQ(written("a\"b\\c\n\x01\x7f"), "\"a\\\"b\\\\c\\u000a\\u0001\x7f\"");
}

TEST(json_writer_test, keeps_well_formed_utf8) {
  for (std::string text : {"caf\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xef\xbf\xbf",
                           "\xf4\x8f\xbf\xbf", "\xed\x9f\xbf"}) {
    EXPECT_EQ(written(text), "\"" + text + "\"");
  }
}

TEST(json_writer_test, replaces_each_byte_of_a_malformed_sequence) {
  EXPECT_EQ(written("a\x80z"), "\"a\\ufffdz\"");                    // lone continuation byte
  EXPECT_EQ(written("\xe2\x82"), "\"\\ufffd\\ufffd\"");             // truncated
  EXPECT_EQ(written("\xc0\xaf"), "\"\\ufffd\\ufffd\"");             // overlong '/'
  EXPECT_EQ(written("\xe0\x80\xaf"), "\"\\ufffd\\ufffd\\ufffd\"");  // overlong, 3 bytes
  EXPECT_EQ(written("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");  // a surrogate
  EXPECT_EQ(written("\xf4\x90\x80\x80"), "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");  // past U+10FFFF
  EXPECT_EQ(written("\xff\xc3\xa9"), "\"\\ufffd\xc3\xa9\"");  // a bad byte, then a good one
}

TEST(json_writer_test, every_byte_string_of_length_two_is_valid_json) {
  simdjson::dom::parser parser;
  for (int a = 0; a < 256; ++a) {
    for (int b = 0; b < 256; ++b) {
      const char bytes[2] = {static_cast<char>(a), static_cast<char>(b)};
      const std::string json = written(std::string_view(bytes, 2));
      simdjson::dom::element element;
      ASSERT_FALSE(parser.parse(json).get(element)) << a << " " << b;
    }
  }
}

}  // namespace
}  // namespace ecom::net
