// Spawning and supervising ecomd for the end-to-end tests.
#include "tests/support/server_process.h"

#include "tests/support/process_util.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tests/support/http_client.h"

#ifndef ECOMD_BINARY
#define ECOMD_BINARY "ecomd"
#endif

namespace ecom::test {
namespace {

using clock_type = std::chrono::steady_clock;

bool is_not_ready(const http_response& response) {
  return response.header_or("Content-Type").rfind("application/problem+json", 0) == 0 &&
         response.body.find("\"NOT_READY\"") != std::string::npos;
}

}  // namespace

long resident_kib(pid_t pid) {
  std::FILE* status = std::fopen(("/proc/" + std::to_string(pid) + "/status").c_str(), "r");
  if (status == nullptr) return 0;
  char line[256];
  long kib = 0;
  while (std::fgets(line, sizeof line, status) != nullptr) {
    if (std::sscanf(line, "VmRSS: %ld kB", &kib) == 1) break;
  }
  std::fclose(status);
  return kib;
}

std::string ecomd_binary() {
  if (const char* env = std::getenv("ECOMD_BINARY"); env != nullptr && *env != '\0') return env;
  return ECOMD_BINARY;
}

server_process::server_process(server_options options) : options_(std::move(options)) {
  char templ[] = "/tmp/ecomd-e2e-XXXXXX";
  if (::mkdtemp(templ) == nullptr) {
    throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
  }
  root_dir_ = templ;
  data_dir_ = options_.data_dir.empty() ? root_dir_ + "/data" : options_.data_dir;
  stdout_path_ = root_dir_ + "/stdout.log";
  stderr_path_ = root_dir_ + "/stderr.log";
  std::filesystem::create_directories(data_dir_);

  argv_ = {ecomd_binary(),
           "--bind",
           "127.0.0.1",
           "--port",
           "0",
           "--data-dir",
           data_dir_,
           "--shards",
           std::to_string(options_.shards),
           "--io-threads",
           std::to_string(options_.io_threads),
           "--log-level",
           options_.log_level};
  // Cheap password hashes unless the test asks for its own count.
  if (std::find(options_.extra_args.begin(), options_.extra_args.end(), "--kdf-iterations") ==
      options_.extra_args.end()) {
    argv_.insert(argv_.end(), {"--kdf-iterations", "1000"});
  }
  for (char** var = environ; *var != nullptr; ++var) {
    if (std::string_view(*var).rfind("ECOM_ADMIN_TOKEN=", 0) != 0) env_.emplace_back(*var);
  }
  if (options_.admin_token_in_env) {
    env_.push_back("ECOM_ADMIN_TOKEN=" + options_.admin_token);
  } else {
    argv_.insert(argv_.end(), {"--admin-token", options_.admin_token});
  }
  argv_.insert(argv_.end(), options_.extra_args.begin(), options_.extra_args.end());
  try {
    start_(true);
  } catch (...) {
    cleanup_();
    throw;
  }
}

server_process::~server_process() {
  cleanup_();
}

void server_process::cleanup_() {
  // A clean stop, not a kill: ecomd checks every invariant of its books when its shards stop
  // in builds with assertions (the sanitizer builds), so every test ends with that check.
  if (running()) {
    int code = terminate(std::chrono::seconds(30));
    if (code != 0) {
      ADD_FAILURE() << "ecomd did not stop cleanly (exit " << code
                    << "); at stop it checks its invariants in builds with assertions";
    }
  }
  const bool failed = current_test_failed();
  if (failed && !root_dir_.empty()) {
    std::cerr << "---- ecomd stderr (" << stderr_path_ << ") ----\n"
              << stderr_text() << "---- end of ecomd stderr ----\n";
  }
  const bool keep = options_.keep_dir || std::getenv("ECOMD_E2E_KEEP") != nullptr;
  if (!root_dir_.empty()) {
    if (keep) {
      std::cerr << "keeping ecomd test dir " << root_dir_ << "\n";
    } else {
      std::error_code ignored;
      std::filesystem::remove_all(root_dir_, ignored);
    }
    root_dir_.clear();
  }
}

std::string server_process::stderr_text() const {
  return read_file(stderr_path_);
}

std::string server_process::command_line() const {
  std::string out;
  for (const auto& arg : argv_) out += (out.empty() ? "" : " ") + arg;
  return out;
}

void server_process::fail_start_(const std::string& why) {
  std::string message = "ecomd failed to start: " + why + "\ncommand: " + command_line() +
                        "\nstdout:\n" + read_file(stdout_path_) + "\nstderr:\n" + stderr_text();
  if (running()) kill_hard();
  throw std::runtime_error(message);
}

void server_process::start_(bool wait_ready) {
  if (running()) throw std::logic_error("server_process::start_: already running");
  ++starts_;
  // Prepared before fork: the child only calls async-signal-safe functions.
  std::vector<char*> args;
  for (auto& arg : argv_) args.push_back(arg.data());
  args.push_back(nullptr);
  std::vector<char*> envp;
  for (auto& var : env_) envp.push_back(var.data());
  envp.push_back(nullptr);
  int out_fd = ::open(stdout_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int err_fd = ::open(stderr_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (out_fd < 0 || err_fd < 0 || null_fd < 0) {
    throw std::runtime_error(std::string("open log files: ") + std::strerror(errno));
  }
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    // The server dies with the thread that started it (the gtest main thread), so a crashed or
    // timed-out test binary never leaves servers behind.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(null_fd, 0);
    ::dup2(out_fd, 1);
    ::dup2(err_fd, 2);
    ::execve(args[0], args.data(), envp.data());
    const char msg[] = "execve of ecomd failed\n";
    [[maybe_unused]] auto n = ::write(2, msg, sizeof msg - 1);
    ::_exit(127);
  }
  ::close(out_fd);
  ::close(err_fd);
  ::close(null_fd);
  pid_ = pid;
  port_ = 0;

  const auto deadline = clock_type::now() + options_.start_timeout;
  constexpr std::string_view k_prefix = "listening on http://127.0.0.1:";
  while (port_ == 0) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      fail_start_("exited with status " + std::to_string(exit_code_of(status)) +
                  " before listening");
    }
    std::string out = read_file(stdout_path_);
    if (auto at = out.find(k_prefix); at != std::string::npos) {
      auto line_end = out.find('\n', at);
      if (line_end != std::string::npos) {
        port_ = static_cast<uint16_t>(
            std::atoi(out.substr(at + k_prefix.size(), line_end - at - k_prefix.size()).c_str()));
        if (port_ == 0) fail_start_("bad listening line: " + out);
        break;
      }
    }
    if (clock_type::now() > deadline) fail_start_("no listening line within the deadline");
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (wait_ready) this->wait_ready();
}

void server_process::wait_ready() {
  if (!running()) throw std::logic_error("server_process::wait_ready: not running");
  const auto deadline = clock_type::now() + options_.start_timeout;
  http_client client(port_, std::chrono::milliseconds(2000));
  std::string last;
  for (;;) {
    http_response response = client.get("/readyz");
    if (response.status == 200) return;
    last = describe(response);
    if (response.status == 503 && !is_not_ready(response)) {
      fail_start_("/readyz answered 503 without code NOT_READY: " + last);
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      fail_start_("exited with status " + std::to_string(exit_code_of(status)) +
                  " before ready; last /readyz: " + last);
    }
    if (clock_type::now() > deadline) fail_start_("not ready in time; last /readyz: " + last);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void server_process::kill_hard() {
  if (!running()) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

int server_process::terminate(std::chrono::milliseconds timeout) {
  if (!running()) return -1;
  ::kill(pid_, SIGTERM);
  const auto deadline = clock_type::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t done = ::waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
      pid_ = -1;
      return exit_code_of(status);
    }
    if (clock_type::now() > deadline) {
      kill_hard();
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void server_process::restart(bool wait_ready) {
  if (running()) terminate();
  start_(wait_ready);
}

}  // namespace ecom::test
