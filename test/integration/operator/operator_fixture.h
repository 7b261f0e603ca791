// Shared pieces of the os-operator integration tests: CRD installation, the os-operator process, a Node +
// OSInstance fleet, and a fake os-proxy that plays the node side while an invariant checker watches every
// OSInstance event. Test-only.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/process.h"
#include "harness/control_plane.h"
#include "kube/client.h"
#include "kube/informer.h"
#include "kube/workqueue.h"

namespace kubeos::testing {

using SteadyTime = std::chrono::steady_clock::time_point;

// Installs deploy/crds and waits until both kinds are served.
void InstallCrds(kube::Client& client);

// One os-operator process with its own metrics and health ports; output in `log`.
struct OperatorProcess {
  std::string identity;
  int metrics_port = 0;
  int health_port = 0;
  std::filesystem::path log;
  std::optional<Process> proc;

  // `time_zone` is passed as --time-zone (the default zone of windows that name none).
  static OperatorProcess Start(const std::string& identity, const std::filesystem::path& dir,
                               bool leader_elect, const std::string& time_zone = "UTC");
  bool Ready() const { return HttpGet(health_port, "/readyz").first == 200; }
  std::string Metrics() const { return HttpGet(metrics_port, "/metrics").second; }
  bool Leader() const { return Metrics().find("\nkubeos_leader 1\n") != std::string::npos; }
};

// What the fake proxy does when a node is assigned.
struct ProxyBehaviour {
  std::chrono::milliseconds work{300};
  std::string upgrade_to;      // osImage written on success (upgrade, rollback)
  std::set<std::string> fail;  // nodes that report Failed instead
  int workers = 1;             // nodes finished in parallel (the bench uses more)
};

// Nodes `<prefix>-0..n-1` labelled upgrade.openeuler.org/node-selector=<selector> (no such label when
// `selector` is nullopt) plus `extra_labels`, Ready, osImage "KubeOS v1", each with OSInstance
// default/<node> (nodestatus idle). Also runs the fake proxy and the checker over the fleet's OSInstances.
class Fleet {
 public:
  Fleet(kube::Client& client, const std::string& prefix, const std::optional<std::string>& selector, int n,
        ProxyBehaviour b, const std::map<std::string, std::string>& extra_labels = {});
  ~Fleet();

  const std::vector<std::string>& nodes() const { return nodes_; }
  // Most nodes working (OSInstance nodestatus not idle) at once, over every observed OSInstance revision.
  int MaxWorking() const { return max_working_.load(); }
  int Working() const;
  int Finished() const;
  // Assignments seen (idle -> working transitions), in order, and the times nodes were finished.
  std::vector<std::pair<std::string, SteadyTime>> Assignments() const;
  std::vector<SteadyTime> Finishes() const;
  // Labels each node carried when the proxy finished it.
  std::map<std::string, nlohmann::json> LabelsAtFinish() const;
  // The OSInstance spec of each node as first observed working (its last assignment).
  std::map<std::string, nlohmann::json> SpecAtAssignment() const;
  void DeleteAll();

 private:
  void OnOsInstance(const nlohmann::json& osi);
  void Work(const std::stop_token& stop);
  void Finish(const std::string& node);

  kube::Client& client_;
  const ProxyBehaviour behaviour_;
  std::vector<std::string> nodes_;
  std::set<std::string> node_set_;
  mutable std::mutex mu_;
  std::map<std::string, std::string> nodestatus_;                // guarded by mu_
  std::set<std::string> scheduled_;                              // guarded by mu_
  std::vector<std::pair<std::string, SteadyTime>> assignments_;  // guarded by mu_
  std::vector<SteadyTime> finishes_;                             // guarded by mu_
  std::map<std::string, nlohmann::json> labels_at_finish_;       // guarded by mu_
  std::map<std::string, nlohmann::json> spec_at_assignment_;     // guarded by mu_
  std::atomic<int> max_working_{0};
  std::atomic<int> finished_{0};
  kube::WorkQueue<std::string> queue_;
  std::unique_ptr<kube::JsonInformer> informer_;
  std::vector<std::jthread> workers_;
};

}  // namespace kubeos::testing
