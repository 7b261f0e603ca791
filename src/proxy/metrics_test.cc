#include "proxy/metrics.h"

#include <gtest/gtest.h>

namespace kubeos::node {
namespace {

bool Has(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.rfind(line + "\n", 0) == 0;
}

TEST(ProxyMetricsTest, EverySeriesStartsAtZero) {
  ProxyMetrics m;
  std::string t = m.Render();
  EXPECT_TRUE(Has(t, "kubeos_proxy_phase{phase=\"Draining\"} 0")) << t;
  EXPECT_TRUE(Has(t, "kubeos_proxy_phase_transitions_total{phase=\"FellBack\"} 0")) << t;
  EXPECT_TRUE(Has(t, "kubeos_proxy_evictions_total{result=\"blocked\"} 0")) << t;
  EXPECT_TRUE(Has(t, "kubeos_proxy_agent_calls_total{method=\"prepare_upgrade\",result=\"error\"} 0")) << t;
  EXPECT_TRUE(Has(t, "kubeos_proxy_api_requests_total 0")) << t;
  EXPECT_TRUE(Has(t, "kubeos_proxy_caches_synced 0")) << t;
}

TEST(ProxyMetricsTest, PhaseGaugeAndTransitionsFollowWrites) {
  ProxyMetrics m;
  m.SetPhase(Phase::kStaging);
  m.SetPhase(Phase::kStaging);  // rewriting the same phase is not a transition
  m.SetPhase(Phase::kDraining);
  m.SetPhase(Phase::kNone);  // never written: ignored
  m.SetPhase(Phase::kStaging);
  std::string t = m.Render();
  EXPECT_TRUE(Has(t, "kubeos_proxy_phase{phase=\"Staging\"} 1")) << t;
  EXPECT_TRUE(Has(t, "kubeos_proxy_phase{phase=\"Draining\"} 0")) << t;
  EXPECT_TRUE(Has(t, "kubeos_proxy_phase_transitions_total{phase=\"Staging\"} 2")) << t;
  EXPECT_TRUE(Has(t, "kubeos_proxy_phase_transitions_total{phase=\"Draining\"} 1")) << t;
}

TEST(ProxyMetricsTest, CountersAndGauges) {
  ProxyMetrics m;
  m.AddEviction("evicted");
  m.AddEviction("evicted");
  m.AddEviction("blocked");
  m.AddAgentCall("status", true);
  m.AddAgentCall("upgrade", false);
  m.SetApiRequests(42);
  m.SetCachesSynced(true);
  std::string t = m.Render();
  EXPECT_TRUE(Has(t, "kubeos_proxy_evictions_total{result=\"evicted\"} 2")) << t;
  EXPECT_TRUE(Has(t, "kubeos_proxy_evictions_total{result=\"blocked\"} 1")) << t;
  EXPECT_TRUE(Has(t, "kubeos_proxy_agent_calls_total{method=\"status\",result=\"ok\"} 1")) << t;
  EXPECT_TRUE(Has(t, "kubeos_proxy_agent_calls_total{method=\"upgrade\",result=\"error\"} 1")) << t;
  EXPECT_TRUE(Has(t, "kubeos_proxy_api_requests_total 42")) << t;
  EXPECT_TRUE(Has(t, "kubeos_proxy_caches_synced 1")) << t;
}

}  // namespace
}  // namespace kubeos::node
