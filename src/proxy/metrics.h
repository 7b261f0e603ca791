// os-proxy's Prometheus metrics, rendered in the text exposition format (version 0.0.4) for /metrics
// (--metrics-bind-address). Every series exists from the start at zero.
//
//   kubeos_proxy_phase{phase}                   gauge: 1 for the phase this node's attempt is in (the last
//                                               status.phase written), 0 for the others
//   kubeos_proxy_phase_transitions_total{phase} counter: status.phase changes into each phase
//   kubeos_proxy_evictions_total{result}        counter: evicted, blocked (a disruption budget said 429),
//                                               failed, deleted (escalation after the drain deadline)
//   kubeos_proxy_agent_calls_total{method,result} counter: os-agent RPCs by method, ok or error
//   kubeos_proxy_api_requests_total             counter: HTTP requests to the apiserver (Client::requests)
//   kubeos_proxy_caches_synced                  gauge: 1 once the Node, OSInstance and OS caches synced
// Thread-safety: internally synchronised.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "proxy/record.h"

namespace kubeos::node {

class ProxyMetrics {
 public:
  ProxyMetrics();
  // The phase just written; a change counts one transition.
  void SetPhase(Phase phase);
  // result: "evicted", "blocked", "failed" or "deleted".
  void AddEviction(std::string_view result);
  void AddAgentCall(std::string_view method, bool ok);
  void SetApiRequests(std::uint64_t requests);
  void SetCachesSynced(bool synced);

  // The whole exposition, series in a fixed order.
  std::string Render() const;

 private:
  mutable std::mutex mu_;
  Phase phase_ = Phase::kNone;                                         // guarded by mu_
  std::map<std::string, std::int64_t> transitions_;                    // guarded by mu_
  std::map<std::string, std::int64_t> evictions_;                      // guarded by mu_
  std::map<std::pair<std::string, std::string>, std::int64_t> calls_;  // guarded by mu_
  std::uint64_t requests_ = 0;                                         // guarded by mu_
  bool synced_ = false;                                                // guarded by mu_
};

}  // namespace kubeos::node
