// data_dir_tools: what the tests that work on data dirs from outside share: running a tool
// binary (ecom-snapshot) and capturing its output, a scratch folder, and a stopped server's whole
// state read back from its data dir (snapshot + WAL, read-only) for entity-by-entity
// comparison. Header-only; the test links ecom_persistence.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/shard_set.h"
#include "persistence/data_dir.h"
#include "persistence/recovery.h"

namespace ecom::test {

struct tool_run {
  int exit = -1;
  std::string out;
  std::string err;
};

inline std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Runs `binary args` (paths without spaces), killed after `timeout_s`, capturing its output.
inline tool_run run_tool(const std::string& binary, const std::string& args, int timeout_s = 120) {
  namespace fs = std::filesystem;
  static std::atomic<int> counter{0};
  const fs::path base = fs::temp_directory_path() / ("ecom-tool-run-" + std::to_string(::getpid()) +
                                                     "-" + std::to_string(counter++));
  const std::string command = "timeout -s KILL " + std::to_string(timeout_s) + " " + binary + " " +
                              args + " >" + base.string() + ".out 2>" + base.string() + ".err";
  const int status = std::system(command.c_str());
  tool_run run;
  run.exit = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  run.out = slurp(base.string() + ".out");
  run.err = slurp(base.string() + ".err");
  fs::remove(base.string() + ".out");
  fs::remove(base.string() + ".err");
  return run;
}

inline std::string describe(const tool_run& run) {
  return "exit " + std::to_string(run.exit) + "\nstdout: " + run.out + "\nstderr: " + run.err;
}

// A fresh folder, removed at the end of the test (kept when ECOMD_E2E_KEEP is set).
class scratch {
 public:
  explicit scratch(const std::string& name = "ecom-test") {
    std::string templ = "/tmp/" + name + "-XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp");
    root_ = templ;
  }
  ~scratch() {
    std::error_code ignored;
    if (std::getenv("ECOMD_E2E_KEEP") == nullptr) std::filesystem::remove_all(root_, ignored);
  }
  scratch(const scratch&) = delete;
  scratch& operator=(const scratch&) = delete;
  std::filesystem::path operator/(const std::string& name) const { return root_ / name; }
  const std::filesystem::path& path() const { return root_; }

 private:
  std::filesystem::path root_;
};

// The state of a stopped server's data dir (snapshot + WAL, read-only), per shard, as canonical
// entity bytes, after forgetting what time forgets by `now` (as ecom-snapshot verify does).
inline std::vector<std::string> state_of(const std::filesystem::path& dir, engine::time_ms now) {
  engine::shard_set shards(persistence::stored_shard_count(dir), 4096, [now] { return now; });
  persistence::recovery_report report;
  persistence::load_options load;
  load.read_only = true;
  persistence::load_state(dir, shards, load, report);
  std::vector<std::string> out;
  for (engine::shard_index i = 0; i < shards.size(); ++i) {
    shards.at(i).state_for_load().keys.sweep(now);
    shards.at(i).state_for_load().sales.prune(now);
    out.push_back(shards.at(i).state_for_load().save());
  }
  return out;
}

}  // namespace ecom::test
