#include "operator/planner.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "operator/planner_test_util.h"

namespace kubeos::rollout {
namespace {

using testing::kOsKey;
using testing::NodeBuilder;
using testing::T;
using testing::UpgradeOs;

const Time kNow = T("2026-12-03T12:00:00Z");

std::vector<std::string> Assigned(const PlanResult& r) {
  std::vector<std::string> out;
  for (const Assignment& a : r.assignments) out.push_back(a.node);
  return out;
}

const Skip* SkipOf(const PlanResult& r, const std::string& node) {
  for (const Skip& s : r.skipped) {
    if (s.node == node) return &s;
  }
  return nullptr;
}

SkipReason ReasonOf(const PlanResult& r, const std::string& node) {
  const Skip* s = SkipOf(r, node);
  EXPECT_NE(s, nullptr) << node << " has no skip reason";
  return s != nullptr ? s->reason : SkipReason::kInvalidSpec;
}

const Condition& Cond(const PlanResult& r, const std::string& type) {
  static const Condition kMissing{"missing"};
  for (const Condition& c : r.status.conditions) {
    if (c.type == type) return c;
  }
  ADD_FAILURE() << "no condition " << type;
  return kMissing;
}

ClusterSnapshot Snap(OsView os, std::vector<NodeView> nodes) {
  ClusterSnapshot s;
  s.os = std::move(os);
  s.nodes = std::move(nodes);
  return s;
}

// Every node gets exactly one outcome: assigned, or skipped with a reason.
void ExpectEveryNodeAccountedFor(const ClusterSnapshot& s, const PlanResult& r) {
  std::multiset<std::string> seen;
  for (const Assignment& a : r.assignments) seen.insert(a.node);
  for (const Skip& k : r.skipped) seen.insert(k.node);
  EXPECT_EQ(seen.size(), s.nodes.size());
  for (const NodeView& n : s.nodes) EXPECT_EQ(seen.count(n.name), 1U) << n.name;
}

// --- node selection -------------------------------------------------------------------------------------

TEST(PlannerTest, ControlPlaneNodesAreNeverSelected) {
  auto s = Snap(UpgradeOs("KubeOS v2", 10), {NodeBuilder("cp").ControlPlane(), NodeBuilder("w1")});
  s.os.spec.nodeselector = "all-label";
  auto r = Plan(s, kNow);
  EXPECT_EQ(Assigned(r), std::vector<std::string>{"w1"});
  EXPECT_EQ(ReasonOf(r, "cp"), SkipReason::kControlPlane);
  EXPECT_EQ(r.status.total, 1);
  ExpectEveryNodeAccountedFor(s, r);
}

TEST(PlannerTest, MasterLabelAloneIsNotExcluded) {  // as the original: only .../control-plane excludes
  auto s = Snap(UpgradeOs("KubeOS v2", 10), {NodeBuilder("m").Label("node-role.kubernetes.io/master")});
  EXPECT_EQ(Assigned(Plan(s, kNow)), std::vector<std::string>{"m"});
}

TEST(PlannerTest, NodeSelectorTable) {
  struct Case {
    std::string nodeselector;
    std::vector<std::string> want;
  };
  const std::vector<NodeView> nodes = {NodeBuilder("none"), NodeBuilder("a").Selector("pool-a"),
                                       NodeBuilder("b").Selector("pool-b"),
                                       NodeBuilder("empty").Selector("")};
  const Case cases[] = {
      {"all-label", {"a", "b", "empty", "none"}},
      {"no-label", {"none"}},
      {"pool-a", {"a"}},
      {"", {"empty"}},  // an explicit empty string matches only an empty label value
      {"pool-c", {}},
  };
  for (const Case& c : cases) {
    auto s = Snap(UpgradeOs("KubeOS v2", 10), nodes);
    s.os.spec.nodeselector = c.nodeselector;
    auto r = Plan(s, kNow);
    EXPECT_EQ(Assigned(r), c.want) << "nodeselector \"" << c.nodeselector << "\"";
    EXPECT_EQ(r.status.total, static_cast<int>(c.want.size()));
    for (const NodeView& n : nodes) {
      if (std::find(c.want.begin(), c.want.end(), n.name) == c.want.end()) {
        EXPECT_EQ(ReasonOf(r, n.name), SkipReason::kNotSelected) << n.name;
      }
    }
  }
}

TEST(PlannerTest, SameSelectorOnTwoOsObjectsIsAConflict) {
  auto s = Snap(UpgradeOs(), {NodeBuilder("w1")});
  s.others = {{{"other-ns", "os-b"}, "no-label"}, {{"default", "os-c"}, "pool-c"}, {kOsKey, "no-label"}};
  auto r = Plan(s, kNow);
  EXPECT_TRUE(r.assignments.empty());
  EXPECT_EQ(ReasonOf(r, "w1"), SkipReason::kSelectorConflict);
  EXPECT_NE(SkipOf(r, "w1")->detail.find("other-ns/os-b"), std::string::npos) << SkipOf(r, "w1")->detail;
  EXPECT_EQ(SkipOf(r, "w1")->detail.find("os-c"), std::string::npos);
  EXPECT_TRUE(Cond(r, "Degraded").status);
  EXPECT_EQ(Cond(r, "Degraded").reason, "SelectorConflict");
  EXPECT_EQ(r.status.rollout, "Blocked");

  s.others = {{{"default", "os-c"}, "pool-c"}, {kOsKey, "no-label"}};  // itself does not count
  EXPECT_EQ(Assigned(Plan(s, kNow)), std::vector<std::string>{"w1"});
}

// --- per-node rules --------------------------------------------------------------------------------------

TEST(PlannerTest, NodeStateTable) {
  struct Case {
    const char* name;
    NodeView node;
    std::string opstype;
    std::optional<SkipReason> want;  // nullopt: assigned
  };
  const NamespacedName other{"default", "os-other"};
  const Case cases[] = {
      {"pending", NodeBuilder("n"), "upgrade", std::nullopt},
      {"at target", NodeBuilder("n").OsImage("KubeOS v2"), "upgrade", SkipReason::kUpToDate},
      {"rollback pending", NodeBuilder("n"), "rollback", std::nullopt},
      {"labelled upgrading", NodeBuilder("n").Label(std::string(kUpgradingLabel)), "upgrade",
       SkipReason::kInProgress},
      {"labelled configuring", NodeBuilder("n").Label(std::string(kConfiguringLabel)), "upgrade",
       SkipReason::kInProgress},
      {"nodestatus upgrade, label not yet set",
       [] {
         NodeView n = NodeBuilder("n");
         n.instance->nodestatus = "upgrade";
         n.instance->owner = kOsKey;
         return n;
       }(),
       "upgrade", SkipReason::kInProgress},
      {"working for another OS", NodeBuilder("n").Busy(other), "upgrade", SkipReason::kOwnedByOtherOs},
      {"idle but stale owner",
       [] {
         NodeView n = NodeBuilder("n");
         n.instance->owner = NamespacedName{"default", "os-other"};
         return n;
       }(),
       "upgrade", std::nullopt},
      {"failed for the target", NodeBuilder("n").Failed("KubeOS v2", "checksum mismatch"), "upgrade",
       SkipReason::kFailed},
      {"failed for an older target", NodeBuilder("n").Failed("KubeOS v1.5"), "upgrade", std::nullopt},
      {"no OSInstance", NodeBuilder("n").NoInstance(), "upgrade", SkipReason::kNoOsInstance},
      {"not ready", NodeBuilder("n").NotReady(), "upgrade", SkipReason::kNotReady},
      {"cordoned by someone", NodeBuilder("n").Unschedulable(), "upgrade", SkipReason::kUnschedulable},
      {"config pending", NodeBuilder("n").OsImage("KubeOS v2").SysConfigs("c1", "c1"), "config",
       std::nullopt},
      {"config applied", NodeBuilder("n").OsImage("KubeOS v2").SysConfigs("c2", "c2"), "config",
       SkipReason::kUpToDate},
      {"config assigned but not applied, idle", NodeBuilder("n").OsImage("KubeOS v2").SysConfigs("c2", "c1"),
       "config", std::nullopt},
      {"config on the wrong OS version", NodeBuilder("n").SysConfigs("c1", "c1"), "config",
       SkipReason::kOsVersionMismatch},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    OsView os = UpgradeOs("KubeOS v2", 5);
    os.spec.opstype = c.opstype;
    os.spec.sysconfigs_version = "c2";
    auto s = Snap(os, {c.node});
    auto r = Plan(s, kNow);
    ExpectEveryNodeAccountedFor(s, r);
    if (!c.want) {
      EXPECT_EQ(Assigned(r), std::vector<std::string>{"n"});
    } else {
      EXPECT_TRUE(r.assignments.empty());
      EXPECT_EQ(ReasonOf(r, "n"), *c.want) << SkipReasonName(ReasonOf(r, "n"));
    }
  }
}

TEST(PlannerTest, AssignmentCarriesTheOriginalsWrites) {
  struct Case {
    std::string opstype;
    Action action;
    std::string nodestatus;
    std::string label;
    bool swap;
  };
  const Case cases[] = {
      {"upgrade", Action::kUpgrade, "upgrade", std::string(kUpgradingLabel), true},
      {"rollback", Action::kRollback, "upgrade", std::string(kUpgradingLabel), true},
      {"config", Action::kConfig, "config", std::string(kConfiguringLabel), false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.opstype);
    OsView os = UpgradeOs("KubeOS v2", 5);
    os.spec.opstype = c.opstype;
    os.spec.sysconfigs_version = "s2";
    os.spec.upgradeconfigs_version = "u2";
    NodeView n = NodeBuilder("n").SysConfigs("s1", "s1").UpgradeConfigs("u1");
    if (c.action == Action::kConfig) n.os_image = "KubeOS v2";
    auto r = Plan(Snap(os, {n}), kNow);
    ASSERT_EQ(r.assignments.size(), 1U);
    const Assignment& a = r.assignments[0];
    EXPECT_EQ(a.action, c.action);
    EXPECT_EQ(a.nodestatus, c.nodestatus);
    EXPECT_EQ(a.labels, (std::map<std::string, std::string>{{c.label, ""}}));
    EXPECT_TRUE(a.copy_sysconfigs);
    EXPECT_EQ(a.copy_upgradeconfigs, c.action != Action::kConfig);  // upgradeconfigs are ignored by config
    EXPECT_EQ(a.swap_grub_current_next, c.swap);
  }
  // Versions already equal: nothing to copy (the original replaces configs only when versions differ).
  OsView os = UpgradeOs("KubeOS v2", 5);
  os.spec.sysconfigs_version = "s1";
  os.spec.upgradeconfigs_version = "u1";
  auto r = Plan(Snap(os, {NodeBuilder("n").SysConfigs("s1", "s0").UpgradeConfigs("u1")}), kNow);
  ASSERT_EQ(r.assignments.size(), 1U);
  EXPECT_FALSE(r.assignments[0].copy_sysconfigs);
  EXPECT_FALSE(r.assignments[0].copy_upgradeconfigs);
  EXPECT_FALSE(r.assignments[0].swap_grub_current_next);
}

// --- parallel budget -------------------------------------------------------------------------------------

TEST(PlannerTest, ParallelBudgetTable) {
  struct Case {
    const char* name;
    IntOrPercent maxunavailable;
    std::vector<NodeView> nodes;
    std::vector<std::string> want;
  };
  const Case cases[] = {
      {"fills the budget in name order",
       {2, false},
       {NodeBuilder("n3"), NodeBuilder("n1"), NodeBuilder("n2")},
       {"n1", "n2"}},
      {"busy nodes use it",
       {2, false},
       {NodeBuilder("n1").Busy(kOsKey), NodeBuilder("n2"), NodeBuilder("n3")},
       {"n2"}},
      {"not-ready nodes use it",
       {2, false},
       {NodeBuilder("n1").NotReady(), NodeBuilder("n2"), NodeBuilder("n3")},
       {"n2"}},
      {"cordoned nodes use it",
       {2, false},
       {NodeBuilder("n1").Unschedulable(), NodeBuilder("n2").Unschedulable(), NodeBuilder("n3")},
       {}},
      {"nodes of another OS use it",
       {1, false},
       {NodeBuilder("n1").Busy({"default", "os-x"}), NodeBuilder("n2")},
       {}},
      {"done nodes do not", {1, false}, {NodeBuilder("n1").OsImage("KubeOS v2"), NodeBuilder("n2")}, {"n2"}},
      {"percentage rounds down", {50, true}, {NodeBuilder("a"), NodeBuilder("b"), NodeBuilder("c")}, {"a"}},
      {"small percentage still moves", {1, true}, {NodeBuilder("a"), NodeBuilder("b")}, {"a"}},
      {"zero never moves", {0, false}, {NodeBuilder("a")}, {}},
      {"over budget already: nothing",
       {1, false},
       {NodeBuilder("a").NotReady(), NodeBuilder("b").NotReady(), NodeBuilder("c")},
       {}},
      {"larger than the cluster", {99, false}, {NodeBuilder("a"), NodeBuilder("b")}, {"a", "b"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    OsView os = UpgradeOs();
    os.spec.maxunavailable = c.maxunavailable;
    auto s = Snap(os, c.nodes);
    auto r = Plan(s, kNow);
    EXPECT_EQ(Assigned(r), c.want);
    ExpectEveryNodeAccountedFor(s, r);
  }
}

TEST(PlannerTest, BudgetExhaustedNodesSayWhy) {
  auto r = Plan(Snap(UpgradeOs("KubeOS v2", 1), {NodeBuilder("a"), NodeBuilder("b")}), kNow);
  EXPECT_EQ(Assigned(r), std::vector<std::string>{"a"});
  EXPECT_EQ(ReasonOf(r, "b"), SkipReason::kBudgetExhausted);
}

// --- serial ----------------------------------------------------------------------------------------------

// Applies a plan's writes to the snapshot the way the controller and a well-behaved proxy would.
void Apply(const PlanResult& r, ClusterSnapshot* s) {
  for (NodeView& n : s->nodes) {
    for (const std::string& name : r.serial_label_remove) {
      if (n.name == name) n.labels.erase(std::string(kSerialLabel));
    }
    for (const std::string& name : r.serial_label_add) {
      if (n.name == name) n.labels[std::string(kSerialLabel)] = "";
    }
    for (const Assignment& a : r.assignments) {
      if (a.node != n.name) continue;
      n.instance->nodestatus = a.nodestatus;
      n.instance->owner = s->os.key;
      for (const auto& [k, v] : a.labels) n.labels[k] = v;
    }
  }
  s->os.status = r.status;
}

void Finish(ClusterSnapshot* s, const std::string& node) {
  for (NodeView& n : s->nodes) {
    if (n.name != node) continue;
    n.os_image = s->os.spec.osversion;
    n.labels.erase(std::string(kUpgradingLabel));
    n.instance->nodestatus = "idle";
    n.instance->owner.reset();
  }
}

TEST(PlannerTest, SerialRunsABatchOneNodeAtATimeThenWaitsTimeinterval) {
  OsView os = UpgradeOs("KubeOS v2", 2);
  os.spec.executionmode = "serial";
  os.spec.timeinterval = 60;
  auto s = Snap(os, {NodeBuilder("n1"), NodeBuilder("n2"), NodeBuilder("n3"), NodeBuilder("n4")});
  Time now = kNow;

  auto r = Plan(s, now);  // a batch of maxunavailable nodes, the first one starts
  EXPECT_EQ(r.serial_label_add, (std::vector<std::string>{"n1", "n2"}));
  ASSERT_EQ(Assigned(r), std::vector<std::string>{"n1"});
  EXPECT_EQ(r.assignments[0].labels.count(std::string(kSerialLabel)), 1U);
  EXPECT_EQ(ReasonOf(r, "n2"), SkipReason::kSerialWaiting);
  EXPECT_EQ(ReasonOf(r, "n3"), SkipReason::kSerialWaiting);
  Apply(r, &s);

  r = Plan(s, now += std::chrono::seconds(5));  // n1 busy: nobody else starts
  EXPECT_TRUE(r.assignments.empty());
  EXPECT_TRUE(r.serial_label_add.empty());
  EXPECT_EQ(ReasonOf(r, "n1"), SkipReason::kInProgress);
  EXPECT_EQ(ReasonOf(r, "n2"), SkipReason::kSerialWaiting);
  Apply(r, &s);

  Finish(&s, "n1");
  r = Plan(s, now += std::chrono::seconds(5));  // the next batch member starts at once
  EXPECT_EQ(Assigned(r), std::vector<std::string>{"n2"});
  Apply(r, &s);

  Finish(&s, "n2");
  r = Plan(s, now += std::chrono::seconds(5));  // batch finished: released, pacing starts
  EXPECT_TRUE(r.assignments.empty());
  EXPECT_EQ(r.serial_label_remove, (std::vector<std::string>{"n1", "n2"}));
  ASSERT_TRUE(r.status.serial_batch_finished_at.has_value());
  EXPECT_EQ(*r.status.serial_batch_finished_at, now);
  EXPECT_EQ(r.requeue_after, std::chrono::seconds(60));
  EXPECT_EQ(r.status.rollout, "Waiting");
  const Time finished = now;
  Apply(r, &s);

  r = Plan(s, now += std::chrono::seconds(20));  // still within timeinterval
  EXPECT_TRUE(r.assignments.empty());
  EXPECT_EQ(ReasonOf(r, "n3"), SkipReason::kSerialWaiting);
  EXPECT_EQ(r.requeue_after, std::chrono::seconds(40));
  EXPECT_EQ(*r.status.serial_batch_finished_at, finished);
  Apply(r, &s);

  r = Plan(s, now = finished + std::chrono::seconds(60));  // next batch
  EXPECT_EQ(r.serial_label_add, (std::vector<std::string>{"n3", "n4"}));
  EXPECT_EQ(Assigned(r), std::vector<std::string>{"n3"});
  EXPECT_FALSE(r.status.serial_batch_finished_at.has_value());
}

TEST(PlannerTest, SerialRespectsTheAvailabilityBudgetToo) {
  OsView os = UpgradeOs("KubeOS v2", 1);
  os.spec.executionmode = "serial";
  auto r = Plan(Snap(os, {NodeBuilder("n1").NotReady(), NodeBuilder("n2")}), kNow);
  EXPECT_TRUE(r.assignments.empty());
  EXPECT_EQ(ReasonOf(r, "n2"), SkipReason::kBudgetExhausted);
}

TEST(PlannerTest, SerialLeavesAnotherOsBatchAlone) {
  OsView os = UpgradeOs("KubeOS v2", 2);
  os.spec.executionmode = "serial";
  os.spec.nodeselector = "all-label";
  auto r = Plan(
      Snap(os,
           {NodeBuilder("n1").Label(std::string(kSerialLabel)).OsImage("KubeOS v2"),
            NodeBuilder("n2").Label(std::string(kSerialLabel)).Selector("pool-a").Busy({"default", "os-a"})}),
      kNow);
  EXPECT_EQ(r.serial_label_remove, std::vector<std::string>{"n1"});
  EXPECT_TRUE(r.assignments.empty());
}

TEST(PlannerTest, ParallelReleasesLeftoverSerialLabels) {
  auto r = Plan(Snap(UpgradeOs(), {NodeBuilder("n1").Label(std::string(kSerialLabel)).OsImage("KubeOS v2"),
                                   NodeBuilder("n2").Label(std::string(kSerialLabel)).Busy(kOsKey)}),
                kNow);
  EXPECT_EQ(r.serial_label_remove, std::vector<std::string>{"n1"});
}

// --- gates -----------------------------------------------------------------------------------------------

TEST(PlannerTest, OutsideTheWindowNothingStartsAndTheNextStartIsPublished) {
  OsView os = UpgradeOs();
  os.spec.timewindow = TimeWindowSpec{"22:00:00", "04:00:00", "Asia/Shanghai"};  // 14:00Z-20:00Z
  auto s = Snap(os, {NodeBuilder("n1"), NodeBuilder("n2").Busy(kOsKey)});
  auto r = Plan(s, T("2026-12-03T12:00:00Z"));
  EXPECT_TRUE(r.assignments.empty());
  EXPECT_EQ(ReasonOf(r, "n1"), SkipReason::kOutsideTimeWindow);
  ASSERT_TRUE(r.status.next_window_start.has_value());
  EXPECT_EQ(FormatRfc3339(*r.status.next_window_start), "2026-12-03T14:00:00Z");
  EXPECT_EQ(r.requeue_after, std::chrono::seconds(15));  // resync comes first
  EXPECT_EQ(r.status.in_progress, 1);                    // the node already working goes on
  EXPECT_EQ(r.status.rollout, "Progressing");

  r = Plan(s, T("2026-12-03T13:59:50Z"));
  EXPECT_EQ(r.requeue_after, std::chrono::seconds(10));  // wakes when the window opens

  r = Plan(s, T("2026-12-03T15:00:00Z"));
  EXPECT_EQ(Assigned(r), std::vector<std::string>{"n1"});
  EXPECT_FALSE(r.status.next_window_start.has_value());
}

TEST(PlannerTest, InvalidSpecIsReportedNotPlanned) {
  struct Case {
    const char* name;
    void (*mutate)(OsSpecView*);
  };
  const Case cases[] = {
      {"opstype", [](OsSpecView* s) { s->opstype = "upgrad"; }},
      {"executionmode", [](OsSpecView* s) { s->executionmode = "fast"; }},
      {"window",
       [](OsSpecView* s) {
         s->timewindow = TimeWindowSpec{"10:00:00", "10:00:00", ""};
       }},
      {"zone",
       [](OsSpecView* s) {
         s->timewindow = TimeWindowSpec{"10:00:00", "11:00:00", "Mars/Base"};
       }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    OsView os = UpgradeOs();
    c.mutate(&os.spec);
    auto r = Plan(Snap(os, {NodeBuilder("n1")}), kNow);
    EXPECT_TRUE(r.assignments.empty());
    EXPECT_EQ(ReasonOf(r, "n1"), SkipReason::kInvalidSpec);
    EXPECT_TRUE(Cond(r, "Degraded").status);
    EXPECT_EQ(Cond(r, "Degraded").reason, "InvalidSpec");
    EXPECT_FALSE(Cond(r, "Degraded").message.empty());
    EXPECT_EQ(r.status.rollout, "Blocked");
  }
}

TEST(PlannerTest, PauseStopsNewAssignmentsOnly) {
  OsView os = UpgradeOs();
  os.spec.pause = true;
  auto r = Plan(Snap(os, {NodeBuilder("n1"), NodeBuilder("n2").Busy(kOsKey)}), kNow);
  EXPECT_TRUE(r.assignments.empty());
  EXPECT_EQ(ReasonOf(r, "n1"), SkipReason::kPaused);
  EXPECT_TRUE(Cond(r, "Paused").status);
  EXPECT_TRUE(Cond(r, "Progressing").status);  // n2 finishes its work
  EXPECT_EQ(r.status.rollout, "Paused");
}

TEST(PlannerTest, FailuresHaltAtTheThresholdAndTheVersionIsRecorded) {
  OsView os = UpgradeOs("KubeOS v2", 5);
  os.spec.failurethreshold = {2, false};
  std::vector<NodeView> nodes = {NodeBuilder("a").Failed("KubeOS v2", "disk full"), NodeBuilder("b"),
                                 NodeBuilder("c").Failed("KubeOS v1.9")};
  auto r = Plan(Snap(os, nodes), kNow);  // one failure, threshold 2: go on, Degraded
  EXPECT_EQ(Assigned(r), (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(ReasonOf(r, "a"), SkipReason::kFailed);
  EXPECT_EQ(r.status.failed, 1);
  ASSERT_EQ(r.status.failing_nodes.size(), 1U);
  EXPECT_EQ(r.status.failing_nodes[0].name, "a");
  EXPECT_NE(r.status.failing_nodes[0].reason.find("disk full"), std::string::npos);
  EXPECT_EQ(Cond(r, "Degraded").reason, "NodesFailed");
  EXPECT_TRUE(r.status.bad_versions.empty());

  nodes[1] = NodeBuilder("b").Failed("KubeOS v2", "no boot", NodePhase::kFellBack);
  auto s = Snap(os, nodes);
  r = Plan(s, kNow);  // second failure (a fallback counts): halt
  EXPECT_TRUE(r.assignments.empty());
  EXPECT_EQ(ReasonOf(r, "c"), SkipReason::kHalted);
  ASSERT_EQ(r.status.bad_versions.size(), 1U);
  EXPECT_EQ(r.status.bad_versions[0].version, "KubeOS v2");
  EXPECT_EQ(r.status.bad_versions[0].opstype, "upgrade");
  EXPECT_EQ(r.status.bad_versions[0].since, kNow);
  EXPECT_EQ(Cond(r, "Degraded").reason, "Halted");
  EXPECT_EQ(r.status.rollout, "Halted");

  // The record outlives the failures: nodes reset by hand still get nothing of the bad version.
  s.os.status = r.status;
  s.nodes = {NodeBuilder("a"), NodeBuilder("b"), NodeBuilder("c")};
  r = Plan(s, kNow + std::chrono::hours(1));
  EXPECT_TRUE(r.assignments.empty());
  EXPECT_EQ(r.status.bad_versions[0].since, kNow);  // not re-recorded

  // A new version goes ahead; the record stays for history.
  s.os.spec.osversion = "KubeOS v3";
  r = Plan(s, kNow + std::chrono::hours(2));
  EXPECT_EQ(Assigned(r), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(r.status.bad_versions.size(), 1U);
}

TEST(PlannerTest, ZeroThresholdNeverHalts) {
  OsView os = UpgradeOs("KubeOS v2", 5);
  os.spec.failurethreshold = {0, false};
  auto r = Plan(Snap(os, {NodeBuilder("a").Failed("KubeOS v2"), NodeBuilder("b").Failed("KubeOS v2"),
                          NodeBuilder("c")}),
                kNow);
  EXPECT_EQ(Assigned(r), std::vector<std::string>{"c"});
  EXPECT_TRUE(r.status.bad_versions.empty());
}

// --- status ----------------------------------------------------------------------------------------------

TEST(PlannerTest, StatusCountsAndConditions) {
  OsView os = UpgradeOs("KubeOS v2", 1);
  os.spec.failurethreshold = {0, false};
  auto s = Snap(
      os, {NodeBuilder("done").OsImage("KubeOS v2"), NodeBuilder("busy").Busy(kOsKey),
           NodeBuilder("bad").Failed("KubeOS v2"), NodeBuilder("todo"), NodeBuilder("cp").ControlPlane()});
  auto r = Plan(s, kNow);
  EXPECT_EQ(r.status.observed_generation, 3);
  EXPECT_EQ(r.status.target, "KubeOS v2");
  EXPECT_EQ(r.status.total, 4);
  EXPECT_EQ(r.status.updated, 1);
  EXPECT_EQ(r.status.in_progress, 1);
  EXPECT_EQ(r.status.failed, 1);
  EXPECT_EQ(r.status.pending, 1);
  EXPECT_TRUE(Cond(r, "Progressing").status);
  EXPECT_FALSE(Cond(r, "Completed").status);
  EXPECT_FALSE(Cond(r, "Paused").status);
  EXPECT_TRUE(Cond(r, "Degraded").status);
  for (const Condition& c : r.status.conditions) EXPECT_EQ(c.last_transition, kNow) << c.type;

  // Unchanged conditions keep their transition time; changed ones take `now`.
  s.os.status = r.status;
  s.nodes = {NodeBuilder("done").OsImage("KubeOS v2"), NodeBuilder("busy").OsImage("KubeOS v2"),
             NodeBuilder("bad").OsImage("KubeOS v2"), NodeBuilder("todo").OsImage("KubeOS v2")};
  const Time later = kNow + std::chrono::minutes(5);
  r = Plan(s, later);
  EXPECT_EQ(r.status.updated, 4);
  EXPECT_TRUE(Cond(r, "Completed").status);
  EXPECT_EQ(Cond(r, "Completed").last_transition, later);
  EXPECT_FALSE(Cond(r, "Progressing").status);
  EXPECT_EQ(Cond(r, "Progressing").last_transition, later);
  EXPECT_EQ(Cond(r, "Paused").last_transition, kNow);
  EXPECT_EQ(r.status.rollout, "Completed");
}

TEST(PlannerTest, FailingNodesListIsBounded) {
  OsView os = UpgradeOs("KubeOS v2", 1);
  os.spec.failurethreshold = {0, false};
  std::vector<NodeView> nodes;
  nodes.reserve(kMaxFailingNodesInStatus + 10);
  for (int i = 0; i < kMaxFailingNodesInStatus + 10; ++i) {
    nodes.push_back(NodeBuilder("n" + std::to_string(1000 + i)).Failed("KubeOS v2"));
  }
  auto r = Plan(Snap(os, nodes), kNow);
  EXPECT_EQ(r.status.failed, kMaxFailingNodesInStatus + 10);
  EXPECT_EQ(std::ssize(r.status.failing_nodes), kMaxFailingNodesInStatus);
}

TEST(PlannerTest, RequeueUsesTimeinterval) {
  OsView os = UpgradeOs();
  os.spec.timeinterval = 40;
  EXPECT_EQ(Plan(Snap(os, {}), kNow).requeue_after, std::chrono::seconds(40));
  os.spec.timeinterval = 0;
  EXPECT_EQ(Plan(Snap(os, {}), kNow).requeue_after, kDefaultTimeInterval);
}

TEST(PlannerTest, NoNodesIsNotCompleted) {
  auto r = Plan(Snap(UpgradeOs(), {}), kNow);
  EXPECT_FALSE(Cond(r, "Completed").status);
  EXPECT_EQ(Cond(r, "Completed").reason, "NoNodesSelected");
}

}  // namespace
}  // namespace kubeos::rollout
