// Prometheus text rendering of the operator's metrics.
#include "operator/metrics.h"

#include <gtest/gtest.h>

namespace kubeos::rollout {
namespace {

bool Has(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.rfind(line + "\n", 0) == 0;
}

TEST(Metrics, CountersStartAtZero) {
  Metrics m;
  const std::string t = m.Render();
  for (const char* line : {
           "kubeos_reconcile_total{result=\"success\"} 0",
           "kubeos_reconcile_total{result=\"conflict\"} 0",
           "kubeos_reconcile_total{result=\"error\"} 0",
           "kubeos_api_writes_total{kind=\"osinstance\"} 0",
           "kubeos_api_requests_total{client=\"main\"} 0",
           "kubeos_api_requests_total{client=\"events\"} 0",
           "kubeos_reconcile_duration_seconds_bucket{le=\"+Inf\"} 0",
           "kubeos_reconcile_duration_seconds_count 0",
           "kubeos_leader 0",
           "kubeos_caches_synced 0",
           "# TYPE kubeos_os_nodes gauge",
           "# TYPE kubeos_reconcile_duration_seconds histogram",
       }) {
    EXPECT_TRUE(Has(t, line)) << line << "\n" << t;
  }
}

TEST(Metrics, RendersOsGaugesAssignmentsAndTheHistogram) {
  Metrics m;
  OsStatus s;
  s.target = "KubeOS v2";
  s.total = 5;
  s.updated = 2;
  s.in_progress = 1;
  s.failed = 1;
  s.pending = 1;
  s.bad_versions.push_back({"KubeOS v2", "upgrade", "1 failed", {}});
  m.SetOsStatus("ns1/os-a", s);
  m.AddAssignment("ns1/os-a", "upgrade");
  m.AddAssignment("ns1/os-a", "upgrade");
  m.ObserveReconcile("success", 0.003);
  m.ObserveReconcile("conflict", 0.2);
  m.ObserveReconcile("success", 30);
  m.AddApiWrite("node");
  m.SetApiRequests("main", 1234);
  m.SetApiRequests("main", 1240);  // a running count: the latest value wins
  m.SetLeader(true);
  m.SetCachesSynced(true);
  const std::string t = m.Render();
  struct Want {
    const char* line;
  };
  for (const char* line : {
           "kubeos_os_nodes{os=\"ns1/os-a\",state=\"total\"} 5",
           "kubeos_os_nodes{os=\"ns1/os-a\",state=\"updated\"} 2",
           "kubeos_os_nodes{os=\"ns1/os-a\",state=\"in_progress\"} 1",
           "kubeos_os_nodes{os=\"ns1/os-a\",state=\"failed\"} 1",
           "kubeos_os_nodes{os=\"ns1/os-a\",state=\"pending\"} 1",
           "kubeos_os_halted{os=\"ns1/os-a\"} 1",
           "kubeos_assignments_total{os=\"ns1/os-a\",action=\"upgrade\"} 2",
           "kubeos_reconcile_total{result=\"success\"} 2",
           "kubeos_reconcile_total{result=\"conflict\"} 1",
           "kubeos_reconcile_duration_seconds_bucket{le=\"0.001\"} 0",
           "kubeos_reconcile_duration_seconds_bucket{le=\"0.005\"} 1",
           "kubeos_reconcile_duration_seconds_bucket{le=\"0.25\"} 2",
           "kubeos_reconcile_duration_seconds_bucket{le=\"2.5\"} 2",
           "kubeos_reconcile_duration_seconds_bucket{le=\"+Inf\"} 3",
           "kubeos_reconcile_duration_seconds_count 3",
           "kubeos_api_writes_total{kind=\"node\"} 1",
           "kubeos_api_requests_total{client=\"main\"} 1240",
           "kubeos_api_requests_total{client=\"events\"} 0",
           "kubeos_leader 1",
           "kubeos_caches_synced 1",
       }) {
    EXPECT_TRUE(Has(t, line)) << line << "\n" << t;
  }
  m.RemoveOs("ns1/os-a");
  EXPECT_EQ(m.Render().find("kubeos_os_nodes{"), std::string::npos);
}

TEST(EscapeLabelValue, Table) {
  EXPECT_EQ(EscapeLabelValue("plain/ns"), "plain/ns");
  EXPECT_EQ(EscapeLabelValue("a\"b"), "a\\\"b");
  EXPECT_EQ(EscapeLabelValue("a\\b"), "a\\\\b");
  EXPECT_EQ(EscapeLabelValue("a\nb"), "a\\nb");
}

}  // namespace
}  // namespace kubeos::rollout
