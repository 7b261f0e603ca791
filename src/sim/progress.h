// The demo's view of a rollout, and the pure functions over it: what changed between two views (one line per
// change, for a plain terminal or a CI log), the rollout's timing (per node, total, hand-off latency) and the
// invariants (PodDisruptionBudget never violated, budget never exceeded, no node left cordoned).
// Thread-safety: values and pure functions; RolloutTracker is used by one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace kubeos::sim {

using Clock = std::chrono::steady_clock;

struct NodeView {
  bool ready = false;
  bool unschedulable = false;
  std::string os_image;
  bool working = false;        // upgrading/configuring label, or OSInstance nodestatus not idle
  std::string phase;           // OSInstance status.phase (os-proxy)
  std::string message;         // OSInstance status.message
  std::set<std::string> pods;  // non-DaemonSet pods bound to the node ("ns/name")
  friend bool operator==(const NodeView&, const NodeView&) = default;
};

struct OsView {
  bool exists = false;
  std::string target;  // spec.osversion
  std::string opstype;
  std::string rollout;  // status.rollout
  std::string reason;   // reason of the first condition that is Degraded=True or Progressing=False
  std::string message;  // and its message
  std::vector<std::string> bad_versions;
  int64_t updated = 0, total = 0, in_progress = 0, failed = 0;
  friend bool operator==(const OsView&, const OsView&) = default;
};

struct ClusterView {
  std::map<std::string, NodeView> nodes;
  OsView os;
  int ready_replicas = 0;  // Ready pods of the Deployment under the PDB
  int min_available = 0;   // the PDB's
  friend bool operator==(const ClusterView&, const ClusterView&) = default;
};

// Counts for the status suffix of each line.
struct Counts {
  int on_target = 0, working = 0, cordoned = 0, not_ready = 0, total = 0;
};
Counts CountNodes(const ClusterView& v, const std::string& target);
// Nodes that are NotReady, cordoned or working (the operator's definition of "unavailable").
int CountUnavailable(const ClusterView& v);

// Human-readable changes from `before` to `after`, each "<subject>  <text>" (subject: node name, "OS",
// "PDB").
std::vector<std::pair<std::string, std::string>> DescribeChanges(const ClusterView& before,
                                                                 const ClusterView& after);

// Timing and invariants of one rollout towards one target, fed every view in order.
class RolloutTracker {
 public:
  RolloutTracker(std::string target, int max_unavailable)
      : target_(std::move(target)), budget_(max_unavailable) {}

  void Observe(const ClusterView& v, Clock::time_point t);

  struct NodeTiming {
    std::optional<Clock::time_point> started, done;
  };
  const std::map<std::string, NodeTiming>& nodes() const { return nodes_; }
  // Node finished (working flag dropped on target) -> the next idle node was assigned, while nodes waited.
  const std::vector<std::chrono::milliseconds>& handoffs() const { return handoffs_; }
  int max_unavailable_seen() const { return max_unavailable_seen_; }
  int pdb_violations() const { return pdb_violations_; }
  int min_ready_seen() const { return min_ready_seen_; }
  // Views in which more nodes were unavailable than the budget.
  int budget_violations() const { return budget_violations_; }
  bool all_on_target(const ClusterView& v) const;

 private:
  std::string target_;
  int budget_;
  std::map<std::string, NodeTiming> nodes_;
  std::map<std::string, bool> was_working_;
  std::optional<Clock::time_point> last_done_;  // a node finished and no assignment followed yet
  std::vector<std::chrono::milliseconds> handoffs_;
  int max_unavailable_seen_ = 0;
  int pdb_violations_ = 0;
  int min_ready_seen_ = -1;
  int budget_violations_ = 0;
};

// The failure count of a rollout that was expected to halt, for the summary: os-operator halts at its
// threshold, but a node whose update was already in flight can fail after that, so the count when the halt
// was first seen and the count at the end of the phase (after settling, what `kubectl get os` shows as
// FAILED) can differ; both are stated. `at_halt` is nullopt when no halt was seen.
std::string DescribeHaltFailures(std::optional<int64_t> at_halt, int64_t at_end, int64_t total);

// "p50 120 ms, max 310 ms (5 hand-offs)" style summary of durations.
std::string SummarizeDurations(std::vector<std::chrono::milliseconds> d);

}  // namespace kubeos::sim
