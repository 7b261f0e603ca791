// Property tests: whatever the snapshot, the planner never takes the selected nodes past maxunavailable,
// never runs two serial nodes at once, touches only assignable nodes, and accounts for every node.
// Deterministic: fixed seeds, so a failure reproduces.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>

#include "operator/budget.h"
#include "operator/planner.h"
#include "operator/planner_test_util.h"

namespace kubeos::rollout {
namespace {

using testing::kOsKey;
using testing::NodeBuilder;
using testing::T;

#if defined(__SANITIZE_ADDRESS__)
constexpr int kScale = 10;  // the ASan+UBSan debug build runs ~40x slower; a tenth keeps it under 10 s
#else
constexpr int kScale = 1;
#endif
constexpr int kSnapshots = 20000 / kScale;  // random snapshots checked one pass each
constexpr int kRollouts = 300 / kScale;     // random multi-pass rollouts
constexpr int kStepsPerRollout = 120;       // passes per rollout

class Gen {
 public:
  explicit Gen(unsigned seed) : rng_(seed) {}
  int Int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool Chance(double p) { return std::bernoulli_distribution(p)(rng_); }
  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[static_cast<std::size_t>(Int(0, static_cast<int>(v.size()) - 1))];
  }

  NodeView Node(int i) {
    NodeBuilder b("n" + std::to_string(i));
    if (Chance(0.1)) b.ControlPlane();
    if (Chance(0.5)) b.Selector(Pick<std::string>({"", "pool-a", "pool-b"}));
    if (Chance(0.15)) b.NotReady();
    if (Chance(0.1)) b.Unschedulable();
    b.OsImage(Pick<std::string>({"KubeOS v1", "KubeOS v2", "KubeOS v3"}));
    if (Chance(0.1)) b.NoInstance();
    NodeView n = b.Build();
    if (Chance(0.15))
      n.labels[std::string(Pick<std::string_view>({kUpgradingLabel, kConfiguringLabel}))] = "";
    if (Chance(0.2)) n.labels[std::string(kSerialLabel)] = "";
    if (n.instance) {
      n.instance->nodestatus = Pick<std::string>({"idle", "idle", "idle", "", "upgrade", "config"});
      if (Chance(0.5)) n.instance->owner = Chance(0.7) ? kOsKey : NamespacedName{"ns", "other"};
      if (Chance(0.15)) {
        n.instance->phase = Chance(0.5) ? NodePhase::kFailed : NodePhase::kFellBack;
        n.instance->phase_target = Pick<std::string>({"KubeOS v2", "KubeOS v3", "c2"});
      }
      n.instance->spec_sysconfigs_version = Pick<std::string>({"", "c1", "c2"});
      n.instance->status_sysconfigs_version = Pick<std::string>({"", "c1", "c2"});
    }
    return n;
  }

  OsView Os() {
    OsView os;
    os.key = kOsKey;
    os.generation = Int(1, 9);
    os.spec.opstype = Pick<std::string>({"upgrade", "rollback", "config"});
    os.spec.osversion = Pick<std::string>({"KubeOS v2", "KubeOS v3"});
    os.spec.sysconfigs_version = "c2";
    os.spec.executionmode = Pick<std::string>({"parallel", "serial"});
    os.spec.nodeselector = Pick<std::string>({"no-label", "all-label", "pool-a", ""});
    os.spec.maxunavailable = Chance(0.5) ? IntOrPercent{Int(-1, 8), false} : IntOrPercent{Int(0, 120), true};
    os.spec.failurethreshold = IntOrPercent{Int(0, 4), false};
    os.spec.pause = Chance(0.05);
    os.spec.timeinterval = Int(0, 30);
    return os;
  }

 private:
  std::mt19937 rng_;
};

bool Selected(const ClusterSnapshot& s, const NodeView& n) {
  return !n.labels.contains(std::string(kControlPlaneLabel)) &&
         SelectorMatches(s.os.spec.nodeselector, n.labels);
}

// The oracle's own reading of "unavailable": working (label or non-idle nodestatus), not Ready, or cordoned.
bool Unavailable(const NodeView& n) {
  const bool working = n.labels.contains(std::string(kUpgradingLabel)) ||
                       n.labels.contains(std::string(kConfiguringLabel)) ||
                       (n.instance && !n.instance->nodestatus.empty() && n.instance->nodestatus != "idle");
  return working || !n.ready || n.unschedulable;
}

bool Working(const NodeView& n) {
  return n.labels.contains(std::string(kUpgradingLabel)) ||
         n.labels.contains(std::string(kConfiguringLabel)) ||
         (n.instance && !n.instance->nodestatus.empty() && n.instance->nodestatus != "idle");
}

int CountUnavailable(const ClusterSnapshot& s) {
  int u = 0;
  for (const NodeView& n : s.nodes) u += Selected(s, n) && Unavailable(n) ? 1 : 0;
  return u;
}

int CountSelected(const ClusterSnapshot& s) {
  int t = 0;
  for (const NodeView& n : s.nodes) t += Selected(s, n) ? 1 : 0;
  return t;
}

// Checks one pass and applies its writes to the snapshot. Returns how many nodes it assigned.
std::size_t CheckPass(ClusterSnapshot* s, Time now) {
  const PlanResult r = Plan(*s, now);
  const int total = CountSelected(*s);
  const auto budget = static_cast<int>(ResolveMaxUnavailable(s->os.spec.maxunavailable, total));
  const int before = CountUnavailable(*s);

  std::multiset<std::string> outcome;
  for (const Assignment& a : r.assignments) outcome.insert(a.node);
  for (const Skip& k : r.skipped) outcome.insert(k.node);
  EXPECT_EQ(outcome.size(), s->nodes.size());
  for (const NodeView& n : s->nodes) EXPECT_EQ(outcome.count(n.name), 1U) << n.name;
  EXPECT_EQ(r.status.total, total);
  EXPECT_EQ(r.status.updated + r.status.in_progress + r.status.failed + r.status.pending, total);

  if (s->os.spec.executionmode == "serial") {
    EXPECT_LE(r.assignments.size(), 1U);
    if (!r.assignments.empty()) {
      for (const NodeView& n : s->nodes) EXPECT_FALSE(Selected(*s, n) && Working(n)) << n.name << " works";
    }
  }
  for (const Assignment& a : r.assignments) {
    auto it =
        std::find_if(s->nodes.begin(), s->nodes.end(), [&](const NodeView& n) { return n.name == a.node; });
    if (it == s->nodes.end() || !it->instance) {
      ADD_FAILURE() << a.node << " is unknown or has no OSInstance";
      return 0;
    }
    EXPECT_TRUE(Selected(*s, *it)) << a.node;
    EXPECT_FALSE(Unavailable(*it)) << a.node << " was unavailable";
    it->instance->nodestatus = a.nodestatus;
    it->instance->owner = s->os.key;
    for (const auto& [k, v] : a.labels) it->labels[k] = v;
  }
  const int after = CountUnavailable(*s);
  if (!r.assignments.empty()) {
    EXPECT_LE(after, budget) << "budget " << budget << " exceeded: " << before << " -> " << after;
  }
  for (NodeView& n : s->nodes) {
    if (std::find(r.serial_label_remove.begin(), r.serial_label_remove.end(), n.name) !=
        r.serial_label_remove.end()) {
      n.labels.erase(std::string(kSerialLabel));
    }
    if (std::find(r.serial_label_add.begin(), r.serial_label_add.end(), n.name) != r.serial_label_add.end()) {
      n.labels[std::string(kSerialLabel)] = "";
    }
  }
  s->os.status = r.status;
  return r.assignments.size();
}

TEST(PlannerPropertyTest, BudgetIsNeverExceededWhateverTheSnapshot) {
  Gen g(20261203);
  const Time now = T("2026-12-03T12:00:00Z");
  std::size_t assigned = 0;
  for (int i = 0; i < kSnapshots; ++i) {
    ClusterSnapshot s;
    s.os = g.Os();
    const int n = g.Int(0, 25);
    for (int k = 0; k < n; ++k) s.nodes.push_back(g.Node(k));
    assigned += CheckPass(&s, now);
    if (::testing::Test::HasFailure()) {
      ADD_FAILURE() << "snapshot " << i;
      return;
    }
  }
  EXPECT_GT(assigned, static_cast<std::size_t>(kSnapshots / 10));  // the property is not vacuous
}

// Whole rollouts: plan, apply, then the world moves (nodes finish, fail, fall back, lose readiness, get
// cordoned, recover; the spec changes; the operator "restarts" by forgetting nothing because it keeps
// nothing).
TEST(PlannerPropertyTest, BudgetHoldsThroughRandomRollouts) {
  Gen g(42);
  std::size_t assigned = 0;
  for (int i = 0; i < kRollouts; ++i) {
    ClusterSnapshot s;
    s.os = g.Os();
    s.os.spec.pause = false;
    // Rollouts that can make progress: a positive budget, and mostly no halt.
    s.os.spec.maxunavailable =
        g.Chance(0.5) ? IntOrPercent{g.Int(1, 6), false} : IntOrPercent{g.Int(10, 60), true};
    if (g.Chance(0.7)) s.os.spec.failurethreshold = {0, false};
    const int n = g.Int(1, 40);
    for (int k = 0; k < n; ++k) s.nodes.push_back(g.Node(k));
    Time now = T("2026-12-03T12:00:00Z");
    for (int step = 0; step < kStepsPerRollout; ++step) {
      assigned += CheckPass(&s, now);
      if (::testing::Test::HasFailure()) {
        ADD_FAILURE() << "rollout " << i << " step " << step;
        return;
      }
      now += std::chrono::seconds(g.Int(0, 20));
      for (NodeView& node : s.nodes) {
        if (Working(node) && node.instance && g.Chance(0.3)) {  // the proxy finishes or gives up
          if (g.Chance(0.8)) {
            node.os_image = s.os.spec.osversion;
            node.instance->status_sysconfigs_version = s.os.spec.sysconfigs_version;
          } else {
            node.instance->phase = g.Chance(0.5) ? NodePhase::kFailed : NodePhase::kFellBack;
            node.instance->phase_target =
                s.os.spec.opstype == "config" ? s.os.spec.sysconfigs_version : s.os.spec.osversion;
          }
          node.labels.erase(std::string(kUpgradingLabel));
          node.labels.erase(std::string(kConfiguringLabel));
          node.instance->nodestatus = "idle";
          node.instance->owner.reset();
        }
        // Outages are short and rare, as in a cluster that can be rolled at all.
        node.ready = node.ready ? !g.Chance(0.01) : g.Chance(0.3);
        node.unschedulable = node.unschedulable ? !g.Chance(0.3) : g.Chance(0.005);
        if (!node.instance && g.Chance(0.1))
          node.instance = OsInstanceView{.nodestatus = "idle"};  // proxy starts
      }
      if (g.Chance(0.02)) s.os.spec.maxunavailable = IntOrPercent{g.Int(0, 6), false};
      if (g.Chance(0.01))
        s.os.spec.osversion = s.os.spec.osversion == "KubeOS v2" ? "KubeOS v3" : "KubeOS v2";
    }
  }
  EXPECT_GT(assigned, static_cast<std::size_t>(kRollouts) * 3);  // the property is not vacuous
}

}  // namespace
}  // namespace kubeos::rollout
