// One simulated machine in the cluster: its SimHost, the production os-agent (a systemd service: restarted
// when it dies) and the production os-proxy (a DaemonSet pod: restarted with back-off), and the "kubelet"
// part that reports the Node's Ready condition and node info.
//
// A reboot: the agent's reboot action writes <host>/reboot-request (kubeos-demo sim-reboot). The node's
// thread sees it within kPollInterval, reports the Node NotReady, stops the proxy and the agent (SIGTERM, as
// systemd does on shutdown), runs the firmware (PowerOn: trial boots, failed boots, fallback), starts the
// agent, reports Ready with the booted PRETTY_NAME as osImage and a new bootID, then starts the proxy
// (kubelet starts pods once the node is back).
//
// Thread-safety: Start/Stop from one thread; the accessors and the event callback are thread-safe (the
// callback runs on the node's thread).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/process.h"
#include "common/status.h"
#include "kube/client.h"
#include "sim/node_status.h"
#include "sim/sim_host.h"

namespace kubeos::sim {

// Where "kubelet" reports to. Implementations must be thread-safe (every node reports from its own thread).
class NodeReporter {
 public:
  virtual ~NodeReporter() = default;
  virtual Status Report(const std::string& node, const NodeReport& report) = 0;
};

// Patches nodes/<name>/status on the API server.
class KubeNodeReporter : public NodeReporter {
 public:
  explicit KubeNodeReporter(kube::Client& client) : client_(client) {}
  Status Report(const std::string& node, const NodeReport& report) override;

 private:
  kube::Client& client_;
};

struct NodeEvent {
  enum class Kind { kRebooting, kBootFailed, kUp, kBricked, kAgentRestarted, kProxyRestarted, kError };
  std::string node;
  Kind kind = Kind::kUp;
  std::string text;  // human-readable detail
};
std::string_view NodeEventKindName(NodeEvent::Kind kind);

struct SimNodeTiming {
  // How long the machine takes to go down after the reboot command (systemd stopping units); the agent's
  // upgrade RPC answers in this time.
  std::chrono::milliseconds shutdown{300};
  // Firmware + kernel + init until the agent starts.
  std::chrono::milliseconds boot{700};
  // A boot that hangs is reset by the watchdog after this long.
  std::chrono::milliseconds watchdog{1500};
};

struct SimNodeOptions {
  std::string name;
  SimHostOptions host;
  std::filesystem::path agent_bin;
  // Full os-proxy argv without the node-specific flags (--node-name and --agent-socket are added); empty: no
  // proxy for this node.
  std::vector<std::string> proxy_argv;
  std::vector<std::pair<std::string, std::string>> proxy_env;
  SimNodeTiming timing;
  NodeReporter* reporter = nullptr;                // required
  std::function<void(const NodeEvent&)> on_event;  // optional
};

class SimNode {
 public:
  // Creates the host (powered off).
  static StatusOr<std::unique_ptr<SimNode>> Create(SimNodeOptions options);
  SimNode(const SimNode&) = delete;
  SimNode& operator=(const SimNode&) = delete;
  ~SimNode();

  // Powers on (first boot, agent answering, Node Ready, proxy started) and keeps the machine running on its
  // own thread. Blocks until the first boot is done.
  Status Start() {
    Launch();
    return WaitStarted();
  }
  // The same in two halves, so many nodes boot in parallel.
  void Launch();
  Status WaitStarted();
  // Stops proxy and agent and the node's thread. RequestStop only asks (so many nodes stop in parallel).
  void RequestStop();
  void Stop();

  const std::string& name() const { return options_.name; }
  const SimHost& host() const { return *host_; }
  int boots() const { return boots_.load(); }
  int failed_boots() const { return failed_boots_.load(); }
  std::string booted_version() const;

 private:
  explicit SimNode(SimNodeOptions options) : options_(std::move(options)) {}
  void Run(const std::stop_token& stop);
  Status Boot();    // firmware, agent, Ready, proxy
  void Shutdown();  // NotReady, stop proxy and agent
  Status StartAgent();
  Status StartProxy();
  void Supervise(const std::stop_token& stop);
  void Emit(NodeEvent::Kind kind, std::string text);
  void Report(const NodeReport& r);

  SimNodeOptions options_;
  std::optional<SimHost> host_;
  std::optional<Process> agent_;  // node thread only
  std::optional<Process> proxy_;  // node thread only
  bool up_ = false;               // node thread only: booted (not bricked, not shutting down)
  std::chrono::steady_clock::time_point proxy_restart_at_{};
  std::chrono::milliseconds proxy_backoff_{0};
  std::atomic<int> boots_{0};
  std::atomic<int> failed_boots_{0};
  mutable std::mutex mu_;
  std::string booted_version_;  // guarded by mu_

  std::mutex start_mu_;
  std::condition_variable start_cv_;
  std::optional<Status> start_result_;  // guarded by start_mu_
  std::jthread thread_;
};

}  // namespace kubeos::sim
