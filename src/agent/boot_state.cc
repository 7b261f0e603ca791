#include "agent/boot_state.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

namespace kubeos::agent {
namespace {

using nlohmann::json;

constexpr std::string_view kStateNames[] = {"empty", "invalid", "installed", "trying", "good", "failed"};

json SlotJson(const SlotRecord& r) {
  return {{"state", SlotStateName(r.state)}, {"version", r.version}, {"sha256", r.sha256}};
}

json OpJson(const OperationRecord& op) {
  return {{"name", op.name}, {"ok", op.ok}, {"message", op.message}, {"unix_time", op.unix_time}};
}

StatusOr<SlotRecord> SlotFromJson(const json& j) {
  SlotRecord r;
  std::optional<SlotState> s = ParseSlotState(j.value("state", ""));
  if (!s) return DataLossError("unknown slot state");
  r.state = *s;
  r.version = j.value("version", "");
  r.sha256 = j.value("sha256", "");
  return r;
}

OperationRecord OpFromJson(const json& j) {
  return {.name = j.value("name", ""),
          .ok = j.value("ok", true),
          .message = j.value("message", ""),
          .unix_time = j.value("unix_time", int64_t{0})};
}

std::optional<Slot> EnvSlot(const GrubEnv& env, std::string_view key) {
  std::optional<std::string> v = env.Get(key);
  if (!v) return std::nullopt;
  return ParseSlotName(*v);
}

GrubEnv ArmEnv(GrubEnv env, Slot target, Slot fallback) {
  env.Set(kEnvSavedEntry, SlotName(target));
  env.Set(kEnvBootTries, std::to_string(kTrialBootTries));
  env.Set(kEnvFallbackEntry, SlotName(fallback));
  env.Unset(kEnvNextEntry);
  return env;
}

// The fragment tests `[ -n "${boot_tries}" ]`: an empty value is no trial.
bool EnvArms(const GrubEnv& env, Slot target) {
  return !env.Get(kEnvBootTries).value_or("").empty() && EnvSlot(env, kEnvSavedEntry) == target;
}

}  // namespace

std::string_view SlotStateName(SlotState state) { return kStateNames[static_cast<int>(state)]; }

std::optional<SlotState> ParseSlotState(std::string_view name) {
  for (size_t i = 0; i < std::size(kStateNames); ++i) {
    if (kStateNames[i] == name) return static_cast<SlotState>(i);
  }
  return std::nullopt;
}

std::string EncodeAgentState(const AgentState& state) {
  json j = {{"slots", {{"A", SlotJson(state.a)}, {"B", SlotJson(state.b)}}}};
  if (state.trial) {
    j["trial"] = {{"slot", SlotName(state.trial->slot)},
                  {"version", state.trial->version},
                  {"armed_boot_id", state.trial->armed_boot_id}};
  }
  if (state.last_operation) j["last_operation"] = OpJson(*state.last_operation);
  if (state.last_fallback) j["last_fallback"] = OpJson(*state.last_fallback);
  return j.dump(2) + "\n";
}

StatusOr<AgentState> DecodeAgentState(std::string_view text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return DataLossError("agent state: not a JSON object");
  try {
    AgentState state;
    const json& slots = j.at("slots");
    KUBEOS_ASSIGN_OR_RETURN(state.a, SlotFromJson(slots.at("A")));
    KUBEOS_ASSIGN_OR_RETURN(state.b, SlotFromJson(slots.at("B")));
    if (j.contains("trial")) {
      const json& t = j["trial"];
      std::optional<Slot> slot = ParseSlotName(t.value("slot", ""));
      if (!slot) return DataLossError("agent state: trial names no slot");
      state.trial = TrialRecord{*slot, t.value("version", ""), t.value("armed_boot_id", "")};
    }
    if (j.contains("last_operation")) state.last_operation = OpFromJson(j["last_operation"]);
    if (j.contains("last_fallback")) state.last_fallback = OpFromJson(j["last_fallback"]);
    return state;
  } catch (const json::exception& e) {
    return DataLossError(fmt::format("agent state: {}", e.what()));
  }
}

bool EnvCommittedTo(const GrubEnv& env, Slot booted) {
  return EnvSlot(env, kEnvSavedEntry) == booted && !env.Get(kEnvBootTries) && !env.Get(kEnvFallbackEntry) &&
         !env.Get(kEnvNextEntry);
}

GrubEnv CommitEnvTo(GrubEnv env, Slot booted) {
  env.Set(kEnvSavedEntry, SlotName(booted));
  env.Unset(kEnvFellBack);
  env.Unset(kEnvBootTries);
  env.Unset(kEnvFallbackEntry);
  env.Unset(kEnvNextEntry);
  return env;
}

bool BootedOnTrial(const GrubEnv& env, Slot booted) { return EnvArms(env, booted); }

namespace {

OperationRecord FallbackReport(Slot failed, const std::string& version, Slot booted, int64_t now) {
  return {.name = "boot",
          .ok = false,
          .message = fmt::format("trial of slot {} (version {}) fell back to slot {}", SlotName(failed),
                                 version, SlotName(booted)),
          .unix_time = now};
}

// The recorded trial (of the slot we are not on) failed: that slot kFailed, `report` as the last operation
// and fallback, the booted slot committed (state first: the report is recorded before anything else can
// change).
BootPlan TrialFailed(BootPlan plan, const GrubEnv& env, Slot booted, OperationRecord report) {
  AgentState& s = plan.state;
  s.slot(s.trial->slot).state = SlotState::kFailed;
  s.trial.reset();
  s.last_operation = report;
  s.last_fallback = report;
  s.slot(booted).state = SlotState::kGood;
  if (!EnvCommittedTo(env, booted)) plan.env = CommitEnvTo(env, booted);
  plan.order = WriteOrder::kStateFirst;
  plan.reason = std::move(report.message);
  return plan;
}

BootPlan Reconcile(const AgentState& state, const GrubEnv& env, Slot booted, const std::string& boot_id,
                   int64_t now, bool grub_can_write) {
  BootPlan plan{.state = state};
  const std::optional<Slot> fell_back = EnvSlot(env, kEnvFellBack);
  AgentState& s = plan.state;
  if (state.trial) {
    const TrialRecord trial = *state.trial;
    if (trial.slot == booted) {
      if (EnvArms(env, booted)) {
        s.slot(booted).state = SlotState::kTrying;
        plan.reason = "booted slot is on trial; waiting for mark-good";
      } else {
        // The env no longer arms us: mark-good wrote the env and crashed before the state (env-first order).
        s.slot(booted).state = SlotState::kGood;
        s.trial.reset();
        s.last_fallback.reset();
        plan.reason = "trial was committed";
      }
      return plan;
    }
    if (EnvArms(env, trial.slot) && !grub_can_write && trial.armed_boot_id != boot_id) {
      // Rebooted onto this slot with the trial still armed in a block GRUB cannot rewrite: the fragment gave
      // the trial up (it cannot count it down; maybe after some tries, if the block was damaged later).
      // Rewriting it armed would make the trial happen at some later reboot, long after the cluster side gave
      // up on it.
      return TrialFailed(
          std::move(plan), env, booted,
          OperationRecord{
              .name = "boot",
              .ok = false,
              .message = fmt::format(
                  "trial of slot {} (version {}) given up: GRUB cannot write the boot env (damaged "
                  "block) to count the trial down, so it booted slot {} (boot_tries left: {}); the "
                  "env is rewritten whole, install and upgrade again to retry",
                  SlotName(trial.slot), trial.version, SlotName(booted), env.Get(kEnvBootTries).value_or("")),
              .unix_time = now});
    }
    if (EnvArms(env, trial.slot)) {
      plan.reason = "trial armed; waiting for the reboot";
      return plan;
    }
    if (trial.armed_boot_id == boot_id || fell_back != trial.slot) {
      // Same boot, or a reboot without GRUB's fallback evidence: the env never armed the trial (arming, or
      // install start's disarm, was cut between its two writes). Not a fallback: the image is intact.
      s.trial.reset();
      if (s.slot(trial.slot).state == SlotState::kTrying) s.slot(trial.slot).state = SlotState::kInstalled;
      plan.reason = trial.armed_boot_id == boot_id
                        ? "trial was never armed"
                        : "trial was not armed when the host rebooted (no fallback "
                          "evidence in the boot env); not a fallback";
      return plan;
    }
    // Rebooted, the env no longer arms the trial slot, GRUB left its evidence, we run on the other slot.
    return TrialFailed(std::move(plan), env, booted, FallbackReport(trial.slot, trial.version, booted, now));
  }
  if (fell_back && *fell_back != booted && !EnvArms(env, *fell_back)) {
    // GRUB fell back but we hold no trial record (state set aside, or a crash after recording the report
    // and before the env write that consumes the evidence): report it from the evidence.
    Slot failed = *fell_back;
    OperationRecord report = FallbackReport(failed, s.slot(failed).version, booted, now);
    if (s.slot(failed).state != SlotState::kInvalid && s.slot(failed).state != SlotState::kEmpty)
      s.slot(failed).state = SlotState::kFailed;
    s.last_operation = report;
    s.last_fallback = report;
    s.slot(booted).state = SlotState::kGood;
    plan.reason = report.message;
    return plan;
  }
  if (EnvArms(env, booted) && s.slot(booted).state == SlotState::kFailed) {
    // PlanAbandonTrial wrote the state and crashed before the env: finish it.
    Slot fallback = EnvSlot(env, kEnvFallbackEntry).value_or(OtherSlot(booted));
    if (fallback == booted) fallback = OtherSlot(booted);
    plan.env = CommitEnvTo(env, fallback);
    plan.reason = fmt::format("finish abandoning the failed trial of slot {}", SlotName(booted));
    return plan;
  }
  if (!grub_can_write && EnvArms(env, OtherSlot(booted))) {
    // A trial we have no record of, in a block GRUB cannot count down: GRUB will never make it; drop it
    // rather than let a rewrite arm it for real.
    plan.env = CommitEnvTo(env, booted);
    plan.reason = fmt::format("dropped a trial of slot {} that GRUB cannot count (boot env not writable)",
                              SlotName(OtherSlot(booted)));
    s.last_operation = OperationRecord{.name = "boot", .ok = false, .message = plan.reason, .unix_time = now};
  }
  if (EnvArms(env, booted)) {  // a trial we have no record of (env edited by hand): adopt it
    s.slot(booted).state = SlotState::kTrying;
    s.trial = TrialRecord{booted, s.slot(booted).version, ""};
    plan.reason = "adopted a trial found in the boot env";
    return plan;
  }
  if (s.slot(booted).state != SlotState::kGood) {
    s.slot(booted).state = SlotState::kGood;  // it booted without a trial: it is a committed slot
    plan.reason =
        plan.reason.empty() ? "booted slot recorded as good" : plan.reason + "; booted slot recorded as good";
  }
  return plan;
}

}  // namespace

BootPlan ReconcileOnStart(const AgentState& state, const GrubEnv& env, Slot booted,
                          const std::string& boot_id, int64_t now, bool grub_can_write) {
  BootPlan plan = Reconcile(state, env, booted, boot_id, now, grub_can_write);
  // GRUB's fallback evidence is consumed once, whatever the branch: after the state write (the report).
  if (env.Get(kEnvFellBack)) {
    if (!plan.env) plan.env = env;
    plan.env->Unset(kEnvFellBack);
    plan.order = WriteOrder::kStateFirst;
  }
  return plan;
}

StatusOr<BootPlan> PlanInstallStart(const AgentState& state, const GrubEnv& env, Slot booted) {
  if (BootedOnTrial(env, booted)) {
    return FailedPreconditionError(fmt::format(
        "slot {} is on trial; mark it good (or let it fall back) before installing", SlotName(booted)));
  }
  Slot standby = OtherSlot(booted);
  BootPlan plan{.state = state};
  plan.state.slot(standby) = SlotRecord{.state = SlotState::kInvalid};
  if (plan.state.trial && plan.state.trial->slot == standby) plan.state.trial.reset();
  // Env first: once the standby is marked invalid nothing may point at it; disarming first keeps that true
  // at every crash point (a crash after the env write leaves an intact, un-armed kInstalled image).
  if (!EnvCommittedTo(env, booted)) plan.env = CommitEnvTo(env, booted);
  plan.order = WriteOrder::kEnvFirst;
  plan.reason = fmt::format("invalidate standby slot {} before writing", SlotName(standby));
  return plan;
}

AgentState InstallDone(AgentState state, Slot booted, const std::string& version, const std::string& sha256) {
  state.slot(OtherSlot(booted)) = SlotRecord{SlotState::kInstalled, version, sha256};
  return state;
}

namespace {

StatusOr<BootPlan> PlanTrialOf(const AgentState& state, const GrubEnv& env, Slot booted, Slot target,
                               const std::string& boot_id, std::string_view what) {
  if (target == booted) return InternalError("trial of the booted slot");
  const SlotRecord& rec = state.slot(target);
  if (rec.state == SlotState::kTrying && EnvArms(env, target)) {
    return BootPlan{.state = state,
                    .reason = fmt::format("{}: trial of slot {} already armed", what, SlotName(target))};
  }
  BootPlan plan{.state = state};
  plan.state.slot(target).state = SlotState::kTrying;
  plan.state.trial = TrialRecord{target, rec.version, boot_id};
  plan.env = ArmEnv(env, target, booted);
  // State first: a crash after it leaves a trial record with this boot id and no armed env, which
  // ReconcileOnStart recognises as "never armed".
  plan.order = WriteOrder::kStateFirst;
  plan.reason = fmt::format("{}: arm a trial of slot {} (version {}), fallback slot {}", what,
                            SlotName(target), rec.version, SlotName(booted));
  return plan;
}

}  // namespace

StatusOr<BootPlan> PlanArmTrial(const AgentState& state, const GrubEnv& env, Slot booted,
                                const std::string& boot_id) {
  Slot standby = OtherSlot(booted);
  SlotState st = state.slot(standby).state;
  if (BootedOnTrial(env, booted)) {
    return FailedPreconditionError(
        fmt::format("upgrade: slot {} is itself on trial; mark it good first", SlotName(booted)));
  }
  if (st != SlotState::kInstalled && !(st == SlotState::kTrying && EnvArms(env, standby))) {
    return FailedPreconditionError(
        fmt::format("upgrade: standby slot {} is {}, not a verified image; run prepare_upgrade first",
                    SlotName(standby), SlotStateName(st)));
  }
  return PlanTrialOf(state, env, booted, standby, boot_id, "upgrade");
}

StatusOr<BootPlan> PlanRollback(const AgentState& state, const GrubEnv& env, Slot booted,
                                const std::string& boot_id) {
  Slot other = OtherSlot(booted);
  SlotState st = state.slot(other).state;
  if (st != SlotState::kGood && st != SlotState::kInstalled && st != SlotState::kTrying) {
    return FailedPreconditionError(fmt::format("rollback: slot {} is {}; it holds no complete image to boot",
                                               SlotName(other), SlotStateName(st)));
  }
  return PlanTrialOf(state, env, booted, other, boot_id, "rollback");
}

StatusOr<BootPlan> PlanMarkGood(const AgentState& state, const GrubEnv& env, Slot booted, int64_t now) {
  Slot other = OtherSlot(booted);
  if (EnvArms(env, other)) {
    return FailedPreconditionError(fmt::format(
        "mark-good: a trial of slot {} is armed for the next boot; reboot first", SlotName(other)));
  }
  BootPlan plan{.state = state};
  plan.state.slot(booted).state = SlotState::kGood;
  if (plan.state.trial && plan.state.trial->slot == booted) plan.state.trial.reset();
  if (BootedOnTrial(env, booted)) plan.state.last_fallback.reset();
  plan.state.last_operation =
      OperationRecord{.name = "mark_good", .ok = true, .message = "", .unix_time = now};
  if (!EnvCommittedTo(env, booted)) plan.env = CommitEnvTo(env, booted);
  // Env first: the env decides what boots; if we crash before the state write, ReconcileOnStart sees an
  // unarmed env with a trial record of the booted slot and completes the commit.
  plan.order = WriteOrder::kEnvFirst;
  plan.reason = fmt::format("commit slot {}", SlotName(booted));
  return plan;
}

StatusOr<BootPlan> PlanAbandonTrial(const AgentState& state, const GrubEnv& env, Slot booted,
                                    const std::string& why, int64_t now) {
  if (!BootedOnTrial(env, booted)) {
    return FailedPreconditionError(fmt::format("abandon trial: slot {} is not on trial", SlotName(booted)));
  }
  Slot fallback = EnvSlot(env, kEnvFallbackEntry).value_or(OtherSlot(booted));
  if (fallback == booted) fallback = OtherSlot(booted);
  BootPlan plan{.state = state};
  AgentState& s = plan.state;
  std::string version = s.slot(booted).version;
  if (s.trial && s.trial->slot == booted && !s.trial->version.empty()) version = s.trial->version;
  s.slot(booted).state = SlotState::kFailed;
  s.trial.reset();
  OperationRecord report{.name = "boot",
                         .ok = false,
                         .message = fmt::format("trial of slot {} (version {}) {}; falling back to slot {}",
                                                SlotName(booted), version, why, SlotName(fallback)),
                         .unix_time = now};
  s.last_operation = report;
  s.last_fallback = report;
  plan.env = CommitEnvTo(env, fallback);
  // State first: a crash after it leaves a kFailed slot that the env still arms; ReconcileOnStart finishes
  // the abandon (env to the fallback). Env first would let a restart read the unarmed env as "committed".
  plan.order = WriteOrder::kStateFirst;
  plan.reason = report.message;
  return plan;
}

}  // namespace kubeos::agent

namespace kubeos::agent {

GrubBoot SimulateGrubBoot(GrubEnv env, bool grub_can_write) {
  GrubEnv loaded = env;
  Slot saved = EnvSlot(env, kEnvSavedEntry).value_or(Slot::kA);
  if (std::optional<std::string> tries = env.Get(kEnvBootTries); tries && !tries->empty()) {
    if (!grub_can_write) {
      // The count-down (or the fallback's own write) fails: the committed slot.
      saved = EnvSlot(env, kEnvFallbackEntry).value_or(OtherSlot(saved));
    } else if (*tries == "0") {
      env.Set(kEnvFellBack, SlotName(saved));
      saved = EnvSlot(env, kEnvFallbackEntry).value_or(OtherSlot(saved));
      env.Set(kEnvSavedEntry, SlotName(saved));
      env.Unset(kEnvBootTries);
      env.Unset(kEnvFallbackEntry);
    } else if (*tries == "1" || *tries == "2" || *tries == "3") {
      env.Set(kEnvBootTries, std::to_string(std::stoi(*tries) - 1));
    } else {
      env.Set(kEnvBootTries, "0");
    }
  }
  Slot boot = saved;
  if (std::optional<std::string> next = env.Get(kEnvNextEntry); next && !next->empty()) {
    if (std::optional<Slot> n = ParseSlotName(*next)) boot = *n;
    env.Unset(kEnvNextEntry);
  }
  if (!grub_can_write) {
    // save_env of a set variable fails on such a block, but of an unset one (the fragment's next_entry
    // clearing) deletes it and writes the block back (grub_envblk_delete has no such check).
    loaded.Unset(kEnvNextEntry);
    return {boot, loaded};
  }
  return {boot, env};
}

}  // namespace kubeos::agent
