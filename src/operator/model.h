// The rollout planner's plain data: what it reads (a ClusterSnapshot: one OS object, the other OS objects'
// selectors, every Node joined with its OSInstance) and what it returns (a PlanResult: assignments, label
// changes, a reason for every node left alone, and the OS status to publish).
//
// These are views, not API types: the controller fills them from the informer caches (see docs/operator.md,
// "Wiring"), one field per API field, so the planner never sees JSON and tests build them directly.
// Thread-safety: plain values.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kubeos::rollout {

// Wall-clock time in whole seconds (status timestamps are RFC 3339 seconds). The planner never reads a
// clock: `now` is a parameter.
using Time = std::chrono::sys_seconds;

// Label keys and values of the compatibility surface (kubeos-original-behaviour.md §9).
inline constexpr std::string_view kControlPlaneLabel = "node-role.kubernetes.io/control-plane";
inline constexpr std::string_view kNodeSelectorLabel = "upgrade.openeuler.org/node-selector";
inline constexpr std::string_view kUpgradingLabel = "upgrade.openeuler.org/upgrading";
inline constexpr std::string_view kConfiguringLabel = "upgrade.openeuler.org/configuring";
inline constexpr std::string_view kSerialLabel = "upgrade.openeuler.org/serial";
inline constexpr std::string_view kAllLabel = "all-label";
inline constexpr std::string_view kNoLabel = "no-label";
inline constexpr std::string_view kNodeStatusIdle = "idle";
inline constexpr std::string_view kNodeStatusUpgrade = "upgrade";
inline constexpr std::string_view kNodeStatusConfig = "config";

// An int-or-string field: an integer, or a percentage string such as "25%" (kept verbatim; resolved
// against the number of selected nodes by budget.h).
struct IntOrPercent {
  std::int64_t value = 0;
  bool percent = false;
};

struct NamespacedName {
  std::string ns;
  std::string name;
  friend bool operator==(const NamespacedName&, const NamespacedName&) = default;
};

// OS spec.timewindow. Both strings empty (or the object absent) means "always".
struct TimeWindowSpec {
  std::string start;     // starttime: "HH:MM:SS" or "YYYY-MM-DD HH:MM:SS"
  std::string end;       // endtime, same format as start
  std::string timezone;  // addition: IANA name; "" = ClusterSnapshot::default_time_zone
};

// The fields of OS.spec the planner reads. Strings are kept verbatim so that values the CRD would reject
// (objects stored before the CRD was installed) are reported, not silently mapped.
struct OsSpecView {
  std::string opstype;                               // "upgrade" | "config" | "rollback"
  std::string osversion;                             // compared literally with Node status.nodeInfo.osImage
  std::string executionmode;                         // "parallel" (CRD default) | "serial"
  std::string nodeselector = std::string(kNoLabel);  // CRD default "no-label"
  IntOrPercent maxunavailable;
  std::int64_t timeinterval = 15;  // seconds; CRD default 15
  std::optional<TimeWindowSpec> timewindow;
  std::string sysconfigs_version;           // spec.sysconfigs.version ("" when absent)
  std::string upgradeconfigs_version;       // spec.upgradeconfigs.version ("" when absent)
  bool pause = false;                       // addition
  IntOrPercent failurethreshold{1, false};  // addition; CRD default 1; 0 = never halt
};

struct Condition {
  std::string type;  // "Progressing" | "Completed" | "Paused" | "Degraded"
  bool status = false;
  std::string reason;  // CamelCase, machine-readable
  std::string message;
  Time last_transition{};
  friend bool operator==(const Condition&, const Condition&) = default;
};

struct FailingNode {
  std::string name;
  std::string reason;
  friend bool operator==(const FailingNode&, const FailingNode&) = default;
};

// A target whose rollout was halted. While listed, the planner never assigns it again (a fixed image needs a
// new version string, or an operator removes the entry through the status subresource).
struct BadVersion {
  std::string version;  // osversion (upgrade, rollback) or sysconfigs.version (config)
  std::string opstype;
  std::string reason;
  Time since{};
  friend bool operator==(const BadVersion&, const BadVersion&) = default;
};

// OS status (an addition; the original OS has no status). Written only by os-operator. The planner reads
// the previous one (transition times, bad versions, serial pacing) and returns the next one.
struct OsStatus {
  std::int64_t observed_generation = 0;
  std::string target;   // what the counts refer to
  std::string rollout;  // one-word summary for the printer column
  std::int32_t total = 0;
  std::int32_t updated = 0;
  std::int32_t in_progress = 0;
  std::int32_t failed = 0;
  std::int32_t pending = 0;
  std::vector<Condition> conditions;
  std::vector<FailingNode> failing_nodes;
  std::optional<Time> next_window_start;
  std::vector<BadVersion> bad_versions;
  std::optional<Time> serial_batch_finished_at;
  friend bool operator==(const OsStatus&, const OsStatus&) = default;
};

struct OsView {
  NamespacedName key;
  std::int64_t generation = 0;  // metadata.generation
  OsSpecView spec;
  OsStatus status;  // as last written (empty on a new object)
};

// Another OS object, for the selector-conflict rule.
struct OtherOs {
  NamespacedName key;
  std::string nodeselector = std::string(kNoLabel);
};

// What os-proxy reports in OSInstance status.phase (an addition). Only the terminal failure phases change
// planning; every other phase is kOther.
enum class NodePhase {
  kOther,     // absent (original proxy) or any non-failure phase
  kFailed,    // "Failed": the operation on status.targetVersion failed and os-proxy gave up
  kFellBack,  // "FellBack": the node booted the new slot, failed its checks and fell back
};

// The OSInstance default/<node> of a node, reduced to what the planner reads.
struct OsInstanceView {
  std::string nodestatus;               // spec.nodestatus ("" treated as idle)
  std::optional<NamespacedName> owner;  // spec.namespacedname
  std::string spec_sysconfigs_version;
  std::string spec_upgradeconfigs_version;
  std::string status_sysconfigs_version;  // status.sysconfigs.version: the applied configuration
  NodePhase phase = NodePhase::kOther;    // status.phase
  std::string phase_target;               // status.targetVersion
  std::string message;                    // status.message
};

struct NodeView {
  std::string name;
  std::map<std::string, std::string> labels;
  bool ready = true;           // condition Ready is True
  bool unschedulable = false;  // spec.unschedulable
  std::string os_image;        // status.nodeInfo.osImage
  std::optional<OsInstanceView> instance;
};

struct ClusterSnapshot {
  OsView os;                      // the OS object being planned
  std::vector<OtherOs> others;    // every other OS object (any namespace)
  std::vector<NodeView> nodes;    // every Node
  std::string default_time_zone;  // the operator's local zone (IANA name); "" = UTC
};

enum class Action { kUpgrade, kRollback, kConfig };
std::string_view ActionName(Action a);

// One node to start working now. The controller applies it in this order (the original's): update the
// OSInstance spec (configs, nodestatus, namespacedname = the OS), then add `labels` to the Node.
struct Assignment {
  std::string node;
  Action action = Action::kUpgrade;
  std::string nodestatus;  // OSInstance spec.nodestatus: "upgrade" (also rollback) or "config"
  std::map<std::string, std::string> labels;  // node labels to add (values "")
  bool copy_upgradeconfigs = false;     // replace OSInstance spec.upgradeconfigs with a deep copy of the OS's
  bool copy_sysconfigs = false;         // replace OSInstance spec.sysconfigs with a deep copy of the OS's
  bool swap_grub_current_next = false;  // in that copy, swap models grub.cmdline.current <-> .next
};

// Why a node was not assigned in this pass.
enum class SkipReason {
  kControlPlane,       // carries node-role.kubernetes.io/control-plane: never touched
  kNotSelected,        // nodeselector does not select it
  kUpToDate,           // already at the target
  kInProgress,         // working on an operation (label or non-idle nodestatus)
  kOwnedByOtherOs,     // working on an operation for another OS object
  kFailed,             // reported Failed/FellBack for the current target
  kNoOsInstance,       // no OSInstance yet (os-proxy not running there?)
  kNotReady,           // Node not Ready
  kUnschedulable,      // cordoned outside this rollout
  kOsVersionMismatch,  // config needs the node at osversion first
  kBudgetExhausted,    // no free slot under maxunavailable
  kSerialWaiting,      // serial: another node goes first
  kOutsideTimeWindow,
  kPaused,
  kHalted,            // failure threshold reached or target in badVersions
  kSelectorConflict,  // another OS object has the same nodeselector
  kInvalidSpec,       // the OS spec cannot be planned (message in Degraded)
};
std::string_view SkipReasonName(SkipReason r);

struct Skip {
  std::string node;
  SkipReason reason = SkipReason::kNotSelected;
  std::string detail;  // optional specifics ("runs KubeOS v1, config needs KubeOS v2")
};

struct PlanResult {
  std::vector<Assignment> assignments;
  std::vector<std::string> serial_label_add;     // add upgrade.openeuler.org/serial="" (before assignments)
  std::vector<std::string> serial_label_remove;  // remove it (finished batch)
  std::vector<Skip> skipped;                     // every node not assigned, with its reason
  OsStatus status;                               // to write through the status subresource
  std::chrono::seconds requeue_after{15};        // plan again by then even without events
};

}  // namespace kubeos::rollout
