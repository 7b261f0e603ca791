// The agent's persistent record of both slots and the pure trial/fallback state machine.
//
// Truth is split on purpose: the GRUB env decides what boots (GRUB itself decrements boot_tries and falls
// back); the agent state file (<persist>/os-agent/state.json) records what each slot holds and what happened.
// Every function here is pure: it takes the current state, the decoded env and the booted slot, and returns
// the new state and env to write, plus the order in which to write them (see docs/agent-formats.md for why
// each order is crash-safe).
//
// Slot states (SlotState):
//   kEmpty     nothing known about the slot (fresh host). Successor: kInvalid when an install starts.
//   kInvalid   being written, or a write failed/crashed. Never referenced by the boot env. Successor:
//   kInstalled
//              when an install completes and verifies; stays kInvalid otherwise.
//   kInstalled holds a complete, checksum-verified image that has not been booted. Successor: kTrying
//   (upgrade),
//              kInvalid (next install).
//   kTrying    boot env arms a trial of it (saved_entry=<it>, boot_tries=N, fallback_entry=<other>).
//   Successor:
//              kGood (marked good after health checks) or kFailed (GRUB fell back: tries exhausted, with
//              kubeos_fell_back evidence; or the agent abandoned it: health checks failed / deadline passed).
//   kGood      committed: booted and marked good. Successor: kInvalid when it is the standby of a new
//   install. kFailed    its trial fell back; reported so the cluster stops pushing this version. Successor:
//   kInvalid.
// Thread-safety: values and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "agent/grubenv.h"
#include "agent/slot.h"
#include "common/status.h"

namespace kubeos::agent {

// GRUB env keys of our scheme (deploy/agent/grub-kubeos.cfg).
constexpr std::string_view kEnvSavedEntry = "saved_entry";
constexpr std::string_view kEnvNextEntry = "next_entry";
constexpr std::string_view kEnvBootTries = "boot_tries";
constexpr std::string_view kEnvFallbackEntry = "fallback_entry";
// Set by GRUB (to the slot whose trial it gave up) when it falls back; the agent's evidence that a fallback
// really happened. Consumed (deleted) by the agent at start.
constexpr std::string_view kEnvFellBack = "kubeos_fell_back";
// Boots a trial slot gets before GRUB falls back: 2 survives one spurious reset (power blip) of a good image
// without making a bad one cost more than two failed boots. The GRUB fragment's decrement table covers 0..3.
constexpr int kTrialBootTries = 2;

enum class SlotState { kEmpty, kInvalid, kInstalled, kTrying, kGood, kFailed };
std::string_view SlotStateName(SlotState state);
std::optional<SlotState> ParseSlotState(std::string_view name);

struct SlotRecord {
  SlotState state = SlotState::kEmpty;
  std::string version;  // OS version the slot holds ("" unknown)
  std::string sha256;   // digest of the payload installed into it
  friend bool operator==(const SlotRecord&, const SlotRecord&) = default;
};

struct TrialRecord {
  Slot slot = Slot::kB;
  std::string version;
  std::string armed_boot_id;  // boot id when armed: tells "not rebooted yet" from "fell back"
  friend bool operator==(const TrialRecord&, const TrialRecord&) = default;
};

struct OperationRecord {
  std::string name;  // prepare_upgrade, upgrade, rollback, configure, mark_good, boot
  bool ok = true;
  std::string message;  // error, or a report such as "trial of slot B (version v2) fell back to slot A"
  int64_t unix_time = 0;
  friend bool operator==(const OperationRecord&, const OperationRecord&) = default;
};

struct AgentState {
  SlotRecord a;
  SlotRecord b;
  std::optional<TrialRecord> trial;
  std::optional<OperationRecord> last_operation;
  std::optional<OperationRecord> last_fallback;  // kept until a later trial is marked good
  SlotRecord& slot(Slot s) { return s == Slot::kA ? a : b; }
  const SlotRecord& slot(Slot s) const { return s == Slot::kA ? a : b; }
  friend bool operator==(const AgentState&, const AgentState&) = default;
};

std::string EncodeAgentState(const AgentState& state);
StatusOr<AgentState> DecodeAgentState(std::string_view json);

// Which of the two files to write first. Each plan names its order; the comment at each function says why.
enum class WriteOrder { kStateFirst, kEnvFirst };

struct BootPlan {
  AgentState state;
  std::optional<GrubEnv> env;  // nullopt: leave the env alone
  WriteOrder order = WriteOrder::kStateFirst;
  std::string reason;
};

// The env makes the booted slot the committed default with no trial: saved_entry=<booted>, no boot_tries,
// fallback_entry or next_entry. Used before invalidating the standby so the env can never point at it.
bool EnvCommittedTo(const GrubEnv& env, Slot booted);
GrubEnv CommitEnvTo(GrubEnv env, Slot booted);

// At agent start: reconcile the state file with what the env and the booted slot say happened. A fallback is
// reported only with GRUB's evidence (kEnvFellBack naming the trial slot); a reboot that merely interrupted
// the two writes of arming or of install start (trial recorded, env not arming it, no evidence) drops the
// trial and keeps the image installed. The evidence key is always removed from the env.
// `grub_can_write`: GRUB can save_env into the block it loads (GrubEnvReading). When it cannot, the fragment
// does not make an armed trial (it boots the committed slot and writes nothing, so no evidence): after a
// reboot that came up on the other slot with the trial still armed, that is reported like a fallback (the
// trial given up) and the env is committed to the booted slot, never rewritten still armed.
BootPlan ReconcileOnStart(const AgentState& state, const GrubEnv& env, Slot booted,
                          const std::string& boot_id, int64_t now, bool grub_can_write = true);

// Before the first byte of an install: the standby becomes kInvalid (state first), and the env is made to
// commit to the booted slot (a pending trial of the standby is disarmed). FailedPrecondition while the booted
// slot itself is on trial (mark it good first).
StatusOr<BootPlan> PlanInstallStart(const AgentState& state, const GrubEnv& env, Slot booted);
// After a verified install: standby kInstalled with its version and digest.
AgentState InstallDone(AgentState state, Slot booted, const std::string& version, const std::string& sha256);

// upgrade: arm a trial of the standby. FailedPrecondition unless the standby is kInstalled (or kGood, so a
// second upgrade call after an agent restart stays idempotent).
StatusOr<BootPlan> PlanArmTrial(const AgentState& state, const GrubEnv& env, Slot booted,
                                const std::string& boot_id);
// rollback: boot the other slot (the original's meaning), as a trial with fallback to the booted slot.
// FailedPrecondition unless the other slot holds a complete image (kGood or kInstalled).
StatusOr<BootPlan> PlanRollback(const AgentState& state, const GrubEnv& env, Slot booted,
                                const std::string& boot_id);
// mark-good: commit the booted slot. Idempotent when already committed.
StatusOr<BootPlan> PlanMarkGood(const AgentState& state, const GrubEnv& env, Slot booted, int64_t now);
// A trial of the booted slot failed its health checks or passed its deadline (`why` says which): commit the
// env to the fallback slot (fallback_entry, else the other slot), mark the booted slot kFailed and report it
// in last_fallback, so the FOLLOWING boot is the old slot (GRUB's boot_tries counter is then only for crashes
// and hangs). FailedPrecondition unless the booted slot is on trial.
StatusOr<BootPlan> PlanAbandonTrial(const AgentState& state, const GrubEnv& env, Slot booted,
                                    const std::string& why, int64_t now);

// True when the booted slot is on trial and waits for mark-good.
bool BootedOnTrial(const GrubEnv& env, Slot booted);

}  // namespace kubeos::agent

namespace kubeos::agent {

// What GRUB does with the env at one boot, mirroring deploy/agent/grub-kubeos.cfg exactly (used by tests and
// the simulator; the QEMU test checks the real GRUB against it): invalid saved_entry -> A; boot_tries "0" ->
// fall back to fallback_entry (or the other slot), drop the counter and set kubeos_fell_back=<failed slot>;
// 1..3 -> decrement; anything else -> "0" (an empty boot_tries is no trial, as `[ -n ]` in the fragment); a
// next_entry is cleared (a valid one boots once). With `grub_can_write` false (GrubCanWriteBlock of the block
// it loaded) an armed trial is not made: it boots fallback_entry (or the other slot), and of the fragment's
// writes only the next_entry clearing (a delete, which GRUB does not check) changes the block.
struct GrubBoot {
  Slot slot = Slot::kA;
  GrubEnv env_after;
};
GrubBoot SimulateGrubBoot(GrubEnv env, bool grub_can_write = true);

}  // namespace kubeos::agent
