// A light node side for scale benches: plays os-proxy + os-agent + kubelet of every kwok node in one process.
// It creates each node's OSInstance (as os-proxy does at start), and when os-operator assigns a node
// (OSInstance spec.nodestatus upgrade|rollback), it waits the simulated node work, then writes what the real
// node side writes at the end of an upgrade, in the proxy's order: Node osImage (kubelet after the reboot),
// OSInstance status phase Succeeded, the upgrading label removed, OSInstance spec back to idle.
// Thread-safety: Start/Stop from one thread; an informer thread and a pool of writer threads inside.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "kube/client.h"
#include "kube/informer.h"

namespace kubeos::sim {

class NodeStandIn {
 public:
  NodeStandIn(kube::Client& client, std::vector<std::string> nodes, std::string target,
              std::chrono::milliseconds work, int writers);
  ~NodeStandIn() { Stop(); }
  NodeStandIn(const NodeStandIn&) = delete;
  NodeStandIn& operator=(const NodeStandIn&) = delete;

  // Creates the OSInstances and starts watching them.
  Status Start();
  void Stop();
  int completed() const { return completed_.load(); }
  int errors() const { return errors_.load(); }
  int64_t writes() const { return writes_.load(); }

 private:
  void OnInstance(const nlohmann::json& osi);
  void Writer(const std::stop_token& stop);
  Status Finish(const std::string& node);

  kube::Client& client_;
  std::vector<std::string> nodes_;
  std::string target_;
  std::chrono::milliseconds work_;
  int writers_;
  std::unique_ptr<kube::JsonInformer> instances_;
  std::mutex mu_;
  std::condition_variable_any cv_;
  // guarded by mu_: node -> the OSInstance generation (spec changes) last scheduled, so an assignment is
  // worked once however many events show it.
  std::map<std::string, int64_t> scheduled_gen_;
  std::deque<std::pair<std::chrono::steady_clock::time_point, std::string>> due_;  // guarded by mu_
  std::vector<std::jthread> threads_;
  std::atomic<int> completed_{0}, errors_{0};
  std::atomic<int64_t> writes_{0};
};

}  // namespace kubeos::sim
