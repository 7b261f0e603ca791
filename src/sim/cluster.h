// A simulated cluster: the real test control plane (etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler, kwok) with deploy/ applied, N kwok-managed worker Nodes each backed by a SimNode (simulated
// host + production os-agent + production os-proxy), the production os-operator as a local process with the
// Deployment's flags, and the workloads a rollout has to respect (a Deployment with a PodDisruptionBudget and
// a DaemonSet spread over the nodes).
//
// Identities: the operator and the proxies run with their own ServiceAccounts' tokens (TokenRequest) and so
// with exactly the RBAC of deploy/; when deploy/ has no ServiceAccount for a component, it runs as admin and
// Start says so. Thread-safety: one thread drives a SimCluster; nodes run on their own threads.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/process.h"
#include "common/status.h"
#include "harness/control_plane.h"
#include "kube/client.h"
#include "sim/sim_node.h"

namespace kubeos::sim {

inline constexpr const char* kWorkloadNamespace = "demo";
inline constexpr const char* kDeploymentName = "web";
inline constexpr const char* kDaemonSetName = "node-exporter";
inline constexpr const char* kSystemNamespace = "upgrade-system";

struct ClusterOptions {
  std::filesystem::path dir;          // cluster/, hosts/<node>/, identities/, logs/
  std::filesystem::path k8s_bin_dir;  // empty: the harness default ($KUBEOS_K8S_BIN or the configured one)
  std::filesystem::path source_dir;   // the repository (deploy/, test/kwok/stages.yaml)
  int nodes = 6;
  std::string node_prefix = "node-";
  std::filesystem::path agent_bin, proxy_bin, operator_bin;  // proxy/operator empty or missing: not run
  std::filesystem::path demo_bin;  // for the hosts' reboot action (kubeos-demo sim-reboot)
  std::filesystem::path v1_image;  // every host's slot A
  uint64_t slot_bytes = uint64_t{32} << 20;
  std::map<std::string, std::string> host_certs;  // certs/ of every host
  SimNodeTiming timing;
  int drain_timeout_seconds = 120;
  // Workloads: replicas of the Deployment (0: two per node); its PDB keeps all but one available.
  int replicas = 0;
  bool workloads = true;
  // false: no SimNodes (scale benches): each Node is reported Ready once with osImage `initial_os_image`,
  // and the proxy DaemonSet of deploy/ is deleted (a stand-in plays the node side).
  bool simulated_hosts = true;
  std::string initial_os_image = "KubeOS v1";
  std::function<void(const NodeEvent&)> on_node_event;  // from node threads
  std::function<void(const std::string&)> on_setup;     // set-up progress lines (driving thread)
};

class SimCluster {
 public:
  static StatusOr<std::unique_ptr<SimCluster>> Start(const ClusterOptions& options);
  SimCluster(const SimCluster&) = delete;
  SimCluster& operator=(const SimCluster&) = delete;
  ~SimCluster();

  Status Stop();

  kube::Client& client() { return *client_; }
  testing::ControlPlane& control_plane() { return *cp_; }
  const std::vector<std::unique_ptr<SimNode>>& nodes() const { return nodes_; }
  std::vector<std::string> node_names() const;
  std::filesystem::path kubectl() const { return cp_->bin_dir() / "kubectl"; }
  std::filesystem::path admin_kubeconfig() const { return cp_->admin_kubeconfig(); }
  int replicas() const { return replicas_; }
  int min_available() const { return replicas_ - 1; }
  bool operator_running() { return operator_ && operator_->Running(); }
  // "ServiceAccount upgrade-system/upgrade-operator" or "admin (no ServiceAccount in deploy/)".
  const std::string& operator_identity() const { return operator_identity_; }
  const std::string& proxy_identity() const { return proxy_identity_; }
  pid_t operator_pid() const { return operator_ ? operator_->pid() : 0; }
  // http://127.0.0.1:<port>/metrics of os-operator ("" when it is not running).
  std::string operator_metrics_url() const { return metrics_url_; }

  // Runs kubectl with the admin kubeconfig; returns its output (stdout and stderr), error unless exit 0.
  StatusOr<std::string> Kubectl(const std::vector<std::string>& args);

 private:
  explicit SimCluster(ClusterOptions options) : options_(std::move(options)) {}
  void Setup(const std::string& line);
  Status ApplyDeploy();
  StatusOr<std::string> IdentityKubeconfig(const std::string& ns, const std::string& sa,
                                           const std::string& file, std::string* who);
  Status CreateNodes();
  Status StartHosts();
  Status CreateWorkloads();
  Status StartOperator();

  ClusterOptions options_;
  std::unique_ptr<testing::ControlPlane> cp_;
  std::unique_ptr<kube::Client> client_;
  std::unique_ptr<KubeNodeReporter> reporter_;
  std::vector<std::unique_ptr<SimNode>> nodes_;
  std::optional<Process> operator_;
  std::string operator_identity_, proxy_identity_;
  std::string proxy_kubeconfig_;
  std::string metrics_url_;
  std::vector<std::string> names_;  // the worker Nodes
  int replicas_ = 0;
};

}  // namespace kubeos::sim
