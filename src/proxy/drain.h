// The drain planner: which pods a drain evicts, skips or refuses (kubectl drain's filters), and what each
// round does (evict the pods whose retry time has come, await deletions, escalate after the deadline).
// Pure: pods, policy, memory and `now` in; a plan out. The controller lists the pods again before every
// round, executes the plan, and feeds each eviction's result back through RecordEviction.
//
// Filters, in kubectl's order (k8s.io/kubectl/pkg/drain/filters.go); the first that does not say "evict"
// decides:
//   1. DaemonSet: a pod whose controller is a DaemonSet is ignored (kubectl --ignore-daemonsets; always on:
//      the DaemonSet controller would recreate it, and the cordon does not keep it away). Finished pods are
//      evicted. A pod whose DaemonSet no longer exists is evicted with evictpodforce, refused without.
//   2. Mirror: a static pod's mirror (annotation kubernetes.io/config.mirror) is skipped.
//   3. Local storage: a running pod with an emptyDir volume is evicted with evictpodforce
//      (--delete-emptydir-data), refused without.
//   4. Unreplicated: a running pod without a controller is evicted with evictpodforce (--force), refused
//      without.
// A refusal fails the drain before anything is evicted, as kubectl does.
//
// Thread-safety: pure functions over values.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/status.h"

namespace kubeos::node {

// A PodDisruptionBudget refusal (429) without Retry-After is retried after this long (the original's 5 s).
inline constexpr int64_t kPdbRetrySeconds = 5;
// Other eviction errors back off exponentially from 1 s up to this.
inline constexpr int64_t kMaxEvictionBackoffSeconds = 30;
// An eviction that was accepted but whose pod still has no deletionTimestamp is tried again after this.
inline constexpr int64_t kReEvictSeconds = 10;
// A terminating pod this long past its deletion deadline is reported as stuck (it still counts as remaining).
inline constexpr int64_t kStuckTerminatingSeconds = 30;
// With escalation "delete": how long deleted pods may take to go before the drain is abandoned anyway.
inline constexpr int64_t kEscalationGraceSeconds = 60;
// The longest pause between two rounds (pods are re-listed every round).
inline constexpr int64_t kMaxRoundSeconds = 2;

struct PodView {
  std::string ns, name, uid;
  std::string phase;              // Pending | Running | Succeeded | Failed | Unknown
  int64_t deletion_deadline = 0;  // unix seconds of metadata.deletionTimestamp; 0 = not terminating
  bool mirror = false;            // annotation kubernetes.io/config.mirror
  std::string controller_kind;    // the ownerReference with controller: true; "" = unmanaged
  std::string controller_name;
  bool controller_missing = false;  // DaemonSet controller that no longer exists (looked up by the caller)
  bool empty_dir = false;
  std::string Key() const { return ns + "/" + name; }
  bool operator==(const PodView&) const = default;
};

StatusOr<PodView> PodViewFromJson(const nlohmann::json& pod);

enum class PodClass { kEvict, kIgnoreDaemonSet, kSkipMirror, kRefuse };

struct PodVerdict {
  PodClass cls = PodClass::kEvict;
  std::string reason;  // why (also for evictions with a warning, e.g. "emptyDir data will be lost")
  bool operator==(const PodVerdict&) const = default;
};

// evictpodforce = the OS object's spec.evictpodforce.
PodVerdict ClassifyPod(const PodView& pod, bool evictpodforce);

// What happens once the drain deadline has passed.
enum class Escalation {
  kAbort,  // default: stop evicting; the node is uncordoned and released, status Failed (PDBs never violated)
  kDelete,  // only with evictpodforce: DELETE the remaining pods (bypassing PDBs), wait
            // kEscalationGraceSeconds
};

struct DrainPolicy {
  bool evictpodforce = false;
  int64_t deadline = 0;  // unix seconds: drainStartedAt + --drain-timeout
  Escalation escalation = Escalation::kAbort;
};

// Per pod (by uid), what earlier rounds learned. Lost on restart, which only means one early retry.
struct PodMemory {
  int64_t next_attempt = 0;
  int attempts = 0;  // failed eviction attempts
  int64_t evicted_at = 0;
  int64_t deleted_at = 0;  // escalation DELETE sent
  std::string last_error;
  bool operator==(const PodMemory&) const = default;
};
using DrainMemory = std::map<std::string, PodMemory>;

struct DrainRound {
  std::vector<std::pair<PodView, PodVerdict>> verdicts;  // every pod listed, in list order
  std::vector<PodView> evict;                            // POST eviction now
  std::vector<PodView> remove;                           // DELETE now (escalation)
  std::vector<std::string> refusals;                     // "ns/name: reason"
  std::vector<std::string> problems;                     // eviction errors, stuck pods (for status/Events)
  int64_t remaining = 0;                                 // pods that still have to go
  bool done = false;                                     // nothing left to evict or await
  bool refused = false;                                  // a filter refused a pod: the drain fails now
  bool abort = false;                                    // deadline passed (and escalation exhausted)
  std::string message;                                   // for status when refused/abort
  int64_t next_check = 0;                                // unix seconds of the next round
};

DrainRound PlanDrainRound(const std::vector<PodView>& pods, const DrainPolicy& policy,
                          const DrainMemory& memory, int64_t now);

// Feeds back an eviction's answer: OK (accepted), NotFound (already gone), ResourceExhausted (the PDB said
// no; Retry-After honoured), anything else (backoff).
void RecordEviction(DrainMemory& memory, const PodView& pod, const Status& result, int64_t now);

}  // namespace kubeos::node
