// process_util: small steps the process helpers (server_process, nats_process) share.
#pragma once

#include <sys/wait.h>

#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

namespace ecom::test {

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

// Whether the running test (or, between tests, its suite) has failed: logs are printed then.
inline bool current_test_failed() {
  const auto* unit = ::testing::UnitTest::GetInstance();
  if (const auto* info = unit->current_test_info(); info != nullptr) {
    return info->result()->Failed();
  }
  if (const auto* suite = unit->current_test_suite(); suite != nullptr) return suite->Failed();
  return false;
}

// Decodes a waitpid status: the exit code, 128 + the signal, or -1.
inline int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace ecom::test
