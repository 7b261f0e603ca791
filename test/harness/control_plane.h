// A real Kubernetes control plane on loopback for tests, the demo and benchmarks: upstream etcd and
// kube-apiserver, and on request kube-controller-manager, kube-scheduler and kwok, all built from pinned Go
// modules by hack/build-control-plane. Generated CA and serving certificates; an admin identity
// (system:masters) and a restricted identity (no permissions until RBAC grants some), each as a client
// certificate and as a bearer token.
//
// Start() blocks until the apiserver answers /readyz. A ControlPlane owns its processes and stops them on
// destruction, unless it was started with `detach` (hack/cluster up), in which case StopDetached(dir) does.
// Thread-safety: one thread drives a ControlPlane.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/process.h"
#include "common/status.h"
#include "kube/config.h"

namespace kubeos::testing {

struct ControlPlaneOptions {
  // State directory (certificates, kubeconfigs, etcd data, logs). Empty: a temporary directory removed by
  // Stop.
  std::filesystem::path dir;
  // Where the upstream binaries are. Empty: $KUBEOS_K8S_BIN, else the directory CMake was configured with.
  std::filesystem::path bin_dir;
  bool controller_manager =
      false;  // disruption, replicaset, deployment, daemonset, garbage collector, namespace
  bool scheduler = false;
  bool kwok = false;
  // kwok manages nodes matching this label selector; empty means all nodes.
  std::string kwok_node_selector;
  std::filesystem::path kwok_stages;  // empty: test/kwok/stages.yaml of the source tree
  // Children keep running after this process exits (hack/cluster up).
  bool detach = false;
  std::vector<std::string> extra_apiserver_args;
};

enum class Component { kEtcd, kApiServer, kControllerManager, kScheduler, kKwok };

class ControlPlane {
 public:
  static StatusOr<std::unique_ptr<ControlPlane>> Start(const ControlPlaneOptions& options);
  // Attaches to a detached control plane started earlier in `dir` (does not own its processes).
  static StatusOr<std::unique_ptr<ControlPlane>> Attach(const std::filesystem::path& dir);
  // Stops a detached control plane recorded in `dir`.
  static Status StopDetached(const std::filesystem::path& dir);

  ControlPlane(const ControlPlane&) = delete;
  ControlPlane& operator=(const ControlPlane&) = delete;
  ~ControlPlane();

  Status Stop();

  // Stops or (re)starts one component, e.g. to prove a watch survives an apiserver restart. StartComponent
  // waits for readiness (etcd /health, apiserver /readyz).
  Status StopComponent(Component c);
  Status StartComponent(Component c);

  const std::filesystem::path& dir() const { return dir_; }
  std::string server() const;    // https://127.0.0.1:<port>
  std::string etcd_url() const;  // http://127.0.0.1:<port>
  std::filesystem::path admin_kubeconfig() const { return dir_ / "admin.kubeconfig"; }
  std::filesystem::path restricted_kubeconfig() const { return dir_ / "restricted.kubeconfig"; }
  std::filesystem::path bin_dir() const { return bin_dir_; }
  kube::RestConfig AdminConfig() const;
  kube::RestConfig RestrictedConfig() const;
  // The same identities as bearer tokens (token auth file).
  kube::RestConfig AdminTokenConfig() const;
  kube::RestConfig RestrictedTokenConfig() const;
  static constexpr const char* kRestrictedUser = "kubeos-restricted";

  std::chrono::milliseconds startup_time() const { return startup_time_; }
  // Sum of the resident memory of the running components, in bytes (owned processes only).
  uint64_t ResidentBytes();
  // Sum of each running component's peak resident memory so far, in bytes (owned processes only).
  uint64_t PeakResidentBytes();
  // The same sum measured right after start-up (also for detached control planes).
  uint64_t startup_resident_bytes() const { return startup_resident_bytes_; }

 private:
  struct Proc;
  ControlPlane();
  static StatusOr<std::unique_ptr<ControlPlane>> StartOnce(const ControlPlaneOptions& options);
  std::string LogTail(Component c) const;
  Status Prepare();
  Status Launch(Proc& p);
  Status WaitReady(Component c, std::chrono::milliseconds timeout);
  Status WriteState();
  Proc* Find(Component c);

  ControlPlaneOptions options_;
  std::filesystem::path dir_;
  std::filesystem::path bin_dir_;
  bool temp_dir_ = false;
  bool owned_ = true;
  int etcd_port_ = 0, etcd_peer_port_ = 0, apiserver_port_ = 0;
  std::string ca_pem_;
  kube::RestConfig admin_, restricted_;
  std::string admin_token_, restricted_token_;
  std::vector<std::unique_ptr<Proc>> procs_;
  std::chrono::milliseconds startup_time_{0};
  uint64_t startup_resident_bytes_ = 0;
};

// A free TCP port on 127.0.0.1 (bound and released; the caller should retry if it loses the race).
StatusOr<int> FreeLoopbackPort();

// HTTP GET on 127.0.0.1:port (a 2 s read timeout); {status, body}, status 0 when the connection failed.
// For the /metrics and probe endpoints of the binaries under test.
std::pair<int, std::string> HttpGet(int port, const std::string& path);

}  // namespace kubeos::testing
