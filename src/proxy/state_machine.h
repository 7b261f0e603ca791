// The node state machine of os-proxy: given what the proxy observes (its OSInstance's spec and status, its
// Node, the OS object the OSInstance names, the agent's status report) and `now`, the one next action.
// Pure: no clock, no I/O. Level-triggered: the controller reads the world, calls Decide, performs the one
// action, and asks again; everything Decide needs to resume after a restart is in the cluster (the
// OSInstance status written by the proxy, the cordon annotation on the Node) or in the agent's report.
//
// The original's rules (kubeos-original-behaviour.md §3.2) with these differences (docs/proxy.md):
//   - acts on spec.nodestatus + spec.namespacedname, not on the node label alone (a missing label cannot
//     strand a node that is not idle); a stale label or cordon of ours on an idle node is cleaned up;
//   - prepare_upgrade runs before the drain and is skipped when the standby slot already holds the verified
//     target; a failure ends the attempt (Failed) instead of looping every second;
//   - after the upgrade/rollback RPC the node is awaited (Rebooting, bounded by the reboot timeout), the
//     agent's fallback report ends the attempt (FellBack), a booted trial is committed (mark_good); a
//     request the agent never received (proxy killed in between) is sent again;
//   - a node is released (label removed, our cordon undone, nodestatus idle, namespacedname cleared) on
//     success and on every terminal failure.
// Thread-safety: pure functions over values.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "proxy/record.h"

namespace kubeos::node {

struct NodeView {
  bool exists = false;
  std::string os_image;  // status.nodeInfo.osImage
  bool ready = false;    // condition Ready == True
  bool unschedulable = false;
  bool cordoned_by_us = false;  // annotation upgrade.openeuler.org/cordoned-by-proxy present
  bool upgrading_label = false;
  bool configuring_label = false;
};

// The OS object named by spec.namespacedname.
struct OsView {
  std::string ref;  // "namespace/name"
  std::string opstype;
  std::string osversion;
  std::string checksum;
  std::string sysconfigs_version;      // "" when absent
  std::string upgradeconfigs_version;  // "" when absent
  bool evictpodforce = false;
};

struct InstanceView {
  std::string nodestatus;  // "" is treated as idle
  std::string owner;       // "namespace/name" from spec.namespacedname; "" when absent
  std::string spec_sysconfigs_version, spec_upgradeconfigs_version;
  std::string status_sysconfigs_version, status_upgradeconfigs_version;
  ProxyRecord record;
};

// From the agent's `status` RPC (docs/agent-rpc.md).
struct AgentView {
  bool reachable = false;  // the socket answered
  bool known = false;      // the agent implements `status` (an original agent does not)
  std::string booted_slot;
  std::string booted_version;
  bool on_trial = false;
  std::string standby_state, standby_version, standby_sha256;  // the slot that is not booted
  bool trial_armed = false;       // a trial is armed or running (status "trial" is an object)
  std::string trial_version;      // its version ("" when unknown or no trial)
  int64_t last_operation_at = 0;  // unix time of the agent's last recorded operation; 0 = none
  std::optional<Fallback> last_fallback;
  std::string running_operation;  // "" when idle
};

struct Policy {
  std::chrono::seconds reboot_timeout{1800};
  bool mark_good = true;  // commit a booted trial once the node is Ready on the target
};

struct Observation {
  InstanceView instance;
  NodeView node;
  bool owner_os_missing = false;  // namespacedname names an OS object that does not exist (confirmed)
  OsView os;                      // valid when instance.owner is set and !owner_os_missing
  AgentView agent;
  Policy policy;
  int64_t now = 0;  // unix seconds
};

enum class Action {
  kNone,                 // nothing to do (wait for a change; `requeue` may ask for a later look)
  kBegin,                // record a new attempt: phase, target, operation, osRef, attempts+1, startedAt
  kCopySysconfigs,       // OS sysconfigs changed mid-upgrade: copy them into spec.sysconfigs (grub swap)
  kApplyUpgradeConfigs,  // configure RPC with spec.upgradeconfigs, then status.upgradeconfigs = spec
  kPrepare,              // prepare_upgrade (write the standby slot), then stagedAt
  kDrain,                // cordon (with our annotation) and run one drain round
  kSwitch,               // record rebootRequestedAt, then the upgrade or rollback RPC (the host reboots)
  kWait,                 // waiting for the reboot / kubelet; record `phase` and `message` if they changed
  kMarkGood,             // mark_good RPC: the booted trial of the target is committed
  kApplySysconfigs,      // configure RPC with spec.sysconfigs, then status.sysconfigs = spec
  kRelease,              // record `phase` (unless kNone) and release the node (see above)
};

std::string_view ActionName(Action a);

struct Decision {
  Action action = Action::kNone;
  Phase phase = Phase::kNone;  // kBegin: the first phase; kRelease/kWait: the phase to record (kNone: keep)
  std::string reason;          // one CamelCase word (Events, logs)
  std::string message;
  std::chrono::seconds requeue{0};  // for kNone / kWait: look again after this (0 = on the next event)
};

// The target an operation aims for: osversion for upgrade/rollback, sysconfigs.version for config.
std::string TargetOf(const OsView& os);
// True when the agent reports the standby slot holding `os`'s verified payload (or, for an agent without
// `status`, when this attempt recorded stagedAt).
bool StandbyHoldsTarget(const AgentView& agent, const OsView& os, const ProxyRecord& record);

Decision Decide(const Observation& obs);

// The interval at which a node in Rebooting/Verifying is looked at again (the agent socket is not watched).
inline constexpr std::chrono::seconds kRebootPoll{5};
// How long after the upgrade/rollback request an agent that shows no trace of it (no trial, no operation
// running or recorded since the request, the target not booted) is taken to have never received it, and
// the request is sent again (the reboot deadline still counts from the first request).
inline constexpr std::chrono::seconds kSwitchLostAfter{15};
inline constexpr const char* kSwitchResent = "SwitchResent";

}  // namespace kubeos::node
