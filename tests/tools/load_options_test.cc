// ecom-load's command line: URL forms, the loopback rule, ranges and exclusive options.
#include "tools/ecom_load/load_options.h"

#include <gtest/gtest.h>

namespace ecom::load {
namespace {

load_options parse(std::vector<std::string> args) {
  auto result = parse_load_options(args, nullptr);
  if (!result.options) throw std::runtime_error("help printed");
  return *result.options;
}

TEST(load_options, url_forms) {
  EXPECT_EQ(parse_server_url("http://127.0.0.1:8080", false).port, 8080);
  EXPECT_EQ(parse_server_url("http://localhost:9/", false).host, "localhost");
  auto v6 = parse_server_url("http://[::1]:8081", false);
  EXPECT_EQ(v6.host, "::1");
  EXPECT_EQ(v6.port, 8081);
  EXPECT_EQ(v6.text(), "http://[::1]:8081");
  EXPECT_EQ(parse_server_url("http://127.0.0.1", false).port, 80);
}

TEST(load_options, bad_urls_are_usage_errors) {
  for (const char* url : {"https://127.0.0.1:1", "127.0.0.1:80", "http://127.0.0.1:0",
                          "http://127.0.0.1:70000", "http://127.0.0.1:80/path", "http://:80",
                          "http://127.0.0.1:", "http://[::1:80", "ftp://127.0.0.1:1"}) {
    EXPECT_THROW(parse_server_url(url, false), usage_error) << url;
  }
}

TEST(load_options, remote_hosts_need_allow_remote) {
  EXPECT_THROW(parse_server_url("http://10.0.0.1:80", false), usage_error);
  EXPECT_THROW(parse_server_url("http://example.com:80", false), usage_error);
  EXPECT_EQ(parse_server_url("http://10.0.0.1:80", true).host, "10.0.0.1");
}

TEST(load_options, full_command_line) {
  auto o = parse({"fcfs", "--url", "http://127.0.0.1:1234", "--admin-token", "t", "--users", "300",
                  "--quantity", "50", "--connections", "16", "--duration", "10", "--json",
                  "--wallet-check-max", "7"});
  EXPECT_EQ(o.scenario, "fcfs");
  EXPECT_EQ(o.url.port, 1234);
  EXPECT_EQ(o.user_count, 300);
  EXPECT_EQ(o.quantity, 50);
  EXPECT_EQ(o.connection_count, 16);
  EXPECT_DOUBLE_EQ(o.duration_s, 10);
  EXPECT_TRUE(o.json);
  EXPECT_EQ(o.wallet_check_max, 7);
  EXPECT_FALSE(o.campaign_id);
}

TEST(load_options, admin_token_falls_back_to_the_environment) {
  std::vector<std::string> args{"fcfs", "--url", "http://127.0.0.1:1"};
  EXPECT_EQ(parse_load_options(args, "from-env").options->admin_token, "from-env");
  EXPECT_THROW(parse_load_options(args, nullptr), usage_error);
}

TEST(load_options, misuse_is_a_usage_error) {
  std::vector<std::string> base{"fcfs", "--url", "http://127.0.0.1:1", "--admin-token", "t"};
  std::vector<std::vector<std::string>> extras{{"--users", "0"},
                                               {"--users", "abc"},
                                               {"--quantity", "0"},
                                               {"--connections", "0"},
                                               {"--connections", "10001"},
                                               {"--duration", "0"},
                                               {"--threads", "0"},
                                               {"--campaign", "0"},
                                               {"--quantity", "5", "--campaign", "3"},
                                               {"--bogus"},
                                               {"--wallet-check-max", "-1"}};
  for (const auto& extra : extras) {
    auto args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    EXPECT_THROW(parse_load_options(args, nullptr), usage_error) << extra[0];
  }
  EXPECT_THROW(parse_load_options({"--url", "http://127.0.0.1:1", "--admin-token", "t"}, nullptr),
               usage_error);
  EXPECT_THROW(
      parse_load_options({"lifo", "--url", "http://127.0.0.1:1", "--admin-token", "t"}, nullptr),
      usage_error);
}

}  // namespace
}  // namespace ecom::load
