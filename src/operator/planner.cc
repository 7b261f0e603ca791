#include "operator/planner.h"

#include <algorithm>
#include <string>
#include <utility>

#include "operator/budget.h"
#include "operator/status_json.h"
#include "operator/time_window.h"

namespace kubeos::rollout {

namespace {

// How a selected node stands against this OS's target; mutually exclusive, checked in this order.
enum class NodeClass {
  kBusyOurs,   // labelled upgrading/configuring or nodestatus non-idle, for this OS (or no owner recorded)
  kBusyOther,  // working for another OS object
  kDone,       // at the target
  kFailed,     // reported Failed/FellBack for the target
  kPending,    // still to do
};

struct Entry {
  const NodeView* node = nullptr;
  NodeClass cls = NodeClass::kPending;
  bool unavailable = false;                // counts against maxunavailable
  std::optional<SkipReason> not_eligible;  // why a pending node cannot be assigned now
  std::string detail;
};

// The first gate that stops new assignments this pass (checked in this order).
enum class Gate { kNone, kInvalidSpec, kSelectorConflict, kHalted, kPaused, kOutsideWindow };

bool HasLabel(const NodeView& n, std::string_view key) { return n.labels.contains(std::string(key)); }

std::string Key(const NamespacedName& k) { return k.ns + "/" + k.name; }

bool IsIdle(std::string_view nodestatus) { return nodestatus.empty() || nodestatus == kNodeStatusIdle; }

Entry Classify(const NodeView& n, const OsView& os, bool config, const std::string& target) {
  Entry e;
  e.node = &n;
  const OsInstanceView* inst = n.instance ? &*n.instance : nullptr;
  const bool labelled = HasLabel(n, kUpgradingLabel) || HasLabel(n, kConfiguringLabel);
  const bool inst_busy = inst != nullptr && !IsIdle(inst->nodestatus);
  if (labelled || inst_busy) {
    if (inst_busy && inst->owner && !(*inst->owner == os.key)) {
      e.cls = NodeClass::kBusyOther;
      e.detail = "working for OS " + Key(*inst->owner);
    } else {
      e.cls = NodeClass::kBusyOurs;
    }
  } else if (config ? (inst != nullptr && inst->status_sysconfigs_version == target) : n.os_image == target) {
    e.cls = NodeClass::kDone;
  } else if (inst != nullptr && inst->phase != NodePhase::kOther && inst->phase_target == target) {
    e.cls = NodeClass::kFailed;
    e.detail = std::string(inst->phase == NodePhase::kFellBack ? "fell back" : "failed") + " on " + target +
               (inst->message.empty() ? "" : ": " + inst->message);
  } else {
    e.cls = NodeClass::kPending;
    if (inst == nullptr) {
      e.not_eligible = SkipReason::kNoOsInstance;
      e.detail = "no OSInstance default/" + n.name + " (is os-proxy running on the node?)";
    } else if (!n.ready) {
      e.not_eligible = SkipReason::kNotReady;
    } else if (n.unschedulable) {
      e.not_eligible = SkipReason::kUnschedulable;
    } else if (config && n.os_image != os.spec.osversion) {
      e.not_eligible = SkipReason::kOsVersionMismatch;
      e.detail = "runs \"" + n.os_image + "\"; config needs \"" + os.spec.osversion + "\" first";
    }
  }
  e.unavailable =
      e.cls == NodeClass::kBusyOurs || e.cls == NodeClass::kBusyOther || !n.ready || n.unschedulable;
  return e;
}

SkipReason ReasonFor(const Entry& e) {
  switch (e.cls) {
    case NodeClass::kBusyOurs:
      return SkipReason::kInProgress;
    case NodeClass::kBusyOther:
      return SkipReason::kOwnedByOtherOs;
    case NodeClass::kDone:
      return SkipReason::kUpToDate;
    case NodeClass::kFailed:
      return SkipReason::kFailed;
    case NodeClass::kPending:
      break;
  }
  return e.not_eligible.value_or(SkipReason::kBudgetExhausted);
}

SkipReason GateReason(Gate g) {
  switch (g) {
    case Gate::kInvalidSpec:
      return SkipReason::kInvalidSpec;
    case Gate::kSelectorConflict:
      return SkipReason::kSelectorConflict;
    case Gate::kHalted:
      return SkipReason::kHalted;
    case Gate::kPaused:
      return SkipReason::kPaused;
    case Gate::kOutsideWindow:
      return SkipReason::kOutsideTimeWindow;
    case Gate::kNone:
      break;
  }
  return SkipReason::kBudgetExhausted;
}

bool SameKind(const BadVersion& b, const std::string& version, bool config) {
  return b.version == version && (b.opstype == kNodeStatusConfig) == config;
}

void SetCondition(const OsStatus& previous, Time now, OsStatus* st, std::string type, bool status,
                  std::string reason, std::string message) {
  Condition c{std::move(type), status, std::move(reason), std::move(message), now};
  for (const Condition& p : previous.conditions) {
    if (p.type == c.type && p.status == c.status) c.last_transition = p.last_transition;
  }
  st->conditions.push_back(std::move(c));
}

Assignment MakeAssignment(const Entry& e, const OsSpecView& spec, Action action, bool serial) {
  const OsInstanceView& inst = *e.node->instance;
  Assignment a;
  a.node = e.node->name;
  a.action = action;
  const bool config = action == Action::kConfig;
  a.nodestatus = std::string(config ? kNodeStatusConfig : kNodeStatusUpgrade);
  a.labels.emplace(std::string(config ? kConfiguringLabel : kUpgradingLabel), "");
  if (serial) a.labels.emplace(std::string(kSerialLabel), "");
  a.copy_sysconfigs = inst.spec_sysconfigs_version != spec.sysconfigs_version;
  a.copy_upgradeconfigs = !config && inst.spec_upgradeconfigs_version != spec.upgradeconfigs_version;
  a.swap_grub_current_next = !config && a.copy_sysconfigs;
  return a;
}

}  // namespace

std::string_view ActionName(Action a) {
  switch (a) {
    case Action::kUpgrade:
      return "upgrade";
    case Action::kRollback:
      return "rollback";
    case Action::kConfig:
      return "config";
  }
  return "unknown";
}

std::string_view SkipReasonName(SkipReason r) {
  switch (r) {
    case SkipReason::kControlPlane:
      return "ControlPlane";
    case SkipReason::kNotSelected:
      return "NotSelected";
    case SkipReason::kUpToDate:
      return "UpToDate";
    case SkipReason::kInProgress:
      return "InProgress";
    case SkipReason::kOwnedByOtherOs:
      return "OwnedByOtherOS";
    case SkipReason::kFailed:
      return "Failed";
    case SkipReason::kNoOsInstance:
      return "NoOSInstance";
    case SkipReason::kNotReady:
      return "NotReady";
    case SkipReason::kUnschedulable:
      return "Unschedulable";
    case SkipReason::kOsVersionMismatch:
      return "OSVersionMismatch";
    case SkipReason::kBudgetExhausted:
      return "BudgetExhausted";
    case SkipReason::kSerialWaiting:
      return "SerialWaiting";
    case SkipReason::kOutsideTimeWindow:
      return "OutsideTimeWindow";
    case SkipReason::kPaused:
      return "Paused";
    case SkipReason::kHalted:
      return "Halted";
    case SkipReason::kSelectorConflict:
      return "SelectorConflict";
    case SkipReason::kInvalidSpec:
      return "InvalidSpec";
  }
  return "Unknown";
}

bool IsControlPlane(const NodeView& node) { return HasLabel(node, kControlPlaneLabel); }

bool SelectorMatches(std::string_view nodeselector, const std::map<std::string, std::string>& labels) {
  if (nodeselector == kAllLabel) return true;
  auto it = labels.find(std::string(kNodeSelectorLabel));
  if (nodeselector == kNoLabel) return it == labels.end();
  return it != labels.end() && it->second == nodeselector;
}

PlanResult Plan(const ClusterSnapshot& snap, Time now) {
  const OsView& os = snap.os;
  const OsSpecView& spec = os.spec;
  const OsStatus& previous = os.status;
  PlanResult r;
  OsStatus& st = r.status;
  st.observed_generation = os.generation;
  st.bad_versions = previous.bad_versions;

  // The spec: opstype and executionmode (the CRD enums keep these valid; objects stored before the CRD
  // was installed may not be).
  std::string invalid;
  Action action = Action::kUpgrade;
  if (spec.opstype == "upgrade") {
    action = Action::kUpgrade;
  } else if (spec.opstype == "rollback") {
    action = Action::kRollback;
  } else if (spec.opstype == "config") {
    action = Action::kConfig;
  } else {
    invalid = "opstype \"" + spec.opstype + "\" is not upgrade, config or rollback";
  }
  const bool serial = spec.executionmode == "serial";
  if (invalid.empty() && !serial && spec.executionmode != "parallel") {
    invalid = "executionmode \"" + spec.executionmode + "\" is not serial or parallel";
  }
  const bool config = action == Action::kConfig;
  if (serial) st.serial_batch_finished_at = previous.serial_batch_finished_at;
  const std::string target = config ? spec.sysconfigs_version : spec.osversion;
  st.target = target;

  // Classify every node.
  std::vector<Entry> selected;
  for (const NodeView& n : snap.nodes) {
    if (IsControlPlane(n)) {
      r.skipped.push_back({n.name, SkipReason::kControlPlane, {}});
    } else if (!SelectorMatches(spec.nodeselector, n.labels)) {
      r.skipped.push_back({n.name, SkipReason::kNotSelected, {}});
    } else {
      selected.push_back(Classify(n, os, config, target));
    }
  }
  std::sort(selected.begin(), selected.end(),
            [](const Entry& a, const Entry& b) { return a.node->name < b.node->name; });

  std::int64_t unavailable = 0;
  std::int64_t working = 0;  // ours or another OS's: serial mode runs one node at a time among all of them
  for (const Entry& e : selected) {
    if (e.unavailable) ++unavailable;
    switch (e.cls) {
      case NodeClass::kBusyOurs:
        ++st.in_progress;
        ++working;
        break;
      case NodeClass::kDone:
        ++st.updated;
        break;
      case NodeClass::kFailed:
        ++st.failed;
        if (std::ssize(st.failing_nodes) < kMaxFailingNodesInStatus) {
          st.failing_nodes.push_back({e.node->name, e.detail});
        }
        break;
      case NodeClass::kBusyOther:
        ++working;
        ++st.pending;
        break;
      case NodeClass::kPending:
        ++st.pending;
        break;
    }
  }
  const auto total = static_cast<std::int64_t>(selected.size());
  st.total = static_cast<std::int32_t>(total);
  const std::int64_t budget = ResolveMaxUnavailable(spec.maxunavailable, total);
  const std::int64_t threshold = ResolveFailureThreshold(spec.failurethreshold, total);

  // Gates, in order. The window is evaluated even when another gate closes, to publish its next start.
  Gate gate = Gate::kNone;
  std::string gate_message;
  std::optional<Time> window_next;
  bool window_inside = true;
  if (invalid.empty()) {
    auto w = EvaluateTimeWindow(spec.timewindow, snap.default_time_zone, now);
    if (w.ok()) {
      window_inside = w->inside;
      window_next = w->next_start;
    } else {
      invalid = w.status().message();
    }
  }
  std::string conflict_with;
  for (const OtherOs& o : snap.others) {
    if (!(o.key == os.key) && o.nodeselector == spec.nodeselector) {
      conflict_with = conflict_with.empty() ? Key(o.key) : conflict_with + ", " + Key(o.key);
    }
  }
  if (invalid.empty() && threshold > 0 && st.failed >= threshold &&
      std::none_of(st.bad_versions.begin(), st.bad_versions.end(),
                   [&](const BadVersion& b) { return SameKind(b, target, config); })) {
    std::string names;
    for (const FailingNode& f : st.failing_nodes) names += (names.empty() ? "" : ", ") + f.name;
    st.bad_versions.push_back({target, spec.opstype,
                               std::to_string(st.failed) + " of " + std::to_string(total) +
                                   " nodes failed or fell back (threshold " + std::to_string(threshold) +
                                   "): " + names,
                               now});
  }
  const auto bad = std::find_if(st.bad_versions.begin(), st.bad_versions.end(),
                                [&](const BadVersion& b) { return SameKind(b, target, config); });
  if (!invalid.empty()) {
    gate = Gate::kInvalidSpec;
    gate_message = invalid;
  } else if (!conflict_with.empty()) {
    gate = Gate::kSelectorConflict;
    gate_message = "nodeselector \"" + spec.nodeselector + "\" is also used by OS " + conflict_with +
                   "; give each OS object its own nodeselector";
  } else if (bad != st.bad_versions.end()) {
    gate = Gate::kHalted;
    gate_message = "target \"" + target + "\" is in status.badVersions since " + FormatRfc3339(bad->since) +
                   ": " + bad->reason;
  } else if (spec.pause) {
    gate = Gate::kPaused;
    gate_message = "spec.pause is true";
  } else if (!window_inside) {
    gate = Gate::kOutsideWindow;
    gate_message = window_next ? "outside the time window; next start " + FormatRfc3339(*window_next)
                               : "outside the time window, which has ended";
  }
  if (!window_inside && gate != Gate::kInvalidSpec) st.next_window_start = window_next;

  // Choose nodes.
  std::vector<const Entry*> chosen;
  std::vector<std::pair<const Entry*, std::string>> waiting;  // eligible but not chosen: serial detail
  bool serial_interval_wait = false;
  std::optional<Time> serial_next_batch;
  std::int64_t free_slots = std::max<std::int64_t>(0, budget - unavailable);
  if (serial) {
    std::vector<const Entry*> batch;
    bool batch_open = false;
    for (const Entry& e : selected) {
      if (!HasLabel(*e.node, kSerialLabel)) continue;
      batch.push_back(&e);
      if (e.cls == NodeClass::kBusyOurs || (e.cls == NodeClass::kPending && !e.not_eligible))
        batch_open = true;
    }
    std::vector<const Entry*> members;  // the batch the next node comes from
    if (batch_open) {
      for (const Entry* e : batch) {
        if (e->cls == NodeClass::kPending && !e->not_eligible) members.push_back(e);
      }
    } else {
      // The batch (if any) is finished: release it and, after timeinterval, pick the next one.
      for (const Entry* e : batch) {
        // A node working for another OS (overlapping selectors) may be in that OS's batch: leave it.
        if (e->cls != NodeClass::kBusyOther) r.serial_label_remove.push_back(e->node->name);
      }
      if (!batch.empty() && !st.serial_batch_finished_at) st.serial_batch_finished_at = now;
      const std::chrono::seconds interval =
          spec.timeinterval > 0 ? std::chrono::seconds(spec.timeinterval) : kDefaultTimeInterval;
      if (st.serial_batch_finished_at && now < *st.serial_batch_finished_at + interval) {
        serial_interval_wait = true;
        serial_next_batch = *st.serial_batch_finished_at + interval;
      } else if (gate == Gate::kNone) {
        for (const Entry& e : selected) {
          if (std::ssize(members) >= budget) break;
          if (e.cls == NodeClass::kPending && !e.not_eligible) members.push_back(&e);
        }
        if (!members.empty()) {
          st.serial_batch_finished_at.reset();
          for (const Entry* e : members) {
            if (!HasLabel(*e->node, kSerialLabel)) r.serial_label_add.push_back(e->node->name);
          }
          // A node picked again right after its label was released keeps it.
          std::erase_if(r.serial_label_remove, [&](const std::string& name) {
            return std::any_of(members.begin(), members.end(),
                               [&](const Entry* m) { return m->node->name == name; });
          });
        }
      }
    }
    if (gate == Gate::kNone && !serial_interval_wait && working == 0 && free_slots > 0 && !members.empty()) {
      chosen.push_back(members.front());
    }
    for (const Entry& e : selected) {
      if (e.cls != NodeClass::kPending || e.not_eligible) continue;
      if (!chosen.empty() && chosen.front() == &e) continue;
      const bool member = std::find(members.begin(), members.end(), &e) != members.end();
      waiting.emplace_back(
          &e, member ? "in the serial batch; one node at a time" : "waiting for a later serial batch");
    }
  } else {
    // Labels left by an earlier serial spec are released once their node is not working.
    for (const Entry& e : selected) {
      if (HasLabel(*e.node, kSerialLabel) && e.cls != NodeClass::kBusyOurs) {
        r.serial_label_remove.push_back(e.node->name);
      }
    }
    for (const Entry& e : selected) {
      if (gate != Gate::kNone || std::ssize(chosen) >= free_slots) break;
      if (e.cls == NodeClass::kPending && !e.not_eligible) chosen.push_back(&e);
    }
  }

  for (const Entry* e : chosen) r.assignments.push_back(MakeAssignment(*e, spec, action, serial));
  for (const Entry& e : selected) {
    if (std::find(chosen.begin(), chosen.end(), &e) != chosen.end()) continue;
    const bool eligible = e.cls == NodeClass::kPending && !e.not_eligible;
    if (!eligible) {
      r.skipped.push_back({e.node->name, ReasonFor(e), e.detail});
    } else if (gate != Gate::kNone) {
      r.skipped.push_back({e.node->name, GateReason(gate), gate_message});
    } else if (free_slots <= 0 || (!serial && std::ssize(chosen) >= free_slots)) {
      r.skipped.push_back({e.node->name, SkipReason::kBudgetExhausted,
                           std::to_string(unavailable) + " of " + std::to_string(budget) +
                               " allowed unavailable nodes in use"});
    } else {
      std::string detail = "waiting for a later serial batch";
      for (const auto& [w, d] : waiting) {
        if (w == &e) detail = d;
      }
      if (serial_interval_wait) detail = "next serial batch at " + FormatRfc3339(*serial_next_batch);
      r.skipped.push_back({e.node->name, SkipReason::kSerialWaiting, std::move(detail)});
    }
  }

  // Conditions and summary.
  const bool completed = total > 0 && st.updated == total;
  const bool progressing = st.in_progress > 0 || !r.assignments.empty();
  SetCondition(previous, now, &st, "Progressing", progressing,
               progressing           ? "NodesInProgress"
               : completed           ? "Completed"
               : gate != Gate::kNone ? std::string(SkipReasonName(GateReason(gate)))
                                     : (serial_interval_wait ? "SerialInterval" : "NoAssignableNodes"),
               progressing ? std::to_string(st.in_progress + std::ssize(r.assignments)) + " nodes working"
                           : gate_message);
  SetCondition(previous, now, &st, "Completed", completed,
               completed ? "AllNodesUpdated" : (total == 0 ? "NoNodesSelected" : "NodesPending"),
               std::to_string(st.updated) + " of " + std::to_string(total) + " nodes at \"" + target + "\"");
  SetCondition(previous, now, &st, "Paused", spec.pause, spec.pause ? "PauseRequested" : "NotPaused", "");
  std::string degraded_reason = "AsExpected";
  std::string degraded_message;
  if (gate == Gate::kInvalidSpec || gate == Gate::kSelectorConflict || gate == Gate::kHalted) {
    degraded_reason = std::string(SkipReasonName(GateReason(gate)));
    degraded_message = gate_message;
  } else if (st.failed > 0) {
    degraded_reason = "NodesFailed";
    degraded_message = std::to_string(st.failed) + " nodes failed or fell back (halt at " +
                       (threshold > 0 ? std::to_string(threshold) : std::string("never")) + ")";
  }
  SetCondition(previous, now, &st, "Degraded", degraded_reason != "AsExpected", degraded_reason,
               degraded_message);
  st.rollout = "Blocked";  // invalid spec, selector conflict, or pending nodes none of which can start
  if (gate == Gate::kHalted) {
    st.rollout = "Halted";
  } else if (gate == Gate::kPaused) {
    st.rollout = "Paused";
  } else if (gate != Gate::kInvalidSpec && gate != Gate::kSelectorConflict) {
    if (completed) {
      st.rollout = "Completed";
    } else if (progressing) {
      st.rollout = "Progressing";
    } else if (gate == Gate::kOutsideWindow || serial_interval_wait) {
      st.rollout = "Waiting";
    }
  }

  // When to plan again without an event: the resync interval, or earlier when a window or batch opens.
  std::chrono::seconds requeue =
      spec.timeinterval > 0 ? std::chrono::seconds(spec.timeinterval) : kDefaultTimeInterval;
  if (st.next_window_start) requeue = std::min(requeue, *st.next_window_start - now);
  if (serial_next_batch) requeue = std::min(requeue, *serial_next_batch - now);
  r.requeue_after = std::max(requeue, kMinRequeue);
  return r;
}

}  // namespace kubeos::rollout
