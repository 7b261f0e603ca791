// The os-operator controller: informers on OS (all namespaces), OSInstance and Node; a work queue keyed by
// OS object; each pass maps the caches (plus this controller's not-yet-observed writes) onto a
// ClusterSnapshot, calls the pure planner, and applies the PlanResult in the documented order (serial
// labels, OSInstance specs then node labels, OS /status), then records Events and metrics. Node deletion
// deletes the node's OSInstances. docs/operator.md "Controller" is the full description.
//
// Threads: Start() starts the three informer threads (their handlers only enqueue). RunWorker() is the
// single planning thread: passes are serialised because the budget is global. It runs only while this
// replica leads (or always without leader election) and returns when its stop_token is requested.
// Everything else may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stop_token>
#include <string>
#include <thread>

#include "common/status.h"
#include "kube/client.h"
#include "kube/events.h"
#include "kube/informer.h"
#include "kube/workqueue.h"
#include "operator/metrics.h"
#include "operator/model.h"
#include "operator/overlay.h"

namespace kubeos::rollout {

struct ControllerOptions {
  std::string default_time_zone;  // ClusterSnapshot::default_time_zone
  std::string event_host;         // Events' source.host (the replica's identity)
};

// Concurrent API writes of one pass's assignments: each node's OSInstance-then-label pair stays in order;
// different nodes go in parallel so a pass that starts many nodes does not hold freed slots for long.
inline constexpr std::size_t kWriteParallelism = 8;
// Events waiting for the event thread; beyond this they are dropped (best effort, counted in the log).
inline constexpr std::size_t kMaxPendingEvents = 10000;

class Controller {
 public:
  // Requeue delay after an unexpected error is the queue's per-key backoff; a Conflict re-plans at once.
  // Events go through `event_client` on their own thread, so they neither delay passes nor take the
  // planner's rate-limit tokens.
  Controller(kube::Client& client, kube::Client& event_client, ControllerOptions options, Metrics& metrics);
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Starts the informers and the event thread.
  void Start();
  // Stops the informers, the event thread and the queue (RunWorker must have returned).
  void Stop();
  bool Synced() const;
  bool WaitForSync(std::chrono::milliseconds timeout, const std::stop_token& stop);

  // Plans until `stop`: waits for the caches, reads the cluster once more with quorum reads (so that writes
  // of a previous leader the caches have not shown yet still count), deletes OSInstances of vanished nodes,
  // enqueues every OS object, then works the queue. Blocks.
  Status RunWorker(const std::stop_token& stop);

 private:
  enum class Outcome { kOk, kRetryNow, kError };
  Outcome Process(const std::string& item);
  Outcome ReconcileOs(const std::string& key);
  Outcome CollectNode(const std::string& node);
  Status SeedFromQuorumRead();
  Status PatchNodeLabels(const std::string& node, const std::map<std::string, std::optional<std::string>>& l);
  void EnqueueAllOs();
  void ScheduleResync(const std::string& item, std::chrono::seconds after);
  void Emit(const nlohmann::json& object, std::string_view type, std::string_view reason,
            std::string_view message);
  void RecordEvents(const std::string& key, const nlohmann::json& os, const PlanResult& plan);
  Status ApplyAssignment(const nlohmann::json& os, const Assignment& a);
  void SendEvents(const std::stop_token& stop);
  kube::Informer<nlohmann::json>::Ptr Resolve(const std::string& kind, const std::string& key) const;

  kube::Client& client_;
  const ControllerOptions options_;
  Metrics& metrics_;
  kube::EventRecorder recorder_;
  kube::WorkQueue<std::string> queue_;
  mutable WriteOverlay overlay_;
  std::unique_ptr<kube::JsonInformer> os_;
  std::unique_ptr<kube::JsonInformer> osinstances_;
  std::unique_ptr<kube::JsonInformer> nodes_;
  // Worker thread only:
  std::map<std::string, std::chrono::steady_clock::time_point> next_resync_;
  // Per OS: each node's last outcome class ("done", "failed", "other"), for completion and failure Events.
  std::map<std::string, std::map<std::string, std::string>> previous_;
  std::map<std::string, std::string> previous_rollout_;
  struct PendingEvent {
    nlohmann::json object;
    std::string type, reason, message;
  };
  std::mutex events_mu_;
  std::condition_variable_any events_cv_;
  std::deque<PendingEvent> events_;  // guarded by events_mu_
  std::jthread event_thread_;        // after what it uses
};

}  // namespace kubeos::rollout
