// Fixture for end-to-end tests that can share one ecomd per test suite: the server starts in
// SetUpTestSuite (a failure to start fails every test of the suite with the server's stderr)
// and each test gets its own keep-alive client. Suites that need other flags derive from it
// and define their own SetUpTestSuite calling start_shared_server(...).
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/api.h"
#include "tests/support/http_client.h"
#include "tests/support/json.h"
#include "tests/support/server_process.h"

namespace ecom::test {

class shared_server_test : public ::testing::Test {
 public:
  static void SetUpTestSuite() { start_shared_server({}); }
  static void TearDownTestSuite() {
    server_.reset();
    start_error_.clear();
  }

 protected:
  static void start_shared_server(std::vector<std::string> extra_args) {
    server_options options;
    options.extra_args = std::move(extra_args);
    try {
      server_ = std::make_unique<server_process>(std::move(options));
    } catch (const std::exception& e) {
      start_error_ = e.what();
    }
  }

  void SetUp() override {
    ASSERT_NE(server_, nullptr) << start_error_;
    client_.emplace(server_->port());
  }

  static server_process& server() { return *server_; }
  http_client& client() { return *client_; }
  static std::string admin() { return std::string(k_admin_token); }

  static inline std::unique_ptr<server_process> server_;
  static inline std::string start_error_;
  std::optional<http_client> client_;
};

}  // namespace ecom::test
