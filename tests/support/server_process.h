// Runs a real ecomd for end-to-end tests: a fresh temp data dir, --port 0 (the port is read
// from the "listening on http://127.0.0.1:PORT" stdout line), readiness via GET /readyz, and
// kill -9 / SIGTERM / restart on the same data dir. stdout and stderr go to files in the temp
// dir; stderr is printed when a test failed. The destructor kills a running server and
// removes the temp dir (kept when options.keep_dir is set or ECOMD_E2E_KEEP is in the env).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ecom::test {

inline constexpr std::string_view k_admin_token = "e2e-admin-token-7d3f9a";

struct server_options {
  std::string admin_token = std::string(k_admin_token);
  int shards = 2;
  int io_threads = 2;
  // e.g. {"--access-token-ttl-s", "1"}; without --kdf-iterations here the server hashes with
  // 1000 iterations (cheap for tests).
  std::vector<std::string> extra_args;
  // Pass the admin token as ECOM_ADMIN_TOKEN in the environment instead of --admin-token.
  bool admin_token_in_env = false;
  bool keep_dir = false;
  std::string log_level = "warn";  // info: tests that read the start-up report
  // Serve this existing data dir (e.g. a backup) instead of a fresh one; it is not removed.
  std::string data_dir;
  std::chrono::milliseconds start_timeout{20000};
};

// Path of the ecomd binary: $ECOMD_BINARY if set, else the one CMake built.
std::string ecomd_binary();

// Resident memory of a process in KiB (VmRSS from /proc), 0 when it cannot be read.
long resident_kib(pid_t pid);

class server_process {
 public:
  // Creates the temp dir and starts the server; throws std::runtime_error (with the server's
  // stderr) when it does not listen and become ready in time.
  explicit server_process(server_options options = {});
  ~server_process();
  server_process(const server_process&) = delete;
  server_process& operator=(const server_process&) = delete;

  uint16_t port() const { return port_; }
  const std::string& data_dir() const { return data_dir_; }
  const std::string& admin_token() const { return options_.admin_token; }
  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }

  // SIGKILL and reap.
  void kill_hard();
  // SIGTERM and wait; returns the exit code, 128 + signal when killed by a signal, or -1 when
  // it did not exit within timeout (it is then killed with SIGKILL).
  int terminate(std::chrono::milliseconds timeout = std::chrono::milliseconds(30000));
  // Starts again on the same data dir with the same flags (new port). A running server is
  // stopped with SIGTERM first. With wait_ready false it returns once the listening line is
  // printed (recovery may still be running); call wait_ready() later.
  void restart(bool wait_ready = true);
  // Adds flags for the next restart() (each flag may appear once on the whole command line).
  void append_args(const std::vector<std::string>& args) {
    argv_.insert(argv_.end(), args.begin(), args.end());
  }
  // Polls GET /readyz until 200; throws with the server's stderr at the start deadline.
  void wait_ready();

  // Everything the server wrote to stderr so far (all runs).
  std::string stderr_text() const;
  // The server's command line, for messages.
  std::string command_line() const;

 private:
  void start_(bool wait_ready);
  void cleanup_();
  [[noreturn]] void fail_start_(const std::string& why);

  server_options options_;
  std::string root_dir_;
  std::string data_dir_;
  std::string stdout_path_;
  std::string stderr_path_;
  std::vector<std::string> argv_;
  std::vector<std::string> env_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  int starts_ = 0;
};

}  // namespace ecom::test
