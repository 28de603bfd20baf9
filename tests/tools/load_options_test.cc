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

TEST(load_options, mixed_command_line) {
  auto o = parse({"mixed",
                  "--url",
                  "http://127.0.0.1:1234",
                  "--admin-token",
                  "t",
                  "--users",
                  "500",
                  "--products",
                  "40",
                  "--connections",
                  "32",
                  "--duration",
                  "20",
                  "--coupon-share",
                  "0.5",
                  "--cancel-share",
                  "0.2",
                  "--direct-share",
                  "0.4",
                  "--popular-share",
                  "0",
                  "--abandon-share",
                  "0.1",
                  "--seed",
                  "42"});
  EXPECT_EQ(o.scenario, "mixed");
  EXPECT_EQ(o.user_count, 500);
  EXPECT_EQ(o.connection_count, 32);
  EXPECT_DOUBLE_EQ(o.duration_s, 20);
  EXPECT_EQ(o.mixed.product_count, 40);
  EXPECT_DOUBLE_EQ(o.mixed.coupon_share, 0.5);
  EXPECT_DOUBLE_EQ(o.mixed.cancel_share, 0.2);
  EXPECT_DOUBLE_EQ(o.mixed.direct_share, 0.4);
  EXPECT_DOUBLE_EQ(o.mixed.popular_share, 0);
  EXPECT_DOUBLE_EQ(o.mixed.abandon_share, 0.1);
  EXPECT_EQ(o.mixed.seed, 42u);
}

TEST(load_options, mixed_defaults) {
  auto o = parse({"mixed", "--url", "http://127.0.0.1:1", "--admin-token", "t"});
  mixed_options defaults;
  EXPECT_EQ(o.mixed.product_count, defaults.product_count);
  EXPECT_DOUBLE_EQ(o.mixed.coupon_share, 0.3);
  EXPECT_DOUBLE_EQ(o.mixed.cancel_share, 0.1);
  EXPECT_EQ(o.mixed.seed, 1u);
}

TEST(load_options, mixed_misuse_is_a_usage_error) {
  std::vector<std::string> base{"mixed", "--url", "http://127.0.0.1:1", "--admin-token", "t"};
  std::vector<std::vector<std::string>> extras{
      {"--products", "0"},       {"--products", "10001"},
      {"--coupon-share", "1.5"}, {"--coupon-share", "-0.1"},
      {"--cancel-share", "2"},   {"--direct-share", "nan"},
      {"--popular-share", "x"},  {"--cancel-share", "0.8", "--abandon-share", "0.5"},
      {"--seed", "-1x"},         {"--quantity", "5"},
      {"--campaign", "3"},       {"--wallet-check-max", "3"}};
  for (const auto& extra : extras) {
    auto args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    EXPECT_THROW(parse_load_options(args, nullptr), usage_error) << extra[0] << " " << extra[1];
  }
}

TEST(load_options, options_of_the_other_scenario_are_named) {
  try {
    parse_load_options(
        {"fcfs", "--url", "http://127.0.0.1:1", "--admin-token", "t", "--products", "5"}, nullptr);
    FAIL() << "no usage_error";
  } catch (const usage_error& e) {
    EXPECT_NE(std::string(e.what()).find("--products belongs to the mixed scenario"),
              std::string::npos)
        << e.what();
  }
  try {
    parse_load_options(
        {"mixed", "--url", "http://127.0.0.1:1", "--admin-token", "t", "--quantity", "5"}, nullptr);
    FAIL() << "no usage_error";
  } catch (const usage_error& e) {
    EXPECT_NE(std::string(e.what()).find("--quantity belongs to the fcfs scenario"),
              std::string::npos)
        << e.what();
  }
}

TEST(load_options, read_urls_are_repeatable_and_parsed_like_url) {
  auto none = parse({"mixed", "--url", "http://127.0.0.1:1", "--admin-token", "t"});
  EXPECT_TRUE(none.read_urls.empty());
  auto o = parse({"mixed", "--url", "http://127.0.0.1:1", "--admin-token", "t", "--read-url",
                  "http://127.0.0.1:8081/", "--read-url", "http://[::1]:8082", "--read-url",
                  "http://localhost"});
  ASSERT_EQ(o.read_urls.size(), 3u);
  EXPECT_EQ(o.read_urls[0].text(), "http://127.0.0.1:8081");
  EXPECT_EQ(o.read_urls[1].host, "::1");
  EXPECT_EQ(o.read_urls[1].port, 8082);
  EXPECT_EQ(o.read_urls[2].port, 80);
  // The primary itself as a read server (all reads on it, through their own connections).
  auto same = parse({"fcfs", "--url", "http://127.0.0.1:1", "--admin-token", "t", "--read-url",
                     "http://127.0.0.1:1"});
  ASSERT_EQ(same.read_urls.size(), 1u);
  EXPECT_EQ(same.read_urls[0].port, 1);
  // Remote read servers need --allow-remote, like --url.
  auto remote = parse({"mixed", "--url", "http://127.0.0.1:1", "--admin-token", "t",
                       "--allow-remote", "--read-url", "http://10.0.0.2:8080"});
  EXPECT_EQ(remote.read_urls[0].host, "10.0.0.2");
}

TEST(load_options, bad_read_urls_name_the_flag) {
  std::vector<std::string> base{"mixed", "--url", "http://127.0.0.1:1", "--admin-token", "t"};
  std::vector<std::pair<std::vector<std::string>, std::string>> cases{
      {{"--read-url", "https://127.0.0.1:2"}, "--read-url https://127.0.0.1:2: TLS"},
      {{"--read-url", "127.0.0.1:2"}, "--read-url 127.0.0.1:2: expected http://HOST:PORT"},
      {{"--read-url", "http://127.0.0.1:0"}, "--read-url http://127.0.0.1:0: port must be"},
      {{"--read-url", "http://127.0.0.1:2/replica"}, "--read-url http://127.0.0.1:2/replica: only"},
      {{"--read-url", "http://[::1:2"}, "--read-url http://[::1:2: unclosed"},
      {{"--read-url", "http://:2"}, "--read-url http://:2: missing host"},
      {{"--read-url", "http://10.0.0.2:2"}, "--read-url http://10.0.0.2:2: host is not loopback"},
      {{"--read-url", "http://127.0.0.1:2", "--read-url", "http://127.0.0.1:2/"},
       "--read-url http://127.0.0.1:2/: given twice"},
      {{"--read-url"}, "read-url"},
  };
  for (const auto& [extra, message] : cases) {
    auto args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    try {
      parse_load_options(args, nullptr);
      ADD_FAILURE() << "no usage_error for " << message;
    } catch (const usage_error& e) {
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
    }
  }
  // --url keeps its own name in its messages.
  EXPECT_THROW(parse_server_url("http://127.0.0.1:0", false), usage_error);
  try {
    parse_server_url("http://127.0.0.1:0", false);
  } catch (const usage_error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("--url http://127.0.0.1:0", 0), 0u) << e.what();
  }
}

TEST(load_options, read_urls_have_a_limit) {
  std::vector<std::string> args{"mixed", "--url", "http://127.0.0.1:1", "--admin-token", "t"};
  for (std::size_t i = 0; i < read_urls_max; ++i) {
    args.push_back("--read-url");
    args.push_back("http://127.0.0.1:" + std::to_string(2000 + i));
  }
  EXPECT_EQ(parse(args).read_urls.size(), read_urls_max);
  args.push_back("--read-url");
  args.push_back("http://127.0.0.1:3000");
  try {
    parse_load_options(args, nullptr);
    ADD_FAILURE() << "no usage_error past read_urls_max";
  } catch (const usage_error& e) {
    EXPECT_NE(std::string(e.what()).find("--read-url given 17 times; at most 16"),
              std::string::npos)
        << e.what();
  }
}

TEST(load_options, help_lists_both_scenarios) {
  auto result = parse_load_options({"--help"}, nullptr);
  EXPECT_FALSE(result.options);
  EXPECT_NE(result.help_text.find("--quantity"), std::string::npos);
  EXPECT_NE(result.help_text.find("--coupon-share"), std::string::npos);
  EXPECT_NE(result.help_text.find("mixed"), std::string::npos);
  EXPECT_NE(result.help_text.find("--read-url"), std::string::npos);
}

}  // namespace
}  // namespace ecom::load
