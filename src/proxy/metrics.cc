#include "proxy/metrics.h"

#include <fmt/format.h>

namespace kubeos::node {
namespace {

constexpr Phase kPhases[] = {Phase::kIdle,      Phase::kStaging,   Phase::kDraining,
                             Phase::kRebooting, Phase::kVerifying, Phase::kConfiguring,
                             Phase::kSucceeded, Phase::kFailed,    Phase::kFellBack};
constexpr std::string_view kEvictionResults[] = {"evicted", "blocked", "failed", "deleted"};
constexpr std::string_view kAgentMethods[] = {"status",   "prepare_upgrade", "upgrade",
                                              "rollback", "mark_good",       "configure"};

}  // namespace

ProxyMetrics::ProxyMetrics() {
  for (Phase p : kPhases) transitions_[std::string(PhaseName(p))] = 0;
  for (std::string_view r : kEvictionResults) evictions_[std::string(r)] = 0;
  for (std::string_view m : kAgentMethods) {
    calls_[{std::string(m), "ok"}] = 0;
    calls_[{std::string(m), "error"}] = 0;
  }
}

void ProxyMetrics::SetPhase(Phase phase) {
  std::lock_guard lock(mu_);
  if (phase == phase_ || phase == Phase::kNone) return;
  phase_ = phase;
  ++transitions_[std::string(PhaseName(phase))];
}

void ProxyMetrics::AddEviction(std::string_view result) {
  std::lock_guard lock(mu_);
  ++evictions_[std::string(result)];
}

void ProxyMetrics::AddAgentCall(std::string_view method, bool ok) {
  std::lock_guard lock(mu_);
  ++calls_[{std::string(method), ok ? "ok" : "error"}];
}

void ProxyMetrics::SetApiRequests(std::uint64_t requests) {
  std::lock_guard lock(mu_);
  requests_ = requests;
}

void ProxyMetrics::SetCachesSynced(bool synced) {
  std::lock_guard lock(mu_);
  synced_ = synced;
}

std::string ProxyMetrics::Render() const {
  std::lock_guard lock(mu_);
  std::string out;
  out += "# HELP kubeos_proxy_phase The phase of this node's current or last attempt (status.phase).\n";
  out += "# TYPE kubeos_proxy_phase gauge\n";
  for (Phase p : kPhases) {
    out += fmt::format("kubeos_proxy_phase{{phase=\"{}\"}} {}\n", PhaseName(p), p == phase_ ? 1 : 0);
  }
  out += "# HELP kubeos_proxy_phase_transitions_total Changes of status.phase, by the phase entered.\n";
  out += "# TYPE kubeos_proxy_phase_transitions_total counter\n";
  for (const auto& [phase, n] : transitions_) {
    out += fmt::format("kubeos_proxy_phase_transitions_total{{phase=\"{}\"}} {}\n", phase, n);
  }
  out += "# HELP kubeos_proxy_evictions_total Pod evictions in drains, by result.\n";
  out += "# TYPE kubeos_proxy_evictions_total counter\n";
  for (const auto& [result, n] : evictions_) {
    out += fmt::format("kubeos_proxy_evictions_total{{result=\"{}\"}} {}\n", result, n);
  }
  out += "# HELP kubeos_proxy_agent_calls_total os-agent RPCs, by method and result.\n";
  out += "# TYPE kubeos_proxy_agent_calls_total counter\n";
  for (const auto& [key, n] : calls_) {
    out += fmt::format("kubeos_proxy_agent_calls_total{{method=\"{}\",result=\"{}\"}} {}\n", key.first,
                       key.second, n);
  }
  out += "# HELP kubeos_proxy_api_requests_total HTTP requests to the apiserver (retries and watches too).\n";
  out += "# TYPE kubeos_proxy_api_requests_total counter\n";
  out += fmt::format("kubeos_proxy_api_requests_total {}\n", requests_);
  out += "# HELP kubeos_proxy_caches_synced 1 once the Node, OSInstance and OS caches synced.\n";
  out += "# TYPE kubeos_proxy_caches_synced gauge\n";
  out += fmt::format("kubeos_proxy_caches_synced {}\n", synced_ ? 1 : 0);
  return out;
}

}  // namespace kubeos::node
