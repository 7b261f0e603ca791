// The rollout planner: a pure function from a cluster snapshot and the time to the next step of one OS
// object's rollout. No I/O, no clock, no memory between calls: everything it needs (including the budget
// already in use and its own earlier decisions) is read back from the cluster, so an operator restart or a
// leader change can never exceed the budget. The rules are in docs/operator.md, "Planning rules".
//
// Contract for the caller (the controller):
//   - the snapshot must include what the controller itself wrote in earlier passes (wait for the informers to
//     show those writes, or overlay them) or a second pass may assign the same free slot again;
//   - apply serial_label_remove, serial_label_add, then each assignment (OSInstance spec, then node labels),
//     then write `status`; plan again after `requeue_after` or on any event, whichever comes first.
// Thread-safety: stateless; may be called from any thread.
#pragma once

#include "operator/model.h"

namespace kubeos::rollout {

inline constexpr int kMaxFailingNodesInStatus =
    50;  // bounds the OS object's size; status.failed has the count
inline constexpr std::chrono::seconds kDefaultTimeInterval{
    15};                                               // the CRD default, used when timeinterval <= 0
inline constexpr std::chrono::seconds kMinRequeue{1};  // a window opening "now" is re-checked a second later

PlanResult Plan(const ClusterSnapshot& snapshot, Time now);

// Node selection of the original (§2.2): control-plane nodes never; then all-label = any node, no-label =
// nodes without upgrade.openeuler.org/node-selector, any other value v = nodes whose label equals v.
bool IsControlPlane(const NodeView& node);
bool SelectorMatches(std::string_view nodeselector, const std::map<std::string, std::string>& labels);

}  // namespace kubeos::rollout
