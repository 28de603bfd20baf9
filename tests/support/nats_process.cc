// Spawning and supervising nats-server (JetStream) for the replication tests.
#include "tests/support/nats_process.h"
#include "tests/support/process_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tests/support/http_client.h"
#include "tests/support/json.h"

#ifndef NATS_SERVER_BINARY
#define NATS_SERVER_BINARY "nats-server"
#endif

namespace ecom::test {
namespace {

using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

// `count` distinct ports that were free on 127.0.0.1 a moment ago: each is bound to port 0 and
// kept until all are picked, then released for nats-server to take.
std::vector<uint16_t> free_loopback_ports(int count) {
  std::vector<int> fds;
  std::vector<uint16_t> ports;
  for (int i = 0; i < count; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    fds.push_back(fd);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    socklen_t size = sizeof address;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
      for (int open : fds) ::close(open);
      throw std::runtime_error(std::string("bind a free port: ") + std::strerror(errno));
    }
    ports.push_back(ntohs(address.sin_port));
  }
  for (int fd : fds) ::close(fd);
  return ports;
}

}  // namespace

std::string nats_server_binary() {
  if (const char* env = std::getenv("NATS_SERVER_BINARY"); env != nullptr && *env != '\0')
    return env;
  return NATS_SERVER_BINARY;
}

nats_cluster::nats_cluster(int nodes, std::chrono::milliseconds start_timeout)
    : start_timeout_(start_timeout) {
  if (nodes != 1 && nodes != 3) throw std::invalid_argument("nats_cluster: 1 or 3 nodes");
  char templ[] = "/tmp/ecomd-nats-XXXXXX";
  if (::mkdtemp(templ) == nullptr) {
    throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
  }
  root_dir_ = templ;
  // A port picked free can be taken by another process before nats-server binds it: a node
  // that exits at once is started again on fresh ports (a few times).
  for (int attempt = 1;; ++attempt) {
    const auto ports = free_loopback_ports(3 * nodes);
    nodes_.assign(nodes, node{});
    for (int i = 0; i < nodes; ++i) {
      node& n = nodes_[i];
      n.client_port = ports[3 * i];
      n.cluster_port = ports[3 * i + 1];
      n.monitor_port = ports[3 * i + 2];
      n.store_dir = root_dir_ + "/" + name(i);
      n.log_path = root_dir_ + "/" + name(i) + ".log";
      std::filesystem::create_directories(n.store_dir);
    }
    try {
      for (int i = 0; i < nodes; ++i) spawn_(i);
      wait_ready(start_timeout_);
      return;
    } catch (const std::exception& e) {
      bool exited = false;
      for (int i = 0; i < nodes; ++i) {
        exited = exited || !running(i);
        kill_hard(i);
      }
      if (!exited || attempt >= 3) {
        std::string logs;
        for (int i = 0; i < nodes; ++i) logs += "\n---- " + name(i) + " ----\n" + log_text(i);
        cleanup_();
        throw std::runtime_error(std::string("nats-server did not start: ") + e.what() + logs);
      }
      std::error_code ignored;
      for (int i = 0; i < nodes; ++i) std::filesystem::remove_all(nodes_[i].store_dir, ignored);
    }
  }
}

nats_cluster::~nats_cluster() {
  cleanup_();
}

void nats_cluster::cleanup_() {
  for (int i = 0; i < size(); ++i) {
    if (running(i)) terminate(i, 5s);
  }
  if (root_dir_.empty()) return;
  if (current_test_failed()) {
    for (int i = 0; i < size(); ++i) {
      std::string text = log_text(i);
      if (text.size() > 6000) text = "...\n" + text.substr(text.size() - 6000);
      std::cerr << "---- nats-server " << name(i) << " log (" << nodes_[i].log_path
                << ", last 6000 bytes) ----\n"
                << text << "---- end of nats-server " << name(i) << " log ----\n";
    }
  }
  if (std::getenv("ECOMD_E2E_KEEP") != nullptr) {
    std::cerr << "keeping nats test dir " << root_dir_ << "\n";
  } else {
    std::error_code ignored;
    std::filesystem::remove_all(root_dir_, ignored);
  }
  root_dir_.clear();
}

std::string nats_cluster::name(int index) const {
  std::string out = "n";
  out += std::to_string(index + 1);
  return out;
}

std::string nats_cluster::url(int index) const {
  return "nats://127.0.0.1:" + std::to_string(nodes_.at(index).client_port);
}

std::string nats_cluster::url() const {
  std::string out;
  for (int i = 0; i < size(); ++i) {
    if (i > 0) out += ',';
    out += url(i);
  }
  return out;
}

std::string nats_cluster::log_text(int index) const {
  return read_file(nodes_.at(index).log_path);
}

void nats_cluster::spawn_(int index) {
  node& n = nodes_.at(index);
  if (n.pid > 0) throw std::logic_error("nats_cluster: node already running");
  std::vector<std::string> argv = {nats_server_binary(),
                                   "-js",
                                   "-a",
                                   "127.0.0.1",
                                   "-p",
                                   std::to_string(n.client_port),
                                   "-m",
                                   std::to_string(n.monitor_port),
                                   "-n",
                                   name(index),
                                   "-sd",
                                   n.store_dir};
  if (size() > 1) {
    std::string routes;
    for (const auto& other : nodes_)
      routes += (routes.empty() ? "" : ",") + std::string("nats://127.0.0.1:") +
                std::to_string(other.cluster_port);
    argv.insert(argv.end(),
                {"--cluster_name", "C1", "--cluster",
                 "nats://127.0.0.1:" + std::to_string(n.cluster_port), "--routes", routes});
  }
  std::vector<char*> args;
  for (auto& arg : argv) args.push_back(arg.data());
  args.push_back(nullptr);
  int log_fd = ::open(n.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (log_fd < 0 || null_fd < 0) {
    throw std::runtime_error(std::string("open nats log: ") + std::strerror(errno));
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    // Dies with the thread that started it: a crashed test binary leaves no server behind.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(null_fd, 0);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    // A path (the one CMake found) is executed as it is: no PATH search, which allocates,
    // between fork and exec of a process that may run threads.
    if (std::strchr(args[0], '/') != nullptr) {
      ::execv(args[0], args.data());
    } else {
      ::execvp(args[0], args.data());
    }
    const char msg[] = "execvp of nats-server failed (is the nats-server package installed?)\n";
    [[maybe_unused]] auto written = ::write(2, msg, sizeof msg - 1);
    ::_exit(127);
  }
  ::close(log_fd);
  ::close(null_fd);
  n.pid = pid;
}

bool nats_cluster::node_ready_(int index, std::string& why) const {
  const node& n = nodes_.at(index);
  http_client client(n.monitor_port, 1000ms);
  http_response health = client.get("/healthz");
  if (health.status != 200 || health.body.find("\"ok\"") == std::string::npos) {
    why = name(index) + " /healthz: " + describe(health);
    return false;
  }
  if (size() == 1) return true;
  http_response jsz = client.get("/jsz");
  try {
    json_doc doc = parse_json(jsz.body);
    if (jsz.status == 200 && doc.has("meta_cluster") && doc["meta_cluster"].has("leader") &&
        !doc["meta_cluster"]["leader"].as_string().empty())
      return true;
  } catch (const std::exception&) {
  }
  why = name(index) + " knows no JetStream meta leader: " + describe(jsz);
  return false;
}

void nats_cluster::wait_ready(std::chrono::milliseconds timeout) {
  const auto deadline = clock_type::now() + timeout;
  for (;;) {
    std::string why;
    bool all = true;
    for (int i = 0; i < size() && all; ++i) {
      if (!running(i)) continue;
      int status = 0;
      if (::waitpid(nodes_[i].pid, &status, WNOHANG) == nodes_[i].pid) {
        nodes_[i].pid = -1;
        throw std::runtime_error(name(i) + " exited with status " +
                                 std::to_string(exit_code_of(status)));
      }
      all = node_ready_(i, why);
    }
    if (all) return;
    if (clock_type::now() > deadline) throw std::runtime_error("not ready in time: " + why);
    std::this_thread::sleep_for(20ms);
  }
}

void nats_cluster::start(int index, bool wait_ready) {
  spawn_(index);
  if (wait_ready) this->wait_ready(start_timeout_);
}

void nats_cluster::kill_hard(int index) {
  node& n = nodes_.at(index);
  if (n.pid <= 0) return;
  ::kill(n.pid, SIGKILL);
  int status = 0;
  while (::waitpid(n.pid, &status, 0) < 0 && errno == EINTR) {
  }
  n.pid = -1;
}

int nats_cluster::terminate(int index, std::chrono::milliseconds timeout) {
  node& n = nodes_.at(index);
  if (n.pid <= 0) return -1;
  ::kill(n.pid, SIGTERM);
  const auto deadline = clock_type::now() + timeout;
  for (;;) {
    int status = 0;
    if (::waitpid(n.pid, &status, WNOHANG) == n.pid) {
      n.pid = -1;
      return exit_code_of(status);
    }
    if (clock_type::now() > deadline) {
      kill_hard(index);
      return -1;
    }
    std::this_thread::sleep_for(10ms);
  }
}

int nats_cluster::stream_leader(const std::string& stream) const {
  for (int i = 0; i < size(); ++i) {
    if (!running(i)) continue;
    http_client client(nodes_[i].monitor_port, 1000ms);
    http_response jsz = client.get("/jsz?streams=true");
    if (jsz.status != 200) continue;
    try {
      json_doc doc = parse_json(jsz.body);
      if (!doc.has("account_details")) continue;
      for (const auto& account : doc["account_details"].elements()) {
        if (!account.has("stream_detail")) continue;
        for (const auto& detail : account["stream_detail"].elements()) {
          if (detail["name"].as_string() != stream) continue;
          if (size() == 1) return 0;
          if (!detail.has("cluster") || !detail["cluster"].has("leader")) continue;
          const std::string leader = detail["cluster"]["leader"].as_string();
          for (int j = 0; j < size(); ++j)
            if (name(j) == leader) return j;
        }
      }
    } catch (const std::exception&) {
    }
  }
  return -1;
}

}  // namespace ecom::test
