// Running the real ecom-load binary from a test: a child process with stdout and stderr captured,
// killed after a timeout; a loopback port nobody listens on (a dead --url); a temp dir and
// reading a file back (reports).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace ecom::test {

struct process_result {
  int exit_code = -1;  // 128 + signal when killed
  std::string out;
  std::string err;
  std::string describe() const {
    return "exit " + std::to_string(exit_code) + "\n--- stdout:\n" + out + "\n--- stderr:\n" + err;
  }
};

// A temp dir removed with the object.
struct temp_dir {
  std::string path;
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
};

// The whole file; empty when it cannot be read.
std::string slurp(const std::string& path);

// Runs ecom-load with args, stdout and stderr captured in files; killed after timeout.
process_result run_ecom_load(const std::vector<std::string>& args,
                             std::chrono::seconds timeout = std::chrono::seconds(90));

// A loopback port nobody listens on: bound, read and closed again.
std::uint16_t closed_port();

// "<scenario> --url <url> --admin-token <token> --users <users> --connections <connections>
// --no-progress": what every test run starts with.
std::vector<std::string> scenario_args(const std::string& scenario, const std::string& url,
                                       const std::string& admin_token, int users, int connections);

// args followed by more.
std::vector<std::string> with(std::vector<std::string> args, const std::vector<std::string>& more);

}  // namespace ecom::test
