// Watches the cluster (informers on Nodes, OSInstances, Pods and OS objects) and turns the caches into
// ClusterViews (progress.h) for the demo's live progress and invariant checks. Handlers only mark the view
// dirty; WaitForChange wakes the caller at once, so timings are as exact as the watch events.
// Thread-safety: Start/Stop from one thread; WaitForChange/Snapshot from one consumer thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

#include "common/status.h"
#include "kube/client.h"
#include "kube/informer.h"
#include "sim/progress.h"

namespace kubeos::sim {

class ClusterMonitor {
 public:
  // Views cover the OS object os_ns/os_name and the Ready pods labelled app=<app> (the PDB's selector).
  ClusterMonitor(kube::Client& client, std::string os_ns, std::string os_name, std::string app,
                 int min_available);
  ~ClusterMonitor() { Stop(); }
  ClusterMonitor(const ClusterMonitor&) = delete;
  ClusterMonitor& operator=(const ClusterMonitor&) = delete;

  Status Start();
  void Stop();
  // Returns the view as soon as any cache changed, or after `timeout`.
  ClusterView WaitForChange(std::chrono::milliseconds timeout);
  ClusterView Snapshot() const;
  // Snapshot() with the nodes taken from fresh (quorum) lists of Nodes and OSInstances instead of the watch
  // caches. The two watches lag each other independently, so a cache view can briefly show a node as still
  // working after the operator (which saw it finish) assigned the next one; a budget check that fails on the
  // caches is confirmed with this view.
  StatusOr<ClusterView> QuorumSnapshot() const;

 private:
  void MarkDirty();

  kube::Client& client_;
  std::string os_ns_, os_name_, app_;
  int min_available_;
  std::unique_ptr<kube::JsonInformer> nodes_, instances_, pods_, os_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool dirty_ = false;  // guarded by mu_
};

}  // namespace kubeos::sim
