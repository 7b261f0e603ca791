#include "sim/progress.h"

#include <gtest/gtest.h>

namespace kubeos::sim {
namespace {

using std::chrono::milliseconds;

NodeView Node(const std::string& os, bool working = false, bool cordoned = false, bool ready = true) {
  return {.ready = ready, .unschedulable = cordoned, .os_image = os, .working = working};
}

bool Has(const std::vector<std::pair<std::string, std::string>>& lines, const std::string& subject,
         const std::string& text) {
  for (const auto& [s, t] : lines) {
    if (s == subject && t.find(text) != std::string::npos) return true;
  }
  return false;
}

TEST(Progress, DescribesEveryKindOfChange) {
  ClusterView a, b;
  a.nodes["n1"] = Node("KubeOS v1");
  a.nodes["n1"].pods = {"demo/web-1", "demo/web-2"};
  b = a;
  b.nodes["n1"].working = true;
  b.nodes["n1"].phase = "Draining";
  b.nodes["n1"].unschedulable = true;
  b.nodes["n1"].pods = {"demo/web-2"};
  auto lines = DescribeChanges(a, b);
  EXPECT_TRUE(Has(lines, "n1", "assigned"));
  EXPECT_TRUE(Has(lines, "n1", "phase - -> Draining"));
  EXPECT_TRUE(Has(lines, "n1", "cordoned"));
  EXPECT_TRUE(Has(lines, "n1", "evicted demo/web-1"));
  EXPECT_TRUE(Has(lines, "n1", "draining: 1 pod(s) left (demo/web-2)"));

  ClusterView c = b;
  c.nodes["n1"].pods.clear();
  c.nodes["n1"].ready = false;
  lines = DescribeChanges(b, c);
  EXPECT_TRUE(Has(lines, "n1", "drained"));
  EXPECT_TRUE(Has(lines, "n1", "NotReady"));

  ClusterView d = c;
  d.nodes["n1"] = Node("KubeOS v2");
  d.os = {.exists = true, .target = "KubeOS v2", .opstype = "upgrade", .rollout = "Completed"};
  d.min_available = 3;
  d.ready_replicas = 2;
  lines = DescribeChanges(c, d);
  EXPECT_TRUE(Has(lines, "n1", "Ready, osImage \"KubeOS v2\""));
  EXPECT_TRUE(Has(lines, "n1", "released"));
  EXPECT_TRUE(Has(lines, "n1", "uncordoned"));
  EXPECT_TRUE(Has(lines, "OS", "upgrade \"KubeOS v2\": Completed"));
  EXPECT_TRUE(Has(lines, "PDB", "VIOLATED"));
  EXPECT_TRUE(DescribeChanges(d, d).empty());
}

TEST(Progress, TrackerTimesNodesAndHandoffs) {
  RolloutTracker t("v2", 1);
  Clock::time_point t0{};
  ClusterView v;
  v.min_available = 1;
  v.ready_replicas = 2;
  v.nodes = {{"a", Node("v1")}, {"b", Node("v1")}};
  t.Observe(v, t0);
  v.nodes["a"] = Node("v1", true, true);
  t.Observe(v, t0 + milliseconds(100));
  v.nodes["a"] = Node("v2", false, false);
  t.Observe(v, t0 + milliseconds(1000));
  v.nodes["b"] = Node("v1", true);
  t.Observe(v, t0 + milliseconds(1040));
  v.nodes["b"] = Node("v2");
  v.ready_replicas = 0;  // a violation
  t.Observe(v, t0 + milliseconds(2000));
  ASSERT_EQ(t.handoffs().size(), 1u);
  EXPECT_EQ(t.handoffs()[0], milliseconds(40));
  EXPECT_EQ(*t.nodes().at("a").done - *t.nodes().at("a").started, milliseconds(900));
  EXPECT_TRUE(t.all_on_target(v));
  EXPECT_EQ(t.max_unavailable_seen(), 1);
  EXPECT_EQ(t.budget_violations(), 0);
  EXPECT_EQ(t.pdb_violations(), 1);
  EXPECT_EQ(t.min_ready_seen(), 0);
}

TEST(Progress, BudgetViolationsAreCounted) {
  RolloutTracker t("v2", 1);
  ClusterView v;
  v.nodes = {{"a", Node("v1", true)}, {"b", Node("v1", false, false, false)}};
  t.Observe(v, Clock::time_point{});
  EXPECT_EQ(t.budget_violations(), 1);
  EXPECT_EQ(t.max_unavailable_seen(), 2);
  EXPECT_FALSE(t.all_on_target(v));
}

TEST(Progress, FailureCountChangesAreShown) {
  ClusterView a;
  a.os = {.exists = true, .target = "v3", .opstype = "upgrade", .rollout = "Halted", .total = 6, .failed = 1};
  ClusterView b = a;
  b.os.failed = 2;  // a node whose trial was in flight at the halt fell back afterwards
  auto lines = DescribeChanges(a, b);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_TRUE(Has(lines, "OS", "failed: 2 of 6 nodes (was 1)"));
  ClusterView none;
  EXPECT_FALSE(Has(DescribeChanges(none, a), "OS", "failed:"));  // the OS object appearing is not a change
}

TEST(Progress, DescribeHaltFailures) {
  EXPECT_EQ(
      DescribeHaltFailures(1, 2, 6),
      "2 of 6 nodes failed or fell back by the end of the phase: halted after 1, then 1 more whose update "
      "was already in flight");
  EXPECT_EQ(DescribeHaltFailures(2, 2, 6),
            "2 of 6 nodes failed or fell back, all before the halt (none after it)");
  EXPECT_EQ(DescribeHaltFailures(std::nullopt, 1, 3),
            "1 of 3 nodes failed or fell back by the end of the phase; no halt was seen");
  EXPECT_EQ(DescribeHaltFailures(2, 1, 3),
            "1 of 3 nodes failed or fell back by the end of the phase (2 when the halt was seen)");
}

TEST(Progress, SummarizeDurations) {
  EXPECT_EQ(SummarizeDurations({}), "none");
  EXPECT_EQ(SummarizeDurations({milliseconds(30), milliseconds(10), milliseconds(20)}),
            "p50 20 ms, p99 30 ms, max 30 ms (3 samples)");
}

}  // namespace
}  // namespace kubeos::sim
