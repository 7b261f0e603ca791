// os-proxy's controller: the I/O shell around Decide (state_machine.h) and PlanDrainRound (drain.h).
//
// Watches (informers, no polling) its Node (field selector metadata.name), its OSInstance default/<node>
// and every OS object; any change enqueues the one key this proxy has. One worker runs passes: read the
// world from the caches (overlaid with the proxy's own latest writes, so a pass never acts on a cache that
// has not caught up with it), ask the agent for its status, Decide, perform the single action, requeue.
// Pods are listed afresh in every drain round; the agent socket is polled only while a reboot is awaited.
//
// Thread-safety: Run() owns the informers and the worker; call it from one thread.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <stop_token>
#include <string>
#include <vector>

#include "common/status.h"
#include "kube/client.h"
#include "kube/events.h"
#include "kube/informer.h"
#include "kube/workqueue.h"
#include "proxy/agent_link.h"
#include "proxy/drain.h"
#include "proxy/metrics.h"
#include "proxy/state_machine.h"

namespace kubeos::node {

// On the Node while os-proxy holds the cordon; value: the OS object's "namespace/name". Only a cordon
// carrying it is ever undone by os-proxy.
inline constexpr const char* kCordonAnnotation = "upgrade.openeuler.org/cordoned-by-proxy";

struct ProxyOptions {
  std::string node_name;
  std::chrono::seconds drain_timeout{600};
  Escalation escalation = Escalation::kAbort;
  Policy policy;
  // Safety resync while nothing happens (events normally trigger every pass).
  std::chrono::seconds resync{60};
  AgentTimeouts agent_timeouts;
  // Where phase changes, evictions and agent calls are counted (/metrics); nullptr: not counted.
  ProxyMetrics* metrics = nullptr;
};

// Lists the pods bound to `node` and looks up the DaemonSets that control them (orphan detection).
StatusOr<std::vector<PodView>> ListPodsOnNode(kube::Client& client, const std::string& node);

class Controller {
 public:
  using UnixClock = std::function<int64_t()>;
  Controller(kube::Client& client, AgentApi& agent, ProxyOptions options, UnixClock now = {});
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Starts the informers, waits for their first lists, and runs passes until `stop`. Returns an error only
  // when the caches never sync.
  Status Run(const std::stop_token& stop);
  // True once Run's caches synced (for /readyz). Any thread.
  bool Synced() const { return synced_.load(); }

 private:
  using Ptr = std::shared_ptr<const nlohmann::json>;
  // One pass. The delay until the next pass: 0 = at once, negative = only on the next event or resync.
  StatusOr<std::chrono::milliseconds> Pass();

  StatusOr<Ptr> EnsureInstance(const Ptr& node);
  StatusOr<AgentView> QueryAgent();
  // agent_.Call, counted in the metrics.
  StatusOr<nlohmann::json> CallAgent(const std::string& method, const nlohmann::json& params,
                                     std::chrono::milliseconds timeout);
  Status WriteRecord(const nlohmann::json& osi, const ProxyRecord& rec, const nlohmann::json& extra = {});
  StatusOr<std::chrono::milliseconds> Execute(const Decision& d, const nlohmann::json& node,
                                              const nlohmann::json& osi, const api::OSInstance& instance,
                                              const api::OS* os, const Observation& obs);
  StatusOr<std::chrono::milliseconds> DrainRoundOnce(const nlohmann::json& node, const nlohmann::json& osi,
                                                     const api::OS& os, ProxyRecord rec,
                                                     const Observation& obs);
  Status Release(const Decision& d, const nlohmann::json& node, const nlohmann::json& osi,
                 const api::OSInstance& instance, const Observation& obs);
  StatusOr<std::chrono::milliseconds> Configure(bool upgradeconfigs, const Decision& d,
                                                const nlohmann::json& node, const nlohmann::json& osi,
                                                const api::OSInstance& instance, ProxyRecord rec);
  Status Fail(const nlohmann::json& node, const nlohmann::json& osi, ProxyRecord rec,
              const std::string& reason, const std::string& message);
  void Event(const nlohmann::json& node, bool warning, const std::string& reason, const std::string& message);

  kube::Client& client_;
  AgentApi& agent_;
  const ProxyOptions options_;
  UnixClock now_;
  kube::EventRecorder events_;
  std::unique_ptr<kube::JsonInformer> nodes_, instances_, oses_;
  kube::WorkQueue<std::string> queue_;
  std::atomic<bool> synced_{false};
  Ptr last_node_, last_osi_;  // the objects as the proxy last wrote them (read-your-writes)
  DrainMemory drain_memory_;
  int64_t drain_memory_attempt_ = -1;  // startedAt of the attempt drain_memory_ belongs to
};

}  // namespace kubeos::node
