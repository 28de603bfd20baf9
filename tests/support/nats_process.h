// Runs a real `nats-server -js` for the replication tests: one node, or a cluster of three
// (JetStream clustering, routes between them), on free loopback ports with temporary store
// dirs. Each node has a monitoring port; readiness is GET /healthz answering {"status":"ok"}
// on every running node and, in a cluster, a JetStream meta leader every node knows (a
// JetStream request sent before that gets no answer at all). A node can be killed (-9),
// stopped and started again on the same ports and store dir. The server's log goes to a file
// in the temp dir and is printed when a test failed. The destructor stops every node and
// removes the temp dir (kept when ECOMD_E2E_KEEP is in the env).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace ecom::test {

// Path of nats-server: $NATS_SERVER_BINARY if set, else the one CMake found (or "nats-server"
// on the PATH).
std::string nats_server_binary();

class nats_cluster {
 public:
  // Starts `nodes` nodes (1, or 3 for a cluster) and waits until JetStream is ready; throws
  // std::runtime_error (with the logs) when it is not within start_timeout.
  explicit nats_cluster(int nodes = 1,
                        std::chrono::milliseconds start_timeout = std::chrono::seconds(20));
  ~nats_cluster();
  nats_cluster(const nats_cluster&) = delete;
  nats_cluster& operator=(const nats_cluster&) = delete;

  int size() const { return static_cast<int>(nodes_.size()); }
  // nats://127.0.0.1:P of every node, comma-separated, node 0 first.
  std::string url() const;
  std::string url(int node) const;
  uint16_t client_port(int node) const { return nodes_.at(node).client_port; }
  uint16_t monitor_port(int node) const { return nodes_.at(node).monitor_port; }
  const std::string& store_dir(int node) const { return nodes_.at(node).store_dir; }
  // The server name of a node ("n1", "n2", "n3").
  std::string name(int node) const;
  bool running(int node) const { return nodes_.at(node).pid > 0; }
  pid_t pid(int node) const { return nodes_.at(node).pid; }

  // SIGKILL and reap.
  void kill_hard(int node);
  // SIGTERM and wait (SIGKILL after the timeout); returns the exit code or 128 + signal.
  int terminate(int node, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Starts a stopped node again on its ports and store dir; with wait_ready, waits until it
  // answers /healthz ok (and knows the meta leader in a cluster).
  void start(int node, bool wait_ready = true);
  // Waits until every running node is ready; throws at the deadline.
  void wait_ready(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // The node leading that stream as the running nodes' /jsz?streams=true report it, -1 when
  // none does (a single node leads every stream it holds).
  int stream_leader(const std::string& stream) const;
  // Everything a node logged so far (all its runs).
  std::string log_text(int node) const;

 private:
  struct node {
    uint16_t client_port = 0;
    uint16_t cluster_port = 0;
    uint16_t monitor_port = 0;
    std::string store_dir;
    std::string log_path;
    pid_t pid = -1;
  };
  void spawn_(int index);
  bool node_ready_(int index, std::string& why) const;
  void cleanup_();

  std::string root_dir_;
  std::vector<node> nodes_;
  std::chrono::milliseconds start_timeout_;
};

}  // namespace ecom::test
