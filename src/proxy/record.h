// What os-proxy records in its OSInstance's status (beside the original's status.sysconfigs and
// status.upgradeconfigs), so that a restarted proxy resumes where it stopped and the operator can see failed
// nodes. Writer: os-proxy only (the status subresource). Pure value code: no I/O.
//
// JSON (under OSInstance .status; times RFC 3339 UTC, absent when unset):
//   phase, message, targetVersion        the contract with the operator (docs/operator.md)
//   operation                            upgrade | rollback | config
//   osRef                                "namespace/name" of the OS object being executed
//   attempts                             how many times this (osRef, operation, targetVersion) was started
//   startedAt, lastTransitionTime, stagedAt, drainStartedAt, drainedAt, rebootRequestedAt, finishedAt
//   bootedSlot                           A | B, as the agent reports it
//   lastFallback {message, time}         the agent's last_fallback report
//   drain {podsRemaining, problems[]}    the last drain round (problems: at most kMaxProblems lines)
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace kubeos::node {

// The node's phase (status.phase). Successors are decided by Decide() (state_machine.h).
enum class Phase {
  kNone,         // never written (a fresh OSInstance)
  kIdle,         // nothing assigned; also after a reassign or an abandoned operation
  kStaging,      // upgradeconfigs applied and the standby slot written (prepare_upgrade), before the drain
  kDraining,     // cordoned by us, pods being evicted; deadline drainStartedAt + --drain-timeout
  kRebooting,    // upgrade/rollback RPC issued; waiting for the node to come back (--reboot-timeout)
  kVerifying,    // booted into the target, waiting for kubelet / committing the trial (mark_good)
  kConfiguring,  // sysconfigs being applied (config operation, or after the reboot)
  kSucceeded,    // done; the node was released (label removed, uncordoned, nodestatus idle)
  kFailed,       // gave up on targetVersion; the node was released; the operator will not retry it
  kFellBack,     // the agent reported that the trial boot of the target fell back; released
};

std::string_view PhaseName(Phase p);   // "" for kNone
Phase ParsePhase(std::string_view s);  // unknown text -> kNone

struct Fallback {
  std::string message;
  int64_t unix_time = 0;
  bool operator==(const Fallback&) const = default;
};

struct ProxyRecord {
  Phase phase = Phase::kNone;
  std::string message;
  std::string target_version;
  std::string operation;
  std::string os_ref;
  int64_t attempts = 0;
  // Unix seconds; 0 = unset.
  int64_t started_at = 0;
  int64_t transition_at = 0;
  int64_t staged_at = 0;
  int64_t drain_started_at = 0;
  int64_t drained_at = 0;
  int64_t reboot_requested_at = 0;
  int64_t finished_at = 0;
  std::string booted_slot;
  std::optional<Fallback> last_fallback;
  int64_t pods_remaining = 0;
  std::vector<std::string> drain_problems;
  bool operator==(const ProxyRecord&) const = default;
};

// At most this many drain problems are kept in status (the Events carry every one).
inline constexpr size_t kMaxProblems = 10;
// Status messages are cut to this length (a drain can list many pods).
inline constexpr size_t kMaxMessage = 1024;

// Reads the proxy's fields from an OSInstance .status (null or missing fields give defaults).
ProxyRecord RecordFromStatus(const nlohmann::json& status);
// The merge patch body {"status": {...}} that makes the stored record equal `r`: unset fields become null
// (deleted), so stale timestamps of an earlier attempt do not survive. status.sysconfigs/upgradeconfigs are
// not touched.
nlohmann::json RecordPatch(const ProxyRecord& r);

std::string FormatTime(int64_t unix_seconds);                   // "2026-12-04T01:02:03Z"
StatusOr<int64_t> ParseTime(std::string_view rfc3339);          // accepts fractions and offsets
std::string Truncate(std::string s, size_t max = kMaxMessage);  // "…" appended when cut

}  // namespace kubeos::node
