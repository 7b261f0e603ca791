// os-operator's Prometheus metrics, rendered in the text exposition format (version 0.0.4) for /metrics.
// A small registry of exactly the series the controller exports; no global state (injected into the
// controller). Every counter exists from the start at zero.
//
//   kubeos_os_nodes{os,state}                 gauge: selected nodes per OS by state (total, updated,
//                                             in_progress, failed, pending), from the last status written
//   kubeos_os_halted{os}                      gauge: 1 while the OS's target is listed in badVersions
//   kubeos_assignments_total{os,action}       counter: nodes started (upgrade, rollback, config)
//   kubeos_reconcile_total{result}            counter: passes by outcome (success, conflict, error)
//   kubeos_reconcile_duration_seconds         histogram: one pass (snapshot, plan, writes)
//   kubeos_api_writes_total{kind}             counter: writes issued (osinstance, node, os_status, delete,
//                                             event)
//   kubeos_api_requests_total{client}         counter: every HTTP request to the apiserver (reads, writes,
//                                             watches, lease renewals, retries) by client: main (caches,
//                                             planning, leader election) or events
//   kubeos_leader                             gauge: 1 while this replica plans
//   kubeos_caches_synced                      gauge: 1 once the OS, OSInstance and Node caches synced
// Thread-safety: internally synchronised.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "operator/model.h"

namespace kubeos::rollout {

// Bucket upper bounds of kubeos_reconcile_duration_seconds (client-go's workqueue buckets, truncated to
// what a pass can take).
inline constexpr std::array<double, 11> kReconcileBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                             0.1,   0.25,   0.5,   1.0,  2.5};

// A label value with \, " and newline escaped as the exposition format requires.
std::string EscapeLabelValue(std::string_view v);

class Metrics {
 public:
  void SetOsStatus(const std::string& os, const OsStatus& status);
  void RemoveOs(const std::string& os);
  void AddAssignment(const std::string& os, std::string_view action);
  void ObserveReconcile(std::string_view result, double seconds);
  void AddApiWrite(std::string_view kind);
  // The running count of a kube::Client (Client::requests()), copied in before each render.
  void SetApiRequests(std::string_view client, std::uint64_t requests);
  void SetLeader(bool leader);
  void SetCachesSynced(bool synced);
  bool leader() const;

  // The whole exposition, series in a fixed order.
  std::string Render() const;

 private:
  struct OsGauges {
    OsStatus status;
    bool halted = false;
  };
  mutable std::mutex mu_;
  std::map<std::string, OsGauges> os_;                                    // guarded by mu_
  std::map<std::pair<std::string, std::string>, std::int64_t> assigned_;  // guarded by mu_
  std::map<std::string, std::int64_t> reconciles_{{"success", 0}, {"conflict", 0}, {"error", 0}};  // ditto
  std::map<std::string, std::int64_t> writes_{
      {"osinstance", 0}, {"node", 0}, {"os_status", 0}, {"delete", 0}, {"event", 0}};
  std::map<std::string, std::uint64_t> requests_{{"main", 0}, {"events", 0}};  // guarded by mu_
  std::array<std::int64_t, kReconcileBuckets.size()> buckets_{};  // guarded by mu_ (not cumulative)
  std::int64_t duration_count_ = 0;                               // guarded by mu_
  double duration_sum_ = 0;                                       // guarded by mu_
  bool leader_ = false;                                           // guarded by mu_
  bool synced_ = false;                                           // guarded by mu_
};

}  // namespace kubeos::rollout
